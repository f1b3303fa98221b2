"""sparsemeta: Bayesian random-effects meta-analysis for sparse data.

The package is organised as a pipeline with three branches (see ``docs/architecture.md``)::

    study table (data, io) -> per-study effects (effects)
        -> frequentist branch (frequentist)
        -> Bayesian branch (bayes: priors, exact, models, sample, sensitivity)
        -> review layer (review: plan, reproduce, check, findings, batch)
        -> presentation (present: plots, report); calibration (simulate)

Submodules are imported lazily so that ``import sparsemeta`` stays fast and does not
load PyMC until a Bayesian model is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from sparsemeta.errors import (
    DataError,
    DiagnosticsError,
    DiagnosticsWarning,
    PlanError,
    PriorError,
    RevManFormatError,
    SingleStudyWarning,
    SparsemetaError,
)

__version__ = "0.1.0"

_SUBMODULES = {
    "bayes",
    "data",
    "datasets",
    "effects",
    "frequentist",
    "io",
    "present",
    "review",
    "simulate",
}

#: The façade: one obvious entry point for each everyday task, imported on first use.
_FACADE = {
    "effect_sizes": "sparsemeta.effects",
    "meta_analysis": "sparsemeta.frequentist",
    "posterior": "sparsemeta.bayes.exact",
    "sample": "sparsemeta.bayes.sample",
    "compare_priors": "sparsemeta.bayes.sensitivity",
    "read_revman": "sparsemeta.io",
    "read_table": "sparsemeta.io",
    "reproduce": "sparsemeta.review.reproduce",
    "forest": "sparsemeta.present.forest",
}

__all__ = [
    "DataError",
    "DiagnosticsError",
    "DiagnosticsWarning",
    "PlanError",
    "PriorError",
    "RevManFormatError",
    "SingleStudyWarning",
    "SparsemetaError",
    "__version__",
    *sorted(_FACADE),
    *sorted(_SUBMODULES),
]


def __getattr__(name: str) -> Any:
    if name in _FACADE:
        return getattr(importlib.import_module(_FACADE[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"sparsemeta.{name}")
    raise AttributeError(f"module 'sparsemeta' has no attribute {name!r}")
