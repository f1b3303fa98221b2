"""Every model builder supports ``pm.sample_prior_predictive``, and its flat variables keep
exactly the flat (``pm.Flat``) log density, so posteriors are unchanged.

The flat check is exact: the stand-in's log density is 0 (that of ``pm.Flat``) at any value,
and a seeded fit gives bitwise the same draws as the same model built with ``pm.Flat``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pymc as pm
import pytest

from sparsemeta.bayes import models

LABELS = ["A", "B", "C"]
R_T, N_T, R_C, N_C = [0, 3, 5], [20, 25, 30], [1, 0, 6], [21, 24, 30]


def _builders() -> dict[str, pm.Model]:
    y, se = np.array([0.2, -0.1, 0.4]), np.array([0.3, 0.5, 0.4])
    return {
        "normal_normal": models.normal_normal(y, se, LABELS, measure="OR"),
        "normal_normal_flat_mu": models.normal_normal(y, se, LABELS, None, "flat", measure="OR"),
        "normal_normal_subgroups": models.normal_normal(
            y, se, LABELS, measure="OR", subgroups=["a", "a", "b"]
        ),
        "normal_normal_regression": models.normal_normal(
            y, se, LABELS, measure="OR", covariates=np.array([[0.0], [1.0], [2.0]])
        ),
        "binomial_normal_symmetric": models.binomial_normal(R_T, N_T, R_C, N_C, LABELS),
        "binomial_normal_comparator": models.binomial_normal(
            R_T, N_T, R_C, N_C, LABELS, arms="comparator"
        ),
        "binomial_normal_flat_mu_covariate": models.binomial_normal(
            R_T, N_T, R_C, N_C, LABELS, None, "flat", covariates=np.array([0.0, 1.0, 3.0])
        ),
        "binomial_rr": models.binomial_rr(R_T, N_T, R_C, N_C, LABELS),
        "arm_normal": models.arm_normal(
            [1.0, 2.0, 0.5], [1.0, 1.2, 0.9], [20, 30, 25],
            [0.8, 1.5, 0.7], [1.1, 1.0, 1.0], [22, 28, 25], LABELS, "halfnormal(1)",
        ),
    }  # fmt: skip


BUILDERS = [
    "normal_normal", "normal_normal_flat_mu", "normal_normal_subgroups",
    "normal_normal_regression", "binomial_normal_symmetric", "binomial_normal_comparator",
    "binomial_normal_flat_mu_covariate", "binomial_rr", "arm_normal",
]  # fmt: skip


@pytest.mark.parametrize("name", BUILDERS)
def test_prior_predictive_runs(name):
    model = _builders()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "the effect of Potentials ... ignored"
        idata = pm.sample_prior_predictive(draws=5, random_seed=1, model=model)
        again = pm.sample_prior_predictive(draws=5, random_seed=1, model=model)
    assert idata.prior.sizes["draw"] == 5
    assert np.isfinite(idata.prior["tau"].values).all()
    assert len(idata.prior_predictive.data_vars) >= 1
    assert np.array_equal(idata.prior["tau"].values, again.prior["tau"].values)


@pytest.mark.parametrize("value", [-37.0, 0.0, 2.5, 400.0])
def test_flat_stand_in_has_the_flat_log_density(value):
    with pm.Model() as model:
        models._flat("x")
    assert float(model.compile_logp()({"x": value})) == 0.0  # pm.Flat's log density
    assert model.initial_point()["x"] == 0.0  # pm.Flat's initial point


def test_flat_stand_in_gives_the_same_posterior_draws_as_pm_flat(monkeypatch):
    y, se = np.array([1.39710528, 3.42936826]), np.array([0.32110984, 1.0173755])

    def draws(model):
        with model:
            idata = pm.sample(
                draws=30, tune=30, chains=1, cores=1, random_seed=3, progressbar=False,
                compute_convergence_checks=False,
            )  # fmt: skip
        return idata.posterior["mu"].values

    new = draws(models.normal_normal(y, se, ["A", "B"], measure="RR"))
    monkeypatch.setattr(
        models, "_flat", lambda name, dims=None, standardises=None: pm.Flat(name, dims=dims)
    )
    old = draws(models.normal_normal(y, se, ["A", "B"], measure="RR"))
    assert np.array_equal(new, old)


def test_flat_stand_in_prior_draws_are_wide_normal():
    with pm.Model(coords={"k": range(4000)}) as model:
        models._flat("x", dims="k")
    x = pm.draw(model["x"], random_seed=5)
    # N(0, 10^2): mean within 5 standard errors, sd within 5% of 10
    assert abs(x.mean()) < 5 * models.FLAT_STAND_IN_SD / np.sqrt(x.size)
    assert x.std() == pytest.approx(models.FLAT_STAND_IN_SD, rel=0.05)


@pytest.mark.parametrize(
    ("name", "mean", "sd"),
    [
        ("normal_normal", 0.0, 2.82),  # OR default N(0, 2.82^2)
        ("normal_normal_flat_mu", 0.0, models.FLAT_STAND_IN_SD),  # flat: the stand-in
        ("normal_normal_subgroups", 0.0, 2.82),
        ("binomial_normal_symmetric", 0.0, 2.82),
        ("binomial_rr", 0.0, 2.82),  # RR default N(0, 2.82^2)
        ("arm_normal", 0.0, models.FLAT_STAND_IN_SD),  # MD: flat mu
    ],
)
def test_prior_predictive_mu_is_drawn_from_its_prior(name, mean, sd):
    """mu is sampled standardised (mu = c(tau) + s(tau) mu_z), yet its prior predictive draws
    are draws from mu's prior: Kolmogorov-Smirnov test of 4,000 draws against N(mean, sd^2),
    and the sample mean and SD within 4 standard errors."""
    from scipy import stats

    model = _builders()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        idata = pm.sample_prior_predictive(draws=4000, random_seed=3, model=model)
    mu = idata.prior["mu"].values.ravel()
    assert stats.kstest(mu, "norm", args=(mean, sd)).pvalue > 1e-3
    assert abs(mu.mean() - mean) < 4 * sd / np.sqrt(mu.size)
    assert abs(mu.std() / sd - 1) < 4 / np.sqrt(2 * mu.size)
