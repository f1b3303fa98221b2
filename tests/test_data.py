"""The study table: validation, normalisation, data types and analysis grouping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sparsemeta.data import AnalysisKey, analyses, data_type, study_table
from sparsemeta.errors import DataError


def binary_rows(**override: object) -> pd.DataFrame:
    rows = [
        dict(comparison="A vs B", outcome="death", study="Smith 2001",
             events_t=3, n_t=20, events_c=5, n_c=21, provenance="Table 2"),
        dict(comparison="A vs B", outcome="death", study="Jones 2005",
             events_t=0, n_t=15, events_c=2, n_c=14, provenance="Fig 1"),
    ]  # fmt: skip
    frame = pd.DataFrame(rows)
    for key, value in override.items():
        frame[key] = frame[key].astype(object)
        frame.loc[1, key] = value
    return frame


def continuous_rows() -> pd.DataFrame:
    return pd.DataFrame(
        [
            dict(comparison="A vs B", outcome="pain", study="Lee 2010",
                 mean_t=3.1, sd_t=1.2, n_t=30, mean_c=4.0, sd_c=1.5, n_c=31),
            dict(comparison="A vs B", outcome="pain", study="Kim 2012",
                 mean_t=2.5, sd_t=0.9, n_t=25, mean_c=3.2, sd_c=1.1, n_c=24),
        ]
    )  # fmt: skip


def test_valid_table_is_normalised_and_keeps_extra_columns():
    raw = binary_rows()
    raw.index = [10, 20]
    out = study_table(raw)
    assert list(out.index) == [10, 20]
    assert out["events_t"].dtype == np.int64 and out["n_c"].dtype == np.int64
    assert out["subgroup"].isna().all() and out["timepoint"].isna().all()
    assert list(out["provenance"]) == ["Table 2", "Fig 1"]
    assert data_type(out) == "binary"
    assert raw["events_t"].dtype == np.int64  # the input is not modified
    assert "subgroup" not in raw.columns


def test_whole_number_floats_are_accepted_as_counts():
    raw = binary_rows()
    raw["n_t"] = raw["n_t"].astype(float)
    assert study_table(raw)["n_t"].tolist() == [20, 15]


def test_data_types():
    assert data_type(study_table(continuous_rows())) == "continuous"
    generic = pd.DataFrame(
        dict(comparison="c", outcome="o", study=["a", "b"], effect=[0.1, -0.2], se=[0.3, 0.2],
             log_scale=[True, True])
    )  # fmt: skip
    assert data_type(study_table(generic)) == "generic"


def test_table_with_analyses_of_different_types():
    both = pd.concat([binary_rows(), continuous_rows()], ignore_index=True)
    out = study_table(both)
    # counts stay float with NaN where a continuous row has no events
    assert out["events_t"].dtype == float and np.isnan(out.loc[2, "events_t"])
    keys = [key for key, _ in analyses(out)]
    assert keys == [AnalysisKey("A vs B", "death", None), AnalysisKey("A vs B", "pain", None)]
    assert [data_type(frame) for _, frame in analyses(out)] == ["binary", "continuous"]


def test_analyses_group_by_timepoint_keep_subgroups_and_input_order():
    raw = pd.DataFrame(
        dict(
            comparison=["c"] * 5,
            outcome=["o"] * 5,
            timepoint=["6 mo", "post", "6 mo", None, "post"],
            subgroup=["adults", "adults", "children", None, "children"],
            study=["s1", "s1", "s2", "s3", "s2"],
            effect=[0.1, 0.2, 0.3, 0.4, 0.5],
            se=[0.1] * 5,
            log_scale=[False] * 5,
        )
    )
    groups = list(analyses(study_table(raw)))
    assert [k.timepoint for k, _ in groups] == ["6 mo", "post", None]
    assert [list(f.index) for _, f in groups] == [[0, 2], [1, 4], [3]]
    assert list(groups[0][1]["subgroup"]) == ["adults", "children"]


def test_same_study_may_appear_in_two_subgroups_of_one_analysis():
    raw = binary_rows()
    raw["study"] = ["Smith 2001", "Smith 2001"]
    raw["subgroup"] = ["low dose", "high dose"]
    assert len(study_table(raw)) == 2


# --- malformed input: every case names the study, the field and the problem -------------


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("events_t", -1, "negative"),
        ("n_t", 10.5, "not an integer"),
        ("events_c", 15, "exceed"),
        ("n_c", 0, "> 0"),
        ("events_c", np.nan, "missing"),
        ("n_t", np.inf, "not finite"),
        ("events_t", "three", "must be a number"),
        ("n_c", "14", "must be a number"),
    ],
)
def test_bad_binary_values(field, value, problem):
    with pytest.raises(DataError) as err:
        study_table(binary_rows(**{field: value}))
    message = str(err.value)
    assert "'Jones 2005'" in message and f"'{field}'" in message and problem in message


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("sd_t", 0.0, "> 0"),
        ("sd_c", -1.0, "> 0"),
        ("sd_c", np.nan, "missing"),
        ("mean_t", np.inf, "not finite"),
        ("n_t", -3, "negative"),
        ("mean_c", "n/a", "must be a number"),
    ],
)
def test_bad_continuous_values(field, value, problem):
    raw = continuous_rows()
    raw[field] = raw[field].astype(object)
    raw.loc[1, field] = value
    with pytest.raises(DataError) as err:
        study_table(raw)
    message = str(err.value)
    assert "'Kim 2012'" in message and f"'{field}'" in message and problem in message


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [("se", 0.0, "> 0"), ("effect", np.nan, "missing"), ("log_scale", "yes", "True or False")],
)
def test_bad_generic_values(field, value, problem):
    raw = pd.DataFrame(
        dict(comparison="c", outcome="o", study=["a", "b"], effect=[0.1, -0.2], se=[0.3, 0.2],
             log_scale=[True, True])
    )  # fmt: skip
    raw[field] = raw[field].astype(object)
    raw.loc[1, field] = value
    with pytest.raises(DataError) as err:
        study_table(raw)
    message = str(err.value)
    assert "'b'" in message and f"'{field}'" in message and problem in message


def test_table_without_any_data_column():
    raw = binary_rows().drop(columns=["events_t", "events_c"])
    with pytest.raises(DataError) as err:
        study_table(raw)
    message = str(err.value)
    assert "study 'Smith 2001'" in message and "'events_t/events_c/" in message
    assert "none of the columns events_t, events_c, mean_t" in message


def test_missing_data_column():
    raw = binary_rows().drop(columns="n_c")
    with pytest.raises(DataError, match=r"study 'Smith 2001', field 'n_c': column missing"):
        study_table(raw)


def test_missing_label_column():
    raw = binary_rows().drop(columns="outcome")
    with pytest.raises(DataError, match=r"study 'Smith 2001', field 'outcome': required column"):
        study_table(raw)


def test_missing_study_label_names_the_row():
    raw = binary_rows(study=None)
    with pytest.raises(DataError, match=r"row 1 \(no study label\), field 'study'"):
        study_table(raw)


def test_non_string_label():
    raw = binary_rows(outcome=3)
    with pytest.raises(
        DataError, match=r"study 'Jones 2005', field 'outcome': must be a non-empty"
    ):
        study_table(raw)


def test_mixed_data_types_within_one_analysis():
    both = pd.concat([binary_rows(), continuous_rows()], ignore_index=True)
    both["outcome"] = "death"
    with pytest.raises(DataError) as err:
        study_table(both)
    message = str(err.value)
    assert "'Lee 2010'" in message and "'mean_t/sd_t/mean_c/sd_c'" in message
    assert "continuous data in analysis" in message and "'Smith 2001' has binary" in message


def test_row_with_two_data_types():
    raw = binary_rows()
    raw["mean_t"] = [np.nan, 2.0]
    with pytest.raises(DataError, match=r"study 'Jones 2005', field .*mixes binary and continuous"):
        study_table(raw)


def test_row_without_data():
    raw = binary_rows(events_t=np.nan, events_c=np.nan)
    with pytest.raises(DataError, match=r"study 'Jones 2005', field .*no study data"):
        study_table(raw)


def test_duplicate_study_in_one_analysis():
    raw = binary_rows(study="Smith 2001")
    with pytest.raises(DataError) as err:
        study_table(raw)
    message = str(err.value)
    assert "'Smith 2001'" in message and "'study'" in message and "duplicate" in message


def test_empty_table():
    with pytest.raises(DataError, match=r"field 'study': the table is empty"):
        study_table(binary_rows().iloc[0:0])
    with pytest.raises(DataError, match=r"the analysis is empty"):
        data_type(binary_rows().iloc[0:0])


def test_not_a_dataframe():
    with pytest.raises(DataError, match="expected a pandas DataFrame"):
        study_table([{"study": "a"}])  # type: ignore[arg-type]


def test_data_type_refuses_mixed_rows():
    both = pd.concat([binary_rows(), continuous_rows()], ignore_index=True)
    with pytest.raises(DataError, match=r"study 'Lee 2010'.*continuous data where"):
        data_type(both)
