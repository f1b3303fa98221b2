r"""When is a Bayesian meta-analysis result mostly its prior? One rule for every output.

A result is flagged *prior-dominated* when any of these holds:

* k = 1: one study says nothing about between-study variation, so the tau posterior is its
  prior and theta_new's spread comes from it;
* every study is double-zero (no events in either arm): the counts say almost nothing about
  the effect, and the posterior of mu is close to its prior;
* the Kullback-Leibler divergence from the tau prior to the tau posterior,
  :math:`KL = \int p(\tau \mid y) \ln\{p(\tau \mid y)/p(\tau)\}\,d\tau` (Röver 2020), is
  below :data:`KL_THRESHOLD` = 0.05 nats: the data moved the tau prior less than a normal
  prior is moved when its SD shrinks by about 20% (:math:`KL(N(0,1) \to N(0, 0.8^2)) = 0.5
  (0.64 - 1 - \ln 0.64) = 0.043`), so the interval widths are set by the prior.

The KL needs the exact posterior (normal-normal, arm-normal, binomial-normal engines) and a
proper tau prior; without it only the first two rules apply.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["KL_THRESHOLD", "reasons"]

#: KL divergence (nats) from the tau prior to its posterior below which a result is
#: flagged as prior-dominated
KL_THRESHOLD: float = 0.05


def reasons(
    k: int,
    events: tuple[ArrayLike, ArrayLike] | None = None,
    kl_tau: float | None = None,
) -> list[str]:
    """Why a result is prior-dominated (empty when it is not).

    Parameters
    ----------
    k : int
        Number of studies.
    events : (events_t, events_c), optional
        Event counts per arm for binary data.
    kl_tau : float, optional
        KL divergence from the tau prior to the tau posterior (nats).
    """
    out = []
    if k == 1:
        out.append("k = 1: the tau posterior is its prior")
    if events is not None:
        et, ec = (np.asarray(e, dtype=float) for e in events)
        if et.size and np.all(et == 0) and np.all(ec == 0):
            out.append("only double-zero studies: the effect is informed by its prior alone")
    if kl_tau is not None and np.isfinite(kl_tau) and kl_tau < KL_THRESHOLD:
        out.append(
            f"KL(tau prior -> posterior) = {kl_tau:.3f} nats < {KL_THRESHOLD:g}: "
            "the data barely moved the tau prior"
        )
    return out
