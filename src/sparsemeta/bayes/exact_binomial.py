r"""Exact posterior of the binomial-normal model (log odds ratio) by quadrature, no MCMC.

Model (:func:`sparsemeta.bayes.models.binomial_normal`)::

    r_ti ~ Bin(n_ti, p_ti),  r_ci ~ Bin(n_ci, p_ci),
    logit p_ti = alpha_i + (1 - s) theta_i,  logit p_ci = alpha_i - s theta_i,
    alpha_i ~ N(0, sigma_a^2),  theta_i | mu, tau ~ N(mu, tau^2),
    mu ~ N(m_0, s_0^2),  tau ~ p(tau)

with s = 1/2 for the arm-symmetric form (default) and s = 0 for the comparator-baseline form.

Given :math:`(\mu, \tau)` the studies are independent and study i contributes a 2-D
integral over its baseline and its effect. The baseline integral does not involve
:math:`(\mu, \tau)`, so it is done once per study, on a grid of effects:

.. math::

    \ell_i(\theta) = \int \mathrm{Bin}(r_{ti} \mid n_{ti}, p_{ti})\,
        \mathrm{Bin}(r_{ci} \mid n_{ci}, p_{ci})\, N(\alpha; 0, \sigma_a^2)\, d\alpha

by adaptive Gauss-Hermite quadrature (Newton steps to the mode of the concave log
integrand, nodes scaled by its curvature; Liu & Pierce 1994, *Biometrika* 81:624). Then

.. math::

    L_i(\mu, \tau) = \int \ell_i(\theta)\, \phi_\tau(\theta - \mu)\, d\theta,\qquad
    p(\mu, \tau \mid y) \propto p(\tau)\, p(\mu) \prod_i L_i(\mu, \tau).

Grid. :math:`\theta` and :math:`\mu` share one uniform grid of spacing h, chosen a fraction
of the narrowest posterior feature (the smallest per-study likelihood width and the pooled
width at :math:`\tau = 0`) so that trapezoid sums are spectrally accurate, and wide enough to
hold every :math:`\ell_i` and the :math:`\mu` prior to about 8 SD. The Gaussian convolution
giving :math:`L_i` is done by FFT: for :math:`\tau \ge 1.5h` as a linear convolution with the
sampled kernel (exact up to :math:`e^{-2\pi^2\tau^2/h^2}`), for smaller :math:`\tau` by the
Fourier multiplier :math:`e^{-\omega^2\tau^2/2}` (which is the identity at :math:`\tau = 0`).
:math:`\mu` is integrated on the grid (trapezoid), giving :math:`p(y \mid \tau)`; :math:`\tau`
is integrated by the panel Gauss-Legendre quadrature of :mod:`sparsemeta.bayes.exact` (same
break points, cdf, quantiles and intervals).

Margins. Densities on the grid are turned into normal mixtures with components
:math:`N(x_j, h^2)` at the grid points, whose weights are the density deconvolved by
:math:`N(0, h^2)` (a Fourier division; the mixture reproduces the density up to about
:math:`e^{-2\pi^2}`), so the normal-mixture margins of :mod:`sparsemeta.bayes.exact` (cdf,
quantiles, shortest intervals) serve here too:

* :math:`\mu`: :math:`\sum_t w_t\, p(\mu \mid \tau_t, y)`;
* :math:`\theta_\mathrm{new}`: each :math:`\tau` node's mixture for :math:`\mu` with the
  component variance raised by :math:`\tau_t^2` (exact: :math:`\theta_\mathrm{new} = \mu +
  \tau z`);
* :math:`\theta_i`: :math:`p(\theta_i \mid y) = \ell_i(\theta) \sum_t w_t \int
  \frac{p(\mu)\prod_{l \ne i} L_l(\mu, \tau_t)}{p(y \mid \tau_t)}\,
  \phi_{\tau_t}(\theta - \mu)\, d\mu` (the same convolution).

Error estimate. :meth:`BinomialPosterior.error_estimate` refits at the next coarser accuracy
and reports the largest change of the 2.5%, 50% and 97.5% quantiles of mu, tau and theta_new.

Improper posteriors. With a normal mu prior and a proper tau prior the posterior is proper
(each :math:`\ell_i \le 1`). A flat mu prior is refused: with the comparator form and only
double-zero studies it gives an improper posterior (:math:`\ell_i(\theta)` tends to a
positive constant as :math:`\theta \to -\infty`), and otherwise the mu grid would have to
grow with tau; improper tau priors are checked as in :mod:`sparsemeta.bayes.exact` (the
likelihood decays like :math:`\tau^{-k}`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import fft, integrate, special, stats

from sparsemeta.bayes import exact, inputs
from sparsemeta.bayes.priors import MuPriorLike, TauPrior, TauPriorLike
from sparsemeta.errors import DataError, PriorError
from sparsemeta.results import json_safe

__all__ = ["ACCURACY", "BinomialPosterior", "EffectModel", "posterior"]

#: accuracy settings: grid points per narrowest posterior SD, Gauss-Hermite nodes for the
#: baselines, and the tau quadrature (likelihood break points, Gauss-Legendre order).
#: "fast" has a coarser grid than "default" so that :meth:`BinomialPosterior.error_estimate`
#: (the change against the next coarser setting) sees the grid's error too
ACCURACY: dict[str, dict[str, Any]] = {
    "fast": {"per_sd": 2.0, "hermite": 20, "n_breaks": 12, "order": 6},
    "default": {"per_sd": 2.5, "hermite": 32, "n_breaks": 14, "order": 6},
    "fine": {"per_sd": 4.5, "hermite": 48, "n_breaks": 24, "order": 10},
}
_COARSER = {"fine": "default", "default": "fast", "fast": "fast"}

_WIDTH = 8.0  # grid half-width in SDs of each study likelihood and of the mu prior
_LIMIT = 60.0  # the grid never extends beyond +-_LIMIT on the log-odds-ratio scale
_MAX_POINTS = 8192
_SWITCH = 1.5  # tau / h from which the sampled kernel replaces the Fourier multiplier
_TINY = 1e-300
_KEEP = 32  # log_l keeps its evaluations at this many tau values or more
_FLUSH = 1e-40  # smaller spectral factors and densities (relative) are set to 0: subnormal
# numbers would slow the FFTs down a hundredfold and carry no information


_LOG_FLUSH = math.log(_FLUSH)


def _exp(
    log_values: NDArray[np.float64], out: NDArray[np.float64] | None = None
) -> NDArray[np.float64]:
    """exp, with values below :data:`_FLUSH` set to 0 (into ``out``, which may be the input).

    The arguments are clipped first: numpy's exp is several times slower on arguments far
    below -700 (subnormal or zero results).
    """
    values = np.maximum(log_values, _LOG_FLUSH - 1.0, out=out)
    np.exp(values, out=values)
    values[values < _FLUSH] = 0.0
    return values


@functools.cache
def _hermite(n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x, w = special.roots_hermite(n)
    return x, w * np.exp(x * x)  # weights for integrands not divided by exp(-x^2)


def _log_binom_coef(n: NDArray[np.float64], r: NDArray[np.float64]) -> NDArray[np.float64]:
    return special.gammaln(n + 1) - special.gammaln(r + 1) - special.gammaln(n - r + 1)


def _log_effect_likelihood(
    theta: NDArray[np.float64],
    counts: tuple[NDArray[np.float64], ...],
    shift: float,
    baseline_sd: float,
    nodes: int,
) -> NDArray[np.float64]:
    r"""log :math:`\ell_i(\theta)` for every study (rows) at every theta (columns).

    Adaptive Gauss-Hermite quadrature over the baseline alpha: Newton steps (capped at 4 in
    alpha) to the mode of the concave log integrand, then ``nodes`` nodes scaled by the
    curvature there. With :math:`z = \alpha + c\,\theta` an arm's log likelihood is
    :math:`r \log \mathrm{expit}(z) + (n - r) \log \mathrm{expit}(-z) = n \log
    \mathrm{expit}(z) - (n - r) z`, one log-expit per arm.
    """
    rt, nt, rc, nc = (c[:, None] for c in counts)
    off_t, off_c = (1.0 - shift) * theta, -shift * theta  # (N,)
    prec0 = 1.0 / baseline_sd**2
    # start at the pooled log odds, moved to the arms' mean
    pooled = np.log((rt + rc + 0.5) / (nt + nc - rt - rc + 0.5))
    alpha = pooled - 0.5 * (off_t + off_c)  # (k, N)
    events = rt + rc
    for _ in range(40):
        pt_, pc_ = special.expit(alpha + off_t), special.expit(alpha + off_c)
        mt, mc = nt * pt_, nc * pc_
        grad = events - mt - mc - alpha * prec0
        curv = mt * (1.0 - pt_) + mc * (1.0 - pc_) + prec0
        step = np.clip(grad / curv, -4.0, 4.0)
        alpha = alpha + step
        if np.max(np.abs(step)) < 1e-9:  # the quadrature only needs a good centre
            break
    pt_, pc_ = special.expit(alpha + off_t), special.expit(alpha + off_c)
    scale = 1.0 / np.sqrt(nt * pt_ * (1.0 - pt_) + nc * pc_ * (1.0 - pc_) + prec0)
    x, w = _hermite(nodes)
    a = alpha[..., None] + math.sqrt(2.0) * scale[..., None] * x  # (k, N, nodes)
    z_t, z_c = a + off_t[:, None], a + off_c[:, None]
    rt3, nt3, rc3, nc3 = (c[..., None] for c in (rt, nt, rc, nc))
    log_f = (
        nt3 * special.log_expit(z_t)
        - (nt3 - rt3) * z_t
        + nc3 * special.log_expit(z_c)
        - (nc3 - rc3) * z_c
        - (0.5 * prec0) * a * a
    )
    top = log_f.max(axis=-1, keepdims=True)
    integral = np.log(np.exp(log_f - top) @ w) + top[..., 0]
    const = (
        _log_binom_coef(nt, rt)
        + _log_binom_coef(nc, rc)
        - 0.5 * math.log(2 * math.pi * baseline_sd**2)
        + 0.5 * math.log(2.0)
    )
    return integral + np.log(scale) + const


@dataclass
class _Lattice:
    """The common uniform grid of theta and mu, and the FFT layout of its convolutions."""

    x: NDArray[np.float64]  # (N,) grid points
    h: float
    size: int  # FFT length P >= 2N - 1

    @functools.cached_property
    def omega(self) -> NDArray[np.float64]:
        return 2.0 * np.pi * fft.rfftfreq(self.size, d=self.h)

    def kernel_spectra(self, tau: NDArray[np.float64]) -> NDArray[np.float64]:
        """Spectra (m, P//2 + 1) of the N(0, tau^2) smoothing for each tau (see module)."""
        tau = np.asarray(tau, dtype=float).ravel()
        # the multiplier is periodic with period P h: used while the kernel's 6 SD reach
        # stays inside the padding; the sampled kernel (no wrap-around) beyond
        small = tau < (self.size - self.x.size) * self.h / 12.0
        out = np.empty((tau.size, self.omega.size))
        if small.any():
            out[small] = _exp(-0.5 * (self.omega[None, :] * tau[small, None]) ** 2)
        if (~small).any():
            d = np.arange(self.size)
            d = np.where(d <= self.size // 2, d, d - self.size) * self.h
            t = tau[~small, None]
            kern = np.exp(-0.5 * (d[None, :] / t) ** 2) * (self.h / (t * math.sqrt(2 * math.pi)))
            spec = fft.rfft(kern, axis=-1).real
            out[~small] = np.where(np.abs(spec) < _FLUSH, 0.0, spec)
        return out

    def spectrum(self, f: NDArray[np.float64]) -> NDArray[np.complex128]:
        """rfft of f (..., N) continued by its edge values (right edge, then left edge).

        Both edges get the same number of padding points, and an odd padding has the mean
        of the two edge values in its middle: the periodic sequence is then mirrored by
        x -> -x exactly when f is, so a grid symmetric about 0 gives convolutions whose
        values for f(-x) are those for f(x) reversed, to rounding (arm-swap antisymmetry).
        """
        n = self.x.size
        pad = self.size - n
        edge_r = np.repeat(f[..., -1:], pad // 2, axis=-1)
        edge_l = np.repeat(f[..., :1], pad // 2, axis=-1)
        mid = [0.5 * (f[..., -1:] + f[..., :1])] if pad % 2 else []
        return fft.rfft(np.concatenate([f, edge_r, *mid, edge_l], axis=-1), axis=-1)

    def smooth(self, spec: NDArray[np.complex128]) -> NDArray[np.float64]:
        """Grid values (..., N) of the function whose spectrum (..., P//2 + 1) is ``spec``."""
        return fft.irfft(spec, n=self.size, axis=-1)[..., : self.x.size]

    def mixture_weights(self, density: NDArray[np.float64]) -> NDArray[np.float64]:
        """Weights of components N(x_j, h^2) reproducing ``density`` (..., N) on the grid."""
        n = self.x.size
        spec = fft.rfft(density, n=self.size, axis=-1)
        spec = spec * np.exp(0.5 * (self.omega * self.h) ** 2)
        return fft.irfft(spec, n=self.size, axis=-1)[..., :n] * self.h


class _BinomialData:
    """Duck-typed stand-in for :class:`sparsemeta.bayes.exact._Data` (one meta-analysis).

    ``y`` and ``se`` are the means and SDs of the normalised study likelihoods (they only
    place the tau break points); ``conditional(tau)`` integrates mu on the grid.
    """

    def __init__(
        self,
        lattice: _Lattice,
        log_ell: NDArray[np.float64],
        mu_prior: exact._NormalMuPrior,
        y: NDArray[np.float64],
        se: NDArray[np.float64],
        kink: tuple[float, NDArray[np.float64]] | None = None,
    ) -> None:
        self.kink = kink  # (theta_0, jump of d log ell_i / d theta there) or None
        self.lattice = lattice
        self.log_ell = log_ell  # (k, N)
        self.top = log_ell.max(axis=1)
        self.ell = _exp(log_ell - self.top[:, None])
        self.ell_spectrum = lattice.spectrum(self.ell)
        self._kept: dict[bytes, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}
        self.mu_prior = mu_prior
        self.y, self.se = y[None, :], se[None, :]
        self.valid = np.ones_like(self.y, dtype=bool)
        self.complete = True
        x = lattice.x
        self.log_mu_prior = -0.5 * ((x - mu_prior.mean) / mu_prior.sd) ** 2 - math.log(
            mu_prior.sd * math.sqrt(2 * math.pi)
        )

    @property
    def k(self) -> NDArray[np.int64]:
        return self.valid.sum(axis=1)

    @property
    def decay(self) -> NDArray[np.int64]:
        """Power of the large-tau decay of p(y | tau): k (the mu prior is normal)."""
        return self.k

    def log_l(self, tau: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """log L_i(mu_j, tau_t), shape (m, k, N), and the kernel spectra (m, P//2 + 1).

        Evaluations at :data:`_KEEP` or more tau values (the quadrature nodes) are kept:
        the margins and the tau posterior's mode check use them again.
        """
        key = tau.tobytes()
        if key in self._kept:
            return self._kept[key]
        spectra = self.lattice.kernel_spectra(tau)
        log_l = self.lattice.smooth(self.ell_spectrum * spectra[:, None, :])
        if self.kink is not None:
            # Euler-Maclaurin: a kink of ell_i at the node theta_0 adds h^2/12 times the
            # jump of the integrand's derivative to the trapezoid sum (error O(h^4) after)
            at, jump = self.kink
            x, h = self.lattice.x, self.lattice.h
            node = int(np.argmin(np.abs(x - at)))
            t = np.maximum(np.asarray(tau, dtype=float).ravel(), h)[:, None, None]
            phi = np.exp(-0.5 * ((x - at) / t) ** 2) / (t * math.sqrt(2 * math.pi))
            log_l += (h * h / 12.0) * (jump * self.ell[:, node])[None, :, None] * phi
        np.maximum(log_l, _TINY, out=log_l)
        np.log(log_l, out=log_l)
        log_l += self.top[:, None]
        out = log_l, spectra
        if tau.size >= _KEEP:
            self._kept[key] = out
        return out

    def conditional(
        self, tau: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """log p(y | tau), E[mu | tau, y], Var[mu | tau, y] for tau of shape (1, m)."""
        t = np.asarray(tau, dtype=float)
        flat = t.ravel()
        log_joint = self.log_l(flat)[0].sum(axis=1)  # (m, N)
        log_joint += self.log_mu_prior
        top = log_joint.max(axis=1, keepdims=True)
        dens = _exp(np.subtract(log_joint, top, out=log_joint), out=log_joint)
        mass = dens.sum(axis=1)
        loglik = np.log(mass * self.lattice.h) + top[:, 0]
        x = self.lattice.x
        mean = dens @ x / mass
        var = dens @ x**2 / mass - mean**2
        return loglik.reshape(t.shape), mean.reshape(t.shape), var.reshape(t.shape)


def _check_counts(
    events_t: ArrayLike,
    n_t: ArrayLike,
    events_c: ArrayLike,
    n_c: ArrayLike,
    labels: Sequence[Any] | None,
) -> tuple[tuple[NDArray[np.float64], ...], list[str]]:
    counts, labs = inputs.binomial_counts(events_t, n_t, events_c, n_c, labels)
    return tuple(counts[c].astype(float) for c in ("events_t", "n_t", "events_c", "n_c")), labs


def _reference(counts: tuple[NDArray[np.float64], ...]) -> NDArray[np.float64]:
    """SD of each study's log odds ratio with 0.5 added to every cell (a width hint only)."""
    rt, nt, rc, nc = counts
    cells = np.stack([rt, nt - rt, rc, nc - rc]) + 0.5
    return np.sqrt((1.0 / cells).sum(axis=0))


def _lattice(
    log_pre: NDArray[np.float64],
    pre: NDArray[np.float64],
    ref_sd: NDArray[np.float64],
    mu_prior: exact._NormalMuPrior,
    per_sd: float,
    kink: float | None = None,
) -> tuple[_Lattice, NDArray[np.float64], NDArray[np.float64]]:
    """Grid from the study likelihoods on a coarse pre-grid (means, SDs) and their widths.

    The spacing is the narrowest width (per-study SD, continuity-corrected SD, pooled width
    at tau = 0) divided by ``per_sd``; the range holds each likelihood and the mu prior to
    :data:`_WIDTH` SDs, within +-:data:`_LIMIT`. With a ``kink`` (a point where the study
    likelihoods are not smooth) the grid is symmetric about it and has it as a node.
    """
    dens = np.exp(log_pre - log_pre.max(axis=1, keepdims=True))
    dens /= dens.sum(axis=1, keepdims=True)
    mean = dens @ pre
    sd = np.sqrt(np.maximum(dens @ pre**2 - mean**2, 0.0))
    width = np.minimum(np.where(sd > 0, sd, ref_sd), ref_sd)
    pooled = 1.0 / math.sqrt(float((1.0 / width**2).sum()))
    h = min(pooled, float(width.min())) / per_sd
    spread = np.maximum(sd, ref_sd)
    lo = min(float((mean - _WIDTH * spread).min()), mu_prior.mean - _WIDTH * mu_prior.sd)
    hi = max(float((mean + _WIDTH * spread).max()), mu_prior.mean + _WIDTH * mu_prior.sd)
    lo, hi = max(lo, -_LIMIT), min(hi, _LIMIT)
    if kink is not None:
        half = max(hi - kink, kink - lo)
        lo, hi = kink - half, kink + half
    n = math.ceil((hi - lo) / h) + 1
    n += (kink is not None) and n % 2 == 0  # odd: the centre (the kink) is a node
    if n > _MAX_POINTS:
        n = _MAX_POINTS - 1
        h = (hi - lo) / (n - 1)
    x = 0.5 * (lo + hi) + h * (np.arange(n) - 0.5 * (n - 1))  # mirrors under theta -> -theta
    return _Lattice(x, h, fft.next_fast_len(2 * n, real=True)), mean, np.maximum(sd, width)


@dataclass(frozen=True)
class EffectModel:
    """Hook for another effect model with the same structure (theta_i ~ N(mu, tau^2)).

    ``log_likelihood(theta, counts)`` gives log ell_i(theta), shape (k, len(theta));
    ``kink`` is a theta where the ell_i are not smooth (made a grid node), and
    ``per_sd_factor`` refines the grid spacing. Used for
    :mod:`sparsemeta.bayes.exact_binomial_rr`.
    """

    name: str
    log_likelihood: Callable[
        [NDArray[np.float64], tuple[NDArray[np.float64], ...]], NDArray[np.float64]
    ]
    kink: float | None = None
    per_sd_factor: float = 1.0


def _jump(effect: EffectModel, counts: tuple[NDArray[np.float64], ...]) -> NDArray[np.float64]:
    """Jump of d log ell_i / d theta at ``effect.kink`` (one-sided 3-point differences)."""
    d = 1e-4
    at = float(effect.kink)  # type: ignore[arg-type]
    f = effect.log_likelihood(at + d * np.array([-2.0, -1.0, 0.0, 1.0, 2.0]), counts)
    right = (-3.0 * f[:, 2] + 4.0 * f[:, 3] - f[:, 4]) / (2 * d)
    left = (3.0 * f[:, 2] - 4.0 * f[:, 1] + f[:, 0]) / (2 * d)
    return right - left


class BinomialPosterior(exact.ExactPosterior):
    """Exact posterior of the binomial-normal model for one meta-analysis.

    The same interface as :class:`sparsemeta.bayes.exact.ExactPosterior` (margins ``mu``,
    ``tau``, ``theta_new``, ``theta[label]``; ``prob``, ``summary``, ``to_dict``, Bayes
    factors, ``kl_tau``, ``log_marginal_likelihood``), plus :meth:`error_estimate`.
    """

    def __init__(
        self,
        counts: tuple[NDArray[np.float64], ...],
        labels: list[str],
        tau_prior: TauPrior,
        mu_prior: exact._NormalMuPrior,
        arms: str,
        baseline_sd: float,
        accuracy: str,
        effect: EffectModel | None = None,
    ) -> None:
        self.effect = effect
        self.counts, self.labels = counts, labels
        self.tau_prior, self.mu_prior = tau_prior, mu_prior
        self.arms, self.baseline_sd, self.accuracy = arms, baseline_sd, accuracy
        self.k = len(labels)
        cfg = ACCURACY[accuracy]
        shift = 0.5 if arms == "symmetric" else 0.0
        pre = np.linspace(-_LIMIT, _LIMIT, 241)
        kink = None
        if effect is None:
            log_pre = _log_effect_likelihood(pre, counts, shift, baseline_sd, 12)
            lattice, y, se = _lattice(log_pre, pre, _reference(counts), mu_prior, cfg["per_sd"])
            log_ell = _log_effect_likelihood(lattice.x, counts, shift, baseline_sd, cfg["hermite"])
        else:
            per_sd = cfg["per_sd"] * effect.per_sd_factor
            log_pre = effect.log_likelihood(pre, counts)
            ref = _reference(counts)
            lattice, y, se = _lattice(log_pre, pre, ref, mu_prior, per_sd, effect.kink)
            log_ell = effect.log_likelihood(lattice.x, counts)
            kink = None if effect.kink is None else (effect.kink, _jump(effect, counts))
        data = _BinomialData(lattice, log_ell, mu_prior, y, se, kink)
        self.y, self.se = y, se
        self.lattice = lattice
        resolution = exact._Resolution(cfg["n_breaks"], cfg["order"], exact._PRIOR_PROBS_FAST)
        grid = exact._build_grid(data, tau_prior, resolution)  # type: ignore[arg-type]
        self._grid = grid
        self._margins(data, grid)
        self.tau = exact.TauPosterior(grid)

    def _margins(self, data: _BinomialData, grid: exact._Grid) -> None:
        """Margins of mu, theta_new and each theta_i from the quadrature nodes' products.

        The sums over the tau nodes of convolutions with N(0, tau_t^2) are taken in Fourier
        space (one inverse transform per margin); the study likelihoods at the nodes are
        those the tau quadrature computed.
        """
        lat = data.lattice
        w_all = grid.weight[0]
        keep = w_all > 1e-14 * w_all.max()
        w = w_all[keep] / w_all[keep].sum()
        tau = grid.tau[0, keep]
        log_l_all, spectra_all = data.log_l(grid.tau[0])
        log_l, spectra = log_l_all[keep], spectra_all[keep]  # (m, k, N), (m, P//2 + 1)
        log_joint = data.log_mu_prior + log_l.sum(axis=1)  # (m, N)
        log_z = grid.loglik[0, keep]  # log of h * sum_j exp(log_joint), as in conditional
        cond = _exp(log_joint - log_z[:, None])  # p(mu_j | tau_t, y), density
        # mu: mixture from the conditional densities
        x = lat.x
        mu_w = lat.mixture_weights(w @ cond)
        # theta_new: on the grid for tau within reach of the padding, else explicit
        # components N(x_j, h^2 + tau^2) from each tau node's mixture for mu
        near = tau <= (lat.size - x.size) * lat.h / 12.0
        spec_new = w[near] @ (spectra[near] * lat.spectrum(cond[near]))
        new_means, new_sds = [x], [np.full(x.size, lat.h)]
        new_w = [lat.mixture_weights(lat.smooth(spec_new))]
        if (~near).any():
            comp = w[~near, None] * lat.mixture_weights(cond[~near])
            t_idx, j_idx = np.nonzero(np.abs(comp) > 1e-13 * np.abs(comp).max())
            new_means.append(x[j_idx])
            new_sds.append(np.sqrt(lat.h**2 + tau[~near][t_idx] ** 2))
            new_w.append(comp[t_idx, j_idx])
        # theta_i: ell_i(theta) * sum_t w_t (g_it * phi_tau)(theta), g_it = p(mu | tau_t, y)
        # / L_i(mu, tau_t), each scaled by its maximum
        log_rest = np.subtract((log_joint - log_z[:, None])[:, None, :], log_l, out=log_l)
        g_top = log_rest.max(axis=-1)  # (m, k)
        log_rest -= g_top[..., None]
        g_spec = lat.spectrum(_exp(log_rest, out=log_rest))  # (m, k, P//2 + 1)
        scale = np.exp(np.log(w)[:, None] + g_top)  # (m, k)
        spec = np.einsum("tk,tf,tkf->kf", scale, spectra, g_spec, optimize=True)
        post = np.maximum(np.exp(data.log_ell) * lat.smooth(spec), 0.0)
        self._theta_mass = post.sum(axis=1) * lat.h  # 1 up to quadrature error
        theta_w = lat.mixture_weights(post / self._theta_mass[:, None])
        sd_h = np.full(x.size, lat.h)
        # each margin's weights sum to 1: the deconvolution's ringing beyond the grid (cut
        # off with the padding) would otherwise leave a mass defect of up to about 1e-9
        new_weights = np.concatenate(new_w)
        theta_w /= theta_w.sum(axis=1, keepdims=True)
        self.mu = exact.NormalMixture("mu", x, sd_h, mu_w / mu_w.sum())
        self.theta_new = exact.NormalMixture(
            "theta_new",
            np.concatenate(new_means),
            np.concatenate(new_sds),
            new_weights / new_weights.sum(),
            self._tail,
        )
        self.theta = {
            lab: exact.NormalMixture(f"theta[{lab}]", x, sd_h, theta_w[i])
            for i, lab in enumerate(self.labels)
        }

    @property
    def model(self) -> str:
        """Model family: ``"binomial-normal"`` or the ``effect`` hook's name."""
        return "binomial-normal" if self.effect is None else self.effect.name

    def _tail(self) -> tuple[bool, bool]:
        has_mean, has_var = self._grid.moments_exist
        return bool(has_mean[0]), bool(has_var[0])

    def error_estimate(self) -> float:
        """Largest change of the 2.5%, 50%, 97.5% quantiles of mu, tau and theta_new when
        refitted at the next coarser accuracy (at ``"fast"``: against ``"default"``)."""
        other = "default" if self.accuracy == "fast" else _COARSER[self.accuracy]
        ref = BinomialPosterior(
            self.counts,
            self.labels,
            self.tau_prior,
            self.mu_prior,
            self.arms,
            self.baseline_sd,
            other,
            self.effect,
        )
        probs = np.array([0.025, 0.5, 0.975])
        diffs = [
            np.max(np.abs(np.asarray(self[p].quantile(probs)) - ref[p].quantile(probs)))
            for p in ("mu", "tau", "theta_new")
        ]
        return float(max(diffs))

    def to_frame(self, level: float = 0.95) -> pd.DataFrame:
        """One row per study: ``study``, the counts and the summary of its ``theta``."""
        theta = self.summary(level)
        theta = theta[theta["param"] == "theta"].drop(columns="param").reset_index(drop=True)
        for j, name in enumerate(("events_t", "n_t", "events_c", "n_c")):
            theta.insert(1 + j, name, self.counts[j].astype(int))
        return theta

    def to_dict(self, level: float = 0.95) -> dict[str, Any]:
        """JSON-safe record: inputs, priors, summary rows, KL, Bayes factors, log ML."""
        proper_tau = getattr(self.tau_prior, "proper", True)
        rt, nt, rc, nc = (c.astype(int).tolist() for c in self.counts)
        return json_safe(
            {
                "model": self.model,
                "arms": self.arms,
                "k": self.k,
                "labels": list(self.labels),
                "events_t": rt,
                "n_t": nt,
                "events_c": rc,
                "n_c": nc,
                "baseline_sd": self.baseline_sd,
                "accuracy": self.accuracy,
                "tau_prior": str(self.tau_prior),
                "mu_prior": {"mean": self.mu_prior.mean, "sd": self.mu_prior.sd},
                "level": level,
                "summary": self.summary(level),
                "kl_tau": self.kl_tau() if proper_tau else None,
                "bf_tau0": self.bayes_factor_tau0() if proper_tau else None,
                "bf_mu0": self.bayes_factor_mu(0.0),
                "log_marginal_likelihood": self.log_marginal_likelihood if proper_tau else None,
            }
        )

    def __str__(self) -> str:
        m = self.mu_prior
        head = (
            f"Exact posterior ({self.model}, arms {self.arms}), k = {self.k}; tau prior "
            f"{self.tau_prior}, mu prior normal({m.mean:g}, {m.sd:g}), baseline SD "
            f"{self.baseline_sd:.4g}"
        )
        return head + "\n" + self.summary().to_string(index=False, float_format="%.4g")

    def to_inference_data(self, draws: int = 4000, seed: int | None = 0) -> Any:
        """Not available for the binomial engine (mu given tau is not normal here)."""
        raise DataError(
            "to_inference_data: not available for the exact binomial posterior; use its "
            "margins (quantile, cdf) or sparsemeta.sample(..., model='binomial-normal')"
        )


def _log_rr_effect_likelihood(
    theta: float, counts: tuple[NDArray[np.float64], ...]
) -> NDArray[np.float64]:
    """log ell_i(theta) of :func:`sparsemeta.bayes.models.binomial_rr` (uniform baseline u):
    int_0^1 Bin(r_t | n_t, u e^min(theta, 0)) Bin(r_c | n_c, u e^min(-theta, 0)) du."""
    out = []
    for rt, nt, rc, nc in zip(*counts, strict=True):

        def f(u: float, rt: float = rt, nt: float = nt, rc: float = rc, nc: float = nc) -> float:
            p_t, p_c = u * math.exp(min(theta, 0.0)), u * math.exp(min(-theta, 0.0))
            return float(
                math.exp(stats.binom.logpmf(rt, nt, p_t) + stats.binom.logpmf(rc, nc, p_c) + 700.0)
            )

        value = integrate.quad(f, 0.0, 1.0, limit=200, points=[1e-6, 1e-3, 0.1])[0]
        out.append(math.log(value) - 700.0 if value > 0 else -math.inf)
    return np.array(out)


def check_proper(
    counts: tuple[NDArray[np.float64], ...],
    family: str,
    arms: str,
    baseline_sd: float,
    mu_prior: MuPriorLike,
) -> None:
    r"""Raise PriorError when a flat mu prior gives an improper posterior.

    With a flat mu prior and a proper tau prior the posterior is proper exactly when
    :math:`\int \prod_i L_i(\mu, \tau)\, d\mu` is finite; as every :math:`\ell_i \le 1`, it
    is enough that at each end (:math:`\theta \to \pm\infty`) some study's
    :math:`\ell_i` decays, and improper when at one end none does (the product then tends to
    a positive constant). A study's likelihood "decays" at an end when
    :math:`\log\ell_i` drops by more than 1 between :math:`|\theta| = 30` and 60. Typical
    improper case: only double-zero studies with the comparator-baseline logit model or
    the log risk ratio model. A normal mu prior always gives a proper posterior.
    """
    if exact._mu_prior(mu_prior) is not None:
        return
    ends = np.array([-60.0, -30.0, 30.0, 60.0])
    if family == "binomial-rr":
        log_ell = np.stack([_log_rr_effect_likelihood(t, counts) for t in ends], axis=1)
    else:
        shift = 0.5 if arms == "symmetric" else 0.0
        log_ell = _log_effect_likelihood(ends, counts, shift, baseline_sd, 32)
    decays_low = log_ell[:, 0] - log_ell[:, 1] < -1.0
    decays_high = log_ell[:, 3] - log_ell[:, 2] < -1.0
    if not decays_low.any() or not decays_high.any():
        side = "negative" if not decays_low.any() else "positive"
        raise PriorError(
            f"the posterior is improper: with a flat mu prior no study's likelihood "
            f"vanishes for large {side} effects (e.g. only double-zero studies in the "
            f"{family} model{'' if family == 'binomial-rr' else f' with arms={arms!r}'}), so "
            "mu can drift without bound; use a normal mu prior such as 'normal(0, 2.82)'"
        )


def posterior(
    events_t: ArrayLike,
    n_t: ArrayLike,
    events_c: ArrayLike,
    n_c: ArrayLike,
    tau_prior: TauPriorLike,
    mu_prior: MuPriorLike = "normal(0, 2.82)",
    labels: Sequence[Any] | None = None,
    *,
    arms: str = "symmetric",
    baseline_sd: float | None = None,
    accuracy: str = "default",
) -> BinomialPosterior:
    """Exact posterior of the binomial-normal model (log odds ratio).

    Parameters
    ----------
    events_t, n_t, events_c, n_c : array_like
        Events and arm sizes (experimental t, comparator c); zero cells are fine.
    tau_prior : prior value or str
        Any tau prior of :mod:`sparsemeta.bayes.priors` except those built from standard
        errors; improper priors are accepted when the posterior is proper.
    mu_prior : str or normal prior
        Normal prior of mu (default N(0, 2.82^2), Günhan, Röver & Friede 2020); a flat
        prior is refused (see the module notes).
    labels : sequence, optional
        Study labels.
    arms : {"symmetric", "comparator"}
        Arm parameterisation, as in :func:`sparsemeta.bayes.models.binomial_normal`.
    baseline_sd : float, optional
        Prior SD of the baselines (default :data:`sparsemeta.bayes.inputs.BASELINE_SD`).
    accuracy : {"fast", "default", "fine"}
        Grid and quadrature resolution (:data:`ACCURACY`).

    Raises
    ------
    DataError
        Bad counts, labels, ``arms`` or ``accuracy``.
    PriorError
        A flat mu prior, a tau prior that needs standard errors, or an improper posterior.
    """
    counts, labs = _check_counts(events_t, n_t, events_c, n_c, labels)
    if arms not in inputs.ARMS:
        raise DataError(f"arms {arms!r}: use one of {list(inputs.ARMS)}")
    if accuracy not in ACCURACY:
        raise DataError(f"accuracy {accuracy!r}: use one of {list(ACCURACY)}")
    sd = inputs.BASELINE_SD if baseline_sd is None else float(baseline_sd)
    if not (math.isfinite(sd) and sd > 0):
        raise PriorError(f"baseline_sd must be finite and > 0, got {baseline_sd!r}")
    mu = exact._mu_prior(mu_prior)
    if mu is None:
        check_proper(counts, "binomial-normal", arms, sd, None)
        raise PriorError(
            "the exact binomial engine needs a normal mu prior (e.g. 'normal(0, 2.82)'): with a "
            "flat mu prior the posterior can be improper (only double-zero studies) and is "
            "not supported here"
        )
    prior = exact._tau_prior(tau_prior)
    if getattr(prior, "requires_se", False):
        raise PriorError(
            f"tau prior {prior} depends on the study standard errors; use it with the "
            "normal-normal model"
        )
    return BinomialPosterior(counts, labs, prior, mu, arms, sd, accuracy)
