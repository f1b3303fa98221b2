r"""Exact Bayesian leave-one-out: the posterior of mu and tau without each study.

For each study i the normal-normal model of :mod:`sparsemeta.bayes.exact` is refitted to
the other k - 1 studies, all k + 1 posteriors (the full one first) on one vectorised
quadrature. How far study i moves the posterior is reported two ways, for mu and for tau:

* the shift of the posterior median in units of the full posterior's sd,
  :math:`(\mathrm{med}(\cdot \mid y) - \mathrm{med}(\cdot \mid y_{-i})) / \mathrm{sd}(\cdot \mid y)`
  (positive when the study pulls the estimate up);
* the Kullback-Leibler divergence (nats) of the leave-one-out posterior from the full one,

  .. math::

      \mathrm{KL}_i = \int p(x \mid y)\, \log\frac{p(x \mid y)}{p(x \mid y_{-i})}\, dx,

  computed for tau on the full posterior's quadrature nodes (its weights are the
  posterior masses) and for mu by 64-point Gauss-Legendre quadrature over the full
  posterior's mean +- 10 sd.

References
----------
Röver C (2020). Bayesian random-effects meta-analysis using the bayesmeta R package.
*J Stat Softw* 93(6):1-51 (the exact posterior).

Kullback S, Leibler RA (1951). On information and sufficiency. *Ann Math Stat*
22(1):79-86.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from sparsemeta.bayes import exact
from sparsemeta.effects import Effects
from sparsemeta.errors import DataError
from sparsemeta.results import json_safe

if TYPE_CHECKING:
    from sparsemeta.bayes.priors import MuPrior, MuPriorLike, TauPrior, TauPriorLike

__all__ = ["LeaveOneOut", "leave_one_out"]

_KL_POINTS = 64


@dataclass(frozen=True, eq=False)
class LeaveOneOut:
    """Posteriors of mu and tau with each study left out, and each study's influence.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per left-out study (``study``), first a row ``study = None`` for the full
        data: ``mu_mean, mu_sd, mu_median, mu_lower, mu_upper, tau_mean, tau_sd,
        tau_median, tau_lower, tau_upper`` and, on the study rows, ``mu_shift, tau_shift``
        (median shift in full-posterior sd units) and ``mu_kl, tau_kl`` (nats).
    level : float
        Probability of the equal-tailed intervals.
    tau_prior, mu_prior
        The priors (``mu_prior`` ``None`` for flat).
    y, se, studies
        The studies (estimates, standard errors, labels).
    """

    table: pd.DataFrame
    level: float
    tau_prior: TauPrior | None
    mu_prior: MuPrior | None
    y: NDArray[np.float64]
    se: NDArray[np.float64]
    studies: tuple[str, ...]

    @property
    def all_studies(self) -> pd.Series:
        """The full-data row of :attr:`table`."""
        return self.table.iloc[0]

    @functools.cached_property
    def full(self) -> exact.ExactPosterior:
        """The exact posterior of all studies (for the pooled rows of a forest plot)."""
        return exact.posterior(self.y, self.se, self.tau_prior, self.mu_prior, self.studies)

    def to_frame(self) -> pd.DataFrame:
        """One row per left-out study: ``study, mean, median, lower, upper`` of mu without it
        (for a forest plot), then ``sd``, the tau columns and the influence measures."""
        rows = self.table.iloc[1:].reset_index(drop=True)
        out = rows.rename(
            columns={
                "mu_mean": "mean",
                "mu_sd": "sd",
                "mu_median": "median",
                "mu_lower": "lower",
                "mu_upper": "upper",
            }
        )
        out.insert(6, "level", self.level)
        return out

    def summary(self) -> pd.DataFrame:
        """Protocol table: rows ``param`` mu and tau per left-out ``study`` (``None`` = all
        studies), columns ``mean, sd, median, lower, upper, level, shift, kl``."""
        rows = []
        for _, r in self.table.iterrows():
            for p in ("mu", "tau"):
                rows.append(
                    {
                        "param": p,
                        "study": r["study"],
                        "mean": r[f"{p}_mean"],
                        "sd": r[f"{p}_sd"],
                        "median": r[f"{p}_median"],
                        "lower": r[f"{p}_lower"],
                        "upper": r[f"{p}_upper"],
                        "level": self.level,
                        "shift": r[f"{p}_shift"],
                        "kl": r[f"{p}_kl"],
                    }
                )
        return pd.DataFrame(rows)

    def records(self) -> list[dict[str, Any]]:
        """``[{"study", "mu": {"median", "lower", "upper", ...}, "tau": {"median", ...}}]``,
        the ``leave_one_out`` field of ``sparsemeta fit --json``."""
        out = []
        for _, r in self.table.iloc[1:].iterrows():
            out.append(
                {
                    "study": r["study"],
                    "mu": {
                        key: float(r[f"mu_{key}"])
                        for key in ("median", "lower", "upper", "mean", "sd", "shift", "kl")
                    },
                    "tau": {
                        key: float(r[f"tau_{key}"])
                        for key in ("median", "lower", "upper", "mean", "sd", "shift", "kl")
                    },
                }
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record: priors, level, the full-data row and :meth:`records`."""
        full = self.all_studies
        return json_safe(
            {
                "tau_prior": str(self.tau_prior),
                "mu_prior": _describe_mu(self.mu_prior),
                "level": self.level,
                "full": {k: float(v) for k, v in full.items() if k != "study"},
                "leave_one_out": self.records(),
            }
        )

    def __str__(self) -> str:
        cols = ["study", "mu_median", "mu_lower", "mu_upper", "mu_shift", "mu_kl"]
        cols += ["tau_median", "tau_shift", "tau_kl"]
        table = self.table[cols].copy()
        table["study"] = table["study"].fillna("(all studies)")
        return (
            f"exact leave-one-out, tau prior {self.tau_prior}, mu prior "
            f"{_describe_mu(self.mu_prior)}; intervals {self.level:g}\n"
            + table.to_string(index=False, float_format="%.4g")
        )

    def plot(self, ax: Any = None) -> Any:
        """Forest-style plot of the median and interval of mu without each study, with the
        full-data interval as a band; returns the matplotlib Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.4 * len(self.table) + 1.2))
        rows = self.table.iloc[1:]
        pos = np.arange(len(rows))[::-1]
        full = self.all_studies
        ax.axvspan(full["mu_lower"], full["mu_upper"], color="0.9", zorder=0)
        ax.axvline(full["mu_median"], color="0.5", lw=1)
        ax.errorbar(
            rows["mu_median"],
            pos,
            xerr=[rows["mu_median"] - rows["mu_lower"], rows["mu_upper"] - rows["mu_median"]],
            fmt="s",
            color="k",
            capsize=2,
        )
        ax.set_yticks(pos, [f"without {s}" for s in rows["study"]])
        ax.set_xlabel(f"mu (median, {100 * self.level:g}% interval)")
        ax.figure.tight_layout()
        return ax


def _describe_mu(mu_prior: MuPriorLike) -> str:
    return "flat" if mu_prior is None else f"normal({mu_prior.mean:g}, {mu_prior.sd:g})"


def leave_one_out(
    y: ArrayLike | Effects | pd.DataFrame,
    se: ArrayLike | None = None,
    tau_prior: TauPriorLike = None,
    mu_prior: MuPriorLike = None,
    labels: Sequence[str] | None = None,
    level: float = 0.95,
    *,
    measure: str | None = None,
) -> LeaveOneOut:
    """Exact posteriors of mu and tau with each study left out in turn (k >= 2).

    Parameters
    ----------
    y, se, tau_prior, mu_prior, labels, measure
        As in :func:`sparsemeta.bayes.exact.posterior` (an ``Effects`` value, a study table
        or arrays; ``None`` priors are the measure's defaults).
    level : float
        Probability of the equal-tailed intervals.

    Returns
    -------
    LeaveOneOut

    Raises
    ------
    DataError
        Bad study data, fewer than 2 studies.
    PriorError
        Bad priors, or a leave-one-out posterior that is improper (e.g. an improper tau
        prior with too few remaining studies).
    """
    if not isinstance(y, Effects | pd.DataFrame) and np.size(y) < 2:
        raise DataError(f"leave-one-out needs at least 2 studies, got {np.size(y)}")
    eff, prior, mu = exact._inputs(y, se, labels, measure, tau_prior, mu_prior, "leave_one_out")
    if eff.k < 2:
        raise DataError(f"leave-one-out needs at least 2 studies, got {eff.k}")
    y_arr, se_arr, labs = eff.y, eff.se, list(eff.studies)
    k = y_arr.size
    level = exact._check_level(level, "leave_one_out")
    valid = np.vstack([np.ones((1, k), bool), ~np.eye(k, dtype=bool)])
    data = exact._Data(np.tile(y_arr, (k + 1, 1)), np.tile(se_arr, (k + 1, 1)), valid, mu)
    grid = exact._build_grid(data, prior, exact._FINE)
    n = k + 1
    probs = np.array([0.5, (1 - level) / 2, (1 + level) / 2])
    w, mhat, vmu = exact._prune(grid.weight, grid.mhat, grid.vmu)
    sd_mu = np.sqrt(vmu)
    mu_q = exact._mixture_quantile(np.tile(probs, (n, 1)), mhat, sd_mu, w)
    mu_mean, mu_sd = exact._mixture_moments(mhat, sd_mu, w)
    tau_q = grid.tau_quantile(np.tile(probs, (n, 1)))
    tau_mean = (grid.weight * grid.tau).sum(axis=1)
    tau_sd = np.sqrt((grid.weight * (grid.tau - tau_mean[:, None]) ** 2).sum(axis=1))
    has_mean, has_var = grid.moments_exist
    tau_mean, tau_sd = np.where(has_mean, tau_mean, np.inf), np.where(has_var, tau_sd, np.inf)
    # KL for mu: Gauss-Legendre over the full posterior's mean +- 10 sd
    lo, hi = mu_mean[0] - 10.0 * mu_sd[0], mu_mean[0] + 10.0 * mu_sd[0]
    nodes, weights = exact._gauss_legendre(_KL_POINTS)
    z = (lo + (hi - lo) * nodes[None, :, None] - mhat[:, None, :]) / sd_mu[:, None, :]
    dens = np.matmul(np.exp(-0.5 * z * z), (w / sd_mu)[..., None])[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        integrand = np.where(dens[:1] > 0, dens[:1] * np.log(dens[:1] / dens), 0.0)
    mu_kl = (hi - lo) * (integrand * weights).sum(axis=1) / math.sqrt(2.0 * math.pi)

    if mu is None:
        mu_mean = np.where(has_mean, mu_mean, np.nan)
        mu_sd = np.where(has_var, mu_sd, np.inf)

    # KL for tau: expectation under the full posterior on its own nodes
    full_nodes = np.broadcast_to(grid.tau[:1], grid.tau.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_post = grid.log_post(np.ascontiguousarray(full_nodes))
        diff = np.where(grid.weight[:1] > 0, log_post[:1] - log_post, 0.0)
    tau_kl = (grid.weight[:1] * diff).sum(axis=1)

    def shift(median: NDArray[np.float64], sd: NDArray[np.float64]) -> NDArray[np.float64]:
        scale = sd[0] if math.isfinite(sd[0]) else math.nan
        out = (median[0] - median) / scale
        out[0] = np.nan  # the full-data row
        return out

    mu_kl[0] = tau_kl[0] = np.nan

    table = pd.DataFrame(
        {
            "study": pd.Series([None, *labs], dtype=object),
            "mu_mean": mu_mean,
            "mu_sd": mu_sd,
            "mu_median": mu_q[:, 0],
            "mu_lower": mu_q[:, 1],
            "mu_upper": mu_q[:, 2],
            "tau_mean": tau_mean,
            "tau_sd": tau_sd,
            "tau_median": tau_q[:, 0],
            "tau_lower": tau_q[:, 1],
            "tau_upper": tau_q[:, 2],
            "mu_shift": shift(mu_q[:, 0], mu_sd),
            "tau_shift": shift(tau_q[:, 0], tau_sd),
            "mu_kl": mu_kl,
            "tau_kl": tau_kl,
        }
    )
    return LeaveOneOut(table, level, prior, mu, y_arr, se_arr, tuple(labs))
