"""Tests of ``sparsemeta.compare_priors`` against numbers computed independently here."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import sparsemeta
from sparsemeta.bayes import sensitivity
from sparsemeta.errors import DataError, PriorError

matplotlib.use("Agg")

Y = np.array([0.9, 0.2, 0.55])
SE = np.array([0.35, 0.5, 0.3])


def _halfnormal_statement(scale: float) -> dict[str, float]:
    """What HN(scale) says about tau, from the half-normal's closed form."""
    return {
        "prior_tau_median": scale * stats.norm.ppf(0.75),
        "prior_tau_q95": scale * stats.norm.ppf(0.975),
        "prior_p_tau_gt_0_5": 2 * stats.norm.sf(0.5 / scale),
        "prior_p_tau_gt_1": 2 * stats.norm.sf(1.0 / scale),
    }


def test_prior_statement_is_the_half_normal_closed_form():
    c = sensitivity.compare_priors(Y, {"a": "halfnormal(0.5)", "b": "halfnormal(1.0)"}, se=SE)
    for label, scale in (("a", 0.5), ("b", 1.0)):
        for column, value in _halfnormal_statement(scale).items():
            assert c.table.loc[label, column] == pytest.approx(value, rel=1e-6)
    # PRIORS.md section 9 (computed from the parameters by the design notes, 3 decimals)
    assert c.table.loc["a", "prior_tau_q95"] == pytest.approx(0.980, abs=5e-4)
    assert c.table.loc["b", "prior_p_tau_gt_1"] == pytest.approx(0.317, abs=5e-4)


def test_tau_near_zero_gives_the_fixed_effect_inverse_variance_estimate():
    w = 1 / SE**2
    fixed = float(np.sum(w * Y) / np.sum(w))
    half = stats.norm.ppf(0.975) / math.sqrt(w.sum())
    c = sensitivity.compare_priors(Y, ["halfnormal(0.0001)"], se=SE, mu_prior="flat")
    row = c.table.iloc[0]
    assert row.mu_median == pytest.approx(fixed, abs=1e-4)
    assert row.mu_low == pytest.approx(fixed - half, abs=1e-4)
    assert row.mu_high == pytest.approx(fixed + half, abs=1e-4)
    # with tau ~ 0 a new study's effect is as uncertain as mu itself
    assert row.pred_low == pytest.approx(fixed - half, abs=1e-3)
    p_below = c.prob("mu", "<", 0.0).iloc[0]
    assert p_below == pytest.approx(stats.norm.cdf(0, fixed, 1 / math.sqrt(w.sum())))


def _kl_by_quadrature(y: np.ndarray, se: np.ndarray, scale: float) -> float:
    """KL(tau posterior || HN(scale) prior) for a flat mu prior, by direct integration.

    Marginal likelihood of tau with mu integrated out (flat prior):
    L(tau) = prod(w)^(1/2) (sum w)^(-1/2) exp(-Q/2), w = 1/(se^2 + tau^2).
    """

    def lik(t: float) -> float:
        w = 1 / (se**2 + t**2)
        m = np.sum(w * y) / np.sum(w)
        return math.sqrt(np.prod(w) / np.sum(w)) * math.exp(-0.5 * np.sum(w * (y - m) ** 2))

    prior = stats.halfnorm(scale=scale).pdf
    z = integrate.quad(lambda t: prior(t) * lik(t), 0, np.inf, epsabs=0, epsrel=1e-11)[0]

    def integrand(t: float) -> float:
        p = prior(t) * lik(t) / z
        return p * math.log(lik(t) / z) if p > 0 else 0.0

    return integrate.quad(integrand, 0, np.inf, epsabs=0, epsrel=1e-10)[0]


def test_kl_divergence_matches_direct_integration():
    c = sensitivity.compare_priors(
        Y, ["halfnormal(0.5)", "halfnormal(2.0)"], se=SE, mu_prior="flat"
    )
    assert c.table["kl_tau"].iloc[0] == pytest.approx(_kl_by_quadrature(Y, SE, 0.5), rel=1e-4)
    assert c.table["kl_tau"].iloc[1] == pytest.approx(_kl_by_quadrature(Y, SE, 2.0), rel=1e-4)


def test_ratio_columns_are_the_exponentials_and_p_ratio_complements():
    c = sensitivity.compare_priors(Y, ["halfcauchy(0.5)"], measure="RR", se=SE)
    r = c.table.iloc[0]
    assert r.ratio_median == pytest.approx(math.exp(r.mu_median))
    assert (r.ratio_low, r.ratio_high) == pytest.approx((math.exp(r.mu_low), math.exp(r.mu_high)))
    assert r.pred_ratio_high == pytest.approx(math.exp(r.pred_high))
    assert c.prob("mu", ">", 0.0).iloc[0] == pytest.approx(1 - c.prob("mu", "<", 0.0).iloc[0])
    # mu prior defaults to the measure's documented default: N(0, 2.82^2) for a log RR
    assert (c.mu_prior.mean, c.mu_prior.sd) == (0.0, 2.82)
    generic = sensitivity.compare_priors(Y, ["halfcauchy(0.5)"], se=SE)
    assert "ratio_median" not in generic.table.columns


def _binary(rows: list[tuple[str, int, int, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "comparison": "A vs B",
                "outcome": "death",
                "study": s,
                "events_t": a,
                "n_t": n1,
                "events_c": c,
                "n_c": n2,
            }
            for s, a, n1, c, n2 in rows
        ]
    )


def test_study_table_uses_log_risk_ratios_computed_by_hand():
    table = _binary([("S1", 12, 40, 6, 42), ("S2", 5, 30, 9, 31), ("S3", 0, 20, 0, 21)])
    c = sensitivity.compare_priors(table, ["halfnormal(0.5)"], measure="RR")
    # S1, S2: log RR and its Katz SE; S3 has no events in either arm and is left out
    y = [math.log((12 / 40) / (6 / 42)), math.log((5 / 30) / (9 / 31))]
    se = [
        math.sqrt(1 / 12 - 1 / 40 + 1 / 6 - 1 / 42),
        math.sqrt(1 / 5 - 1 / 30 + 1 / 9 - 1 / 31),
    ]
    assert c.labels == ("S1", "S2")
    np.testing.assert_allclose(c.y, y, rtol=1e-12)
    np.testing.assert_allclose(c.se, se, rtol=1e-12)
    assert [s for s, _ in c.excluded] == ["S3"]
    same = sensitivity.compare_priors(y, ["halfnormal(0.5)"], measure="RR", se=se)
    pd.testing.assert_series_equal(
        c.table.iloc[0].drop("prior"), same.table.iloc[0].drop("prior"), check_names=False
    )


def test_table_with_yi_and_vi_columns():
    frame = pd.DataFrame({"study": ["a", "b", "c"], "yi": Y, "vi": SE**2})
    c = sensitivity.compare_priors(frame, ["halfnormal(1)"])
    assert c.labels == ("a", "b", "c")
    np.testing.assert_allclose(c.se, SE)


def test_improper_prior_has_no_statement_or_kl():
    c = sensitivity.compare_priors(Y, ["jeffreys", "halfnormal(0.5)"], measure="OR", se=SE)
    jeff = c.table.iloc[0]
    assert math.isnan(jeff.kl_tau) and math.isnan(jeff.prior_tau_median)
    assert math.isfinite(jeff.mu_median)
    assert math.isfinite(c.table.iloc[1].kl_tau)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: sensitivity.compare_priors(Y, ["halfnormal(0.5)"]), DataError),  # no se
        (lambda: sensitivity.compare_priors(Y, ["halfnormal(0.5)"] * 2, se=SE), PriorError),
        (lambda: sensitivity.compare_priors(Y, ["nonsense(1)"], se=SE), PriorError),
        (lambda: sensitivity.compare_priors(Y, [], se=SE), PriorError),
        (lambda: sensitivity.compare_priors(Y, ["halfnormal(1)"], measure="XYZ", se=SE), DataError),
        (lambda: sensitivity.compare_priors(Y, ["halfnormal(1)"], se=SE[:2]), DataError),
        (
            lambda: sensitivity.compare_priors(_binary([("S1", 1, 10, 2, 10)]), ["halfnormal(1)"]),
            DataError,  # binary data need a measure
        ),
        (
            lambda: sensitivity.compare_priors(
                _binary([("S1", 0, 10, 0, 10)]), ["halfnormal(1)"], measure="RR"
            ),
            DataError,  # no estimable study
        ),
    ],
)
def test_bad_input_raises(call, error):
    with pytest.raises(error):
        call()


def test_table_of_two_analyses_is_refused():
    two = pd.concat([_binary([("S1", 3, 10, 2, 10)]), _binary([("S2", 3, 10, 2, 10)])])
    two["outcome"] = ["death", "stroke"]
    with pytest.raises(DataError, match="2 analyses"):
        sensitivity.compare_priors(two, ["halfnormal(1)"], measure="RR")


def test_top_level_name_and_text_and_plots():
    assert sparsemeta.compare_priors is sensitivity.compare_priors
    c = sparsemeta.compare_priors(
        Y, {"HN(0.5)": "halfnormal(0.5)", "HC(1)": "halfcauchy(1.0)"}, measure="RR", se=SE
    )
    text = str(c)
    assert "HN(0.5)" in text and "HC(1)" in text and "risk ratio" in text
    assert f"{c.table.loc['HN(0.5)', 'ratio_median']:.2f}" in text
    fig = c.plot()
    eff, tau = fig.axes
    assert eff.get_xscale() == "log" and tau.get_xscale() == "linear"
    assert [t.get_text() for t in eff.get_yticklabels()] == ["HN(0.5)", "HC(1)"]
    fig = c.plot_tau()
    assert len([a for a in fig.axes if a.get_visible()]) == 2
    assert "prior" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    import matplotlib.pyplot as plt

    plt.close("all")


def test_plot_keeps_proper_priors_readable_beside_an_improper_one():
    # Jeffreys' prior (improper) gives far wider intervals than the half-normal priors;
    # the axes follow the proper priors and the improper one is drawn clipped
    matplotlib.use("Agg")
    y, se = np.array([1.2, 0.4]), np.array([0.5, 0.8])
    comp = sensitivity.compare_priors(
        y, ["halfnormal(0.5)", "halfnormal(1.0)", "jeffreys"], measure="RR", se=se
    )
    t = comp.table
    proper, improper = t.iloc[:2], t.iloc[2]
    fig = comp.plot()
    eff_ax, tau_ax = fig.axes[:2]
    lo, hi = eff_ax.get_xlim()
    assert lo <= math.exp(proper["mu_low"].min()) and hi >= math.exp(proper["mu_high"].max())
    assert hi < math.exp(improper["mu_high"]) or lo > math.exp(improper["mu_low"])
    assert tau_ax.get_xlim()[1] >= proper["tau_high"].max()
    assert tau_ax.get_xlim()[1] < improper["tau_high"]
