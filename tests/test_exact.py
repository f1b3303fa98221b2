"""Tests of sparsemeta.bayes.exact against independent references.

References used here, none of them our own output:

* brute-force 2-D trapezoid integration of the joint posterior of (mu, tau) on a dense grid,
  written out below (``brute_force``);
* closed forms: a tau prior concentrated at tau0 gives the Gaussian posterior of the
  normal-normal model at tau0 (computed by generic Gaussian conditioning with matrices), and
  a tau prior concentrated at 0 gives the inverse-variance (common-effect) result;
* the worked example of the bayesmeta vignette (Röver, "An introduction to meta-analysis
  using the bayesmeta package", cran/bayesmeta inst/doc/bayesmeta.html), eight-schools data
  of Rubin (1981), half-Cauchy(25) tau prior and N(0, 50^2) mu prior.

Prior objects are small local stand-ins with the interface of ``sparsemeta.bayes.priors``
(``logpdf``, ``ppf``, ``proper``, ``requires_se``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sparsemeta.bayes import exact
from sparsemeta.errors import DataError, PriorError

# ----------------------------------------------------------------------------- stand-in priors


class _ScipyTauPrior:
    """A proper tau prior backed by a frozen scipy distribution on [0, inf)."""

    proper = True
    requires_se = False

    def __init__(self, dist: stats.rv_continuous, label: str) -> None:
        self.dist = dist
        self.label = label

    def logpdf(self, tau):
        tau = np.asarray(tau, dtype=float)
        with np.errstate(divide="ignore"):
            return np.where(tau >= 0, self.dist.logpdf(tau), -np.inf)

    def cdf(self, tau):
        return self.dist.cdf(tau)

    def ppf(self, p):
        return self.dist.ppf(p)

    def __str__(self) -> str:
        return self.label


def halfnormal(scale: float) -> _ScipyTauPrior:
    return _ScipyTauPrior(stats.halfnorm(scale=scale), f"halfnormal({scale})")


def halfcauchy(scale: float) -> _ScipyTauPrior:
    return _ScipyTauPrior(stats.halfcauchy(scale=scale), f"halfcauchy({scale})")


def spike(tau0: float, width: float) -> _ScipyTauPrior:
    """Normal(tau0, width^2) truncated to tau >= 0: a prior concentrated at tau0."""
    a = -tau0 / width
    return _ScipyTauPrior(stats.truncnorm(a, np.inf, loc=tau0, scale=width), f"spike({tau0})")


class UniformTau:
    """Improper uniform prior p(tau) = 1 on [0, inf)."""

    proper = False
    requires_se = False

    def logpdf(self, tau):
        tau = np.asarray(tau, dtype=float)
        return np.where(tau >= 0, 0.0, -np.inf)

    def __str__(self) -> str:
        return "uniform"


class UniformShrinkage:
    """Uniform shrinkage prior (depends on the standard errors; cf. Röver 2020).

    With s0^2 the harmonic mean of the squared standard errors,
    p(tau) = 2 tau s0^2 / (s0^2 + tau^2)^2.
    """

    proper = True
    requires_se = True

    def logpdf(self, tau, se):
        s02 = 1.0 / np.mean(1.0 / np.asarray(se) ** 2)
        tau = np.asarray(tau, dtype=float)
        with np.errstate(divide="ignore"):
            return np.where(tau >= 0, np.log(2 * tau * s02) - 2 * np.log(s02 + tau**2), -np.inf)

    def __str__(self) -> str:
        return "uniform_shrinkage"


class FixedShrinkage:
    """The same density as UniformShrinkage with s0^2 fixed in advance (no se needed)."""

    proper = True
    requires_se = False

    def __init__(self, s02: float) -> None:
        self.s02 = s02

    def logpdf(self, tau):
        tau = np.asarray(tau, dtype=float)
        with np.errstate(divide="ignore"):
            return np.where(
                tau >= 0, np.log(2 * tau * self.s02) - 2 * np.log(self.s02 + tau**2), -np.inf
            )


class NormalMu:
    def __init__(self, mean: float, sd: float) -> None:
        self.mean = mean
        self.sd = sd


# ----------------------------------------------------------------------------- brute force


def _trapz_cdf(x: np.ndarray, dens: np.ndarray) -> np.ndarray:
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(x))])
    return cdf / cdf[-1]


def brute_force(y, se, tau_prior, mu_prior=None, tau_max=6.0, mu_lim=(-6.0, 6.0), n=2001):
    """Joint posterior of (mu, tau) on a dense uniform grid, integrated by trapezoid sums."""
    y, se = np.asarray(y, float), np.asarray(se, float)
    tau = np.linspace(0.0, tau_max, n)
    mu = np.linspace(mu_lim[0], mu_lim[1], n)
    t2 = tau[:, None] ** 2
    logp = np.zeros((n, n)) + tau_prior.logpdf(tau)[:, None]
    for yi, si in zip(y, se, strict=True):
        v = si**2 + t2
        logp = logp - 0.5 * np.log(2 * np.pi * v) - 0.5 * (yi - mu[None, :]) ** 2 / v
    if mu_prior is not None:
        logp = logp + stats.norm.logpdf(mu, mu_prior.mean, mu_prior.sd)[None, :]
    shift = logp.max()
    p = np.exp(logp - shift)
    p_tau = np.trapezoid(p, mu, axis=1)
    p_mu = np.trapezoid(p, tau, axis=0)
    log_evidence = math.log(np.trapezoid(p_tau, tau)) + shift
    cdf_tau, cdf_mu = _trapz_cdf(tau, p_tau), _trapz_cdf(mu, p_mu)
    probs = [0.025, 0.5, 0.975]
    dens_mu = p_mu / np.trapezoid(p_mu, mu)
    dens_tau = p_tau / np.trapezoid(p_tau, tau)
    mu_mean = np.trapezoid(mu * dens_mu, mu)
    return {
        "mu_q": np.interp(probs, cdf_mu, mu),
        "tau_q": np.interp(probs, cdf_tau, tau),
        "mu_mean": mu_mean,
        "mu_sd": math.sqrt(np.trapezoid((mu - mu_mean) ** 2 * dens_mu, mu)),
        "tau_mean": np.trapezoid(tau * dens_tau, tau),
        "p_mu_neg": float(np.interp(0.0, mu, cdf_mu)),
        "tau": tau,
        "dens_tau": dens_tau,
        "log_evidence": log_evidence,
    }


Y2, SE2 = [-0.8, 0.3], [0.45, 0.6]
Y3, SE3 = [0.1, -0.6, 0.9], [0.3, 0.5, 0.4]

# The last field says whether the grid can resolve the moments (sd of mu, mean of tau).
# With a half-Cauchy tau prior and a flat mu prior (k = 3) the tau posterior decays like
# tau^-4 and Var(mu | tau) ~ tau^2 / 3; with the uniform tau prior and a normal mu prior
# (k = 3) it decays like tau^-3. In both, the part of the moment beyond the grid edge T
# shrinks only like 1/T, out of reach of a finite grid (the quantiles are unaffected).
CASES = [
    pytest.param(Y2, SE2, halfnormal(0.5), None, 4.0, (-5.0, 5.0), True, id="k2-HN0.5-flat"),
    pytest.param(
        Y2, SE2, halfcauchy(0.5), NormalMu(0, 3), 60.0, (-12.0, 12.0), True, id="k2-HC0.5-N3"
    ),
    pytest.param(Y3, SE3, halfnormal(1.0), NormalMu(0, 2), 6.0, (-6.0, 6.0), True, id="k3-HN1-N2"),
    pytest.param(Y3, SE3, halfcauchy(0.5), None, 60.0, (-30.0, 30.0), False, id="k3-HC0.5-flat"),
    pytest.param(
        Y3, SE3, UniformTau(), NormalMu(0, 2), 150.0, (-9.0, 9.0), False, id="k3-uniform-N2"
    ),
    pytest.param(
        Y2,
        SE2,
        _ScipyTauPrior(stats.uniform(0, 1.5), "uniform(1.5)"),
        None,
        1.6,
        (-6.0, 6.0),
        True,
        id="k2-uniform(0,1.5)-flat",
    ),
]


@pytest.mark.parametrize(("y", "se", "prior", "mu_prior", "tau_max", "mu_lim", "moments"), CASES)
def test_matches_brute_force_grid(y, se, prior, mu_prior, tau_max, mu_lim, moments):
    bf = brute_force(y, se, prior, mu_prior, tau_max=tau_max, mu_lim=mu_lim)
    post = exact.posterior(y, se, prior, mu_prior)
    probs = [0.025, 0.5, 0.975]
    # Grid error (spacing tau_max/2000, truncation of the tau and mu ranges) is the limit.
    tol = 2e-3
    np.testing.assert_allclose(post.mu.quantile(probs), bf["mu_q"], atol=tol)
    np.testing.assert_allclose(post.tau.quantile(probs), bf["tau_q"], atol=tol, rtol=2e-3)
    assert post.mu.mean == pytest.approx(bf["mu_mean"], abs=tol)
    if moments:
        assert post.mu.sd == pytest.approx(bf["mu_sd"], abs=tol, rel=1e-3)
        assert post.tau.mean == pytest.approx(bf["tau_mean"], abs=tol, rel=5e-3)
    assert post.prob("mu", "<", 0.0) == pytest.approx(bf["p_mu_neg"], abs=5e-4)


# ----------------------------------------------------------------------------- closed forms


def _gaussian_conditioning(y, se, tau0, m0, s0):
    """Posterior of (mu, theta_1..k, theta_new) given y at fixed tau0 by matrix algebra.

    x = (mu, theta, theta_new) is jointly normal a priori: mu ~ N(m0, s0^2),
    theta_i = mu + tau0 e_i, theta_new = mu + tau0 e_new; y = theta + eps, eps ~ N(0, se^2).
    """
    y, se = np.asarray(y, float), np.asarray(se, float)
    k = y.size
    a = np.zeros((k + 2, k + 2))  # x = A z with z = (mu, e_1..k, e_new) independent
    a[:, 0] = 1.0
    a[1:, 1:] = tau0 * np.eye(k + 1)
    cov_z = np.diag([s0**2] + [1.0] * (k + 1))
    mean_x = np.full(k + 2, m0)
    cov_x = a @ cov_z @ a.T
    h = np.zeros((k, k + 2))
    h[:, 1 : k + 1] = np.eye(k)
    s = h @ cov_x @ h.T + np.diag(se**2)
    gain = cov_x @ h.T @ np.linalg.inv(s)
    mean = mean_x + gain @ (y - h @ mean_x)
    cov = cov_x - gain @ h @ cov_x
    return mean, np.sqrt(np.diag(cov))


def test_tau_prior_spike_gives_normal_posterior_at_tau0():
    tau0, m0, s0 = 0.4, 0.2, 1.5
    post = exact.posterior(Y3, SE3, spike(tau0, 1e-4), NormalMu(m0, s0), labels=["a", "b", "c"])
    mean, sd = _gaussian_conditioning(Y3, SE3, tau0, m0, s0)
    dists = [post.mu, post.theta["a"], post.theta["b"], post.theta["c"], post.theta_new]
    for dist, m, s in zip(dists, mean, sd, strict=True):
        assert dist.mean == pytest.approx(m, abs=1e-4)
        assert dist.sd == pytest.approx(s, rel=1e-3)
        assert dist.quantile(0.975) == pytest.approx(m + 1.959964 * s, abs=5e-4)
    assert post.tau.mean == pytest.approx(tau0, abs=1e-4)


def test_tau_prior_spike_with_flat_mu_prior_uses_inverse_variance_formula():
    tau0 = 0.7
    post = exact.posterior(Y2, SE2, spike(tau0, 1e-4))
    w = 1.0 / (np.asarray(SE2) ** 2 + tau0**2)
    m, s = np.sum(w * Y2) / w.sum(), 1.0 / math.sqrt(w.sum())
    assert post.mu.mean == pytest.approx(m, abs=1e-4)
    assert post.mu.sd == pytest.approx(s, rel=1e-3)
    np.testing.assert_allclose(post.mu.interval(0.9), stats.norm(m, s).interval(0.9), atol=5e-4)
    assert post.theta_new.sd == pytest.approx(math.sqrt(s**2 + tau0**2), rel=1e-3)


def test_tau_prior_at_zero_gives_common_effect_result():
    post = exact.posterior(Y3, SE3, halfnormal(1e-7), labels=["a", "b", "c"])
    w = 1.0 / np.asarray(SE3) ** 2
    m, s = np.sum(w * Y3) / w.sum(), 1.0 / math.sqrt(w.sum())
    for dist in (post.mu, post.theta["b"], post.theta_new):
        assert dist.mean == pytest.approx(m, abs=1e-6)
        assert dist.sd == pytest.approx(s, rel=1e-5)
        assert dist.median == pytest.approx(m, abs=1e-6)
    assert post.tau.quantile(0.975) < 1e-6


# ----------------------------------------------------------------------------- worked example

# Rubin (1981) eight schools, as printed in the bayesmeta vignette.
RUBIN_Y = [28.39, 7.94, -2.75, 6.82, -0.64, 0.63, 18.01, 12.16]
RUBIN_SE = [14.9, 10.2, 16.3, 11.0, 9.4, 11.4, 10.4, 17.6]


@pytest.fixture(scope="module")
def schools():
    return exact.posterior(
        RUBIN_Y, RUBIN_SE, halfcauchy(25), NormalMu(0, 50), labels=list("ABCDEFGH")
    )


def test_bayesmeta_vignette_tau(schools):
    # bayesmeta vignette, print(schools.example.1), "marginal posterior summary", tau column;
    # qposterior(tau.p=0.95) and post.interval(tau.level=0.95, method="central").
    # bayesmeta integrates the tau margin numerically, so every printed digit must agree.
    tau = schools.tau
    assert tau.median == pytest.approx(4.758539, abs=5e-7)
    assert tau.mean == pytest.approx(5.884511, abs=5e-7)
    assert tau.sd == pytest.approx(4.869904, abs=5e-7)
    assert tau.interval(0.95, shortest=True) == pytest.approx((0.0, 15.165894), abs=5e-7)
    assert tau.quantile(0.95) == pytest.approx(15.16589, abs=5e-6)
    assert tau.interval(0.95) == pytest.approx((0.2199559, 18.0531718), abs=5e-8)


def test_bayesmeta_vignette_mu_and_shrinkage(schools):
    # Same vignette, mu column, 1 - pposterior(mu=0), qposterior(mu.p=0.95) and
    # schools.example.1$theta[, c("A", "G", "H")]. bayesmeta represents the mu and theta
    # margins by a discrete mixture chosen to bound the divergence from the exact margin
    # (Röver 2020; its arguments delta = 0.01, epsilon = 1e-4), so its printed values carry an
    # approximation error of order 1e-3 of the sd; our values agree with scipy.integrate.quad
    # of the exact margins to 1e-12 (checked by hand; the brute-force tests check the same
    # machinery). Tolerance: 1e-3 of the posterior sd for moments, 4e-3 sd for quantiles.
    mu = schools.mu
    assert mu.median == pytest.approx(7.962961, abs=5e-3)
    assert mu.mean == pytest.approx(7.985729, abs=5e-3)
    assert mu.sd == pytest.approx(4.995762, abs=5e-3)
    assert mu.interval(0.95, shortest=True) == pytest.approx((-1.823353, 17.824562), abs=2e-2)
    assert schools.prob("mu", ">", 0.0) == pytest.approx(0.9487521, abs=1e-4)
    assert mu.quantile(0.95) == pytest.approx(16.11009, abs=2e-2)
    printed = {  # median, mean, sd, 95% lower, 95% upper (shortest)
        "A": (10.093581, 11.095255, 7.901084, -3.209562, 28.169723),
        "G": (9.786985, 10.336032, 6.631039, -2.138807, 24.230908),
        "H": (8.266594, 8.474644, 7.456906, -6.528854, 24.110315),
    }
    for label, (med, mean, sd, lo, hi) in printed.items():
        theta = schools.theta[label]
        assert theta.median == pytest.approx(med, abs=4e-3 * sd)
        assert theta.mean == pytest.approx(mean, abs=1e-3 * sd)
        assert theta.sd == pytest.approx(sd, abs=1e-3 * sd)
        assert theta.interval(0.95, shortest=True) == pytest.approx((lo, hi), abs=4e-3 * sd)


# ----------------------------------------------------------------------------- Bayes factors, KL


def _log_evidence_common_effect(y, se, mu_prior, mu_lim, n=20001):
    mu = np.linspace(mu_lim[0], mu_lim[1], n)
    logp = sum(stats.norm.logpdf(yi, mu, si) for yi, si in zip(y, se, strict=True))
    if mu_prior is not None:
        logp = logp + stats.norm.logpdf(mu, mu_prior.mean, mu_prior.sd)
    return math.log(np.trapezoid(np.exp(logp), mu))


@pytest.mark.parametrize("mu_prior", [NormalMu(0, 2), None], ids=["normal-mu", "flat-mu"])
def test_bayes_factor_tau0_matches_ratio_of_marginal_likelihoods(mu_prior):
    prior = halfnormal(0.5)
    bf = brute_force(Y3, SE3, prior, mu_prior, tau_max=4.0, mu_lim=(-8.0, 8.0))
    log_m0 = _log_evidence_common_effect(Y3, SE3, mu_prior, (-8.0, 8.0))
    post = exact.posterior(Y3, SE3, prior, mu_prior)
    assert post.bayes_factor_tau0() == pytest.approx(
        math.exp(log_m0 - bf["log_evidence"]), rel=2e-3
    )


def test_bayes_factor_mu_savage_dickey_matches_marginal_likelihoods():
    prior, mu_prior = halfcauchy(0.5), NormalMu(0, 1)
    tau = np.linspace(0, 80, 400001)
    loglik0 = sum(
        stats.norm.logpdf(yi, 0.0, np.sqrt(si**2 + tau**2)) for yi, si in zip(Y3, SE3, strict=True)
    )
    log_m0 = math.log(np.trapezoid(np.exp(loglik0 + prior.logpdf(tau)), tau))
    bf = brute_force(Y3, SE3, prior, mu_prior, tau_max=80.0, mu_lim=(-6.0, 6.0), n=3001)
    post = exact.posterior(Y3, SE3, prior, mu_prior)
    assert post.bayes_factor_mu(0.0) == pytest.approx(
        math.exp(log_m0 - bf["log_evidence"]), rel=5e-3
    )
    assert post.log_marginal_likelihood == pytest.approx(bf["log_evidence"], abs=5e-3)


def test_bayes_factor_mu_with_flat_prior_is_refused():
    post = exact.posterior(Y2, SE2, halfnormal(0.5))
    with pytest.raises(PriorError, match="Lindley"):
        post.bayes_factor_mu()


def test_kl_divergence_matches_brute_force_and_is_positive():
    prior = halfnormal(1.0)
    bf = brute_force(Y3, SE3, prior, None, tau_max=6.0, mu_lim=(-6.0, 6.0))
    tau, dens = bf["tau"], bf["dens_tau"]
    prior_dens = np.exp(prior.logpdf(tau))
    integrand = np.where(dens > 0, dens * np.log(np.maximum(dens, 1e-300) / prior_dens), 0.0)
    kl_grid = np.trapezoid(integrand, tau)
    post = exact.posterior(Y3, SE3, prior)
    assert post.kl_tau() == pytest.approx(kl_grid, abs=2e-4)
    rng = np.random.default_rng(7)
    for _ in range(5):
        k = int(rng.integers(2, 6))
        se = rng.uniform(0.1, 1.0, k)
        p = exact.posterior(rng.normal(0, 1, k), se, halfcauchy(0.5))
        assert p.kl_tau() >= 0.0


def test_kl_gets_small_when_prior_is_much_narrower_than_the_data_can_resolve():
    post = exact.posterior(Y3, SE3, halfnormal(1e-3))
    assert 0.0 <= post.kl_tau() < 1e-5


def test_improper_prior_refuses_kl_and_bayes_factor():
    post = exact.posterior(Y3, SE3, UniformTau())
    with pytest.raises(PriorError, match="proper"):
        post.kl_tau()
    with pytest.raises(PriorError, match="proper"):
        post.bayes_factor_tau0()


# ----------------------------------------------------------------------------- improper posteriors


def test_improper_posterior_is_detected():
    with pytest.raises(PriorError, match="improper"):
        exact.posterior(Y2, SE2, UniformTau())  # flat mu, k = 2: tail ~ tau^-1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(PriorError, match="improper"):
            exact.posterior([0.3], [0.2], UniformTau(), NormalMu(0, 1))  # tail ~ tau^-1
    # Proper posteriors with the same improper prior.
    assert exact.posterior(Y3, SE3, UniformTau()).tau.mean > 0
    assert exact.posterior(Y2, SE2, UniformTau(), NormalMu(0, 1)).tau.mean > 0


def test_se_dependent_prior_gets_the_standard_errors():
    s02 = 1.0 / np.mean(1.0 / np.asarray(SE3) ** 2)
    a = exact.posterior(Y3, SE3, UniformShrinkage())
    b = exact.posterior(Y3, SE3, FixedShrinkage(s02))
    assert a.tau.median == pytest.approx(b.tau.median, rel=1e-10)
    assert a.mu.interval(0.95) == pytest.approx(b.mu.interval(0.95), rel=1e-10)


# ----------------------------------------------------------------------------- distribution API


@pytest.fixture(scope="module")
def post3():
    return exact.posterior(Y3, SE3, halfcauchy(0.5), labels=["a", "b", "c"])


def test_cdf_and_quantile_are_inverse(post3):
    probs = np.array([0.001, 0.025, 0.3, 0.5, 0.9, 0.999])
    for name in ("mu", "tau", "theta_new", "a", "theta[c]"):
        dist = post3[name]
        np.testing.assert_allclose(dist.cdf(dist.quantile(probs)), probs, atol=1e-9)


def test_pdf_integrates_to_one_and_is_the_cdf_slope(post3):
    for dist, grid in (
        (post3.mu, np.linspace(-40, 40, 20001)),
        (post3.tau, np.linspace(0, 40, 20001)),
    ):
        dens = dist.pdf(grid)
        assert np.trapezoid(dens, grid) == pytest.approx(
            dist.cdf(40.0) - dist.cdf(grid[0]), abs=1e-6
        )
        x, h = 0.37, 1e-5
        assert dist.pdf(x) == pytest.approx((dist.cdf(x + h) - dist.cdf(x - h)) / (2 * h), rel=1e-5)
    assert post3.tau.pdf(-1.0) == 0.0
    assert post3.tau.cdf(-1.0) == 0.0


def test_shortest_interval_has_equal_density_ends_and_right_mass(post3):
    for name in ("mu", "theta_new", "b"):
        dist = post3[name]
        lo, hi = dist.interval(0.9, shortest=True)
        assert dist.cdf(hi) - dist.cdf(lo) == pytest.approx(0.9, abs=1e-8)
        assert dist.pdf(lo) == pytest.approx(dist.pdf(hi), rel=1e-4)
        c_lo, c_hi = dist.interval(0.9)
        assert hi - lo <= c_hi - c_lo + 1e-12
    lo, hi = post3.tau.interval(0.95, shortest=True)  # density highest at tau = 0
    assert lo == 0.0
    assert hi == pytest.approx(post3.tau.quantile(0.95), rel=1e-10)


def test_prob_directions(post3):
    below = post3.prob("mu", "<", 0.1)
    assert post3.prob("mu", ">=", 0.1) == pytest.approx(1.0 - below)
    assert post3.prob("tau", ">", 0.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="op"):
        post3.prob("mu", "==", 0.0)
    with pytest.raises(KeyError):
        post3.prob("nonsense", "<", 0.0)


def test_summary_and_to_dict(post3):
    df = post3.summary()
    assert list(df.columns) == [
        "param",
        "study",
        "mean",
        "sd",
        "median",
        "lower",
        "upper",
        "level",
        "shortest_lower",
        "shortest_upper",
    ]
    assert list(df["param"]) == ["mu", "tau", "theta_new", "theta", "theta", "theta"]
    assert list(df["study"].iloc[3:]) == ["a", "b", "c"] and df["study"].iloc[:3].isna().all()
    row = df.set_index("study").loc["b"]
    assert row["upper"] == pytest.approx(post3.theta["b"].quantile(0.975))
    assert row["level"] == 0.95
    row90 = post3.summary(level=0.9).set_index("study").loc["b"]
    assert row90["lower"] == pytest.approx(post3.theta["b"].quantile(0.05))
    record = post3.to_dict()
    assert record["labels"] == ["a", "b", "c"]
    assert record["mu_prior"] == "flat"
    assert record["bf_mu0"] is None
    assert record["kl_tau"] == pytest.approx(post3.kl_tau())
    assert len(record["summary"]) == 6


def _narrowest_on_a_grid(dist, level, n=201):
    """Shortest interval by its definition, brute force: the narrowest [q(a), q(a + level)]
    over a grid of lower tail probabilities a in [0, 1 - level], refined once around the
    best a (a = 0 gives [0, q(level)] for tau and an infinite width on the real line)."""
    a = np.linspace(0.0, 1.0 - level, n)
    for _ in range(2):
        lo, hi = dist.quantile(a), dist.quantile(a + level)
        i = int(np.argmin(hi - lo))
        step = a[1] - a[0]
        a = np.linspace(max(a[i] - step, 0.0), min(a[i] + step, 1.0 - level), n)
    return lo[i], hi[i]


LOGNORMAL_TAU = _ScipyTauPrior(stats.lognorm(0.87, scale=math.exp(-1.28)), "lognormal")


@pytest.mark.parametrize(
    ("y", "se", "prior"),
    [
        pytest.param(Y3, SE3, LOGNORMAL_TAU, id="tau-interval-two-sided"),
        pytest.param(Y3, SE3, halfnormal(0.5), id="tau-interval-from-zero"),
        pytest.param([0.1, -0.6, 0.9, 1.2], [0.3, 0.5, 0.4, 0.3], halfnormal(1.0), id="k4"),
    ],
)
def test_summary_shortest_intervals_match_brute_force(y, se, prior):
    post = exact.posterior(y, se, prior, labels=[f"s{i}" for i in range(len(y))])
    table = post.summary(level=0.9)
    for _, row in table.iterrows():
        param = row["param"] if pd.isna(row["study"]) else f"theta[{row['study']}]"
        dist = post[param]
        lo, hi = row["shortest_lower"], row["shortest_upper"]
        assert dist.cdf(hi) - dist.cdf(lo) == pytest.approx(0.9, abs=1e-8), param
        grid_lo, grid_hi = _narrowest_on_a_grid(dist, 0.9)
        assert hi - lo <= (grid_hi - grid_lo) * (1 + 1e-9), param
        # the grid's a is off by up to half a step (2.5e-6), moving the ends by that / density
        assert (lo, hi) == pytest.approx((grid_lo, grid_hi), abs=1e-4 * (hi - lo)), param
        assert (lo, hi) == pytest.approx(dist.interval(0.9, shortest=True), abs=1e-9)
        assert row["median"] == pytest.approx(dist.quantile(0.5), rel=1e-9, abs=1e-12)
        assert (row["lower"], row["upper"]) == pytest.approx(dist.interval(0.9), rel=1e-9)


def test_tau_interval_from_zero_when_the_density_there_beats_its_upper_end():
    """The tau density peaks away from 0, yet [0, q(0.9)] is the shortest interval."""
    tau = exact.posterior(Y3, SE3, halfnormal(0.5)).tau
    assert tau.pdf(np.linspace(0.0, 1.0, 201)).max() > tau.pdf(0.0) > tau.pdf(tau.quantile(0.9))
    assert tau.interval(0.9, shortest=True) == (0.0, pytest.approx(tau.quantile(0.9), rel=1e-12))


def test_two_sided_tau_interval_has_equal_density_ends():
    tau = exact.posterior(Y3, SE3, LOGNORMAL_TAU).tau
    lo, hi = tau.interval(0.9, shortest=True)
    assert lo > 0.0
    assert tau.pdf(lo) == pytest.approx(tau.pdf(hi), rel=1e-6)


def test_bad_method_arguments_raise_data_error_naming_the_method(post3):
    with pytest.raises(DataError, match=r"mu\.interval: level .* got 2\.0"):
        post3.mu.interval(2.0)
    with pytest.raises(DataError, match=r"summary: level .* got 1\.5"):
        post3.summary(level=1.5)
    with pytest.raises(DataError, match=r"tau\.quantile: probabilities .* got -0\.1"):
        post3.tau.quantile([0.5, -0.1])
    with pytest.raises(DataError, match=r"theta\[b\]\.quantile: probabilities"):
        post3.theta["b"].quantile(math.nan)
    with pytest.raises(DataError, match="unknown comparison operator op='!='"):
        post3.prob("mu", "!=", 0.0)


def test_text_effects_name_the_study():
    with pytest.raises(DataError, match="study 'B': effect y must be a number, got 'x'"):
        exact.posterior([0.1, "x"], [0.2, 0.3], halfnormal(0.5), labels=["A", "B"])
    with pytest.raises(DataError, match="study 'study 2': standard error se must be a number"):
        exact.posterior([0.1, 0.2], [0.3, "abc"], halfnormal(0.5))


def test_shrinkage_pulls_estimates_towards_the_mean(post3):
    for label, yi in zip("abc", Y3, strict=True):
        theta = post3.theta[label].mean
        assert min(yi, post3.mu.mean) <= theta <= max(yi, post3.mu.mean)
    assert post3.theta_new.sd > post3.mu.sd


# ----------------------------------------------------------------------------- batch


def test_batch_matches_single_fits():
    rng = np.random.default_rng(3)
    se = rng.uniform(0.1, 1.2, (12, 4))
    y = rng.normal(0, np.sqrt(se**2 + 0.2))
    se[:4, 3] = np.nan  # ragged: the first four meta-analyses have three studies
    y[:4, 3] = np.nan
    prior = halfcauchy(0.5)
    df = exact.posterior_batch(y, se, prior, NormalMu(0, 3), n_jobs=2, chunk_size=5)
    assert list(df["k"]) == [3] * 4 + [4] * 8
    for r in range(12):
        ok = ~np.isnan(y[r])
        single = exact.posterior(y[r, ok], se[r, ok], prior, NormalMu(0, 3))
        for name in ("mu", "tau", "theta_new"):
            dist = single[name]
            got = df.loc[r, [f"{name}_q025", f"{name}_q500", f"{name}_q975"]].to_numpy(float)
            np.testing.assert_allclose(got, dist.quantile([0.025, 0.5, 0.975]), atol=2e-4 * dist.sd)
            assert df.loc[r, f"{name}_lower"] == pytest.approx(got[0])
            assert df.loc[r, f"{name}_mean"] == pytest.approx(dist.mean, abs=2e-4 * dist.sd)
            assert df.loc[r, f"{name}_sd"] == pytest.approx(dist.sd, rel=2e-4)


def test_batch_shortest_intervals_match_single_fit():
    y, se = np.array([Y3, [0.5, 0.2, -0.1]]), np.array([SE3, [0.2, 0.3, 0.25]])
    df = exact.posterior_batch(y, se, halfnormal(0.5), shortest=True, level=0.9)
    for r in range(2):
        single = exact.posterior(y[r], se[r], halfnormal(0.5))
        for name in ("mu", "tau", "theta_new"):
            dist = single[name]
            lo, hi = dist.interval(0.9, shortest=True)
            assert df.loc[r, f"{name}_lower"] == pytest.approx(lo, abs=1e-3 * dist.sd)
            assert df.loc[r, f"{name}_upper"] == pytest.approx(hi, abs=1e-3 * dist.sd)


def test_batch_params_selects_margins_and_keeps_their_values():
    rng = np.random.default_rng(11)
    se = rng.uniform(0.1, 0.8, (30, 2))
    y = rng.normal(0.0, np.sqrt(se**2 + 0.1))
    full = exact.posterior_batch(y, se, halfnormal(0.5))
    mu_only = exact.posterior_batch(y, se, halfnormal(0.5), params=("mu",))
    assert list(mu_only.columns) == [
        "k",
        "mu_mean",
        "mu_sd",
        "mu_q025",
        "mu_q500",
        "mu_q975",
        "mu_lower",
        "mu_upper",
    ]
    np.testing.assert_array_equal(mu_only.to_numpy(), full[mu_only.columns].to_numpy())
    two = exact.posterior_batch(y, se, halfnormal(0.5), params=["theta_new", "mu"])
    assert [c for c in two.columns if c.endswith("_mean")] == ["mu_mean", "theta_new_mean"]
    assert [c for c in full.columns if c.endswith("_mean")] == [
        "mu_mean",
        "tau_mean",
        "theta_new_mean",
    ]


@pytest.mark.parametrize(
    ("params", "match"),
    [(("sigma",), "unknown parameter 'sigma'"), ((), "at least one"), (3, "sequence")],
)
def test_batch_bad_params(params, match):
    with pytest.raises(DataError, match=match):
        exact.posterior_batch([[0.1, 0.2]], [[0.2, 0.3]], halfnormal(0.5), params=params)


@pytest.mark.parametrize(
    ("y", "se", "match"),
    [
        ([[0.1, 0.2]], [[0.1, 0.2, 0.3]], "shape"),
        ([[0.1, np.nan]], [[0.1, 0.2]], "NaN"),
        ([[np.nan, np.nan]], [[np.nan, np.nan]], "no studies"),
        ([[0.1, 0.2]], [[0.1, 0.0]], "se"),
        ([[0.1, np.inf]], [[0.1, 0.2]], "infinite"),
    ],
)
def test_batch_bad_input(y, se, match):
    with pytest.raises(DataError, match=match):
        exact.posterior_batch(y, se, halfnormal(0.5))


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("y", "se", "labels", "match"),
    [
        ([0.1, 0.2], [0.1], None, "2 values but se has 1"),
        ([0.1, np.nan], [0.1, 0.2], None, "not finite"),
        ([0.1, 0.2], [0.1, np.nan], None, "se must be"),
        ([0.1, 0.2], [0.1, 0.0], None, "se must be"),
        ([0.1, 0.2], [0.1, -0.3], None, "se must be"),
        ([0.1, 0.2], [0.1, np.inf], None, "se must be"),
        ([], [], None, "no studies"),
        ([[0.1, 0.2]], [[0.1, 0.2]], None, "one-dimensional"),
        ([0.1, 0.2], [0.1, 0.2], ["a"], "labels"),
        ([0.1, 0.2], [0.1, 0.2], ["a", "a"], "unique"),
    ],
)
def test_bad_study_data_raises_data_error(y, se, labels, match):
    with pytest.raises(DataError, match=match):
        exact.posterior(y, se, halfnormal(0.5), labels=labels)


def test_single_study_warns_but_works():
    with pytest.warns(UserWarning, match="k = 1"):
        post = exact.posterior([0.4], [0.3], halfnormal(0.5))
    # k = 1, flat mu: the data carry no information on tau, so the posterior is the prior.
    assert post.tau.median == pytest.approx(halfnormal(0.5).ppf(0.5), rel=1e-8)
    assert post.kl_tau() == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize(
    "mu_prior", [NormalMu(0.0, 0.0), NormalMu(0.0, -1.0), NormalMu(np.nan, 1.0), "normal", 3.0]
)
def test_bad_mu_prior_raises_prior_error(mu_prior):
    with pytest.raises(PriorError):
        exact.posterior(Y2, SE2, halfnormal(0.5), mu_prior)


def test_bad_tau_prior_raises_prior_error():
    with pytest.raises(PriorError, match="logpdf"):
        exact.posterior(Y2, SE2, object())


# ----------------------------------------------------------------------------- real priors


def test_works_with_sparsemeta_priors():
    from sparsemeta.bayes import priors

    ours = exact.posterior(Y3, SE3, "halfnormal(0.5)", "normal(0, 2)")
    stand_in = exact.posterior(Y3, SE3, halfnormal(0.5), NormalMu(0, 2))
    assert ours.tau.quantile(0.9) == pytest.approx(stand_in.tau.quantile(0.9), rel=1e-10)
    assert ours.mu.interval(0.95) == pytest.approx(stand_in.mu.interval(0.95), rel=1e-10)
    flat = exact.posterior(Y3, SE3, priors.parse("halfcauchy(0.5)"), priors.Flat())
    assert flat.mu.mean == pytest.approx(exact.posterior(Y3, SE3, halfcauchy(0.5)).mu.mean)
    # Jeffreys (improper, depends on se): tail ~ tau^-1, so with a flat mu prior the posterior
    # is proper for k >= 2 and improper for k = 1.
    jeffreys = priors.parse("jeffreys")
    assert exact.posterior(Y2, SE2, jeffreys).tau.median > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(PriorError, match="improper"):
            exact.posterior([0.2], [0.3], jeffreys)


def test_bounded_uniform_prior_against_multivariate_normal_likelihood():
    # Independent route to p(y | tau) with a normal mu prior: y ~ MVN(m0 1, D + s0^2 1 1'),
    # D = diag(se^2 + tau^2); then a fine 1-D trapezoid over the bounded support [0, 1.5].
    prior, m0, s0 = _ScipyTauPrior(stats.uniform(0, 1.5), "uniform(1.5)"), 0.3, 1.2
    tau = np.linspace(0.0, 1.5, 30001)
    se2 = np.asarray(SE3) ** 2
    # the MVN density written out for all tau at once (log det and quadratic form of each
    # 3 x 3 covariance); scipy's multivariate_normal.pdf at one tau checks the formula
    cov = se2[None, :, None] * np.eye(3) + (tau**2)[:, None, None] * np.eye(3) + s0**2
    resid = np.asarray(Y3, float) - m0
    _, logdet = np.linalg.slogdet(cov)
    quad = np.einsum("i,tij,j->t", resid, np.linalg.inv(cov), resid)
    lik = np.exp(-0.5 * (3 * math.log(2 * math.pi) + logdet + quad))
    assert lik[12345] == pytest.approx(
        stats.multivariate_normal.pdf(Y3, np.full(3, m0), cov[12345]), rel=1e-12
    )
    dens = lik / 1.5
    evidence = np.trapezoid(dens, tau)
    post = exact.posterior(Y3, SE3, prior, NormalMu(m0, s0))
    assert post.log_marginal_likelihood == pytest.approx(math.log(evidence), abs=1e-7)
    assert post.tau.mean == pytest.approx(np.trapezoid(tau * dens, tau) / evidence, abs=1e-7)
    assert post.tau.cdf(1.0) == pytest.approx(
        np.trapezoid(dens[:20001], tau[:20001]) / evidence, abs=1e-7
    )


def test_moments_that_do_not_exist_are_reported_as_such():
    # Half-Cauchy prior (tail tau^-2), flat mu prior: p(y | tau) ~ tau^-(k - 1), so for k = 2
    # the tau posterior decays like tau^-3: E[tau] is finite, E[tau^2] is not, and
    # Var(mu | tau) ~ tau^2 / 2 makes the sds of mu and theta_new infinite too. The shrunken
    # theta_i keep finite moments (their conditional variance stays below se_i^2 + V).
    post = exact.posterior(Y2, SE2, halfcauchy(0.5), labels=["a", "b"])
    assert math.isfinite(post.tau.mean)
    assert post.tau.sd == math.inf
    assert post.mu.sd == math.inf
    assert post.theta_new.sd == math.inf
    assert math.isfinite(post.theta["a"].sd)
    # k = 1: the posterior is the half-Cauchy prior itself, whose mean is infinite; mu is
    # then a scale mixture with a Cauchy-like tail and has no mean.
    with pytest.warns(UserWarning, match="k = 1"):
        one = exact.posterior([0.2], [0.3], halfcauchy(0.5))
    assert one.tau.mean == math.inf
    assert math.isnan(one.mu.mean)
    # A normal mu prior bounds Var(mu | tau) and adds a factor tau^-1: k = 2 then has tail
    # tau^-4, so every moment is finite.
    normal = exact.posterior(Y2, SE2, halfcauchy(0.5), NormalMu(0, 3))
    assert all(math.isfinite(v) for v in (normal.tau.sd, normal.mu.sd, normal.theta_new.sd))
    df = exact.posterior_batch(np.array([Y2]), np.array([SE2]), halfcauchy(0.5))
    assert df.loc[0, "tau_sd"] == math.inf
    assert df.loc[0, "mu_sd"] == math.inf
    assert math.isfinite(df.loc[0, "tau_mean"])


def test_single_study_warning_has_its_own_class():
    """Callers silence the k = 1 warning by class, not by message text."""
    from sparsemeta.errors import SingleStudyWarning

    with pytest.warns(SingleStudyWarning, match="k = 1"):
        exact.posterior([0.3], [0.2], "halfnormal(0.5)", "normal(0, 2.82)")
    with pytest.warns(SingleStudyWarning, match="single study"):
        exact.posterior_batch(
            np.array([[0.3, np.nan], [0.1, 0.4]]),
            np.array([[0.2, np.nan], [0.3, 0.2]]),
            "halfnormal(0.5)",
            "normal(0, 2.82)",
        )
