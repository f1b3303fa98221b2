"""Packaged PIP data (Barlow et al. 2015, CD010534): shape, provenance, and checks of the
counts against independent figures (the printed N, the trial's completer percentages)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sparsemeta import data, datasets
from sparsemeta.errors import DataError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pip"
POST_CONTROL = [
    "Infant attachment: secure",
    "Infant attachment: avoidant",
    "Infant attachment: resistant",
    "Infant attachment: disorganised",
    "Attachment change: insecure to secure",
    "Attachment change: stable secure",
    "Attachment change: secure to insecure",
    "Attachment change: stable insecure",
]


@pytest.fixture(scope="module")
def studies() -> pd.DataFrame:
    return datasets.pip_barlow2015()


def test_study_table_columns_and_provenance(studies: pd.DataFrame) -> None:
    assert list(studies.columns) == [
        "comparison",
        "outcome",
        "subgroup",
        "timepoint",
        "study",
        "events_t",
        "n_t",
        "events_c",
        "n_c",
        "provenance",
        "confidence",
    ]
    assert studies["provenance"].str.len().min() > 20
    assert set(studies["confidence"]) == {"high", "medium", "low"}
    # a valid study table: validation returns it unchanged
    pd.testing.assert_frame_equal(data.study_table(studies), studies)


def test_post_control_analyses_match_printed_sample_size(studies: pd.DataFrame) -> None:
    control = studies[studies["comparison"] == "PIP vs control"]
    assert list(dict.fromkeys(control["outcome"])) == POST_CONTROL
    for outcome in POST_CONTROL:
        rows = control[control["outcome"] == outcome].set_index("study")
        # published: 2 studies, N = 168; arm sizes 46/54 (1999a) and 14/54 (2006b)
        assert list(rows.index) == ["Cicchetti 1999a", "Cicchetti 2006b"]
        assert int((rows["n_t"] + rows["n_c"]).sum()) == 168
        assert rows.loc["Cicchetti 1999a", ["n_t", "n_c"]].tolist() == [46, 54]
        assert rows.loc["Cicchetti 2006b", ["n_t", "n_c"]].tolist() == [14, 54]


def test_alternative_treatment_tables_are_low_confidence(studies: pd.DataFrame) -> None:
    ppi = studies[studies["comparison"] == "PIP vs alternative treatment (PPI)"]
    assert len(ppi) == 8
    assert set(ppi["confidence"]) == {"low"}
    assert set(ppi["n_c"]) == {22}


def test_trial_arm_counts_reproduce_the_trial_percentages() -> None:
    arms = datasets.pip_barlow2015_trial_arms().set_index("arm")
    # AHRQ evidence report Table E-24 percentages (secure, avoidant, resistant, disorganised)
    printed = {
        "IPP (infant-parent psychotherapy)": (60.7, 7.1, 0.0, 32.1),
        "PPI (psychoeducational parenting intervention)": (54.5, 0.0, 0.0, 45.5),
        "CS (community standard control)": (1.9, 18.5, 1.9, 77.8),
    }
    for arm, percents in printed.items():
        row = arms.loc[arm]
        counts = [row["secure"], row["avoidant"], row["resistant"], row["disorganised"]]
        assert [round(100 * c / row["n"], 1) for c in counts] == list(percents)


def test_half_arm_is_the_halved_ipp_arm(studies: pd.DataFrame) -> None:
    """The review's Cicchetti 2006b PIP arm is the trial's IPP arm (n = 28) halved, each
    count within rounding of half the trial's count."""
    arms = datasets.pip_barlow2015_trial_arms()
    ipp = arms[arms["arm"].str.startswith("IPP")].iloc[0]
    column = {
        "Infant attachment: secure": "secure",
        "Infant attachment: avoidant": "avoidant",
        "Infant attachment: resistant": "resistant",
        "Infant attachment: disorganised": "disorganised",
        "Attachment change: insecure to secure": "insecure_to_secure",
        "Attachment change: stable secure": "stable_secure",
        "Attachment change: secure to insecure": "secure_to_insecure",
        "Attachment change: stable insecure": "stable_insecure",
    }
    half = studies[
        (studies["study"] == "Cicchetti 2006b") & (studies["comparison"] == "PIP vs control")
    ]
    for _, row in half.iterrows():
        assert row["n_t"] == ipp["n"] / 2
        assert abs(row["events_t"] - ipp[column[row["outcome"]]] / 2) <= 0.5


def test_published_table() -> None:
    pub = datasets.pip_barlow2015_published()
    assert len(pub) == 20
    assert pub["estimate"].dtype == float
    secure = pub[(pub["outcome"] == "Infant attachment: secure") & (pub["timepoint"] == "post")]
    assert secure[["estimate", "ci_low", "ci_high", "chi2", "tau2"]].iloc[0].tolist() == [
        8.93,
        1.25,
        63.70,
        3.71,
        3.71,
    ]
    assert pub["tau2"].notna().sum() == 1
    printed = datasets.pip_barlow2015_published(printed=True)
    assert "63.70" in set(printed["ci_high"])
    assert "6.0" in set(printed["ci_high"])


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared PIP data folder not on this machine")
def test_packaged_files_are_the_shared_figures() -> None:
    for table in ("studies", "trial_arms"):
        packaged = datasets.dataset_file("pip_barlow2015", table).read_text(encoding="utf-8")
        assert packaged == (SHARED / f"{table}.csv").read_text(encoding="utf-8")
    shared = pd.read_csv(SHARED / "published.csv", dtype=str, keep_default_na=False)
    ours = datasets.pip_barlow2015_published(printed=True)
    pd.testing.assert_frame_equal(ours.drop(columns="tau2"), shared)


def test_load_generic_and_errors() -> None:
    pd.testing.assert_frame_equal(datasets.load("pip_barlow2015"), datasets.pip_barlow2015())
    with pytest.raises(DataError, match="unknown data set 'nope'"):
        datasets.load("nope")
    with pytest.raises(DataError, match="no table 'forest'"):
        datasets.load("pip_barlow2015", "forest")


def test_bcg_matches_metafor_dat_bcg():
    """The packaged BCG trials against metafor's ``dat.bcg`` (Colditz et al. 1994, JAMA
    271(9):698-702), typed in here as tpos, tneg, cpos, cneg."""
    tpos = [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27]
    tneg = [119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886]
    cpos = [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29]
    cneg = [128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825]
    years = [1948, 1949, 1960, 1977, 1973, 1953, 1973, 1980, 1968, 1961, 1974, 1969, 1976]
    bcg = datasets.bcg_colditz1994()
    assert bcg["events_t"].tolist() == tpos
    assert (bcg["n_t"] - bcg["events_t"]).tolist() == tneg
    assert bcg["events_c"].tolist() == cpos
    assert (bcg["n_c"] - bcg["events_c"]).tolist() == cneg
    assert bcg["year"].tolist() == years
    assert bcg["study"].is_unique and len(bcg) == 13
    # covariates as printed by the metafor README (dat.bcg: ablat, alloc)
    assert bcg["ablat"].tolist() == [44, 55, 42, 52, 13, 44, 19, 13, 27, 42, 18, 33, 33]
    alloc = ["random"] * 4 + ["alternate"] * 2 + ["random"] * 3 + ["systematic"] * 4
    assert bcg["alloc"].tolist() == alloc
