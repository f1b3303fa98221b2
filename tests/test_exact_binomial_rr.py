"""Exact posterior of the constrained log-RR model (binomial-rr) vs a brute-force integration.

The reference below integrates the model from scratch: each study's effect likelihood by
Simpson's rule over the baseline u (2000 panels; within 1.1e-8 relative of
scipy.integrate.quad, which checks the U-shaped double-zero likelihood below), the theta
convolution by Simpson's rule on a dense grid with theta = 0 (the kink) a panel edge (for
tau < 0.3 by Gauss-Legendre on each side of the kink), and mu, tau on dense grids
(cumulative Simpson); quantiles by root finding on a cubic interpolant of the cdf. The
reference is converged: doubling the tau points or the u panels, or widening the mu/theta
grid from +-20 to +-24 moves no quantile by more than 3e-9, and halving the grid spacing by
no more than 2e-7 (an older reference on +-12 by scipy.integrate.quad over u, 287 s for
k = 2 at load 5, agreed with this one on +-12 to 1.3e-9)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, interpolate, optimize, signal, special, stats

from sparsemeta.bayes import exact_binomial, exact_binomial_rr
from sparsemeta.errors import PriorError

PROBS = np.array([0.025, 0.25, 0.5, 0.75, 0.975])

# zero-event arms and a double-zero study (k = 3), and its first two studies (k = 2)
DATA3 = ([3, 0, 0], [30, 28, 25], [0, 2, 0], [28, 30, 26])
DATA2 = tuple(c[:2] for c in DATA3)
DATA2Z = ([4, 0], [40, 26], [1, 0], [41, 25])  # one double-zero study


def _ell(theta: float, rt: int, nt: int, rc: int, nc: int) -> float:
    """int_0^1 Bin(rc | nc, u min(1, e^-theta)) Bin(rt | nt, u min(1, e^theta)) du."""
    a, b = min(1.0, math.exp(-theta)), min(1.0, math.exp(theta))

    def f(u: float) -> float:
        return float(stats.binom.pmf(rc, nc, u * a) * stats.binom.pmf(rt, nt, u * b))

    return integrate.quad(f, 0.0, 1.0, epsabs=0.0, epsrel=1e-12, limit=400)[0]


def _simpson_weights(n: int, h: float) -> np.ndarray:
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return w * h / 3.0


def _log_pmf(r: int, n: int, p: np.ndarray) -> np.ndarray:
    """log Bin(r | n, p), written out (p = 0 and p = 1 allowed)."""
    coef = special.gammaln(n + 1) - special.gammaln(r + 1) - special.gammaln(n - r + 1)
    return coef + special.xlogy(r, p) + special.xlog1py(n - r, -p)


def _ell_simpson(theta: np.ndarray, rt: int, nt: int, rc: int, nc: int) -> np.ndarray:
    """_ell at every theta by Simpson's rule over u (2000 panels; the integrand is a smooth
    polynomial in u, so the error is far below the tolerance of the quantile tests)."""
    u = np.linspace(0.0, 1.0, 2001)
    p_c = np.minimum(1.0, np.exp(-theta))[:, None] * u
    p_t = np.minimum(1.0, np.exp(theta))[:, None] * u
    return np.exp(_log_pmf(rc, nc, p_c) + _log_pmf(rt, nt, p_t)) @ _simpson_weights(u.size, 5e-4)


def _phi(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _quantiles(x: np.ndarray, dens: np.ndarray) -> np.ndarray:
    cdf = integrate.cumulative_simpson(dens, x=x, initial=0.0)
    cdf /= cdf[-1]
    spline = interpolate.CubicSpline(x, cdf)
    return np.array(
        [optimize.brentq(lambda v, p=p: spline(v) - p, x[0], x[-1], xtol=1e-12) for p in PROBS]
    )


def _split_gauss(
    f_neg: interpolate.CubicSpline,
    f_pos: interpolate.CubicSpline,
    centre: np.ndarray,
    t: np.ndarray,
    sign: float,
) -> np.ndarray:
    """int f(centre + sign t z) phi(z) dz over abs(z) < 9 for each t (rows) and centre
    (columns), by 40-point Gauss-Legendre on each side of the kink of f at 0 (f = f_neg
    below 0, f_pos above)."""
    z_gl, w_gl = np.polynomial.legendre.leggauss(40)
    t = t[:, None, None]
    z0 = np.clip(-sign * centre[None, :, None] / t, -9.0, 9.0)  # where the argument is 0
    out = 0.0
    for lo, hi in ((-9.0, z0), (z0, 9.0)):
        z = 0.5 * (hi - lo) * z_gl + 0.5 * (hi + lo)
        v = centre[None, :, None] + sign * t * z
        val = np.where(
            v < 0, f_neg(np.clip(v, f_neg.x[0], 0.0)), f_pos(np.clip(v, 0.0, f_pos.x[-1]))
        )
        out = out + (val * 0.5 * (hi - lo) * w_gl * _phi(z)).sum(axis=-1)
    return out


def _brute(data: tuple, tau_scale: float, mu_sd: float) -> dict[str, np.ndarray]:
    rt, nt, rc, nc = (np.asarray(c) for c in data)
    k = rt.size
    # theta and mu share one grid (spacing 0.02, theta = 0 a node at a Simpson panel edge);
    # +-20 = 7 SDs of the N(0, 2.82^2) mu prior: where every ell_i stays positive at one end
    # (0/46 vs 6/54 and 0/14 vs 0/54) the mu posterior's tail is the prior's, and +-12 moved
    # a 2.5% quantile by 3.5e-3
    x = np.linspace(-20.0, 20.0, 2001)
    w_x = _simpson_weights(x.size, x[1] - x[0])
    mid = x.size // 2  # x[mid] = 0
    ell = np.array([_ell_simpson(x, rt[i], nt[i], rc[i], nc[i]) for i in range(k)])
    tau = np.linspace(0.0, 4.0, 801)
    prior_tau = stats.halfnorm.pdf(tau, scale=tau_scale)
    prior_mu = stats.norm.pdf(x, 0.0, mu_sd)
    small = tau < 0.3  # narrow kernels: Gauss-Legendre split at the kink, on splines
    lik = np.empty((tau.size, k, x.size))  # L_i(mu_j, tau)
    for i in range(k):
        neg = interpolate.CubicSpline(x[: mid + 1], ell[i, : mid + 1])
        pos = interpolate.CubicSpline(x[mid:], ell[i, mid:])
        lik[0, i] = ell[i]
        lik[1:][small[1:], i] = _split_gauss(neg, pos, x, tau[1:][small[1:]], 1.0)
    # wider kernels: Simpson over theta, sum_l ell(x_l) w_l phi_tau(x_l - x_j), a discrete
    # convolution with the kernel sampled at the grid offsets (evaluated by FFT)
    wide = np.nonzero(~small)[0]
    offsets = (x[1] - x[0]) * np.arange(-(x.size - 1), x.size)
    kern = _phi(offsets[None, :] / tau[wide, None]) / tau[wide, None]  # (wide, 2 N - 1)
    full = signal.fftconvolve((ell * w_x)[None], kern[:, None, :], axes=-1)
    lik[wide] = full[..., x.size - 1 : 2 * x.size - 1]
    joint = prior_tau[:, None] * prior_mu * lik.prod(axis=1)  # (tau, mu)
    # theta_new density on the x grid: int p(mu, tau) phi_tau(x - mu) dmu dtau
    cond_new = np.empty_like(joint)
    cond_new[0] = joint[0]
    for j in np.nonzero(small)[0][1:]:
        neg = interpolate.CubicSpline(x[: mid + 1], joint[j, : mid + 1])
        pos = interpolate.CubicSpline(x[mid:], joint[j, mid:])
        cond_new[j] = _split_gauss(neg, pos, x, tau[j : j + 1], -1.0)[0]
    full = signal.fftconvolve(joint[wide] * w_x, kern, axes=-1)
    cond_new[wide] = full[:, x.size - 1 : 2 * x.size - 1]
    w_tau = _simpson_weights(tau.size, tau[1] - tau[0])
    return {
        "mu": _quantiles(x, w_tau @ joint),
        "tau": _quantiles(tau, joint @ w_x),
        "theta_new": _quantiles(x, w_tau @ cond_new),
    }


# the issue's example without its first study: a zero-event arm and a double-zero study put
# the 2.5% quantile of mu next to the kink (0.13): the hardest case found for the grid
NEAR_KINK = ([3, 0], [30, 25], [0, 0], [28, 26])


@pytest.mark.parametrize(
    "data", [DATA2, DATA2Z, DATA3, NEAR_KINK], ids=["k2", "k2-double-zero", "k3", "near-kink"]
)
def test_quantiles_match_brute_force(data: tuple) -> None:
    ref = _brute(data, 0.5, 2.82)
    post = exact_binomial_rr.posterior(*data, "halfnormal(0.5)", "normal(0, 2.82)")
    worst = 0.0
    for name in ("mu", "tau", "theta_new"):
        got = np.asarray(post[name].quantile(PROBS))
        np.testing.assert_allclose(got, ref[name], atol=1e-4, rtol=0, err_msg=name)
        worst = max(worst, float(np.max(np.abs(got - ref[name])[[0, 2, 4]])))
    # the error estimate (change against the coarser "fast" grid) does not understate the
    # error of the 2.5/50/97.5% quantiles it covers
    assert post.error_estimate() >= worst


# issue 11's PIP-like example (12/40 vs 5/41, 3/30 vs 0/28, 0/25 vs 0/26)
ISSUE3 = ([12, 3, 0], [40, 30, 25], [5, 0, 0], [41, 28, 26])


@pytest.mark.parametrize("data", [DATA3, ISSUE3], ids=["k3", "issue-pip-like"])
def test_arm_swap_negates_quantiles(data: tuple) -> None:
    # swapping the arms maps theta -> -theta in the model (a(theta) and b(theta) trade
    # places), so every effect quantile is negated and tau's are unchanged (issue 11: 1e-8)
    rt, nt, rc, nc = data
    labels = ["a", "b", "c"]
    a = exact_binomial_rr.posterior(rt, nt, rc, nc, "halfnormal(0.5)", labels=labels)
    b = exact_binomial_rr.posterior(rc, nc, rt, nt, "halfnormal(0.5)", labels=labels)
    for name in ("mu", "theta_new", "theta[a]", "theta[b]", "theta[c]"):
        qa, qb = np.asarray(a[name].quantile(PROBS)), np.asarray(b[name].quantile(PROBS))
        np.testing.assert_allclose(qa, -qb[::-1], atol=1e-8, rtol=0, err_msg=name)
    np.testing.assert_allclose(a.tau.quantile(PROBS), b.tau.quantile(PROBS), atol=1e-8, rtol=0)
    assert a.prob("mu", ">", 0.5) == pytest.approx(b.prob("mu", "<", -0.5), abs=1e-8)
    assert a.model == "binomial-rr" and a.to_dict()["model"] == "binomial-rr"


def test_kink_jump_is_one() -> None:
    # d ell/d theta at 0+ is -int u f_c'(u) f_t(u) du, at 0- it is int u f_c(u) f_t'(u) du
    # (f_arm(p) = Bin(r | n, p)), so the jump is -int u (f_c f_t)' du = ell(0) - f_c(1) f_t(1)
    # by parts, and the jump of (log ell)' is 1 unless both arms have all events
    counts = tuple(np.asarray(c, dtype=float) for c in ISSUE3)
    jump = exact_binomial._jump(exact_binomial_rr.EFFECT, counts)
    np.testing.assert_allclose(jump, 1.0, atol=1e-8)


def test_double_zero_effect_likelihood_u_shaped() -> None:
    theta = np.array([-8.0, -1.0, 0.0, 1.0, 8.0])
    log_ell = exact_binomial_rr.log_effect_likelihood(
        theta, (np.array([0.0]), np.array([30.0]), np.array([0.0]), np.array([30.0]))
    )[0]
    direct = np.log([_ell(t, 0, 30, 0, 30) for t in theta])
    np.testing.assert_allclose(log_ell, direct, atol=1e-10)
    assert log_ell[2] < log_ell[1] < log_ell[0]  # U-shaped: smallest at theta = 0
    np.testing.assert_allclose(log_ell, log_ell[::-1], atol=1e-12)  # symmetric


@pytest.mark.parametrize("data", [([0], [30], [0], [30]), ([0, 0], [30, 25], [0, 0], [31, 20])])
def test_flat_mu_refused(data: tuple) -> None:
    with pytest.raises(PriorError, match="improper"):
        exact_binomial_rr.posterior(*data, "halfnormal(0.5)", mu_prior="flat")


def test_flat_mu_refused_even_when_proper() -> None:
    with pytest.raises(PriorError, match="normal mu prior"):
        exact_binomial_rr.posterior(*DATA3, "halfnormal(0.5)", mu_prior="flat")
