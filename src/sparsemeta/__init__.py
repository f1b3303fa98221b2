"""sparsemeta: Bayesian random-effects meta-analysis for sparse data.

The package is organised as a pipeline (see ``docs/architecture.md``)::

    study table (data, io) -> per-study effects (effects)
        -> frequentist pooling (frequentist, check)
        -> Bayesian models (priors, models, exact, fit)

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
    "check",
    "data",
    "datasets",
    "effects",
    "exact",
    "fit",
    "frequentist",
    "io",
    "models",
    "plan",
    "priors",
    "report",
    "sensitivity",
    "simulate",
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
    "compare_priors",
    *sorted(_SUBMODULES),
]


def __getattr__(name: str) -> Any:
    if name == "compare_priors":
        return importlib.import_module("sparsemeta.sensitivity").compare_priors
    if name in _SUBMODULES:
        return importlib.import_module(f"sparsemeta.{name}")
    raise AttributeError(f"module 'sparsemeta' has no attribute {name!r}")
