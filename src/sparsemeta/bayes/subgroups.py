r"""Subgroup analysis with a separate heterogeneity per subgroup, exactly.

Each subgroup g has its own normal-normal model (own :math:`\mu_g` and :math:`\tau_g`, the
same priors), so the subgroup posteriors are independent exact posteriors
(:func:`sparsemeta.bayes.exact.posterior`). The difference of two subgroup means,
:math:`\mu_a - \mu_b`, is then the convolution of two normal mixtures: a normal mixture with
components :math:`N(m_{ai} - m_{bj}, s_{ai}^2 + s_{bj}^2)` and weights
:math:`\omega_{ai}\omega_{bj}` over pairs of tau nodes (computed on the coarser quadrature of
:func:`sparsemeta.bayes.exact.posterior_batch`, about 100 nodes per subgroup).

For subgroups sharing one tau, use the indicator design of
:func:`sparsemeta.bayes.regression.subgroup_design` in
:func:`sparsemeta.bayes.regression.regression` instead (Röver & Friede 2023, Sec. 3.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from sparsemeta.bayes import exact
from sparsemeta.errors import DataError
from sparsemeta.results import json_safe, summary_frame

if TYPE_CHECKING:
    from sparsemeta.bayes.priors import MuPriorLike, TauPriorLike

__all__ = ["SubgroupPosterior", "subgroups"]


@dataclass(frozen=True)
class SubgroupPosterior:
    """Independent exact posteriors per subgroup (separate mu and tau).

    Attributes
    ----------
    posteriors : dict[str, ExactPosterior]
        By subgroup, in order of first appearance.
    """

    posteriors: dict[str, exact.ExactPosterior]

    def difference(self, a: str, b: str) -> exact.NormalMixture:
        """Posterior of :math:`\\mu_a - \\mu_b` (independent subgroups)."""
        for g in (a, b):
            if g not in self.posteriors:
                raise DataError(f"unknown subgroup {g!r}; use one of {list(self.posteriors)}")
        parts = []
        for g in (a, b):
            p = self.posteriors[g]
            data = exact._Data(p.y[None, :], p.se[None, :], np.ones((1, p.k), bool), p.mu_prior)
            grid = exact._build_grid(data, p.tau_prior, exact._FAST)
            parts.append((grid.mhat[0], grid.vmu[0], grid.weight[0]))
        (ma, va, wa), (mb, vb, wb) = parts
        means = (ma[:, None] - mb[None, :]).ravel()
        sds = np.sqrt(va[:, None] + vb[None, :]).ravel()
        weights = (wa[:, None] * wb[None, :]).ravel()
        keep = weights > 1e-14 * weights.max()
        return exact.NormalMixture(
            f"mu[{a}] - mu[{b}]", means[keep], sds[keep], weights[keep] / weights[keep].sum()
        )

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """Rows ``mu``, ``tau``, ``theta_new`` per subgroup (column ``subgroup``): ``mean, sd,
        median, lower, upper, level`` (equal-tailed)."""
        rows = []
        for g, p in self.posteriors.items():
            for param in ("mu", "tau", "theta_new"):
                dist = p[param]
                lo, med, hi = dist.quantile(np.array([(1 - level) / 2, 0.5, (1 + level) / 2]))
                rows.append(
                    {
                        "param": param,
                        "study": None,
                        "subgroup": g,
                        "k": p.k,
                        "mean": dist.mean,
                        "sd": dist.sd,
                        "median": float(med),
                        "lower": float(lo),
                        "upper": float(hi),
                        "level": level,
                    }
                )
        return summary_frame(rows, level)

    def to_dict(self, level: float = 0.95) -> dict[str, Any]:
        """JSON-safe record: the summary rows."""
        return json_safe({"level": level, "summary": self.summary(level)})

    def __str__(self) -> str:
        table = self.summary().drop(columns=["study", "level"])
        return "subgroups with separate tau (exact posteriors)\n" + table.to_string(
            index=False, float_format="%.4g"
        )


def subgroups(
    y: ArrayLike,
    se: ArrayLike,
    groups: Sequence[Any],
    tau_prior: TauPriorLike = None,
    mu_prior: MuPriorLike = None,
    labels: Sequence[str] | None = None,
) -> SubgroupPosterior:
    """Exact posteriors of each subgroup with its own mu and tau.

    Parameters
    ----------
    y, se, tau_prior, mu_prior, labels
        As in :func:`sparsemeta.bayes.exact.posterior` (the priors apply in every subgroup).
    groups : sequence
        Subgroup of each study (same length as y).

    Returns
    -------
    SubgroupPosterior

    Raises
    ------
    DataError
        Bad data, a missing subgroup, or groups of the wrong length.
    """
    eff, tau_p, mu_p = exact._inputs(y, se, labels, None, tau_prior, mu_prior, "subgroups")
    y_arr, se_arr, labs = eff.y, eff.se, list(eff.studies)
    values = [str(g) for g in groups]
    if len(values) != y_arr.size:
        raise DataError(f"{len(values)} subgroup values for {y_arr.size} studies")
    for lab, g in zip(labs, values, strict=True):
        if g in ("", "nan", "None"):
            raise DataError(f"study {lab!r}: subgroup is missing")
    posteriors = {}
    for g in dict.fromkeys(values):
        idx = [i for i, v in enumerate(values) if v == g]
        posteriors[g] = exact.posterior(
            y_arr[idx], se_arr[idx], tau_p, mu_p, [labs[i] for i in idx]
        )
    return SubgroupPosterior(posteriors)
