"""RevMan 5 vs RevMan Web per-study rules, generic LOG_DATA outcomes, and meta_analysis's
τ²-based heterogeneity and prediction intervals against metafor.

metafor values are typed from metafor 5.1-12's documentation (wviechtb/metafor,
docs/reference/rma.uni.html: ``rma(yi, vi, data=dat, method="REML")`` on ``dat.bcg`` and
on its two ``alloc == "alternate"`` trials; docs/reference/predict.rma.html:
``predict(res, digits=2)``; tests/testthat/test_misc_confint.r: ``confint(rma(yi, vi,
method="DL"))``). RevMan Web's values are those quoted in issue 10 (28/28 vs 29/29 →
RR 1.00 [0.935, 1.069]; SMD with three participants → 0.00 [−2.40, 2.40]).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from sparsemeta import data, datasets, effects
from sparsemeta import frequentist as fq
from sparsemeta.io import read_revman, write_revman
from sparsemeta.review.check import revman_check

Z = 1.959963984540054


def close(got, want, digits=4):
    assert abs(got - want) <= 0.5 * 10.0**-digits * (1 + 1e-9), (got, want)


@pytest.fixture(scope="module")
def bcg():
    return datasets.bcg_colditz1994()


def test_reml_tau2_based_heterogeneity_and_normal_pi_match_metafor(bcg):
    r = fq.meta_analysis(bcg, "RR", tau2_method="REML", i2_method="tau2", pi_method="normal")
    close(r.tau2_se, 0.1664)  # tau^2 0.3132 (SE = 0.1664)
    close(r.i2, 92.22, 2)
    close(r.h2, 12.86, 2)
    close(r.pi_low, -1.87, 2)  # predict(res, digits=2): pi.lb -1.87, pi.ub 0.44
    close(r.pi_high, 0.44, 2)


def test_dl_i2_and_h2_confidence_intervals_match_metafor_confint(bcg):
    r = fq.meta_analysis(bcg, "RR", tau2_method="DL", i2_method="tau2")
    close(r.i2, 92.1173)
    # confint: I^2 [81.9177, 97.6781], H^2 [5.5303, 43.0680]; metafor finds the tau^2
    # bounds with uniroot (tolerance ~1e-4 in tau^2), which moves the lower I^2 bound by
    # up to ~0.01 and the lower H^2 bound by ~0.001; the upper bounds agree to 4 decimals
    assert r.i2_ci[0] == pytest.approx(81.9177, abs=0.01)
    close(r.i2_ci[1], 97.6781)
    assert r.h2_ci[0] == pytest.approx(5.5303, abs=0.002)
    assert r.h2_ci[1] == pytest.approx(43.0680, abs=0.002)


def test_k2_reml_matches_metafor(bcg):
    two = bcg[bcg["study"].isin(["Frimodt-Moller et al", "Stein & Aronson"])]
    r = fq.meta_analysis(two, "RR", tau2_method="REML", i2_method="tau2", pi_method="t")
    for got, want in [(r.tau2, 0.1326), (r.tau2_se, 0.2286), (r.estimate, -0.5408),
                      (r.se, 0.2816), (r.ci_low, -1.0927), (r.ci_high, 0.0111),
                      (r.chi2, 5.5625)]:  # fmt: skip
        close(got, want)
    close(r.i2, 82.02, 2)
    close(r.h2, 5.56, 2)
    # t PI with k - 1 = 1 df by hand from the values above
    half = stats.t.ppf(0.975, 1) * math.sqrt(r.tau2 + r.se**2)
    assert r.pi_low == pytest.approx(r.estimate - half, rel=1e-12)


def test_k3_by_hand(bcg):
    three = bcg.iloc[3:6]  # Hart & Sutherland, Frimodt-Moller, Stein & Aronson: tau^2 > 0
    yi, vi = effects.log_rr(three["events_t"], three["n_t"], three["events_c"], three["n_c"])
    w = 1 / vi
    mu = sum(w * yi) / sum(w)
    q = sum(w * (yi - mu) ** 2)
    c = sum(w) - sum(w**2) / sum(w)
    tau2 = max(0.0, (q - 2) / c)
    s2 = 2 * sum(w) / (sum(w) ** 2 - sum(w**2))
    r = fq.meta_analysis(three, "RR", i2_method="tau2", pi_method="normal", ci_method="hksj")
    assert r.tau2 == pytest.approx(tau2, rel=1e-12)
    assert r.i2 == pytest.approx(100 * tau2 / (tau2 + s2), rel=1e-12)
    assert tau2 > 0  # and with DL the tau^2-based I^2 is then the Q-based one
    assert r.i2 == pytest.approx(100 * (q - 2) / q, rel=1e-12)
    wr = 1 / (vi + tau2)
    mur = sum(wr * yi) / sum(wr)
    se_hk = math.sqrt(sum(wr * (yi - mur) ** 2) / (2 * sum(wr)))
    assert r.se == pytest.approx(se_hk, rel=1e-12)
    assert r.pi_high == pytest.approx(mur + Z * math.sqrt(tau2 + se_hk**2), rel=1e-12)

    # REML for the same k = 3: maximise the restricted log-likelihood written out,
    # -2l = sum ln(v + t) + ln sum 1/(v + t) + sum (y - mu_t)^2/(v + t), over a fine grid
    # refined by a bounded search, then I^2 = 100 t/(t + s^2) and the t(k - 1) PI
    def m2ll(t):
        wt = 1 / (vi + t)
        mt = sum(wt * yi) / sum(wt)
        return sum(np.log(vi + t)) + math.log(sum(wt)) + sum(wt * (yi - mt) ** 2)

    grid = np.linspace(0, 5, 50001)
    t0 = grid[int(np.argmin([m2ll(t) for t in grid]))]
    best = optimize.minimize_scalar(
        m2ll, bounds=(max(0.0, t0 - 1e-4), t0 + 1e-4), method="bounded",
        options={"xatol": 1e-12},
    )  # fmt: skip
    reml = fq.meta_analysis(three, "RR", tau2_method="REML", i2_method="tau2", pi_method="t")
    assert reml.tau2 == pytest.approx(best.x, rel=1e-6)
    assert reml.i2 == pytest.approx(100 * best.x / (best.x + s2), rel=1e-6)
    wr = 1 / (vi + reml.tau2)
    mur, ser = sum(wr * yi) / sum(wr), 1 / math.sqrt(sum(wr))
    half = stats.t.ppf(0.975, 2) * math.sqrt(reml.tau2 + ser**2)
    assert reml.pi_low == pytest.approx(mur - half, rel=1e-12)


def _table(rows, kind):
    cols = ["comparison", "outcome", "subgroup", "study", *kind]
    return data.study_table(pd.DataFrame(rows, columns=cols))


def test_all_events_both_arms_revman5_versus_web():
    t = _table([("C", "O", None, "A", 28, 28, 29, 29), ("C", "O", None, "B", 10, 30, 12, 31)],
               ["events_t", "n_t", "events_c", "n_c"])  # fmt: skip
    five = fq.revman(t, fq.RevManSettings("binary", "MH", "RR"))
    assert math.isnan(five.study_effect[0])
    web = fq.revman(t, fq.RevManSettings("binary", "MH", "RR", version="web"))
    # RevMan Web: RR 1.00 [0.935, 1.069]
    close(web.study_effect[0], 1.00, 2)
    close(web.study_ci_start[0], 0.935, 3)
    close(web.study_ci_end[0], 1.069, 3)
    assert web.overall.k == 2 and five.overall.k == 1


def test_smd_with_three_participants_revman5_versus_web():
    t = _table([("C", "O", None, "A", 5.0, 1.0, 2, 6.0, 1.0, 1),
                ("C", "O", None, "B", 5.0, 1.0, 20, 6.0, 1.2, 21)],
               ["mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c"])  # fmt: skip
    five = fq.revman(t, fq.RevManSettings("continuous", "IV", "SMD"))
    assert math.isnan(five.study_effect[0])
    web = fq.revman(t, fq.RevManSettings("continuous", "IV", "SMD", version="web"))
    close(web.study_effect[0], 0.00, 2)  # RevMan Web: 0.00 [-2.40, 2.40]
    close(web.study_ci_start[0], -2.40, 2)
    close(web.study_ci_end[0], 2.40, 2)


def test_log_data_generic_outcome_with_ratios_stored_and_subgroups(tmp_path):
    # hazard ratios entered as logs; RevMan stored each study's EFFECT_SIZE and CI as
    # ratios. Expected pooled values by hand: inverse-variance fixed effect on the logs.
    hr = {"S1": (0.80, 0.20), "S2": (0.90, 0.15), "S3": (1.10, 0.25), "S4": (0.70, 0.30)}
    groups = {"S1": "G1", "S2": "G1", "S3": "G2", "S4": "G2"}
    rows = [("C", "O", groups[s], s, math.log(h), se, True) for s, (h, se) in hr.items()]
    t = _table(rows, ["effect", "se", "log_scale"])

    def pool(names):
        w = [1 / hr[s][1] ** 2 for s in names]
        y = [math.log(hr[s][0]) for s in names]
        est = sum(a * b for a, b in zip(w, y, strict=True)) / sum(w)
        se = 1 / math.sqrt(sum(w))
        chi2 = sum(a * (b - est) ** 2 for a, b in zip(w, y, strict=True))
        return est, se, chi2

    attrs = {("C", "O"): {"EFFECT_MEASURE": "Hazard Ratio", "LOG_DATA": True}}
    for s, (h, se) in hr.items():
        lo, hi = math.exp(math.log(h) - Z * se), math.exp(math.log(h) + Z * se)
        attrs[("C", "O", groups[s], s)] = {"EFFECT_SIZE": h, "CI_START": lo, "CI_END": hi}
    for key, names in ((("C", "O"), list(hr)), (("C", "O", "G1"), ["S1", "S2"]),
                       (("C", "O", "G2"), ["S3", "S4"])):  # fmt: skip
        est, se, chi2 = pool(names)
        attrs.setdefault(key, {}).update(
            EFFECT_SIZE=math.exp(est), CI_START=math.exp(est - Z * se),
            CI_END=math.exp(est + Z * se), Z=abs(est / se), CHI2=chi2,
        )  # fmt: skip
    path = tmp_path / "giv.rm5"
    write_revman(t, path, attributes=attrs)
    review = read_revman(path)
    (analysis,) = review.analyses
    assert analysis.studies["effect"].tolist() == pytest.approx(
        [math.log(h) for h, _ in hr.values()]
    )
    assert any("ratio" in n for n in analysis.notes)
    statuses = [e.status for e in revman_check(review).entries]
    assert statuses == ["reproduced"] * 3


O_E_RM5 = """<?xml version="1.0" encoding="UTF-8"?>
<COCHRANE_REVIEW REVMAN_VERSION="5"><STUDIES_AND_REFERENCES><STUDIES><INCLUDED_STUDIES>
<STUDY ID="STD-A" NAME="A 2001"/><STUDY ID="STD-B" NAME="B 2004"/><STUDY ID="STD-C" NAME="C 2009"/>
</INCLUDED_STUDIES></STUDIES></STUDIES_AND_REFERENCES>
<ANALYSES_AND_DATA><COMPARISON NO="1"><NAME>X vs Y</NAME>
<IPD_OUTCOME NO="1" EFFECT_MEASURE="PETO_OR" RANDOM="NO" {overall}><NAME>Death</NAME>
<IPD_DATA STUDY_ID="STD-A" O_E="-2.5" VAR="5.0"/>
<IPD_DATA STUDY_ID="STD-B" O_E="-1.0" VAR="8.0"/>
<IPD_DATA STUDY_ID="STD-C" O_E="0.5" VAR="2.0"/>
</IPD_OUTCOME></COMPARISON></ANALYSES_AND_DATA></COCHRANE_REVIEW>
"""


def test_o_minus_e_and_variance_outcome_is_peto_by_hand(tmp_path):
    # Peto (Yusuf et al. 1985): ln OR = sum(O - E)/sum V, SE = 1/sqrt(sum V),
    # Q = sum (O - E)^2/V - (sum(O - E))^2/sum V
    oe, v = [-2.5, -1.0, 0.5], [5.0, 8.0, 2.0]
    est = sum(oe) / sum(v)
    se = 1 / math.sqrt(sum(v))
    q = sum(o * o / w for o, w in zip(oe, v, strict=True)) - sum(oe) ** 2 / sum(v)
    overall = (
        f'EFFECT_SIZE="{math.exp(est)!r}" CI_START="{math.exp(est - Z * se)!r}" '
        f'CI_END="{math.exp(est + Z * se)!r}" Z="{abs(est / se)!r}" CHI2="{q!r}" DF="2"'
    )
    path = tmp_path / "oe.rm5"
    path.write_text(O_E_RM5.format(overall=overall))
    (entry,) = revman_check(read_revman(path)).entries
    assert entry.status == "reproduced" and entry.n_fields == 6


def test_swap_events_analyses_non_events_by_hand(tmp_path):
    # M-H risk ratio of non-events (no zero cells): RR = R/S, R = sum a'·n2/N,
    # S = sum c'·n1/N, Var ln RR = P/(R·S), P = sum (n1·n2·(a' + c') − a'·c'·N)/N²
    # (Greenland & Robins 1985), with a' = n1 − a, c' = n2 − c.
    arms = [("A", 12, 40, 20, 41), ("B", 30, 90, 41, 88)]
    r = s = pp = 0.0
    for _, a, n1, c, n2 in arms:
        a2, c2, n = n1 - a, n2 - c, n1 + n2
        r += a2 * n2 / n
        s += c2 * n1 / n
        pp += (n1 * n2 * (a2 + c2) - a2 * c2 * n) / n**2
    est, se = math.log(r / s), math.sqrt(pp / (r * s))
    t = _table([("C", "O", None, *row) for row in arms], ["events_t", "n_t", "events_c", "n_c"])
    stored = {
        "SWAP_EVENTS": True,
        "EFFECT_SIZE": math.exp(est),
        "CI_START": math.exp(est - Z * se),
        "CI_END": math.exp(est + Z * se),
        "Z": abs(est / se),
    }
    path = tmp_path / "swap.rm5"
    write_revman(t, path, attributes={("C", "O"): stored})
    (entry,) = revman_check(read_revman(path)).entries
    assert entry.status == "reproduced" and entry.n_fields >= 4


def test_rm5_version_is_read_from_the_stored_all_event_study(tmp_path):
    # a study with all events in both arms stored as estimable is RevMan Web's rule; the
    # stored per-study RR is computed here by hand on the 0.5-corrected cells
    t = _table([("C", "O", None, "A", 28, 28, 29, 29), ("C", "O", None, "B", 10, 30, 12, 31)],
               ["events_t", "n_t", "events_c", "n_c"])  # fmt: skip
    a, b, c, d = 28.5, 0.5, 29.5, 0.5
    y = math.log((a / (a + b)) / (c / (c + d)))
    se = math.sqrt(1 / a - 1 / (a + b) + 1 / c - 1 / (c + d))
    web = {"EFFECT_SIZE": math.exp(y), "CI_START": math.exp(y - Z * se),
           "CI_END": math.exp(y + Z * se), "ESTIMABLE": True}  # fmt: skip
    path = tmp_path / "web.rm5"
    write_revman(t, path, attributes={("C", "O", None, "A"): web})
    review = read_revman(path)
    assert review.analyses[0].revman_version == "web"
    assert "estimable under RevMan Web" in review.analyses[0].version_basis
    (entry,) = revman_check(review).entries
    # no pooled results stored: the level is not comparable, but study A's effect and CI
    # are compared (under RevMan 5's rule they would be NaN: a mismatch)
    assert entry.status == "not-comparable" and entry.n_fields == 3 and not entry.mismatches
    write_revman(t, path, attributes={("C", "O", None, "A"): {"ESTIMABLE": False}})
    assert read_revman(path).analyses[0].revman_version == "5"


def test_rm5_smd_with_three_participants_stored_by_revman_web(tmp_path):
    # Hedges' factor 1 - 3/(4*3 - 9) = 0: g = 0, SE^2 = N/(n1 n2) = 3/2 (by hand); a file
    # storing that study as estimable was computed with RevMan Web's rule
    t = _table([("C", "O", None, "A", 5.0, 1.0, 2, 6.0, 1.0, 1),
                ("C", "O", None, "B", 5.0, 1.0, 20, 6.0, 1.2, 21)],
               ["mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c"])  # fmt: skip
    se = math.sqrt(3 / 2)
    stored = {"EFFECT_SIZE": 0.0, "CI_START": -Z * se, "CI_END": Z * se, "SE": se}
    path = tmp_path / "smd.rm5"
    write_revman(
        t,
        path,
        attributes={("C", "O"): {"EFFECT_MEASURE": "SMD"}, ("C", "O", None, "A"): stored},
    )
    review = read_revman(path)
    assert review.analyses[0].revman_version == "web"
    (entry,) = revman_check(review).entries
    assert entry.n_fields == 4 and not entry.mismatches  # study A: effect, CI, SE


def test_k3_matches_metafor_3_8(bcg):
    """k = 3 (dat.bcg studies 4-6) against metafor 3.8-1 (R 4.2.2, Debian), run by the lead
    on 2026-12-04::

        dat <- escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)
        r <- rma(yi, vi, data=dat[4:6,], method="REML", test="knha"); predict(r)
        r2 <- rma(yi, vi, data=dat[4:6,], method="REML"); predict(r2); confint(r2)

    REML tolerances allow metafor's 1e-5 stopping rule; the I²/H² CI lower bounds its looser
    root finding (as in the dat.bcg test above).
    """
    three = bcg.iloc[3:6]
    hk = fq.meta_analysis(three, "RR", tau2_method="REML", ci_method="hksj", i2_method="tau2",
                          pi_method="t")  # fmt: skip
    assert hk.tau2 == pytest.approx(0.331664447066, rel=1e-5)
    assert hk.tau2_se == pytest.approx(0.356982883957, rel=1e-5)
    assert hk.i2 == pytest.approx(94.4708636743, rel=1e-6)
    assert hk.h2 == pytest.approx(18.0860073091, rel=1e-5)
    assert hk.estimate == pytest.approx(-0.831157782544, rel=1e-6)
    assert hk.se == pytest.approx(0.349033759626, rel=1e-6)
    assert (hk.ci_low, hk.ci_high) == pytest.approx((-2.33292884117, 0.670613276086), rel=1e-6)
    assert (hk.pi_low, hk.pi_high) == pytest.approx((-3.7286326645, 2.06631709941), rel=1e-6)
    wald = fq.meta_analysis(three, "RR", tau2_method="REML", i2_method="tau2",
                            pi_method="normal")  # fmt: skip
    assert wald.se == pytest.approx(0.344848946364, rel=1e-6)
    assert (wald.ci_low, wald.ci_high) == pytest.approx((-1.50704929752, -0.155266267564), rel=1e-6)
    assert (wald.pi_low, wald.pi_high) == pytest.approx((-2.1467962799, 0.484480714809), rel=1e-6)
    assert wald.tau2_ci == pytest.approx((0.0680, 14.7838), abs=1e-4)
    assert wald.i2_ci == pytest.approx((77.7912, 99.8689), abs=5e-3)
    assert wald.h2_ci == pytest.approx((4.5027, 762.6011), abs=1e-3)
