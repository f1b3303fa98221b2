"""MCMC meta-regression, log-likelihood and predictive draws (sparsemeta.bayes.models/sample).

References: the exact meta-regression of sparsemeta.bayes.regression (itself checked
against brute-force integration and bayesmeta's bmr in test_bayes_regression.py), with
agreement required within 3 Monte Carlo standard errors (ArviZ ``mcse``, mean); the
pointwise log-likelihood is recomputed with ``scipy.stats.norm.logpdf`` from the draws.
"""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pytest
from scipy import stats

from sparsemeta import datasets, effects
from sparsemeta.bayes import models, regression, sample
from sparsemeta.errors import DataError


def _bcg() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = datasets.bcg_colditz1994()
    yi, vi = effects.log_rr(*(t[c].to_numpy(float) for c in ("events_t", "n_t", "events_c", "n_c")))
    return np.asarray(yi), np.sqrt(np.asarray(vi)), t["ablat"].to_numpy(float)


@pytest.fixture(scope="module")
def fits():
    table = datasets.bcg_colditz1994()
    kwargs = dict(tau_prior="halfnormal(0.5)", mu_prior="flat", chains=2, seed=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = sample.sample(table, "RR", **kwargs)
        reg = sample.sample(table, "RR", covariates=["ablat"], **kwargs)
    return plain, reg


@pytest.mark.slow
def test_mcmc_meta_regression_matches_exact_within_3_mcse(fits):
    _, reg = fits
    assert reg.diagnostics.divergences == 0
    y, se, ablat = _bcg()
    X = np.column_stack([np.ones(13), ablat])
    exact = regression.regression(y, se, X, "halfnormal(0.5)", names=["intercept", "ablat"])
    post = reg.idata.posterior
    mcse = az.mcse(post[["mu", "beta", "tau"]], method="mean")
    for draws, err, target in (
        (post["mu"], mcse["mu"], exact.coef["intercept"].mean),
        (
            post["beta"].sel(covariate="ablat"),
            mcse["beta"].sel(covariate="ablat"),
            exact.coef["ablat"].mean,
        ),
        (post["tau"], mcse["tau"], exact.tau.mean),
    ):
        assert abs(float(draws.mean()) - target) <= 3 * float(err)


@pytest.mark.slow
def test_log_likelihood_and_loo(fits):
    plain, reg = fits
    idata = reg.idata
    assert {"log_likelihood", "posterior_predictive"} <= set(idata.groups())
    y, se, ablat = _bcg()
    post = idata.posterior
    c, d = 1, 7
    loc = float(post["mu"][c, d]) + float(post["beta"][c, d, 0]) * ablat
    by_hand = stats.norm.logpdf(y, loc, np.sqrt(se**2 + float(post["tau"][c, d]) ** 2))
    assert idata.log_likelihood["y"][c, d].values == pytest.approx(by_hand, rel=1e-10)
    loo = az.loo(idata)
    assert np.isfinite(loo.elpd_loo)
    table = az.compare({"no covariate": plain.idata, "latitude": idata})
    assert next(iter(table.index)) == "latitude"  # latitude explains heterogeneity (Colditz 1994)
    assert idata.posterior_predictive["y"].shape == (*post["tau"].shape, 13)
    assert "prior_predictive" not in idata.groups()  # flat mu prior: no prior predictive


@pytest.mark.slow
def test_prior_predictive_with_proper_mu_prior():
    table = datasets.bcg_colditz1994()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sample.sample(
            table, "RR", tau_prior="halfnormal(0.5)", mu_prior="normal(0, 2)", chains=2, seed=3
        )
    prior = res.idata.prior
    pp = res.idata.prior_predictive["y"]
    assert pp.shape == (*prior["tau"].shape, 13)
    # y_rep - mu has sd sqrt(se^2 + tau^2) under the prior: check the spread of one study
    z = (pp.values[..., 0] - prior["mu"].values) / np.sqrt(
        res.idata.constant_data["se"].values[0] ** 2 + prior["tau"].values ** 2
    )
    assert abs(z.std() - 1.0) < 0.1


def test_builders_take_covariates():
    y, se, ablat = _bcg()
    m = models.normal_normal(
        y, se, None, "halfnormal(0.5)", covariates=ablat, covariate_names=["ablat"]
    )
    assert {v.name for v in m.free_RVs} == {"tau", "coef_z"}
    assert list(m.coords["covariate"]) == ["ablat"]
    assert models.model_info(m).data["X"].shape == (13, 1)
    t = datasets.bcg_colditz1994()
    counts = [t[c].to_numpy() for c in ("events_t", "n_t", "events_c", "n_c")]
    for build in (models.binomial_normal, models.binomial_rr):
        mb = build(*counts, None, "halfnormal(0.5)", covariates=ablat[:, None])
        assert "beta" in {v.name for v in mb.free_RVs}
        assert models.model_info(mb).options["covariates"] == ("x1",)
    with pytest.raises(DataError, match="linearly dependent"):
        models.normal_normal(y, se, None, "halfnormal(0.5)", covariates=np.ones(13))
    with pytest.raises(DataError, match="one row per study"):
        models.normal_normal(y, se, None, "halfnormal(0.5)", covariates=np.ones(12))


@pytest.mark.slow
@pytest.mark.parametrize("build", [models.binomial_normal, models.binomial_rr, models.arm_normal])
def test_arm_level_log_likelihood_matches_pymc(build):
    """The pointwise log-likelihood of the arm-level models against PyMC's own
    ``compute_log_likelihood`` on the model graph (the two arms summed per study)."""
    import pymc as pm

    if build is models.arm_normal:
        args = (
            [12.0, 10.5, 9.0],
            [4.0, 5.0, 4.5],
            [20, 35, 28],
            [10.0, 10.0, 9.5],
            [4.5, 5.5, 5.0],
            [22, 30, 27],
        )
    else:
        args = ([4, 6, 3], [123, 306, 231], [11, 29, 11], [139, 303, 220])
    model = build(*args, ["a", "b", "c"], "halfnormal(0.5)", "normal(0, 2)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sample.sample(model, draws=100, tune=200, chains=2, seed=5)
        ref = pm.compute_log_likelihood(
            res.idata, model=model, extend_inferencedata=False, progressbar=False
        )
    total = sum(ref[name] for name in ref.data_vars)
    assert res.idata.log_likelihood["y"].values == pytest.approx(total.values, rel=1e-8, abs=1e-8)
    assert np.isfinite(az.loo(res.idata).elpd_loo)
    assert set(res.idata.posterior_predictive.data_vars) == (
        {"mean_t", "mean_c"} if build is models.arm_normal else {"events_t", "events_c"}
    )


@pytest.mark.slow
def test_mcmc_separate_tau_subgroups_match_exact():
    """Separate mu and tau per subgroup by MCMC against the exact subgroup posteriors
    (sparsemeta.bayes.subgroups, tested against separate exact fits), within 3 MCSE."""
    from sparsemeta.bayes import subgroups

    y, se, _ = _bcg()
    alloc = datasets.bcg_colditz1994()["alloc"].astype(str).tolist()
    model = models.normal_normal(y, se, None, "halfnormal(0.5)", "normal(0, 2)", subgroups=alloc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sample.sample(model, chains=2, seed=21)
    assert res.diagnostics.divergences == 0
    exact_fit = subgroups.subgroups(y, se, alloc, "halfnormal(0.5)", "normal(0, 2)")
    post = res.idata.posterior
    mcse = az.mcse(post[["mu", "tau"]], method="mean")
    for g, p in exact_fit.posteriors.items():
        for name in ("mu", "tau"):
            draws = post[name].sel(subgroup=g)
            err = float(mcse[name].sel(subgroup=g))
            assert abs(float(draws.mean()) - p[name].mean) <= 3 * err
    assert np.isfinite(az.loo(res.idata).elpd_loo)


def test_builder_separate_tau_subgroups_structure():
    y, se, _ = _bcg()
    alloc = datasets.bcg_colditz1994()["alloc"].astype(str).tolist()
    m = models.normal_normal(y, se, None, "halfnormal(0.5)", subgroups=alloc)
    assert list(m.coords["subgroup"]) == list(dict.fromkeys(alloc))
    assert {v.name for v in m.free_RVs} == {"tau", "mu_z"}
    assert models.model_info(m).data["G"].sum(axis=0).tolist() == [
        alloc.count(g) for g in dict.fromkeys(alloc)
    ]
    with pytest.raises(DataError, match="not both"):
        models.normal_normal(y, se, None, "halfnormal(0.5)", covariates=se, subgroups=alloc)
    with pytest.raises(DataError, match="values for"):
        models.normal_normal(y, se, None, "halfnormal(0.5)", subgroups=alloc[:3])
