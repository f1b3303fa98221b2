"""Tests of sparsemeta.io: RevMan .rm5 / CSV reading, hostile input, and the .rm5 writer.

Every file here is written by the test itself, in RevMan 5's layout, with values typed in
by hand; expected values are those typed-in numbers.
"""

from __future__ import annotations

import math
import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparsemeta.errors import DataError, RevManFormatError
from sparsemeta.io import read_revman, write_revman

STUDIES = """
<STUDIES_AND_REFERENCES><STUDIES><INCLUDED_STUDIES>
<STUDY ID="STD-Smith_x002d_2001" NAME="Smith-2001" YEAR="2001"/>
<STUDY ID="STD-Jones-2004" NAME="Jones 2004" YEAR="2004"/>
<STUDY ID="STD-Lee-2010" NAME="Lee 2010" YEAR="2010"/>
<STUDY ID="STD-Wu-2012" NAME="Wu 2012" YEAR="2012"/>
</INCLUDED_STUDIES></STUDIES></STUDIES_AND_REFERENCES>
"""


def rm5(body: str, studies: str = STUDIES) -> str:
    """A RevMan 5 review with the given ANALYSES_AND_DATA content."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<COCHRANE_REVIEW ID="123" DOI="10.1002/x" REVMAN_VERSION="5" REVMAN_SUB_VERSION="5.3">\n'
        "<COVER_SHEET><TITLE>Test review</TITLE></COVER_SHEET>\n"
        f"{studies}\n"
        f"<ANALYSES_AND_DATA>\n{body}\n</ANALYSES_AND_DATA>\n</COCHRANE_REVIEW>\n"
    )


DICH = """<COMPARISON ID="CMP-001" NO="1"><NAME>Drug versus placebo</NAME>
<DICH_OUTCOME CHI2="1.5" CI_END="1.2" CI_START="0.5" CI_STUDY="95" CI_TOTAL="95" DF="2"
 EFFECT_MEASURE="RR" EFFECT_SIZE="0.75" ESTIMABLE="YES" I2="0.0" I2_Q="" ID="CMP-001.01"
 METHOD="MH" NO="1" P_CHI2="0.47" P_Q="" P_Z="0.23" Q="" RANDOM="YES" SUBGROUPS="NO"
 SUBGROUP_TEST="YES" SWAP_EVENTS="NO" TAU2="NaN" TOTALS="YES" WEIGHT="100.0" Z="1.2">
<NAME>Death</NAME>
<GROUP_LABEL_1>Drug</GROUP_LABEL_1><GROUP_LABEL_2>Placebo</GROUP_LABEL_2>
<GRAPH_LABEL_1>Favours drug</GRAPH_LABEL_1><GRAPH_LABEL_2>Favours placebo</GRAPH_LABEL_2>
<DICH_DATA CI_END="2.0" CI_START="0.1" EFFECT_SIZE="0.5" ESTIMABLE="YES" EVENTS_1="1" EVENTS_2="2"
 ORDER="1" SE="0.9" STUDY_ID="STD-Smith_x002d_2001" TOTAL_1="10" TOTAL_2="12" WEIGHT="40.0"/>
<DICH_DATA CI_END="0.0" CI_START="0.0" EFFECT_SIZE="0.0" ESTIMABLE="NO" EVENTS_1="0" EVENTS_2="0"
 ORDER="2" SE="0.0" STUDY_ID="STD-Jones-2004" TOTAL_1="20" TOTAL_2="21" WEIGHT="0.0"/>
<DICH_DATA CI_END="3.0" CI_START="0.2" EFFECT_SIZE="0.8" ESTIMABLE="YES" EVENTS_1="4" EVENTS_2="5"
 ORDER="3" SE="0.5" STUDY_ID="STD-Unknown_x0027_s-1999" TOTAL_1="30" TOTAL_2="31" WEIGHT="60.0">
<FOOTNOTE>Cluster trial</FOOTNOTE></DICH_DATA>
</DICH_OUTCOME></COMPARISON>"""

SUBGROUPS = """<COMPARISON ID="CMP-002" NO="2"><NAME>Dose comparison</NAME>
<CONT_OUTCOME CHI2="3.0" CI_END="1.0" CI_START="-2.0" CI_STUDY="95" CI_TOTAL="95" DF="3"
 EFFECT_MEASURE="SMD" EFFECT_SIZE="-0.5" ESTIMABLE="YES" I2="0.0" I2_Q="10.0" ID="CMP-002.01" NO="1"
 P_CHI2="0.39" P_Q="0.3" P_Z="0.4" Q="1.1" RANDOM="NO" SUBGROUPS="YES" SUBGROUP_TEST="YES"
 TAU2="0.0" TOTALS="SUB" UNITS="points" WEIGHT="100.0" Z="0.8">
<NAME>Pain</NAME>
<CONT_SUBGROUP CHI2="0.0" DF="0" EFFECT_SIZE="-0.4" ESTIMABLE="YES" ID="CMP-002.01.01" NO="1" WEIGHT="100.0">
<NAME>Adults</NAME>
<CONT_DATA EFFECT_SIZE="-0.4" ESTIMABLE="YES" MEAN_1="2.5" MEAN_2="3.0" ORDER="4" SD_1="1.25" SD_2="1.5"
 STUDY_ID="STD-Lee-2010" TOTAL_1="15" TOTAL_2="16" WEIGHT="100.0"/>
</CONT_SUBGROUP>
<CONT_SUBGROUP CHI2="1.0" DF="1" EFFECT_SIZE="-0.6" ESTIMABLE="NO" ID="CMP-002.01.02" NO="2" WEIGHT="0.0">
<NAME>Children</NAME>
<CONT_DATA MEAN_1="1.0" MEAN_2="2.0" SD_1="0.5" SD_2="0.75" STUDY_ID="STD-Wu-2012" TOTAL_1="8" TOTAL_2="9"/>
<CONT_DATA MEAN_1="1.5" MEAN_2="2.5" SD_1="0.5" SD_2="0.75" STUDY_ID="STD-Wu-2012" TOTAL_1="7" TOTAL_2="6"/>
<CONT_DATA MEAN_1="1.5" MEAN_2="2.5" SD_1="0.5" SD_2="0.75" STUDY_ID="STD-Lee-2010" TOTAL_1="7" TOTAL_2="6"/>
</CONT_SUBGROUP>
</CONT_OUTCOME>
<IV_OUTCOME CHI2="" CI_END="" CI_START="" DF="1" EFFECT_SIZE="" ESTIMABLE="YES" ID="CMP-002.02"
 LOG_DATA="YES" NO="2" RANDOM="YES" SUBGROUPS="NO" TOTALS="NO">
<NAME>Time to relapse</NAME>
<EFFECT_MEASURE>Hazard Ratio</EFFECT_MEASURE>
<IV_DATA EFFECT_SIZE="-0.25" SE="0.125" STUDY_ID="STD-Lee-2010"/>
<IV_DATA EFFECT_SIZE="0.5" SE="0.25" STUDY_ID="STD-Wu-2012"/>
</IV_OUTCOME>
<IPD_OUTCOME ID="CMP-002.03" NO="3"><NAME>Survival (IPD)</NAME>
<IPD_DATA O_E="-1.5" VAR="4.0" STUDY_ID="STD-Lee-2010"/>
</IPD_OUTCOME>
</COMPARISON>"""


def line_of(text: str, fragment: str) -> int:
    """1-based line on which ``fragment`` starts in ``text``."""
    return text[: text.index(fragment)].count("\n") + 1


def write(tmp_path, text: str | bytes, name: str = "review.rm5"):
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


# --------------------------------------------------------------------------- .rm5 content


def test_dichotomous_outcome_studies_settings_and_stored_results(tmp_path):
    review = read_revman(write(tmp_path, rm5(DICH)))
    assert review.title == "Test review"
    assert review.review_id == "123"
    assert review.doi == "10.1002/x"
    assert review.file_format == "rm5"
    (a,) = review.analyses
    assert (a.comparison, a.outcome, a.comparison_no, a.outcome_no) == (
        "Drug versus placebo",
        "Death",
        1,
        1,
    )
    assert a.label == "1.1 Death"
    assert (a.data_type, a.revman_type, a.method, a.measure) == ("binary", "DICH", "MH", "RR")
    assert a.random is True and a.totals == "YES" and a.has_subgroups is False
    assert a.swap_events is False and a.subgroup_test is True and a.log_data is None
    assert (a.ci_study, a.ci_total) == (95.0, 95.0)
    assert a.group_labels == ("Drug", "Placebo")
    assert a.graph_labels == ("Favours drug", "Favours placebo")
    assert a.decimals is None and a.unsupported is None
    # studies: names from the STUDY mapping, else decoded from the ID
    s = a.studies
    assert list(s["study"]) == ["Smith-2001", "Jones 2004", "Unknown's-1999"]
    assert list(s["events_t"]) == [1, 0, 4]
    assert list(s["n_t"]) == [10, 20, 30]
    assert list(s["events_c"]) == [2, 0, 5]
    assert list(s["n_c"]) == [12, 21, 31]
    assert list(s["year"][:2]) == ["2001", "2004"] and pd.isna(s["year"].iloc[2])
    assert list(s["study_id"]) == [
        "STD-Smith_x002d_2001",
        "STD-Jones-2004",
        "STD-Unknown_x0027_s-1999",
    ]
    assert list(s["order"]) == [1, 2, 3]
    assert s["footnote"].iloc[2] == "Cluster trial"
    assert s["subgroup"].isna().all() and s["timepoint"].isna().all()
    assert set(s["comparison"]) == {"Drug versus placebo"}
    first = line_of(rm5(DICH), '<DICH_DATA CI_END="2.0"')
    assert s["source"].iloc[0].endswith(f"review.rm5, line {first}")
    # stored results, exactly as typed above; empty attributes are absent, NaN kept
    v = a.overall.values
    assert v["EFFECT_SIZE"] == 0.75 and v["CI_START"] == 0.5 and v["CI_END"] == 1.2
    assert v["Z"] == 1.2 and v["P_Z"] == 0.23 and v["CHI2"] == 1.5 and v["DF"] == 2.0
    assert v["P_CHI2"] == 0.47 and v["I2"] == 0.0 and v["WEIGHT"] == 100.0
    assert math.isnan(v["TAU2"])
    assert "Q" not in v and "P_Q" not in v and "I2_Q" not in v
    assert a.overall.level == "overall" and a.overall.estimable is True
    st0, st1, st2 = a.stored_studies
    assert (st0.study, st0.values["EFFECT_SIZE"], st0.values["SE"], st0.values["WEIGHT"]) == (
        "Smith-2001",
        0.5,
        0.9,
        40.0,
    )
    assert "EVENTS_1" not in st0.values  # study data are not "results"
    assert st1.estimable is False and st2.estimable is True
    assert review.studies.shape[0] == 3


def test_subgroups_totals_sub_duplicates_generic_and_unsupported(tmp_path):
    review = read_revman(write(tmp_path, rm5(SUBGROUPS)))
    cont, iv, ipd = review.analyses
    assert cont.data_type == "continuous" and cont.method == "IV" and cont.measure == "SMD"
    assert cont.totals == "SUB" and cont.random is False and cont.units == "points"
    assert cont.has_subgroups and cont.subgroups == ("Adults", "Children")
    s = cont.studies
    assert list(s["subgroup"]) == ["Adults", "Children", "Children", "Children"]
    # the same study twice in one subgroup is numbered; once per subgroup is kept as is
    assert list(s["study"]) == ["Lee 2010", "Wu 2012 #1", "Wu 2012 #2", "Lee 2010"]
    assert list(s["study_name"]) == ["Lee 2010", "Wu 2012", "Wu 2012", "Lee 2010"]
    assert list(s["mean_t"]) == [2.5, 1.0, 1.5, 1.5]
    assert list(s["sd_c"]) == [1.5, 0.75, 0.75, 0.75]
    assert list(s["subgroup_no"]) == [1, 2, 2, 2]
    adults, children = cont.stored_subgroups
    assert adults.subgroup == "Adults" and adults.values["EFFECT_SIZE"] == -0.4
    assert children.estimable is False and children.values["DF"] == 1.0
    assert cont.overall.values["Q"] == 1.1 and cont.overall.values["I2_Q"] == 10.0
    # generic inverse variance: measure from the child element, data on the log scale
    assert iv.data_type == "generic" and iv.measure == "HR" and iv.log_data is True
    assert iv.totals == "NO"
    assert list(iv.studies["effect"]) == [-0.25, 0.5]
    assert list(iv.studies["se"]) == [0.125, 0.25]
    assert list(iv.studies["log_scale"]) == [True, True]
    assert "EFFECT_SIZE" not in iv.overall.values  # empty attribute
    # O-E and variance (IPD) outcomes: ln ratio (O - E)/V = -1.5/4, SE 1/sqrt(V) = 0.5
    assert ipd.data_type == "generic" and ipd.unsupported is None and ipd.log_data is True
    assert list(ipd.studies["effect"]) == [-0.375] and list(ipd.studies["se"]) == [0.5]
    # the review table holds the readable analyses' rows, in file order
    assert len(review.studies) == 7
    assert review.analysis("Dose comparison", "Pain") is cont
    with pytest.raises(KeyError):
        review.analysis("Dose comparison", "Nothing")


def test_latin1_file_with_bom_and_accents(tmp_path):
    text = rm5(DICH).replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
    text = text.replace('NAME="Jones 2004"', 'NAME="Jönsson 2004"')
    review = read_revman(write(tmp_path, text.encode("latin-1")))
    assert review.analyses[0].studies["study"].iloc[1] == "Jönsson 2004"


# --------------------------------------------------------------------------- hostile / bad input


def assert_error(path, *fragments):
    with pytest.raises(RevManFormatError) as info:
        read_revman(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_billion_laughs_is_refused_without_expansion(tmp_path):
    bomb = (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
        + "".join(
            f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
            for i in range(1, 10)
        )
        + "]>\n<COCHRANE_REVIEW>&lol9;</COCHRANE_REVIEW>\n"
    )
    assert_error(write(tmp_path, bomb), "line 3", "refused", "entity declaration")


def test_external_entity_is_not_fetched(tmp_path):
    xxe = (
        '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        "<COCHRANE_REVIEW><COVER_SHEET><TITLE>&xxe;</TITLE></COVER_SHEET></COCHRANE_REVIEW>\n"
    )
    message = assert_error(write(tmp_path, xxe), "line 2", "refused", "entity declaration")
    assert "root:" not in message


def test_external_dtd_reference_is_not_fetched(tmp_path):
    text = (
        '<?xml version="1.0"?>\n<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">\n'
        "<COCHRANE_REVIEW>&ext;</COCHRANE_REVIEW>\n"
    )
    assert_error(write(tmp_path, text), "line 2", "refused", "external DTD")


def test_internal_doctype_without_entities_is_accepted(tmp_path):
    text = rm5(DICH).replace(
        "<COCHRANE_REVIEW ", "<!DOCTYPE COCHRANE_REVIEW>\n<COCHRANE_REVIEW ", 1
    )
    assert read_revman(write(tmp_path, text)).analyses[0].outcome == "Death"


def test_truncated_file_names_the_line(tmp_path):
    text = rm5(DICH)
    cut = text[: text.index('<DICH_DATA CI_END="3.0"')]
    assert_error(
        write(tmp_path, cut), "not a well-formed XML file", f"line {cut.count(chr(10)) + 1}"
    )


@pytest.mark.parametrize(
    "content",
    [b"\x89PNG\r\n\x1a\n\x00\x00binary", b"<html><body>not xml</body", b"<<<>>>"],
)
def test_non_xml_content(tmp_path, content):
    path = write(tmp_path, content, "bad.rm5")
    with pytest.raises(RevManFormatError) as info:
        read_revman(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "encoding, problem",
    [
        ("U_F-8", "unknown encoding"),
        ("utf-32", "multi-byte"),
        ("rot13", "not a text encoding"),
        ("punycode", "can't decode byte"),
    ],
)
def test_unusable_declared_encoding(tmp_path, encoding, problem):
    """Encodings expat cannot use (Python codec errors) are reported, not raised raw."""
    text = rm5(DICH).replace('encoding="UTF-8"', f'encoding="{encoding}"').replace("Jones", "Jöns")
    path = write(tmp_path, ("\ufeff" + text).encode("utf-8"))
    assert_error(path, "line 1", f"XML declaration names, '{encoding}'", problem)


def test_wrong_root_element(tmp_path):
    assert_error(
        write(tmp_path, "<?xml version='1.0'?>\n<REVIEW/>\n"), "<REVIEW>", "COCHRANE_REVIEW"
    )


def test_empty_and_missing_files(tmp_path):
    assert_error(write(tmp_path, b"  \n"), "empty")
    assert_error(tmp_path / "nope.rm5", "cannot read")
    assert_error(tmp_path, "not a Cochrane data package")  # a folder without one
    with pytest.raises(RevManFormatError, match="expected a file path"):
        read_revman(None)


def test_csv_with_a_huge_field(tmp_path):
    assert_error(write(tmp_path, b"A" * 200_000, "e.csv"), "line 1", "not a RevMan 5 CSV export")


S1, S2, S3 = '<DICH_DATA CI_END="2.0"', '<DICH_DATA CI_END="0.0"', '<DICH_DATA CI_END="3.0"'


@pytest.mark.parametrize(
    ("old", "new", "element", "fragments"),
    [
        ('METHOD="MH" ', "", "<DICH_OUTCOME", ("<DICH_OUTCOME>", "no METHOD attribute")),
        (
            'EVENTS_1="4"',
            'EVENTS_1="four"',
            S3,
            ("Unknown's-1999", "EVENTS_1='four'", "not a number"),
        ),
        ('TOTAL_1="10"', 'TOTAL_1="-10"', S1, ("Smith-2001", "TOTAL_1='-10'", "whole number")),
        ('EVENTS_1="1"', 'EVENTS_1="1.5"', S1, ("EVENTS_1='1.5'", "whole number")),
        (' STUDY_ID="STD-Jones-2004"', "", S2, ("no STUDY_ID attribute",)),
        ('EFFECT_MEASURE="RR"', 'EFFECT_MEASURE="HR"', "<DICH_OUTCOME", ("EFFECT_MEASURE='HR'",)),
        ('RANDOM="YES"', 'RANDOM="MAYBE"', "<DICH_OUTCOME", ("RANDOM='MAYBE'", "not YES or NO")),
        ('TOTALS="YES"', 'TOTALS="ALL"', "<DICH_OUTCOME", ("TOTALS='ALL'",)),
        ('CHI2="1.5"', 'CHI2="high"', "<DICH_OUTCOME", ("stored result CHI2='high'",)),
        ("<NAME>Death</NAME>", "", "<DICH_OUTCOME", ("has no <NAME>",)),
        (
            'EVENTS_1="1"',
            'EVENTS_1="11"',
            "<DICH_OUTCOME",
            ("outcome 'Death'", "Smith-2001", "events_t", "exceed"),
        ),
    ],
)
def test_bad_attributes_give_file_line_and_field(tmp_path, old, new, element, fragments):
    text = rm5(DICH)
    assert old in text
    bad = text.replace(old, new, 1)
    assert_error(write(tmp_path, bad), f"line {line_of(bad, element)}:", *fragments)


def test_outcome_without_studies_is_read_and_reported(tmp_path):
    # real reviews have outcomes without study rows: the file is read, the outcome kept
    # with the reason, and its type and settings still known
    body = DICH[: DICH.index("<DICH_DATA")] + "</DICH_OUTCOME></COMPARISON>"
    review = read_revman(write(tmp_path, rm5(body)))
    (analysis,) = review.analyses
    assert analysis.data_type == "binary" and len(analysis.studies) == 0
    assert "no study rows" in analysis.unsupported


def test_review_without_analyses_reads_as_empty(tmp_path):
    review = read_revman(write(tmp_path, rm5("")))
    assert review.analyses == () and len(review.studies) == 0


# --------------------------------------------------------------------------- RevMan CSV export

CSV_HEADER = (
    "Comparison Number,Outcome Number,Subgroup Number,Name,Data Type,Statistical Method,"
    "Effect Measure,Analysis Model,Events 1,Mean 1,SD 1,Total 1,Events 2,Mean 2,SD 2,Total 2,"
    "Effect Estimate,SE,CI Start,CI End,Weight,Q,P(Q),I²(Q),Tau²,Z,P(Z),Qint,P(Qint),I²(Qint),"
    "df,Group Label 1,Group Label 2,Left Graph Label,Right Graph Label,Year of study,"
    "User defined order"
)
CSV_ROWS = [
    "1,0,0,Drug versus placebo,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,",
    "1,1,0,Death,DIC,MH,RR,Random,5,,,40,7,,,43,0.75,,0.5,1.2,100,1.5,0.47,0,0.01,1.2,0.23,0.4,0.53,0,1,Drug,Placebo,Favours drug,Favours placebo,,",
    "1,1,1,Adults,DIC,MH,RR,Random,1,,,10,2,,,12,0.6,,0.1,2,40,0,0,0,0,0.5,0.6,,,,0,,,,,,",
    "1,1,1,Smith 2001,,,,,1,0,0,10,2,0,0,12,0.6,0.9,0.1,2.0,40,,,,,,,,,,,,,,,2001,1",
    "1,1,2,Children,DIC,MH,RR,Random,4,,,30,5,,,31,0.8,,0.2,3,60,0,0,0,0,0.3,0.7,,,,0,,,,,,",
    '1,1,2,"Lee, 2010",,,,,4,0,0,30,5,0,0,31,0.8,0.5,0.2,3.0,60,,,,,,,,,,,,,,,2010,2',
]


def csv_text(rows=CSV_ROWS, header=CSV_HEADER, sep=","):
    return "\n".join([header.replace(",", sep), *rows]) + "\n"


def test_csv_export_with_subgroups(tmp_path):
    review = read_revman(write(tmp_path, csv_text(), "export.csv"))
    assert review.file_format == "csv" and review.title == "export"
    (a,) = review.analyses
    assert (a.comparison, a.outcome, a.data_type, a.method, a.measure, a.random) == (
        "Drug versus placebo",
        "Death",
        "binary",
        "MH",
        "RR",
        True,
    )
    assert a.decimals == 8 and a.totals == "YES" and a.subgroups == ("Adults", "Children")
    s = a.studies
    assert list(s["study"]) == ["Smith 2001", "Lee, 2010"]
    assert list(s["subgroup"]) == ["Adults", "Children"]
    assert list(s["events_t"]) == [1, 4] and list(s["n_c"]) == [12, 31]
    assert list(s["year"]) == ["2001", "2010"]
    # CSV headings mapped to RevMan's attribute names: "Q" is the heterogeneity Chi²,
    # "Qint" the test for subgroup differences
    v = a.overall.values
    assert v["CHI2"] == 1.5 and v["P_CHI2"] == 0.47 and v["TAU2"] == 0.01 and v["DF"] == 1
    assert v["Q"] == 0.4 and v["P_Q"] == 0.53 and v["Z"] == 1.2 and v["EFFECT_SIZE"] == 0.75
    assert a.stored_subgroups[1].values["WEIGHT"] == 60
    assert a.stored_studies[0].values["SE"] == 0.9


def test_csv_with_semicolons_is_refused_with_a_hint(tmp_path):
    path = write(tmp_path, csv_text(sep=";"), "export.csv")
    assert_error(path, "line 1", "semicolon")


def test_csv_in_latin1_is_refused(tmp_path):
    path = write(tmp_path, csv_text().encode("latin-1"), "export.csv")
    assert_error(path, "not UTF-8", "byte 0xb2")


def test_csv_row_with_wrong_field_count(tmp_path):
    rows = [*CSV_ROWS[:-1], "1,1,2,Lee 2010,,,,,4,0,0,30"]
    assert_error(write(tmp_path, csv_text(rows), "e.csv"), "line 7", "12 fields")


def test_csv_non_numeric_count(tmp_path):
    rows = [*CSV_ROWS[:3], CSV_ROWS[3].replace(",1,0,0,10,", ",one,0,0,10,"), *CSV_ROWS[4:]]
    assert_error(write(tmp_path, csv_text(rows), "e.csv"), "line 5", "events1", "'one'")


def test_csv_other_data_types_are_listed_as_unsupported(tmp_path):
    rows = [r.replace(",DIC,", ",IV,") for r in CSV_ROWS]
    (a,) = read_revman(write(tmp_path, csv_text(rows), "e.csv")).analyses
    assert a.data_type is None and "'IV' is not read" in a.unsupported and len(a.studies) == 0


def test_csv_bad_settings(tmp_path):
    rows = [CSV_ROWS[0], CSV_ROWS[1].replace(",Random,", ",Mixed,"), *CSV_ROWS[2:]]
    assert_error(write(tmp_path, csv_text(rows), "e.csv"), "line 3", "Analysis Model 'Mixed'")
    rows = [CSV_ROWS[0], CSV_ROWS[1].replace(",RR,", ",HR,"), *CSV_ROWS[2:]]
    assert_error(write(tmp_path, csv_text(rows), "e.csv"), "line 3", "Effect Measure 'HR'")


# --------------------------------------------------------------------------- writer


def test_writer_refuses_timepoints(tmp_path):
    df = pd.DataFrame(
        {
            "comparison": ["c"],
            "outcome": ["o"],
            "timepoint": ["post"],
            "study": ["s"],
            "events_t": [1],
            "n_t": [5],
            "events_c": [2],
            "n_c": [5],
        }
    )
    with pytest.raises(RevManFormatError, match="timepoint"):
        write_revman(df, tmp_path / "x.rm5")
    with pytest.raises(DataError, match="events_t"):
        write_revman(df.assign(timepoint=None, events_t=[9]), tmp_path / "x.rm5")


def test_writer_attributes_reach_outcome_subgroup_and_study(tmp_path):
    df = pd.DataFrame(
        {
            "comparison": ["c", "c"],
            "outcome": ["o", "o"],
            "subgroup": ["g1", "g2"],
            "study": ["s1", "s2"],
            "events_t": [1, 2],
            "n_t": [5, 6],
            "events_c": [2, 3],
            "n_c": [5, 7],
        }
    )
    attrs = {
        ("c", "o"): {"EFFECT_MEASURE": "OR", "RANDOM": True, "TOTALS": "SUB", "EFFECT_SIZE": 0.1},
        ("c", "o", "g2"): {"EFFECT_SIZE": 0.3},
        ("c", "o", "g1", "s1"): {"WEIGHT": 100.0, "ESTIMABLE": False},
    }
    path = tmp_path / "x.rm5"
    write_revman(df, path, title="T", attributes=attrs)
    (a,) = read_revman(path).analyses
    assert (a.measure, a.random, a.totals, a.overall.values["EFFECT_SIZE"]) == (
        "OR",
        True,
        "SUB",
        0.1,
    )
    assert a.stored_subgroups[1].values["EFFECT_SIZE"] == 0.3
    assert a.stored_studies[0].values["WEIGHT"] == 100.0 and a.stored_studies[0].estimable is False


LABEL = (
    st.text(alphabet=string.ascii_letters + string.digits + " -'&<>\"é", min_size=1, max_size=12)
    .map(str.strip)
    .filter(bool)
)


@st.composite
def study_tables(draw):
    frames = []
    for c in range(draw(st.integers(1, 2))):
        for o in range(draw(st.integers(1, 2))):
            kind = draw(st.sampled_from(["binary", "continuous", "generic"]))
            k = draw(st.integers(1, 4))
            names = draw(st.lists(LABEL, min_size=k, max_size=k, unique=True))
            subgroup = draw(st.sampled_from([None, "split"]))
            rows = []
            for i, name in enumerate(names):
                row = {
                    "comparison": f"Comparison {c}",
                    "outcome": f"Outcome {o}",
                    "study": name,
                    "subgroup": None if subgroup is None else f"G{i % 2}",
                }
                if kind == "binary":
                    n_t, n_c = draw(st.integers(1, 500)), draw(st.integers(1, 500))
                    row |= {
                        "events_t": draw(st.integers(0, n_t)),
                        "n_t": n_t,
                        "events_c": draw(st.integers(0, n_c)),
                        "n_c": n_c,
                    }
                elif kind == "continuous":
                    real = st.floats(-1e6, 1e6, allow_nan=False)
                    pos = st.floats(1e-6, 1e6, allow_nan=False)
                    row |= {
                        "mean_t": draw(real),
                        "sd_t": draw(pos),
                        "n_t": draw(st.integers(1, 999)),
                        "mean_c": draw(real),
                        "sd_c": draw(pos),
                        "n_c": draw(st.integers(1, 999)),
                    }
                else:
                    row |= {
                        "effect": draw(st.floats(-50, 50, allow_nan=False)),
                        "se": draw(st.floats(1e-9, 1e3, allow_nan=False)),
                        "log_scale": kind == "generic" and o == 0,
                    }
                rows.append(row)
            frames.append(pd.DataFrame(rows))
    return frames


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(frames=study_tables())
def test_write_then_read_gives_the_same_study_table(tmp_path, frames):
    table = pd.concat(frames, ignore_index=True)
    path = tmp_path / "roundtrip.rm5"
    write_revman(table, path)
    review = read_revman(path)
    assert len(review.analyses) == len(frames)
    for frame, analysis in zip(frames, review.analyses, strict=True):
        back = analysis.studies[list(frame.columns)].reset_index(drop=True)
        # RevMan nests studies inside subgroups: rows come back grouped by subgroup
        rank = {g: i for i, g in enumerate(dict.fromkeys(frame["subgroup"]))}
        expected = frame.iloc[np.argsort([rank[g] for g in frame["subgroup"]], kind="stable")]
        expected = expected.reset_index(drop=True)
        expected["subgroup"] = expected["subgroup"].astype(object)
        back["subgroup"] = back["subgroup"].astype(object).where(back["subgroup"].notna(), None)
        for col in frame.columns:
            left, right = back[col].tolist(), expected[col].tolist()
            if col in ("events_t", "n_t", "events_c", "n_c"):
                assert left == right and back[col].dtype == np.int64
            else:
                assert left == right, col
