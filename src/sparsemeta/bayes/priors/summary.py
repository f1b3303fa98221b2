"""What a tau prior says about heterogeneity, in plain numbers."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, stats

from sparsemeta import measures
from sparsemeta.bayes.priors.tau import TauPrior
from sparsemeta.errors import PriorError

#: effect scales understood by :func:`describe` (the measure table's); log-ratio scales also
#: get exp(.) factors
SCALES: tuple[str, ...] = measures.describe_scales()
RATIO_SCALES: tuple[str, ...] = tuple(
    dict.fromkeys(r.scale for r in measures.rows() if r.log_scale)
)


@dataclass(frozen=True)
class PriorSummary:
    """What a tau prior implies (all on the analysis scale ``scale``).

    ``theta_q975`` is the 97.5% quantile of theta_i - mu under the prior predictive
    ``theta_i - mu | tau ~ N(0, tau^2)``; ``ratio_factor = exp(theta_q975)`` on ratio
    scales (the factor by which a study's true ratio may exceed the overall one).
    """

    prior: str
    scale: str
    median: float
    q95: float
    p_tau_gt_0_5: float
    p_tau_gt_1: float
    theta_q975: float
    ratio_factor: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        lines = [
            f"prior {self.prior} (tau on the {self.scale} scale)",
            f"  median tau            {self.median:.3f}",
            f"  95% quantile of tau   {self.q95:.3f}",
            f"  P(tau > 0.5)          {self.p_tau_gt_0_5:.3f}",
            f"  P(tau > 1)            {self.p_tau_gt_1:.3f}",
            f"  97.5% quantile of theta_i - mu  {self.theta_q975:.3f}",
        ]
        if self.ratio_factor is not None:
            lines.append(
                f"  i.e. a study's true ratio within a factor {self.ratio_factor:.3g} "
                "of the overall ratio with 95% prior probability"
            )
        return "\n".join(lines)


def _theta_cdf(prior: TauPrior, se: ArrayLike | None) -> Callable[[float], float]:
    """x -> P(theta_i - mu <= x) = E_tau[Phi(x / tau)] = int_0^1 Phi(x / F^-1(u)) du.

    The integral over u is done by tanh-sinh (double-exponential) quadrature, which is
    insensitive to the endpoint behaviour of heavy-tailed priors (F^-1(u) -> inf as u -> 1);
    the quantiles are computed once and reused for every x.
    """
    h = 1.0 / 32.0
    t = np.arange(-4.5, 4.5 + h / 2, h)
    s = 0.5 * np.pi * np.sinh(t)
    u = 0.5 * (1.0 + np.tanh(s))
    w = h * 0.25 * np.pi * np.cosh(t) / np.cosh(s) ** 2
    tau = np.asarray(prior.ppf(u, se=se), dtype=float)
    pos = tau > 0

    def cdf(x: float) -> float:
        z = np.full(tau.shape, np.inf if x > 0 else (0.0 if x == 0 else -np.inf))
        z[pos] = x / tau[pos]
        return float(np.sum(w * stats.norm.cdf(z)))

    return cdf


def describe(
    prior: TauPrior | str, scale: str = "logOR", se: ArrayLike | None = None
) -> PriorSummary:
    """Summarise a proper tau prior: median, 95% quantile, P(tau > 0.5), P(tau > 1) and the
    implied 97.5% quantile of theta_i - mu (Röver 2020, bayesmeta JSS paper, Sec. 3.4).

    Under the prior predictive ``theta_i - mu | tau ~ N(0, tau^2)``, so
    ``P(theta_i - mu <= x) = E_tau[Phi(x / tau)]``; the 97.5% quantile solves this for 0.975.
    Röver (2020) quotes 1.09 under HN(0.5), 2.18 under HN(1.0), 5.05 under HC(0.5).

    Parameters
    ----------
    prior : TauPrior or str
        A proper prior, or its string (parsed with :func:`sparsemeta.bayes.priors.parse`, e.g.
        ``"halfnormal(0.5)"``).
    scale : str
        Effect scale, one of ``SCALES``; ratio scales add the factor ``exp(q)``.
    se : array_like, optional
        Study standard errors, required for SE-dependent priors.

    Returns
    -------
    PriorSummary
        Frozen result with ``__str__`` and ``to_dict()``.

    Raises
    ------
    PriorError
        A string that does not parse, something that is neither a tau prior nor a string,
        an unknown scale, an improper prior, or an SE-dependent prior without ``se``.
    """
    if isinstance(prior, str):
        # imported here: sparsemeta.bayes.priors imports this module
        from sparsemeta.bayes.priors import parse

        prior = parse(prior)
    if not isinstance(prior, TauPrior):
        raise PriorError(
            f"describe: expected a tau prior or its string (e.g. 'halfnormal(0.5)'), "
            f"got {type(prior).__name__} {prior!r}"
        )
    if scale not in SCALES:
        raise PriorError(f"describe: unknown scale {scale!r}; valid choices: {', '.join(SCALES)}")
    if not prior.proper:
        raise PriorError(f"describe: {prior} is improper, so its quantiles are undefined")
    if prior.requires_se and se is None:
        raise PriorError(f"describe: {prior} depends on the standard errors; pass se=")
    q95 = float(prior.ppf(0.95, se=se))
    theta_cdf = _theta_cdf(prior, se)
    upper = 10.0 * max(q95, 1e-3)
    while theta_cdf(upper) < 0.975:
        upper *= 4.0
    q = optimize.brentq(lambda x: theta_cdf(x) - 0.975, 0.0, upper, xtol=1e-10)
    return PriorSummary(
        prior=str(prior),
        scale=scale,
        median=prior.median(se=se),
        q95=q95,
        p_tau_gt_0_5=float(prior.sf(0.5, se=se)),
        p_tau_gt_1=float(prior.sf(1.0, se=se)),
        theta_q975=float(q),
        ratio_factor=math.exp(q) if scale in RATIO_SCALES else None,
    )


__all__ = ["RATIO_SCALES", "SCALES", "PriorSummary", "describe"]
