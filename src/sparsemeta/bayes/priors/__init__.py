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
from typing import TYPE_CHECKING, Any

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
    "Normal",
    "PriorSummary",
    "Rhodes2015",
    "TauPrior",
    "Turner2012",
    "Turner2015",
    "UisdHalfNormal",
    "Uniform",
    "UniformShrinkage",
    "describe",
    "library",
    "mu_prior_default",
    "mu_prior_reason",
    "parse",
    "parse_mu",
    "uisd",
]
