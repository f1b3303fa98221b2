"""Cochrane data packages: reading, hostile archives, and RevMan 2025's random-effects settings.

Synthetic packages are written here. Their stored results are typed in from metafor's
printed output (metafor 5.1-12, documentation built from the wviechtb/metafor repository,
docs/reference/rma.uni.html and predict.rma.html, tests/testthat/test_misc_confint.r and
test_misc_metan_vs_rma.uni_with_dat.bcg.r) for the BCG trials (``dat.bcg``, log risk ratios
from ``escalc(measure="RR", ...)``) or computed by hand from those printed values; they are
stored at the precision printed, and the check compares at that precision.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import zipfile

import numpy as np
import pytest
from scipy import stats

from sparsemeta import datasets, effects
from sparsemeta.cli import main
from sparsemeta.errors import RevManFormatError
from sparsemeta.io import read_revman
from sparsemeta.review.check import revman_check

SETTINGS = [
    "Analysis group", "Analysis number", "Analysis name", "Analysis group name", "Data type",
    "Log-scale data", "Statistical method", "Effect measure", "Analysis model",
    "Heterogeneity estimator", "CI method", "Prediction interval", "CI/PI level",
    "Subgroup estimates", "Overall estimates", "Test for subgroup differences",
    "Swap event and non-event", "Mean", "CI start", "CI end", "Heterogeneity Tau²",
    "Heterogeneity Chi²", "Heterogeneity df", "Heterogeneity I²",
    "Heterogeneity Tau² CI start", "Heterogeneity Tau² CI end",
    "Prediction interval start", "Prediction interval end",
]  # fmt: skip
ROWS = [
    "Analysis group", "Analysis number", "Analysis name", "Subgroup", "Study", "Study year",
    "GIV Mean", "GIV SE", "Experimental cases", "Experimental N", "Control cases",
    "Control N", "Weight", "Mean", "CI start", "CI end",
]  # fmt: skip


def _csv(header, rows) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for r in rows:
        w.writerow([r.get(h, "") for h in header])
    return ("\ufeff" + buf.getvalue()).encode()


def _bcg_rows(number: int) -> list[dict]:
    bcg = datasets.bcg_colditz1994()
    yi, vi = effects.log_rr(bcg["events_t"], bcg["n_t"], bcg["events_c"], bcg["n_c"])
    return [
        {"Analysis group": 1, "Analysis number": number, "Study": s, "GIV Mean": repr(float(y)),
         "GIV SE": repr(math.sqrt(v))}
        for s, y, v in zip(bcg["study"], yi, vi, strict=True)
    ]  # fmt: skip


def write_package(path, settings_rows, data_rows, *, inner=True) -> None:
    """A data package like RevMan Web's: outer zip → <id>-files/<id>-data.zip → CSVs."""
    members = {
        "X-analysis-data/X-overall-estimates-and-settings.csv": _csv(SETTINGS, settings_rows),
        "X-analysis-data/X-data-rows.csv": _csv(ROWS, data_rows),
    }
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in members.items():
            z.writestr(name, content)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        if inner:
            z.writestr("Review/X-files/X-data.zip", data.getvalue())
        else:
            for name, content in members.items():
                z.writestr(name, content)


def _setting(number, estimator, ci, pi, **stored):
    return {
        "Analysis group": 1, "Analysis number": number, "Analysis name": f"BCG {number}",
        "Analysis group name": "BCG vaccine", "Data type": "Contrast level",
        "Log-scale data": "true", "Statistical method": "IV", "Effect measure": "Risk Ratio",
        "Analysis model": "Random effect", "Heterogeneity estimator": estimator,
        "CI method": ci, "Prediction interval": pi, "CI/PI level": "95%",
        "Overall estimates": "true", **stored,
    }  # fmt: skip


# metafor, dat.bcg log RR, rma(yi, vi, method="REML") (rma.uni reference page); ratios of
# metafor's 4-decimal log values are stored to 3 decimals (no double-rounding error):
# estimate -0.7145 [-1.0669, -0.3622], tau^2 0.3132, I^2 92.22%, Q 152.2330;
# predict(res, digits=2): pi [-1.87, 0.44] (normal quantile: test="z")
REML_WALD_NORMAL = {
    "Mean": f"{math.exp(-0.7145):.3f}", "CI start": f"{math.exp(-1.0669):.3f}",
    "CI end": f"{math.exp(-0.3622):.3f}", "Heterogeneity Tau²": "0.3132",
    "Heterogeneity Chi²": "152.2330", "Heterogeneity df": "12", "Heterogeneity I²": "92.22",
    "Prediction interval start": f"{math.exp(-1.87):.2f}",
    "Prediction interval end": f"{math.exp(0.44):.2f}",
}  # fmt: skip
# metafor rma(yi, vi, method="DL") (test_misc_metan_vs_rma.uni_with_dat.bcg.r and
# test_misc_confint.r): -0.7141 [-1.0644, -0.3638], tau^2 0.3088, I^2 92.1173
DL_WALD = {
    "Mean": f"{math.exp(-0.7141):.3f}", "CI start": f"{math.exp(-1.0644):.3f}",
    "CI end": f"{math.exp(-0.3638):.3f}", "Heterogeneity Tau²": "0.3088",
    "Heterogeneity I²": "92.1173",
}  # fmt: skip


# printed metafor values used as inputs of the hand calculations below
METAFOR = {
    # rma(method="DL"): mu -0.7141 [-1.0644, -0.3638], tau^2 0.3088, I^2 92.1173
    "DL": {"mu": -0.7141, "lb": -1.0644, "ub": -0.3638, "tau2": 0.3088, "i2": "92.1173"},
    # rma(method="REML"): mu -0.7145 [-1.0669, -0.3622], tau^2 0.3132, I^2 92.22%
    "REML": {"mu": -0.7145, "lb": -1.0669, "ub": -0.3622, "tau2": 0.3132, "i2": "92.22"},
}
# rma(method="REML", test="knha"): [-1.1084, -0.3206]; confint(): tau^2 CI [0.1197, 1.1115]
# (the Q-profile CI depends on the data only, so it is the same for DL and REML)
REML_KNHA = (-1.1084, -0.3206)
TAU2_CI = ("0.1197", "1.1115")
ESTIMATORS = {"DL": "DerSimonian and Laird", "REML": "Restricted maximum-likelihood"}
CI_METHODS = {"wald": "Wald-type", "hksj": "Hartung-Knapp-Sidik-Jonkman"}
PREDICTIONS = {"none": "None", "t": "t-distribution", "normal": "Normal distribution"}
COMBOS = [(e, c, p) for e in ESTIMATORS for c in CI_METHODS for p in PREDICTIONS]


def _expected(estimator: str, ci: str, pi: str) -> dict:
    """Stored values of one setting combination, from metafor's printed values by hand.

    Wald SE = (ub - lb)/(2 z); HKSJ: REML from metafor's knha CI, SE = (ub - lb)/(2 t_12);
    DL by the formula sqrt(sum w (y - mu)^2 / ((k - 1) sum w)), w = 1/(v + tau^2), with
    metafor's tau^2 and mu; prediction interval mu -/+ c sqrt(tau^2 + SE^2), c = t_12 or z.
    Ratios are stored to 3 decimals (the 4-decimal log inputs are good to ~1e-4).
    """
    m = METAFOR[estimator]
    z, t12 = stats.norm.ppf(0.975), stats.t.ppf(0.975, 12)
    if ci == "wald":
        lb, ub = m["lb"], m["ub"]
        se = (ub - lb) / (2 * z)
    elif estimator == "REML":
        lb, ub = REML_KNHA
        se = (ub - lb) / (2 * t12)
    else:
        bcg = datasets.bcg_colditz1994()
        yi, vi = effects.log_rr(bcg["events_t"], bcg["n_t"], bcg["events_c"], bcg["n_c"])
        w = 1 / (vi + m["tau2"])
        se = math.sqrt(float(np.sum(w * (yi - m["mu"]) ** 2)) / (12 * float(np.sum(w))))
        lb, ub = m["mu"] - t12 * se, m["mu"] + t12 * se
    out = {
        "Mean": f"{math.exp(m['mu']):.3f}", "CI start": f"{math.exp(lb):.3f}",
        "CI end": f"{math.exp(ub):.3f}", "Heterogeneity Tau²": f"{m['tau2']:.4f}",
        "Heterogeneity I²": m["i2"], "Heterogeneity Tau² CI start": TAU2_CI[0],
        "Heterogeneity Tau² CI end": TAU2_CI[1],
    }  # fmt: skip
    if pi != "none":
        c = t12 if pi == "t" else z
        half = c * math.sqrt(m["tau2"] + se**2)
        out["Prediction interval start"] = f"{math.exp(m['mu'] - half):.3f}"
        out["Prediction interval end"] = f"{math.exp(m['mu'] + half):.3f}"
    return out


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    path = tmp_path_factory.mktemp("pkg") / "CD000000-dataPackage.zip"
    settings = [
        _setting(i + 1, ESTIMATORS[e], CI_METHODS[c], PREDICTIONS[p], **_expected(e, c, p))
        for i, (e, c, p) in enumerate(COMBOS)
    ]
    # and metafor's own printed normal prediction interval (predict(), 2 decimals)
    settings.append(_setting(13, ESTIMATORS["REML"], "Wald-type", "Normal distribution",
                             **REML_WALD_NORMAL))  # fmt: skip
    rows = [r for i in range(13) for r in _bcg_rows(i + 1)]
    write_package(path, settings, rows)
    return path


def test_every_random_effects_setting_combination_reproduces(package):
    review = read_revman(package)
    assert review.file_format == "datapackage"
    got = [(a.tau2_method, a.ci_method, a.prediction) for a in review.analyses[:12]]
    assert got == COMBOS
    report = revman_check(review)
    assert [e.status for e in report.entries] == ["reproduced"] * 13, [
        e.reason for e in report.entries
    ]
    # every stored field is compared: 7 pooled (+ 2 for a prediction interval)
    assert [e.n_fields for e in report.entries[:3]] == [7, 9, 9]


def test_a_wrong_stored_value_is_a_mismatch(tmp_path):
    wrong = dict(REML_WALD_NORMAL, **{"Heterogeneity Tau²": "0.3140"})
    path = tmp_path / "p.zip"
    write_package(path, [_setting(1, "REML", "Wald", "Normal distribution", **wrong)],
                  _bcg_rows(1))  # fmt: skip
    (entry,) = revman_check(read_revman(path)).entries
    assert entry.status == "mismatch" and entry.field == "TAU2"


def test_cli_json_on_a_package_and_its_inner_zip(package, tmp_path, capsys):
    assert main(["revman-check", str(package), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["totals"] == {"reproduced": 13, "mismatch": 0, "not_comparable": 0}
    assert doc["tolerances"]["rounded_decimals"] == 4  # the finest printed precision (I²)
    with zipfile.ZipFile(package) as z:
        inner = tmp_path / "X-data.zip"
        inner.write_bytes(z.read("Review/X-files/X-data.zip"))
    assert len(read_revman(inner).analyses) == 13
    folder = tmp_path / "extracted"
    with zipfile.ZipFile(inner) as z:
        z.extractall(folder)
    assert len(read_revman(folder).analyses) == 13


def test_unknown_columns_are_listed_and_bad_settings_kept_per_analysis(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.SETTINGS", [*SETTINGS, "Mystery column"])
    path = tmp_path / "p.zip"
    bad = _setting(2, "Paule-Mandel", "Wald", "None", **DL_WALD)
    write_package(path, [_setting(1, "DL", "Wald", "None", **DL_WALD), bad],
                  _bcg_rows(1) + _bcg_rows(2))  # fmt: skip
    review = read_revman(path)
    assert any("'Mystery column'" in n for n in review.notes)
    report = revman_check(review)
    assert any("Mystery column" in n for n in report.to_dict()["notes"])
    entries = report.entries
    assert [e.status for e in entries] == ["reproduced", "not-comparable"]
    assert "paule-mandel" in entries[1].reason.lower()


# --- the real fixture ----------------------------------------------------------------


def test_fleiss_data_package_reproduces_at_printed_precision(revman_fixtures):
    review = read_revman(revman_fixtures / "Fleiss1993.zip")
    report = revman_check(review)
    assert [e.status for e in report.entries] == ["reproduced", "not-comparable"]
    assert "placeholders" in report.entries[1].reason  # RevMan Web wrote 0, CI 0 to 0
    assert report.tolerances["rounded_decimals"] == 6
    aspirin = review.analyses[0]
    # per-study effect, CI and weight are compared (7 studies x 4 fields) with the pooled line
    assert report.entries[0].n_fields == 9 + 7 * 4
    assert (aspirin.method, aspirin.measure, aspirin.revman_version) == ("MH", "OR", "web")


# --- hostile input ---------------------------------------------------------------------


def _one_line_error(path, *fragments):
    with pytest.raises(RevManFormatError) as info:
        read_revman(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    for f in fragments:
        assert f in message
    return message


def test_path_traversal_member_is_refused(tmp_path):
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("../../etc/x-data-rows.csv", "a,b\n")
    _one_line_error(path, "'../../etc/x-data-rows.csv'", "climbs out")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("/abs/x-overall-estimates-and-settings.csv", "a\n")
    _one_line_error(path, "absolute")


def test_zip_bomb_and_huge_member_are_refused(tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("X-data-rows.csv", b"0" * (20 * 2**20))  # 20 MiB of zeros, ~20 KiB packed
    _one_line_error(path, "'X-data-rows.csv'", "zip bomb")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("X-data-rows.csv", os.urandom(16) * (2**22 + 1))  # 64 MiB + 16 bytes
    _one_line_error(path, "'X-data-rows.csv'", "more than")


def test_non_utf8_csv_names_the_member(tmp_path):
    path = tmp_path / "latin.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(
            "X-overall-estimates-and-settings.csv", "Analysis group,Caf\xe9\n".encode("latin-1")
        )
        z.writestr("X-data-rows.csv", b"Analysis group\n")  # fmt: skip
    _one_line_error(path, "X-overall-estimates-and-settings.csv", "not UTF-8")


def test_corrupt_zip_and_symlink_in_folder(tmp_path):
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    _one_line_error(path, "not a readable zip")
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "X-data-rows.csv").symlink_to("/etc/passwd")
    _one_line_error(folder, "symbolic link")


SUBGROUPS = [
    "Analysis group", "Analysis number", "Subgroup", "Subgroup number", "Weight", "Mean",
    "CI start", "CI end", "Heterogeneity Chi²", "Heterogeneity df", "Effect Z",
]  # fmt: skip


def test_dichotomous_package_with_subgroups_and_an_all_event_study_by_hand(tmp_path):
    # M-H risk ratio, fixed effect (Greenland & Robins 1985) on RevMan's 0.5-corrected
    # cells; RevMan Web keeps the all-event study A (28/28 vs 29/29) with corrected cells.
    arms = {"A": ("G1", 28, 28, 29, 29), "B": ("G1", 10, 30, 12, 31),
            "C": ("G2", 5, 40, 9, 41), "D": ("G2", 0, 20, 3, 22)}  # fmt: skip

    def cells(a, n1, c, n2):
        b, d = n1 - a, n2 - c
        k = 0.5 if 0 in (a, b, c, d) else 0.0
        return a + k, b + k, c + k, d + k

    def mh(names):
        r = s = p = q = 0.0
        for n in names:
            a, b, c, d = cells(*arms[n][1:])
            m1, m2 = a + b, c + d
            m = m1 + m2
            r, s = r + a * m2 / m, s + c * m1 / m
            p += (m1 * m2 * (a + c) - a * c * m) / m**2
        est, se = math.log(r / s), math.sqrt(p / (r * s))
        for n in names:
            a, b, c, d = cells(*arms[n][1:])
            y, v = (
                math.log((a / (a + b)) / (c / (c + d))),
                1 / a - 1 / (a + b) + 1 / c - 1 / (c + d),
            )
            q += (y - est) ** 2 / v
        return est, se, q

    weights = {}
    total = 0.0
    for n, (_, a, n1, c, n2) in arms.items():
        a_, b_, c_, d_ = cells(a, n1, c, n2)
        weights[n] = c_ * (a_ + b_) / (a_ + b_ + c_ + d_)
        total += weights[n]

    def level(names):
        est, se, q = mh(names)
        return {"Mean": f"{math.exp(est):.6f}", "CI start": f"{math.exp(est - 1.959964 * se):.6f}",
                "CI end": f"{math.exp(est + 1.959964 * se):.6f}", "Heterogeneity Chi²": f"{q:.6f}",
                "Heterogeneity df": str(len(names) - 1), "Effect Z": f"{abs(est / se):.6f}"}  # fmt: skip

    settings = {
        "Analysis group": 1, "Analysis number": 1, "Analysis name": "Death",
        "Analysis group name": "X vs Y", "Data type": "Dichotomous", "Log-scale data": "true",
        "Statistical method": "MH", "Effect measure": "Risk Ratio",
        "Analysis model": "Fixed effect", "Overall estimates": "true",
        "Subgroup estimates": "true", **level(list(arms)),
    }  # fmt: skip
    rows = []
    for n, (g, a, n1, c, n2) in arms.items():
        a_, b_, c_, d_ = cells(a, n1, c, n2)
        y = math.log((a_ / (a_ + b_)) / (c_ / (c_ + d_)))
        se = math.sqrt(1 / a_ - 1 / (a_ + b_) + 1 / c_ - 1 / (c_ + d_))
        rows.append({"Analysis group": 1, "Analysis number": 1, "Subgroup": g, "Study": n,
                     "Experimental cases": a, "Experimental N": n1, "Control cases": c,
                     "Control N": n2, "Weight": f"{100 * weights[n] / total:.6f}",
                     "Mean": f"{math.exp(y):.6f}", "CI start": f"{math.exp(y - 1.959964 * se):.6f}",
                     "CI end": f"{math.exp(y + 1.959964 * se):.6f}"})  # fmt: skip
    subs = [
        {"Analysis group": 1, "Analysis number": 1, "Subgroup": g, "Subgroup number": i + 1,
         "Weight": f"{100 * sum(weights[n] for n in names) / total:.6f}", **level(names)}
        for i, (g, names) in enumerate((("G1", ["A", "B"]), ("G2", ["C", "D"])))
    ]  # fmt: skip
    members = {
        "X-analysis-data/X-overall-estimates-and-settings.csv": _csv(SETTINGS, [settings]),
        "X-analysis-data/X-data-rows.csv": _csv(ROWS, rows),
        "X-analysis-data/X-subgroup-estimates.csv": _csv(SUBGROUPS, subs),
    }
    path = tmp_path / "sub.zip"
    with zipfile.ZipFile(path, "w") as z:
        for name, content in members.items():
            z.writestr(name, content)
    review = read_revman(path)
    assert review.analyses[0].subgroups == ("G1", "G2")
    report = revman_check(review)
    assert [(e.subgroup, e.status) for e in report.entries] == [
        (None, "reproduced"),
        ("G1", "reproduced"),
        ("G2", "reproduced"),
    ], [e.reason for e in report.entries]
    assert report.entries[1].n_studies == 2 and report.entries[1].n_fields == 7 + 2 * 4
