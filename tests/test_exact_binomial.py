"""sparsemeta.bayes.exact_binomial: exact binomial-normal posterior.

Expected values come from a brute-force integration written out here (dense trapezoid over
the baseline, Gauss-Hermite over the effect at small tau and a dense trapezoid at larger
tau, Simpson over mu and tau), from the arm-swap symmetry of the model, and from hand
reasoning (improper posteriors, Bayes factors as ratios of integrals).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, interpolate, optimize, special, stats

from sparsemeta.bayes import exact_binomial as eb
from sparsemeta.errors import DataError, PriorError

PROBS = np.array([0.025, 0.5, 0.975])
BASE_SD = math.sqrt(10.0)  # variance-10 baseline prior, as documented for binomial_normal

# k = 3 PIP-like data: zero-event arm (study 2) and a double-zero study (study 3)
K3 = ([12, 3, 0], [40, 30, 25], [5, 0, 0], [41, 28, 26])
# k = 2 with a zero-event treatment arm, as in PIP "secure to insecure"-like rows
K2 = ([0, 8], [46, 14], [6, 1], [54, 54])


def _brute_force(counts, tau_scale, mu_sd, shift=0.5):
    """Quantiles of mu, tau, theta_new and each theta_i by dense quadrature.

    ell_i(theta) = int Bin(r_t | n_t, expit(a + (1 - s) theta)) Bin(r_c | n_c,
    expit(a - s theta)) N(a; 0, 10) da by the trapezoid rule on a 0.01 grid over
    [-45, 45]; L_i(mu, tau) = int ell_i(theta) N(theta; mu, tau^2) dtheta by 40-point
    Gauss-Hermite on a cubic spline of log ell_i for tau < 0.12 and by the trapezoid rule
    on the 0.04 theta grid above; the posterior on a mu (0.04) x tau (0.02, to 6 prior scales) grid
    with Simpson weights (odd point counts); theta_i's density sums ell_i(theta)
    N(theta; mu, tau^2) p(mu, tau) / L_i(mu, tau) over the grid (Gauss-Hermite over mu on a
    spline for tau < 0.12); quantiles from cumulative Simpson integrals and a spline.
    """
    rt, nt, rc, nc = (np.asarray(v, float) for v in counts)
    theta = np.arange(-24.0, 24.0 + 1e-9, 0.04)
    alpha = np.arange(-45.0, 45.0 + 1e-9, 0.01)
    log_prior_a = stats.norm.logpdf(alpha, 0.0, BASE_SD)

    def log_binom(r, n, logit):  # log Bin(r | n, expit(logit)), written out
        coef = special.gammaln(n + 1) - special.gammaln(r + 1) - special.gammaln(n - r + 1)
        return coef + r * special.log_expit(logit) + (n - r) * special.log_expit(-logit)

    ell = np.empty((rt.size, theta.size))
    for i in range(rt.size):
        for lo in range(0, theta.size, 100):
            th = theta[lo : lo + 100, None]
            logf = (
                log_binom(rt[i], nt[i], alpha + (1 - shift) * th)
                + log_binom(rc[i], nc[i], alpha - shift * th)
                + log_prior_a
            )
            ell[i, lo : lo + 100] = integrate.trapezoid(np.exp(logf), alpha, axis=1)
    splines = [interpolate.CubicSpline(theta, np.log(e)) for e in ell]
    steps = round(6.0 * tau_scale / 0.02)  # P(tau > 6 scale) = 2e-9 under the half-normal
    tau = 0.02 * np.arange(steps + 1 + steps % 2)  # odd number of points for Simpson
    gh_x, gh_w = special.roots_hermite(40)
    like = np.empty((tau.size, rt.size, theta.size))  # L_i(mu, tau) with mu on the theta grid
    for t, tv in enumerate(tau):
        if tv < 0.12:
            pts = theta[:, None] + math.sqrt(2.0) * tv * gh_x[None, :]
            for i in range(rt.size):
                like[t, i] = np.exp(splines[i](pts)) @ gh_w / math.sqrt(math.pi)
        else:
            kern = np.exp(-0.5 * ((theta[None, :] - theta[:, None]) / tv) ** 2) * (
                0.04 / (tv * math.sqrt(2 * math.pi))
            )
            like[t] = ell @ kern.T
    mu = theta
    log_post = (
        np.log(like).sum(axis=1)
        + stats.norm.logpdf(mu, 0.0, mu_sd)[None, :]
        + stats.halfnorm.logpdf(tau, scale=tau_scale)[:, None]
    )
    post = np.exp(log_post - log_post.max())

    def simpson_weights(n, step):
        w = np.ones(n)
        w[1:-1:2], w[2:-1:2] = 4.0, 2.0
        return w * step / 3.0

    w_tau, w_mu = simpson_weights(tau.size, 0.02), simpson_weights(mu.size, 0.04)
    post /= (post * w_tau[:, None] * w_mu[None, :]).sum()  # density p(mu, tau | y)
    weight = post * w_tau[:, None] * w_mu[None, :]  # probability of each grid point

    def quantiles(x, dens):
        cdf = integrate.cumulative_simpson(dens, x=x, initial=0.0)
        spl = interpolate.CubicSpline(x, cdf / cdf[-1])
        return np.array([optimize.brentq(lambda v, p=p: spl(v) - p, x[0], x[-1]) for p in PROBS])

    out = {
        "mu": quantiles(mu, (post * w_tau[:, None]).sum(axis=0)),
        "tau": quantiles(tau, (post * w_mu[None, :]).sum(axis=1)),
    }

    # theta_new = mu + tau z: for tau >= 0.12 sum the grid weights times Phi((x - mu)/tau);
    # for smaller tau, E Phi = E_z C_t(x - tau z) with C_t the cumulative of p(mu, tau_t) in
    # mu (cumulative Simpson, splined) and z by Gauss-Hermite
    small = tau < 0.12
    cum = [
        interpolate.CubicSpline(mu, integrate.cumulative_simpson(post[t], x=mu, initial=0.0))
        for t in np.flatnonzero(small)
    ]

    def cdf_new(x):
        big = (weight[~small] * special.ndtr((x - mu[None, :]) / tau[~small, None])).sum()
        pts = x - math.sqrt(2.0) * tau[small, None] * gh_x[None, :]
        low = sum(
            w_tau[t] * (c(pts[j]) @ gh_w) / math.sqrt(math.pi)
            for j, (t, c) in enumerate(zip(np.flatnonzero(small), cum, strict=True))
        )
        return float(big + low)

    out["theta_new"] = np.array(
        [optimize.brentq(lambda v, p=p: cdf_new(v) - p, -20, 20, xtol=1e-10) for p in PROBS]
    )
    for i in range(rt.size):
        # p(theta_i | y) = sum_{mu, tau} w(mu, tau) ell_i(theta) N(theta; mu, tau^2) / L_i
        dens = post[0] * w_tau[0]  # tau = 0: theta_i = mu (the mu grid is the theta grid)
        for t in range(1, tau.size):
            g = post[t] * w_tau[t] / like[t, i]
            if tau[t] < 0.12:  # int g(mu) N(theta; mu, tau^2) dmu by Gauss-Hermite, g splined
                spl = interpolate.CubicSpline(mu, g)
                pts = theta[:, None] + math.sqrt(2.0) * tau[t] * gh_x[None, :]
                dens = dens + ell[i] * (spl(pts) @ gh_w) / math.sqrt(math.pi)
                continue
            g = g * w_mu
            kern = np.exp(-0.5 * ((theta[:, None] - mu[None, :]) / tau[t]) ** 2) / (
                tau[t] * math.sqrt(2 * math.pi)
            )
            dens = dens + ell[i] * (kern @ g)
        out[f"theta[study {i + 1}]"] = quantiles(theta, dens)
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("counts", "tau_scale"),
    [(K2, 0.5), (K3, 1.0)],
    ids=["k2-zero-arm-HN0.5", "k3-double-zero-HN1"],
)
def test_against_brute_force(counts, tau_scale):
    expected = _brute_force(counts, tau_scale, 2.82)
    post = eb.posterior(*counts, f"halfnormal({tau_scale})", "normal(0, 2.82)")
    for name, want in expected.items():
        got = np.asarray(post[name].quantile(PROBS))
        np.testing.assert_allclose(got, want, atol=1e-4, err_msg=name)


def _pip_like():
    # PIP "secure" (Cicchetti 1999a, 2006b) plus a double-zero study of equal arms
    return [31, 8, 0], [46, 14, 30], [9, 1, 0], [54, 54, 30]


@pytest.mark.parametrize("prior", ["halfnormal(0.5)", "halfcauchy(0.5)", "turner2015()"])
def test_arm_swap_negates_every_quantile(prior):
    et, nt, ec, nc = _pip_like()
    post = eb.posterior(et, nt, ec, nc, prior, labels=["a", "b", "c"])
    swap = eb.posterior(ec, nc, et, nt, prior, labels=["a", "b", "c"])
    for name in ("mu", "theta_new", "theta[a]", "theta[b]", "theta[c]"):
        q = np.asarray(post[name].quantile(PROBS))
        q_swap = np.asarray(swap[name].quantile(PROBS[::-1]))
        np.testing.assert_allclose(q, -q_swap, atol=1e-8, err_msg=name)
    np.testing.assert_allclose(post.tau.quantile(PROBS), swap.tau.quantile(PROBS), atol=1e-8)
    assert post.prob("mu", ">", 0.5) == pytest.approx(swap.prob("mu", "<", -0.5), abs=1e-8)


def test_comparator_form_is_not_arm_symmetric():
    # the comparator-baseline model moves a double-zero study's information: arm swap
    # changes the answer (the reason the symmetric form is the default)
    et, nt, ec, nc = [0, 0], [30, 30], [0, 0], [30, 30]
    post = eb.posterior(et, nt, ec, nc, "halfnormal(0.5)", arms="comparator")
    assert post.mu.median < -0.5  # favours effects that lower the treatment risk
    sym = eb.posterior(et, nt, ec, nc, "halfnormal(0.5)")
    assert sym.mu.median == pytest.approx(0.0, abs=1e-9)


def test_double_zero_likelihood_symmetric_in_theta():
    # 0/30 vs 0/30: ell(theta) = ell(-theta) under the symmetric form
    theta = np.array([0.5, 2.0, 4.0])
    counts = tuple(np.array([v], float) for v in (0, 30, 0, 30))
    up = eb._log_effect_likelihood(theta, counts, 0.5, BASE_SD, 32)
    down = eb._log_effect_likelihood(-theta, counts, 0.5, BASE_SD, 32)
    np.testing.assert_allclose(up, down, atol=1e-12)
    asym = eb._log_effect_likelihood(np.array([0.0, 4.0, -4.0]), counts, 0.0, BASE_SD, 32)
    assert asym[0, 2] - asym[0, 1] > 1.0  # comparator form: favours theta < 0
    # issue 11 (independent review): "its likelihood at log OR +4 is 0.105 of its value at 0"
    assert math.exp(asym[0, 1] - asym[0, 0]) == pytest.approx(0.105, abs=5e-4)


def test_bayes_factor_and_marginal_likelihood_are_integrals():
    # BF01(tau = 0) = p(y | tau = 0) / p(y); p(y) = int p(tau) p(y | tau): check with
    # scipy.integrate.quad over tau on the engine's own p(y | tau)
    post = eb.posterior(*K2, "halfnormal(0.5)")
    data = post._grid.data

    def integrand(t):
        return math.exp(data.conditional(np.array([[t]]))[0][0, 0]) * stats.halfnorm.pdf(
            t, scale=0.5
        )

    p_y = integrate.quad(integrand, 0, 8, epsabs=0, epsrel=1e-10, limit=200)[0]
    assert post.log_marginal_likelihood == pytest.approx(math.log(p_y), abs=1e-6)
    p0 = math.exp(data.conditional(np.zeros((1, 1)))[0][0, 0])
    assert post.bayes_factor_tau0() == pytest.approx(p0 / p_y, rel=1e-6)
    # Savage-Dickey: posterior over prior density of mu at 0
    prior0 = stats.norm.pdf(0.0, 0.0, 2.82)
    assert post.bayes_factor_mu(0.0) == pytest.approx(post.mu.pdf(0.0) / prior0, rel=1e-12)


def test_error_estimate_is_small_and_accuracy_settings_agree():
    fast = eb.posterior(*K3, "halfnormal(0.5)", accuracy="fast")
    fine = eb.posterior(*K3, "halfnormal(0.5)", accuracy="fine")
    diff = max(
        np.max(np.abs(np.asarray(fast[p].quantile(PROBS)) - fine[p].quantile(PROBS)))
        for p in ("mu", "tau", "theta_new")
    )
    assert diff < 1e-3
    assert fast.error_estimate() < 1e-3


def test_summary_and_dict():
    post = eb.posterior(*K3, "halfnormal(0.5)", labels=["A", "B", "C"])
    table = post.summary()
    assert list(table["param"]) == ["mu", "tau", "theta_new", "theta", "theta", "theta"]
    assert list(table["study"])[3:] == ["A", "B", "C"]
    assert list(post.to_frame()["events_t"]) == [12, 3, 0]
    record = post.to_dict()
    assert record["events_t"] == [12, 3, 0] and record["arms"] == "symmetric"
    assert record["kl_tau"] > 0


def test_flat_mu_prior_and_bad_input_refused():
    with pytest.raises(PriorError, match="normal mu prior"):
        eb.posterior(*K2, "halfnormal(0.5)", "flat")
    with pytest.raises(PriorError, match="standard errors"):
        eb.posterior(*K2, "uniform_shrinkage")
    with pytest.raises(DataError, match="arms"):
        eb.posterior(*K2, "halfnormal(0.5)", arms="both")
    with pytest.raises(DataError, match="accuracy"):
        eb.posterior(*K2, "halfnormal(0.5)", accuracy="best")
    with pytest.raises(DataError, match="exceed"):
        eb.posterior([5, 1], [4, 10], [1, 1], [10, 10], "halfnormal(0.5)")


@pytest.mark.parametrize(
    ("family", "arms", "counts", "improper"),
    [
        ("binomial-normal", "comparator", ([0, 0], [30, 20], [0, 0], [30, 25]), True),
        ("binomial-rr", "symmetric", ([0, 0], [30, 20], [0, 0], [30, 25]), True),
        ("binomial-normal", "symmetric", ([0, 0], [30, 20], [0, 0], [30, 25]), False),
        ("binomial-normal", "comparator", ([1, 0], [30, 20], [2, 0], [30, 25]), False),
        ("binomial-normal", "comparator", ([0, 0], [30, 20], [2, 0], [30, 25]), True),
        ("binomial-rr", "symmetric", ([1, 0], [30, 20], [3, 0], [30, 25]), False),
    ],
)
def test_flat_mu_propriety(family, arms, counts, improper):
    """Only double-zero studies, by hand: with the comparator baseline, ell(theta) tends to
    int (1 - expit(a))^n_c N(a; 0, 10) da > 0 as theta -> -inf (the treatment risk -> 0
    while the comparator risk keeps its prior); in the RR model the smaller risk -> 0 and
    the larger stays u, so ell -> int_0^1 (1 - u)^n du > 0 at both ends. In the symmetric
    logit form both risks -> 0 only if alpha -> -inf, which the N(0, 10) prior penalises,
    so ell vanishes at both ends. One study with events closes the improper end."""
    arrays = tuple(np.asarray(c, float) for c in counts)
    if improper:
        with pytest.raises(PriorError, match="improper"):
            eb.check_proper(arrays, family, arms, BASE_SD, None)
    else:
        eb.check_proper(arrays, family, arms, BASE_SD, None)
    eb.check_proper(arrays, family, arms, BASE_SD, "normal(0, 2.82)")  # always proper
