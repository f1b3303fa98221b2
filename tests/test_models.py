"""sparsemeta.bayes.models: structure, input checks, and log densities against scipy.

The log density of each model at a chosen point is compared with the same density written
out independently with scipy.stats (no sampling).
"""

from __future__ import annotations

import math

import numpy as np
import pymc as pm
import pytest
from scipy import special, stats

from sparsemeta.bayes import models, priors
from sparsemeta.errors import DataError, PriorError

LABELS = ["Cicchetti 1999a", "Cicchetti 2006b"]


def _logp(model: pm.Model, point: dict[str, object]) -> float:
    """Model log density (without Jacobians) at a point given on the constrained scale."""
    values = {}
    for rv in model.free_RVs:
        value = model.rvs_to_values[rv]
        transform = model.rvs_to_transforms.get(rv)
        x = np.asarray(point[rv.name], dtype=float)
        values[value.name] = (
            transform.forward(x, *rv.owner.inputs).eval() if transform is not None else x
        )
    return float(model.compile_logp(jacobian=False)(values))


def _mu_of(mu_z, tau, ref, v, mu_prior=None):
    """mu and the log density terms of the standardised mu (``models._add_mu_tau``), written
    out: mu = muhat(tau) + sqrt(V(tau)) mu_z with w_i = 1/(v_i + tau^2), V = 1/(sum w_i +
    s0^-2), muhat = V (sum w_i ref_i + m0 s0^-2); the terms are the Jacobian 0.5 log V and
    the unnormalised normal prior of mu."""
    w = 1 / (v + tau**2)
    prec, wsum = w.sum(), (w * ref).sum()
    if mu_prior is not None:
        prec, wsum = prec + 1 / mu_prior[1] ** 2, wsum + mu_prior[0] / mu_prior[1] ** 2
    var = 1 / prec
    mu = wsum * var + math.sqrt(var) * mu_z
    terms = 0.5 * math.log(var)
    if mu_prior is not None:
        terms += -0.5 * ((mu - mu_prior[0]) / mu_prior[1]) ** 2
    return mu, terms


def _binomial_reference(et, nt, ec, nc, scale):
    """The normal approximation (0.5 added to every cell) that shapes mu and theta."""
    a, c = np.asarray(et, float) + 0.5, np.asarray(ec, float) + 0.5
    n1, n2 = np.asarray(nt, float) + 1.0, np.asarray(nc, float) + 1.0
    if scale == "OR":
        b, d = n1 - a, n2 - c
        return np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d
    return np.log(a / n1) - np.log(c / n2), 1 / a - 1 / n1 + 1 / c - 1 / n2


def _nn_expected(y, se, mu_z, tau, tau_logpdf, mu_prior=None):
    """log p(mu_z, tau | y) up to a constant, written out with numpy/scipy:
    mu = muhat(tau) + sqrt(V(tau)) mu_z with the Jacobian sqrt(V) (:func:`_mu_of`)."""
    mu, mu_terms = _mu_of(mu_z, tau, y, se**2, mu_prior)
    return stats.norm.logpdf(y, mu, np.sqrt(se**2 + tau**2)).sum() + tau_logpdf(tau) + mu_terms


def test_normal_normal_structure_and_density():
    y, se = np.array([1.39, 3.43]), np.array([0.33, 1.0])
    model = models.normal_normal(y, se, LABELS, "halfnormal(0.5)", None)
    assert isinstance(model, pm.Model)
    assert list(model.coords["study"]) == LABELS
    assert {rv.name for rv in model.free_RVs} == {"mu_z", "tau"}
    assert {"y", "se", "mu", "location"} <= set(model.named_vars)
    info = models.model_info(model)
    assert info.family == "normal-normal" and info.k == 2 and info.mu_prior is None
    expected = _nn_expected(y, se, 0.3, 0.4, lambda t: stats.halfnorm.logpdf(t, scale=0.5))
    assert _logp(model, {"mu_z": 0.3, "tau": 0.4}) == pytest.approx(expected, rel=1e-8)


def test_normal_normal_with_normal_mu_prior():
    y, se = np.array([0.1, -0.3, 0.5]), np.array([0.2, 0.3, 0.25])
    model = models.normal_normal(y, se, None, priors.HalfCauchy(0.5), "normal(0, 10)")
    assert list(model.coords["study"]) == ["study 1", "study 2", "study 3"]
    expected = _nn_expected(
        y, se, -1.1, 0.2, lambda t: stats.halfcauchy.logpdf(t, scale=0.5), mu_prior=(0.0, 10.0)
    )
    assert _logp(model, {"mu_z": -1.1, "tau": 0.2}) == pytest.approx(expected, rel=1e-8)


def test_normal_normal_mu_given_tau_is_the_exact_conditional():
    # at fixed tau the density in mu_z must be standard normal (mu | tau, y ~ N(muhat, V))
    y, se = np.array([0.1, -0.3, 0.5]), np.array([0.2, 0.3, 0.25])
    model = models.normal_normal(y, se, None, "halfnormal(0.5)", None)
    grid = np.array([-2.0, -0.5, 0.0, 1.0, 2.5])
    logp = np.array([_logp(model, {"mu_z": z, "tau": 0.3}) for z in grid])
    np.testing.assert_allclose(
        logp - logp[2], stats.norm.logpdf(grid) - stats.norm.logpdf(0), atol=1e-9
    )


@pytest.mark.parametrize(("arms", "shift"), [("symmetric", 0.5), ("comparator", 0.0)])
def test_binomial_normal_density_no_correction(arms, shift):
    et, nt, ec, nc = np.array([0, 0]), np.array([46, 14]), np.array([6, 0]), np.array([54, 54])
    model = models.binomial_normal(
        et,
        nt,
        ec,
        nc,
        LABELS,
        "halfnormal(0.5)",
        "normal(0, 2.82)",
        parameterization="non-centred",
        arms=arms,
    )
    assert {rv.name for rv in model.free_RVs} == {"mu_z", "tau", "baseline", "z"}
    point = {
        "mu_z": -0.4,
        "tau": 0.3,
        "baseline": np.array([-2.0, -4.0]),
        "z": np.array([0.5, -1.0]),
    }
    ref, v = _binomial_reference(et, nt, ec, nc, "OR")
    mu, mu_terms = _mu_of(point["mu_z"], point["tau"], ref, v, (0.0, 2.82))
    theta = mu + point["tau"] * point["z"]
    # symmetric: logit p_c = alpha - theta/2, logit p_t = alpha + theta/2;
    # comparator: logit p_c = alpha, logit p_t = alpha + theta
    a = point["baseline"]
    expected = (
        stats.binom.logpmf(ec, nc, special.expit(a - shift * theta)).sum()
        + stats.binom.logpmf(et, nt, special.expit(a + (1 - shift) * theta)).sum()
        + stats.norm.logpdf(point["baseline"], 0, models.BASELINE_SD).sum()
        + stats.norm.logpdf(point["z"]).sum()
        + mu_terms
        + stats.halfnorm.logpdf(point["tau"], scale=0.5)
    )
    assert _logp(model, point) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("theta_sign", [1.0, -1.0])
def test_binomial_rr_density_and_constraint(theta_sign):
    et, nt, ec, nc = np.array([31, 8]), np.array([46, 14]), np.array([9, 1]), np.array([54, 54])
    model = models.binomial_rr(
        et, nt, ec, nc, LABELS, "halfnormal(0.5)", "normal(0, 2.82)", parameterization="non-centred"
    )
    u = np.array([0.7, 0.95])
    ref, v = _binomial_reference(et, nt, ec, nc, "RR")
    # mu_z chosen so that mu is about +1.2 or -1.2: both branches of the constraint
    mu_z = (theta_sign * 1.2 - _mu_of(0.0, 0.5, ref, v, (0.0, 2.82))[0]) / 0.5
    point = {"mu_z": mu_z, "tau": 0.5, "baseline": u, "z": np.array([0.4, 1.5])}
    mu, mu_terms = _mu_of(mu_z, point["tau"], ref, v, (0.0, 2.82))
    theta = mu + point["tau"] * point["z"]
    assert np.sign(theta).tolist() == [theta_sign, theta_sign]
    # Warn et al. (2002): p_t = p_c exp(theta), both <= 1; the baseline u is the larger risk
    p_c = np.where(theta > 0, u * np.exp(-theta), u)
    p_t = p_c * np.exp(theta)
    assert np.all(p_t <= 1) and np.all(p_c <= 1)
    expected = (
        stats.binom.logpmf(ec, nc, p_c).sum()
        + stats.binom.logpmf(et, nt, p_t).sum()
        + stats.norm.logpdf(point["z"]).sum()
        + mu_terms
        + stats.halfnorm.logpdf(point["tau"], scale=0.5)
    )  # uniform(0, 1) baseline: log density 0
    assert _logp(model, point) == pytest.approx(expected, rel=1e-8)


def test_arm_normal_density():
    args = ([12.0, 10.5], [4.0, 5.0], [20, 35], [10.0, 10.0], [4.5, 5.5], [22, 30])
    model = models.arm_normal(*args, LABELS, "halfnormal(2)", None)
    mt, sdt, nt, mc, sdc, nc = (np.asarray(a, float) for a in args)
    a = np.array([0.3, -0.2])
    point = {"mu_z": 0.7, "tau": 0.5, "baseline_std": a, "z": np.array([0.1, -0.4])}
    alpha = mc + sdc / np.sqrt(nc) * a
    # mu standardised by the MD and its variance; flat mu prior
    md, v = mt - mc, sdt**2 / nt + sdc**2 / nc
    mu, mu_terms = _mu_of(point["mu_z"], point["tau"], md, v)
    # conditional parameterisation: theta = b mu + (1 - b) md + sqrt((1 - b) v) z
    bw = v / (v + point["tau"] ** 2)
    scale = np.sqrt((1 - bw) * v)
    theta = bw * mu + (1 - bw) * md + scale * point["z"]
    expected = (
        stats.norm.logpdf(mc, alpha, sdc / np.sqrt(nc)).sum()
        + stats.norm.logpdf(mt, alpha + theta, sdt / np.sqrt(nt)).sum()
        + stats.norm.logpdf(theta, mu, point["tau"]).sum()
        + np.log(scale).sum()
        + mu_terms
        + stats.halfnorm.logpdf(point["tau"], scale=2.0)
    )
    assert _logp(model, point) == pytest.approx(expected, rel=1e-8)


def test_binomial_parameterizations_share_one_density():
    # the conditional and centred forms are changes of variables of the same model: at the
    # same theta their log densities differ exactly by the log Jacobian of theta(z)
    counts = ([31, 8], [46, 14], [9, 1], [54, 54])
    centred = models.binomial_normal(
        *counts, None, "halfnormal(1)", None, parameterization="centred"
    )
    assert {rv.name for rv in centred.free_RVs} == {"mu_z", "tau", "baseline", "theta"}
    cond = models.binomial_normal(*counts, None, "halfnormal(1)", None)
    assert {rv.name for rv in cond.free_RVs} == {"mu_z", "tau", "baseline", "z"}
    ref, v = _binomial_reference(*counts, "OR")
    mu_z, tau, z = 0.5, 0.6, np.array([0.3, -0.8])
    mu, _ = _mu_of(mu_z, tau, ref, v, (0.0, 2.82))  # the OR default N(0, 2.82^2)
    bw = v / (v + tau**2)
    theta = bw * mu + (1 - bw) * ref + np.sqrt((1 - bw) * v) * z
    base = np.array([-1.5, -3.0])
    lp_c = _logp(centred, {"mu_z": mu_z, "tau": tau, "baseline": base, "theta": theta})
    lp_z = _logp(cond, {"mu_z": mu_z, "tau": tau, "baseline": base, "z": z})
    assert lp_z - lp_c == pytest.approx(np.log(np.sqrt((1 - bw) * v)).sum(), abs=1e-9)
    with pytest.raises(DataError, match="parameterization"):
        models.binomial_rr(*counts, None, "halfnormal(1)", None, parameterization="other")
    with pytest.raises(DataError, match="arms 'other'"):
        models.binomial_normal(*counts, None, "halfnormal(1)", None, arms="other")


# ----------------------------------------------------------------------------- bad input


def test_single_study_warns_but_builds():
    with pytest.warns(UserWarning, match="k = 1"):
        model = models.normal_normal([0.3], [0.2], ["only"], "halfnormal(0.5)", None)
    assert list(model.coords["study"]) == ["only"]
    with pytest.warns(UserWarning, match="k = 1"):
        models.binomial_rr([1], [10], [2], [10], None, "halfnormal(0.5)", None)


@pytest.mark.parametrize(
    ("y", "se", "labels", "match"),
    [
        ([0.1, 0.2], [0.1, 0.0], None, "'se': must be > 0"),
        ([0.1, 0.2], [0.1, -0.3], None, "'se': must be > 0"),
        ([0.1, math.nan], [0.1, 0.2], None, "'y': value is not finite"),
        ([0.1, 0.2], [0.1, math.inf], None, "'se': value is not finite"),
        ([0.1, 0.2, 0.3], [0.1, 0.2], None, "mismatched lengths"),
        ([], [], None, "no studies"),
        ([0.1, 0.2], [0.1, 0.2], ["a"], "1 labels for 2 studies"),
        ([0.1, 0.2], [0.1, 0.2], ["a", "a"], "unique"),
        ([[0.1, 0.2]], [[0.1, 0.2]], None, "one-dimensional"),
    ],
)
def test_normal_normal_bad_input(y, se, labels, match):
    with pytest.raises(DataError, match=match):
        models.normal_normal(y, se, labels, "halfnormal(0.5)", None)


@pytest.mark.parametrize(
    ("counts", "match"),
    [
        (([5, 1], [4, 10], [1, 1], [10, 10]), "events \\(5\\) exceed n_t"),
        (([-1, 1], [10, 10], [1, 1], [10, 10]), "non-negative integer"),
        (([1.5, 1], [10, 10], [1, 1], [10, 10]), "non-negative integer"),
        (([0, 1], [0, 10], [0, 1], [10, 10]), "'n_t': must be > 0"),
        (([1, 1], [10, 10], [1, math.nan], [10, 10]), "not finite"),
        (([1, 1], [10, 10], [1], [10, 10]), "mismatched lengths"),
    ],
)
@pytest.mark.parametrize("builder", [models.binomial_normal, models.binomial_rr])
def test_binomial_bad_input(builder, counts, match):
    with pytest.raises(DataError, match=match):
        builder(*counts, None, "halfnormal(0.5)", None)


def test_arm_normal_bad_sd():
    with pytest.raises(DataError, match="'sd_c': must be > 0"):
        models.arm_normal([1, 2], [1, 1], [10, 10], [1, 2], [1, 0], [10, 10], None, "halfnormal(1)")


def test_priors_without_pymc_form_or_needing_se():
    with pytest.raises(PriorError):
        models.normal_normal([0.1, 0.2], [0.1, 0.2], None, "jeffreys", None)
    with pytest.raises(PriorError, match="standard errors"):
        models.binomial_normal([1, 2], [10, 10], [3, 4], [10, 10], None, "uniform_shrinkage", None)
    with pytest.raises(PriorError):
        models.normal_normal([0.1, 0.2], [0.1, 0.2], None, "no_such_prior(1)", None)
