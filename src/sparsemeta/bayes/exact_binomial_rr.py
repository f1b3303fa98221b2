r"""Per-study effect likelihood of the constrained log risk ratio model, for the exact engine.

Model (:func:`sparsemeta.bayes.models.binomial_rr`, Warn, Thompson & Spiegelhalter 2002,
*Stat Med* 21:1601)::

    r_ti ~ Bin(n_ti, u_i b(theta_i)),  r_ci ~ Bin(n_ci, u_i a(theta_i)),
    a(theta) = exp(min(0, -theta)),  b(theta) = exp(min(theta, 0)),  u_i ~ Uniform(0, 1).

Given theta the baseline integral

.. math::

    \ell_i(\theta) = \int_0^1 \mathrm{Bin}(r_{ci} \mid n_{ci}, u a(\theta))\,
        \mathrm{Bin}(r_{ti} \mid n_{ti}, u b(\theta))\, du

has a polynomial integrand in u of degree at most :math:`n_{ci} + n_{ti}`, so Gauss-Legendre
quadrature on (0, 1) with :math:`\lceil (n_{ci} + n_{ti} + 1)/2 \rceil` nodes is exact (done
in logs). :math:`\ell_i` has a kink at :math:`\theta = 0` (the min); the engine of
:mod:`sparsemeta.bayes.exact_binomial` puts 0 on its grid and uses a finer spacing
(:data:`PER_SD_FACTOR`) for this model, and adds the Euler-Maclaurin term of the kink
to the trapezoid convolution (h^2/12 times the jump of the integrand's derivative), see
docs/formulas.md.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from sparsemeta.bayes import exact, exact_binomial
from sparsemeta.bayes.priors import MuPriorLike, TauPriorLike
from sparsemeta.errors import DataError, PriorError

__all__ = ["KINK", "PER_SD_FACTOR", "log_effect_likelihood", "posterior"]

#: location of the kink of every study's effect likelihood (theta = 0)
KINK = 0.0
#: grid points per narrowest posterior SD, relative to the binomial-normal setting (4 x 2.5 =
#: 10 per SD at the default accuracy). Near the kink the margins converge slowly: on 3/30 vs
#: 0/28 and 0/25 vs 0/26 (HN(0.5)) the 2.5% quantile of mu (0.13) was off a brute-force
#: integration by 2.2e-4 with 2.4, 1.4e-4 with 3 and 4.8e-5 with 4
PER_SD_FACTOR = 4.0


@functools.cache
def _legendre(n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x, w = special.roots_legendre(n)
    return 0.5 * (x + 1.0), 0.5 * w  # nodes and weights on (0, 1)


def log_effect_likelihood(
    theta: NDArray[np.float64], counts: tuple[NDArray[np.float64], ...]
) -> NDArray[np.float64]:
    r"""log :math:`\ell_i(\theta)` for every study (rows) at every theta (columns).

    Parameters
    ----------
    theta : ndarray
        Log risk ratios (1-D).
    counts : tuple of ndarray
        ``(events_t, n_t, events_c, n_c)``.

    Returns
    -------
    ndarray
        Shape (k, len(theta)); exact up to rounding (Gauss-Legendre of sufficient order).
    """
    theta = np.asarray(theta, dtype=float)
    log_a = np.minimum(0.0, -theta)  # comparator risk = u a
    log_b = np.minimum(theta, 0.0)  # treatment risk = u b
    rows = []
    for rt, nt, rc, nc in zip(*counts, strict=True):
        u, w = _legendre(max(1, math.ceil((nc + nt + 1) / 2)))
        log_u = np.log(u)[:, None]
        lpc, lpt = log_u + log_a[None, :], log_u + log_b[None, :]
        log_f = (
            rc * lpc
            + (nc - rc) * np.log1p(-np.exp(lpc))
            + rt * lpt
            + (nt - rt) * np.log1p(-np.exp(lpt))
        )
        top = log_f.max(axis=0)
        val = np.log((np.exp(log_f - top) * w[:, None]).sum(axis=0)) + top
        coef = (
            special.gammaln(nt + 1)
            - special.gammaln(rt + 1)
            - special.gammaln(nt - rt + 1)
            + special.gammaln(nc + 1)
            - special.gammaln(rc + 1)
            - special.gammaln(nc - rc + 1)
        )
        rows.append(val + coef)
    return np.array(rows)


def posterior(
    events_t: ArrayLike,
    n_t: ArrayLike,
    events_c: ArrayLike,
    n_c: ArrayLike,
    tau_prior: TauPriorLike,
    mu_prior: MuPriorLike = "normal(0, 2.82)",
    labels: Sequence[Any] | None = None,
    *,
    accuracy: str = "default",
) -> exact_binomial.BinomialPosterior:
    """Exact posterior of the constrained log risk ratio model (``binomial-rr``).

    Parameters
    ----------
    events_t, n_t, events_c, n_c : array_like
        Events and arm sizes (experimental t, comparator c); zero cells are fine.
    tau_prior : prior value or str
        Any tau prior of :mod:`sparsemeta.bayes.priors` not built from standard errors.
    mu_prior : str or normal prior
        Normal prior of mu (log RR). A flat prior is refused: with a double-zero study
        ell_i tends to a positive constant as abs(theta) grows, and with only such studies
        the posterior is improper.
    labels : sequence, optional
        Study labels.
    accuracy : {"fast", "default", "fine"}
        Resolution (:data:`sparsemeta.bayes.exact_binomial.ACCURACY`; the grid spacing is
        further divided by :data:`PER_SD_FACTOR`).

    Returns
    -------
    BinomialPosterior
        With ``model == "binomial-rr"``.

    Raises
    ------
    DataError
        Bad counts, labels or ``accuracy``.
    PriorError
        A flat mu prior, or a tau prior that needs standard errors.
    """
    counts, labs = exact_binomial._check_counts(events_t, n_t, events_c, n_c, labels)
    if accuracy not in exact_binomial.ACCURACY:
        raise DataError(f"accuracy {accuracy!r}: use one of {list(exact_binomial.ACCURACY)}")
    mu = exact._mu_prior(mu_prior)
    if mu is None:
        exact_binomial.check_proper(counts, "binomial-rr", "symmetric", 1.0, None)
        raise PriorError(
            "the exact binomial-rr engine needs a normal mu prior (e.g. 'normal(0, 2.82)'): "
            "with a flat mu prior the posterior is improper when only double-zero studies "
            "are present (their likelihood tends to a positive constant for large "
            "abs(log RR)) and is not supported here"
        )
    prior = exact._tau_prior(tau_prior)
    if getattr(prior, "requires_se", False):
        raise PriorError(
            f"tau prior {prior} depends on the study standard errors; use it with the "
            "normal-normal model"
        )
    return exact_binomial.BinomialPosterior(
        counts, labs, prior, mu, "symmetric", 1.0, accuracy, EFFECT
    )


#: the hook handed to :class:`sparsemeta.bayes.exact_binomial.BinomialPosterior`
EFFECT = exact_binomial.EffectModel("binomial-rr", log_effect_likelihood, KINK, PER_SD_FACTOR)
