"""Tests of sparsemeta.bayes.exact_extras against independent computations.

* joint MAP: ``scipy.optimize.minimize`` (Nelder-Mead) of the joint log posterior
  log p(tau) + log p(mu) + sum log N(y_i; mu, se_i^2 + tau^2), written out here;
* marginal mode of mu and posterior means: brute-force trapezoid integration of the joint
  density on a dense (tau, mu) grid (``_joint_grid``); random draws must match the means
  within Monte Carlo error;
* I²: Higgins & Thompson's (2002) typical within-study variance computed by hand;
* study weights: with the tau prior concentrated at 0 the posterior mean of mu is the
  inverse-variance average with the prior mean as one more datum, so the weights are
  w_i / (sum w + 1/s0^2) (hand calculation);
* conditional moments: the closed form of mu | tau, y (inverse-variance formulas by hand).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from sparsemeta.bayes import exact, exact_extras
from sparsemeta.errors import DataError

Y = np.array([-0.9, -0.2, -0.6, 0.1, -1.4])
SE = np.array([0.4, 0.3, 0.5, 0.25, 0.6])
LABELS = list("ABCDE")


@pytest.fixture(scope="module")
def post():
    return exact.posterior(Y, SE, "halfnormal(0.5)", "normal(0, 4)", LABELS)


def _log_joint(tau: float, mu: float) -> float:
    if tau < 0:
        return -np.inf
    return (
        stats.halfnorm.logpdf(tau, scale=0.5)
        + stats.norm.logpdf(mu, 0, 4)
        + stats.norm.logpdf(Y, mu, np.sqrt(SE**2 + tau**2)).sum()
    )


def _joint_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised joint density on a (tau, mu) grid (trapezoid weights)."""
    tau = np.linspace(0.0, 5.0, 2001)
    mu = np.linspace(-4.0, 3.0, 2801)
    var = SE[:, None, None] ** 2 + tau[None, :, None] ** 2
    log = (
        stats.halfnorm.logpdf(tau, scale=0.5)[:, None]
        + stats.norm.logpdf(mu, 0, 4)[None, :]
        - 0.5 * (np.log(2 * np.pi * var) + (Y[:, None, None] - mu) ** 2 / var).sum(axis=0)
    )
    dens = np.exp(log - log.max())
    z = integrate.trapezoid(integrate.trapezoid(dens, mu, axis=1), tau)
    return tau, mu, dens / z


def test_joint_map_matches_direct_optimisation(post):
    res = optimize.minimize(
        lambda p: -_log_joint(*p),
        x0=[0.3, -0.4],
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 5000},
    )
    got = exact_extras.joint_map(post)
    assert got["tau"] == pytest.approx(res.x[0], abs=1e-5)
    assert got["mu"] == pytest.approx(res.x[1], abs=1e-5)


def test_marginal_mode_and_random_draws_match_brute_force(post):
    tau, mu, dens = _joint_grid()
    marginal_mu = integrate.trapezoid(dens, tau, axis=0)
    assert exact_extras.posterior_mode(post, "mu") == pytest.approx(
        mu[int(np.argmax(marginal_mu))], abs=3e-3
    )
    mean_mu = integrate.trapezoid(marginal_mu * mu, mu)
    mean_tau = integrate.trapezoid(integrate.trapezoid(dens, mu, axis=1) * tau, tau)
    draws = post.draws(40000, seed=7)
    n = len(draws)
    assert abs(draws["tau"].mean() - mean_tau) < 4 * draws["tau"].std() / math.sqrt(n)
    assert abs(draws["mu"].mean() - mean_mu) < 4 * draws["mu"].std() / math.sqrt(n)
    assert list(draws.columns[:3]) == ["tau", "mu", "theta_new"] and "theta[C]" in draws
    assert post.draws(5, seed=1).equals(post.draws(5, seed=1))


def test_i2_posterior(post):
    w = 1 / SE**2
    s2 = (len(Y) - 1) * w.sum() / (w.sum() ** 2 - (w**2).sum())
    i2 = exact_extras.i2_posterior(post)
    assert i2.s2 == pytest.approx(s2)
    tau_med = post.tau.median
    assert i2.median == pytest.approx(tau_med**2 / (tau_med**2 + s2))
    assert float(i2.cdf(i2.median)) == pytest.approx(0.5, abs=1e-8)
    row = i2.summary().iloc[0]
    assert row["param"] == "I2" and 0 < row["lower"] < row["median"] < row["upper"] < 1


def test_study_weights_at_tau_zero_are_inverse_variance():
    post0 = exact.posterior(Y, SE, "halfnormal(1e-7)", "normal(0, 4)", LABELS)
    w = 1 / SE**2
    total = w.sum() + 1 / 16
    weights = exact_extras.study_weights(post0)
    assert weights[LABELS].to_numpy() == pytest.approx(w / total, rel=1e-6)
    assert weights["prior mean"] == pytest.approx((1 / 16) / total, rel=1e-6)


def test_weights_reproduce_posterior_means(post):
    weights = exact_extras.study_weights(post)
    assert weights.sum() == pytest.approx(1.0)
    assert (weights[LABELS] * Y).sum() == pytest.approx(post.mu.mean, abs=1e-10)  # prior mean 0
    shrink = exact_extras.shrinkage_weights(post)
    assert shrink.sum(axis=1).to_numpy() == pytest.approx(np.ones(5))
    means = shrink[LABELS].to_numpy() @ Y
    assert means == pytest.approx([post.theta[lab].mean for lab in LABELS], abs=1e-10)


def test_conditional_moments_by_hand(post):
    tau = 0.3
    w = 1 / (SE**2 + tau**2)
    v = 1 / (w.sum() + 1 / 16)
    m = v * (w * Y).sum()
    table = exact_extras.conditional_moments(post, tau)
    mu = table[table["param"] == "mu"].iloc[0]
    assert (mu["mean"], mu["sd"]) == pytest.approx((m, math.sqrt(v)))
    b = SE[1] ** 2 / (SE[1] ** 2 + tau**2)
    theta_b = table[table["study"] == "B"].iloc[0]
    assert theta_b["mean"] == pytest.approx(b * m + (1 - b) * Y[1])
    assert theta_b["sd"] == pytest.approx(math.sqrt((1 - b) * SE[1] ** 2 + b**2 * v))
    with pytest.raises(DataError):
        exact_extras.conditional_moments(post, -1.0)
