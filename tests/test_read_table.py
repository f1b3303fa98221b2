"""Tests of sparsemeta.io.read_table: tidy CSV study tables.

Every file is written by the test itself with values typed in by hand; expected values are
those typed-in cells. Bad files must raise a DataError that names the file and says what is
wrong and where (line, study, column), never a csv/pandas/codec error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sparsemeta import data, frequentist, io
from sparsemeta.errors import DataError

HEADER = "comparison,outcome,subgroup,study,events_t,n_t,events_c,n_c,note\n"
GOOD = (
    HEADER
    + "Drug vs placebo,Death,,Ames 2001,1,10,2,12,first\n"
    + "Drug vs placebo,Death,,Bell 2004,3,20,5,21,\n"
    + 'Drug vs placebo,Death,,"Cole, Jr 2007",0,15,0,16,"two\nlines"\n'
)
OK_HEADER = "comparison,outcome,study,events_t,n_t,events_c,n_c\n"  # 51 bytes


def write(tmp_path, content: str | bytes, name: str = "studies.csv"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def test_binary_table_is_read_with_typed_in_values(tmp_path):
    table = io.read_table(write(tmp_path, GOOD))
    assert table["study"].tolist() == ["Ames 2001", "Bell 2004", "Cole, Jr 2007"]
    assert table["events_t"].tolist() == [1, 3, 0]
    assert table["n_t"].tolist() == [10, 20, 15]
    assert table["events_c"].tolist() == [2, 5, 0]
    assert table["n_c"].tolist() == [12, 21, 16]
    assert table["events_t"].dtype == np.int64
    assert table["subgroup"].isna().all() and table["timepoint"].isna().all()
    # an extra column is carried through as text; an empty cell is missing
    assert table["note"].iloc[0] == "first" and table["note"].iloc[2] == "two\nlines"
    assert pd.isna(table["note"].iloc[1])
    assert list(table.index) == [0, 1, 2]


def test_same_table_as_study_table_of_the_same_values(tmp_path):
    expected = data.study_table(
        pd.DataFrame(
            {
                "comparison": ["c"] * 2,
                "outcome": ["o"] * 2,
                "study": ["A", "B"],
                "events_t": [4, 6],
                "n_t": [123, 306],
                "events_c": [11, 29],
                "n_c": [139, 303],
            }
        )
    )
    text = "comparison,outcome,study,events_t,n_t,events_c,n_c\nc,o,A,4,123,11,139\n"
    table = io.read_table(write(tmp_path, text + "c,o,B,6,306,29,303\n"))
    pd.testing.assert_frame_equal(table, expected)
    a = frequentist.meta_analysis(table, "RR", method="MH")
    b = frequentist.meta_analysis(expected, "RR", method="MH")
    assert (a.estimate, a.se, a.tau2) == (b.estimate, b.se, b.tau2)


def test_mixed_data_types_missing_tokens_and_log_scale(tmp_path):
    text = (
        "comparison,outcome,timepoint,study,events_t,n_t,events_c,n_c,"
        "mean_t,sd_t,mean_c,sd_c,effect,se,log_scale\n"
        "X,Death,post,A,2,30,NA,31,,,,,,,\n"
        "X,Pain,post,A,,30,,31,-1.5,2.25,0.5e1,.75,,,\n"
        "X,Hazard,,A,,,,,,,,,-0.2,0.3,TRUE\n"
        "X,Hazard2,,A,,,,,,,,,1E-1,0.25,false\n"
    )
    with pytest.raises(DataError, match="'events_c': value is missing"):
        io.read_table(write(tmp_path, text))
    table = io.read_table(write(tmp_path, text.replace("NA,31", "7,31")))
    assert table["events_c"].iloc[0] == 7.0
    assert table["mean_t"].iloc[1] == -1.5 and table["sd_t"].iloc[1] == 2.25
    assert table["mean_c"].iloc[1] == 5.0 and table["sd_c"].iloc[1] == 0.75
    assert table["effect"].iloc[3] == 0.1 and table["se"].iloc[2] == 0.3
    assert table["log_scale"].tolist() == [None, None, True, False]
    assert table["timepoint"].iloc[0] == "post" and pd.isna(table["timepoint"].iloc[2])
    assert [data.data_type(rows) for _, rows in data.analyses(table)] == [
        "binary",
        "continuous",
        "generic",
        "generic",
    ]


def test_bom_crlf_blank_lines_and_spaces_after_commas(tmp_path):
    text = (
        "comparison, outcome, study, events_t, n_t, events_c, n_c\r\n"
        "\r\n"
        "c, o, A, 1, 10, 2, 12\r\n"
        "c, o, B, 3, 20, 5, 21\r\n"
    )
    table = io.read_table(write(tmp_path, b"\xef\xbb\xbf" + text.encode("utf-8")))
    assert table["comparison"].tolist() == ["c", "c"]
    assert table["study"].tolist() == ["A", "B"]
    assert table["n_c"].tolist() == [12, 21]


def test_header_after_blank_lines_is_named_by_its_line(tmp_path):
    text = "\n\n" + OK_HEADER.replace(",n_c", "") + "c,o,A,1,10,2\n"
    with pytest.raises(DataError, match="line 3: missing column"):
        io.read_table(write(tmp_path, text))


def test_line_numbers_count_lines_inside_quoted_cells(tmp_path):
    text = GOOD + "Drug vs placebo,Death,,Dunn 2010,two,10,1,10,\n"
    # GOOD's third record spans lines 4-5, so the bad record is on line 6
    with pytest.raises(DataError, match=r"line 6, study 'Dunn 2010', field 'events_t'"):
        io.read_table(write(tmp_path, text))


# line 2 is 16 bytes, so line 3 starts at offset 67 and its 'ü' is byte 6 (offset 72)
LATIN1 = (OK_HEADER + "c,o,A,1,10,2,12\n" + "c,o,Müller,1,10,2,12\n").encode("latin-1")

BAD_FILES = [
    pytest.param(
        GOOD.replace(",", ";"),
        ("expected comma-separated columns", "found 1 column", "is the delimiter ';'?"),
        id="semicolon-delimiter",
    ),
    pytest.param(
        GOOD.replace(",", "\t"), ("expected comma-separated", "delimiter a tab"), id="tab-delimiter"
    ),
    pytest.param(
        LATIN1,
        ("line 3: byte 0xfc at byte 6 of the line, offset 72", "not UTF-8"),
        id="latin1-encoding",
    ),
    pytest.param(b"", ("empty",), id="empty-file"),
    pytest.param(b"\xef\xbb\xbf \n\n", ("empty",), id="bom-and-blank-lines-only"),
    pytest.param(OK_HEADER, ("header line but no studies",), id="header-only"),
    pytest.param('<?xml version="1.0"?><COCHRANE_REVIEW/>', ("XML", "read_revman"), id="rm5-file"),
    pytest.param(
        "Comparison Number,Outcome Number,Subgroup Number,Name\n1,1,0,x\n",
        ("missing column(s) 'comparison', 'outcome', 'study'", "RevMan 5 CSV export"),
        id="revman-csv-export",
    ),
    pytest.param(
        OK_HEADER.replace("outcome,", "") + "c,A,1,10,2,12\n",
        ("line 1", "missing column(s) 'outcome'", "found 'comparison', 'study'"),
        id="missing-label-column",
    ),
    pytest.param(
        OK_HEADER.replace(",n_c", "") + "c,o,A,1,10,2\n",
        ("line 1", "missing column(s) 'n_c' for binary data"),
        id="missing-data-column",
    ),
    pytest.param(
        "comparison,outcome,study,note\nc,o,A,x\n",
        ("line 1", "no data columns", "binary: events_t, n_t, events_c, n_c"),
        id="no-data-columns",
    ),
    pytest.param(
        OK_HEADER.replace("n_c", "n_t") + "c,o,A,1,10,2,12\n",
        ("line 1", "'n_t' appears twice", "columns 5 and 7"),
        id="duplicate-column",
    ),
    pytest.param(
        OK_HEADER.replace("\n", ",\n") + "c,o,A,1,10,2,12,oops\n",
        ("line 1", "column 8 has no name", "line 2"),
        id="unnamed-column-with-data",
    ),
    pytest.param(
        OK_HEADER + "c,o,Smith, 2001,1,10,2,12\n",
        ("line 2", "8 fields where the header has 7", "quoted"),
        id="unquoted-comma-in-label",
    ),
    pytest.param(
        OK_HEADER + "c,o,A,1,10,2,12\n,o,B,1,10,2,12\n",
        ("line 3", "'comparison'", "empty"),
        id="empty-comparison",
    ),
    pytest.param(
        OK_HEADER + "c,o,A,1,10,2,12\nc,o, ,1,10,2,12\n",
        ("line 3", "'study'", "empty"),
        id="blank-study-label",
    ),
    pytest.param(
        OK_HEADER + "c,o,A,1,10,2,12\nc,o,B,1,1O,2,12\n",
        ("line 3", "study 'B'", "field 'n_t'", "'1O' is not a number"),
        id="letter-o-for-zero",
    ),
    pytest.param(
        OK_HEADER.replace("events_t,n_t,events_c,n_c", "effect,se,log_scale")
        + 'c,o,A,"0,5",0.2,TRUE\n',
        ("line 2", "field 'effect'", "decimal comma"),
        id="decimal-comma",
    ),
    pytest.param(
        OK_HEADER.replace("events_t,n_t,events_c,n_c", "effect,se,log_scale")
        + "c,o,A,0.5,0.2,yes\n",
        ("line 2", "study 'A'", "'log_scale'", "TRUE or FALSE", "'yes'"),
        id="log-scale-yes",
    ),
    pytest.param(
        OK_HEADER + "c,o,A,1,10,2,12\nc,o,B,1_0,10,2,12\n",
        ("line 3", "'1_0' is not a number"),
        id="python-only-number-syntax",
    ),
    pytest.param(
        OK_HEADER + "c,o,A,-1,10,2,12\n",
        ("studies.csv", "study 'A'", "'events_t'", "negative"),
        id="negative-count",
    ),
    pytest.param(
        OK_HEADER + "c,o,A,11,10,2,12\n",
        ("study 'A'", "'events_t'", "exceed"),
        id="events-above-n",
    ),
    pytest.param(
        OK_HEADER + "c,o,A,1.5,10,2,12\n",
        ("study 'A'", "'events_t'", "not an integer"),
        id="fractional-count",
    ),
    pytest.param(
        OK_HEADER + "c,o,A,1,1e400,2,12\n", ("study 'A'", "'n_t'", "not finite"), id="overflow"
    ),
    pytest.param(
        OK_HEADER + "c,o,A,1,10,2,12\nc,o,A,1,10,2,12\n",
        ("study 'A'", "duplicate study label"),
        id="duplicate-study",
    ),
    pytest.param(
        (OK_HEADER + "c,o,A,1,10,2,12\n").encode() + b"c,o,B\x00,1,10,2,12\n",
        ("line 3", "NUL byte", "byte 6 of the line", "not UTF-8"),
        id="nul-byte",
    ),
    pytest.param(
        OK_HEADER + "c,o,A,1,10,2,12\n" + 'c,o,"' + "B" * 200_000 + '",1,10,2,12\n',
        ("line 3", "not valid CSV", "field larger than field limit"),
        id="huge-field",
    ),
    pytest.param(
        (OK_HEADER + "c,o,A,1,10,2,12\n").encode("utf-16"),
        ("line 1", "UTF-16", "not UTF-8"),
        id="utf16-file",
    ),
    pytest.param(
        (OK_HEADER + "c,o,A,1,10,2,12\n").encode("utf-16-le"),
        ("line 1", "byte 2 of the line", "NUL byte"),
        id="utf16-file-without-bom",
    ),
]


@pytest.mark.parametrize("content, fragments", BAD_FILES)
def test_bad_files_raise_data_errors_that_say_where(tmp_path, content, fragments):
    with pytest.raises(DataError) as info:
        io.read_table(write(tmp_path, content))
    message = str(info.value)
    assert message.startswith(str(tmp_path / "studies.csv")), message
    for fragment in fragments:
        assert fragment in message, f"{message!r} lacks {fragment!r}"


@pytest.mark.parametrize(
    "path, fragment",
    [
        pytest.param("missing.csv", "missing.csv: cannot read file", id="missing-file"),
        pytest.param(".", "cannot read file", id="directory"),
        pytest.param(None, "expected a file path", id="none"),
        pytest.param(3, "expected a file path", id="number"),
    ],
)
def test_bad_paths(tmp_path, monkeypatch, path, fragment):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=fragment):
        io.read_table(path)


def test_missing_value_tokens_and_trailing_empty_column(tmp_path):
    header = "comparison,outcome,study,events_t,n_t,events_c,n_c,effect,se,log_scale,\n"
    rows = "".join(
        f"c,o{i},S,{tok},{tok},{tok},{tok},0.1,0.2,FALSE,\n"
        for i, tok in enumerate(["", "NA", "nan", "N/A", " na "])
    )
    table = io.read_table(write(tmp_path, header + rows))
    assert table[["events_t", "n_t", "events_c", "n_c"]].isna().all().all()
    assert table["effect"].tolist() == [0.1] * 5 and table["se"].tolist() == [0.2] * 5
    assert "" not in table.columns and len(table.columns) == 12  # + subgroup, timepoint
    with pytest.raises(DataError, match="line 2, study 'S', field 'events_t': '-' is not a number"):
        io.read_table(write(tmp_path, header + "c,o,S,-,,,,0.1,0.2,FALSE,\n"))
