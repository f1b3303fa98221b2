"""Priors for the overall effect mu, and documented defaults per effect measure."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from sparsemeta import measures
from sparsemeta.bayes.priors._parse import parse_call
from sparsemeta.errors import DataError, PriorError

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

    # closed forms of the normal distribution (scipy.special, not scipy.stats: importing
    # scipy.stats would cost every command that only needs these a third of a second)
    def logpdf(self, mu: ArrayLike) -> FloatArray:
        z = (np.asarray(mu, dtype=float) - self.mean) / self.sd
        return -0.5 * z * z - math.log(self.sd) - 0.5 * math.log(2.0 * math.pi)

    def pdf(self, mu: ArrayLike) -> FloatArray:
        return np.exp(self.logpdf(mu))

    def cdf(self, mu: ArrayLike) -> FloatArray:
        return special.ndtr((np.asarray(mu, dtype=float) - self.mean) / self.sd)

    def ppf(self, q: ArrayLike) -> FloatArray:
        return self.mean + self.sd * special.ndtri(np.asarray(q, dtype=float))

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


def mu_prior_default(measure: str) -> MuPrior:
    """Default prior for mu of an effect measure (:data:`sparsemeta.measures.TABLE`).

    Parameters
    ----------
    measure : str
        A measure code (``OR, RR, HR, RD, MD, SMD, GENERIC``, ...; ``logOR``, ``logRR``,
        ``logHR`` also accepted; case-insensitive).
    """
    return parse_call(_row(measure).mu_prior, MU_PRIORS, "mu")


def mu_prior_reason(measure: str) -> str:
    """Why :func:`mu_prior_default` chose its prior for ``measure``."""
    return _row(measure).mu_reason


def _row(measure: str) -> measures.MeasureRow:
    try:
        return measures.lookup(measure, where="mu prior")
    except DataError as exc:
        raise PriorError(str(exc)) from None
