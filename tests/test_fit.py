"""MCMC fits (sparsemeta.bayes.sample) against independent references.

References, none of them our own MCMC output:

* the exact quadrature posterior of the normal-normal model (:mod:`sparsemeta.bayes.exact`),
  for every model that is, or in a limit becomes, the normal-normal model;
* closed-form facts: the arm-level normal model with flat baselines *is* the normal-normal
  model on the mean difference; a covariate that explains the data exactly is recovered.

Tolerance for MCMC vs exact: 3 Monte Carlo standard errors of the quantile
(``az.mcse(method="quantile")``); every fit must also pass the diagnostics gate
(0 divergences, R-hat <= 1.01, bulk/tail ESS >= 400): pyproject turns a
DiagnosticsWarning into a test error.

Compiled models are cached by sparsemeta.bayes.sample for the whole session, so the 15 normal-normal
fits compile 5 models (one per prior; the normal-normal model's compiled form is the same
for every k).
"""

from __future__ import annotations

import math
import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy import special

from sparsemeta import datasets, effects
from sparsemeta.bayes import diagnostics, exact, models, priors, sample
from sparsemeta.errors import DataError, DiagnosticsError, DiagnosticsWarning

pytestmark = pytest.mark.slow

PIP_LABELS = ["Cicchetti 1999a", "Cicchetti 2006b"]


def _bcg() -> tuple[np.ndarray, np.ndarray]:
    """Log RRs of metafor's dat.bcg (Colditz et al. 1994) and their SEs."""
    bcg = datasets.bcg_colditz1994()
    yi, vi = effects.log_rr(bcg.events_t, bcg.n_t, bcg.events_c, bcg.n_c)
    return yi, np.sqrt(vi)


def _pip_secure() -> tuple[np.ndarray, np.ndarray]:
    yi, vi = effects.log_rr(
        np.array([31, 8]), np.array([46, 14]), np.array([9, 1]), np.array([54, 54])
    )
    return yi, np.sqrt(vi)


DATASETS = {
    2: _pip_secure(),
    3: (np.array([-0.2, 0.4, 0.9]), np.array([0.3, 0.5, 0.4])),
    13: _bcg(),
}
PRIORS = {
    "halfnormal(0.5)": priors.HalfNormal(0.5),
    "halfnormal(1)": priors.HalfNormal(1.0),
    "halfcauchy(0.5)": priors.HalfCauchy(0.5),
    "turner2015": priors.Turner2015(),
    "rhodes2015": priors.Rhodes2015(),
}
PROBS = (0.025, 0.5, 0.975)


def _mcse_quantile(values: np.ndarray, p: float) -> float:
    ds = az.convert_to_dataset({"x": values})
    return float(az.mcse(ds, method="quantile", prob=p)["x"])


def _assert_agrees(result: sample.FitResult, post: exact.ExactPosterior, var: str, extra=0.0):
    draws = result.idata.posterior[var].values
    for p in PROBS:
        q_mcmc = float(np.quantile(draws, p))
        q_exact = float(post[var].quantile(p))
        tol = 3 * _mcse_quantile(draws, p) + extra
        assert abs(q_mcmc - q_exact) <= tol, (
            f"{var} q{p}: MCMC {q_mcmc:.4f} vs exact {q_exact:.4f} (|diff| "
            f"{abs(q_mcmc - q_exact):.4f} > tol {tol:.4f})"
        )


@pytest.fixture(scope="session")
def nn_fits() -> dict[tuple[int, str], tuple[sample.FitResult, exact.ExactPosterior]]:
    out = {}
    for prior_name, prior in PRIORS.items():
        for k, (y, se) in DATASETS.items():
            labels = [f"s{i + 1}" for i in range(k)]
            model = models.normal_normal(y, se, labels, prior, None)
            result = sample.sample(model, seed=20261121 + k)
            out[(k, prior_name)] = (result, exact.posterior(y, se, prior, None, labels))
    return out


@pytest.mark.parametrize("k", sorted(DATASETS))
@pytest.mark.parametrize("prior_name", list(PRIORS))
def test_normal_normal_matches_exact(nn_fits, k, prior_name):
    result, post = nn_fits[(k, prior_name)]
    assert result.diagnostics.divergences == 0
    assert result.diagnostics.passed, result.diagnostics.failures
    for var in ("mu", "tau", "theta_new"):
        _assert_agrees(result, post, var)


def test_shrunken_study_effects_match_exact(nn_fits):
    result, post = nn_fits[(13, "halfnormal(0.5)")]
    theta = result.idata.posterior["theta"]
    assert list(theta["study"].values) == post.labels
    # 39 simultaneous comparisons: 3 MCSE each would fail a correct sampler in ~10% of runs;
    # the Bonferroni bound keeps the family-wise false alarm at 1% (z = 3.65)
    z_crit = float(special.ndtri(1 - 0.01 / (2 * len(post.labels) * len(PROBS))))
    for lab in post.labels:
        draws = theta.sel(study=lab).values
        for p in PROBS:
            tol = z_crit * _mcse_quantile(draws, p)
            assert abs(np.quantile(draws, p) - post.theta[lab].quantile(p)) <= tol


def test_compiled_model_reused_across_k(nn_fits):
    # one compilation per prior: the fits of k = 3 and 13 reused the model compiled for k = 2
    for prior_name in PRIORS:
        assert nn_fits[(3, prior_name)][0].cached
        assert nn_fits[(13, prior_name)][0].cached
        assert nn_fits[(13, prior_name)][0].compile_seconds == 0.0


def test_same_seed_same_draws_and_summary():
    y, se = DATASETS[3]
    model = models.normal_normal(y, se, None, PRIORS["halfnormal(0.5)"], None)
    first = sample.sample(model, seed=11)
    second = sample.sample(model, seed=11)
    other = sample.sample(model, seed=12)
    for var in ("mu", "tau", "theta", "theta_new"):
        np.testing.assert_array_equal(
            first.idata.posterior[var].values, second.idata.posterior[var].values
        )
    np.testing.assert_array_equal(first.idata.prior["tau"].values, second.idata.prior["tau"].values)
    pd.testing.assert_frame_equal(first.summary(), second.summary())
    assert not np.array_equal(
        first.idata.posterior["mu"].values, other.idata.posterior["mu"].values
    )


def test_disk_cache_returns_the_same_draws_and_rechecks_the_gate(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSEMETA_CACHE_DIR", str(tmp_path))
    y, se = DATASETS[3]
    model = models.normal_normal(y, se, None, PRIORS["halfnormal(0.5)"], None)
    first = sample.sample(model, seed=11, cache=True)
    (stored,) = tmp_path.glob("*.fit")
    again = sample.sample(model, seed=11, cache=True)
    assert (first.from_disk, again.from_disk) == (False, True)
    assert again.sampling_seconds == again.compile_seconds == 0.0
    assert set(again.idata.groups()) == set(first.idata.groups())
    for group in first.idata.groups():
        assert again.idata[group].equals(first.idata[group]), group
    pd.testing.assert_frame_equal(first.summary(), again.summary())
    assert again.diagnostics == first.diagnostics
    other = sample.sample(model, seed=12, cache=True)  # another seed: sampled, stored separately
    assert not other.from_disk and len(list(tmp_path.glob("*.fit"))) == 2
    shifted = models.normal_normal(y + 0.1, se, None, PRIORS["halfnormal(0.5)"], None)
    assert not sample.sample(shifted, seed=11, cache=True).from_disk  # other data
    assert stored.is_file() and not sample.sample(model, seed=11).from_disk  # cache off


def test_inference_data_groups_and_coords():
    table = pd.DataFrame(
        {
            "study": PIP_LABELS,
            "events_t": [31, 8],
            "n_t": [46, 14],
            "events_c": [9, 1],
            "n_c": [54, 54],
        }
    )
    # 2000 draws: with 1000 (seed 3) tau's 2.5% quantile was 7 MCSE from the exact one, which
    # the automatic cross-check (issue 11) reports with a warning
    result = sample.sample(table, "RR", tau_prior="halfnormal(0.5)", seed=3, draws=2000)
    idata = result.idata
    for group in ("posterior", "prior", "observed_data", "sample_stats"):
        assert group in idata.groups()
    assert list(idata.posterior["theta"]["study"].values) == PIP_LABELS
    assert set(idata.prior.data_vars) == {"mu", "tau", "theta_new"}
    # the prior group holds prior draws: their quantiles are those of the prior
    tau_prior = priors.HalfNormal(0.5)
    assert abs(np.median(idata.prior["tau"].values) - tau_prior.ppf(0.5)) < 0.02
    mu_sd = priors.mu_prior_default("RR").sd
    assert abs(np.std(idata.prior["mu"].values) - mu_sd) < 0.1
    summary = result.summary().set_index(["param", "study"], drop=False)
    assert list(result.summary()["param"]) == [
        "mu",
        "exp(mu)",
        "tau",
        "theta_new",
        "exp(theta_new)",
        "theta",
        "theta",
    ]
    mu = idata.posterior["mu"].values.ravel()
    row = result.summary().iloc[0]
    assert result.prob("mu", "<", 0) == pytest.approx(np.mean(mu < 0))
    assert result.prob("mu", "<", -0.2) == pytest.approx(np.mean(mu < -0.2))
    assert result.prob("mu", ">", 0.5) == pytest.approx(np.mean(mu > 0.5))
    assert row["lower"] == pytest.approx(np.quantile(mu, 0.025)) and row["level"] == 0.95
    exp_row = result.summary().iloc[1]
    assert exp_row["median"] == pytest.approx(math.exp(row["median"]), rel=1e-6)
    assert summary.shape[0] == 7
    # the exact posterior (same priors) is the reference for the normal-normal numbers
    yi, sei = _pip_secure()
    post = exact.posterior(yi, sei, tau_prior, priors.mu_prior_default("RR"), PIP_LABELS)
    _assert_agrees(result, post, "mu")


def test_arm_normal_is_normal_normal_on_md():
    # flat arm baselines integrate out exactly: same posterior as normal-normal on the MD
    mean_t, sd_t, n_t = (
        np.array([12.0, 10.5, 14.0]),
        np.array([4.0, 5.0, 3.5]),
        np.array([20, 35, 15]),
    )
    mean_c, sd_c, n_c = (
        np.array([10.0, 10.0, 11.0]),
        np.array([4.5, 5.5, 3.0]),
        np.array([22, 30, 16]),
    )
    yi, vi = effects.mean_difference(mean_t, sd_t, n_t, mean_c, sd_c, n_c)
    prior = priors.HalfNormal(2.0)
    model = models.arm_normal(mean_t, sd_t, n_t, mean_c, sd_c, n_c, None, prior, None)
    result = sample.sample(model, seed=5)
    assert result.diagnostics.passed
    post = exact.posterior(yi, np.sqrt(vi), prior, None)
    for var in ("mu", "tau", "theta_new"):
        _assert_agrees(result, post, var)


# ----------------------------------------------------------------------------- binomial models

LARGE = {  # k = 2, large arms, no zero cells (~300-600 events per arm)
    "events_t": np.array([620, 410]),
    "n_t": np.array([2000, 1800]),
    "events_c": np.array([480, 350]),
    "n_c": np.array([2000, 1900]),
}


@pytest.mark.parametrize(
    ("family", "builder", "measure", "fn"),
    [
        ("binomial-normal", models.binomial_normal, "OR", effects.log_or),
        ("binomial-rr", models.binomial_rr, "RR", effects.log_rr),
    ],
)
def test_binomial_large_arms_agree_with_normal_normal(family, builder, measure, fn):
    """With large arms and no zeros the binomial likelihood of a study's log OR / log RR is
    close to normal with the usual delta-method variance, so the binomial models approach
    the normal-normal model on the same scale. Tolerance: 3 MCSE plus 10% of the exact
    posterior SD, an allowance for the remaining normal-approximation error: the skewness of
    the log-ratio likelihood is of order 1/sqrt(events) ~ 0.05 here, and the weak baseline
    priors of the binomial models add their own small difference."""
    tau_prior, mu_prior = priors.HalfNormal(0.5), priors.mu_prior_default(measure)
    model = builder(*LARGE.values(), PIP_LABELS, tau_prior, mu_prior)
    result = sample.sample(model, seed=7)
    assert result.family == family and result.diagnostics.passed
    yi, vi = fn(LARGE["events_t"], LARGE["n_t"], LARGE["events_c"], LARGE["n_c"])
    post = exact.posterior(yi, np.sqrt(vi), tau_prior, mu_prior, PIP_LABELS)
    for var in ("mu", "tau", "theta_new"):
        _assert_agrees(result, post, var, extra=0.1 * post[var].sd)


PIP_ZERO = {  # PIP review, secure -> insecure: a zero arm and a double-zero study
    "events_t": [0, 0],
    "n_t": [46, 14],
    "events_c": [6, 0],
    "n_c": [54, 54],
}
PIP_SECURE = {"events_t": [31, 8], "n_t": [46, 14], "events_c": [9, 1], "n_c": [54, 54]}


@pytest.mark.parametrize("model_name", ["binomial-normal", "binomial-rr"])
@pytest.mark.parametrize("counts", [PIP_ZERO, PIP_SECURE], ids=["secure-to-insecure", "secure"])
def test_binomial_zero_cells_no_correction_no_divergences(model_name, counts):
    table = pd.DataFrame({"study": PIP_LABELS, **counts})
    result = sample.sample(table, model=model_name, tau_prior="halfnormal(0.5)", seed=2015)
    assert result.diagnostics.divergences == 0
    assert result.diagnostics.passed, result.diagnostics.failures
    # every study is kept, with its raw counts (no continuity correction)
    obs = result.idata.observed_data
    assert list(obs["study"].values) == PIP_LABELS
    np.testing.assert_array_equal(obs["events_t"].values, counts["events_t"])
    np.testing.assert_array_equal(obs["events_c"].values, counts["events_c"])
    assert result.excluded.empty
    assert result.idata.posterior["theta"].sizes["study"] == 2


def test_binomial_rr_keeps_risks_below_one():
    # a large risk ratio with a high control risk: p_t = p_c * RR must stay <= 1
    # (prior predictive draws need the non-centred form: the conditional one samples a flat z)
    model = models.binomial_rr(
        [53, 30],
        [54, 40],
        [40, 10],
        [54, 40],
        ["high risk", "low risk"],
        "halfnormal(0.5)",
        priors.mu_prior_default("RR"),
        parameterization="non-centred",
    )
    import pymc as pm

    with model:
        idata = pm.sample_prior_predictive(draws=2000, random_seed=1)
    n_t = np.array([54, 40])
    assert (idata.prior_predictive["events_t_obs"].values <= n_t).all()
    assert (idata.prior_predictive["events_c_obs"].values <= n_t).all()


# ----------------------------------------------------------------------------- extension, gate, engines


def test_normal_normal_model_can_be_extended_with_a_covariate():
    import pymc as pm

    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    y = 0.2 + 1.0 * x  # the covariate explains the effects exactly
    se = np.full(5, 0.05)
    model = models.normal_normal(y, se, list("abcde"), "halfnormal(0.5)", "normal(0, 10)")
    with model:
        x_data = pm.Data("x", x, dims="study")
        beta = pm.Normal("beta", 0.0, 10.0)
    regression = pm.do(model, {"location": model["mu"] + beta * x_data})
    result = sample.sample(regression, seed=4, target_accept=0.99)
    assert result.diagnostics.passed, result.diagnostics.failures
    post = result.idata.posterior
    assert abs(float(post["beta"].median()) - 1.0) < 0.05
    assert abs(float(post["mu"].median()) - 0.2) < 0.05


def test_failed_gate_warns_or_raises():
    y, se = DATASETS[3]
    model = models.normal_normal(y, se, None, PRIORS["halfnormal(0.5)"], None)
    with pytest.warns(DiagnosticsWarning, match=r"ESS of .* = \d+ \(must be >= 400\)"):
        result = sample.sample(model, draws=20, tune=50, chains=2, seed=1)
    assert not result.diagnostics.passed
    with pytest.raises(DiagnosticsError, match="exact engine"):
        sample.sample(model, draws=20, tune=50, chains=2, seed=1, strict=True)


def test_diagnose_reports_divergences_and_rhat():
    rng = np.random.default_rng(0)
    good = rng.standard_normal((4, 1000))
    bad = good + np.array([0.0, 0.0, 0.0, 3.0])[:, None]  # one chain elsewhere
    diverging = np.zeros((4, 1000), bool)
    diverging[1, 10] = True
    idata = az.from_dict(
        posterior={"mu": bad, "tau": np.abs(good)}, sample_stats={"diverging": diverging}
    )
    diag = diagnostics.diagnose(idata)
    assert diag.divergences == 1
    assert diag.r_hat_max > 1.1
    assert any("R-hat of mu" in f for f in diag.failures)
    assert any("1 divergent" in f for f in diag.failures)
    clean = az.from_dict(
        posterior={"mu": good}, sample_stats={"diverging": np.zeros((4, 1000), bool)}
    )
    assert diagnostics.diagnose(clean).passed


def test_pymc_engine_agrees_with_exact():
    y, se = DATASETS[2]
    prior = PRIORS["halfnormal(0.5)"]
    model = models.normal_normal(y, se, PIP_LABELS, prior, None)
    result = sample.sample(model, engine="pymc", seed=9)
    assert result.engine == "pymc"
    assert result.diagnostics.passed, result.diagnostics.failures
    _assert_agrees(result, exact.posterior(y, se, prior, None, PIP_LABELS), "mu")


def test_bad_requests():
    table = pd.DataFrame({"study": PIP_LABELS, **PIP_SECURE})
    with pytest.raises(DataError, match="OR scale"):
        sample.sample(table, "RR", model="binomial-normal", tau_prior="halfnormal(0.5)")
    with pytest.raises(DataError, match="unknown model"):
        sample.sample(table, "RR", model="poisson", tau_prior="halfnormal(0.5)")
    with pytest.raises(DataError, match="engine"):
        sample.sample(table, "RR", tau_prior="halfnormal(0.5)", engine="stan")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match="draws"):
            sample.sample(table, "RR", tau_prior="halfnormal(0.5)", draws=0)
