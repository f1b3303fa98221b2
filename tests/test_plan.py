"""Analysis plans: the packaged PIP plan, and validation errors of sparsemeta.review.plan.load."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from sparsemeta import datasets
from sparsemeta.errors import PlanError
from sparsemeta.review import plan

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pip() -> plan.Plan:
    return plan.load(plan.packaged("pip_barlow2015"))


# --------------------------------------------------------------------- the PIP plan


def test_packaged_plan_is_the_models_file() -> None:
    packaged = plan.packaged("pip_barlow2015").read_bytes()
    assert packaged == (REPO / "models" / "pip_barlow2015.toml").read_bytes()


def test_models_file_loads(pip: plan.Plan) -> None:
    other = plan.load(REPO / "models" / "pip_barlow2015.toml")
    assert other.analyses == pip.analyses


def test_every_published_row_is_planned(pip: plan.Plan) -> None:
    published = datasets.pip_barlow2015_published(printed=True)
    keys = {a.key for a in pip.analyses}
    for _, row in published.iterrows():
        assert (row["comparison"], row["outcome"], row["timepoint"]) in keys
    # 20 published rows + 8 IPP-vs-PPI analyses that have data but no published figure
    assert len(pip.analyses) == 28


def test_methods_follow_the_review(pip: plan.Plan) -> None:
    for a in pip.analyses:
        if a.measure == "RR":
            assert (a.method, a.random, a.tau2_method) == ("MH", True, "DL")
            assert a.models == ("exact", "binomial")
        elif a.measure == "SMD":
            assert (a.method, a.random) == ("IV", True)
            assert a.models == ("exact",)
        else:
            assert a.measure is None and not a.study_data


def test_no_data_analyses_are_marked(pip: plan.Plan) -> None:
    studies = datasets.pip_barlow2015()
    with_data = set(
        zip(studies["comparison"], studies["outcome"], studies["timepoint"], strict=True)
    )
    for a in pip.analyses:
        assert a.study_data == (tuple(a.key) in with_data)
    assert sum(not a.study_data for a in pip.analyses) == 12


def test_prior_set(pip: plan.Plan) -> None:
    assert pip.default_prior.label == "halfnormal(scale=0.5)"
    assert all(len(p.why) > 40 for p in pip.tau_priors)
    secure = pip.analysis(("PIP vs control", "Infant attachment: secure", "post"))
    labels = [p.label for p in pip.priors_for(secure)]
    assert labels == [
        "halfnormal(scale=0.5)",
        "halfnormal(scale=1.0)",
        "halfcauchy(scale=0.5)",
        'turner2015(outcome="mental health indicators", comparison="non-pharm vs placebo/control")',
        "uisd_halfnormal(fraction=0.25)",
    ]
    ppi = pip.analysis(("PIP vs alternative treatment (PPI)", "Infant attachment: secure", "post"))
    assert any("non-pharm vs non-pharm" in p.label for p in pip.priors_for(ppi))
    sens = pip.analysis(("PIP vs control", "Maternal sensitivity", "post"))
    assert any(p.label.startswith("rhodes2015") for p in pip.priors_for(sens))
    assert not any(p.label.startswith("turner2015") for p in pip.priors_for(sens))


def test_uisd_prior_is_scaled_by_hand_computed_uisd(pip: plan.Plan) -> None:
    """Secure: log-RR variances 1/31 - 1/46 + 1/9 - 1/54 and 1/8 - 1/14 + 1/1 - 1/54,
    total sizes 100 and 68; UISD = sqrt(168 / (1/v1 + 1/v2)); scale = UISD / 4."""
    v1 = 1 / 31 - 1 / 46 + 1 / 9 - 1 / 54
    v2 = 1 / 8 - 1 / 14 + 1 / 1 - 1 / 54
    uisd = math.sqrt(168 / (1 / v1 + 1 / v2))
    choice = next(p for p in pip.tau_priors if p.uisd_from_data)
    prior = choice.build([100, 68], [math.sqrt(v1), math.sqrt(v2)])
    assert prior.params["uisd"] == pytest.approx(uisd, rel=1e-12)
    assert prior.median() == pytest.approx(uisd / 4 * 0.6744897501960817, rel=1e-9)


def test_packaged_unknown_name() -> None:
    with pytest.raises(PlanError, match=r"no packaged plan 'nope'.*pip_barlow2015"):
        plan.packaged("nope")


# --------------------------------------------------------------------- validation

VALID = """\
plan_version = 1

[review]
id = "toy"
data = "studies.csv"

[defaults]
models = ["exact", "binomial"]

[bayes]
[[bayes.tau_priors]]
prior = "halfnormal(0.5)"
default = true
why = "default"

[[relations]]
name = "a and b partition the arm"
sum = ["A", "B"]
equals = "n"

[[analyses]]
comparison = "X vs Y"
outcome = "A"
measure = "RR"
method = "MH"

[[analyses]]
comparison = "X vs Y"
outcome = "B"
measure = "RR"
method = "MH"

[[analyses]]
comparison = "X vs Y"
outcome = "C"
measure = "SMD"
models = ["exact"]
study_data = false
"""

CSV = """\
comparison,outcome,study,events_t,n_t,events_c,n_c
X vs Y,A,S1,3,10,4,12
X vs Y,A,S2,1,8,2,9
X vs Y,B,S1,7,10,8,12
X vs Y,B,S2,7,8,7,9
"""


def _write(tmp_path: Path, text: str, csv: str | None = CSV) -> Path:
    if csv is not None:
        (tmp_path / "studies.csv").write_text(csv, encoding="utf-8")
    path = tmp_path / "plan.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_toy_plan(tmp_path: Path) -> None:
    p = plan.load(_write(tmp_path, VALID))
    assert [a.outcome for a in p.analyses] == ["A", "B", "C"]
    assert p.analyses[2].method == "IV"  # the default method of SMD
    assert len(p.studies()) == 4


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('id = "toy"', 'id = "toy"\ncolour = "red"', r"\[review\]: unknown key 'colour'"),
        ('outcome = "A"', 'outcome = "A"\nweight = 1', r"#1 \(X vs Y \| A\): unknown key 'weight'"),
        ('measure = "SMD"', 'measure = "SMDX"', r"measure: unknown value 'SMDX'"),
        (
            'measure = "SMD"',
            'measure = "SMD"\nmethod = "MH"',
            r"method 'MH' is not available for SMD",
        ),
        (
            'measure = "SMD"\nmodels = ["exact"]',
            'measure = "SMD"',
            r"binomial model needs a binary ratio measure",
        ),
        (
            'prior = "halfnormal(0.5)"',
            'prior = "halfnormal(-1)"',
            r"#1\.prior: prior 'halfnormal\(-1\)' does not parse: .*scale",
        ),
        ('prior = "halfnormal(0.5)"', 'prior = "wobbly(2)"', r"unknown tau prior 'wobbly'"),
        ("default = true", "default = false", r"exactly one prior must have default = true"),
        ('outcome = "B"', 'outcome = "A"', r"duplicate analysis"),
        (
            'data = "studies.csv"',
            'data = "missing.csv"',
            r"data file .*missing\.csv.* does not exist",
        ),
        ('data = "studies.csv"', 'data = "dataset:nope"', r"unknown data set 'nope'"),
        ('sum = ["A", "B"]', 'sum = ["A", "Q"]', r"outcome 'Q' is not the outcome of any analysis"),
        ("plan_version = 1", "plan_version = 2", r"unsupported version 2"),
        (
            'models = ["exact", "binomial"]',
            'models = ["exact", "magic"]',
            r"models\[1\]: unknown value 'magic'",
        ),
        (
            'measure = "RR"\nmethod = "MH"\n\n[[analyses]]\ncomparison = "X vs Y"\noutcome = "B"',
            'measure = "RR"\nmethod = "MH"\n\n[[analyses]]\ncomparison = "X vs Y"\noutcome = "B"'
            "\nstudy_data = false",
            r"'X vs Y \| B' is marked study_data = false but the data hold",
        ),
    ],
)
def test_validation_errors(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in VALID
    with pytest.raises(PlanError, match=message):
        plan.load(_write(tmp_path, VALID.replace(old, new, 1)))


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="does not exist"):
        plan.load(tmp_path / "absent.toml")
    with pytest.raises(PlanError, match="not valid TOML"):
        plan.load(_write(tmp_path, VALID + "\n[[analyses]\n"))


def test_data_without_planned_analysis(tmp_path: Path) -> None:
    csv = CSV + "X vs Y,D,S1,1,10,1,12\n"
    with pytest.raises(PlanError, match=r"the data hold analysis 'X vs Y \| D'"):
        plan.load(_write(tmp_path, VALID, csv))


def test_planned_analysis_without_data(tmp_path: Path) -> None:
    csv = "\n".join(line for line in CSV.splitlines() if ",B," not in line) + "\n"
    with pytest.raises(PlanError, match=r"'X vs Y \| B' has study_data = true"):
        plan.load(_write(tmp_path, VALID, csv))


def test_measure_must_fit_data_type(tmp_path: Path) -> None:
    csv = (
        "comparison,outcome,study,events_t,n_t,events_c,n_c,mean_t,sd_t,mean_c,sd_c\n"
        + "".join(line + ",,,,\n" for line in CSV.splitlines()[1:])
        + "X vs Y,A2,S1,,10,,12,1.0,1.0,2.0,1.0\n"
    )
    text = VALID + '\n[[analyses]]\ncomparison = "X vs Y"\noutcome = "A2"\nmeasure = "RR"\n'
    with pytest.raises(PlanError, match=r"measure RR needs binary data, the data are continuous"):
        plan.load(_write(tmp_path, text, csv))


def test_published_rows_must_be_planned(tmp_path: Path) -> None:
    (tmp_path / "published.csv").write_text(
        "comparison,outcome,timepoint,measure,estimate\nX vs Y,Z,,RR,0.5\n", encoding="utf-8"
    )
    text = VALID.replace(
        'data = "studies.csv"', 'data = "studies.csv"\npublished = "published.csv"'
    )
    with pytest.raises(PlanError, match=r"published row 1 \('X vs Y \| Z'\) is not an analysis"):
        plan.load(_write(tmp_path, text))


def test_uisd_from_data_needs_uisd_prior(tmp_path: Path) -> None:
    text = VALID.replace(
        'why = "default"',
        'why = "default"\n\n[[bayes.tau_priors]]\n'
        'prior = "halfcauchy(0.5)"\nuisd_from_data = true\nwhy = "x"',
    )
    with pytest.raises(PlanError, match="uisd_from_data needs a uisd_halfnormal"):
        plan.load(_write(tmp_path, text))


def test_published_csv_is_read(tmp_path: Path) -> None:
    (tmp_path / "published.csv").write_text(
        "comparison,outcome,timepoint,measure,estimate\nX vs Y,A,,RR,0.50\n", encoding="utf-8"
    )
    text = VALID.replace(
        'data = "studies.csv"', 'data = "studies.csv"\npublished = "published.csv"'
    )
    p = plan.load(_write(tmp_path, text))
    table = p.published_table()
    assert isinstance(table, pd.DataFrame)
    assert table["estimate"].tolist() == ["0.50"]
