"""Plans whose data source is a RevMan review (.rm5 or Cochrane data package), with
analyses named by their id in the file."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from sparsemeta import data
from sparsemeta.errors import PlanError
from sparsemeta.io import write_revman
from sparsemeta.review import plan

PLAN = """plan_version = 1
[review]
id = "r"
data = "{data}"
[bayes]
mu_prior = "default"
[[bayes.tau_priors]]
prior = "halfnormal(0.5)"
default = true
why = "test"
{analyses}
"""


def _rm5(path):
    rows = [
        ("Drug vs placebo", "Death", None, "A 2001", 3, 20, 6, 21),
        ("Drug vs placebo", "Death", None, "B 2005", 2, 30, 5, 31),
        ("Drug vs placebo", "Stroke", None, "A 2001", 1, 20, 2, 21),
    ]
    cols = ["comparison", "outcome", "subgroup", "study", "events_t", "n_t", "events_c", "n_c"]
    write_revman(data.study_table(pd.DataFrame(rows, columns=cols)), path)


def test_rm5_source_with_analysis_ids(tmp_path):
    _rm5(tmp_path / "review.rm5")
    analyses = '[[analyses]]\nanalysis = "1.2"\nmeasure = "RR"\n' + (
        '[[analyses]]\ncomparison = "Drug vs placebo"\noutcome = "Death"\nmeasure = "RR"\n'
    )
    (tmp_path / "p.toml").write_text(PLAN.format(data="review.rm5", analyses=analyses))
    p = plan.load(tmp_path / "p.toml")
    assert [a.outcome for a in p.analyses] == ["Stroke", "Death"]
    assert len(p.studies()) == 3


def test_unknown_id_and_disagreeing_label_are_plan_errors(tmp_path):
    _rm5(tmp_path / "review.rm5")
    for body, fragment in (
        ('[[analyses]]\nanalysis = "3.1"\nmeasure = "RR"\n', "no analysis '3.1'"),
        (
            '[[analyses]]\nanalysis = "1.1"\noutcome = "Stroke"\nmeasure = "RR"\n',
            "differs from analysis 1.1",
        ),
    ):
        (tmp_path / "p.toml").write_text(PLAN.format(data="review.rm5", analyses=body))
        with pytest.raises(PlanError, match=fragment):
            plan.load(tmp_path / "p.toml")


def test_ids_need_a_revman_source(tmp_path):
    (tmp_path / "s.csv").write_text(
        "comparison,outcome,study,effect,se,log_scale\nC,O,S,0.1,0.2,false\n"
    )
    body = '[[analyses]]\nanalysis = "1.1"\nmeasure = "GENERIC"\n'
    (tmp_path / "p.toml").write_text(PLAN.format(data="s.csv", analyses=body))
    with pytest.raises(PlanError, match="need a RevMan data source"):
        plan.load(tmp_path / "p.toml")


def test_data_package_source(revman_fixtures, tmp_path):
    shutil.copy(revman_fixtures / "Fleiss1993.zip", tmp_path / "review.zip")
    body = (
        '[[analyses]]\nanalysis = "1.1"\nmeasure = "OR"\nmethod = "MH"\n'
        '[[analyses]]\nanalysis = "1.2"\nmeasure = "SMD"\n'
    )
    (tmp_path / "p.toml").write_text(PLAN.format(data="review.zip", analyses=body))
    p = plan.load(tmp_path / "p.toml")
    assert p.analyses[0].outcome == "Aspirin for Preventing Death after Myocardial Infarction"
    assert len(p.studies()) == 12  # 7 + 5 study rows in data-rows.csv
