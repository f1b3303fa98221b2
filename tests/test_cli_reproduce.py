"""Tests of ``sparsemeta reproduce`` (output, JSON shape, exit status)."""

from __future__ import annotations

import dataclasses
import json

import matplotlib
import pytest

import sparsemeta.review.reproduce as reproduce_module
from sparsemeta.cli import main
from sparsemeta.cli import reproduce as cli_reproduce
from sparsemeta.review import plan as plan_mod
from sparsemeta.review.reproduce import reproduce

matplotlib.use("Agg")

ANALYSIS_KEYS = {
    "comparison",
    "outcome",
    "timepoint",
    "status",
    "published",
    "reproduced",
    "bayes",
    "diagnostics",
}
#: no-data; secure (reproduced, tau2 typo flagged); avoidant (reproduced); one PPI analysis (not published)
PICK = (0, 2, 3, 21)


@pytest.fixture
def small_plan(monkeypatch):
    """Make the command run four analyses of the PIP plan (keeps the tests fast)."""
    full = plan_mod.load(plan_mod.packaged("pip_barlow2015"))
    small = dataclasses.replace(full, analyses=tuple(full.analyses[i] for i in PICK))
    seen: list[str] = []

    def load(spec: str) -> plan_mod.Plan:
        seen.append(spec)
        return small

    monkeypatch.setattr(cli_reproduce, "_load", load)
    return small, seen


def test_json_is_exactly_the_result(small_plan, tmp_path, capsys):
    small, seen = small_plan
    assert main(["reproduce", "--no-mcmc", "--json", "--out", str(tmp_path / "r")]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # one JSON document and nothing else
    assert seen == ["pip_barlow2015"]  # the bundled plan by default
    assert {"analyses", "findings", "seconds"} <= set(doc)
    assert len(doc["analyses"]) == len(PICK)
    for entry in doc["analyses"]:
        assert ANALYSIS_KEYS <= set(entry)
    expected = reproduce(small, mcmc=False).to_dict()
    doc.pop("seconds"), expected.pop("seconds")
    assert doc == json.loads(json.dumps(expected))
    assert "%|" not in captured.err  # no progress bar when stderr is not a terminal
    assert (tmp_path / "r" / "report.html").is_file()


def test_human_output_and_default_folder(small_plan, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["reproduce", "my-plan.toml", "--no-mcmc"]) == 0
    out = capsys.readouterr().out
    assert small_plan[1] == ["my-plan.toml"]
    assert "Infant attachment: secure" in out and "likely-typo" not in out
    assert "1 printed value flagged as a likely typo" in out
    assert "tau2 printed 3.71, computed 1.54" in out
    assert "8.93 [1.25, 63.70]" in out  # published and reproduced
    assert "sparsemeta-report/report.html" in out
    assert (tmp_path / "sparsemeta-report" / "report.md").is_file()


def test_mismatch_exits_1(small_plan, tmp_path, monkeypatch, capsys):
    small = small_plan[0]
    studies = small.studies()
    row = studies["outcome"].eq("Infant attachment: avoidant") & studies["study"].eq(
        "Cicchetti 1999a"
    )
    studies.loc[row, "events_t"] += 3
    original = reproduce_module.reproduce
    monkeypatch.setattr(
        reproduce_module,
        "reproduce",
        lambda p, mcmc, progress, cache: original(
            p, mcmc=mcmc, studies=studies, progress=progress, cache=cache
        ),
    )
    assert main(["reproduce", "--no-mcmc", "--json", "--out", str(tmp_path / "r")]) == 1
    captured = capsys.readouterr()
    statuses = {
        (a["comparison"], a["outcome"]): a["status"] for a in json.loads(captured.out)["analyses"]
    }
    assert statuses["PIP vs control", "Infant attachment: avoidant"] == "mismatch"
    assert statuses["PIP vs control", "Infant attachment: secure"] == "reproduced"
    assert "Infant attachment: avoidant | post: mismatch" in captured.err


def test_bad_plan_exits_2(tmp_path, capsys):
    assert main(["reproduce", str(tmp_path / "missing.toml"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sparsemeta reproduce: error:") and "missing.toml" in err
    assert len(err.splitlines()) == 1
    assert main(["reproduce", "no_such_review"]) == 2
    assert "packaged plans: pip_barlow2015" in capsys.readouterr().err


@pytest.mark.slow
def test_bundled_plan_end_to_end(tmp_path, capsys):
    assert main(["reproduce", "--no-mcmc", "--json", "--out", str(tmp_path / "r")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["typos_flagged"] == 1
    assert doc["counts"] == {
        "reproduced": 8,
        "mismatch": 0,
        "likely-typo": 0,
        "no-data": 12,
        "not-published": 8,
    }


def test_out_that_is_a_file_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    """--out naming an existing file: exit 2 at once, the message names --out, nothing written."""

    def must_not_run(*args, **kwargs):
        raise AssertionError("reproduce() ran although --out is unusable")

    monkeypatch.setattr(reproduce_module, "reproduce", must_not_run)
    target = tmp_path / "ok.csv"
    target.write_text("keep me\n")
    assert main(["reproduce", "--out", str(target), "--no-mcmc"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"--out {target}: exists and is not a directory" in err
    assert target.read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.csv"]
