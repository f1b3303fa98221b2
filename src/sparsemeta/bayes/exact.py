r"""Exact posterior of the normal-normal hierarchical model by quadrature over tau.

Model (Röver 2020, J Stat Softw 93(6), Sec. 2; Higgins, Thompson & Spiegelhalter 2009)::

    y_i | theta_i      ~ N(theta_i, sigma_i^2)          i = 1..k
    theta_i | mu, tau  ~ N(mu, tau^2)
    mu ~ N(m_0, s_0^2)  or  p(mu) = 1 (flat),    tau ~ p(tau)

so that marginally :math:`y_i \mid \mu, \tau \sim N(\mu, \sigma_i^2 + \tau^2)`.

Given :math:`\tau`, the effect :math:`\mu` is integrated analytically. With
:math:`w_i = 1/(\sigma_i^2 + \tau^2)` and, for a normal :math:`\mu` prior, the prior
treated as one more "observation" :math:`y_0 = m_0` with weight :math:`w_0 = 1/s_0^2`
(:math:`w_0 = 0` for the flat prior),

.. math::

    V(\tau) = \Big(\sum_i w_i\Big)^{-1},\qquad
    \hat\mu(\tau) = V \sum_i w_i y_i,\qquad
    \mu \mid \tau, y \sim N(\hat\mu, V),

and the marginal likelihood of :math:`\tau` (Röver 2020, Sec. 2) is

.. math::

    p(y \mid \tau) = (2\pi)^{-(k - 1)/2}\; (2\pi s_0^2)^{-\delta/2}\;
        \prod_i w_i^{1/2}\; V^{1/2}\;
        \exp\Big(-\tfrac12 \sum_i w_i (y_i - \hat\mu)^2\Big),

where the product runs over the k studies, the sums (also in :math:`V` and
:math:`\hat\mu`) include the pseudo-observation, and :math:`\delta = 1` for a normal
:math:`\mu` prior, :math:`\delta = 0` for the flat one (then the value is defined up to
the arbitrary constant of the improper prior). The posterior of :math:`\tau` is
:math:`p(\tau \mid y) \propto p(\tau)\, p(y \mid \tau)`. Every other margin is a mixture of
normals over :math:`\tau`: with :math:`b_i = \sigma_i^2 / (\sigma_i^2 + \tau^2)`,

.. math::

    \theta_i \mid \tau, y \sim N\big(b_i \hat\mu + (1 - b_i) y_i,\;
        (1 - b_i)\sigma_i^2 + b_i^2 V\big),\qquad
    \theta_\mathrm{new} \mid \tau, y \sim N(\hat\mu, V + \tau^2).

Quadrature. :math:`\tau \in [0, \infty)` is mapped to :math:`u = \tau/(\tau + c) \in [0, 1)`
(:math:`c` the geometric mean of the standard errors), so heavy-tailed and improper priors
are integrated without truncation. :math:`[0, 1)` is cut into panels at break points that
follow both the likelihood (geometric in :math:`\tau` from :math:`10^{-3}\min\sigma_i` to
:math:`50\max(\max\sigma_i, \mathrm{range}\, y)`) and the prior (its quantiles, when it is
proper and offers ``ppf``); each panel gets Gauss-Legendre nodes. Marginal cdfs of
:math:`\mu`, :math:`\theta_i`, :math:`\theta_\mathrm{new}` are weighted sums of normal cdfs
over the nodes; the cdf of :math:`\tau` adds the mass of whole panels to a Gauss-Legendre
integral over the part of a panel. Quantiles are found by safeguarded Newton iterations
(bisection fallback; for :math:`\tau` first on the panel's polynomial interpolant, then
polished on the exact cdf). Shortest intervals minimise the width
:math:`q(a + \text{level}) - q(a)` over the lower tail probability :math:`a`: for one
posterior by Newton's method on its stationarity condition :math:`F(h) - F(l) = \text{level}`,
:math:`f(h) = f(l)` from the equal-tailed interval (all normal-mixture margins at once in
``summary``; for :math:`\tau`, :math:`[0, q(\text{level})]` when the density at 0 is at least
that at :math:`q(\text{level})`), with bounded Brent minimisation over :math:`a` as the
fallback; in batches by golden-section search over :math:`a`.

Improper posteriors. A flat :math:`\mu` prior with an improper :math:`\tau` prior may give a
posterior that is not normalisable: for large :math:`\tau`,
:math:`p(y \mid \tau) \propto \tau^{-(k - 1)}` (flat :math:`\mu`) or :math:`\tau^{-k}` (normal
:math:`\mu`), so with :math:`p(\tau) \propto \tau^{a}` the posterior needs
:math:`a - (k - 1) < -1` (e.g. the uniform prior needs :math:`k \ge 3` with a flat
:math:`\mu` prior). This is checked numerically for improper priors and
raises :class:`~sparsemeta.errors.PriorError`.

References
----------
Röver C (2020). Bayesian random-effects meta-analysis using the bayesmeta R package.
*Journal of Statistical Software* 93(6):1-51. doi:10.18637/jss.v093.i06

Higgins JPT, Thompson SG, Spiegelhalter DJ (2009). A re-evaluation of random-effects
meta-analysis. *J R Stat Soc A* 172(1):137-159.

Dickey JM (1971). The weighted likelihood ratio, linear hypotheses on normal location
parameters. *Ann Math Stat* 42(1):204-223 (Savage-Dickey density ratio).
"""

from __future__ import annotations

import functools
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import special

from sparsemeta.bayes import priors
from sparsemeta.bayes.priors import MuPriorLike, TauPriorLike
from sparsemeta.effects import Effects, as_effects
from sparsemeta.errors import DataError, PriorError, SingleStudyWarning
from sparsemeta.results import Op, check_op, json_safe, prob_from_cdf, summary_frame

if TYPE_CHECKING:
    import arviz as az

    from sparsemeta.bayes.priors import TauPrior

__all__ = [
    "ExactPosterior",
    "NormalMixture",
    "TauPosterior",
    "posterior",
    "posterior_batch",
]

_LOG_2PI = math.log(2.0 * math.pi)
_GOLD = (math.sqrt(5.0) - 1.0) / 2.0
_REACH = 20.0  # normal components further than this many sds from x: cdf 0 or 1 (_Mixtures)

# Prior probabilities whose quantiles become panel break points (probability 1 gives the
# upper end of a bounded support, e.g. of a uniform prior).
_PRIOR_PROBS_FINE = np.array(
    [
        1e-8,
        1e-6,
        1e-4,
        1e-3,
        0.01,
        0.03,
        0.07,
        0.15,
        0.25,
        0.35,
        0.45,
        0.55,
        0.65,
        0.75,
        0.85,
        0.93,
        0.97,
        0.99,
        0.999,
        1 - 1e-4,
        1 - 1e-6,
        1 - 1e-8,
        1.0,
    ]
)
_PRIOR_PROBS_FAST = np.array([1e-4, 0.02, 0.15, 0.4, 0.7, 0.93, 0.999, 1.0])


@dataclass(frozen=True)
class _Resolution:
    """Quadrature resolution: likelihood break points and Gauss-Legendre order per panel."""

    n_breaks: int
    order: int
    prior_probs: NDArray[np.float64]


_FINE = _Resolution(n_breaks=48, order=12, prior_probs=_PRIOR_PROBS_FINE)
_BATCH_TOL = 1e-7  # quantile solver tolerance in batch mode (quadrature error is larger)
_BATCH_PARAMS = ("mu", "tau", "theta_new")  # margins posterior_batch can report
_FAST = _Resolution(n_breaks=10, order=5, prior_probs=_PRIOR_PROBS_FAST)
_EXACT_TOL = 1e-5  # tau quantiles: exact Halley steps stop below this relative step
_EXACT_STEPS = 30  # ... or after this many (safeguarded by bisection)


@dataclass(frozen=True)
class _NormalMuPrior:
    mean: float
    sd: float


# ----------------------------------------------------------------------------- input checks


def _check_study_data(
    y: ArrayLike, se: ArrayLike, labels: Sequence[str] | None
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[str]]:
    """Arrays of effects validated by :meth:`Effects.from_arrays` (k = 1 warns)."""
    eff = Effects.from_arrays(y, se, labels)
    _warn_single(eff.studies)
    return eff.y, eff.se, list(eff.studies)


def _tau_prior(tau_prior: TauPriorLike) -> TauPrior:
    """The tau prior of array effects (:func:`sparsemeta.bayes.priors.tau_prior`)."""
    return priors.tau_prior(tau_prior)


def _mu_prior(mu_prior: MuPriorLike) -> _NormalMuPrior | None:
    """The mu prior of array effects (flat by default) as the quadrature uses it."""
    return _normal_mu(priors.mu_prior(mu_prior))


def _inputs(
    y: ArrayLike | Effects | pd.DataFrame,
    se: ArrayLike | None,
    labels: Sequence[str] | None,
    measure: str | None,
    tau_prior: TauPriorLike,
    mu_prior: MuPriorLike,
    where: str,
) -> tuple[Effects, Any, _NormalMuPrior | None]:
    """The studies (:func:`sparsemeta.effects.as_effects`) and the priors (``None``: the
    measure's defaults) of an exact-engine entry point; k = 1 warns."""
    eff = as_effects(y, measure, se=se, labels=labels, where=where).require(where)
    code = eff.measure.code
    prior = priors.tau_prior(tau_prior, code)
    mu = _normal_mu(priors.mu_prior(mu_prior, code))
    _warn_single(eff.studies)
    return eff, prior, mu


def _normal_mu(prior: Any) -> _NormalMuPrior | None:
    """A mu prior value as the quadrature uses it: ``None`` (flat) or its mean and sd."""
    if getattr(prior, "name", None) == "flat":
        return None
    if not all(hasattr(prior, a) for a in ("mean", "sd")):
        raise PriorError(f"mu prior {prior}: the exact posterior takes a normal or flat prior")
    return _NormalMuPrior(float(prior.mean), float(prior.sd))


# ----------------------------------------------------------------------------- core numerics


def _log_prior(
    prior: Any, tau: NDArray[np.float64], se: NDArray[np.float64], valid: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """log p(tau) for tau of shape (n, m); se-dependent priors are called row by row."""
    if getattr(prior, "requires_se", False):
        rows = [
            np.asarray(prior.logpdf(tau[r], se=se[r, valid[r]]), dtype=float)
            for r in range(tau.shape[0])
        ]
        return np.stack(rows).reshape(tau.shape)
    return np.asarray(prior.logpdf(tau.ravel()), dtype=float).reshape(tau.shape)


@dataclass
class _Data:
    """Studies of n meta-analyses as (n, k) arrays; missing studies have ``valid`` False."""

    y: NDArray[np.float64]
    se: NDArray[np.float64]
    valid: NDArray[np.bool_]
    mu_prior: _NormalMuPrior | None

    def __post_init__(self) -> None:
        self.complete = bool(self.valid.all())

    @property
    def k(self) -> NDArray[np.int64]:
        return self.valid.sum(axis=1)

    @property
    def decay(self) -> NDArray[np.int64]:
        """Power of the large-tau decay of p(y | tau): k minus the flat location parameters."""
        return self.k - (1 if self.mu_prior is None else 0)

    def conditional(
        self, tau: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Log marginal likelihood p(y | tau), E[mu | tau, y] and Var[mu | tau, y].

        ``tau`` has shape (n, m); the results too.
        """
        var = self.se[:, None, :] ** 2 + tau[..., None] ** 2
        log_var = np.log(var)
        w = 1.0 / var
        if not self.complete:
            w = np.where(self.valid[:, None, :], w, 0.0)
            log_var = np.where(self.valid[:, None, :], log_var, 0.0)
        y = self.y[:, None, :]
        sw = w.sum(axis=-1)
        swy = (w * y).sum(axis=-1)
        k = self.k[:, None]
        if self.mu_prior is None:
            const = -0.5 * (k - 1) * _LOG_2PI
        else:
            w0 = 1.0 / self.mu_prior.sd**2
            sw = sw + w0
            swy = swy + w0 * self.mu_prior.mean
            const = -0.5 * k * _LOG_2PI - math.log(self.mu_prior.sd)
        mhat = swy / sw
        q = (w * (y - mhat[..., None]) ** 2).sum(axis=-1)
        if self.mu_prior is not None:
            q = q + (self.mu_prior.mean - mhat) ** 2 / self.mu_prior.sd**2
        loglik = -0.5 * log_var.sum(axis=-1) - 0.5 * np.log(sw) - 0.5 * q + const
        return loglik, mhat, 1.0 / sw


class _FixedMu(_Data):
    """Rows with mu fixed (one value per row): p(y | tau, mu) = prod N(y_i; mu, se_i^2 + tau^2).

    The tau-only posterior given mu, used by model averaging (mu = 0) and by posterior
    predictive p-values (mu drawn from its posterior)."""

    def __init__(self, y: NDArray[np.float64], se: NDArray[np.float64], mu: NDArray[np.float64]):
        n = mu.size
        super().__init__(np.tile(y, (n, 1)), np.tile(se, (n, 1)), np.ones((n, y.size), bool), None)
        self.mu = mu

    @property
    def decay(self) -> NDArray[np.int64]:
        return self.k

    def conditional(
        self, tau: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        var = self.se[:, None, :] ** 2 + tau[..., None] ** 2
        resid = self.y[:, None, :] - self.mu[:, None, None]
        loglik = -0.5 * (np.log(2.0 * math.pi * var) + resid**2 / var).sum(axis=-1)
        zeros = np.zeros(tau.shape)
        return loglik, zeros + self.mu[:, None], zeros


def _check_proper(prior: TauPrior, data: _Data) -> None:
    """Raise PriorError when an improper tau prior gives an improper posterior.

    For large tau the marginal likelihood decays like tau^-(k - 1) (flat mu prior) or
    tau^-k (normal mu prior); near tau = 0 it is finite and positive. The prior's power-law
    exponents at both ends are estimated from two evaluations each.
    """
    if getattr(prior, "proper", True):
        return
    scale = np.exp(np.nanmean(np.log(np.where(data.valid, data.se, np.nan)), axis=1))
    big = scale[:, None] * np.array([1e6, 1e7])
    small = scale[:, None] * np.array([1e-9, 1e-8])
    with np.errstate(divide="ignore", invalid="ignore"):
        lp_big = _log_prior(prior, big, data.se, data.valid)
        lp_small = _log_prior(prior, small, data.se, data.valid)
    a_inf = (lp_big[:, 1] - lp_big[:, 0]) / math.log(10.0)
    a_zero = (lp_small[:, 1] - lp_small[:, 0]) / math.log(10.0)
    tail = a_inf - data.decay
    bad_inf = ~(tail < -1.0 - 1e-3)
    bad_zero = ~(a_zero > -1.0 + 1e-3)
    if np.any(bad_inf | bad_zero):
        r = int(np.argmax(bad_inf | bad_zero))
        mu_txt = "flat" if data.mu_prior is None else "normal"
        where = "as tau -> infinity" if bad_inf[r] else "at tau = 0"
        raise PriorError(
            f"the posterior is improper: with the improper tau prior {prior} and a {mu_txt} mu "
            f"prior for k = {int(data.k[r])} studies the posterior density of tau is not "
            f"integrable {where}; use a proper tau prior"
            + (" or a normal mu prior" if data.mu_prior is None else "")
            + " (or more studies)"
        )


@functools.cache
def _gauss_legendre(order: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x, w = np.polynomial.legendre.leggauss(order)
    return (x + 1.0) / 2.0, w / 2.0


@functools.cache
def _legendre_fit(order: int) -> NDArray[np.float64]:
    """Matrix taking values at the Gauss-Legendre nodes to Legendre coefficients."""
    x = np.polynomial.legendre.leggauss(order)[0]
    return np.linalg.inv(np.polynomial.legendre.legvander(x, order - 1))


@functools.cache
def _legendre_to_power(order: int) -> NDArray[np.float64]:
    r"""Matrices (3, order, order + 1) taking the Legendre coefficients :math:`a_l` of
    :math:`f(x) = \sum_{l < \text{order}} a_l P_l(x)` to the power-basis coefficients of
    :math:`\int_{-1}^x f`, f and f'.

    Uses :math:`\int_{-1}^x P_0 = x + 1` and :math:`\int_{-1}^x P_l = (P_{l+1}(x) -
    P_{l-1}(x))/(2l + 1)`. In the power basis on [-1, 1] the low orders used here (at most
    12) lose a few digits at most (relative error below 1e-13), and the tau quantiles
    are polished on the exact cdf anyway.
    """
    legendre = np.zeros((order + 1, order + 1))
    for deg in range(order + 1):
        c = np.polynomial.legendre.leg2poly(np.eye(order + 1)[deg])
        legendre[deg, : c.size] = c
    out = np.zeros((3, order, order + 1))
    out[0, 0, :2] = 1.0
    for deg in range(1, order):
        out[0, deg] = (legendre[deg + 1] - legendre[deg - 1]) / (2 * deg + 1)
    out[1] = legendre[:order]
    out[2, :, :-1] = legendre[:order, 1:] * np.arange(1, order + 1)
    return out


@dataclass
class _Grid:
    """Quadrature over tau for n meta-analyses at once (arrays have a leading axis n)."""

    data: _Data
    prior: Any
    c: NDArray[np.float64]  # (n,) scale of the u = tau / (tau + c) map
    u_breaks: NDArray[np.float64]  # (n, P + 1), from 0 to 1
    order: int
    tau: NDArray[np.float64]  # (n, N) nodes, N = P * order
    weight: NDArray[np.float64]  # (n, N) posterior probability of each node
    loglik: NDArray[np.float64]  # (n, N)
    mhat: NDArray[np.float64]  # (n, N) E[mu | tau, y]
    vmu: NDArray[np.float64]  # (n, N) Var[mu | tau, y]
    log_z: NDArray[np.float64]  # (n,) log of int p(tau) p(y | tau) dtau
    cum: NDArray[np.float64]  # (n, P + 1) posterior cdf of tau at the break points
    coef: NDArray[np.float64]  # (n, P, order) Legendre coefficients of the u density per panel

    def log_post(self, tau: NDArray[np.float64]) -> NDArray[np.float64]:
        """Normalised log posterior density of tau at tau of shape (n, m)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            lp = _log_prior(self.prior, tau, self.data.se, self.data.valid)
        loglik = self.data.conditional(tau)[0]
        return lp + loglik - self.log_z[:, None]

    @functools.cached_property
    def moments_exist(self) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        r"""Whether E[tau] and E[tau^2] are finite, from the posterior's power-law tail.

        The exponent a of :math:`p(\tau | y) \propto \tau^{a}` far out (estimated at
        :math:`10^8 c` and :math:`10^9 c`) must be below -2 for the mean and below -3 for
        the second moment; e.g. a half-Cauchy prior with a flat mu prior and k = 2 gives
        a = -3, so the sd of tau (and of mu and theta_new) is infinite.
        """
        big = self.c[:, None] * np.array([1e8, 1e9])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            lp = self.log_post(big)
            a = (lp[:, 1] - lp[:, 0]) / math.log(10.0)
        a = np.where(np.isfinite(a), a, -np.inf)
        return a < -2.0 - 1e-2, a < -3.0 - 1e-2

    def _partial(
        self,
        u_a: NDArray[np.float64],
        u_t: NDArray[np.float64],
        tau_at: NDArray[np.float64],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        r"""Integral of the u density from u_a to u_t (both shape (n, m)) by Gauss-Legendre.

        The u density is :math:`p(\tau(u) \mid y)\, d\tau/du = p(\tau \mid y)\, c/(1 - u)^2`.
        Also returns the normalised log posterior density of tau at ``tau_at`` (shape
        (n, r), r >= 0), evaluated in the same call of :meth:`log_post`: for
        the binomial engine each call is a batch of FFT convolutions, and one batch for
        all points costs far less than several.
        """
        x, w = _gauss_legendre(self.order)
        width = u_t - u_a
        n, m = u_a.shape
        nodes = (u_a[..., None] + width[..., None] * x).reshape(n, m * self.order)
        c = self.c[:, None]
        one_minus = 1.0 - nodes
        log_post = self.log_post(np.concatenate([c * nodes / one_minus, tau_at], axis=1))
        dens = np.exp(log_post[:, : m * self.order]) * c / one_minus**2
        dens = np.where(np.isfinite(dens), dens, 0.0).reshape(n, m, self.order)
        return (dens * w).sum(axis=-1) * width, log_post[:, m * self.order :]

    def _panel(self, u: NDArray[np.float64]) -> NDArray[np.int64]:
        inner = self.u_breaks[:, None, 1:-1]
        return (inner <= u[..., None]).sum(axis=-1)

    def tau_cdf(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        """Posterior cdf of tau at t of shape (n, m): panel masses plus Gauss-Legendre."""
        return self.tau_cdf_log_post(t, np.empty((t.shape[0], 0)))[0]

    def tau_cdf_log_post(
        self, t: NDArray[np.float64], tau_at: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """:meth:`tau_cdf` at t (n, m) and :meth:`log_post` at ``tau_at`` (n, r), from one
        evaluation of the likelihood (see :meth:`_partial`)."""
        t = np.maximum(t, 0.0)
        with np.errstate(invalid="ignore"):
            u = np.where(np.isinf(t), 1.0, t / (t + self.c[:, None]))
        j = self._panel(u)
        u_a = np.take_along_axis(self.u_breaks, j, axis=1)
        partial, log_post = self._partial(u_a, np.minimum(u, 1.0 - 1e-16), tau_at)
        out = np.take_along_axis(self.cum, j, axis=1) + partial
        return np.clip(np.where(u >= 1.0, 1.0, out), 0.0, 1.0), log_post

    def tau_quantile(self, p: NDArray[np.float64], tol: float = 1e-13) -> NDArray[np.float64]:
        """Posterior quantiles of tau for probabilities p of shape (n, m).

        Halley steps (bisection fallback) on the panel's interpolated cdf until the step in
        the local coordinate is below ``tol``; then Halley steps on the exact cdf until a
        step is below :data:`_EXACT_TOL` relative (after a Halley step of relative size s
        the error is of order s^3). Each exact step takes the cdf, the density and (by a
        central difference) the slope of the log density from one evaluation of the
        likelihood (:meth:`_partial`); the interpolant is usually close enough (relative
        error about 1e-6 for the binomial engine's default accuracy, far less for the
        normal-normal engine's) that one step suffices.
        """
        j = (self.cum[:, None, 1:-1] <= p[..., None]).sum(axis=-1)
        u_a = np.take_along_axis(self.u_breaks, j, axis=1)
        half_width = (np.take_along_axis(self.u_breaks, j + 1, axis=1) - u_a) / 2.0
        base = np.take_along_axis(self.cum, j, axis=1)
        mass = np.take_along_axis(self.cum, j + 1, axis=1) - base
        target = p - base
        # the panel interpolant (see _build_grid): integral from the panel start, value and
        # slope, all in units of the local coordinate x in [-1, 1], as power series in x
        coef = np.take_along_axis(self.coef, j[..., None], axis=1)
        series = np.einsum("...l,slp->s...p", coef, _legendre_to_power(self.order))
        powers = np.arange(self.order + 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            x = 2.0 * np.clip(np.where(mass > 0, target / mass, 0.5), 0.0, 1.0) - 1.0
        lo, hi = np.full(p.shape, -1.0), np.full(p.shape, 1.0)
        for _ in range(100):
            partial, dens, slope = (series * x[..., None] ** powers).sum(axis=-1)
            g = partial * half_width - target
            lo = np.where(g < 0, x, lo)
            hi = np.where(g < 0, hi, x)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                newton = g / (dens * half_width)
                new = x - newton / (1.0 - 0.5 * newton * slope / dens)
            bad = ~np.isfinite(new) | (new < lo) | (new > hi)
            new = np.where(bad, 0.5 * (lo + hi), new)
            step = np.abs(new - x)
            x = new
            if np.all((step <= tol) | (hi - lo <= tol)):
                break
        u = u_a + half_width * (x + 1.0)
        u_lo, u_hi = u_a, u_a + 2.0 * half_width
        c = self.c[:, None]
        m = p.shape[1]
        for _ in range(_EXACT_STEPS):
            delta = 1e-5 * np.minimum(half_width, u)
            at = np.concatenate([u, u + delta, u - delta], axis=1)
            partial, log_post = self._partial(u_a, u, c * at / (1.0 - at))
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                log_f = log_post + np.log(c) - 2.0 * np.log1p(-at)  # log u density
                g = partial - target
                newton = g / np.exp(log_f[:, :m])
                dlog_f = (log_f[:, m : 2 * m] - log_f[:, 2 * m :]) / (2.0 * delta)
                new = u - newton / (1.0 - 0.5 * newton * dlog_f)
            u_lo = np.where(g < 0, u, u_lo)
            u_hi = np.where(g < 0, u_hi, u)
            bad = ~np.isfinite(new) | (new < u_lo) | (new > u_hi)
            new = np.where(bad, 0.5 * (u_lo + u_hi), new)
            step = np.abs(new - u)
            u = new
            if np.all((step <= _EXACT_TOL * u) | (p <= 0.0) | (p >= 1.0)):  # ends set below
                break
        tau = c * u / (1.0 - u)
        tau = np.where(p <= 0.0, 0.0, tau)
        return np.where(p >= 1.0, np.inf, tau)


def _build_grid(data: _Data, prior: TauPrior, resolution: _Resolution) -> _Grid:
    _check_proper(prior, data)
    n = data.y.shape[0]
    se_nan = np.where(data.valid, data.se, np.nan)
    y_nan = np.where(data.valid, data.y, np.nan)
    c = np.exp(np.nanmean(np.log(se_nan), axis=1))
    lo = 1e-3 * np.nanmin(se_nan, axis=1)
    hi = 50.0 * np.maximum(np.nanmax(se_nan, axis=1), np.nanmax(y_nan, 1) - np.nanmin(y_nan, 1))
    t = np.linspace(0.0, 1.0, resolution.n_breaks)
    tau_breaks = lo[:, None] * (hi / lo)[:, None] ** t
    pieces = [tau_breaks]
    if getattr(prior, "proper", True) and callable(getattr(prior, "ppf", None)):
        probs = resolution.prior_probs
        if getattr(prior, "requires_se", False):
            q = np.stack([prior.ppf(probs, se=data.se[r, data.valid[r]]) for r in range(n)])
        else:
            q = np.broadcast_to(np.asarray(prior.ppf(probs), dtype=float), (n, probs.size))
        pieces.append(np.where(np.isfinite(q) & (q > 0), q, lo[:, None]))
    tau_all = np.concatenate(pieces, axis=1)
    u_all = tau_all / (tau_all + c[:, None])
    u_lo = (lo / (lo + c))[:, None]
    u_inner = np.sort(np.where(u_all < 1.0 - 1e-12, u_all, u_lo), axis=1)  # drop u = 1
    u_breaks = np.concatenate([np.zeros((n, 1)), u_inner, np.ones((n, 1))], axis=1)

    x, w = _gauss_legendre(resolution.order)
    width = np.diff(u_breaks, axis=1)  # (n, P)
    u = (u_breaks[:, :-1, None] + width[..., None] * x).reshape(n, -1)
    quad_w = (width[..., None] * w).reshape(n, -1)
    one_minus = 1.0 - u
    tau = c[:, None] * u / one_minus
    with np.errstate(divide="ignore"):
        log_quad = np.log(quad_w) + np.log(c[:, None]) - 2.0 * np.log(one_minus)
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = _log_prior(prior, tau, data.se, data.valid)
    loglik, mhat, vmu = data.conditional(tau)
    log_terms = np.where(np.isfinite(lp), lp + loglik + log_quad, -np.inf)
    top = log_terms.max(axis=1)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        log_z = np.log(np.exp(log_terms - top[:, None]).sum(axis=1)) + top
    if not np.all(np.isfinite(log_z)):
        raise PriorError(f"the tau prior {prior} gives zero posterior mass for these data")
    weight = np.exp(log_terms - log_z[:, None])
    panel_mass = weight.reshape(n, -1, resolution.order).sum(axis=-1)
    cum = np.concatenate([np.zeros((n, 1)), np.cumsum(panel_mass, axis=1)], axis=1)
    cum = cum / cum[:, -1:]
    dens_u = np.divide(weight, quad_w, out=np.zeros_like(weight), where=quad_w > 0)
    coef = dens_u.reshape(n, -1, resolution.order) @ _legendre_fit(resolution.order).T
    return _Grid(
        data,
        prior,
        c,
        u_breaks,
        resolution.order,
        tau,
        weight,
        loglik,
        mhat,
        vmu,
        log_z,
        cum,
        coef,
    )


def _mixture_cdf(
    x: NDArray[np.float64], m: NDArray[np.float64], s: NDArray[np.float64], w: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """cdf and pdf at x (n, q) of normal mixtures with means m, sds s, weights w (n, N)."""
    z = (x[..., None] - m[:, None, :]) / s[:, None, :]
    cdf = np.matmul(special.ndtr(z), w[..., None])[..., 0]
    dens = np.exp(-0.5 * z * z)
    pdf = np.matmul(dens, (w / s)[..., None])[..., 0] / math.sqrt(2.0 * math.pi)
    return cdf, pdf


def _mixture_derivatives(
    x: NDArray[np.float64], m: NDArray[np.float64], s: NDArray[np.float64], w: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """cdf, pdf and derivative of the pdf at x (n, q) of normal mixtures (n, N)."""
    z = (x[..., None] - m[:, None, :]) / s[:, None, :]
    cdf = np.matmul(special.ndtr(z), w[..., None])[..., 0]
    dens = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    pdf = np.matmul(dens, (w / s)[..., None])[..., 0]
    slope = -np.matmul(dens * z, (w / (s * s))[..., None])[..., 0]
    return cdf, pdf, slope


class _Mixtures:
    r"""Normal mixtures (n rows of N components) prepared for repeated evaluation.

    :meth:`derivatives` gives the cdf, pdf and the pdf's slope at points x (n, q). When
    every row's means are sorted and the components are narrow compared with their spread
    (the binomial engine's margins: components :math:`N(x_j, h^2)` on a grid of spacing
    h), a point needs only the components within :data:`_REACH` sds of it: those further
    below add their whole weight to the cdf (a cumulative sum), those further above
    nothing; the neglected terms are below :math:`\Phi(-20) \approx 3 \times 10^{-89}`
    per unit weight. Otherwise every component is evaluated.
    """

    def __init__(
        self, m: NDArray[np.float64], s: NDArray[np.float64], w: NDArray[np.float64]
    ) -> None:
        self.m, self.s, self.w = m, s, w
        n, size = m.shape
        self.window = 0  # components evaluated per point when windowed; 0: all
        if size < 4 * _REACH or not np.all(m[:, 1:] >= m[:, :-1]):
            return
        self.reach = _REACH * s.max(axis=1)  # (n,)
        # most means in any interval of length 2 reach: the components a point can need
        self.shared = bool((m == m[:1]).all() and (self.reach == self.reach[0]).all())
        rows = range(1 if self.shared else n)
        count = max(
            int(
                (np.searchsorted(m[r], m[r] + 2.0 * self.reach[r], "right") - np.arange(size)).max()
            )
            for r in rows
        )
        if count > size // 2:
            return
        self.window = count
        pad = np.zeros((n, count))
        self.m_pad = np.concatenate([m, pad + m[:, -1:]], axis=1)  # zero weight beyond the end
        self.s_pad = np.concatenate([s, pad + 1.0], axis=1)
        self.w_pad = np.concatenate([w, pad], axis=1)
        self.cum = np.concatenate([np.zeros((n, 1)), np.cumsum(w, axis=1)], axis=1)

    def _first(self, x: NDArray[np.float64], rows: NDArray[np.int64]) -> NDArray[np.int64]:
        """Index of the first component within reach of each point x (len(rows), q)."""
        low = x - self.reach[rows, None]
        if self.shared:
            return np.searchsorted(self.m[0], low)
        return np.stack([np.searchsorted(self.m[r], low[i]) for i, r in enumerate(rows)])

    def derivatives(
        self, x: NDArray[np.float64], rows: NDArray[np.int64] | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """cdf, pdf and derivative of the pdf at x (len(rows), q) of the given rows (all)."""
        rows = np.arange(self.m.shape[0]) if rows is None else rows
        if not self.window:
            return _mixture_derivatives(x, self.m[rows], self.s[rows], self.w[rows])
        first = self._first(x, rows)
        stride = self.m_pad.shape[1]
        flat = (rows[:, None, None] * stride + first[..., None]) + np.arange(self.window)
        m, s, w = self.m_pad.ravel()[flat], self.s_pad.ravel()[flat], self.w_pad.ravel()[flat]
        z = (x[..., None] - m) / s
        below = np.take_along_axis(self.cum[rows], first, axis=1)
        cdf = below + (special.ndtr(z) * w).sum(axis=-1)
        dens = np.exp(-0.5 * z * z) * (w / (s * math.sqrt(2.0 * math.pi)))
        return cdf, dens.sum(axis=-1), -(dens * z / s).sum(axis=-1)

    def start(self, p: NDArray[np.float64]) -> NDArray[np.float64]:
        r"""Starting values for the quantiles at p (n, q).

        Windowed: the cdf's values between neighbouring means are close to the cumulative
        weights (exactly so for point masses), so p is interpolated linearly in those.
        Otherwise the weighted average of the component quantiles,
        :math:`\sum_j \omega_j (m_j + s_j \Phi^{-1}(p))`.
        """
        if not self.window:
            z = special.ndtri(np.clip(p, 1e-300, 1 - 1e-16))
            return (self.w * self.m).sum(axis=1)[:, None] + (self.w * self.s).sum(axis=1)[
                :, None
            ] * z
        mid = 0.5 * (self.m[:, 1:] + self.m[:, :-1])
        cum = np.maximum.accumulate(self.cum[:, 1:-1], axis=1)
        return np.stack([np.interp(p[r], cum[r], mid[r]) for r in range(p.shape[0])])


def _mixture_moments(
    m: NDArray[np.float64], s: NDArray[np.float64], w: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    mean = (w * m).sum(axis=-1)
    var = (w * (s * s + (m - mean[..., None]) ** 2)).sum(axis=-1)
    return mean, np.sqrt(var)


def _mixture_quantile(
    p: NDArray[np.float64],
    m: NDArray[np.float64],
    s: NDArray[np.float64],
    w: NDArray[np.float64],
    tol: float = 1e-11,
) -> NDArray[np.float64]:
    r"""Quantiles (n, q) of normal mixtures: Halley steps kept inside a bisection bracket.

    Halley's method (Newton's with the density's slope; cubic convergence) starts from
    :meth:`_Mixtures.start` and iterates each row until its steps are below ``tol`` times
    the mixture's sd (converged rows drop out).
    """
    p_in = p
    ends = (p_in <= 0.0) | (p_in >= 1.0)  # -inf and inf, set at the end
    p = np.where(ends, 0.5, p_in)
    mixtures = _Mixtures(m, s, w)
    sd = _mixture_moments(m, s, w)[1]
    lo = np.broadcast_to((m - 40.0 * s).min(axis=1)[:, None], p.shape).copy()
    hi = np.broadcast_to((m + 40.0 * s).max(axis=1)[:, None], p.shape).copy()
    x = np.clip(mixtures.start(p), lo, hi)
    xtol = tol * sd[:, None]
    rows = np.arange(p.shape[0])
    for _ in range(200):
        xa, la, ha = x[rows], lo[rows], hi[rows]
        f, d, slope = mixtures.derivatives(xa, rows)
        f = f - p[rows]
        la = np.where(f < 0, xa, la)
        ha = np.where(f < 0, ha, xa)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            newton = f / d
            new = xa - newton / (1.0 - 0.5 * newton * slope / d)
        bad = ~np.isfinite(new) | (new < la) | (new > ha)
        new = np.where(bad, 0.5 * (la + ha), new)
        done = ((np.abs(new - xa) <= xtol[rows]) | (ha - la <= xtol[rows])).all(axis=1)
        x[rows], lo[rows], hi[rows] = new, la, ha
        rows = rows[~done]
        if rows.size == 0:
            break
    return np.where(ends, np.where(p_in <= 0.0, -np.inf, np.inf), x)


def _shortest(
    quantile: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    level: float,
    n: int,
    lower_bounded: bool,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Shortest intervals with probability ``level`` by golden-section search.

    Minimises q(a + level) - q(a) over the lower tail probability a in (0, 1 - level) for n
    distributions at once; with ``lower_bounded`` (tau >= 0) the one-sided interval
    [0, q(level)] (a = 0) is also considered.
    """

    def width(a: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
        q = quantile(np.stack([a, a + level], axis=1))
        return q[:, 1] - q[:, 0], q[:, 0], q[:, 1]

    a, b = np.zeros(n), np.full(n, 1.0 - level)
    x1 = b - _GOLD * (b - a)
    x2 = a + _GOLD * (b - a)
    f1, f2 = width(x1)[0], width(x2)[0]
    for _ in range(36):
        left = f1 <= f2
        b = np.where(left, x2, b)
        a = np.where(left, a, x1)
        x1_new = np.where(left, b - _GOLD * (b - a), x2)
        x2_new = np.where(left, x1, a + _GOLD * (b - a))
        f_new = width(np.where(left, x1_new, x2_new))[0]
        f1, f2 = np.where(left, f_new, f2), np.where(left, f1, f_new)
        x1, x2 = x1_new, x2_new
        if np.all(b - a < 1e-10):
            break
    w_best, low, high = width(0.5 * (a + b))
    if lower_bounded:
        one_sided = quantile(np.full((n, 1), level))[:, 0]
        take = one_sided <= w_best
        low = np.where(take, 0.0, low)
        high = np.where(take, one_sided, high)
    return low, high


def _hpd_newton(
    evaluate: Callable[
        [NDArray[np.float64]],
        tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]],
    ],
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
    level: float,
    lower: float = -np.inf,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    r"""Shortest intervals with probability ``level`` by Newton's method, n at once.

    Solves :math:`F(h) - F(l) = \text{level}` and :math:`\log f(h) = \log f(l)` (the
    stationarity condition of the width :math:`q(a + \text{level}) - q(a)`) for (l, h),
    starting from (lo, hi), usually the equal-tailed interval. Steps are halved to keep
    ``lower <= l < h``.

    Parameters
    ----------
    evaluate
        Maps x of shape (n, 2) to the cdf, the log density and the derivative of the log
        density at x.
    lo, hi : ndarray, shape (n,)
        Starting intervals.
    level : float
        Probability of the intervals.
    lower : float
        Lower end of the support.

    Returns
    -------
    lo, hi : ndarray
        The intervals.
    ok : ndarray of bool
        Whether each converged to a local minimum of the width (:math:`(\log f)'` larger at
        l than at h) no wider than the start; callers fall back to a search elsewhere.
    """
    start = hi - lo
    x = np.stack([lo, hi], axis=1)
    for _ in range(60):
        cdf, logf, dlogf = evaluate(x)
        g1 = cdf[:, 1] - cdf[:, 0] - level
        g2 = logf[:, 1] - logf[:, 0]
        f = np.exp(logf)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            det = f[:, 1] * dlogf[:, 0] - f[:, 0] * dlogf[:, 1]
            step = (
                -np.stack(
                    [dlogf[:, 1] * g1 - f[:, 1] * g2, dlogf[:, 0] * g1 - f[:, 0] * g2], axis=1
                )
                / det[:, None]
            )
        step = np.where(np.isfinite(step), step, 0.0)
        t = np.ones((x.shape[0], 1))
        for _ in range(40):
            new = x + t * step
            bad = (new[:, :1] < lower) | (new[:, :1] >= new[:, 1:])
            if not bad.any():
                break
            t = np.where(bad, 0.5 * t, t)
        x = np.where(bad, x, new)
        done = np.all(np.abs(t * step) <= 1e-13 * (x[:, 1:] - x[:, :1]), axis=1)
        pinned = (x[:, 0] - lower <= 1e-12 * (x[:, 1] - x[:, 0])) & (step[:, 0] < 0)
        if np.all(done | pinned):
            break
    cdf, logf, dlogf = evaluate(x)
    ok = (
        (np.abs(cdf[:, 1] - cdf[:, 0] - level) <= 1e-10)
        & (np.abs(logf[:, 1] - logf[:, 0]) <= 1e-7)
        & (dlogf[:, 0] > dlogf[:, 1])
        & (x[:, 1] - x[:, 0] <= start * (1.0 + 1e-12))
    )
    return x[:, 0], x[:, 1], ok


def _mixture_log_density(
    x: NDArray[np.float64], mixtures: _Mixtures
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """cdf, log pdf and derivative of the log pdf at x (n, q) of normal mixtures (n, N)."""
    cdf, pdf, slope = mixtures.derivatives(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return cdf, np.log(pdf), slope / pdf


def _mixture_shortest(
    m: NDArray[np.float64],
    s: NDArray[np.float64],
    w: NDArray[np.float64],
    level: float,
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Shortest intervals of normal mixtures (n, N) from the equal-tailed ones (lo, hi)."""
    mixtures = _Mixtures(m, s, w)
    return _hpd_newton(lambda x: _mixture_log_density(x, mixtures), lo, hi, level)


# ----------------------------------------------------------------------------- marginals


class _Marginal(ABC):
    """Common interface of a posterior margin: pdf, cdf, quantile, intervals, moments."""

    name: str
    _bounded_below = False  # support [0, inf) rather than the real line

    @abstractmethod
    def pdf(self, x: ArrayLike) -> NDArray[np.float64] | float:
        """Posterior density at x."""

    @abstractmethod
    def cdf(self, x: ArrayLike) -> NDArray[np.float64] | float:
        """Posterior cumulative distribution function at x."""

    @abstractmethod
    def quantile(self, p: ArrayLike) -> NDArray[np.float64] | float:
        """Posterior quantile (inverse cdf) at probabilities p."""

    @property
    @abstractmethod
    def mean(self) -> float:
        """Posterior mean."""

    @property
    @abstractmethod
    def sd(self) -> float:
        """Posterior standard deviation."""

    @property
    def median(self) -> float:
        """Posterior median, ``quantile(0.5)``."""
        return float(self.quantile(0.5))

    def _mode_at_zero(self) -> bool:
        """True when the density is highest at the lower end of a support [0, inf)."""
        return False

    def interval(self, level: float = 0.95, shortest: bool = False) -> tuple[float, float]:
        """Credible interval with probability ``level``.

        Equal-tailed (quantiles (1 - level)/2 and (1 + level)/2) by default; with
        ``shortest=True`` the shortest interval holding ``level`` (the highest-density
        interval for a unimodal density), found by minimising q(a + level) - q(a) over a.
        """
        level = _check_level(level, f"{self.name}.interval")
        lo, hi = self.quantile(np.array([(1 - level) / 2, (1 + level) / 2]))
        if not shortest:
            return float(lo), float(hi)
        return self._shortest(level, float(lo), float(hi))

    def _shortest(self, level: float, lo: float, hi: float) -> tuple[float, float]:
        """Shortest interval, starting from the equal-tailed interval (lo, hi)."""
        return self._shortest_by_search(level)

    def _shortest_by_search(self, level: float) -> tuple[float, float]:
        """Shortest interval by bounded Brent minimisation of q(a + level) - q(a) over a."""
        if self._mode_at_zero():
            return 0.0, float(self.quantile(level))

        def width(a: float) -> float:
            lo, hi = self.quantile(np.array([a, a + level]))
            return float(hi - lo)

        from scipy import optimize  # only here: importing it costs ~0.1 s of start-up

        res = optimize.minimize_scalar(
            width, bounds=(0.0, 1.0 - level), method="bounded", options={"xatol": 1e-10}
        )
        if self._bounded_below and float(self.quantile(level)) <= res.fun:
            return 0.0, float(self.quantile(level))
        lo, hi = self.quantile(np.array([res.x, res.x + level]))
        return float(lo), float(hi)


def _scalar_or_array(x: ArrayLike, out: NDArray[np.float64]) -> NDArray[np.float64] | float:
    return float(out.reshape(())) if np.ndim(x) == 0 else out.reshape(np.shape(x))


class NormalMixture(_Marginal):
    """A posterior margin that is a finite mixture of normals over the tau nodes.

    :math:`F(x) = \\sum_j \\omega_j \\Phi((x - m_j)/s_j)`, used for mu, each shrunken
    theta_i and the predictive theta_new.
    """

    def __init__(
        self,
        name: str,
        means: NDArray[np.float64],
        sds: NDArray[np.float64],
        weights: NDArray[np.float64],
        moments_exist: Callable[[], tuple[bool, bool]] | None = None,
    ) -> None:
        self.name = name
        self.means = means
        self.sds = sds
        self.weights = weights
        self._moments_exist = moments_exist  # (mean, variance) finite? evaluated on demand

    def _exist(self) -> tuple[bool, bool]:
        return (True, True) if self._moments_exist is None else self._moments_exist()

    def _arrays(self) -> tuple[NDArray[np.float64], ...]:
        return self.means[None, :], self.sds[None, :], self.weights[None, :]

    def pdf(self, x: ArrayLike) -> NDArray[np.float64] | float:
        """Posterior density :math:`\\sum_j \\omega_j \\phi((x - m_j)/s_j)/s_j`."""
        xs = np.asarray(x, dtype=float).reshape(1, -1)
        return _scalar_or_array(x, _mixture_cdf(xs, *self._arrays())[1])

    def cdf(self, x: ArrayLike) -> NDArray[np.float64] | float:
        """Posterior cdf, a weighted sum of normal cdfs."""
        xs = np.asarray(x, dtype=float).reshape(1, -1)
        return _scalar_or_array(x, _mixture_cdf(xs, *self._arrays())[0])

    def _shortest(self, level: float, lo: float, hi: float) -> tuple[float, float]:
        """Newton's method on the mixture's cdf and density (search if it fails)."""
        s_lo, s_hi, ok = _mixture_shortest(*self._arrays(), level, np.array([lo]), np.array([hi]))
        if ok[0]:
            return float(s_lo[0]), float(s_hi[0])
        return self._shortest_by_search(level)

    def quantile(self, p: ArrayLike) -> NDArray[np.float64] | float:
        """Posterior quantile (inverse cdf) by safeguarded Newton iterations."""
        ps = _check_probs(p, f"{self.name}.quantile").reshape(1, -1)
        return _scalar_or_array(p, _mixture_quantile(ps, *self._arrays()))

    @property
    def mean(self) -> float:
        """Posterior mean :math:`\\sum_j \\omega_j m_j` (NaN when it does not exist)."""
        return float(_mixture_moments(*self._arrays())[0][0]) if self._exist()[0] else math.nan

    @property
    def sd(self) -> float:
        """Posterior sd from :math:`\\sum_j \\omega_j (s_j^2 + m_j^2) - \\text{mean}^2`
        (``inf`` when the variance is infinite)."""
        return float(_mixture_moments(*self._arrays())[1][0]) if self._exist()[1] else math.inf


class TauPosterior(_Marginal):
    """Marginal posterior of the heterogeneity tau, :math:`p(\\tau|y) \\propto p(\\tau)p(y|\\tau)`."""

    name = "tau"
    _bounded_below = True

    def __init__(self, grid: _Grid) -> None:
        self._grid = grid

    def pdf(self, x: ArrayLike) -> NDArray[np.float64] | float:
        """Normalised posterior density of tau (0 for tau < 0)."""
        xs = np.asarray(x, dtype=float).reshape(1, -1)
        with np.errstate(invalid="ignore"):
            dens = np.exp(self._grid.log_post(np.maximum(xs, 0.0)))
        dens = np.where((xs >= 0) & np.isfinite(dens), dens, 0.0)
        return _scalar_or_array(x, dens)

    def cdf(self, x: ArrayLike) -> NDArray[np.float64] | float:
        """Posterior cdf of tau: panel masses plus Gauss-Legendre over a partial panel."""
        xs = np.asarray(x, dtype=float).reshape(1, -1)
        return _scalar_or_array(x, self._grid.tau_cdf(xs))

    def quantile(self, p: ArrayLike) -> NDArray[np.float64] | float:
        """Posterior quantile of tau (Newton on the cdf inside the panel holding p)."""
        ps = _check_probs(p, "tau.quantile").reshape(1, -1)
        return _scalar_or_array(p, self._grid.tau_quantile(ps))

    def _evaluate(
        self, x: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """cdf, log density and (central-difference) slope of the log density at x (1, m)."""
        h = 1e-5 * x
        m = x.shape[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            cdf, lp = self._grid.tau_cdf_log_post(x, np.concatenate([x, x + h, x - h], axis=1))
            slope = (lp[:, m : 2 * m] - lp[:, 2 * m :]) / (2.0 * h)
            return cdf, lp[:, :m], slope

    def _shortest(self, level: float, lo: float, hi: float) -> tuple[float, float]:
        """[0, q(level)] when the density at 0 is at least that at q(level), else Newton
        (search if it fails).

        For a unimodal density, [0, q(level)] is then the set where the density is at least
        its value at q(level), and it holds ``level``: the shortest interval.
        """
        return self._shortest_given(level, lo, hi, float(self.quantile(level)))

    def _shortest_given(
        self, level: float, lo: float, hi: float, one_sided: float
    ) -> tuple[float, float]:
        """:meth:`_shortest` with q(level) = ``one_sided`` already known."""
        with np.errstate(divide="ignore", invalid="ignore"):
            log_dens = self._grid.log_post(np.array([[0.0, one_sided]]))[0]
        if log_dens[0] >= log_dens[1] or self._mode_at_zero():
            return 0.0, one_sided
        s_lo, s_hi, ok = _hpd_newton(
            self._evaluate, np.array([lo]), np.array([hi]), level, lower=0.0
        )
        if not ok[0]:
            return self._shortest_by_search(level)
        if one_sided <= s_hi[0] - s_lo[0]:
            return 0.0, one_sided
        return float(s_lo[0]), float(s_hi[0])

    def _mode_at_zero(self) -> bool:
        g = self._grid
        with np.errstate(invalid="ignore"):
            at_zero = g.log_post(np.zeros((1, 1)))[0, 0]
            at_nodes = g.log_post(g.tau)
        return bool(at_zero >= np.nanmax(at_nodes))

    @property
    def mean(self) -> float:
        """Posterior mean of tau by quadrature (``inf`` when the tail is too heavy)."""
        if not self._grid.moments_exist[0][0]:
            return math.inf
        return float((self._grid.weight * self._grid.tau).sum())

    @property
    def sd(self) -> float:
        """Posterior sd of tau by quadrature (``inf`` when the tail is too heavy)."""
        g = self._grid
        if not g.moments_exist[1][0]:
            return math.inf
        mean = (g.weight * g.tau).sum()
        return float(math.sqrt(max((g.weight * (g.tau - mean) ** 2).sum(), 0.0)))


def _check_probs(p: ArrayLike, where: str) -> NDArray[np.float64]:
    """Probabilities as a float array; DataError (naming ``where``) unless all lie in [0, 1]."""
    try:
        ps = np.asarray(p, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"{where}: probabilities must be numbers in [0, 1], got {p!r}") from None
    bad = ~np.isfinite(ps) | (ps < 0) | (ps > 1)
    if np.any(bad):
        raise DataError(
            f"{where}: probabilities must lie in [0, 1], got {float(ps[bad].ravel()[0])!r}"
        )
    return ps


def _check_level(level: Any, where: str) -> float:
    """The interval probability as a float; DataError (naming ``where``) unless in (0, 1)."""
    if (
        isinstance(level, bool | np.bool_)
        or not isinstance(level, int | float | np.integer | np.floating)
        or not 0.0 < float(level) < 1.0
    ):
        raise DataError(
            f"{where}: level must be a number strictly between 0 and 1 (e.g. 0.95), got {level!r}"
        )
    return float(level)


# ----------------------------------------------------------------------------- results


class ExactPosterior:
    """Exact (quadrature) posterior of the normal-normal model for one meta-analysis.

    Attributes
    ----------
    mu, theta_new : NormalMixture
        Overall effect and the predictive effect of a new study.
    tau : TauPosterior
        Between-study heterogeneity.
    theta : dict[str, NormalMixture]
        Shrunken study effects theta_i, keyed by study label.
    y, se, labels, tau_prior, mu_prior
        The inputs (``mu_prior`` is ``None`` for the flat prior).
    """

    def __init__(
        self,
        y: NDArray[np.float64],
        se: NDArray[np.float64],
        labels: list[str],
        tau_prior: TauPriorLike,
        mu_prior: _NormalMuPrior | None,
        grid: _Grid,
    ) -> None:
        self.y, self.se, self.labels = y, se, labels
        self.tau_prior, self.mu_prior = tau_prior, mu_prior
        self.k = int(y.size)
        self._grid = grid
        keep = grid.weight[0] > 1e-16 * grid.weight[0].max()
        w = grid.weight[0, keep] / grid.weight[0, keep].sum()
        tau, mhat, vmu = grid.tau[0, keep], grid.mhat[0, keep], grid.vmu[0, keep]
        # With a flat mu prior, Var(mu | tau) ~ tau^2 / k, so mu's moments need those of
        # tau; theta_new's always do; theta_i's are bounded (b_i -> 0 as tau grows).

        def tail() -> tuple[bool, bool]:
            has_mean, has_var = grid.moments_exist
            return bool(has_mean[0]), bool(has_var[0])

        def mu_tail() -> tuple[bool, bool]:
            return (True, True) if mu_prior is not None else tail()

        self.mu = NormalMixture("mu", mhat, np.sqrt(vmu), w, mu_tail)
        self.theta_new = NormalMixture("theta_new", mhat, np.sqrt(vmu + tau**2), w, tail)
        se2 = se[:, None] ** 2
        b = se2 / (se2 + tau**2)
        means = b * mhat + (1.0 - b) * y[:, None]
        sds = np.sqrt((1.0 - b) * se2 + b**2 * vmu)
        self.theta = {
            lab: NormalMixture(f"theta[{lab}]", means[i], sds[i], w) for i, lab in enumerate(labels)
        }
        self.tau = TauPosterior(grid)

    def __getitem__(self, param: str) -> _Marginal:
        """Margin by name: ``"mu"``, ``"tau"``, ``"theta_new"``, a study label or
        ``"theta[label]"``."""
        if param in ("mu", "tau", "theta_new"):
            return getattr(self, param)
        label = param[6:-1] if param.startswith("theta[") and param.endswith("]") else param
        if label in self.theta:
            return self.theta[label]
        raise KeyError(f"unknown parameter {param!r}; use mu, tau, theta_new or a study label")

    def prob(self, param: str, op: Op, value: float) -> float:
        """Posterior probability ``P(param op value)``, e.g. P(mu < 0) = ``prob("mu", "<", 0)``.

        ``param`` as in :meth:`__getitem__`; ``op`` one of ``"<", "<=", ">", ">="``.
        """
        check_op(op)
        return prob_from_cdf(float(self[param].cdf(value)), op)

    @property
    def log_marginal_likelihood(self) -> float:
        """log p(y) = log of the integral of p(tau) p(y | tau); needs proper priors."""
        self._require_proper_tau("the marginal likelihood")
        if self.mu_prior is None:
            raise PriorError("the marginal likelihood is undefined with a flat mu prior")
        return float(self._grid.log_z[0])

    def _require_proper_tau(self, what: str) -> None:
        if not getattr(self.tau_prior, "proper", True):
            raise PriorError(f"{what} needs a proper tau prior; {self.tau_prior} is improper")

    def bayes_factor_tau0(self) -> float:
        """Bayes factor BF_01 of tau = 0 (common effect) against the model with the tau prior.

        :math:`BF_{01} = p(y|\\tau = 0) / \\int p(y|\\tau) p(\\tau) d\\tau`; values above 1
        favour homogeneity. The mu prior is the same in both models, so with a flat mu prior
        its arbitrary constant cancels. Needs a proper tau prior.
        """
        self._require_proper_tau("the Bayes factor for tau = 0")
        loglik0 = self._grid.data.conditional(np.zeros((1, 1)))[0][0, 0]
        return float(math.exp(loglik0 - self._grid.log_z[0]))

    def bayes_factor_mu(self, value: float = 0.0) -> float:
        """Savage-Dickey Bayes factor BF_01 of mu = value against the normal mu prior.

        :math:`BF_{01} = p(\\mu = v | y) / p(\\mu = v)` (Dickey 1971; tau has the same prior
        under both hypotheses). A flat mu prior has no density to compare with: its
        Bayes factor is undefined (it grows without bound as the prior sd increases, the
        Jeffreys-Lindley paradox), so a PriorError is raised.
        """
        if self.mu_prior is None:
            raise PriorError(
                "the Bayes factor for mu needs a proper (normal) mu prior; with a flat prior "
                "it is undefined (Jeffreys-Lindley paradox)"
            )
        m0, s0 = self.mu_prior.mean, self.mu_prior.sd
        prior_dens = math.exp(-0.5 * ((value - m0) / s0) ** 2) / (s0 * math.sqrt(2 * math.pi))
        return float(self.mu.pdf(value)) / prior_dens

    def kl_tau(self) -> float:
        """Kullback-Leibler divergence (nats) of the tau posterior from its prior.

        :math:`KL = \\int p(\\tau|y) \\log\\frac{p(\\tau|y)}{p(\\tau)} d\\tau
        = E[\\log p(y|\\tau) \\mid y] - \\log p(y)` (cf. Röver 2020). Proper priors only.
        """
        self._require_proper_tau("the KL divergence")
        g = self._grid
        return float((g.weight[0] * g.loglik[0]).sum() - g.log_z[0])

    def _params(self) -> list[str]:
        return ["mu", "tau", "theta_new", *(f"theta[{lab}]" for lab in self.labels)]

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """One row per parameter: ``mu``, ``tau``, ``theta_new``, then ``theta`` per study.

        Columns :data:`sparsemeta.results.SUMMARY_COLUMNS` (``lower, upper`` the
        equal-tailed interval of probability ``level``) plus ``shortest_lower,
        shortest_upper`` (the shortest interval). The normal-mixture margins (mu,
        theta_new and every theta_i) are solved together, as arrays (in groups of equal
        component count).
        """
        level = _check_level(level, "summary")
        probs = np.array([0.5, (1 - level) / 2, (1 + level) / 2])
        mixtures = [self.mu, self.theta_new, *self.theta.values()]
        found: dict[str, tuple[NDArray[np.float64], tuple[float, float]]] = {}
        moments: dict[str, tuple[float, float]] = {}
        for size in dict.fromkeys(d.means.size for d in mixtures):  # solved in groups
            group = [d for d in mixtures if d.means.size == size]
            m = np.stack([d.means for d in group])
            s = np.stack([d.sds for d in group])
            w = np.stack([d.weights for d in group])
            q = _mixture_quantile(np.tile(probs, (len(group), 1)), m, s, w)
            s_lo, s_hi, ok = _mixture_shortest(m, s, w, level, q[:, 1], q[:, 2])
            mean, sd = _mixture_moments(m, s, w)
            for i, d in enumerate(group):
                short = (s_lo[i], s_hi[i]) if ok[i] else d._shortest_by_search(level)
                found[d.name] = (q[i], short)
                has_mean, has_var = d._exist()  # as NormalMixture.mean and .sd
                moments[d.name] = (
                    float(mean[i]) if has_mean else math.nan,
                    float(sd[i]) if has_var else math.inf,
                )
        tau_q = np.asarray(self.tau.quantile(np.append(probs, level)))  # with q(level)
        found["tau"] = (tau_q[:3], self.tau._shortest_given(level, *tau_q[1:]))
        moments["tau"] = (self.tau.mean, self.tau.sd)
        rows = []
        for param in self._params():
            (median, lo, hi), (short_lo, short_hi) = found[param]
            study = param[6:-1] if param.startswith("theta[") else None
            rows.append(
                {
                    "param": "theta" if study is not None else param,
                    "study": study,
                    "mean": moments[param][0],
                    "sd": moments[param][1],
                    "median": float(median),
                    "lower": float(lo),
                    "upper": float(hi),
                    "shortest_lower": float(short_lo),
                    "shortest_upper": float(short_hi),
                }
            )
        return summary_frame(rows, level)

    def to_frame(self, level: float = 0.95) -> pd.DataFrame:
        """One row per study: ``study, y, se`` and the summary of its shrunken ``theta``."""
        theta = self.summary(level)
        theta = theta[theta["param"] == "theta"].drop(columns="param").reset_index(drop=True)
        theta.insert(1, "y", self.y)
        theta.insert(2, "se", self.se)
        return theta

    def to_dict(self, level: float = 0.95) -> dict[str, Any]:
        """JSON-safe record: inputs, priors, summary rows, and KL / Bayes factors where
        defined (``None`` where not: an improper tau prior or a flat mu prior)."""
        proper_tau = getattr(self.tau_prior, "proper", True)
        mu_prior: Any = (
            "flat"
            if self.mu_prior is None
            else {"mean": self.mu_prior.mean, "sd": self.mu_prior.sd}
        )
        return json_safe(
            {
                "k": self.k,
                "labels": list(self.labels),
                "y": self.y,
                "se": self.se,
                "tau_prior": str(self.tau_prior),
                "mu_prior": mu_prior,
                "level": level,
                "summary": self.summary(level),
                "kl_tau": self.kl_tau() if proper_tau else None,
                "bf_tau0": self.bayes_factor_tau0() if proper_tau else None,
                "bf_mu0": None if self.mu_prior is None else self.bayes_factor_mu(0.0),
            }
        )

    def __str__(self) -> str:
        mu = (
            "flat"
            if self.mu_prior is None
            else f"normal({self.mu_prior.mean:g}, {self.mu_prior.sd:g})"
        )
        head = f"Exact posterior (normal-normal), k = {self.k}; tau prior {self.tau_prior}, mu prior {mu}"
        return head + "\n" + self.summary().to_string(index=False, float_format="%.4g")

    def conditional(self, tau: ArrayLike) -> tuple[NDArray[np.float64], ...]:
        """``log p(y | tau)``, ``m̂(tau)`` and ``V(tau)`` at the given tau values (1-D):
        the conditional posterior of mu given tau is ``N(m̂(tau), V(tau))``."""
        data = _Data(self.y[None, :], self.se[None, :], np.ones((1, self.k), bool), self.mu_prior)
        loglik, mhat, vmu = data.conditional(np.atleast_1d(np.asarray(tau, dtype=float))[None, :])
        return loglik[0], mhat[0], vmu[0]

    def draws(self, n: int, seed: int | None = 0) -> pd.DataFrame:
        """``n`` independent draws of the joint posterior: columns ``tau, mu, theta_new`` and
        ``theta[label]`` (bayesmeta's ``rposterior``).

        ``tau`` by inverting its exact cdf at uniform draws, then
        ``mu | tau, y ~ N(m̂(τ), V(τ))``, ``theta_new | mu, tau ~ N(mu, τ²)`` and
        ``theta_i | mu, tau, y ~ N(b_i mu + (1 - b_i) y_i, (1 - b_i) s_i²)`` with
        ``b_i = s_i²/(s_i² + τ²)`` (Gelman et al. 2013, *Bayesian Data Analysis*, 3rd ed.,
        Sec. 5.4). ``seed`` seeds ``numpy.random.default_rng``: same seed, same draws.
        """
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise DataError(f"draws: n must be a positive integer, got {n!r}")
        rng = np.random.default_rng(seed)
        tau = np.asarray(self.tau.quantile(rng.uniform(size=int(n))), dtype=float)
        _, mhat, vmu = self.conditional(tau)
        mu = mhat + np.sqrt(vmu) * rng.standard_normal(tau.size)
        out = {"tau": tau, "mu": mu, "theta_new": mu + tau * rng.standard_normal(tau.size)}
        se2 = self.se**2
        b = se2[None, :] / (se2[None, :] + tau[:, None] ** 2)
        mean = b * mu[:, None] + (1 - b) * self.y[None, :]
        theta = mean + np.sqrt((1 - b) * se2[None, :]) * rng.standard_normal(mean.shape)
        for i, lab in enumerate(self.labels):
            out[f"theta[{lab}]"] = theta[:, i]
        return pd.DataFrame(out)

    def to_inference_data(self, draws: int = 4000, seed: int | None = 0) -> az.InferenceData:
        """:meth:`draws` as an ArviZ ``InferenceData`` (one chain), so ArviZ tools
        (``az.summary``, ``az.plot_posterior``, ...) work on exact and MCMC results alike.
        Variables ``mu``, ``tau``, ``theta_new`` and ``theta`` (dim ``study``)."""
        import arviz as az

        d = self.draws(draws, seed)
        theta = d[[f"theta[{lab}]" for lab in self.labels]].to_numpy()
        return az.from_dict(
            posterior={
                "mu": d["mu"].to_numpy()[None, :],
                "tau": d["tau"].to_numpy()[None, :],
                "theta_new": d["theta_new"].to_numpy()[None, :],
                "theta": theta[None, :, :],
            },
            coords={"study": list(self.labels)},
            dims={"theta": ["study"]},
        )


def _quantile_name(p: float) -> str:
    return "q" + f"{p:.3f}"[2:]


def posterior(
    y: ArrayLike | Effects | pd.DataFrame,
    se: ArrayLike | None = None,
    tau_prior: TauPriorLike = None,
    mu_prior: MuPriorLike = None,
    labels: Sequence[str] | None = None,
    *,
    measure: str | None = None,
) -> ExactPosterior:
    """Exact posterior of the normal-normal random-effects model.

    Parameters
    ----------
    y : Effects, pandas.DataFrame or array_like
        The studies: an :class:`~sparsemeta.effects.Effects` value, a study table of one
        analysis (with ``measure``), or the study estimates (with ``se``); see
        :func:`sparsemeta.effects.as_effects`. k = 1 warns.
    se : array_like, optional
        Standard errors, when ``y`` holds the estimates.
    tau_prior : prior value, str or None
        Object with ``logpdf(tau)`` (``logpdf(tau, se=se)`` when ``requires_se``),
        ``proper``, optionally ``ppf``; a string is passed to
        :func:`sparsemeta.bayes.priors.parse`; ``None``: the measure's default
        (:data:`sparsemeta.measures.TABLE`; arrays are GENERIC, which has none).
    mu_prior : None, "flat", str, or normal prior with ``mean`` and ``sd``
        Prior of the overall effect mu; ``None``: the measure's default (flat for
        arrays, which are GENERIC); strings such as ``"normal(0, 10)"`` go to
        :func:`sparsemeta.bayes.priors.parse_mu`.
    labels : sequence of str, optional
        Study labels of arrays (default ``"study 1"``, ...).
    measure : str, optional
        The measure of a study table, or the label of arrays (its default priors apply).

    Returns
    -------
    ExactPosterior

    Raises
    ------
    DataError
        Bad study data (NaN, se <= 0, mismatched lengths, duplicate labels), no estimable
        study.
    PriorError
        Bad priors, or an improper posterior (improper tau prior with too few studies).
    """
    eff = as_effects(y, measure, se=se, labels=labels, where="exact.posterior").require(
        "exact.posterior"
    )
    code = eff.measure.code
    prior = priors.tau_prior(tau_prior, code)
    mu = _normal_mu(priors.mu_prior(mu_prior, code))
    _warn_single(eff.studies)
    data = _Data(eff.y[None, :], eff.se[None, :], np.ones((1, eff.k), bool), mu)
    grid = _build_grid(data, prior, _FINE)
    return ExactPosterior(eff.y, eff.se, list(eff.studies), prior, data.mu_prior, grid)


def _warn_single(labels: Sequence[str]) -> None:
    if len(labels) == 1:
        warnings.warn(
            f"only one study (k = 1, {labels[0]}): the data say nothing about tau; the tau "
            "posterior is its prior",
            SingleStudyWarning,
            stacklevel=3,
        )


def _check_batch(Y: ArrayLike, SE: ArrayLike) -> tuple[NDArray[np.float64], ...]:
    y = np.atleast_2d(np.asarray(Y, dtype=float))
    se = np.atleast_2d(np.asarray(SE, dtype=float))
    if y.ndim != 2 or y.shape != se.shape:
        raise DataError(f"Y and SE must be 2-D arrays of equal shape, got {y.shape}, {se.shape}")
    valid = ~np.isnan(y)
    if np.any(valid != ~np.isnan(se)):
        raise DataError("Y and SE must have NaN (missing study) in the same places")
    if np.any(~valid.any(axis=1)):
        raise DataError(f"meta-analysis {int(np.argmin(valid.any(axis=1)))} has no studies")
    if np.any(valid & ~np.isfinite(y)):
        raise DataError("Y contains infinite values")
    bad_se = valid & ~(np.isfinite(se) & (se > 0))
    if np.any(bad_se):
        r, c = np.argwhere(bad_se)[0]
        raise DataError(f"meta-analysis {r}, study {c}: se must be finite and > 0 ({se[r, c]})")
    single = np.flatnonzero(valid.sum(axis=1) == 1)
    if single.size:
        rows = ", ".join(map(str, single[:10])) + (", ..." if single.size > 10 else "")
        warnings.warn(
            f"{single.size} meta-analyses have a single study (k = 1; rows {rows}): their tau "
            "posterior is its prior",
            SingleStudyWarning,
            stacklevel=3,
        )
    return np.where(valid, y, 0.0), np.where(valid, se, 1.0), valid


def posterior_batch(
    Y: ArrayLike,
    SE: ArrayLike,
    tau_prior: TauPriorLike,
    mu_prior: MuPriorLike = None,
    quantiles: Sequence[float] = (0.025, 0.5, 0.975),
    level: float = 0.95,
    shortest: bool = False,
    chunk_size: int = 1000,
    n_jobs: int = 1,
    params: Sequence[str] = _BATCH_PARAMS,
) -> pd.DataFrame:
    """Exact posteriors of many meta-analyses at once (vectorised over rows).

    Parameters
    ----------
    Y, SE : array_like, shape (n_meta, k)
        Estimates and standard errors, one meta-analysis per row; pad ragged rows with NaN
        (in the same places in both).
    tau_prior, mu_prior
        As in :func:`posterior` (shared by all rows).
    quantiles : sequence of float
        Posterior quantiles reported for mu, tau and theta_new.
    level : float
        Probability of the reported intervals.
    shortest : bool
        Report shortest intervals (slower, golden-section search) instead of equal-tailed.
    chunk_size : int
        Rows processed together (bounds memory).
    n_jobs : int
        Threads working on chunks in parallel (numpy releases the GIL in its loops).
    params : sequence of str
        Margins to report, any of ``"mu"``, ``"tau"``, ``"theta_new"`` (default all three);
        e.g. ``("mu",)`` skips the tau and theta_new quantiles (about twice as fast).

    Returns
    -------
    pandas.DataFrame
        One row per meta-analysis: ``k`` and, for ``p`` in ``params`` (in the order mu,
        tau, theta_new), ``{p}_mean, {p}_sd, {p}_q025, ...`` and ``{p}_lower, {p}_upper``
        (the interval).

    Raises
    ------
    DataError
        Shapes differ, NaN in different places, a row without studies, se <= 0, inf;
        quantiles outside [0, 1], a level outside (0, 1), unknown or no ``params``.
    PriorError
        Bad priors, or an improper posterior in any row (e.g. an improper tau prior and a
        row with too few studies).

    Notes
    -----
    Uses a coarser quadrature than :func:`posterior` (about 100 tau nodes instead of about
    850, and a looser quantile tolerance); quantiles agree with it to about 3e-5 of the
    posterior sd (tests require 2e-4).
    """
    y, se, valid = _check_batch(Y, SE)
    prior = _tau_prior(tau_prior)
    mu = _mu_prior(mu_prior)
    qs = _check_probs(quantiles, "posterior_batch, argument 'quantiles'").ravel()
    level = _check_level(level, "posterior_batch")
    names = _check_params(params)
    probs = np.concatenate([qs, [(1 - level) / 2, (1 + level) / 2]])

    def run(start: int) -> dict[str, NDArray[np.float64]]:
        sl = slice(start, start + chunk_size)
        return _batch_chunk(
            _Data(y[sl], se[sl], valid[sl], mu), prior, probs, level, shortest, names
        )

    starts = range(0, y.shape[0], chunk_size)
    if n_jobs > 1:
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            chunks = list(pool.map(run, starts))
    else:
        chunks = [run(start) for start in starts]
    out = {key: np.concatenate([ch[key] for ch in chunks]) for key in chunks[0]}
    columns: dict[str, NDArray[Any]] = {"k": valid.sum(axis=1)}
    for p in names:
        columns[f"{p}_mean"] = out[f"{p}_mean"]
        columns[f"{p}_sd"] = out[f"{p}_sd"]
        for i, q in enumerate(qs):
            columns[f"{p}_{_quantile_name(q)}"] = out[f"{p}_q"][:, i]
        columns[f"{p}_lower"] = out[f"{p}_lower"]
        columns[f"{p}_upper"] = out[f"{p}_upper"]
    return pd.DataFrame(columns)


def _prune(
    weight: NDArray[np.float64], *arrays: NDArray[np.float64], tail: float = 1e-12
) -> tuple[NDArray[np.float64], ...]:
    """Keep, per row, the heaviest nodes holding all but ``tail`` of the mass (renormalised).

    Returns the pruned weights followed by the other (n, N) arrays gathered alike.
    """
    order = np.argsort(-weight, axis=1)
    w_sorted = np.take_along_axis(weight, order, axis=1)
    needed = int((np.cumsum(w_sorted, axis=1) < 1.0 - tail).sum(axis=1).max()) + 1
    keep = order[:, : min(needed, weight.shape[1])]
    w = np.take_along_axis(weight, keep, axis=1)
    return (
        w / w.sum(axis=1, keepdims=True),
        *(np.take_along_axis(a, keep, axis=1) for a in arrays),
    )


def _check_params(params: Sequence[str]) -> tuple[str, ...]:
    """The requested batch margins in canonical order; DataError naming an unknown one."""
    if isinstance(params, str):
        params = (params,)
    try:
        chosen = list(params)
    except TypeError:
        raise DataError(
            f"posterior_batch, argument 'params': expected a sequence of names, got {params!r}"
        ) from None
    unknown = [p for p in chosen if p not in _BATCH_PARAMS]
    if unknown:
        raise DataError(
            f"posterior_batch, argument 'params': unknown parameter {unknown[0]!r}; "
            f"use any of {', '.join(repr(p) for p in _BATCH_PARAMS)}"
        )
    if not chosen:
        raise DataError("posterior_batch, argument 'params': name at least one parameter")
    return tuple(p for p in _BATCH_PARAMS if p in chosen)


def _batch_chunk(
    data: _Data,
    prior: Any,
    probs: NDArray[np.float64],
    level: float,
    shortest: bool,
    names: tuple[str, ...],
) -> dict[str, NDArray[np.float64]]:
    grid = _build_grid(data, prior, _FAST)
    n = data.y.shape[0]
    uniq, inverse = np.unique(probs, return_inverse=True)
    p = np.broadcast_to(uniq, (n, uniq.size))
    weight, mhat, vmu, tau = _prune(grid.weight, grid.mhat, grid.vmu, grid.tau)
    sd_mu = np.sqrt(vmu)
    sd_new = np.sqrt(vmu + tau**2)
    has_mean, has_var = grid.moments_exist
    out: dict[str, NDArray[np.float64]] = {}

    def tau_q(pp: NDArray[np.float64]) -> NDArray[np.float64]:
        return grid.tau_quantile(pp, tol=_BATCH_TOL)

    def mixture_q(sd: NDArray[np.float64]) -> Callable[[NDArray[np.float64]], NDArray[Any]]:
        return lambda pp: _mixture_quantile(pp, mhat, sd, weight, tol=_BATCH_TOL)

    quantile_fns = {"mu": mixture_q(sd_mu), "tau": tau_q, "theta_new": mixture_q(sd_new)}
    for name in names:
        qfun = quantile_fns[name]
        if name == "tau":
            mean = (grid.weight * grid.tau).sum(axis=1)
            sd = np.sqrt((grid.weight * (grid.tau - mean[:, None]) ** 2).sum(axis=1))
        else:
            mean, sd = _mixture_moments(mhat, sd_mu if name == "mu" else sd_new, weight)
        qv = qfun(np.ascontiguousarray(p))[:, inverse]
        if name == "tau":
            mean, sd = np.where(has_mean, mean, np.inf), np.where(has_var, sd, np.inf)
        elif name == "theta_new" or data.mu_prior is None:
            mean, sd = np.where(has_mean, mean, np.nan), np.where(has_var, sd, np.inf)
        out[f"{name}_mean"], out[f"{name}_sd"] = mean, sd
        out[f"{name}_q"] = qv[:, :-2]
        if shortest:
            out[f"{name}_lower"], out[f"{name}_upper"] = _shortest(qfun, level, n, name == "tau")
        else:
            out[f"{name}_lower"], out[f"{name}_upper"] = qv[:, -2], qv[:, -1]
    return out
