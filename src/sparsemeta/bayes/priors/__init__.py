"""Priors for the normal-normal hierarchical model, as values.

tau priors (:mod:`sparsemeta.bayes.priors.tau`) and mu priors (:mod:`sparsemeta.bayes.priors.mu`) are
frozen values with densities, quantiles, draws, a PyMC form and a canonical string::

    >>> from sparsemeta import priors
    >>> p = priors.parse("halfnormal(0.5)")
    >>> str(p)
    'halfnormal(scale=0.5)'
    >>> priors.parse(str(p)) == p
    True

Canonical strings always use keyword arguments (floats written with ``repr``); the
parser also accepts positional arguments in the order of the parameters.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from sparsemeta import measures
from sparsemeta.errors import DataError, PriorError

if TYPE_CHECKING:
    from sparsemeta.bayes.priors.mu import MuPrior
    from sparsemeta.bayes.priors.tau import TauPrior

#: public name -> submodule holding it, imported on first use: importing this package loads
#: neither numpy nor scipy (the command-line parser imports it)
_LAZY: dict[str, str] = {
    **dict.fromkeys(
        ("MU_PRIORS", "Flat", "MuPrior", "Normal", "mu_prior_default", "mu_prior_reason"), "mu"
    ),
    "library": "registry",
    "split_list": "_parse",
    **dict.fromkeys(("SCALES", "PriorSummary", "describe"), "summary"),
    **dict.fromkeys(
        (
            "TAU_PRIORS",
            "Bartos",
            "Exponential",
            "HalfCauchy",
            "HalfNormal",
            "HalfT",
            "InvGamma",
            "Jeffreys",
            "LogNormalTau2",
            "LogTTau2",
            "Lomax",
            "Rhodes2015",
            "TauPrior",
            "Turner2012",
            "Turner2015",
            "UisdHalfNormal",
            "Uniform",
            "UniformShrinkage",
            "uisd",
        ),
        "tau",
    ),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def parse(text: str) -> TauPrior:
    """Parse a tau-prior string into a prior value.

    Parameters
    ----------
    text : str
        ``name(arguments)`` with number or string literals, keyword or positional (in
        parameter order), e.g. ``'halfcauchy(0.5)'``, ``'halfcauchy(scale=0.5)'``,
        ``'turner2015(outcome="pain", comparison="pharm vs placebo/control")'``; a bare
        name for priors without parameters (``'jeffreys'``). The string is parsed with
        :mod:`ast`, never evaluated.

    Returns
    -------
    TauPrior
        A value with ``parse(str(value)) == value``.

    Raises
    ------
    PriorError
        Unknown names, unknown/missing/duplicate arguments, non-literal arguments and
        invalid values (non-positive scales, unknown table categories; the message lists
        the valid choices).
    """
    from sparsemeta.bayes.priors._parse import parse_call
    from sparsemeta.bayes.priors.mu import MU_PRIORS
    from sparsemeta.bayes.priors.tau import TAU_PRIORS

    hint = {name: "a mu prior: use parse_mu" for name in MU_PRIORS}
    return parse_call(text, TAU_PRIORS, "tau", hint)


def parse_mu(text: str) -> MuPrior:
    """Parse a mu-prior string: ``'normal(0, 10)'``, ``'normal(mean=0.0, sd=10.0)'``, ``'flat'``."""
    from sparsemeta.bayes.priors._parse import parse_call
    from sparsemeta.bayes.priors.mu import MU_PRIORS
    from sparsemeta.bayes.priors.tau import TAU_PRIORS

    hint = {name: "a tau prior: use parse" for name in TAU_PRIORS}
    return parse_call(text, MU_PRIORS, "mu", hint)


#: what a tau-prior argument may be: a prior value, its string, or ``None``/``"default"``
#: for the measure's default (:data:`sparsemeta.measures.TABLE`)
TauPriorLike: TypeAlias = "TauPrior | str | None"
#: what a mu-prior argument may be: a prior value, its string (``"flat"``), a mapping
#: with ``mean`` and ``sd``, or ``None``/``"default"`` for the measure's default
MuPriorLike: TypeAlias = "MuPrior | str | Mapping[str, float] | None"


def _is_default(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "default")


def tau_prior(value: TauPriorLike | Any, measure: str = "GENERIC") -> TauPrior:
    """The tau prior an analysis uses: the one coercion of every entry point.

    ``None`` or ``"default"``: the measure's default (:data:`sparsemeta.measures.TABLE`);
    a string: :func:`parse`; a prior value (anything with ``logpdf``): itself.

    Raises
    ------
    PriorError
        An unparsable string, a value without ``logpdf``, or no prior for a measure that
        has no default (MD, GENERIC: the scale is the outcome's units).
    """
    if _is_default(value):
        row = _row(measure)
        if row.tau_prior is None:
            raise PriorError(
                f"tau prior: none given, and {row.code} has no default ({row.tau_reason}); "
                "pass a prior value (with logpdf) or a string such as 'halfnormal(0.5)'"
            )
        return parse(row.tau_prior)
    if isinstance(value, str):
        return parse(value)
    if not callable(getattr(value, "logpdf", None)):
        raise PriorError(
            f"tau prior {value!r} is neither a prior string nor a prior value (no logpdf(tau) "
            "method)"
        )
    return value


def mu_prior(value: MuPriorLike | Any, measure: str = "GENERIC") -> MuPrior:
    """The mu prior an analysis uses: the one coercion of every entry point.

    ``None`` or ``"default"``: the measure's default (:func:`mu_prior_default`); a string:
    :func:`parse_mu` (``"flat"``, ``"normal(0, 2.82)"``); a mapping or object with
    ``mean`` and ``sd``: that normal prior; a mu prior value: itself.

    Raises
    ------
    PriorError
        An unparsable string, or a value that is neither flat nor normal with a finite
        mean and a finite sd > 0.
    """
    from sparsemeta.bayes.priors.mu import MuPrior, Normal, mu_prior_default

    if _is_default(value):
        return mu_prior_default(_row(measure).code)
    if isinstance(value, str):
        return parse_mu(value.strip().lower() if value.strip().lower() == "flat" else value)
    if isinstance(value, MuPrior):
        return value
    get = value.get if isinstance(value, Mapping) else lambda key: getattr(value, key, None)
    mean, sd = get("mean"), get("sd")
    if mean is None or sd is None:
        raise PriorError(
            f"mu prior {value!r} must be 'flat' or a normal prior with 'mean' and 'sd'"
        )
    mean, sd = float(mean), float(sd)
    if not (math.isfinite(mean) and math.isfinite(sd) and sd > 0):
        raise PriorError(f"mu prior needs a finite mean and a finite sd > 0 (got {mean}, {sd})")
    return Normal(mean, sd)


def _row(measure: str) -> measures.MeasureRow:
    try:
        return measures.lookup(measure, where="prior")
    except DataError as exc:  # an unknown measure, met while choosing a prior
        raise PriorError(str(exc)) from None


__all__ = [
    "SCALES",
    "TAU_PRIORS",
    "Bartos",
    "Exponential",
    "Flat",
    "HalfCauchy",
    "HalfNormal",
    "HalfT",
    "InvGamma",
    "Jeffreys",
    "LogNormalTau2",
    "LogTTau2",
    "Lomax",
    "MuPrior",
    "MuPriorLike",
    "Normal",
    "PriorSummary",
    "Rhodes2015",
    "TauPrior",
    "TauPriorLike",
    "Turner2012",
    "Turner2015",
    "UisdHalfNormal",
    "Uniform",
    "UniformShrinkage",
    "describe",
    "library",
    "mu_prior",
    "mu_prior_default",
    "mu_prior_reason",
    "parse",
    "parse_mu",
    "split_list",
    "tau_prior",
    "uisd",
]
