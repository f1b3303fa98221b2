"""Frequentist meta-regression, leave-one-out and influence diagnostics against metafor on
dat.bcg (Colditz et al. 1994; log risk ratios, ``escalc(measure="RR", ...)``).

metafor stops its REML Fisher scoring when τ² changes by less than 10⁻⁵ (``control``
default ``threshold``), so its printed τ² and everything that depends on it can sit a few
units in the 5th significant digit away from the exact maximiser found here; tolerances
allow that.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sparsemeta import datasets, effects
from sparsemeta.errors import DataError
from sparsemeta.frequentist import meta_analysis
from sparsemeta.frequentist.influence import influence, leave_one_out
from sparsemeta.frequentist.regression import design_matrix, meta_regression


@pytest.fixture(scope="module")
def bcg():
    table = datasets.bcg_colditz1994()
    eff = effects.effect_sizes(table, "RR").to_frame()
    return table, eff


def _ablat(bcg, ci_method):
    table, eff = bcg
    X, names = design_matrix(table, ["ablat"])
    return meta_regression(
        eff.yi, eff.vi, X, names=names, studies=table.study, ci_method=ci_method, measure="RR"
    )


def test_latitude_model_wald_matches_metafor(bcg):
    # metafor::rma(yi, vi, mods = ~ ablat, data = dat) (REML, test = "z"), printed in the
    # RoBMA package vignette "Bayesian meta-analysis" (fit2_metafor; metafor 4.x):
    #   tau^2 0.0764 (SE 0.0591); I^2 68.39%; H^2 3.16; R^2 75.62%
    #   QE(df = 11) = 30.7331, p = 0.0012; QM(df = 1) = 16.3571
    #   intrcpt  0.2515 0.2491  1.0095 0.3127 -0.2368  0.7397
    #   ablat   -0.0291 0.0072 -4.0444 <.0001 -0.0432 -0.0150
    r = _ablat(bcg, "z")
    assert r.names == ("intercept", "ablat")
    assert r.tau2 == pytest.approx(0.0764, abs=1e-4)
    assert r.i2 == pytest.approx(68.39, abs=0.01)
    assert r.h2 == pytest.approx(3.16, abs=0.005)
    assert r.r2 == pytest.approx(75.62, abs=0.02)
    assert r.qe == pytest.approx(30.7331, abs=1e-4)  # τ²-free: exact to print
    assert r.qe_df == 11 and r.qe_p == pytest.approx(0.0012, abs=5e-5)
    assert r.qm == pytest.approx(16.3571, rel=1e-4)
    expected = {
        "estimate": [0.2515, -0.0291],
        "se": [0.2491, 0.0072],
        "stat": [1.0095, -4.0444],
        "lower": [-0.2368, -0.0432],
        "upper": [0.7397, -0.0150],
    }
    coefs = r.coefficients()
    for column, values in expected.items():
        np.testing.assert_allclose(coefs[column], values, atol=1.5e-4)
    assert r.p[0] == pytest.approx(0.3127, abs=1e-4) and r.p[1] < 1e-4


def test_latitude_model_knapp_hartung_matches_metafor(bcg):
    # metafor README (github.com/wviechtb/metafor, devel 4.3-4):
    # rma(yi, vi, mods = ~ ablat, data=dat, test="knha")
    #   F(df1 = 1, df2 = 11) = 12.5905, p-val = 0.0046
    #   intrcpt  0.2515 0.2839  0.8857 11 0.3948 -0.3735  0.8764
    #   ablat   -0.0291 0.0082 -3.5483 11 0.0046 -0.0472 -0.0111
    r = _ablat(bcg, "hksj")
    assert r.df == 11
    assert r.qm == pytest.approx(12.5905, rel=1e-4)
    assert r.qm_p == pytest.approx(0.0046, abs=5e-5)
    coefs = r.coefficients()
    np.testing.assert_allclose(coefs["estimate"], [0.2515, -0.0291], atol=1e-4)
    np.testing.assert_allclose(coefs["se"], [0.2839, 0.0082], atol=1e-4)
    np.testing.assert_allclose(coefs["stat"], [0.8857, -3.5483], atol=2e-4)
    np.testing.assert_allclose(coefs["p"], [0.3948, 0.0046], atol=2e-4)
    np.testing.assert_allclose(coefs["lower"], [-0.3735, -0.0472], atol=2e-4)
    np.testing.assert_allclose(coefs["upper"], [0.8764, -0.0111], atol=2e-4)


def test_intercept_only_knapp_hartung_matches_metafor(bcg):
    # metafor README: rma(yi, vi, data=dat, test="knha"): tau^2 0.3132, Q(12) = 152.2330,
    # estimate -0.7145, se 0.1808, tval -3.9522, p 0.0019, CI -1.1084, -0.3206
    _, eff = bcg
    r = meta_regression(eff.yi, eff.vi, np.ones((13, 1)), names=["intercept"], ci_method="hksj")
    assert r.tau2 == pytest.approx(0.3132, abs=1e-4)
    assert r.qe == pytest.approx(152.2330, abs=1e-4)
    assert (r.estimate[0], r.se[0], r.stat[0]) == pytest.approx(
        (-0.7145, 0.1808, -3.9522), abs=1e-4
    )
    assert (r.lower[0], r.upper[0]) == pytest.approx((-1.1084, -0.3206), abs=1e-4)
    assert math.isnan(r.qm) and math.isnan(r.r2)


def test_subgroup_as_categorical_covariate(bcg):
    table, eff = bcg
    X, names = design_matrix(table, ["alloc"])
    # treatment contrasts against the first level in sorted order: alternate
    assert names == ("intercept", "alloc[random]", "alloc[systematic]")
    np.testing.assert_array_equal(X[:, 1], (table.alloc == "random").to_numpy(float))
    r = meta_regression(eff.yi, eff.vi, X, names=names, studies=table.study)
    # hand calculation: with dummies only, each group's mean is its own weighted mean with
    # weights 1/(v + tau2) at the common tau2, and the dummies are differences of means
    w = 1 / (eff.vi + r.tau2)
    mean = {
        g: np.average(eff.yi[table.alloc == g], weights=w[table.alloc == g])
        for g in ("alternate", "random", "systematic")
    }
    assert r.estimate[0] == pytest.approx(mean["alternate"], abs=1e-12)
    assert r.estimate[1] == pytest.approx(mean["random"] - mean["alternate"], abs=1e-12)
    assert r.estimate[2] == pytest.approx(mean["systematic"] - mean["alternate"], abs=1e-12)
    se_alt = 1 / math.sqrt(w[table.alloc == "alternate"].sum())
    assert r.se[0] == pytest.approx(se_alt, rel=1e-12)


def test_regression_bad_input(bcg):
    table, eff = bcg
    with pytest.raises(DataError, match="not of full rank"):
        meta_regression(eff.yi, eff.vi, np.column_stack([np.ones(13), np.ones(13)]))
    with pytest.raises(DataError, match="'ablatx'"):
        design_matrix(table, ["ablatx"])
    t = table.copy()
    t.loc[2, "ablat"] = np.nan
    with pytest.raises(DataError, match=r"Rosenthal et al 1960.*'ablat'"):
        design_matrix(t, ["ablat"])
    t = table.astype({"ablat": str})  # as a CSV reader may leave an extra column
    X, names = design_matrix(t, ["ablat"])
    assert names == ("intercept", "ablat") and X[0, 1] == 44.0
    t.loc[4, "ablat"] = " "
    with pytest.raises(DataError, match=r"Frimodt-Moller et al.*'ablat'.*missing"):
        design_matrix(t, ["ablat"])
    with pytest.raises(DataError, match="tau2_method"):
        meta_regression(eff.yi, eff.vi, np.ones(13), tau2_method="ML")


def test_influence_intercept_only_matches_metafor(bcg):
    # metafor tests/testthat/test_misc_influence.r (github.com/wviechtb/metafor, commit
    # 191d2cb): res <- rma(yi, vi, data=dat); influence(res), study 1 (Aronson):
    _, eff = bcg
    full = meta_analysis(eff[["study", "yi", "vi"]], "RR", tau2_method="REML")
    assert full.tau2 == pytest.approx(0.313243325980895, rel=1e-5)
    assert full.chi2 == pytest.approx(152.233008082373, rel=1e-10)
    inf = influence(full).to_frame()
    first = inf.iloc[0]
    expected = {
        "rstudent": -0.218142474344442,
        "dffits": -0.0407075604868486,
        "cook_d": 0.00171654236729195,
        "cov_r": 1.11644891104804,
        "tau2_del": 0.336156745300306,
        "qe_del": 151.582572747109,
        "hat": 0.0505948307931551,
        "weight": 5.05948307931551,
        "dfbetas_intercept": -0.0402659025974144,
    }
    for column, value in expected.items():
        assert first[column] == pytest.approx(value, rel=1e-4), column
    assert not first["influential"]


def test_influence_latitude_model_matches_metafor(bcg):
    # metafor test_misc_influence.r: rma(yi, vi, mods = ~ ablat, data=dat);
    # hatvalues(res) and cooks.distance(res), printed to 4 decimals
    inf = influence(_ablat(bcg, "z"))
    hat = [
        0.049,
        0.1493,
        0.0351,
        0.3481,
        0.2248,
        0.2367,
        0.064,
        0.357,
        0.0926,
        0.1157,
        0.2309,
        0.0189,
        0.0778,
    ]
    cook = [
        0.0048,
        0.0489,
        0.0104,
        0.2495,
        0.0072,
        0.2883,
        0.3643,
        0.2719,
        0.02,
        0.1645,
        0.0009,
        0.0403,
        0.1433,
    ]
    np.testing.assert_allclose(inf.hat, hat, atol=5e-5)
    np.testing.assert_allclose(inf.cook_d, cook, atol=1.5e-4)
    # hat values sum to p (trace of the hat matrix)
    assert inf.hat.sum() == pytest.approx(2.0, rel=1e-12)


def test_leave_one_out_matches_metafor(bcg):
    # metafor test_misc_influence.r: leave1out(rma(yi, vi, data=dat)), study 1:
    table, eff = bcg
    loo = leave_one_out(eff[["study", "yi", "vi"]], "RR", tau2_method="REML")
    first = loo.to_frame().iloc[0]
    assert first["study"] == "Aronson" and first["k"] == 12
    expected = {
        "estimate": -0.707083788031436,
        "se": 0.189961024702717,
        "z": -3.72225717953459,
        "p": 0.000197449759023198,
        "lower": -1.07940055491509,
        "upper": -0.334767021147788,
        "q": 151.582572747109,
        "tau2": 0.336156745300306,
        "i2_tau2": 93.2259349111223,
        "h2": 14.762184698253,
    }
    for column, value in expected.items():
        assert first[column] == pytest.approx(value, rel=1e-4), column
    # Q-based I² by hand: (Q − df)/Q with Q = 151.5826, df = 11
    assert first["i2"] == pytest.approx(100 * (151.582572747109 - 11) / 151.582572747109)
    # arm-level input gives the same re-analyses
    arm = leave_one_out(table, "RR", tau2_method="REML").to_frame()
    np.testing.assert_allclose(arm["estimate"], loo.to_frame()["estimate"], rtol=1e-12)


@pytest.mark.parametrize(
    ("method", "measure", "estimate", "se", "q"),
    [
        # metafor test_misc_influence.r: leave1out(rma.mh(measure="RR", ...)) study 1
        ("MH", "RR", -0.451379469928476, 0.0394350331703394, 151.915260738878),
        # leave1out(rma.peto(...)) study 1
        ("Peto", "OR", -0.472177269248539, 0.0407784291562603, 167.200450619361),
    ],
)
def test_leave_one_out_mh_peto_match_metafor(bcg, method, measure, estimate, se, q):
    table, _ = bcg
    first = leave_one_out(table, measure, method=method, random=False).to_frame().iloc[0]
    assert first["estimate"] == pytest.approx(estimate, rel=1e-6)
    assert first["se"] == pytest.approx(se, rel=1e-6)
    assert first["q"] == pytest.approx(q, rel=1e-6)


def test_influence_refuses_mantel_haenszel(bcg):
    table, _ = bcg
    with pytest.raises(DataError, match="inverse-variance"):
        influence(meta_analysis(table, "RR", method="MH", random=False))


def test_leave_one_out_needs_two_studies(bcg):
    table, _ = bcg
    with pytest.raises(DataError, match="at least 2"):
        leave_one_out(table.iloc[:1], "RR")


def test_influential_flags_equal_effects_match_metafor(bcg):
    # metafor test_misc_influence.r ("'infonly' argument works correctly"):
    # influence(rma(yi, vi, data=dat, method="EE")) flags 3 of the 13 studies
    _, eff = bcg
    inf = influence(y=eff.yi, v=eff.vi, tau2_method=None, studies=eff.study.tolist())
    assert int(inf.influential.sum()) == 3
    assert np.all(inf.tau2_del == 0.0)


def test_latitude_model_fitted_values_match_metafor(bcg):
    # metafor tests/testthat/test_misc_list_rma.r (commit 191d2cb):
    # predict(rma(yi, vi, mods = ~ ablat, data=dat)), first three studies, pred and se
    r = _ablat(bcg, "z")
    np.testing.assert_allclose(
        r.fitted[:3], [-1.02900878645837, -1.34912705666653, -0.97080546460234], rtol=1e-4
    )
    se_fit = np.sqrt(np.einsum("ij,jk,ik->i", r.X, r.vcov, r.X))
    np.testing.assert_allclose(
        se_fit[:3], [0.140375124151501, 0.201103941277043, 0.131456743392091], rtol=1e-4
    )


def test_meta_regression_reads_covariates_from_effects(bcg):
    import json
    from dataclasses import replace

    table, _ = bcg
    eff = effects.effect_sizes(table, "RR")  # the Effects value
    X, names = design_matrix(table, ["ablat"])
    r = meta_regression(replace(eff, X=X[:, 1:], covariate_names=names[1:]))
    # metafor README: ablat -0.0291 (Wald SE 0.0072, RoBMA vignette's metafor output)
    assert r.names == ("intercept", "ablat") and r.measure == "RR"
    assert (r.estimate[1], r.se[1]) == pytest.approx((-0.0291, 0.0072), abs=1e-4)
    record = meta_regression(eff, X=np.ones((13, 1)), names=["intercept"]).to_dict()
    assert record["qm"] == "NaN"  # no moderators: written explicitly, never null
    json.dumps(record, allow_nan=False)
    with pytest.raises(DataError, match="no covariates"):
        meta_regression(eff)


# All 13 rows from metafor 3.8-1 (R 4.2.2, Debian's r-cran-metafor), run by the lead on
# 2026-12-04:
#   dat <- escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)
#   res <- rma(yi, vi, data=dat, method="REML"); options(digits=10)
#   leave1out(res)[, c("estimate","se","ci.lb","ci.ub","Q","tau2","I2")]
#   inf <- influence(res); inf$inf[, c("rstudent","dffits","cook.d","cov.r","hat")]; inf$dfbs
METAFOR_LEAVE1OUT = [  # estimate, se, ci.lb, ci.ub, Q, tau2, I2
    (
        -0.7070837880,
        0.1899610247,
        -1.0794005549,
        -0.3347670211,
        151.58257275,
        0.3361567453,
        93.22593491,
    ),
    (
        -0.6540312004,
        0.1806953866,
        -1.0081876504,
        -0.2998747504,
        145.31760767,
        0.2925830856,
        92.25395551,
    ),
    (
        -0.6855544180,
        0.1857062271,
        -1.0495319348,
        -0.3215769011,
        150.19704446,
        0.3207380569,
        92.93541440,
    ),
    (
        -0.6284094079,
        0.1766189459,
        -0.9745761809,
        -0.2822426348,
        96.56259497,
        0.2627583562,
        90.41247080,
    ),
    (
        -0.7641700950,
        0.1917876443,
        -1.1400669705,
        -0.3882732195,
        151.32000893,
        0.3278032586,
        92.76343573,
    ),
    (
        -0.7108765649,
        0.2002540731,
        -1.1033673358,
        -0.3183857939,
        128.18666468,
        0.3595541812,
        90.91181009,
    ),
    (
        -0.6552475998,
        0.1804733692,
        -1.0089689037,
        -0.3015262959,
        145.82963815,
        0.2930258699,
        92.27771772,
    ),
    (
        -0.7947676109,
        0.1798777126,
        -1.1473214492,
        -0.4422137727,
        67.98581150,
        0.2731830341,
        87.03136707,
    ),
    (
        -0.7411972993,
        0.1966749177,
        -1.1266730548,
        -0.3557215439,
        152.20506069,
        0.3494520099,
        93.21326204,
    ),
    (
        -0.6530329258,
        0.1842675117,
        -1.0141906121,
        -0.2918752394,
        139.82707332,
        0.2987246009,
        92.23223325,
    ),
    (
        -0.7578586252,
        0.1957868610,
        -1.1415938214,
        -0.3741234290,
        151.46550451,
        0.3404882653,
        91.81095142,
    ),
    (
        -0.7598120973,
        0.1820909790,
        -1.1167038581,
        -0.4029203366,
        150.78683454,
        0.3081622027,
        92.67820570,
    ),
    (
        -0.7775361808,
        0.1855359676,
        -1.1411799951,
        -0.4138923664,
        149.78842383,
        0.3037333266,
        92.34439962,
    ),
]
METAFOR_INFLUENCE = [  # rstudent, dffits, cook.d, cov.r, hat, dfbs(intrcpt)
    (-0.2181424743, -0.04070756049, 0.0017165423673, 1.1164489110, 0.05059483079, -0.04026590260),
    (-1.2917901833, -0.34358773695, 0.1132497045127, 1.0101921200, 0.06364679632, -0.34586234410),
    (-0.7547196898, -0.16036147850, 0.0259803248436, 1.0669959740, 0.04436027763, -0.15965524596),
    (-1.4512000711, -0.52005061234, 0.2294814293764, 0.9651269088, 0.09698746736, -0.51381303661),
    (0.8477105794, 0.27074518577, 0.0762314117906, 1.1380231505, 0.08868456287, 0.27108422807),
    (-0.1179994585, -0.01900632980, 0.0004134954998, 1.2407165162, 0.10095738165, -0.01922866191),
    (-1.3037270592, -0.33615753082, 0.1087416233118, 1.0077112329, 0.06027181703, -0.33870390747),
    (1.4500802684, 0.47745992794, 0.1991775581272, 1.0010702601, 0.10189438635, 0.47137381340),
    (0.4076131684, 0.14154844074, 0.0219984167571, 1.1967620296, 0.08743133132, 0.14189215617),
    (-1.1277386139, -0.34869463044, 0.1170177986581, 1.0505274130, 0.08367607247, -0.34865968147),
    (0.6690791953, 0.23150448290, 0.0580781251118, 1.1859788228, 0.09925026663, 0.23300188172),
    (1.2898409757, 0.25261983899, 0.0634333822134, 1.0258567231, 0.03821629423, 0.25352196059),
    (1.1879029494, 0.35486086027, 0.1228128422750, 1.0650403808, 0.08402851535, 0.35481578984),
]


def test_leave_one_out_all_studies_match_metafor_3_8(bcg):
    _, eff = bcg
    loo = leave_one_out(eff[["study", "yi", "vi"]], "RR", tau2_method="REML").to_frame()
    got = loo[["estimate", "se", "lower", "upper", "q", "tau2", "i2_tau2"]].to_numpy()
    # rel 1e-4: metafor's REML stops at a 1e-5 change in tau2 (module docstring)
    np.testing.assert_allclose(got, np.array(METAFOR_LEAVE1OUT), rtol=1e-4)


def test_influence_all_studies_match_metafor_3_8(bcg):
    _, eff = bcg
    full = meta_analysis(eff[["study", "yi", "vi"]], "RR", tau2_method="REML")
    inf = influence(full).to_frame()
    got = inf[["rstudent", "dffits", "cook_d", "cov_r", "hat", "dfbetas_intercept"]].to_numpy()
    np.testing.assert_allclose(got, np.array(METAFOR_INFLUENCE), rtol=1e-4, atol=1e-6)
