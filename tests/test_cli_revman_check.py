"""Tests of ``sparsemeta revman-check`` (exit status, output, the bundled example)."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from revman_example import COMPARISON, TITLE, example, write_example
from sparsemeta.cli import main
from sparsemeta.io import write_revman

KEYS = {"comparison", "outcome", "subgroup", "status", "max_rel_diff", "field", "reason"}


def test_bundled_example_is_exactly_the_hand_calculation(tmp_path):
    fresh = tmp_path / "fresh.rm5"
    write_example(fresh)
    bundled = resources.files("sparsemeta") / "examples_data" / "synthetic_sparse.rm5"
    assert bundled.read_bytes() == fresh.read_bytes(), "regenerate: python tests/revman_example.py"


def test_example_reproduces_and_exits_0(capsys):
    assert main(["revman-check", "--example"]) == 0
    out = capsys.readouterr().out
    assert "Serious adverse events" in out and "Adults" in out
    assert "8 reproduced, 0 mismatch, 0 not comparable" in out


def test_json_is_one_document_with_the_specified_shape(capsys):
    assert main(["revman-check", "--example", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)  # exactly one JSON document
    assert doc["file"].endswith("synthetic_sparse.rm5")
    assert doc["totals"] == {"reproduced": 8, "mismatch": 0, "not_comparable": 0}
    assert len(doc["outcomes"]) == 8
    for entry in doc["outcomes"]:
        assert KEYS <= set(entry)
        assert entry["status"] in {"reproduced", "mismatch", "not-comparable"}
        assert entry["subgroup"] is None or isinstance(entry["subgroup"], str)
        assert isinstance(entry["max_rel_diff"], float)
    assert [e["subgroup"] for e in doc["outcomes"]] == [
        None,
        None,
        "Adults",
        "Children",
        None,
        "Low dose",
        "High dose",
        None,
    ]


def test_mismatch_exits_1_and_names_the_field(tmp_path, capsys):
    studies, attrs = example()
    attrs[(COMPARISON, "Treatment failure")]["CHI2"] *= 1.001
    path = tmp_path / "wrong.rm5"
    write_revman(studies, path, title=TITLE, attributes=attrs)
    assert main(["revman-check", str(path), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["totals"]["mismatch"] == 1
    (bad,) = [e for e in doc["outcomes"] if e["status"] == "mismatch"]
    assert bad["outcome"] == "Treatment failure" and bad["field"] == "CHI2"
    assert main(["revman-check", str(path)]) == 1
    assert "mismatch" in capsys.readouterr().out


def test_unreadable_file_one_line_on_stderr_exit_2(tmp_path, capsys):
    bad = tmp_path / "broken.rm5"
    bad.write_text("<COCHRANE_REVIEW><ANALYSES_AND_DATA>", encoding="utf-8")
    for target in (bad, tmp_path / "missing.rm5"):
        assert main(["revman-check", str(target)]) == 2  # no exception escapes
        captured = capsys.readouterr()
        assert captured.out == ""
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in captured.err
        assert lines[0].startswith("sparsemeta revman-check: error:") and str(target) in lines[0]


def test_review_without_analyses_is_an_error(tmp_path, capsys):
    empty = tmp_path / "protocol.rm5"
    empty.write_text("<COCHRANE_REVIEW/>", encoding="utf-8")
    assert main(["revman-check", str(empty)]) == 2
    assert "no analyses" in capsys.readouterr().err


def test_file_or_example_is_required(capsys):
    assert main(["revman-check"]) == 2
    assert "FILE or --example" in capsys.readouterr().err


def test_help_is_honest_about_the_example(capsys):
    with pytest.raises(SystemExit) as info:
        main(["revman-check", "--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "made-up review" in out and "not by RevMan" in out
