"""The four findings of the PIP re-analysis, detected from the data, and not detected on a
corrected copy of the data (so each check can fail)."""

from __future__ import annotations

import pandas as pd
import pytest

from sparsemeta import datasets
from sparsemeta.review import findings, plan

SECURE = "PIP vs control | Infant attachment: secure | post"
STABLE_INSECURE = "PIP vs control | Attachment change: stable insecure | post"
SECURE_TO_INSECURE = "PIP vs control | Attachment change: secure to insecure | post"


@pytest.fixture(scope="module")
def pip() -> plan.Plan:
    return plan.load(plan.packaged("pip_barlow2015"))


@pytest.fixture(scope="module")
def found(pip: plan.Plan) -> list[findings.Finding]:
    return findings.detect(pip)


def _of(found: list[findings.Finding], kind: str) -> list[findings.Finding]:
    return [f for f in found if f.kind == kind]


def _set_events(
    studies: pd.DataFrame,
    outcome: str,
    study: str,
    arm: str,
    value: int,
    comparison: str | None = None,
) -> pd.DataFrame:
    out = studies.copy()
    mask = (out["outcome"] == outcome) & (out["study"] == study)
    if comparison is not None:
        mask &= out["comparison"] == comparison
    assert mask.any()
    out.loc[mask, f"events_{arm}"] = value
    return out


# ------------------------------------------------------------------ 1. tau^2 typo


def test_tau2_typo_detected_with_dl_value(found: list[findings.Finding]) -> None:
    typos = _of(found, "likely-typo")
    assert [f.analysis for f in typos] == [SECURE]
    f = typos[0]
    assert f.details["printed"] == "3.71"
    assert f.details["equals"] == ["Chi²"]
    # R meta (metabin, MH, DL, RevMan 5 settings): tau^2 = 1.544
    assert f.details["computed"] == pytest.approx(1.544, abs=5e-4)
    assert "1.54" in f.message


def test_tau2_typo_not_detected_when_printed_value_is_honest(pip: plan.Plan) -> None:
    published = pip.published_table(printed=True)
    published.loc[published["tau2"] == "3.71", "tau2"] = "1.54"
    assert not _of(findings.detect(pip, published=published), "likely-typo")


def test_tau2_mismatch_that_copies_nothing_is_not_a_typo(pip: plan.Plan) -> None:
    """A wrong tau^2 that equals no other printed statistic is a mismatch, not a typo."""
    published = pip.published_table(printed=True)
    published.loc[published["tau2"] == "3.71", "tau2"] = "2.22"
    assert not _of(findings.detect(pip, published=published), "likely-typo")


# ------------------------------------------------------------------ 2. half-arm rounding


def test_half_arm_rounding_detected(found: list[findings.Finding]) -> None:
    rounding = [f for f in _of(found, "count-rounding") if f.study == "Cicchetti 2006b"]
    by_relation = {f.details["relation"]: f for f in rounding}
    categories = by_relation["attachment categories add up to the arm"]
    assert (categories.details["sum"], categories.details["expected"]) == (13, 14)
    assert categories.details["arm"] == "t"
    secure = by_relation["secure at post = insecure to secure + stable secure"]
    assert (secure.details["sum"], secure.details["expected"]) == (8, 9)
    # the same half-arm is entered in the IPP-vs-PPI comparison: reported once
    assert secure.details["also_in"] == ["PIP vs alternative treatment (PPI)"]
    assert len(rounding) == 2


def test_half_arm_rounding_not_detected_on_corrected_data(pip: plan.Plan) -> None:
    studies = datasets.pip_barlow2015()
    studies = _set_events(studies, "Infant attachment: secure", "Cicchetti 2006b", "t", 9)
    assert not _of(findings.detect(pip, studies), "count-rounding")


# ------------------------------------------------------------------ 3. entry error


def test_stable_insecure_entry_error_detected(found: list[findings.Finding]) -> None:
    errors = _of(found, "entry-error")
    assert len(errors) == 1
    f = errors[0]
    assert (f.analysis, f.study) == (STABLE_INSECURE, "Cicchetti 1999a")
    assert f.details["arm"] == "c"
    # 54 - (4 + 5 + 6) = 39 implied; 22 entered
    assert (f.details["entered"], f.details["implied"]) == (22, 39)
    assert f.details["sum"] == 4 + 5 + 6 + 22
    # only the entered 22 reproduces the published RR 0.56 [0.26, 1.22]
    assert f.details["reproduces_published"] == {22: True, 39: False}


def test_entry_error_not_detected_on_corrected_data(pip: plan.Plan) -> None:
    studies = datasets.pip_barlow2015()
    studies = _set_events(studies, "Attachment change: stable insecure", "Cicchetti 1999a", "c", 39)
    assert not _of(findings.detect(pip, studies), "entry-error")


# ------------------------------------------------------------------ 4. dropped study


def test_double_zero_study_dropped(found: list[findings.Finding]) -> None:
    dropped = {f.analysis: f for f in _of(found, "dropped-study")}
    f = dropped[SECURE_TO_INSECURE]
    assert f.study == "Cicchetti 2006b"
    assert f.details["kept"] == ["Cicchetti 1999a"]
    assert (f.details["k_estimable"], f.details["k"]) == (1, 2)
    # Cicchetti 1999a alone, 0/46 vs 6/54 with 0.5 added to every cell:
    # RR = (0.5/47) / (6.5/55) = 0.0900
    assert "RR 0.09 [0.01, 1.56]" in f.message
    assert "Cicchetti 1999a alone" in f.message


def test_no_dropped_study_when_it_has_events(pip: plan.Plan) -> None:
    studies = datasets.pip_barlow2015()
    studies = _set_events(
        studies,
        "Attachment change: secure to insecure",
        "Cicchetti 2006b",
        "c",
        1,
        comparison="PIP vs control",
    )
    dropped = {f.analysis for f in _of(findings.detect(pip, studies), "dropped-study")}
    assert SECURE_TO_INSECURE not in dropped


def test_findings_serialise(found: list[findings.Finding]) -> None:
    for f in found:
        record = f.to_dict()
        assert set(record) >= {"kind", "analysis", "message"}
        assert record["kind"] in findings.KINDS
