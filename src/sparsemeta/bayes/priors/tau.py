"""Priors for the between-study standard deviation tau, as frozen values.

Every prior is a frozen dataclass whose fields are its parameters. It offers the density,
log-density, distribution and quantile functions *on tau* (numpy-vectorised), draws,
its PyMC form, and a canonical string (``str(prior)``) that :func:`sparsemeta.bayes.priors.parse`
turns back into an equal value.

Priors whose density depends on the studies' standard errors (``requires_se = True``:
Jeffreys/reference and uniform shrinkage) take ``se=`` (a 1-D array of the k standard
errors) in every density, distribution and sampling method.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, fields
from types import ModuleType
from typing import Any, ClassVar, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from sparsemeta.bayes.priors import tables
from sparsemeta.errors import PriorError

FloatArray = NDArray[np.float64]


def _stats() -> ModuleType:
    """:mod:`scipy.stats`, imported when first needed: importing it costs about as much as
    an exact fit, and the half-normal prior of an everyday fit never needs it."""
    from scipy import stats

    return stats


# ----------------------------------------------------------------------------------------
# validation helpers
# ----------------------------------------------------------------------------------------
def _number(prior: str, param: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise PriorError(f"{prior}: parameter {param!r} must be a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise PriorError(f"{prior}: parameter {param!r} must be finite, got {value!r}")
    return out


def _positive(prior: str, param: str, value: Any) -> float:
    out = _number(prior, param, value)
    if out <= 0.0:
        raise PriorError(f"{prior}: parameter {param!r} must be positive, got {value!r}")
    return out


def _choice(
    prior: str,
    param: str,
    value: Any,
    choices: Sequence[str],
    aliases: dict[str, str] | None = None,
) -> str:
    if not isinstance(value, str):
        raise PriorError(f"{prior}: parameter {param!r} must be a string, got {value!r}")
    key = " ".join(value.lower().split())
    lookup = {c.lower(): c for c in choices}
    lookup.update({a.lower(): c for a, c in (aliases or {}).items()})
    if key not in lookup:
        valid = "; ".join(f'"{c}"' for c in choices)
        raise PriorError(f"{prior}: unknown {param} {value!r}; valid choices: {valid}")
    return lookup[key]


def _se_array(prior: str, se: ArrayLike | None) -> FloatArray:
    if se is None:
        raise PriorError(f"{prior}: this prior depends on the study standard errors; pass se=")
    try:
        arr = np.asarray(se, dtype=float)
    except (TypeError, ValueError):
        arr = np.empty(0)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise PriorError(f"{prior}: se must be a non-empty 1-D array of positive finite numbers")
    return arr


def _set(obj: object, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


# ----------------------------------------------------------------------------------------
# distribution helpers (numpy/scipy objects on tau)
# ----------------------------------------------------------------------------------------
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _t_logpdf(x: FloatArray, df: float, loc: float, scale: float) -> FloatArray:
    """Log density of the Student-t distribution t_df(loc, scale), in numpy."""
    const = (
        math.lgamma((df + 1.0) / 2.0)
        - math.lgamma(df / 2.0)
        - 0.5 * math.log(df * math.pi)
        - math.log(scale)
    )
    z = (x - loc) / scale
    return const - 0.5 * (df + 1.0) * np.log1p(z * z / df)


class _Dist(Protocol):
    def logpdf(self, x: ArrayLike) -> Any: ...
    def cdf(self, x: ArrayLike) -> Any: ...
    def ppf(self, q: ArrayLike) -> Any: ...
    def mean(self) -> float: ...
    def rvs(self, size: Any, random_state: np.random.Generator) -> Any: ...


@dataclass(frozen=True)
class _HalfT:
    """|X| for X ~ t_df(0, scale)."""

    df: float
    scale: float

    def logpdf(self, x: ArrayLike) -> FloatArray:
        x = np.asarray(x, dtype=float)
        out = math.log(2.0) + _t_logpdf(x, self.df, 0.0, self.scale)
        return np.where(x >= 0, out, -np.inf)

    def cdf(self, x: ArrayLike) -> FloatArray:
        x = np.asarray(x, dtype=float)
        return np.where(x > 0, 2.0 * _stats().t.cdf(x, self.df, scale=self.scale) - 1.0, 0.0)

    def ppf(self, q: ArrayLike) -> FloatArray:
        return _stats().t.ppf((1.0 + np.asarray(q, dtype=float)) / 2.0, self.df, scale=self.scale)

    def mean(self) -> float:
        if self.df <= 1.0:
            return math.inf
        # E|X| = 2 s sqrt(df) Gamma((df+1)/2) / (sqrt(pi) Gamma(df/2) (df-1))
        return float(
            2.0
            * self.scale
            * math.sqrt(self.df)
            / (math.sqrt(math.pi) * (self.df - 1.0))
            * math.exp(special.gammaln((self.df + 1) / 2) - special.gammaln(self.df / 2))
        )

    def rvs(self, size: Any, random_state: np.random.Generator) -> FloatArray:
        return np.abs(
            _stats().t.rvs(self.df, scale=self.scale, size=size, random_state=random_state)
        )


@dataclass(frozen=True)
class _LogT:
    """exp(X) for X ~ t_df(loc, scale)."""

    df: float
    loc: float
    scale: float

    def logpdf(self, x: ArrayLike) -> FloatArray:
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            lx = np.log(np.where(x > 0, x, 1.0))
            out = _t_logpdf(lx, self.df, self.loc, self.scale) - lx
        return np.where(x > 0, out, -np.inf)

    def cdf(self, x: ArrayLike) -> FloatArray:
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            lx = np.log(np.where(x > 0, x, 1.0))
        return np.where(x > 0, _stats().t.cdf(lx, self.df, loc=self.loc, scale=self.scale), 0.0)

    def ppf(self, q: ArrayLike) -> FloatArray:
        with np.errstate(over="ignore"):
            return np.exp(_stats().t.ppf(q, self.df, loc=self.loc, scale=self.scale))

    def mean(self) -> float:
        return math.inf  # E exp(X) diverges for every Student-t X

    def rvs(self, size: Any, random_state: np.random.Generator) -> FloatArray:
        return np.exp(
            _stats().t.rvs(
                self.df, loc=self.loc, scale=self.scale, size=size, random_state=random_state
            )
        )


# ----------------------------------------------------------------------------------------
# base class
# ----------------------------------------------------------------------------------------
class TauPrior(ABC):
    """A prior for the between-study standard deviation tau (a frozen value).

    Subclasses are frozen dataclasses whose fields are the parameters. Class attributes:
    ``name`` (the name in the canonical string), ``family`` (distribution family, in
    words), ``proper``, ``requires_se`` and ``derived_for`` (effect scale a literature
    prior was derived for: ``"logOR"``, ``"SMD"``, ...; ``"any"`` for generic families).
    """

    name: ClassVar[str]
    family: ClassVar[str]
    proper: ClassVar[bool] = True
    requires_se: ClassVar[bool] = False
    derived_for: ClassVar[str] = "any"
    #: accepted positional-argument forms for :func:`~sparsemeta.bayes.priors.parse` (None: the
    #: dataclass field order)
    positional: ClassVar[tuple[tuple[str, ...], ...] | None] = None

    # -- identity ------------------------------------------------------------------------
    @property
    def params(self) -> dict[str, Any]:
        """The parameters (dataclass fields that are set), in canonical order."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)  # type: ignore[arg-type]
            if getattr(self, f.name) is not None
        }

    @property
    @abstractmethod
    def source(self) -> str:
        """Citation of the prior (and the table cell, for literature priors)."""

    @property
    def reference(self) -> str:
        """The citation alone (without the table cell of a literature prior)."""
        return self.source

    def __str__(self) -> str:
        parts = []
        for key, value in self.params.items():
            if isinstance(value, str):
                parts.append(f'{key}="{value}"')
            else:
                parts.append(f"{key}={float(value)!r}")
        return f"{self.name}({', '.join(parts)})"

    # -- the distribution ----------------------------------------------------------------
    def _dist(self, se: ArrayLike | None) -> _Dist:
        """The distribution of tau as a scipy-like frozen object."""
        raise NotImplementedError  # pragma: no cover - every proper prior overrides

    def _frozen(self, se: ArrayLike | None) -> _Dist:
        """:meth:`_dist`, built once per prior value when it does not depend on se.

        Building a scipy frozen distribution costs about 0.5 ms, far more than evaluating
        it; the exact posterior evaluates the prior hundreds of times.
        """
        if self.requires_se or type(self).__hash__ is None:
            return self._dist(se)
        return _frozen_dist(self)

    def _log_density(self, tau: FloatArray, se: ArrayLike | None) -> FloatArray:
        """Log density at ``tau``; only the values at tau >= 0 are used by :meth:`logpdf`.

        Families override this with the formula in numpy (a scipy ``logpdf`` call has
        tens of microseconds of overhead).
        """
        return np.asarray(self._frozen(se).logpdf(tau), dtype=float)

    def logpdf(self, tau: ArrayLike, se: ArrayLike | None = None) -> FloatArray:
        """Log prior density of tau (``-inf`` outside the support); vectorised."""
        tau = np.asarray(tau, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.where(tau >= 0, self._log_density(tau, se), -np.inf)

    def pdf(self, tau: ArrayLike, se: ArrayLike | None = None) -> FloatArray:
        """Prior density of tau; vectorised."""
        return np.exp(self.logpdf(tau, se=se))

    def cdf(self, tau: ArrayLike, se: ArrayLike | None = None) -> FloatArray:
        """P(tau <= t); vectorised."""
        tau = np.asarray(tau, dtype=float)
        return np.where(tau > 0, self._frozen(se).cdf(np.maximum(tau, 0.0)), 0.0)

    def sf(self, tau: ArrayLike, se: ArrayLike | None = None) -> FloatArray:
        """P(tau > t); vectorised."""
        return 1.0 - self.cdf(tau, se=se)

    def _quantile(self, q: FloatArray, se: ArrayLike | None) -> FloatArray:
        """Quantiles at probabilities ``q`` in [0, 1]; families may override in numpy."""
        return np.asarray(self._frozen(se).ppf(q), dtype=float)

    def ppf(self, q: ArrayLike, se: ArrayLike | None = None) -> FloatArray:
        """Quantile function (inverse cdf) of tau; vectorised, NaN outside [0, 1]."""
        q = np.asarray(q, dtype=float)
        ok = (q >= 0) & (q <= 1)
        return np.where(ok, self._quantile(np.where(ok, q, 0.5), se), np.nan)

    def median(self, se: ArrayLike | None = None) -> float:
        """Prior median of tau."""
        return float(self.ppf(0.5, se=se))

    def mean(self, se: ArrayLike | None = None) -> float:
        """Prior mean of tau (``inf`` when it does not exist, e.g. half-Cauchy)."""
        return float(self._frozen(se).mean())

    def random(
        self,
        rng: np.random.Generator,
        size: int | tuple[int, ...] | None = None,
        se: ArrayLike | None = None,
    ) -> FloatArray:
        """Draws of tau from the prior, using ``rng``."""
        return np.asarray(self._frozen(se).rvs(size=size, random_state=rng), dtype=float)

    @abstractmethod
    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        """Create tau as a positive PyMC variable ``name`` in the current model context.

        ``kwargs`` are passed to the PyMC distribution (and ``se=`` to priors that need it).
        """


# ----------------------------------------------------------------------------------------
# generic families
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HalfNormal(TauPrior):
    """Half-normal prior, ``p(tau) = 2/scale * phi(tau/scale)`` for tau >= 0.

    Recommended with scale 0.5 or 1.0 for log odds ratios with few studies by Friede,
    Röver, Wandel, Neuenschwander (2017), Res Synth Methods 8(1):79-91 and Biom J
    59(4):658-671; see also Röver et al. (2021), Res Synth Methods 12(4):448-474.
    """

    scale: float
    name: ClassVar[str] = "halfnormal"
    family: ClassVar[str] = "half-normal"

    def __post_init__(self) -> None:
        _set(self, "scale", _positive(self.name, "scale", self.scale))

    @property
    def source(self) -> str:
        return (
            "Friede T, Röver C, Wandel S, Neuenschwander B (2017). Meta-analysis of few small "
            "studies in orphan diseases. Res Synth Methods 8(1):79-91"
        )

    def _dist(self, se: ArrayLike | None) -> _Dist:
        return _stats().halfnorm(scale=self.scale)

    def _log_density(self, tau: FloatArray, se: ArrayLike | None) -> FloatArray:
        z = tau / self.scale
        return math.log(2.0) - _HALF_LOG_2PI - math.log(self.scale) - 0.5 * z * z

    def _quantile(self, q: FloatArray, se: ArrayLike | None) -> FloatArray:
        # P(tau <= t) = 2 Phi(t / scale) - 1
        return self.scale * special.ndtri((1.0 + q) / 2.0)

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        import pymc as pm

        return pm.HalfNormal(name, sigma=self.scale, **kwargs)


@dataclass(frozen=True)
class HalfCauchy(TauPrior):
    """Half-Cauchy prior, ``p(tau) = 2 / (pi scale (1 + (tau/scale)^2))`` for tau >= 0.

    Gelman (2006), Bayesian Analysis 1(3):515-534; heavy-tailed (no finite mean).
    """

    scale: float
    name: ClassVar[str] = "halfcauchy"
    family: ClassVar[str] = "half-Cauchy"

    def __post_init__(self) -> None:
        _set(self, "scale", _positive(self.name, "scale", self.scale))

    @property
    def source(self) -> str:
        return _GELMAN2006

    def _dist(self, se: ArrayLike | None) -> _Dist:
        return _stats().halfcauchy(scale=self.scale)

    def _log_density(self, tau: FloatArray, se: ArrayLike | None) -> FloatArray:
        z = tau / self.scale
        return math.log(2.0 / math.pi) - math.log(self.scale) - np.log1p(z * z)

    def mean(self, se: ArrayLike | None = None) -> float:
        return math.inf

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        import pymc as pm

        return pm.HalfCauchy(name, beta=self.scale, **kwargs)


@dataclass(frozen=True)
class HalfT(TauPrior):
    """Half-Student-t prior: ``p(tau) = 2 f_t(tau; df, 0, scale)`` for tau >= 0.

    Gelman (2006), Bayesian Analysis 1(3):515-534; df = 1 is the half-Cauchy.
    """

    df: float
    scale: float
    name: ClassVar[str] = "halft"
    family: ClassVar[str] = "half-Student-t"

    def __post_init__(self) -> None:
        _set(self, "df", _positive(self.name, "df", self.df))
        _set(self, "scale", _positive(self.name, "scale", self.scale))

    @property
    def source(self) -> str:
        return _GELMAN2006

    def _dist(self, se: ArrayLike | None) -> _Dist:
        return _HalfT(self.df, self.scale)

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        import pymc as pm

        return pm.HalfStudentT(name, nu=self.df, sigma=self.scale, **kwargs)


@dataclass(frozen=True)
class Exponential(TauPrior):
    """Exponential prior, ``p(tau) = exp(-tau/scale) / scale`` (mean = scale, rate = 1/scale).

    One of the weakly informative families compared by Röver et al. (2021),
    Res Synth Methods 12(4):448-474.
    """

    scale: float
    name: ClassVar[str] = "exponential"
    family: ClassVar[str] = "exponential"

    def __post_init__(self) -> None:
        _set(self, "scale", _positive(self.name, "scale", self.scale))

    @property
    def source(self) -> str:
        return _ROVER2021

    def _dist(self, se: ArrayLike | None) -> _Dist:
        return _stats().expon(scale=self.scale)

    def _log_density(self, tau: FloatArray, se: ArrayLike | None) -> FloatArray:
        return -math.log(self.scale) - tau / self.scale

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        import pymc as pm

        return pm.Exponential(name, lam=1.0 / self.scale, **kwargs)


@dataclass(frozen=True)
class Lomax(TauPrior):
    """Lomax (Pareto type II) prior, ``p(tau) = shape/scale (1 + tau/scale)^-(shape+1)``.

    Median ``scale (2^(1/shape) - 1)``; bayesmeta's ``dlomax``; compared by Röver et al.
    (2021), Res Synth Methods 12(4):448-474.
    """

    shape: float
    scale: float
    name: ClassVar[str] = "lomax"
    family: ClassVar[str] = "Lomax"

    def __post_init__(self) -> None:
        _set(self, "shape", _positive(self.name, "shape", self.shape))
        _set(self, "scale", _positive(self.name, "scale", self.scale))

    @property
    def source(self) -> str:
        return _ROVER2021

    def _dist(self, se: ArrayLike | None) -> _Dist:
        return _stats().lomax(self.shape, scale=self.scale)

    def mean(self, se: ArrayLike | None = None) -> float:
        return self.scale / (self.shape - 1.0) if self.shape > 1.0 else math.inf

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        import pymc as pm

        # tau = scale * (P - 1) with P ~ Pareto(shape, 1); PyMC derives the density.
        return pm.CustomDist(
            name,
            self.shape,
            self.scale,
            dist=lambda shape, scale, size: (
                scale * (pm.Pareto.dist(alpha=shape, m=1.0, size=size) - 1.0)
            ),
            transform=pm.distributions.transforms.log,
            **kwargs,
        )


@dataclass(frozen=True)
class Uniform(TauPrior):
    """Uniform prior on tau, ``p(tau) = 1 / (upper - lower)`` on ``[lower, upper]``.

    Discussed by Gelman (2006), Bayesian Analysis 1(3):515-534; the upper bound matters
    with few studies.
    """

    upper: float
    lower: float = 0.0
    name: ClassVar[str] = "uniform"
    family: ClassVar[str] = "uniform"
    positional: ClassVar[tuple[tuple[str, ...], ...] | None] = (("upper",), ("lower", "upper"))

    def __post_init__(self) -> None:
        _set(self, "upper", _positive(self.name, "upper", self.upper))
        lower = _number(self.name, "lower", self.lower)
        if lower < 0.0 or lower >= self.upper:
            raise PriorError(
                f"{self.name}: parameter 'lower' must satisfy 0 <= lower < upper, "
                f"got lower={lower!r}, upper={self.upper!r}"
            )
        _set(self, "lower", lower)

    @property
    def params(self) -> dict[str, Any]:
        return {"lower": self.lower, "upper": self.upper}

    @property
    def source(self) -> str:
        return _GELMAN2006

    def _dist(self, se: ArrayLike | None) -> _Dist:
        return _stats().uniform(loc=self.lower, scale=self.upper - self.lower)

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        import pymc as pm

        return pm.Uniform(name, lower=self.lower, upper=self.upper, **kwargs)


@dataclass(frozen=True)
class InvGamma(TauPrior):
    """Inverse-gamma prior on tau (not tau^2):
    ``p(tau) = scale^shape / Gamma(shape) tau^-(shape+1) exp(-scale/tau)``.

    The form of the empirical priors of Bartoš et al. (2021, 2023) used by RoBMA.
    """

    shape: float
    scale: float
    name: ClassVar[str] = "invgamma"
    family: ClassVar[str] = "inverse-gamma (on tau)"

    def __post_init__(self) -> None:
        _set(self, "shape", _positive(self.name, "shape", self.shape))
        _set(self, "scale", _positive(self.name, "scale", self.scale))

    @property
    def source(self) -> str:
        return tables.BARTOS2021_SOURCE

    def _dist(self, se: ArrayLike | None) -> _Dist:
        return _stats().invgamma(self.shape, scale=self.scale)

    def _log_density(self, tau: FloatArray, se: ArrayLike | None) -> FloatArray:
        a, b = self.shape, self.scale
        const = a * math.log(b) - math.lgamma(a)
        t = np.where(tau > 0, tau, 1.0)
        return np.where(tau > 0, const - (a + 1.0) * np.log(t) - b / t, -np.inf)

    def mean(self, se: ArrayLike | None = None) -> float:
        return self.scale / (self.shape - 1.0) if self.shape > 1.0 else math.inf

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        import pymc as pm

        return pm.InverseGamma(name, alpha=self.shape, beta=self.scale, **kwargs)


@dataclass(frozen=True)
class LogNormalTau2(TauPrior):
    """Log-normal prior stated on the variance: ``log(tau^2) ~ N(mean, sd^2)``.

    Equivalently ``log(tau) ~ N(mean/2, (sd/2)^2)``, i.e. tau is log-normal with halved
    parameters; the form of Turner et al. (2012, 2015).
    """

    mean_log_tau2: float
    sd_log_tau2: float
    name: ClassVar[str] = "lognormal_tau2"
    family: ClassVar[str] = "log-normal (on tau^2)"

    def __post_init__(self) -> None:
        _set(self, "mean_log_tau2", _number(self.name, "mean_log_tau2", self.mean_log_tau2))
        _set(self, "sd_log_tau2", _positive(self.name, "sd_log_tau2", self.sd_log_tau2))

    @property
    def source(self) -> str:
        return tables.TURNER2015_SOURCE

    def _dist(self, se: ArrayLike | None) -> _Dist:
        return _stats().lognorm(self.sd_log_tau2 / 2.0, scale=math.exp(self.mean_log_tau2 / 2.0))

    def _log_density(self, tau: FloatArray, se: ArrayLike | None) -> FloatArray:
        # log tau ~ N(m / 2, (s / 2)^2): density phi((log t - m/2) / (s/2)) / (t s/2)
        mean, sd = self.mean_log_tau2 / 2.0, self.sd_log_tau2 / 2.0
        lt = np.log(np.where(tau > 0, tau, 1.0))
        z = (lt - mean) / sd
        return np.where(tau > 0, -_HALF_LOG_2PI - math.log(sd) - lt - 0.5 * z * z, -np.inf)

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        import pymc as pm

        return pm.LogNormal(
            name, mu=self.mean_log_tau2 / 2.0, sigma=self.sd_log_tau2 / 2.0, **kwargs
        )


@dataclass(frozen=True)
class LogTTau2(TauPrior):
    """Log-Student-t prior stated on the variance: ``log(tau^2) ~ t_df(location, scale)``.

    Equivalently ``log(tau) ~ t_df(location/2, scale/2)``; the form of Rhodes et al.
    (2015) with df = 5. No finite mean.
    """

    location_log_tau2: float
    scale_log_tau2: float
    df: float = 5.0
    name: ClassVar[str] = "logt_tau2"
    family: ClassVar[str] = "log-Student-t (on tau^2)"

    def __post_init__(self) -> None:
        _set(
            self,
            "location_log_tau2",
            _number(self.name, "location_log_tau2", self.location_log_tau2),
        )
        _set(self, "scale_log_tau2", _positive(self.name, "scale_log_tau2", self.scale_log_tau2))
        _set(self, "df", _positive(self.name, "df", self.df))

    @property
    def source(self) -> str:
        return tables.RHODES2015_SOURCE

    def _dist(self, se: ArrayLike | None) -> _Dist:
        return _LogT(self.df, self.location_log_tau2 / 2.0, self.scale_log_tau2 / 2.0)

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        import pymc as pm
        import pytensor.tensor as pt

        # tau = exp(X), X ~ t_df(location/2, scale/2); PyMC derives the Jacobian.
        return pm.CustomDist(
            name,
            self.location_log_tau2 / 2.0,
            self.scale_log_tau2 / 2.0,
            dist=lambda loc, scale, size: pt.exp(
                pm.StudentT.dist(nu=self.df, mu=loc, sigma=scale, size=size)
            ),
            transform=pm.distributions.transforms.log,
            **kwargs,
        )


# ----------------------------------------------------------------------------------------
# literature priors (a named cell of a published table; delegate to a generic family)
# ----------------------------------------------------------------------------------------
class _Literature(TauPrior):
    """A prior taken from a published table; behaves like its :attr:`base` prior."""

    @property
    @abstractmethod
    def base(self) -> TauPrior:
        """The generic prior with the tabulated parameters."""

    @property
    def family(self) -> str:  # type: ignore[override]
        return self.base.family

    def _dist(self, se: ArrayLike | None) -> _Dist:
        return self.base._dist(se)

    def _log_density(self, tau: FloatArray, se: ArrayLike | None) -> FloatArray:
        return _base_of(self)._log_density(tau, se)

    def mean(self, se: ArrayLike | None = None) -> float:
        return self.base.mean(se)

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        return self.base.to_pymc(name, **kwargs)


_AGENTS = {
    "pharm": "pharm",
    "pharmacological": "pharm",
    "drug": "pharm",
    "non-pharm": "non-pharm",
    "non-pharmacological": "non-pharm",
    "nonpharm": "non-pharm",
    "placebo/control": "placebo/control",
    "placebo / control": "placebo/control",
    "placebo": "placebo/control",
    "control": "placebo/control",
}


def _split_comparison(prior: str, value: str, choices: Sequence[str]) -> tuple[str, str] | None:
    """Parse "A vs B" into two agent types, or None if it is not of that form."""
    parts = [" ".join(p.split()) for p in value.lower().replace("vs.", "vs").split(" vs ")]
    if len(parts) != 2:
        return None
    agents = tuple(_AGENTS.get(p) for p in parts)
    if None in agents:
        return None
    a, b = agents
    if a == b == "placebo/control":
        valid = "; ".join(f'"{c}"' for c in choices)
        raise PriorError(
            f"{prior}: comparison 'placebo/control vs placebo/control' is not "
            f"defined; valid choices: {valid}"
        )
    return a, b  # type: ignore[return-value]


def _turner2015_comparison(value: Any) -> str:
    prior = "turner2015"
    choices = tables.TURNER2015_COMPARISONS
    if isinstance(value, str):
        pair = _split_comparison(prior, value, choices)
        if pair is not None:
            a, b = sorted(pair, key=["non-pharm", "pharm", "placebo/control"].index)
            if a == b:
                return f"{a} vs {b}"
            if a == "pharm":
                return f"pharm vs {b}"
            return f"non-pharm vs {b}"
    return _choice(prior, "comparison", value, choices)


def _three_way_comparison(
    prior: str, value: Any, choices: Sequence[str], aliases: dict[str, str] | None = None
) -> str:
    """Rhodes 2015 / Turner 2012 columns: any non-pharm arm -> "non-pharm"."""
    if isinstance(value, str):
        pair = _split_comparison(prior, value, choices)
        if pair is not None:
            if "non-pharm" in pair:
                return "non-pharm"
            return "pharm vs pharm" if pair == ("pharm", "pharm") else "pharm vs placebo/control"
    return _choice(prior, "comparison", value, choices, aliases)


@dataclass(frozen=True)
class Turner2015(_Literature):
    """Turner et al. (2015) predictive log-normal prior for tau^2 (log odds ratios).

    ``log(tau^2) ~ N(m, s^2)`` with ``(m, s)`` from Table IV by outcome type and
    comparison type; with no outcome, the general setting ``N(-2.56, 1.74^2)`` (p. 993).
    tau is then log-normal with parameters ``(m/2, s/2)``. Comparison accepts any
    "A vs B" with A, B in {pharm, non-pharm, placebo/control} (order irrelevant).
    """

    outcome: str | None = None
    comparison: str | None = None
    name: ClassVar[str] = "turner2015"
    derived_for: ClassVar[str] = "logOR"

    def __post_init__(self) -> None:
        if self.outcome is None:
            if self.comparison is not None:
                raise PriorError(
                    "turner2015: parameter 'comparison' needs an 'outcome' "
                    "(omit both for the general setting)"
                )
            return
        _set(
            self,
            "outcome",
            _choice(
                self.name,
                "outcome",
                self.outcome,
                list(tables.TURNER2015),
                tables.TURNER2015_OUTCOME_ALIASES,
            ),
        )
        if self.comparison is None:
            valid = "; ".join(f'"{c}"' for c in tables.TURNER2015_COMPARISONS)
            raise PriorError(f"turner2015: missing parameter 'comparison'; valid choices: {valid}")
        _set(self, "comparison", _turner2015_comparison(self.comparison))

    @property
    def base(self) -> LogNormalTau2:
        if self.outcome is None:
            return LogNormalTau2(*tables.TURNER2015_MARGINAL)
        col = tables.TURNER2015_COMPARISONS.index(self.comparison)  # type: ignore[arg-type]
        return LogNormalTau2(*tables.TURNER2015[self.outcome][col])

    @property
    def source(self) -> str:
        setting = (
            "general setting (p. 993)"
            if self.outcome is None
            else f"outcome '{self.outcome}', comparison '{self.comparison}'"
        )
        return f"{tables.TURNER2015_SOURCE}; {setting}"

    @property
    def reference(self) -> str:
        return tables.TURNER2015_SOURCE


@dataclass(frozen=True)
class Turner2012(_Literature):
    """Turner et al. (2012) predictive log-normal prior for tau^2 (log odds ratios).

    ``log(tau^2) ~ N(m, s^2)`` by outcome type (all-cause mortality, semi-objective,
    subjective) and comparison type (pharm vs placebo/control, pharm vs pharm,
    non-pharm); tau is log-normal ``(m/2, s/2)``.
    """

    outcome: str
    comparison: str
    name: ClassVar[str] = "turner2012"
    derived_for: ClassVar[str] = "logOR"

    def __post_init__(self) -> None:
        _set(
            self,
            "outcome",
            _choice(
                self.name,
                "outcome",
                self.outcome,
                list(tables.TURNER2012),
                tables.TURNER2012_OUTCOME_ALIASES,
            ),
        )
        _set(
            self,
            "comparison",
            _three_way_comparison(
                self.name,
                self.comparison,
                tables.TURNER2012_COMPARISONS,
                tables.TURNER2012_COMPARISON_ALIASES,
            ),
        )

    @property
    def base(self) -> LogNormalTau2:
        col = tables.TURNER2012_COMPARISONS.index(self.comparison)
        return LogNormalTau2(*tables.TURNER2012[self.outcome][col])

    @property
    def source(self) -> str:
        return (
            f"{tables.TURNER2012_SOURCE}; outcome '{self.outcome}', comparison '{self.comparison}'"
        )

    @property
    def reference(self) -> str:
        return tables.TURNER2012_SOURCE


@dataclass(frozen=True)
class Rhodes2015(_Literature):
    """Rhodes et al. (2015) predictive log-t5 prior for tau^2 (standardised mean differences).

    ``log(tau^2) ~ t_5(location, scale)`` by outcome type, comparison type and medical
    area (Table 3: "other"; A.3.1: "respiratory"; A.3.2: "cancer"); with no outcome, the
    general setting ``t_5(-3.44, 2.59)``. tau is log-t5 with ``(location/2, scale/2)``.
    Cells ("other", "mental health outcome", "non-pharm") = -3.85 and ("cancer",
    "internal / external structure-related outcome", "pharm vs pharm") = -0.14 break the
    table's pattern and could not be checked against the printed paper; they are shipped
    as implemented in bayesmeta and, identically, in rnmamod (see
    :mod:`sparsemeta.bayes.priors.tables`); :attr:`verified` is False for them.
    """

    outcome: str | None = None
    comparison: str | None = None
    area: str | None = None
    name: ClassVar[str] = "rhodes2015"
    derived_for: ClassVar[str] = "SMD"

    def __post_init__(self) -> None:
        if self.outcome is None:
            if self.comparison is not None or self.area is not None:
                raise PriorError(
                    "rhodes2015: parameters 'comparison' and 'area' need an "
                    "'outcome' (omit all three for the general setting)"
                )
            return
        _set(
            self,
            "outcome",
            _choice(
                self.name,
                "outcome",
                self.outcome,
                list(tables.RHODES2015["other"]),
                tables.RHODES2015_OUTCOME_ALIASES,
            ),
        )
        if self.comparison is None:
            valid = "; ".join(f'"{c}"' for c in tables.RHODES2015_COMPARISONS)
            raise PriorError(f"rhodes2015: missing parameter 'comparison'; valid choices: {valid}")
        _set(
            self,
            "comparison",
            _three_way_comparison(self.name, self.comparison, tables.RHODES2015_COMPARISONS),
        )
        _set(
            self, "area", _choice(self.name, "area", self.area or "other", tables.RHODES2015_AREAS)
        )

    @property
    def base(self) -> LogTTau2:
        if self.outcome is None:
            return LogTTau2(*tables.RHODES2015_MARGINAL)
        col = tables.RHODES2015_COMPARISONS.index(self.comparison)  # type: ignore[arg-type]
        return LogTTau2(*tables.RHODES2015[self.area][self.outcome][col])  # type: ignore[index]

    @property
    def reference(self) -> str:
        return tables.RHODES2015_SOURCE

    @property
    def verified(self) -> bool:
        """False for the two cells that could not be checked against the paper."""
        return (self.area, self.outcome, self.comparison) not in tables.RHODES2015_UNVERIFIED

    @property
    def source(self) -> str:
        if self.outcome is None:
            return f"{tables.RHODES2015_SOURCE}; general setting (Sec. 3.3)"
        note = "" if self.verified else " [cell not verified against the printed table]"
        return (
            f"{tables.RHODES2015_SOURCE}; outcome '{self.outcome}', comparison "
            f"'{self.comparison}', area '{self.area}'{note}"
        )


_BARTOS_MEASURES = tuple(tables.BARTOS_COCHRANE)
_BARTOS_MEASURE_ALIASES = {"OR": "logOR", "RR": "logRR", "HR": "logHR"}


@dataclass(frozen=True)
class Bartos(_Literature):
    """Empirical Cochrane heterogeneity priors of Bartoš et al. (2021; 2023), on tau.

    ``measure`` in {SMD, logOR, logRR, RD, logHR}: inverse-gamma(shape, scale) on tau
    (half-normal(0.099) for RD), Cochrane-wide. For SMD, ``field`` selects one of the 46
    Cochrane review-group subfields of Bartoš et al. (2021) (default "Cochrane").
    """

    measure: str
    field: str = "Cochrane"
    name: ClassVar[str] = "bartos"

    def __post_init__(self) -> None:
        _set(
            self,
            "measure",
            _choice(self.name, "measure", self.measure, _BARTOS_MEASURES, _BARTOS_MEASURE_ALIASES),
        )
        if self.measure == "SMD":
            _set(
                self,
                "field",
                _choice(
                    self.name, "field", self.field, ["Cochrane", *tables.BARTOS2021_SMD_SUBFIELDS]
                ),
            )
        elif self.field != "Cochrane":
            raise PriorError(
                f"bartos: parameter 'field' must be \"Cochrane\" for measure "
                f"{self.measure!r} (subfields are tabulated for SMD only), "
                f"got {self.field!r}"
            )

    @property
    def derived_for(self) -> str:  # type: ignore[override]
        return self.measure

    @property
    def base(self) -> TauPrior:
        if self.field != "Cochrane":
            return InvGamma(*tables.BARTOS2021_SMD_SUBFIELDS[self.field])
        family, values = tables.BARTOS_COCHRANE[self.measure]
        return HalfNormal(*values) if family == "halfnormal" else InvGamma(*values)

    @property
    def source(self) -> str:
        return f"{self.reference}; measure {self.measure}, field '{self.field}'"

    @property
    def reference(self) -> str:
        return tables.BARTOS2021_SOURCE if self.measure == "SMD" else tables.BARTOS2023_SOURCE


@dataclass(frozen=True)
class UisdHalfNormal(_Literature):
    """Half-normal prior scaled to the unit-information standard deviation (UISD).

    ``tau ~ HalfNormal(fraction * uisd)``. Röver et al. (2021), Res Synth Methods
    12(4):448-474, judge tau priors relative to the UISD sigma_u (sigma_i ~ sigma_u /
    sqrt(n_i)), estimated by ``s_u = sqrt(sum n_i / sum sigma_i^-2)`` (their Eq. 6;
    bayesmeta ``uisd()``). The default ``fraction = 0.25`` is RoBMA's default
    ``Normal+(0, UISD/4)``; with ``uisd = 2`` (log OR at p = 0.5, per-arm n) this gives
    HN(0.5). Verified: the estimator and the RoBMA default; not verified: the paper's own
    table of recommended scales per effect measure (see PRIORS.md section 6).
    """

    uisd: float
    fraction: float = 0.25
    name: ClassVar[str] = "uisd_halfnormal"

    def __post_init__(self) -> None:
        _set(self, "uisd", _positive(self.name, "uisd", self.uisd))
        _set(self, "fraction", _positive(self.name, "fraction", self.fraction))

    @classmethod
    def from_data(cls, n: ArrayLike, se: ArrayLike, fraction: float = 0.25) -> UisdHalfNormal:
        """Build the prior from per-study sample sizes ``n`` and standard errors ``se``.

        ``s_u = sqrt(sum n_i / sum se_i^-2)``. Whether ``n`` counts all patients or one
        arm changes s_u by sqrt(2): use the convention the UISD is quoted in.
        """
        return cls(uisd=uisd(n, se), fraction=fraction)

    @property
    def base(self) -> HalfNormal:
        return HalfNormal(self.uisd * self.fraction)

    @property
    def source(self) -> str:
        return _ROVER2021


def uisd(n: ArrayLike, se: ArrayLike) -> float:
    """Unit-information standard deviation ``s_u = sqrt(sum n_i / sum se_i^-2)``.

    Röver et al. (2021), Res Synth Methods 12(4):448-474, Eq. 6 (bayesmeta ``uisd()``).
    """
    se_arr = _se_array("uisd", se)
    try:
        n_arr = np.asarray(n, dtype=float)
    except (TypeError, ValueError):
        n_arr = np.empty(0)
    if n_arr.shape != se_arr.shape or not np.all(np.isfinite(n_arr)) or np.any(n_arr <= 0):
        raise PriorError("uisd: n must be positive finite numbers, one per standard error")
    return float(math.sqrt(n_arr.sum() / np.sum(se_arr**-2.0)))


# ----------------------------------------------------------------------------------------
# priors that depend on the standard errors
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Jeffreys(TauPrior):
    """Jeffreys (Tibshirani's noninformative / Berger-Bernardo reference) prior for tau.

    ``p(tau | se) ∝ sqrt(sum_i (tau / (se_i^2 + tau^2))^2)`` (improper), as implemented
    by bayesmeta (``tau.prior = "Jeffreys"``; formula checked against cran/bayesmeta
    R/bayesmeta.R and man/bayesmeta.Rd): Fisher information for tau with mu held fixed,
    Tibshirani (1989), Biometrika 76(3):604-608; it is also the Berger-Bernardo reference
    prior, Bodnar, Link, Elster (2016), Bayesian Analysis 11(1):25-45. Use it with the
    exact (quadrature) engine only: it has no normalising constant, cdf or draws.
    """

    name: ClassVar[str] = "jeffreys"
    family: ClassVar[str] = "Jeffreys / reference (depends on se)"
    proper: ClassVar[bool] = False
    requires_se: ClassVar[bool] = True

    @property
    def source(self) -> str:
        return (
            "Tibshirani R (1989). Noninformative priors for one parameter of many. "
            "Biometrika 76(3):604-608; Bodnar O, Link A, Elster C (2016). Objective Bayesian "
            "inference for a generalized marginal random effects model. Bayesian Anal "
            "11(1):25-45"
        )

    def logpdf(self, tau: ArrayLike, se: ArrayLike | None = None) -> FloatArray:
        """Unnormalised log density (up to an additive constant)."""
        s2 = _se_array(self.name, se) ** 2
        tau = np.asarray(tau, dtype=float)
        t = np.maximum(tau, 0.0)[..., None]
        with np.errstate(divide="ignore"):
            out = 0.5 * np.log(np.sum((t / (s2 + t * t)) ** 2, axis=-1))
        return np.where(tau >= 0, out, -np.inf)

    def _improper(self, what: str) -> PriorError:
        return PriorError(
            f"jeffreys: the prior is improper, so it has no {what}; use it with "
            "the exact engine (sparsemeta.bayes.exact)"
        )

    def cdf(self, tau: ArrayLike, se: ArrayLike | None = None) -> FloatArray:
        raise self._improper("cdf")

    def ppf(self, q: ArrayLike, se: ArrayLike | None = None) -> FloatArray:
        raise self._improper("quantiles")

    def mean(self, se: ArrayLike | None = None) -> float:
        raise self._improper("mean")

    def random(
        self,
        rng: np.random.Generator,
        size: int | tuple[int, ...] | None = None,
        se: ArrayLike | None = None,
    ) -> FloatArray:
        raise self._improper("random draws")

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        raise PriorError(
            "jeffreys: the improper Jeffreys/reference prior has no PyMC form; "
            "use the exact engine (sparsemeta.bayes.exact)"
        )


@dataclass(frozen=True)
class UniformShrinkage(TauPrior):
    """Uniform-shrinkage prior (Daniels 1999), with bayesmeta's definition.

    With ``s0^2 = k / sum se_i^-2`` (harmonic mean of the squared standard errors), the
    shrinkage ``s0^2 / (s0^2 + tau^2)`` is uniform on (0, 1), i.e.
    ``p(tau | se) = 2 tau s0^2 / (s0^2 + tau^2)^2``, ``P(tau <= t) = t^2 / (s0^2 + t^2)``
    (a log-logistic with shape 2 and scale s0; median s0). Definition checked against
    bayesmeta (``tau.prior = "shrinkage"``, man/bayesmeta.Rd), which cites Spiegelhalter,
    Abrams, Myles (2004), Bayesian Approaches to Clinical Trials and Health-Care
    Evaluation, Sec. 5.7.3; the prior goes back to Daniels (1999) (journal details below
    not checked here).
    """

    name: ClassVar[str] = "uniform_shrinkage"
    family: ClassVar[str] = "uniform shrinkage (depends on se)"
    requires_se: ClassVar[bool] = True

    @property
    def source(self) -> str:
        return (
            "Spiegelhalter DJ, Abrams KR, Myles JP (2004). Bayesian Approaches to Clinical "
            "Trials and Health-Care Evaluation. Wiley, Sec. 5.7.3; Daniels MJ (1999). A prior "
            "for the variance in hierarchical models. Can J Stat 27(3):567-578"
        )

    @staticmethod
    def s0(se: ArrayLike) -> float:
        """``s0 = sqrt(k / sum se_i^-2)``."""
        arr = _se_array("uniform_shrinkage", se)
        return float(math.sqrt(arr.size / np.sum(arr**-2.0)))

    def _dist(self, se: ArrayLike | None) -> _Dist:
        return _stats().fisk(2.0, scale=self.s0(_se_array(self.name, se)))

    def _log_density(self, tau: FloatArray, se: ArrayLike | None) -> FloatArray:
        # p(tau) = 2 tau s0^2 / (s0^2 + tau^2)^2
        s02 = self.s0(se) ** 2
        return np.log(2.0 * tau * s02) - 2.0 * np.log(s02 + tau * tau)

    def to_pymc(self, name: str, *, se: ArrayLike | None = None, **kwargs: Any) -> Any:
        import pymc as pm
        import pytensor.tensor as pt

        log_s0 = math.log(self.s0(_se_array(self.name, se)))
        # log tau = log s0 + logit(U)/2 with U uniform: logistic(log s0, 1/2)
        return pm.CustomDist(
            name,
            log_s0,
            dist=lambda loc, size: pt.exp(pm.Logistic.dist(mu=loc, s=0.5, size=size)),
            transform=pm.distributions.transforms.log,
            **kwargs,
        )


@functools.lru_cache(maxsize=512)
def _frozen_dist(prior: TauPrior) -> _Dist:
    """The distribution of a prior that does not depend on se, built once per value."""
    return prior._dist(None)


@functools.lru_cache(maxsize=512)
def _base_of(prior: _Literature) -> TauPrior:
    """The generic prior behind a literature prior, built (and validated) once per value."""
    return prior.base


_GELMAN2006 = (
    "Gelman A (2006). Prior distributions for variance parameters in hierarchical "
    "models. Bayesian Anal 1(3):515-534"
)
_ROVER2021 = (
    "Röver C, Bender R, Dias S, Schmid CH, Schmidli H, Sturtz S, Weber S, Friede T "
    "(2021). On weakly informative prior distributions for the heterogeneity "
    "parameter in Bayesian random-effects meta-analysis. Res Synth Methods "
    "12(4):448-474"
)

#: canonical name -> class, for :func:`sparsemeta.bayes.priors.parse`
TAU_PRIORS: dict[str, type[TauPrior]] = {
    cls.name: cls
    for cls in (
        HalfNormal,
        HalfCauchy,
        HalfT,
        Exponential,
        Lomax,
        Uniform,
        InvGamma,
        LogNormalTau2,
        LogTTau2,
        Turner2012,
        Turner2015,
        Rhodes2015,
        Bartos,
        UisdHalfNormal,
        Jeffreys,
        UniformShrinkage,
    )
}

__all__ = [
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
]
