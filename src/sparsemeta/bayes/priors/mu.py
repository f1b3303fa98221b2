"""Priors for the overall effect mu, and documented defaults per effect measure."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from sparsemeta.errors import PriorError

FloatArray = NDArray[np.float64]


class MuPrior:
    """A prior for the overall (mean) effect mu on the analysis scale (log for ratios)."""

    name: ClassVar[str]
    proper: ClassVar[bool] = True
    positional: ClassVar[tuple[tuple[str, ...], ...] | None] = None

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __str__(self) -> str:
        if not self.params:
            return self.name
        inner = ", ".join(f"{k}={float(v)!r}" for k, v in self.params.items())
        return f"{self.name}({inner})"


@dataclass(frozen=True)
class Normal(MuPrior):
    """Normal prior ``mu ~ N(mean, sd^2)``: density ``phi((mu - mean)/sd) / sd``."""

    mean: float
    sd: float
    name: ClassVar[str] = "normal"

    def __post_init__(self) -> None:
        for key in ("mean", "sd"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise PriorError(f"normal: parameter {key!r} must be a number, got {value!r}")
            if not math.isfinite(float(value)):
                raise PriorError(f"normal: parameter {key!r} must be finite, got {value!r}")
            object.__setattr__(self, key, float(value))
        if self.sd <= 0:
            raise PriorError(f"normal: parameter 'sd' must be positive, got {self.sd!r}")

    def logpdf(self, mu: ArrayLike) -> FloatArray:
        return stats.norm.logpdf(mu, loc=self.mean, scale=self.sd)

    def pdf(self, mu: ArrayLike) -> FloatArray:
        return stats.norm.pdf(mu, loc=self.mean, scale=self.sd)

    def cdf(self, mu: ArrayLike) -> FloatArray:
        return stats.norm.cdf(mu, loc=self.mean, scale=self.sd)

    def ppf(self, q: ArrayLike) -> FloatArray:
        return stats.norm.ppf(q, loc=self.mean, scale=self.sd)

    def random(
        self, rng: np.random.Generator, size: int | tuple[int, ...] | None = None
    ) -> FloatArray:
        return rng.normal(self.mean, self.sd, size=size)

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        import pymc as pm

        return pm.Normal(name, mu=self.mean, sigma=self.sd, **kwargs)


@dataclass(frozen=True)
class Flat(MuPrior):
    """Improper uniform prior on the real line, ``p(mu) ∝ 1`` (bayesmeta's default).

    The posterior is proper for k >= 1 studies with known standard errors.
    """

    name: ClassVar[str] = "flat"
    proper: ClassVar[bool] = False

    def logpdf(self, mu: ArrayLike) -> FloatArray:
        return np.zeros_like(np.asarray(mu, dtype=float))

    def pdf(self, mu: ArrayLike) -> FloatArray:
        return np.ones_like(np.asarray(mu, dtype=float))

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        import pymc as pm

        return pm.Flat(name, **kwargs)


MU_PRIORS: dict[str, type[MuPrior]] = {"normal": Normal, "flat": Flat}

#: measure -> (default prior, reason). Ratio measures are on the natural-log scale.
MU_DEFAULTS: dict[str, tuple[MuPrior, str]] = {
    "OR": (
        Normal(0.0, 2.82),
        "Günhan, Röver, Friede (2020), Res Synth Methods 11(1):74-90: N(0, 2.82^2) for the "
        "log odds ratio puts 95% prior mass on OR in 1/250..250, consistent with the effects "
        "of 37,773 Cochrane meta-analyses; weakly informative, keeps the binomial-normal "
        "model proper with zero cells.",
    ),
    "RR": (
        Normal(0.0, 2.82),
        "Same weakly informative N(0, 2.82^2) as for the log OR (our choice): |log RR| <= "
        "|log OR| for the same data, so a prior wide enough for log OR is wide enough for "
        "log RR.",
    ),
    "HR": (
        Normal(0.0, 2.82),
        "Same weakly informative N(0, 2.82^2) as for the log OR (our choice): HR in "
        "1/250..250 with 95% probability.",
    ),
    "RD": (
        Normal(0.0, 1.0),
        "Our choice: N(0, 1) covers the whole admissible range [-1, 1] within one prior SD, "
        "so it constrains nothing plausible while staying proper.",
    ),
    "SMD": (
        Normal(0.0, 2.0),
        "Our choice: N(0, 2^2) gives 95% prior mass to |SMD| < 3.9, wider than any "
        "plausible clinical SMD (Bartoš et al. 2021's empirical t(0, 0.43, 5) has 97.5% "
        "quantile about 1.1) while staying proper.",
    ),
    "MD": (
        Flat(),
        "Flat: the scale of a mean difference depends on the outcome's units, so no fixed "
        "normal prior is weakly informative for every MD; the flat prior is invariant to "
        "the units and gives a proper posterior (bayesmeta's default). Pass a "
        "normal(mean, sd) on the outcome's units to override.",
    ),
    "GENERIC": (
        Flat(),
        "Flat: the scale of a generic effect is unknown; override with normal(mean, sd).",
    ),
}

_MEASURE_ALIASES = {"LOGOR": "OR", "LOGRR": "RR", "LOGHR": "HR"}


def mu_prior_default(measure: str) -> MuPrior:
    """Default prior for mu for an effect measure (see ``MU_DEFAULTS`` for the reasons).

    Parameters
    ----------
    measure : str
        One of ``OR, RR, HR, RD, MD, SMD, GENERIC`` (``logOR``, ``logRR``, ``logHR`` also
        accepted; case-insensitive).
    """
    return MU_DEFAULTS[_measure_key(measure)][0]


def mu_prior_reason(measure: str) -> str:
    """Why :func:`mu_prior_default` chose its prior for ``measure``."""
    return MU_DEFAULTS[_measure_key(measure)][1]


def _measure_key(measure: str) -> str:
    key = str(measure).upper()
    key = _MEASURE_ALIASES.get(key, key)
    if key not in MU_DEFAULTS:
        raise PriorError(
            f"mu prior: unknown measure {measure!r}; valid choices: {', '.join(MU_DEFAULTS)}"
        )
    return key
