"""Tests of sparsemeta.review.check: compare, compare_printed and revman_check.

revman_check is run on synthetic reviews whose stored results come from the independent
hand calculation in ``tests/revman_example.py`` (standard-library formulas, not sparsemeta);
perturbing one stored value must turn "reproduced" into "mismatch" on that field.
"""

from __future__ import annotations

import math

import pytest

from revman_example import COMPARISON, TITLE, example
from sparsemeta.errors import DataError
from sparsemeta.io import read_revman, write_revman
from sparsemeta.review.check import compare, compare_printed, revman_check

# --------------------------------------------------------------------------- compare


def test_identical_values_reproduce():
    ref = {"EFFECT_SIZE": 0.75, "CI_START": 0.5, "P_Z": 0.23}
    c = compare(dict(ref), ref)
    assert c.status == "reproduced"
    assert c.max_rel_diff == 0.0 and c.max_p_diff == 0.0
    assert c.compared == ("EFFECT_SIZE", "CI_START", "P_Z") and c.mismatches == ()


def test_relative_tolerance_boundary():
    # 0.75 * (1 + 5e-10) differs by 5e-10 relative: inside 1e-9; 0.75 * (1 + 2e-9) is outside
    assert (
        compare({"EFFECT_SIZE": 0.75 * (1 + 5e-10)}, {"EFFECT_SIZE": 0.75}).status == "reproduced"
    )
    c = compare({"EFFECT_SIZE": 0.75, "TAU2": 0.2 * (1 + 2e-9)}, {"EFFECT_SIZE": 0.75, "TAU2": 0.2})
    assert c.status == "mismatch" and c.field == "TAU2"
    assert c.max_rel_diff == pytest.approx(2e-9, rel=1e-3)
    (d,) = c.mismatches
    assert (d.field, d.reference, d.kind, d.tolerance) == ("TAU2", 0.2, "relative", 1e-9)
    assert "TAU2" in c.reason


def test_p_values_are_compared_absolutely():
    # RevMan's p approximations differ by up to ~5e-7: inside 1e-6 absolute
    assert compare({"P_Z": 0.0123455}, {"P_Z": 0.0123460}).status == "reproduced"
    c = compare({"P_Z": 0.0123}, {"P_Z": 0.0123 + 2e-6})
    assert c.status == "mismatch" and c.field == "P_Z" and c.mismatches[0].kind == "absolute"
    assert c.max_p_diff == pytest.approx(2e-6)
    # a prefixed study field is a p field by its last part; a custom list is honoured
    assert compare({"S/P_Z": 0.5}, {"S/P_Z": 0.5000009}).status == "reproduced"
    assert compare({"PV": 0.5}, {"PV": 0.5000009}, p_fields=("PV",)).status == "reproduced"
    assert compare({"PV": 0.5}, {"PV": 0.5000009}).status == "mismatch"


def test_zero_reference_and_near_zero_values():
    # stored 0 versus computed 1e-17 (floating-point noise) is a match; 1e-9 is not
    assert compare({"TAU2": 1e-17}, {"TAU2": 0.0}).status == "reproduced"
    assert compare({"TAU2": 1e-9}, {"TAU2": 0.0}).status == "mismatch"


def test_placeholders_missing_and_nan():
    # NaN / None references are placeholders: skipped
    c = compare({"EFFECT_SIZE": 1.0}, {"EFFECT_SIZE": 1.0, "TAU2": math.nan, "I2": None})
    assert c.compared == ("EFFECT_SIZE",) and c.status == "reproduced"
    # nothing comparable
    c = compare({}, {"TAU2": math.nan})
    assert c.status == "not-comparable" and c.reason
    # a field we did not compute, or computed as NaN, is a mismatch
    assert compare({}, {"Z": 1.2}).status == "mismatch"
    c = compare({"Z": math.nan}, {"Z": 1.2})
    assert c.status == "mismatch" and math.isinf(c.max_rel_diff)
    # infinities match only themselves
    assert compare({"CI_END": math.inf}, {"CI_END": math.inf}).status == "reproduced"
    assert compare({"CI_END": 1e300}, {"CI_END": math.inf}).status == "mismatch"


def test_worst_violation_is_reported_first():
    ref = {"A": 1.0, "B": 1.0, "P_Z": 0.5}
    c = compare({"A": 1 + 3e-9, "B": 1 + 1e-7, "P_Z": 0.5 + 5e-6}, ref)
    assert [d.field for d in c.mismatches] == ["B", "P_Z", "A"]
    assert c.field == "B"


# --------------------------------------------------------------------------- compare_printed


@pytest.mark.parametrize(
    ("value", "printed", "status", "rounded"),
    [
        (0.8968655609130709, "0.90", "reproduced", "0.90"),
        (0.8968655609130709, "0.89", "mismatch", "0.90"),
        (0.8968655609130709, "0.897", "reproduced", "0.897"),
        (39.67458045558399, "40%", "reproduced", "40"),
        (39.67458045558399, "39.7", "reproduced", "39.7"),
        (-0.70938839, "−0.71", "reproduced", "-0.71"),
        (0.81234, "0·81", "reproduced", "0.81"),
        (0.125, "0.12", "reproduced", "0.12"),  # exact tie: either rounding direction
        (0.125, "0.13", "reproduced", "0.12"),
        (0.1251, "0.12", "mismatch", "0.13"),
        (0.0004, "<0.001", "reproduced", "0.000"),
        (0.002, "<0.001", "mismatch", "0.002"),
        (0.9951, "> 0.99", "reproduced", "1.00"),
        (12.0, "12", "reproduced", "12"),
        (12.6, "12", "mismatch", "13"),
    ],
)
def test_compare_printed(value, printed, status, rounded):
    result = compare_printed(value, printed)
    assert result.status == status
    assert result.rounded == rounded


def test_compare_printed_details_and_errors():
    r = compare_printed(0.8968655609130709, "0.90")
    assert r.decimals == 2 and r.printed == "0.90"
    assert r.diff == pytest.approx(0.8968655609130709 - 0.90)
    with pytest.raises(DataError, match=r"'n\.s\.' is not a number"):
        compare_printed(0.5, "n.s.")
    with pytest.raises(DataError, match="not finite"):
        compare_printed(math.nan, "0.5")


# --------------------------------------------------------------------------- revman_check


def hand_review(tmp_path, change=None):
    """Write the hand-calculated synthetic review, optionally changing stored attributes."""
    studies, attrs = example()
    for key, values in (change or {}).items():
        attrs[key] = {**attrs.get(key, {}), **values}
    path = tmp_path / "hand.rm5"
    write_revman(studies, path, title=TITLE, attributes=attrs)
    return read_revman(path)


def by_level(report):
    return {(e.outcome, e.subgroup): e for e in report.entries}


def test_hand_calculated_review_reproduces(tmp_path):
    report = revman_check(hand_review(tmp_path))
    assert report.totals == {"reproduced": 8, "mismatch": 0, "not_comparable": 0}
    assert report.ok
    entries = by_level(report)
    sae = entries[("Serious adverse events", None)]
    # pooled fields plus the estimable studies' fields (the double-zero study is skipped)
    assert sae.n_studies == 4 and sae.n_fields == 11 + 3 * 5
    assert sae.max_rel_diff < 1e-12 and sae.max_p_diff < 1e-12
    failure = entries[("Treatment failure", None)]
    assert failure.n_fields == 11 + 3  # overall line + subgroup test (Q, P_Q, I2_Q)
    assert entries[("Treatment failure", "Adults")].n_studies == 2
    # TOTALS=SUB: the total line and each subgroup (study weights within subgroups)
    withdrawal = entries[("Withdrawal due to adverse events", None)]
    assert withdrawal.totals == "SUB" and withdrawal.n_fields == 11 + 3
    assert entries[("Withdrawal due to adverse events", "Low dose")].n_fields == 11 + 2 * 5


@pytest.mark.parametrize(
    ("key", "field", "factor"),
    [
        ((COMPARISON, "Serious adverse events"), "TAU2", 1 + 1e-6),
        ((COMPARISON, "Serious adverse events"), "CI_END", 1 + 1e-8),
        ((COMPARISON, "Treatment failure", "Children"), "WEIGHT", 1 + 1e-6),
        ((COMPARISON, "Treatment failure"), "Q", 1.01),
        ((COMPARISON, "Withdrawal due to adverse events"), "EFFECT_SIZE", 1 + 1e-7),
        ((COMPARISON, "Withdrawal due to adverse events"), "CHI2", 1 + 1e-7),
        (
            (COMPARISON, "Withdrawal due to adverse events", "High dose", "Olive 2015"),
            "WEIGHT",
            1 + 1e-7,
        ),
        ((COMPARISON, "Pain score (0-10)", None, "Kauri 2016"), "SE", 1 + 1e-6),
    ],
)
def test_a_changed_stored_value_is_a_mismatch_on_that_field(tmp_path, key, field, factor):
    _, attrs = example()
    changed = attrs[key][field] * factor
    report = revman_check(hand_review(tmp_path, {key: {field: changed}}))
    assert report.totals["mismatch"] == 1 and not report.ok
    (bad,) = [e for e in report.entries if e.status == "mismatch"]
    expected = field if len(key) < 4 else f"{key[3]}/{field}"
    assert bad.field == expected
    assert bad.mismatches[0].reference == changed


def test_changed_p_value_beyond_1e6_is_a_mismatch(tmp_path):
    _, attrs = example()
    key = (COMPARISON, "Pain score (0-10)")
    report = revman_check(hand_review(tmp_path, {key: {"P_Z": attrs[key]["P_Z"] + 3e-6}}))
    (bad,) = [e for e in report.entries if e.status == "mismatch"]
    assert bad.field == "P_Z" and bad.max_p_diff == pytest.approx(3e-6, rel=1e-3)
    report = revman_check(hand_review(tmp_path, {key: {"P_Z": attrs[key]["P_Z"] + 5e-7}}))
    assert report.ok


def test_not_comparable_levels_give_their_reason(tmp_path):
    sae = (COMPARISON, "Serious adverse events")
    pain = (COMPARISON, "Pain score (0-10)")
    children = (COMPARISON, "Treatment failure", "Children")
    report = revman_check(
        hand_review(
            tmp_path,
            {
                sae: {"ESTIMABLE": False, "EFFECT_SIZE": 0.0, "CI_START": 0.0, "CI_END": 0.0},
                children: {"ESTIMABLE": False, "EFFECT_SIZE": 0.0},
                pain: {"EFFECT_SIZE": "", "CI_START": "", "CI_END": "", "Z": ""},
            },
        )
    )
    entries = by_level(report)
    assert entries[("Serious adverse events", None)].status == "not-comparable"
    assert "ESTIMABLE=NO" in entries[("Serious adverse events", None)].reason
    assert "ESTIMABLE=NO" in entries[("Treatment failure", "Children")].reason
    assert "no stored results" in entries[("Pain score (0-10)", None)].reason
    assert report.totals == {"reproduced": 5, "mismatch": 0, "not_comparable": 3}
    assert report.ok


def test_a_wrong_study_inside_a_not_comparable_level_is_still_a_mismatch(tmp_path):
    sae = (COMPARISON, "Serious adverse events")
    _, attrs = example()
    study = (*sae, None, "Birch 2005")
    report = revman_check(
        hand_review(
            tmp_path,
            {
                sae: {"ESTIMABLE": False},
                study: {"EFFECT_SIZE": attrs[study]["EFFECT_SIZE"] * 1.001},
            },
        )
    )
    entry = by_level(report)[("Serious adverse events", None)]
    assert entry.status == "mismatch" and entry.field == "Birch 2005/EFFECT_SIZE"
    assert "ESTIMABLE=NO" in entry.reason


def test_totals_no_and_unsupported_outcomes(tmp_path):
    # TOTALS=NO: RevMan keeps placeholders (zeros) for the total; studies are still checked
    pain = (COMPARISON, "Pain score (0-10)")
    report = revman_check(
        hand_review(tmp_path, {pain: {"TOTALS": "NO", "EFFECT_SIZE": 0.0, "WEIGHT": 0.0}})
    )
    entry = by_level(report)[("Pain score (0-10)", None)]
    assert entry.status == "not-comparable" and "TOTALS=NO" in entry.reason
    assert entry.n_fields == 3 * 4  # EFFECT_SIZE, CI_START, CI_END, SE per study; no weights
    # SWAP_EVENTS=YES analyses non-events: the stored event-based results no longer match
    sae = (COMPARISON, "Serious adverse events")
    report = revman_check(hand_review(tmp_path, {sae: {"SWAP_EVENTS": True}}))
    assert by_level(report)[("Serious adverse events", None)].status == "mismatch"


def test_other_ci_levels_skip_cis(tmp_path):
    pain = (COMPARISON, "Pain score (0-10)")
    report = revman_check(hand_review(tmp_path, {pain: {"CI_TOTAL": 90, "CI_START": -99.0}}))
    entry = by_level(report)[("Pain score (0-10)", None)]
    assert entry.status == "reproduced" and "CI_TOTAL=90%" in entry.reason


def test_json_document_shape(tmp_path):
    doc = revman_check(hand_review(tmp_path)).to_dict()
    assert set(doc) >= {"file", "outcomes", "totals"}
    assert doc["totals"] == {"reproduced": 8, "mismatch": 0, "not_comparable": 0}
    first = doc["outcomes"][0]
    assert list(first)[:8] == [
        "comparison",
        "outcome",
        "subgroup",
        "status",
        "max_rel_diff",
        "field",
        "reason",
        "analysis_id",
    ]
    assert first["subgroup"] is None and first["comparison"] == COMPARISON


GENERIC = """<?xml version="1.0" encoding="UTF-8"?>
<COCHRANE_REVIEW><COVER_SHEET><TITLE>Generic</TITLE></COVER_SHEET>
<ANALYSES_AND_DATA><COMPARISON NO="1"><NAME>C</NAME>
<IV_OUTCOME NO="1" LOG_DATA="YES" RANDOM="NO" TOTALS="YES" ESTIMABLE="YES" {pooled}>
<NAME>Relapse</NAME><EFFECT_MEASURE>Hazard Ratio</EFFECT_MEASURE>
<IV_DATA STUDY_ID="STD-A" EFFECT_SIZE="-0.25" SE="0.125" WEIGHT="80.0"/>
<IV_DATA STUDY_ID="STD-B" EFFECT_SIZE="0.5" SE="0.25" WEIGHT="20.0"/>
</IV_OUTCOME>
<IPD_OUTCOME NO="2"><NAME>Survival</NAME><IPD_DATA STUDY_ID="STD-A" O_E="-1.5" VAR="4.0"/></IPD_OUTCOME>
</COMPARISON></ANALYSES_AND_DATA></COCHRANE_REVIEW>
"""


def test_generic_log_outcome_by_hand_and_ipd_not_comparable(tmp_path):
    # Inverse-variance fixed effect by hand: w = 1/0.125² = 64 and 1/0.25² = 16 (80 %, 20 %);
    # θ = (64·(−0.25) + 16·0.5)/80 = −0.1, SE = 1/√80; Q = 64·0.15² + 16·0.6² = 7.2 on 1 df;
    # I² = (7.2 − 1)/7.2; reported as a ratio (log data): exp(θ), exp(θ ± z·SE).
    se = 1 / math.sqrt(80)
    z975 = 1.959963984540054
    pooled = {
        "EFFECT_SIZE": math.exp(-0.1),
        "CI_START": math.exp(-0.1 - z975 * se),
        "CI_END": math.exp(-0.1 + z975 * se),
        "Z": 0.1 / se,
        "P_Z": math.erfc(0.1 / se / math.sqrt(2)),
        "CHI2": 7.2,
        "DF": 1,
        "P_CHI2": math.erfc(math.sqrt(7.2 / 2)),
        "I2": (7.2 - 1) / 7.2 * 100,
        "TAU2": 0.0,
        "WEIGHT": 100.0,
    }
    text = GENERIC.format(pooled=" ".join(f'{k}="{v!r}"' for k, v in pooled.items()))
    path = tmp_path / "generic.rm5"
    path.write_text(text, encoding="utf-8")
    report = revman_check(read_revman(path))
    generic, ipd = report.entries
    assert generic.status == "reproduced" and generic.measure == "HR"
    assert generic.n_fields == 11 + 2  # pooled fields and the two study weights
    # the O-E and variance outcome is read now; it stores no results to compare with
    assert ipd.status == "not-comparable" and "no stored results" in ipd.reason
    # one changed value is caught
    path.write_text(text.replace('CHI2="7.2"', 'CHI2="7.3"'), encoding="utf-8")
    (bad,) = [e for e in revman_check(read_revman(path)).entries if e.status == "mismatch"]
    assert bad.field == "CHI2"
