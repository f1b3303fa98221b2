"""The catalogue of named tau priors: every tabulated literature setting plus the common
weakly informative choices."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from sparsemeta.bayes.priors import tables
from sparsemeta.bayes.priors.tau import (
    Bartos,
    Exponential,
    HalfCauchy,
    HalfNormal,
    HalfT,
    Jeffreys,
    Lomax,
    Rhodes2015,
    TauPrior,
    Turner2012,
    Turner2015,
    UisdHalfNormal,
    Uniform,
    UniformShrinkage,
)

COLUMNS = ["name", "string", "family", "parameters", "scale", "source", "reference"]


def catalogue() -> Iterator[TauPrior]:
    """Yield every prior of the library, generic examples first."""
    yield from (
        HalfNormal(0.5),
        HalfNormal(1.0),
        HalfCauchy(0.5),
        HalfCauchy(1.0),
        HalfT(3.0, 0.5),
        Exponential(0.5),
        Lomax(1.0, 0.5),
        Uniform(upper=2.0),
        UisdHalfNormal(2.0),
        Jeffreys(),
        UniformShrinkage(),
    )
    yield Turner2015()
    for outcome in tables.TURNER2015:
        for comparison in tables.TURNER2015_COMPARISONS:
            yield Turner2015(outcome, comparison)
    for outcome in tables.TURNER2012:
        for comparison in tables.TURNER2012_COMPARISONS:
            yield Turner2012(outcome, comparison)
    yield Rhodes2015()
    for area, rows in tables.RHODES2015.items():
        for outcome in rows:
            for comparison in tables.RHODES2015_COMPARISONS:
                yield Rhodes2015(outcome, comparison, area)
    for measure in tables.BARTOS_COCHRANE:
        yield Bartos(measure)
    for subfield in tables.BARTOS2021_SMD_SUBFIELDS:
        yield Bartos("SMD", subfield)


def _parameters(prior: TauPrior) -> str:
    base = getattr(prior, "base", prior)
    if not base.params:
        return "depends on se"
    return ", ".join(f"{k}={v:g}" for k, v in base.params.items())


def library() -> pd.DataFrame:
    """The prior library as a DataFrame.

    Columns: ``name`` (family name in prior strings), ``string`` (canonical string for
    :func:`sparsemeta.bayes.priors.parse`), ``family``, ``parameters`` (of the distribution of
    the family, e.g. ``mean_log_tau2``/``sd_log_tau2`` for Turner), ``scale`` (effect scale
    the prior was derived for; ``any`` for generic families), ``source`` (citation with the
    table cell) and ``reference`` (the citation alone).
    """
    rows = [
        {
            "name": p.name,
            "string": str(p),
            "family": p.family,
            "parameters": _parameters(p),
            "scale": p.derived_for,
            "source": p.source,
            "reference": p.reference,
        }
        for p in catalogue()
    ]
    return pd.DataFrame(rows, columns=COLUMNS)
