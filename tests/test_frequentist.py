"""Frequentist pooling against published values, metafor's checks and hand calculations.

Sources of expected values
--------------------------
* BCG vaccine trials (``dat.bcg``; Colditz et al. 1994 JAMA 271:698, as in metafor):
  metafor's own regression tests, which compare ``rma``/``rma.mh``/``rma.peto`` with Stata's
  ``metan`` (wviechtb/metafor, tests/testthat/test_misc_metan_vs_rma.uni_with_dat.bcg.r,
  ..._rma.mh_with_dat.bcg.r, ..._rma.peto_with_dat.bcg.r, test_misc_confint.r), and
  Viechtbauer (2010) J Stat Softw 36(3) for the REML fit (−0.7145 [−1.0669, −0.3622],
  τ² 0.3132, I² 92.22%, Q 152.23).
* CLASP trial data: DerSimonian & Kacker (2007) Contemp Clin Trials 28:105, Tables 3–4
  (τ, μ, SE for the PM, DL and REML estimators), as checked in metafor's
  tests/testthat/test_analysis_example_dersimonian2007.r.
* PIP secure attachment: Barlow et al. (2016) Cochrane Review of the Parent-Infant
  Psychotherapy, M-H random RR 8.93 [1.25, 63.70], Chi² 3.71, I² 73%; R ``meta::metabin``
  on the same two studies: Q 3.713, τ² 1.544.
* Everything else: hand calculations written out in the test.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sparsemeta import datasets
from sparsemeta import frequentist as fq
from sparsemeta.data import study_table
from sparsemeta.errors import DataError


def binary(rows, subgroups=None) -> pd.DataFrame:
    frame = pd.DataFrame(
        [
            dict(comparison="c", outcome="o", study=s, events_t=a, n_t=n1, events_c=c, n_c=n2)
            for s, a, n1, c, n2 in rows
        ]
    )
    if subgroups is not None:
        frame["subgroup"] = subgroups
    return study_table(frame)


@pytest.fixture(scope="module")
def bcg() -> pd.DataFrame:
    return datasets.bcg_colditz1994()


def close(x, expected, digits=4):
    """Reproduced when our value rounds to the printed digits (± half a unit)."""
    assert abs(x - expected) <= 0.5 * 10**-digits + 1e-12, (x, expected)


# --- BCG vs metafor / metan ---------------------------------------------------------------


def test_bcg_fixed_iv(bcg):
    r = fq.meta_analysis(bcg, "RR", random=False)
    for got, want in [(r.estimate, -0.4303), (r.ci_low, -0.5097), (r.ci_high, -0.3509),
                      (r.z, -10.6247), (r.chi2, 152.2330)]:  # fmt: skip
        close(got, want)
    assert r.df == 12 and r.tau2 == 0 and r.tau2_method is None


def test_bcg_dersimonian_laird(bcg):
    r = fq.meta_analysis(bcg, "RR", tau2_method="DL")
    for got, want in [(r.estimate, -0.7141), (r.ci_low, -1.0644), (r.ci_high, -0.3638),
                      (r.z, -3.9952), (r.tau2, 0.3088), (r.i2, 92.1173)]:  # fmt: skip
        close(got, want)
    close(r.exp_estimate(), 0.4896)
    close(r.exp_ci()[0], 0.3449)
    close(r.exp_ci()[1], 0.6950)


def test_bcg_reml(bcg):
    r = fq.meta_analysis(bcg, "RR", tau2_method="REML")
    for got, want in [(r.estimate, -0.7145), (r.ci_low, -1.0669), (r.ci_high, -0.3622),
                      (r.tau2, 0.3132), (r.chi2, 152.2330)]:  # fmt: skip
        close(got, want)
    close(r.se, 0.1798)
    # metafor prints I² 92.22% for REML from tau^2 (100 tau^2/(tau^2 + typical variance));
    # our I² is Higgins & Thompson's Q-based one, as RevMan's: (Q - df)/Q
    assert r.i2 == pytest.approx(100 * (r.chi2 - 12) / r.chi2, rel=1e-14)


def test_bcg_q_profile_ci_for_tau2(bcg):
    # metafor confint(): tau^2 CI [0.1197, 1.1115] (test_misc_confint.r); the Q-profile
    # interval depends on the data only, not on the tau^2 estimator.
    for method in ("DL", "REML", "PM"):
        lo, hi = fq.meta_analysis(bcg, "RR", tau2_method=method).tau2_ci
        close(lo, 0.1197)
        close(hi, 1.1115)


def test_bcg_reml_hartung_knapp(bcg):
    # metafor rma(yi, vi, method="REML", test="knha") on dat.bcg:
    # -0.7145 [-1.1084, -0.3206] (t with 12 df)
    r = fq.meta_analysis(bcg, "RR", tau2_method="REML", ci_method="hksj")
    close(r.estimate, -0.7145)
    close(r.ci_low, -1.1084)
    close(r.ci_high, -0.3206)
    # and the formula by hand: SE^2 = sum w (y - mu)^2 / ((k - 1) sum w), w = 1/(v + tau^2)
    w = 1 / (r.vi + r.tau2)
    mu = np.sum(w * r.yi) / np.sum(w)
    se = math.sqrt(np.sum(w * (r.yi - mu) ** 2) / (12 * np.sum(w)))
    assert r.se == pytest.approx(se, rel=1e-12)
    assert r.ci_high - r.estimate == pytest.approx(stats.t.ppf(0.975, 12) * se, rel=1e-12)
    assert r.p == pytest.approx(2 * stats.t.sf(abs(mu / se), 12), rel=1e-9)


def test_bcg_prediction_interval_by_hand(bcg):
    # Higgins, Thompson & Spiegelhalter (2009): mu ± t_{k-2} sqrt(tau^2 + SE^2), using
    # the REML values printed by Viechtbauer (2010): mu -0.7145, SE 0.1798, tau^2 0.3132.
    half = stats.t.ppf(0.975, 11) * math.sqrt(0.3132 + 0.1798**2)
    r = fq.meta_analysis(bcg, "RR", tau2_method="REML")
    close(r.pi_low, -0.7145 - half, digits=3)
    close(r.pi_high, -0.7145 + half, digits=3)
    assert "11 df" in r.pi_note


def test_bcg_mantel_haenszel_and_peto(bcg):
    rr = fq.meta_analysis(bcg, "RR", method="MH", random=False)
    for got, want in [(rr.estimate, -0.4537), (rr.ci_low, -0.5308), (rr.ci_high, -0.3766),
                      (rr.z, -11.5338), (rr.chi2, 152.5676)]:  # fmt: skip
        close(got, want)
    odds = fq.meta_analysis(bcg, "OR", method="MH", random=False)
    for got, want in [(odds.estimate, -0.4734), (odds.ci_low, -0.5538), (odds.ci_high, -0.3930),
                      (odds.z, -11.5444), (odds.chi2, 163.9426)]:  # fmt: skip
        close(got, want)
    # RD: metafor's CI uses the Sato-Greenland-Robins variance; Stata metan uses the
    # Greenland-Robins one, as RevMan does, and prints z = 11.56 (quoted in the same file)
    rd = fq.meta_analysis(bcg, "RD", method="MH", random=False)
    close(rd.estimate, -0.0033)
    close(rd.z, -11.56, digits=2)
    close(rd.chi2, 386.7759)
    peto = fq.meta_analysis(bcg, "OR", method="Peto", random=False)
    for got, want in [(peto.estimate, -0.4744), (peto.ci_low, -0.5541), (peto.ci_high, -0.3948),
                      (peto.z, -11.6689), (peto.chi2, 167.7302)]:  # fmt: skip
        close(got, want)


def test_bcg_risk_difference_iv(bcg):
    fe = fq.meta_analysis(bcg, "RD", random=False)
    for got, want in [(fe.estimate, -0.0009), (fe.ci_low, -0.0014), (fe.ci_high, -0.0005),
                      (fe.z, -4.0448), (fe.chi2, 276.4737)]:  # fmt: skip
        close(got, want)
    re = fq.meta_analysis(bcg, "RD", tau2_method="DL")
    for got, want in [(re.estimate, -0.0071), (re.ci_low, -0.0101), (re.ci_high, -0.0040),
                      (re.z, -4.5128), (re.i2, 95.6596)]:  # fmt: skip
        close(got, want)


# --- tau^2 estimators: DerSimonian & Kacker (2007), CLASP --------------------------------

CLASP = dict(
    n1=[156, 303, 565, 1570, 103, 4659], n2=[74, 303, 477, 1565, 105, 4650],
    a=[5, 5, 12, 69, 9, 313], c=[8, 17, 9, 94, 11, 352],
)  # fmt: skip


@pytest.mark.parametrize(
    ("method", "tau", "mu", "se"),
    [("PM", 0.3681, -0.3811, 0.2060), ("DL", 0.2323, -0.3240, 0.1540),
     ("REML", 0.1843, -0.2980, 0.1343)],
)  # fmt: skip
def test_clasp_tau2_estimators(method, tau, mu, se):
    df = binary(
        [
            (f"s{i}", *v)
            for i, v in enumerate(
                zip(CLASP["a"], CLASP["n1"], CLASP["c"], CLASP["n2"], strict=True)
            )
        ]
    )
    r = fq.meta_analysis(df, "OR", tau2_method=method)
    close(r.tau, tau)
    close(r.estimate, mu)
    close(r.se, se)


def test_pm_solves_the_generalised_q_equation():
    yi = np.array([-0.9, 0.1, 0.6, -0.3, 1.4])
    vi = np.array([0.1, 0.2, 0.05, 0.3, 0.15])
    t2 = fq.tau2_pm(yi, vi)
    w = 1 / (vi + t2)
    mu = np.sum(w * yi) / np.sum(w)
    assert np.sum(w * (yi - mu) ** 2) == pytest.approx(len(yi) - 1, rel=1e-10)


@pytest.mark.parametrize(
    ("yi", "vi"),
    [
        # plain Fisher scoring oscillates between ~0 and ~0.34 on these data
        ([-0.548, 0.928, 0.225, -0.007, 0.332, 0.543, -0.534, -0.219],
         [8e-4, 0.754, 2.3245, 1.5097, 0.4212, 2.0585, 0.94, 3.996]),
        # and crawls (linear convergence) on this flat likelihood
        ([-0.93925299, 1.13074119, 0.90908041], [0.85057378, 0.09841521, 0.16228085]),
    ],
)  # fmt: skip
def test_reml_maximises_the_restricted_likelihood(yi, vi):
    from scipy import optimize

    yi, vi = np.array(yi), np.array(vi)

    def neg_loglik(t2):  # -2 x REML log-likelihood, written out independently
        w = 1 / (vi + t2)
        mu = np.sum(w * yi) / np.sum(w)
        return np.sum(np.log(vi + t2)) + np.log(np.sum(w)) + np.sum(w * (yi - mu) ** 2)

    best = optimize.minimize_scalar(neg_loglik, bounds=(0, 10), method="bounded",
                                    options={"xatol": 1e-12})  # fmt: skip
    assert fq.tau2_reml(yi, vi) == pytest.approx(best.x, rel=1e-5)


def test_estimators_are_zero_without_excess_heterogeneity():
    yi = np.array([0.10, 0.11, 0.09])
    vi = np.array([0.2, 0.3, 0.25])
    assert fq.tau2_dl(yi, vi) == 0 and fq.tau2_pm(yi, vi) == 0 and fq.tau2_reml(yi, vi) == 0
    assert fq.tau2_qprofile_ci(yi, vi) == (0.0, 0.0)


def test_two_dimensional_input_matches_row_by_row():
    rng = np.random.default_rng(1)
    yi = rng.normal(0, 0.5, size=(50, 4))
    vi = rng.uniform(0.05, 0.5, size=(50, 4))
    for fn in (fq.tau2_dl, fq.tau2_pm, fq.tau2_reml):
        batch = fn(yi, vi)
        assert batch.shape == (50,)
        assert batch == pytest.approx(
            [fn(y, v) for y, v in zip(yi, vi, strict=True)], rel=1e-9, abs=1e-12
        )
    t2 = fq.tau2_dl(yi, vi)
    est, se = fq.random_iv(yi, vi, t2)
    assert est[7] == pytest.approx(fq.random_iv(yi[7], vi[7], t2[7])[0], rel=1e-14)
    assert se[7] == pytest.approx(fq.random_iv(yi[7], vi[7], t2[7])[1], rel=1e-14)
    assert fq.hksj_se(yi, vi, t2)[3] == pytest.approx(fq.hksj_se(yi[3], vi[3], t2[3]), rel=1e-14)


# --- Hartung-Knapp variants --------------------------------------------------------------


def test_modified_hartung_knapp_floors_q_at_one():
    # homogeneous data: q = sum w (y - mu)^2 / (k - 1) < 1, so HKSJ is narrower than the
    # z-based variance 1/sum w and the modified version falls back to 1/sum w.
    df = pd.DataFrame(dict(study=["a", "b", "c"], yi=[0.10, 0.12, 0.11], vi=[0.04, 0.05, 0.06]))
    w = 1 / df["vi"].to_numpy()
    mu = np.sum(w * df["yi"]) / np.sum(w)
    q = np.sum(w * (df["yi"] - mu) ** 2) / 2
    assert q < 1
    hk = fq.meta_analysis(df, "MD", ci_method="hksj")
    mhk = fq.meta_analysis(df, "MD", ci_method="mhk")
    assert hk.tau2 == 0
    assert hk.se == pytest.approx(math.sqrt(q / np.sum(w)), rel=1e-12)
    assert mhk.se == pytest.approx(math.sqrt(1 / np.sum(w)), rel=1e-12)
    assert mhk.ci_high - mhk.estimate == pytest.approx(stats.t.ppf(0.975, 2) * mhk.se, rel=1e-12)


# --- RevMan rules by hand ----------------------------------------------------------------


def test_mantel_haenszel_rr_with_a_zero_cell_by_hand():
    # A: 0/10 vs 3/10 -> corrected 0.5, 10.5, 3.5, 7.5 (arms 11, 11, N 22); B: 4/20 vs 8/20.
    # R = 0.5*11/22 + 4*20/40 = 2.25 ; S = 3.5*11/22 + 8*20/40 = 5.75 ; RR = 9/23
    # P = (11*11*4 - 0.5*3.5*22)/22^2 + (20*20*12 - 4*8*40)/40^2 = 445.5/484 + 2.2
    # Var(ln RR) = P/(R*S)  (Greenland & Robins 1985)
    df = binary([("A", 0, 10, 3, 10), ("B", 4, 20, 8, 20)])
    r = fq.meta_analysis(df, "RR", method="MH", random=False)
    assert r.estimate == pytest.approx(math.log(9 / 23), rel=1e-14)
    assert r.se**2 == pytest.approx((445.5 / 484 + 2.2) / (2.25 * 5.75), rel=1e-13)
    # MH weights c*n1/N on corrected cells: 1.75 and 4 of 5.75
    assert r.weights == pytest.approx([100 * 1.75 / 5.75, 100 * 4 / 5.75], rel=1e-13)
    # Chi^2 around the MH estimate with per-study (corrected) log RR and variances
    y = np.array([math.log((0.5 / 11) / (3.5 / 11)), math.log(0.5)])
    v = np.array([1 / 0.5 - 1 / 11 + 1 / 3.5 - 1 / 11, 1 / 4 - 1 / 20 + 1 / 8 - 1 / 20])
    assert r.chi2 == pytest.approx(np.sum((y - math.log(9 / 23)) ** 2 / v), rel=1e-13)


def test_double_zero_study_is_excluded_from_rr_but_kept_in_rd():
    df = binary([("A", 0, 10, 0, 12), ("B", 4, 20, 8, 20), ("C", 3, 15, 9, 16)])
    rr = fq.meta_analysis(df, "RR", method="MH")
    assert rr.k == 2 and rr.df == 1
    assert rr.excluded == (("A", "no events in either arm: the ratio is not estimable"),)
    assert rr.weights[0] == 0
    rd = fq.meta_analysis(df, "RD", method="MH")
    assert rd.k == 3 and rd.df == 2 and rd.excluded == ()
    assert rd.yi[0] == 0.0
    assert "excluded 'A'" in str(rr)


def test_one_estimable_study_is_the_pooled_result():
    df = binary([("A", 0, 10, 0, 12), ("B", 4, 20, 8, 20)])
    r = fq.meta_analysis(df, "RR", method="MH")
    assert r.k == 1 and r.df == 0 and r.tau2 == 0 and r.chi2 == 0
    assert r.estimate == pytest.approx(math.log(0.5), rel=1e-15)
    assert r.se**2 == pytest.approx(1 / 4 - 1 / 20 + 1 / 8 - 1 / 20, rel=1e-14)
    assert r.pi_low is None and "undefined" in r.pi_note
    assert math.isnan(r.p_chi2)


def test_no_estimable_study():
    r = fq.meta_analysis(binary([("A", 0, 10, 0, 12)]), "OR", method="MH")
    assert not r.estimable and math.isnan(r.estimate) and "not estimable" in str(r)


def test_pip_secure_attachment():
    df = binary([("Cicchetti 1999a", 31, 46, 9, 54), ("Cicchetti 2006b", 8, 14, 1, 54)])
    settings = fq.RevManSettings("binary", "MH", "RR", random=True, totals="YES")
    out = fq.revman(df, settings).overall
    close(out.effect_size, 8.93, 2)
    close(out.ci_start, 1.25, 2)
    close(out.ci_end, 63.70, 2)
    close(out.chi2, 3.71, 2)
    close(out.i2, 73, 0)
    close(out.chi2, 3.713, 3)
    close(out.tau2, 1.544, 3)
    m = fq.meta_analysis(df, "RR", method="MH")
    assert m.pi_low is None and m.pi_high is None and "k = 2" in m.pi_note
    assert m.exp_pi() is None
    assert m.exp_estimate() == pytest.approx(out.effect_size, rel=1e-15)


# --- RevMan subgroups and TOTALS ---------------------------------------------------------


def generic_subgroups() -> pd.DataFrame:
    # subgroup g1: y = 0 and 1 (se 1 each); g2: y = 2 (se 0.5)
    return study_table(pd.DataFrame(dict(
        comparison="c", outcome="o", study=["s1", "s2", "s3"], subgroup=["g1", "g1", "g2"],
        effect=[0.0, 1.0, 2.0], se=[1.0, 1.0, 0.5], log_scale=False,
    )))  # fmt: skip


def test_totals_yes_fixed_by_hand():
    # all studies: w = 1, 1, 4 -> est 9/6 = 1.5, SE sqrt(1/6), Q = 2.25 + 0.25 + 1 = 3.5
    res = fq.revman(generic_subgroups(), fq.RevManSettings("generic", "IV", "MD", totals="YES"))
    o = res.overall
    assert o.effect_size == pytest.approx(1.5) and o.se == pytest.approx(math.sqrt(1 / 6))
    assert o.chi2 == pytest.approx(3.5) and o.df == 2 and o.z == pytest.approx(1.5 * math.sqrt(6))
    assert res.study_weights == pytest.approx([100 / 6, 100 / 6, 400 / 6])
    assert res.subgroups["g1"].weight == pytest.approx(100 / 3)
    assert res.subgroups["g1"].effect_size == pytest.approx(0.5)
    # subgroup test: theta = (0.5, 2), var = (0.5, 0.25), mean 1.5: Q = 1/0.5 + 0.25/0.25 = 3
    t = res.test_subgroups
    assert t.q == pytest.approx(3.0) and t.df == 1
    assert t.i2_q == pytest.approx(200 / 3) and t.p_q == pytest.approx(stats.chi2.sf(3, 1))


def test_totals_yes_and_sub_random_by_hand():
    # all studies: Q = 3.5, C = 6 - 18/6 = 3, tau^2 = (3.5 - 2)/3 = 0.5;
    # w = 1/1.5, 1/1.5, 1/0.75 -> est = (0 + 2/3 + 8/3)/(8/3) = 1.25, SE = sqrt(3/8)
    # g1 alone: Q = 0.5 < 1 -> tau^2 = 0, est 0.5, var 0.5; g2: est 2, var 0.25
    data = generic_subgroups()
    yes = fq.revman(data, fq.RevManSettings("generic", "IV", "MD", random=True, totals="YES"))
    assert yes.overall.effect_size == pytest.approx(1.25)
    assert yes.overall.se == pytest.approx(math.sqrt(3 / 8))
    assert yes.overall.tau2 == pytest.approx(0.5)
    assert yes.study_weights == pytest.approx([25, 25, 50])
    # TOTALS=SUB: total = IV pool of subgroup estimates (1.5, SE sqrt(1/6)); its Chi², df,
    # tau^2 are those of all studies pooled; weights within subgroups; weight 100 per subgroup
    sub = fq.revman(data, fq.RevManSettings("generic", "IV", "MD", random=True, totals="SUB"))
    assert sub.overall.effect_size == pytest.approx(1.5)
    assert sub.overall.ci_end == pytest.approx(1.5 + fq.Z975 * math.sqrt(1 / 6))
    assert (sub.overall.chi2, sub.overall.df, sub.overall.tau2) == pytest.approx((3.5, 2, 0.5))
    assert sub.overall.weight == 200
    assert sub.study_weights == pytest.approx([50, 50, 100])
    assert sub.test_subgroups.q == pytest.approx(3.0)
    assert list(sub.levels_frame()["level"]) == ["overall", "g1", "g2"]
    studies = sub.to_frame()
    assert list(studies["subgroup"]) == ["g1", "g1", "g2"]
    assert list(studies["weight"]) == pytest.approx([50, 50, 100])
    assert "TOTALS=SUB" in str(sub)


def test_totals_no_and_sub_without_subgroups_have_no_total():
    data = generic_subgroups()
    no = fq.revman(data, fq.RevManSettings("generic", "IV", "MD", totals="NO"))
    assert no.overall is None and not no.study_weights.any()
    flat = data.assign(subgroup=None)
    sub = fq.revman(flat, fq.RevManSettings("generic", "IV", "MD", totals="SUB"))
    assert sub.overall is None and sub.test_subgroups is None and not sub.study_weights.any()


def test_generic_log_data_is_reported_as_ratio():
    data = generic_subgroups().assign(subgroup=None, log_scale=True)
    res = fq.revman(data, fq.RevManSettings("generic", "IV", "HR", log_data=True))
    assert res.overall.effect_size == pytest.approx(math.exp(1.5))
    assert res.study_effect == pytest.approx(np.exp([0.0, 1.0, 2.0]))


def test_revman_z_is_stored_unsigned_and_ci_uses_exact_quantile():
    df = binary([("A", 2, 50, 10, 50), ("B", 3, 40, 9, 41)])
    o = fq.revman(df, fq.RevManSettings("binary", "MH", "OR")).overall
    assert o.z > 0 and o.estimate < 0
    assert math.log(o.ci_end) - o.estimate == pytest.approx(1.959963984540054 * o.se, rel=1e-14)


def test_settings_are_validated():
    with pytest.raises(DataError, match="field 'measure'"):
        fq.RevManSettings("continuous", "MH", "RR")
    with pytest.raises(DataError, match="field 'totals'"):
        fq.RevManSettings("binary", "MH", "RR", totals="ALL")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="field 'method'"):
        fq.RevManSettings("generic", "MH", "RR")


def test_bad_arguments():
    df = binary([("A", 2, 50, 10, 50), ("B", 3, 40, 9, 41)])
    with pytest.raises(DataError, match="Mantel-Haenszel needs RR, OR or RD"):
        fq.meta_analysis(df, "MD", method="MH")
    with pytest.raises(ValueError, match="needs random=True"):
        fq.meta_analysis(df, "RR", random=False, ci_method="hksj")
    with pytest.raises(ValueError, match="tau2_method"):
        fq.meta_analysis(df, "RR", tau2_method="SJ")  # type: ignore[arg-type]


def test_result_display_and_frame(bcg):
    r = fq.meta_analysis(bcg, "RR", tau2_method="REML")
    text = str(r)
    assert "RR 0.49 [95% CI 0.34, 0.70]" in text and "I² = 92%" in text
    frame = r.to_frame()
    assert list(frame["study"]) == list(r.studies) and len(frame) == 13
    assert frame["weight"].sum() == pytest.approx(100)


# --- RevMan's stored results (real review files; skipped when absent) --------------------


@pytest.mark.fixtures
def test_revman_files_reproduced(revman_fixtures):
    io = pytest.importorskip("sparsemeta.io")
    read = getattr(io, "read_revman", None)
    if read is None:
        pytest.skip("sparsemeta.io.read_revman not available yet")
    checked = 0
    for path in sorted(revman_fixtures.glob("*.rm5")):
        for a in read(path).analyses:
            if a.data_type is None or a.studies.empty:
                continue
            settings = fq.RevManSettings(
                a.data_type, a.method, a.measure, a.random, a.totals, bool(a.log_data)
            )
            res = fq.revman(a.studies, settings)
            levels = []
            if a.totals != "NO" and a.overall.estimable is not False and res.overall is not None:
                levels.append((res.overall, a.overall.values))
            for stored in a.stored_subgroups:
                if stored.estimable is not False and a.totals != "NO":
                    levels.append((res.subgroups[stored.subgroup], stored.values))
            for ours, values in levels:
                for name in ("effect_size", "ci_start", "ci_end", "z", "chi2", "tau2"):
                    want = values.get(name.upper())
                    if want is not None and math.isfinite(want):
                        assert getattr(ours, name) == pytest.approx(want, rel=1e-9, abs=1e-12), (
                            a.source,
                            name,
                        )
                checked += 1
            for i, stored in enumerate(a.stored_studies):
                want = stored.values.get("WEIGHT")
                if stored.estimable is not False and want is not None:
                    assert res.study_weights[i] == pytest.approx(want, rel=1e-9, abs=1e-12), (
                        a.source
                    )
    assert checked > 50


# --- input validation of meta_analysis ---------------------------------------------------

RAW = dict(comparison="c", outcome="o", events_t=2, n_t=50, events_c=10, n_c=50)
RAW_CONT = dict(
    comparison="c", outcome="o", mean_t=1.0, sd_t=2.0, n_t=20, mean_c=2.0, sd_c=2.5, n_c=21
)
RAW_GEN = dict(comparison="c", outcome="o", effect=-0.3, se=0.2, log_scale=True)


def raw(base, *changes):
    """A table of two studies A and B that has not been through study_table."""
    return pd.DataFrame([base | {"study": "A"} | changes[0], base | {"study": "B"} | changes[1]])


def test_unvalidated_valid_table_gives_the_validated_result():
    table = raw(RAW, {}, {"events_t": 3, "n_t": 40, "events_c": 9, "n_c": 41})
    for measure, method in (("RR", "MH"), ("OR", "Peto"), ("RD", "IV")):
        a = fq.meta_analysis(table, measure, method=method)
        b = fq.meta_analysis(study_table(table), measure, method=method)
        assert (a.estimate, a.se, a.tau2, a.studies) == (b.estimate, b.se, b.tau2, b.studies)


@pytest.mark.parametrize(
    "table, measure",
    [
        pytest.param(raw(RAW, {"events_t": -1}, {}), "RR", id="negative-events"),
        pytest.param(raw(RAW, {}, {"events_c": 51}), "OR", id="events-above-n"),
        pytest.param(raw(RAW, {}, {"n_c": 50.5}), "RR", id="fractional-n"),
        pytest.param(raw(RAW, {"n_t": 0, "events_t": 0}, {}), "RD", id="zero-n"),
        pytest.param(raw(RAW, {"events_t": math.nan}, {}), "RR", id="nan-count"),
        pytest.param(raw(RAW, {"events_t": "2"}, {}), "RR", id="text-count"),
        pytest.param(raw(RAW, {"events_t": True}, {}), "RR", id="bool-count"),
        pytest.param(raw(RAW, {}, {"mean_t": 1.0}), "RR", id="row-mixes-data-types"),
        pytest.param(raw(RAW, {}, {"study": "A"}), "RR", id="duplicate-study"),
        pytest.param(raw(RAW, {}, {"study": ""}), "RR", id="empty-study-label"),
        pytest.param(raw(RAW, {"subgroup": 1}, {"subgroup": 2}), "RR", id="numeric-subgroup"),
        pytest.param(raw(RAW, {}, {}).drop(columns="comparison"), "RR", id="no-comparison"),
        pytest.param(raw(RAW, {}, {"comparison": None}), "RR", id="missing-comparison"),
        pytest.param(raw(RAW, {"outcome": " "}, {}), "RR", id="blank-outcome"),
        pytest.param(raw(RAW, {}, {"study": 3}), "RR", id="numeric-study-label"),
        pytest.param(raw(RAW, {"timepoint": 6}, {}), "RR", id="numeric-timepoint"),
        pytest.param(raw(RAW_CONT, {"sd_t": 0.0}, {}), "MD", id="zero-sd"),
        pytest.param(raw(RAW_CONT, {}, {"sd_c": -2.5}), "SMD", id="negative-sd"),
        pytest.param(raw(RAW_CONT, {}, {"n_t": 20.5}), "MD", id="fractional-n-continuous"),
        pytest.param(raw(RAW_CONT, {"mean_c": math.inf}, {}), "MD", id="infinite-mean"),
        pytest.param(raw(RAW_GEN, {"se": -0.2}, {}), "GENERIC", id="negative-se"),
        pytest.param(raw(RAW_GEN, {}, {"log_scale": "yes"}), "GENERIC", id="text-log-scale"),
    ],
)
def test_unvalidated_bad_table_raises_what_study_table_raises(table, measure):
    """Never silently dropped: the error is study_table's, naming the study and the field."""
    with pytest.raises(DataError) as expected:
        study_table(table)
    with pytest.raises(DataError) as got:
        fq.meta_analysis(table, measure)
    assert str(got.value) == str(expected.value)


def test_study_in_two_subgroups_is_a_valid_unvalidated_table():
    table = raw(RAW, {"subgroup": "g1"}, {"study": "A", "subgroup": "g2"})
    r = fq.meta_analysis(table, "RR", random=False)
    assert r.studies == ("A", "A") and r.k == 2


def test_yi_vi_table_by_hand():
    # fixed IV: w = 1/0.04, 1/0.01 = 25, 100; mu = (25*0.1 + 100*0.3)/125 = 0.26;
    # SE = 1/sqrt(125). Study C has no effect (NaN, as effect_sizes leaves it): excluded.
    table = pd.DataFrame(
        {"study": ["A", "B", "C"], "yi": [0.1, 0.3, np.nan], "vi": [0.04, 0.01, np.nan]}
    )
    r = fq.meta_analysis(table, "MD", random=False)
    assert r.k == 2 and r.estimate == pytest.approx(0.26, rel=1e-14)
    assert r.se == pytest.approx(1 / math.sqrt(125), rel=1e-14)
    assert r.weights.tolist() == pytest.approx([20.0, 80.0, 0.0], rel=1e-14)
    assert r.excluded == (("C", "yi or vi missing: not estimable"),)


@pytest.mark.parametrize("measure", [None, "", 1.0])
def test_yi_vi_table_needs_a_measure_label(measure):
    table = pd.DataFrame({"study": ["A", "B"], "yi": [0.1, 0.3], "vi": [0.04, 0.01]})
    with pytest.raises(DataError, match="field 'measure': unknown measure"):
        fq.meta_analysis(table, measure)


@pytest.mark.parametrize(
    "changes, fragments",
    [
        pytest.param({"vi": [0.04, 0.0]}, ("study 'B'", "'vi'", "> 0"), id="zero-variance"),
        pytest.param({"vi": [0.04, -0.01]}, ("study 'B'", "'vi'", "> 0"), id="negative-variance"),
        pytest.param({"vi": [np.inf, 0.01]}, ("study 'A'", "'vi'"), id="infinite-variance"),
        pytest.param({"yi": [-np.inf, 0.3]}, ("study 'A'", "'yi'", "not finite"), id="infinite-yi"),
        pytest.param({"yi": [0.1, "0.3"]}, ("study 'B'", "'yi'", "must be a number"), id="text-yi"),
        pytest.param({"vi": [True, False]}, ("study 'A'", "'vi'", "number"), id="bool-vi"),
        pytest.param({"study": ["A", "A"]}, ("study 'A'", "duplicate"), id="duplicate-label"),
        pytest.param({"study": ["A", None]}, ("row 1", "'study'", "missing"), id="missing-label"),
        pytest.param({"vi": None}, ("'vi'", "required column"), id="yi-without-vi"),
    ],
)
def test_yi_vi_table_rejects_bad_values(changes, fragments):
    columns = {"study": ["A", "B"], "yi": [0.1, 0.3], "vi": [0.04, 0.01]} | changes
    table = pd.DataFrame({k: v for k, v in columns.items() if v is not None})
    with pytest.raises(DataError) as info:
        fq.meta_analysis(table, "MD")
    for fragment in fragments:
        assert fragment in str(info.value), (str(info.value), fragment)


@pytest.mark.parametrize(
    "kwargs, fragments",
    [
        pytest.param({"method": 3}, ("'method'", "'IV', 'MH', 'Peto'"), id="number-method"),
        pytest.param(
            {"tau2_method": None}, ("'tau2_method'", "'DL', 'REML', 'PM'"), id="none-tau2"
        ),
        pytest.param({"tau2_method": "dl"}, ("'tau2_method'", "'dl'"), id="lower-case-tau2"),
        pytest.param({"ci_method": "HKSJ"}, ("'ci_method'", "'z', 'hksj', 'mhk'"), id="upper-ci"),
        pytest.param({"random": False, "ci_method": "mhk"}, ("mhk", "random=True"), id="mhk-fixed"),
        pytest.param({"random": "no"}, ("'random'", "True or False"), id="text-random"),
        pytest.param({"level": True}, ("'level'",), id="bool-level"),
        pytest.param({"level": 1}, ("'level'", "between 0 and 1"), id="level-one"),
        pytest.param({"level": "0.95"}, ("'level'", "'0.95'"), id="text-level"),
        pytest.param({"level": -0.5}, ("'level'", "-0.5"), id="negative-level"),
        pytest.param({"tau2_ci": "yes"}, ("'tau2_ci'", "True or False"), id="text-tau2-ci"),
    ],
)
def test_meta_analysis_rejects_bad_settings(kwargs, fragments):
    table = binary([("A", 2, 50, 10, 50), ("B", 3, 40, 9, 41)])
    with pytest.raises(DataError) as info:
        fq.meta_analysis(table, "RR", **kwargs)
    for fragment in fragments:
        assert fragment in str(info.value), (str(info.value), fragment)


def test_meta_analysis_accepts_lower_case_method_and_numpy_level():
    table = binary([("A", 2, 50, 10, 50), ("B", 3, 40, 9, 41)])
    a = fq.meta_analysis(table, "RR", method="mh", level=np.float64(0.9), random=np.bool_(False))
    b = fq.meta_analysis(table, "RR", method="MH", level=0.9, random=False)
    assert a.method == "MH" and (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    # 90% interval: estimate ± Φ⁻¹(0.95)·SE
    assert a.ci_high - a.estimate == pytest.approx(stats.norm.ppf(0.95) * a.se, rel=1e-12)


def test_valid_tables_are_not_validated_again(monkeypatch):
    """The cheap rule check accepts valid tables, so study_table is not re-run per pooling."""
    validated = binary([("A", 2, 50, 10, 50), ("B", 3, 40, 9, 41)])
    unvalidated = raw(RAW_CONT, {}, {"mean_t": 1.5})
    generic = raw(RAW_GEN, {}, {"effect": 0.1})

    def fail(df):
        raise AssertionError("study_table called on a valid table")

    monkeypatch.setattr("sparsemeta.frequentist.analysis.study_table", fail)
    assert fq.meta_analysis(validated, "RR", method="MH").k == 2
    assert fq.meta_analysis(unvalidated, "SMD").k == 2
    assert fq.meta_analysis(generic, "GENERIC").log_scale


@pytest.mark.parametrize("table", [None, [RAW], "studies.csv"])
def test_revman_rejects_a_non_frame(table):
    settings = fq.RevManSettings("binary", "MH", "RR")
    with pytest.raises(DataError, match="revman, argument 'data': expected a pandas DataFrame"):
        fq.revman(table, settings)
