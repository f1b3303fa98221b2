"""Exact posterior of the constrained log-RR model (binomial-rr) vs a brute-force integration.

The reference below integrates the model from scratch: each study's effect likelihood by
scipy.integrate.quad over the baseline u (split at the risks' range), the theta convolution
by Simpson's rule on a dense grid split at theta = 0 (the kink), and mu, tau on dense grids
(cumulative Simpson); quantiles by root finding on a cubic interpolant of the cdf.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, interpolate, optimize, stats

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


def _quantiles(x: np.ndarray, dens: np.ndarray) -> np.ndarray:
    cdf = integrate.cumulative_simpson(dens, x=x, initial=0.0)
    cdf /= cdf[-1]
    spline = interpolate.CubicSpline(x, cdf)
    return np.array(
        [optimize.brentq(lambda v, p=p: spline(v) - p, x[0], x[-1], xtol=1e-12) for p in PROBS]
    )


def _brute(data: tuple, tau_scale: float, mu_sd: float) -> dict[str, np.ndarray]:
    rt, nt, rc, nc = (np.asarray(c) for c in data)
    half = 12.0
    m = 600  # theta points per side of the kink (even: Simpson)
    side = np.linspace(0.0, half, m + 1)
    w_side = _simpson_weights(m + 1, half / m)
    theta = np.concatenate([-side[::-1], side[1:]])
    w_theta = np.concatenate([w_side[::-1], w_side[1:]])
    w_theta[m] = 2 * w_side[0]  # theta = 0 belongs to both halves
    ell = np.array(
        [[_ell(t, rt[i], nt[i], rc[i], nc[i]) for t in theta] for i in range(rt.size)]
    )
    mu = np.linspace(-12.0, 12.0, 1201)
    tau = np.linspace(0.0, 4.0, 801)
    prior_tau = stats.halfnorm.pdf(tau, scale=tau_scale)
    prior_mu = stats.norm.pdf(mu, 0.0, mu_sd)
    joint = np.empty((tau.size, mu.size))
    cond_new = np.empty((tau.size, mu.size))
    # each side of the kink: cubic splines of ell (for the narrow kernels, tau < 0.3)
    splines = [
        (interpolate.CubicSpline(theta[: m + 1], e[: m + 1]), interpolate.CubicSpline(side, e[m:]))
        for e in ell
    ]

    def ell_at(i: int, v: np.ndarray) -> np.ndarray:
        neg, pos = splines[i]
        return np.where(v < 0, neg(np.clip(v, -half, 0)), pos(np.clip(v, 0, half)))

    z_gl, w_gl = np.polynomial.legendre.leggauss(40)
    for j, t in enumerate(tau):
        if t == 0.0:
            lik = np.array([ell_at(i, mu) for i in range(rt.size)])
        elif t < 0.3:  # int ell(mu + t z) phi(z) dz, Gauss-Legendre split at the kink
            lik = np.zeros((rt.size, mu.size))
            z0 = np.clip(-mu / t, -9.0, 9.0)[:, None]
            for lo, hi in ((-9.0, z0), (z0, 9.0)):
                z = 0.5 * (hi - lo) * z_gl[None, :] + 0.5 * (hi + lo)
                wz = 0.5 * (hi - lo) * w_gl[None, :] * stats.norm.pdf(z)
                for i in range(rt.size):
                    lik[i] += (ell_at(i, mu[:, None] + t * z) * wz).sum(axis=1)
        else:
            kern = stats.norm.pdf(theta[None, :], mu[:, None], t) * w_theta[None, :]
            lik = ell @ kern.T
        joint[j] = prior_tau[j] * prior_mu * lik.prod(axis=0)
    # theta_new density on the mu grid: int p(mu, tau) phi_tau(x - mu) dmu dtau
    w_mu = _simpson_weights(mu.size, mu[1] - mu[0])
    for j, t in enumerate(tau):
        if t == 0.0:
            cond_new[j] = joint[j]
        elif t < 0.3:  # int p(x - t z, tau) phi(z) dz, Gauss-Legendre split at the kink
            half_mu = mu.size // 2
            neg = interpolate.CubicSpline(mu[: half_mu + 1], joint[j, : half_mu + 1])
            pos = interpolate.CubicSpline(mu[half_mu:], joint[j, half_mu:])
            cond_new[j] = 0.0
            z0 = np.clip(mu / t, -9.0, 9.0)[:, None]
            for lo, hi in ((-9.0, z0), (z0, 9.0)):
                z = 0.5 * (hi - lo) * z_gl[None, :] + 0.5 * (hi + lo)
                wz = 0.5 * (hi - lo) * w_gl[None, :] * stats.norm.pdf(z)
                v = mu[:, None] - t * z
                val = np.where(v < 0, neg(np.clip(v, mu[0], 0)), pos(np.clip(v, 0, mu[-1])))
                cond_new[j] += (val * wz).sum(axis=1)
        else:
            cond_new[j] = (stats.norm.pdf(mu[:, None], mu[None, :], t) * (joint[j] * w_mu)).sum(1)
    w_tau = _simpson_weights(tau.size, tau[1] - tau[0])
    return {
        "mu": _quantiles(mu, w_tau @ joint),
        "tau": _quantiles(tau, joint @ w_mu),
        "theta_new": _quantiles(mu, w_tau @ cond_new),
    }


@pytest.mark.parametrize("data", [DATA2, DATA2Z, DATA3], ids=["k2", "k2-double-zero", "k3"])
def test_quantiles_match_brute_force(data: tuple) -> None:
    ref = _brute(data, 0.5, 2.82)
    post = exact_binomial_rr.posterior(*data, "halfnormal(0.5)", "normal(0, 2.82)")
    for name in ("mu", "tau", "theta_new"):
        got = np.asarray(post[name].quantile(PROBS))
        np.testing.assert_allclose(got, ref[name], atol=1e-4, rtol=0, err_msg=name)


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
