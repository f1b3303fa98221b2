r"""Posterior predictive p-values for the exact normal-normal posterior (bayesmeta's ``pppvalue``).

For a hypothesis about mu or tau, parameter values are drawn from the posterior restricted
to the null hypothesis, new data are generated from them, and the p-value is the share of
replicates whose test statistic ("discrepancy") is at least as extreme as that of the
actual data (Meng 1994; Gelman, Meng & Stern 1996; the scheme of bayesmeta's
``pppvalue``, Röver 2020, Sec. 3.6):

* ``parameter="mu"``: two-sided, :math:`\mu = \mu_0`; ``"less"`` (H0: :math:`\mu \ge \mu_0`),
  mu from its posterior restricted to :math:`[\mu_0, \infty)`; ``"greater"``, restricted to
  :math:`(-\infty, \mu_0]` (inverse-cdf draws). Then :math:`\tau` from its conditional
  posterior :math:`p(\tau \mid \mu, y) \propto p(\tau) \prod_i N(y_i; \mu, \sigma_i^2 + \tau^2)`;
* ``parameter="tau"``: two-sided, :math:`\tau = \tau_0`; one-sided, tau from its posterior
  restricted to the null side; then :math:`\mu \sim N(\hat\mu(\tau), V(\tau))`, its
  conditional posterior;
* then :math:`\theta_i \sim N(\mu, \tau^2)` and :math:`y_i^{rep} \sim N(\theta_i, \sigma_i^2)`.

Statistics: ``"Q"`` (Cochran's Q with the actual standard errors; rejection region the
upper tail), ``"t"`` (:math:`(E[\cdot \mid y] - v)/\mathrm{sd}(\cdot \mid y)`), ``"cdf"``
(the posterior cdf at the null value), ``"mean"``, ``"median"`` (of the parameter's
posterior; each replicate is re-analysed exactly), or a function ``f(y, se)``. The
two-tailed region is bayesmeta's: the smaller of the two tails plus as many of the most
extreme replicates on the other side.

References
----------
Meng XL (1994). Posterior predictive p-values. *Ann Stat* 22(3):1142-1160.

Gelman A, Meng XL, Stern H (1996). Posterior predictive assessment of model fitness via
realized discrepancies. *Stat Sin* 6(4):733-760.

Röver C (2020). Bayesian random-effects meta-analysis using the bayesmeta R package.
*J Stat Softw* 93(6):1-51.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import special, stats

from sparsemeta.bayes import exact
from sparsemeta.errors import DataError
from sparsemeta.results import json_safe

__all__ = ["PPPValue", "pppvalue"]

_STATISTICS = ("Q", "t", "cdf", "mean", "median")
_CHUNK = 250


@dataclass(frozen=True)
class PPPValue:
    """A posterior predictive p-value with its Monte Carlo replicates.

    Attributes
    ----------
    p_value : float
    statistic : float
        The statistic of the actual data.
    parameter, null_value, alternative, statistic_name, rejection_region
        The hypothesis and test.
    replicates : pandas.DataFrame
        ``tau, mu, statistic, tail`` and ``y[label]`` per replicate.
    """

    p_value: float
    statistic: float
    parameter: str
    null_value: float
    alternative: str
    statistic_name: str
    rejection_region: str
    replicates: pd.DataFrame

    @property
    def n(self) -> int:
        """Number of Monte Carlo replicates."""
        return len(self.replicates)

    def summary(self) -> pd.DataFrame:
        """One row: ``parameter, null_value, alternative, statistic_name, statistic,
        p_value, n``."""
        cols = ["parameter", "null_value", "alternative", "statistic_name", "statistic"]
        return pd.DataFrame(
            [{**{c: getattr(self, c) for c in cols}, "p_value": self.p_value, "n": self.n}]
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe record (without the replicates)."""
        return json_safe(
            {
                "p_value": self.p_value,
                "statistic": self.statistic,
                "statistic_name": self.statistic_name,
                "parameter": self.parameter,
                "null_value": self.null_value,
                "alternative": self.alternative,
                "rejection_region": self.rejection_region,
                "n": self.n,
            }
        )

    def __str__(self) -> str:
        return (
            f"posterior predictive p-value ({self.alternative}) for {self.parameter} = "
            f"{self.null_value:g}: p = {self.p_value:.4g} ({self.n} replicates; statistic "
            f"{self.statistic_name} = {self.statistic:.4g}, {self.rejection_region})"
        )


def _cochran_q(y: NDArray[np.float64], se: NDArray[np.float64]) -> NDArray[np.float64]:
    w = 1.0 / se**2
    mean = (y * w).sum(axis=-1, keepdims=True) / w.sum()
    return (((y - mean) / se) ** 2).sum(axis=-1)


def _refit_statistic(
    post: exact.ExactPosterior, Y: NDArray[np.float64], parameter: str, value: float, name: str
) -> NDArray[np.float64]:
    """The posterior statistic of ``parameter`` for each replicated data set (rows of Y)."""
    out = []
    for start in range(0, Y.shape[0], _CHUNK):
        rows = Y[start : start + _CHUNK]
        n = rows.shape[0]
        data = exact._Data(rows, np.tile(post.se, (n, 1)), np.ones(rows.shape, bool), post.mu_prior)
        grid = exact._build_grid(data, post.tau_prior, exact._FINE)
        if parameter == "tau":
            mean = (grid.weight * grid.tau).sum(axis=1)
            sd = np.sqrt((grid.weight * (grid.tau - mean[:, None]) ** 2).sum(axis=1))
            if name == "cdf":
                stat = grid.tau_cdf(np.full((n, 1), value))[:, 0]
            elif name == "median":
                stat = grid.tau_quantile(np.full((n, 1), 0.5))[:, 0]
            else:
                stat = mean if name == "mean" else (mean - value) / sd
        else:
            m, s, w = grid.mhat, np.sqrt(grid.vmu), grid.weight
            mean, sd = exact._mixture_moments(m, s, w)
            if name == "cdf":
                stat = exact._mixture_cdf(np.full((n, 1), value), m, s, w)[0][:, 0]
            elif name == "median":
                stat = exact._mixture_quantile(np.full((n, 1), 0.5), m, s, w)[:, 0]
            else:
                stat = mean if name == "mean" else (mean - value) / sd
        out.append(stat)
    return np.concatenate(out)


def _tail(stat: NDArray[np.float64], actual: float, region: str) -> NDArray[np.object_]:
    """bayesmeta's tail assignment: "lower", "upper" or "no" per replicate."""
    n = stat.size
    lower = stat <= actual
    upper = stat >= actual
    tail = np.full(n, "no", dtype=object)
    if region == "lower.tail":
        tail[lower] = "lower"
    elif region == "upper.tail":
        tail[upper] = "upper"
    elif upper.sum() < lower.sum():
        tail[upper] = "upper"
        tail[stats.rankdata(stat, method="min") <= upper.sum()] = "lower"
    else:
        tail[lower] = "lower"
        tail[stats.rankdata(stat, method="max") > n - lower.sum()] = "upper"
    return tail


def pppvalue(
    post: exact.ExactPosterior,
    parameter: Literal["mu", "tau"] = "mu",
    value: float = 0.0,
    alternative: Literal["two.sided", "less", "greater"] = "two.sided",
    statistic: str | Callable[[NDArray[np.float64], NDArray[np.float64]], float] = "median",
    rejection_region: Literal["upper.tail", "lower.tail", "two.tailed"] | None = None,
    n: int = 1000,
    seed: int = 0,
) -> PPPValue:
    """Posterior predictive p-value of a hypothesis about mu or tau (bayesmeta's ``pppvalue``).

    Parameters
    ----------
    post : ExactPosterior
        The exact posterior of the actual data.
    parameter : {"mu", "tau"}
        The parameter of the null hypothesis (study effects are not supported).
    value : float
        The null value (>= 0 for tau).
    alternative : {"two.sided", "less", "greater"}
        The alternative; a one-sided null is the complementary half-line.
    statistic : {"Q", "t", "cdf", "mean", "median"} or callable
        The discrepancy (see the module notes); a callable takes ``(y, se)``.
    rejection_region : {"upper.tail", "lower.tail", "two.tailed"}, optional
        Default as bayesmeta: ``"Q"`` upper tail; ``"cdf"`` two-tailed, upper (less) or lower
        (greater); otherwise two-tailed, lower (less) or upper (greater).
    n : int
        Monte Carlo replicates.
    seed : int
        Seed of ``numpy.random.default_rng``: the same seed gives the same p-value.

    Returns
    -------
    PPPValue

    Raises
    ------
    DataError
        Unknown parameter, alternative, statistic or region; a negative tau value; n < 1.
    """
    if parameter not in ("mu", "tau"):
        raise DataError(f"pppvalue: parameter must be 'mu' or 'tau', got {parameter!r}")
    if alternative not in ("two.sided", "less", "greater"):
        raise DataError(f"pppvalue: unknown alternative {alternative!r}")
    if not (isinstance(value, int | float) and math.isfinite(value)) or (
        parameter == "tau" and value < 0
    ):
        raise DataError(f"pppvalue: value must be a finite number (>= 0 for tau), got {value!r}")
    if int(n) != n or n < 1:
        raise DataError(f"pppvalue: n must be a positive integer, got {n!r}")
    if callable(statistic):
        name = getattr(statistic, "__name__", "statistic")
    elif statistic in _STATISTICS:
        name = statistic
    else:
        raise DataError(
            f"pppvalue: unknown statistic {statistic!r}; use one of {_STATISTICS} or a function"
        )
    if rejection_region is None:
        if name == "Q":
            rejection_region = "upper.tail"
        elif name == "cdf":
            rejection_region = {
                "two.sided": "two.tailed",
                "less": "upper.tail",
                "greater": "lower.tail",
            }[alternative]
        else:
            rejection_region = {
                "two.sided": "two.tailed",
                "less": "lower.tail",
                "greater": "upper.tail",
            }[alternative]
    elif rejection_region not in ("upper.tail", "lower.tail", "two.tailed"):
        raise DataError(f"pppvalue: unknown rejection region {rejection_region!r}")
    n = int(n)
    rng = np.random.default_rng(seed)
    u = rng.uniform(size=(2, n))
    dist = post[parameter]
    if alternative == "two.sided":
        first = np.full(n, float(value))
    else:
        p0 = float(dist.cdf(value))
        lo, hi = (p0, 1.0) if alternative == "less" else (0.0, p0)
        first = np.asarray(dist.quantile(lo + (hi - lo) * u[0]), dtype=float)
    if parameter == "mu":
        mu = first
        if alternative == "two.sided":  # one conditional for every replicate
            grid = exact._build_grid(
                exact._FixedMu(post.y, post.se, mu[:1]), post.tau_prior, exact._FINE
            )
            tau = grid.tau_quantile(u[1][None, :])[0]
        else:
            parts = []
            for start in range(0, n, _CHUNK):
                sl = slice(start, start + _CHUNK)
                data = exact._FixedMu(post.y, post.se, mu[sl])
                grid = exact._build_grid(data, post.tau_prior, exact._FINE)
                parts.append(grid.tau_quantile(u[1][sl][:, None])[:, 0])
            tau = np.concatenate(parts)
    else:
        tau = first
        data = exact._Data(
            post.y[None, :], post.se[None, :], np.ones((1, post.k), bool), post.mu_prior
        )
        _, mhat, vmu = data.conditional(tau[None, :])
        mu = mhat[0] + np.sqrt(vmu[0]) * special.ndtri(np.clip(u[1], 1e-300, 1 - 1e-16))
    theta = mu[:, None] + tau[:, None] * rng.standard_normal((n, post.k))
    y_rep = theta + post.se * rng.standard_normal((n, post.k))

    def evaluate(y: NDArray[np.float64]) -> NDArray[np.float64]:
        if callable(statistic):
            return np.array([float(statistic(row, post.se)) for row in y])
        if name == "Q":
            return _cochran_q(y, post.se)
        return _refit_statistic(post, y, parameter, float(value), name)

    actual = float(evaluate(post.y[None, :])[0])
    stat = evaluate(y_rep)
    tail = _tail(stat, actual, rejection_region)
    replicates = pd.DataFrame({"tau": tau, "mu": mu, "statistic": stat, "tail": tail})
    for i, lab in enumerate(post.labels):
        replicates[f"y[{lab}]"] = y_rep[:, i]
    p = float((tail != "no").sum() / n)
    return PPPValue(
        p, actual, parameter, float(value), alternative, name, rejection_region, replicates
    )
