r"""bayesmeta's extras on the exact posterior: modes, joint MAP, the I² posterior,
posterior study weights and moments conditional on tau.

All take an :class:`~sparsemeta.bayes.exact.ExactPosterior` (notation of
:mod:`sparsemeta.bayes.exact`: :math:`w_i(\tau) = 1/(\sigma_i^2 + \tau^2)`,
:math:`V(\tau) = (\sum_i w_i + s_0^{-2})^{-1}`, :math:`\hat\mu(\tau)`, node weights
:math:`\omega_j` of the tau quadrature).

* :func:`posterior_mode`: the mode of one margin (mu, tau, theta_new or a study's theta);
* :func:`joint_map`: the mode of :math:`p(\tau, \mu \mid y)`. Given tau the joint density is
  largest at :math:`\mu = \hat\mu(\tau)`, where it equals
  :math:`p(\tau \mid y) / \sqrt{2\pi V(\tau)}`, so the MAP maximises
  :math:`\log p(\tau \mid y) - \tfrac12 \log V(\tau)` over tau (bayesmeta's ``MAP["joint", ]``);
* random draws (bayesmeta's ``rposterior``) are
  :meth:`~sparsemeta.bayes.exact.ExactPosterior.draws`;
* :func:`i2_posterior`: :math:`I^2 = \tau^2 / (\tau^2 + \tilde s^2)` with the typical
  within-study variance :math:`\tilde s^2 = (k - 1)\sum w_i / ((\sum w_i)^2 - \sum w_i^2)`,
  :math:`w_i = \sigma_i^{-2}` (Higgins & Thompson 2002), a monotone transform of tau whose
  quantiles are those of tau transformed;
* :func:`study_weights`: the posterior mean of mu is linear in the estimates,
  :math:`E[\mu \mid y] = \sum_i \big(\sum_j \omega_j w_i(\tau_j) V(\tau_j)\big) y_i`
  (+ the prior mean's weight :math:`\sum_j \omega_j V(\tau_j)/s_0^2`); these are bayesmeta's
  posterior mean weights (Röver 2020, Sec. 3.4). :func:`shrinkage_weights` gives the same for
  every shrunken :math:`E[\theta_i \mid y]`, with :math:`b_i = \sigma_i^2 w_i(\tau)`:
  weight :math:`\sum_j \omega_j (b_{ij} w_l(\tau_j) V(\tau_j) + (1 - b_{ij})\delta_{il})`
  on :math:`y_l`;
* :func:`conditional_moments`: mean and sd of mu, theta_new and each theta_i given tau
  (bayesmeta's ``cond.moment``).

References
----------
Röver C (2020). Bayesian random-effects meta-analysis using the bayesmeta R package.
*J Stat Softw* 93(6):1-51.

Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis. *Stat Med*
21(11):1539-1558.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from sparsemeta.bayes import exact
from sparsemeta.errors import DataError
from sparsemeta.results import json_safe

__all__ = [
    "I2Posterior",
    "conditional_moments",
    "i2_posterior",
    "joint_map",
    "posterior_mode",
    "shrinkage_weights",
    "study_weights",
]


def posterior_mode(post: exact.ExactPosterior, param: str = "mu") -> float:
    """Mode of the marginal posterior of ``param`` (bayesmeta's ``MAP["marginal", ]``).

    Found on 801 points between the 0.001 and 0.999 quantiles (from 0 for tau), then
    refined by bounded Brent search around the best point.
    """
    dist = post[param]
    lo, hi = (float(q) for q in dist.quantile(np.array([0.001, 0.999])))
    if param == "tau":
        lo = 0.0
    x = np.linspace(lo, hi, 801)
    dens = np.asarray(dist.pdf(x), dtype=float)
    i = int(np.argmax(dens))
    if param == "tau" and i == 0:
        return 0.0
    a, b = x[max(i - 1, 0)], x[min(i + 1, x.size - 1)]
    res = optimize.minimize_scalar(
        lambda t: -float(dist.pdf(t)), bounds=(a, b), method="bounded", options={"xatol": 1e-10}
    )
    return float(res.x)


def joint_map(post: exact.ExactPosterior) -> dict[str, float]:
    """Joint posterior mode ``{"tau", "mu"}`` of :math:`p(\\tau, \\mu \\mid y)`."""

    def neg(tau: float) -> float:
        t = np.array([max(tau, 0.0)])
        log_post = float(post._grid.log_post(t[None, :])[0, 0])
        return -(log_post - 0.5 * math.log(float(post.conditional(t)[2][0])))

    hi = float(post.tau.quantile(0.999))
    grid = np.linspace(0.0, hi, 801)
    values = np.array([neg(t) for t in grid])
    i = int(np.argmin(values))
    tau = 0.0
    if i > 0:
        res = optimize.minimize_scalar(
            neg,
            bounds=(grid[i - 1], grid[min(i + 1, grid.size - 1)]),
            method="bounded",
            options={"xatol": 1e-10},
        )
        tau = float(res.x)
    return {"tau": tau, "mu": float(post.conditional(np.array([tau]))[1][0])}


@dataclass(frozen=True)
class I2Posterior:
    """Posterior of :math:`I^2 = \\tau^2/(\\tau^2 + \\tilde s^2)` (a transform of tau)."""

    post: exact.ExactPosterior
    s2: float  #: typical within-study variance

    def from_tau(self, tau: ArrayLike) -> NDArray[np.float64]:
        t2 = np.asarray(tau, dtype=float) ** 2
        return t2 / (t2 + self.s2)

    def to_tau(self, i2: ArrayLike) -> NDArray[np.float64]:
        x = np.asarray(i2, dtype=float)
        with np.errstate(divide="ignore"):
            return np.sqrt(self.s2 * x / (1.0 - x))

    def cdf(self, x: ArrayLike) -> NDArray[np.float64] | float:
        """P(I² <= x)."""
        return self.post.tau.cdf(self.to_tau(np.clip(x, 0.0, 1.0)))

    def quantile(self, p: ArrayLike) -> NDArray[np.float64]:
        """Quantiles: those of tau, transformed."""
        return self.from_tau(self.post.tau.quantile(p))

    @property
    def median(self) -> float:
        return float(self.quantile(0.5))

    @property
    def mean(self) -> float:
        """E[I²] by the tau quadrature."""
        g = self.post._grid
        return float((g.weight[0] * self.from_tau(g.tau[0])).sum())

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """Equal-tailed interval."""
        lo, hi = self.quantile(np.array([(1 - level) / 2, (1 + level) / 2]))
        return float(lo), float(hi)

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """One protocol row, ``param`` ``"I2"``."""
        lo, hi = self.interval(level)
        g = self.post._grid
        sd = math.sqrt(max((g.weight[0] * (self.from_tau(g.tau[0]) - self.mean) ** 2).sum(), 0.0))
        return pd.DataFrame(
            [
                {
                    "param": "I2",
                    "study": None,
                    "mean": self.mean,
                    "sd": sd,
                    "median": self.median,
                    "lower": lo,
                    "upper": hi,
                    "level": level,
                }
            ]
        )

    def to_dict(self, level: float = 0.95) -> dict[str, Any]:
        """JSON-safe record: the typical within-study variance and the summary row."""
        return json_safe({"s2": self.s2, "level": level, "summary": self.summary(level)})

    def __str__(self) -> str:
        row = self.summary().iloc[0]
        return (
            f"I² posterior (typical within-study variance {self.s2:.4g})\n"
            f"median {row['median']:.3f}, mean {row['mean']:.3f}, "
            f"95% interval [{row['lower']:.3f}, {row['upper']:.3f}]"
        )


def i2_posterior(post: exact.ExactPosterior) -> I2Posterior:
    """Posterior of I² (Higgins & Thompson's typical within-study variance)."""
    w = 1.0 / post.se**2
    s2 = (
        (post.k - 1) * w.sum() / (w.sum() ** 2 - (w**2).sum())
        if post.k > 1
        else float(post.se[0] ** 2)
    )
    return I2Posterior(post, float(s2))


def _node_arrays(post: exact.ExactPosterior) -> tuple[NDArray[np.float64], ...]:
    g = post._grid
    tau, omega = g.tau[0], g.weight[0]
    w = 1.0 / (post.se[None, :] ** 2 + tau[:, None] ** 2)  # (N, k)
    return omega, w, g.vmu[0]


def study_weights(post: exact.ExactPosterior) -> pd.Series:
    """Weights of the estimates (and of the prior mean) in the posterior mean of mu; they
    sum to 1."""
    omega, w, vmu = _node_arrays(post)
    weights = (omega[:, None] * w * vmu[:, None]).sum(axis=0)
    out = pd.Series(weights, index=list(post.labels), name="weight")
    if post.mu_prior is not None:
        out["prior mean"] = float((omega * vmu).sum() / post.mu_prior.sd**2)
    return out


def shrinkage_weights(post: exact.ExactPosterior) -> pd.DataFrame:
    """Weights of the estimates (columns; plus ``prior mean``) in each shrunken posterior
    mean :math:`E[\\theta_i \\mid y]` (rows); each row sums to 1."""
    omega, w, vmu = _node_arrays(post)
    b = post.se[None, :] ** 2 * w  # (N, k): b_ij
    mu_w = w * vmu[:, None]  # (N, l): weight of y_l in mhat at node j
    mat = np.einsum("j,ji,jl->il", omega, b, mu_w) + np.diag((omega[:, None] * (1 - b)).sum(axis=0))
    out = pd.DataFrame(mat, index=list(post.labels), columns=list(post.labels))
    if post.mu_prior is not None:
        out["prior mean"] = np.einsum("j,ji,j->i", omega, b, vmu) / post.mu_prior.sd**2
    return out


def conditional_moments(post: exact.ExactPosterior, tau: ArrayLike | float) -> pd.DataFrame:
    """Mean and sd of mu, theta_new and each theta_i given tau: one row per tau value and
    parameter (columns ``tau, param, study, mean, sd``)."""
    t = np.atleast_1d(np.asarray(tau, dtype=float))
    if np.any(~np.isfinite(t) | (t < 0)):
        raise DataError(f"conditional_moments: tau must be finite and >= 0, got {tau!r}")
    _, mhat, vmu = post.conditional(t)
    rows = []
    se2 = post.se**2
    for ti, m, v in zip(t, mhat, vmu, strict=True):
        rows.append({"tau": ti, "param": "mu", "study": None, "mean": m, "sd": math.sqrt(v)})
        rows.append(
            {"tau": ti, "param": "theta_new", "study": None, "mean": m, "sd": math.sqrt(v + ti**2)}
        )
        b = se2 / (se2 + ti**2)
        means = b * m + (1 - b) * post.y
        sds = np.sqrt((1 - b) * se2 + b**2 * v)
        for lab, mi, si in zip(post.labels, means, sds, strict=True):
            rows.append({"tau": ti, "param": "theta", "study": lab, "mean": mi, "sd": si})
    return pd.DataFrame(rows)
