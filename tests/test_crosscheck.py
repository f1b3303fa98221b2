"""MCMC fits checked against the exact posterior; Rao-Blackwellised summaries; prior dominance.

Independent sources: the exact engines (themselves tested against brute-force integration
in test_exact.py and test_exact_binomial.py), the arm-swap symmetry of the model, normal
mixture cdfs solved here with scipy's brentq, and hand-made comparison rows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy import optimize, special

from sparsemeta import datasets
from sparsemeta.bayes import crosscheck, dominance, exact_binomial, models, sample
from sparsemeta.errors import PriorError

ATTACHMENT = [
    "Infant attachment: secure",
    "Infant attachment: avoidant",
    "Infant attachment: resistant",
    "Infant attachment: disorganised",
]


ATTACH_CHANGE = "Attachment change: secure to insecure"


def _pip(outcome: str) -> pd.DataFrame:
    t = datasets.pip_barlow2015()
    rows = t[(t["comparison"] == "PIP vs control") & (t["outcome"] == outcome)]
    return rows[["study", "events_t", "n_t", "events_c", "n_c"]].reset_index(drop=True)


def test_crosscheck_verdict_and_message():
    rows = (
        {"param": "mu", "prob": 0.5, "mcmc": 1.0, "exact": 1.02, "mcse": 0.01, "z": -2.0},
        {"param": "tau", "prob": 0.975, "mcmc": 1.5, "exact": 1.2, "mcse": 0.05, "z": 6.0},
    )
    check = crosscheck.CrossCheck("exact-binomial", rows)
    assert check.max_z == 6.0 and not check.passed
    assert "tau q0.975" in check.message() and "DISAGREES" in check.message()
    assert crosscheck.CrossCheck("exact", rows[:1]).passed
    assert check.to_dict()["max_z"] == 6.0


def test_rao_blackwell_theta_new_quantile_and_its_mcse():
    """theta_new is compared as reported: the mixture quantile over (mu, tau) draws, solved
    here with brentq, and its delta-method MCSE, which must match the spread of the quantile
    over 400 independent replicate posteriors (iid draws: 4 chains x 250)."""
    rng = np.random.default_rng(7)
    estimates, mcses = [], []
    for _ in range(400):
        mu = rng.normal(0.3, 0.4, size=(4, 250))
        tau = np.abs(rng.normal(0.0, 0.6, size=(4, 250)))
        rows = crosscheck._mixture_quantiles(mu, tau)
        q, mcse = rows[0]  # the 2.5% quantile
        assert q == pytest.approx(_mixture_quantile(mu.ravel(), tau.ravel(), 0.025), abs=1e-7)
        estimates.append(q)
        mcses.append(mcse)
    spread = float(np.std(estimates, ddof=1))
    # the SD of a 400-replicate SD is about 3.5%: 12% is 3.4 of them
    assert float(np.mean(mcses)) == pytest.approx(spread, rel=0.12)


def test_dominance_rules_by_hand():
    assert dominance.reasons(1)[0].startswith("k = 1")
    assert "double-zero" in dominance.reasons(2, ([0, 0], [0, 0]))[0]
    assert dominance.reasons(2, ([0, 1], [0, 0])) == []
    assert "KL" in dominance.reasons(3, None, 0.01)[0]
    assert dominance.reasons(3, None, 0.2) == []


def test_flat_mu_double_zero_refused_before_sampling():
    table = pd.DataFrame(
        {
            "study": ["a", "b"],
            "events_t": [0, 0],
            "n_t": [30, 20],
            "events_c": [0, 0],
            "n_c": [30, 25],
        }
    )
    with pytest.raises(PriorError, match="improper"):
        sample.sample(table, model="binomial-rr", tau_prior="halfnormal(0.5)", mu_prior="flat")


def test_extended_model_has_no_exact_reference():
    model = models.binomial_normal(
        [31, 8], [46, 14], [9, 1], [54, 54], None, "halfnormal(0.5)", "normal(0, 2.82)"
    )
    assert crosscheck.exact_reference(model) is not None
    with model:
        pm.Normal("beta", 0.0, 1.0)
    assert models.is_extended(model)
    assert crosscheck.exact_reference(model) is None


def _mixture_quantile(means, sds, p):
    def cdf(x):
        return special.ndtr((x - means) / sds).mean() - p

    return optimize.brentq(cdf, means.min() - 10 * sds.max(), means.max() + 10 * sds.max())


@pytest.mark.slow
def test_user_extension_rao_blackwell_and_crosscheck_on_a_small_fit():
    # normal-normal, extended by a user variable: its rows appear, no cross-check
    y, se = np.array([0.3, -0.1, 0.5]), np.array([0.2, 0.3, 0.25])
    model = models.normal_normal(y, se, ["a", "b", "c"], "halfnormal(0.5)", "normal(0, 1)")
    with model:
        pm.Deterministic("mu_doubled", 2 * model["mu"])
    fit = sample.sample(model, "MD", seed=3)
    assert fit.extended and fit.crosscheck is None
    assert "mu_doubled" in set(fit.summary()["param"])
    # theta_new row: quantiles of the mixture (1/S) sum N(mu_s, tau_s^2) over the draws
    post = fit.idata.posterior
    mu, tau = post["mu"].values.ravel(), post["tau"].values.ravel()
    row = fit.summary().set_index("param").loc["theta_new"]
    assert row["upper"] == pytest.approx(_mixture_quantile(mu, tau, 0.975), abs=1e-8)
    assert row["median"] == pytest.approx(_mixture_quantile(mu, tau, 0.5), abs=1e-8)
    assert row["sd"] == pytest.approx(math.sqrt(np.mean(tau**2) + np.var(mu)), rel=1e-12)
    # the same model unextended: cross-checked against the exact normal-normal posterior
    plain = models.normal_normal(y, se, ["a", "b", "c"], "halfnormal(0.5)", "normal(0, 1)")
    fit = sample.sample(plain, "MD", seed=3)
    assert fit.crosscheck is not None and fit.crosscheck.engine == "exact"
    assert "cross-check" in str(fit)


@pytest.mark.slow
@pytest.mark.parametrize("prior", ["halfnormal(0.5)", "halfnormal(1)", "turner2015()"])
def test_pip_attachment_mcmc_agrees_with_exact(prior):
    """Done-when of issue 11: the four PIP-vs-control infant-attachment analyses (k = 2,
    one with a zero-event arm), binomial-normal, three tau priors; the automatic
    cross-check compares 9 quantiles per fit with the exact binomial engine.

    The issue asks for every quantile within 3 MCSE. Over 4 analyses x 9 quantiles a correct
    sampler exceeds 3 somewhere in ~9% of runs, so the test holds the 36 comparisons of a
    prior to the Bonferroni bound for a 1% family-wise false alarm (z = 3.63) and counts
    those beyond 3: at most one (expected 0.1). Resistant attachment under HN(1), seeds
    11-22: 108 comparisons, one beyond 3 (3.33, tau q0.025, seed 13), the rest within 2.13.
    """
    n_compared = len(ATTACHMENT) * 3 * len(crosscheck.PROBS)
    z_crit = float(special.ndtri(1 - 0.01 / (2 * n_compared)))
    beyond_3 = []
    for i, outcome in enumerate(ATTACHMENT):
        fit = sample.sample(
            _pip(outcome), model="binomial-normal", tau_prior=prior, draws=1000, seed=11 + i
        )
        assert fit.diagnostics.passed, (outcome, fit.diagnostics.failures)
        assert fit.crosscheck is not None and fit.crosscheck.engine == "exact-binomial"
        assert fit.crosscheck.passed, fit.crosscheck.message()
        assert fit.crosscheck.max_z <= z_crit, (outcome, fit.crosscheck.message())
        beyond_3 += [
            (outcome, r["param"], r["prob"]) for r in fit.crosscheck.rows if abs(float(r["z"])) > 3
        ]
    assert len(beyond_3) <= 1, beyond_3


@pytest.mark.slow
@pytest.mark.parametrize(("prior", "seed"), [("halfnormal(0.5)", 21), ("halfnormal(1)", 23)])
def test_pip_binomial_rr_mcmc_agrees_with_exact(prior, seed):
    """binomial-rr (issue 11): MCMC of the builder on two PIP-vs-control analyses, secure
    (31/46 vs 9/54, 8/14 vs 1/54) and secure to insecure (0/46 vs 6/54 and the double-zero
    0/14 vs 0/54), against the exact binomial-rr engine (tested against brute-force
    integration in test_exact_binomial_rr.py): every 2.5/50/97.5% quantile of mu, tau and
    theta_new within the cross-check's tolerance, and the automatic cross-check says so.
    Seeds: over seeds 20-29 on secure under HN(1) the largest abs(z) was at most 3.4 except
    seed 21 (6.1, theta_new q0.025 from the raw theta_new draws, 1.6% below the exact 2.5%
    quantile in all four chains; 2.2% by the Rao-Blackwellised mixture of the same mu, tau
    draws, which is what the summary reports and the cross-check now compares)."""
    import arviz as az

    from sparsemeta.bayes import exact_binomial_rr

    for i, outcome in enumerate(["Infant attachment: secure", ATTACH_CHANGE]):
        table = _pip(outcome)
        fit = sample.sample(table, model="binomial-rr", tau_prior=prior, seed=seed + i)
        assert fit.diagnostics.passed, (outcome, fit.diagnostics.failures)
        exact = exact_binomial_rr.posterior(
            *(table[c] for c in ("events_t", "n_t", "events_c", "n_c")), prior
        )
        for param in ("mu", "tau"):
            draws = fit.idata.posterior[param].values
            for p in crosscheck.PROBS:
                mcse = float(az.mcse(draws, method="quantile", prob=p))
                z = (np.quantile(draws, p) - exact[param].quantile(p)) / mcse
                assert abs(z) <= crosscheck.TOLERANCE, (outcome, param, p, z)
        check = fit.crosscheck
        assert check is not None and check.engine == "exact-binomial", outcome
        # theta_new is checked Rao-Blackwellised: the mixture quantile, solved here by brentq
        post = fit.idata.posterior
        mu, tau = post["mu"].values.ravel(), post["tau"].values.ravel()
        for row in (r for r in check.rows if r["param"] == "theta_new"):
            solved = _mixture_quantile(mu, tau, float(row["prob"]))
            assert row["mcmc"] == pytest.approx(solved, abs=1e-7)
        for row in check.rows:  # the check used the binomial-rr engine
            ref = exact[str(row["param"])].quantile(float(row["prob"]))
            assert row["exact"] == pytest.approx(ref, abs=1e-10)
        assert check.passed and "agrees" in check.message(), check.message()
        assert "cross-check: MCMC vs exact-binomial" in str(fit)


@pytest.mark.slow
def test_mcmc_arm_swap_within_3_mcse():
    et, nt, ec, nc = [31, 8, 0], [46, 14, 30], [9, 1, 0], [54, 54, 30]

    def table(a, n1, c, n2):
        return pd.DataFrame(
            {"study": ["x", "y", "z"], "events_t": a, "n_t": n1, "events_c": c, "n_c": n2}
        )

    one = sample.sample(
        table(et, nt, ec, nc), model="binomial-normal", tau_prior="halfnormal(0.5)", seed=5
    )
    two = sample.sample(
        table(ec, nc, et, nt), model="binomial-normal", tau_prior="halfnormal(0.5)", seed=6
    )
    import arviz as az

    for var in ("mu", "theta_new"):
        for p in (0.025, 0.5, 0.975):
            a = np.quantile(one.idata.posterior[var].values, p)
            b = np.quantile(two.idata.posterior[var].values, 1 - p)
            mcse = math.hypot(
                float(az.mcse(one.idata.posterior[var].values, method="quantile", prob=p)),
                float(az.mcse(two.idata.posterior[var].values, method="quantile", prob=1 - p)),
            )
            assert abs(a + b) <= 3 * mcse, (var, p, a, b, mcse)


def test_exact_binomial_prior_dominance_for_double_zero_only():
    post = exact_binomial.posterior([0, 0], [30, 20], [0, 0], [30, 25], "halfnormal(0.5)")
    why = dominance.reasons(post.k, ([0, 0], [0, 0]), post.kl_tau())
    assert any("double-zero" in w for w in why)


def test_compare_priors_binomial_uses_the_exact_binomial_engine():
    from sparsemeta import compare_priors

    table = _pip("Attachment change: secure to insecure")  # 0/46 vs 6/54 and 0/14 vs 0/54
    comp = compare_priors(table, ["halfnormal(0.5)", "halfnormal(1)"], model="binomial-normal")
    assert comp.model == "binomial-normal" and comp.k == 2  # the double-zero study is kept
    ref = exact_binomial.posterior([0, 0], [46, 14], [6, 0], [54, 54], "halfnormal(1)")
    row = comp.table.loc["halfnormal(scale=1.0)"]
    assert row["mu_median"] == pytest.approx(ref.mu.quantile(0.5), abs=1e-10)
    assert row["kl_tau"] == pytest.approx(ref.kl_tau(), abs=1e-10)
    assert (row["prior_dominated"] != "") == (ref.kl_tau() < dominance.KL_THRESHOLD)
    assert "binomial-normal" in str(comp)
