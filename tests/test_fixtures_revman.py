"""Real RevMan 5 files (../shared/fixtures/revman): every comparable outcome must reproduce.

Expected counts of analyses and studies are read off the files' own structure (their
README and the XML), and reproduction is judged against the results RevMan stored in them.
"""

from __future__ import annotations

import json
from functools import cache

import pytest

from sparsemeta.cli import main
from sparsemeta.io import read_revman
from sparsemeta.review.check import revman_check

pytestmark = pytest.mark.fixtures

FILES = [
    "CD000023_antibiotics_sore_throat.rm5",
    "CD007868.rm5",
    "Fleiss1993.rm5",
    "Fleiss1993_CR.csv",
    "Fleiss1993.zip",
]


@cache
def review(path):
    """Each fixture file is parsed once per test session."""
    return read_revman(path)


KEYS = {"comparison", "outcome", "subgroup", "status", "max_rel_diff", "field", "reason"}


@pytest.mark.parametrize("name", FILES)
def test_every_comparable_level_reproduces(revman_fixtures, name, capsys):
    path = revman_fixtures / name
    assert main(["revman-check", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) >= {"file", "outcomes", "totals"} and doc["file"] == str(path)
    assert set(doc["totals"]) == {"reproduced", "mismatch", "not_comparable"}
    statuses = [e["status"] for e in doc["outcomes"]]
    assert doc["totals"]["mismatch"] == 0
    assert doc["totals"]["reproduced"] == statuses.count("reproduced") > 0
    assert doc["totals"]["not_comparable"] == statuses.count("not-comparable")
    for entry in doc["outcomes"]:
        assert KEYS <= set(entry)
        if entry["status"] == "not-comparable":
            assert entry["reason"]
        else:
            assert entry["n_fields"] > 0


def test_file_structure_is_read_completely(revman_fixtures):
    sore = review(revman_fixtures / "CD000023_antibiotics_sore_throat.rm5")
    assert len(sore.analyses) == 21  # README: 21 dichotomous outcomes, M-H random RR
    assert {(a.method, a.measure, a.random) for a in sore.analyses} == {("MH", "RR", True)}
    assert len(sore.studies) == 217  # DICH_DATA elements in the file
    dental = review(revman_fixtures / "CD007868.rm5")
    kinds = [(a.measure, a.random) for a in dental.analyses]
    # README: 25 IV-random SMD, 8 IV-random MD, 8 M-H random RR
    assert (kinds.count(("SMD", True)), kinds.count(("MD", True)), kinds.count(("RR", True))) == (
        25,
        8,
        8,
    )
    assert {a.totals for a in dental.analyses} == {"YES", "SUB", "NO"}
    fleiss = review(revman_fixtures / "Fleiss1993.rm5")
    aspirin = fleiss.analyses[0]
    assert list(aspirin.studies["study"]) == [
        "MRC-1",
        "CDP",
        "MRC-2",
        "GASP",
        "PARIS",
        "AMIS",
        "ISIS-2",
    ]
    assert list(aspirin.studies["events_t"]) == [49, 44, 102, 32, 85, 246, 1570]


def test_csv_export_and_rm5_hold_the_same_aspirin_data(revman_fixtures):
    rm5 = review(revman_fixtures / "Fleiss1993.rm5").analyses[0].studies
    csv = review(revman_fixtures / "Fleiss1993_CR.csv").analyses[0].studies
    cols = ["study", "events_t", "n_t", "events_c", "n_c"]
    assert rm5[cols].reset_index(drop=True).equals(csv[cols].reset_index(drop=True))


def test_double_zero_and_non_estimable_levels_are_reported(revman_fixtures):
    report = revman_check(review(revman_fixtures / "CD000023_antibiotics_sore_throat.rm5"))
    reasons = [e.reason for e in report.entries if e.status == "not-comparable"]
    assert reasons and all("ESTIMABLE=NO" in r for r in reasons)
    dental = revman_check(review(revman_fixtures / "CD007868.rm5"))
    assert any("TOTALS=NO" in (e.reason or "") for e in dental.entries)
