"""Tests of sparsemeta.bayes.regression (exact meta-regression) against independent references.

References, none of them our own output:

* brute-force integration of the joint posterior of (tau, beta_1, beta_2) on a dense 3-D
  midpoint grid, written out below (``brute_force``): the unnormalised density is the
  product of the normal likelihoods N(y_i; x_i'beta, se_i^2 + tau^2), the priors, nothing
  else (no conditional formulas);
* Röver & Friede (2023), "Using the bayesmeta R package for Bayesian random-effects
  meta-regression", Comput Methods Programs Biomed 229:107303 (bayesmeta 3.x, file
  inst/doc/RoeverFriede2023-UsingBayesmetaForMetaRegression.pdf of cran/bayesmeta, Sec.
  3.1.1): the Crins et al. (2014) acute-rejection data, ``bmr(crins.es, X=X,
  tau.prior=function(t){dhalfnormal(t, scale=0.5)})`` with X the basiliximab/daclizumab
  indicators and flat coefficient priors; the text prints median and 95% interval
  (bayesmeta's default: shortest) for basiliximab -1.38 [-2.04, -0.53] and daclizumab
  -2.31 [-3.46, -1.16];
* the closed form: one column of ones is the meta-analysis of sparsemeta.bayes.exact
  (itself tested against brute force and bayesmeta in test_exact.py).

dat.bcg's absolute latitude is the packaged ``ablat`` column (checked against metafor's
dat.bcg in test_datasets.py). No printed ``bmr`` output for dat.bcg with latitude was found
(the bmr help page and Röver & Friede 2023 use other data), so the BCG regression is
checked against the brute-force integral instead.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sparsemeta import datasets, effects
from sparsemeta.bayes import exact, regression
from sparsemeta.errors import DataError, PriorError


def _bcg() -> tuple[np.ndarray, np.ndarray]:
    t = datasets.bcg_colditz1994()
    cols = (t[c].to_numpy(float) for c in ("events_t", "n_t", "events_c", "n_c"))
    yi, vi = effects.log_rr(*cols)
    return np.asarray(yi), np.sqrt(np.asarray(vi))


def _crins() -> tuple[np.ndarray, np.ndarray]:
    """log OR of acute rejection (CrinsEtAl2014, bayesmeta's data/CrinsEtAl2014.R, rows in
    the order Heffron, Gibelli, Schuller, Ganschow, Spada, Gras); 0.5 is added to every
    cell of a table with a zero cell, as metafor's escalc does by default."""
    a = np.array([14, 16, 3, 9, 4, 0.0])
    n1 = np.array([61, 28, 18, 54, 36, 50.0])
    c = np.array([15, 19, 8, 29, 11, 3.0])
    n2 = np.array([20, 28, 12, 54, 36, 34.0])
    add = np.where((a == 0) | (c == 0), 0.5, 0.0)
    a, b, c, d = a + add, n1 - a + add, c + add, n2 - c + add
    return np.log(a * d / (b * c)), np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)


def brute_force(y, se, X, tau_max, ranges, n_tau, n_beta, tau_scale, beta_prior=None):
    """Moments of the joint posterior on a midpoint grid over (tau, beta_1, beta_2).

    Half-normal(tau_scale) tau prior; ``beta_prior`` (means, sds) normal or None (flat).
    Returns the posterior means and sds of beta, the mean of tau, P(beta_2 < 0) and the log
    of the integral of the unnormalised density.
    """
    taus = (np.arange(n_tau) + 0.5) * tau_max / n_tau
    grids = [lo + (np.arange(n_beta) + 0.5) * (hi - lo) / n_beta for lo, hi in ranges]
    b1, b2 = np.meshgrid(*grids, indexing="ij")
    cell = tau_max / n_tau * np.prod([(hi - lo) / n_beta for lo, hi in ranges])
    fitted = b1[..., None] * X[:, 0] + b2[..., None] * X[:, 1]
    log_beta = 0.0
    if beta_prior is not None:
        (m1, m2), (s1, s2) = beta_prior
        log_beta = stats.norm.logpdf(b1, m1, s1) + stats.norm.logpdf(b2, m2, s2)
    logs = []
    for t in taus:
        var = se**2 + t**2
        ll = -0.5 * (np.log(2 * np.pi * var).sum() + ((y - fitted) ** 2 / var).sum(axis=-1))
        logs.append(ll + log_beta + stats.halfnorm.logpdf(t, scale=tau_scale))
    logs = np.array(logs)
    top = logs.max()
    dens = np.exp(logs - top)
    z = dens.sum()
    p = dens / z
    m1, m2 = (p * b1).sum(), (p * b2).sum()
    sd1 = np.sqrt((p * (b1 - m1) ** 2).sum())
    sd2 = np.sqrt((p * (b2 - m2) ** 2).sum())
    tau_mean = (p.sum(axis=(1, 2)) * taus).sum()
    return {
        "mean": (m1, m2),
        "sd": (sd1, sd2),
        "tau_mean": tau_mean,
        "p_b2_neg": p[:, :, grids[1] < 0].sum(),
        "log_z": np.log(z * cell) + top,
    }


def test_bcg_latitude_matches_brute_force():
    y, se = _bcg()
    X = np.column_stack([np.ones(13), datasets.bcg_colditz1994()["ablat"]])
    post = regression.regression(y, se, X, "halfnormal(0.5)", names=["intrcpt", "ablat"])
    # ranges: metafor's REML fit (intercept 0.2515, slope -0.0291, se 0.2491 / 0.0072,
    # Viechtbauer 2010) +- about 10 se, far beyond where the posterior has mass
    ref = brute_force(y, se, X, 3.0, [(-2.5, 3.0), (-0.11, 0.05)], 200, 160, 0.5)
    assert post.coef["intrcpt"].mean == pytest.approx(ref["mean"][0], abs=2e-3)
    assert post.coef["ablat"].mean == pytest.approx(ref["mean"][1], abs=5e-5)
    assert post.coef["intrcpt"].sd == pytest.approx(ref["sd"][0], rel=5e-3)
    assert post.coef["ablat"].sd == pytest.approx(ref["sd"][1], rel=5e-3)
    assert post.tau.mean == pytest.approx(ref["tau_mean"], abs=2e-3)
    assert post.prob("ablat", "<", 0.0) == pytest.approx(ref["p_b2_neg"], abs=1e-3)


def test_normal_coefficient_priors_and_marginal_likelihood_match_brute_force():
    y = np.array([-0.8, -0.1, -0.5, 0.3, -1.1])
    se = np.array([0.35, 0.3, 0.5, 0.25, 0.45])
    X = np.column_stack([np.ones(5), [1.0, 0.0, 1.0, 0.0, 1.0]])
    prior = ((0.0, 0.5), (2.0, 1.0))
    post = regression.regression(y, se, X, "halfnormal(0.5)", beta_prior=prior)
    ref = brute_force(y, se, X, 3.0, [(-4.0, 4.0), (-5.0, 5.0)], 200, 160, 0.5, prior)
    for j, name in enumerate(post.names):
        assert post.coef[name].mean == pytest.approx(ref["mean"][j], abs=2e-3)
        assert post.coef[name].sd == pytest.approx(ref["sd"][j], rel=5e-3)
    assert post.log_marginal_likelihood == pytest.approx(ref["log_z"], abs=2e-3)


def test_crins_subgroup_means_match_bayesmeta_bmr():
    """Röver & Friede (2023), Sec. 3.1.1 (see module notes). The printed basiliximab median
    (-1.38) disagrees with its own printed interval [-2.04, -0.53] (whose midpoint is
    -1.285) and with the brute-force check below (-1.28): it is taken as a misprint, and
    the basiliximab median is checked against brute force instead."""
    y, se = _crins()
    X = np.array([[0, 1], [1, 0], [0, 1], [1, 0], [1, 0], [1, 0.0]])
    post = regression.regression(y, se, X, "halfnormal(0.5)", names=["bas", "dac"])
    bas = post.coef["bas"].interval(0.95, shortest=True)
    dac = post.coef["dac"].interval(0.95, shortest=True)
    assert bas == pytest.approx((-2.04, -0.53), abs=0.01)
    assert dac == pytest.approx((-3.46, -1.16), abs=0.01)
    assert post.coef["dac"].median == pytest.approx(-2.31, abs=0.005)
    ref = brute_force(y, se, X, 3.0, [(-5.0, 3.0), (-7.0, 3.0)], 200, 160, 0.5)
    assert post.coef["bas"].mean == pytest.approx(ref["mean"][0], abs=2e-3)
    assert post.coef["bas"].median == pytest.approx(-1.28, abs=0.01)


def test_intercept_only_is_the_meta_analysis():
    y, se = _bcg()
    reg = regression.regression(y, se, np.ones(13), "halfnormal(0.5)", beta_prior=(0.0, 4.0))
    ma = exact.posterior(y, se, "halfnormal(0.5)", "normal(0, 4)")
    assert reg.coef["x1"].median == pytest.approx(ma.mu.median, abs=1e-9)
    assert reg.tau.quantile(0.9) == pytest.approx(ma.tau.quantile(0.9), abs=1e-9)
    assert reg.predict([1.0]).quantile(0.1) == pytest.approx(ma.theta_new.quantile(0.1), abs=1e-9)
    lab = ma.labels[3]
    assert reg.theta[lab].median == pytest.approx(ma.theta[lab].median, abs=1e-9)
    assert reg.log_marginal_likelihood == pytest.approx(ma.log_marginal_likelihood, abs=1e-9)


def test_subgroup_design_and_contrast():
    X, levels = regression.subgroup_design(["a", "b", "a", "c"])
    assert levels == ["a", "b", "c"]
    assert X.tolist() == [[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]]
    y, se = _crins()
    Xc, names = regression.subgroup_design(["dac", "bas", "dac", "bas", "bas", "bas"])
    post = regression.regression(y, se, Xc, "halfnormal(0.5)", names=names)
    diff = post.linear([-1.0, 1.0], name="bas - dac")
    # the difference of the two group means: mean is the difference of means (linearity)
    assert diff.mean == pytest.approx(post.coef["bas"].mean - post.coef["dac"].mean, abs=1e-9)
    assert 0.0 < post.prob("bas", ">", -1.28) < 1.0


def test_summary_protocol_columns_and_records():
    y, se = _bcg()
    X = np.column_stack([np.ones(13), datasets.bcg_colditz1994()["ablat"]])
    post = regression.regression(y, se, X, "halfnormal(0.5)", names=["intrcpt", "ablat"])
    s = post.summary()
    assert list(s.columns[:9]) == [
        "param",
        "study",
        "mean",
        "sd",
        "median",
        "lower",
        "upper",
        "level",
        "coefficient",
    ]
    assert s["param"].tolist().count("beta") == 2 and s["param"].tolist().count("theta") == 13
    coefs = post.coefficients()
    assert set(coefs) == {"intrcpt", "ablat"}
    assert set(coefs["ablat"]) == {"mean", "median", "lower", "upper"}
    assert list(post.to_frame().columns[:3]) == ["study", "y", "se"]
    assert "meta-regression" in str(post)


def test_bad_input():
    y, se = _crins()
    with pytest.raises(DataError, match="rows"):
        regression.regression(y, se, np.ones((5, 1)), "halfnormal(0.5)")
    with pytest.raises(DataError, match="linearly dependent"):
        regression.regression(y, se, np.ones((6, 2)), "halfnormal(0.5)")
    with pytest.raises(DataError, match="not finite"):
        regression.regression(y, se, [1, 2, np.nan, 1, 1, 1], "halfnormal(0.5)")
    with pytest.raises(PriorError, match="sds > 0"):
        regression.regression(y, se, np.ones(6), "halfnormal(0.5)", beta_prior=(0.0, -1.0))
    with pytest.raises(PriorError, match="marginal likelihood"):
        _ = regression.regression(y, se, np.ones(6), "halfnormal(0.5)").log_marginal_likelihood


def test_bcg_latitude_matches_bayesmeta_bmr():
    """dat.bcg, log RR on absolute latitude, against bayesmeta's own ``bmr``.

    Reference: bayesmeta 3.4 (CRAN source, R/bayesmeta.R and R/bmr.R sourced directly) under
    R 4.2.2 with metafor 3.8-1 (Debian), run by the lead on 2026-12-04::

        dat <- escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)
        X <- cbind("intrcpt"=1, "ablat"=dat.bcg$ablat)
        fit <- bmr(y=dat$yi, sigma=sqrt(dat$vi), labels=dat.bcg$author, X=X,
                   tau.prior=function(t){dhalfnormal(t, scale=0.5)})
        fit$summary; fit$qposterior(beta.p=c(0.025, 0.975), which.beta=2)
        fit$qposterior(tau.p=c(0.025, 0.5, 0.975)); fit$pposterior(beta=0, which.beta=2)

    printed (beta coefficient flat priors, bmr's default)::

                    tau       intrcpt           ablat
        median    0.29492586775  0.2586872362 -0.029055529534
        mean      0.31399403760  0.2451918462 -0.028874598839
        sd        0.14350459804  0.2943444551  0.008363889127
        ablat equal-tailed 95%: -0.04537845647 -0.01136760282
        tau quantiles 2.5/50/97.5%: 0.08930124764 0.29492586775 0.64661901337
        P(ablat <= 0) = 0.9972613664
    """
    y, se = _bcg()
    X = np.column_stack([np.ones(13), datasets.bcg_colditz1994()["ablat"]])
    post = regression.regression(y, se, X, "halfnormal(0.5)", names=["intrcpt", "ablat"])
    # The tau margin is a one-dimensional integral in both packages: equal to 1e-8.
    assert np.asarray(post.tau.quantile([0.025, 0.5, 0.975])) == pytest.approx(
        [0.08930124764, 0.29492586775, 0.64661901337], abs=1e-8
    )
    assert post.tau.mean == pytest.approx(0.31399403760, abs=1e-8)
    # bmr's coefficient margins are a finite normal mixture over a tau grid chosen by its
    # DIRECT algorithm to a divergence bound (delta = 0.01, epsilon = 1e-4 by default), so
    # they carry an approximation error of that order; an independent scipy.integrate.quad
    # over tau agrees with our values to 1e-12 (e.g. intercept median 0.2586166519,
    # sd 0.2941857503). Tolerances below are bmr's approximation error, not ours.
    intercept, slope = post.coef["intrcpt"], post.coef["ablat"]
    assert intercept.mean == pytest.approx(0.2451918462, abs=1e-5)
    assert intercept.median == pytest.approx(0.2586872362, abs=2e-4)
    assert intercept.sd == pytest.approx(0.2943444551, rel=1e-3)
    assert slope.mean == pytest.approx(-0.028874598839, abs=5e-6)
    assert slope.median == pytest.approx(-0.029055529534, abs=5e-6)
    assert slope.sd == pytest.approx(0.008363889127, rel=1e-3)
    assert np.asarray(slope.quantile([0.025, 0.975])) == pytest.approx(
        [-0.04537845647, -0.01136760282], abs=5e-5
    )
    assert post.prob("ablat", "<", 0.0) == pytest.approx(0.9972613664, abs=5e-5)
