"""Bad-input battery: every public entry point rejects bad input with a sparsemeta error.

Each case feeds one kind of bad input to one entry point and checks three things:

* the error is a :class:`~sparsemeta.errors.SparsemetaError` (never a ``KeyError``,
  ``ZeroDivisionError`` or parser error from deep inside numpy, pandas or an XML library);
* its message names what is wrong and where (the study, the field, the file position);
* command-line runs exit with status 2, print one line and no traceback, and leave no
  partial output file behind.

The case lists are parametrised with ids, so ``pytest -v`` reads as the list of inputs
that sparsemeta refuses.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from sparsemeta import cli, data, datasets, effects, frequentist, io
from sparsemeta import simulate as sim
from sparsemeta.bayes import exact, models, priors, sample, sensitivity
from sparsemeta.errors import (
    DataError,
    PlanError,
    PriorError,
    RevManFormatError,
    SparsemetaError,
)
from sparsemeta.review import check, plan

STUDY = "Ames 2001"
BINARY = {
    "comparison": "Drug vs placebo",
    "outcome": "Death",
    "study": STUDY,
    "events_t": 1,
    "n_t": 10,
    "events_c": 2,
    "n_c": 12,
}
CONTINUOUS = {
    "comparison": "Drug vs placebo",
    "outcome": "Pain score",
    "study": STUDY,
    "mean_t": 3.1,
    "sd_t": 1.2,
    "n_t": 20,
    "mean_c": 4.0,
    "sd_c": 1.4,
    "n_c": 21,
}
GENERIC = {
    "comparison": "Drug vs placebo",
    "outcome": "Hazard",
    "study": STUDY,
    "effect": -0.2,
    "se": 0.3,
    "log_scale": True,
}


def second(row: dict, **changes) -> dict:
    """A second study of the same analysis (different label, optional changes)."""
    return {**row, "study": "Bell 2004", **changes}


def raises(exc_type, *fragments: str):
    """Context manager: ``exc_type`` is raised and its message holds every fragment."""
    return _Raises(exc_type, fragments)


class _Raises:
    def __init__(self, exc_type, fragments):
        self.exc_type = exc_type
        self.fragments = fragments
        self._ctx = pytest.raises(exc_type)

    def __enter__(self):
        self.info = self._ctx.__enter__()
        return self.info

    def __exit__(self, *exc):
        handled = self._ctx.__exit__(*exc)
        assert isinstance(self.info.value, SparsemetaError)
        message = str(self.info.value)
        for fragment in self.fragments:
            assert fragment.lower() in message.lower(), f"message {message!r} lacks {fragment!r}"
        return handled


# ----------------------------------------------------------------------------- study table

STUDY_TABLE_CASES = [
    pytest.param(BINARY | {"events_t": -1}, "events_t", "negative", id="negative-events"),
    pytest.param(BINARY | {"n_c": -3}, "n_c", "negative", id="negative-n"),
    pytest.param(BINARY | {"events_t": 1.5}, "events_t", "not an integer", id="non-integer-events"),
    pytest.param(BINARY | {"n_t": 10.2}, "n_t", "not an integer", id="non-integer-n"),
    pytest.param(BINARY | {"events_t": 11}, "events_t", "exceed", id="events-above-n"),
    pytest.param(BINARY | {"events_c": 13}, "events_c", "exceed", id="events-above-n-control"),
    pytest.param(BINARY | {"n_t": 0, "events_t": 0}, "n_t", "> 0", id="zero-sample-size"),
    pytest.param(BINARY | {"events_c": math.nan}, "events_c", "missing", id="nan-events"),
    pytest.param(BINARY | {"n_t": math.inf}, "n_t", "not finite", id="infinite-n"),
    pytest.param(BINARY | {"events_t": "three"}, "events_t", "must be a number", id="text-count"),
    pytest.param(BINARY | {"events_t": [1]}, "events_t", "must be a number", id="list-count"),
    pytest.param(BINARY | {"events_t": True}, "events_t", "must be a number", id="bool-count"),
    pytest.param(CONTINUOUS | {"sd_t": 0.0}, "sd_t", "> 0", id="sd-zero"),
    pytest.param(CONTINUOUS | {"sd_c": -1.0}, "sd_c", "> 0", id="sd-negative"),
    pytest.param(CONTINUOUS | {"mean_t": math.nan}, "mean_t", "missing", id="nan-mean"),
    pytest.param(CONTINUOUS | {"mean_c": -math.inf}, "mean_c", "not finite", id="infinite-mean"),
    pytest.param(CONTINUOUS | {"n_c": 0}, "n_c", "> 0", id="continuous-zero-n"),
    pytest.param(GENERIC | {"se": 0.0}, "se", "> 0", id="se-zero"),
    pytest.param(GENERIC | {"se": math.nan}, "se", "missing", id="se-nan"),
    pytest.param(GENERIC | {"effect": math.inf}, "effect", "not finite", id="effect-infinite"),
    pytest.param(GENERIC | {"log_scale": "yes"}, "log_scale", "True or False", id="log-scale-text"),
    pytest.param(BINARY | {"outcome": ""}, "outcome", "non-empty string", id="empty-outcome"),
    pytest.param(
        BINARY | {"comparison": None}, "comparison", "non-empty string", id="missing-comparison"
    ),
    pytest.param(BINARY | {"subgroup": 3}, "subgroup", "string", id="numeric-subgroup"),
    pytest.param(
        BINARY | {"mean_t": 2.0}, "events_t/", "mixes", id="binary-and-continuous-in-one-row"
    ),
    pytest.param(BINARY | {"effect": 0.1}, "effect", "mixes", id="binary-and-generic-in-one-row"),
    pytest.param(
        {k: v for k, v in BINARY.items() if k not in ("events_t", "events_c")},
        "events_t/",
        "no study data",
        id="no-data-columns",
    ),
    pytest.param(
        {k: v for k, v in BINARY.items() if k != "n_c"},
        "n_c",
        "column missing",
        id="missing-n-column",
    ),
]


@pytest.mark.parametrize("row, field, problem", STUDY_TABLE_CASES)
def test_study_table_names_study_field_and_problem(row, field, problem):
    where = field if field.endswith("/") or field == "effect" else f"'{field}'"
    with raises(DataError, f"'{STUDY}'", where, problem):
        data.study_table(pd.DataFrame([row]))


def test_study_table_no_data_message_lists_expected_columns():
    row = {k: v for k, v in BINARY.items() if k not in ("events_t", "events_c")}
    with pytest.raises(DataError) as info:
        data.study_table(pd.DataFrame([row]))
    assert "all of  are" not in str(info.value)


@pytest.mark.parametrize(
    "frame, fragments",
    [
        pytest.param(pd.DataFrame(), ("empty",), id="empty-table"),
        pytest.param(pd.DataFrame(columns=list(BINARY)), ("empty",), id="columns-but-no-rows"),
        pytest.param(
            pd.DataFrame([BINARY, BINARY]),
            (f"'{STUDY}'", "duplicate study label"),
            id="duplicate-study",
        ),
        pytest.param(
            pd.DataFrame([BINARY, second(CONTINUOUS, outcome="Death")]),
            ("'Bell 2004'", "one analysis holds one data type"),
            id="analysis-mixes-data-types",
        ),
        pytest.param(
            pd.DataFrame([{k: v for k, v in BINARY.items() if k != "study"}]),
            ("'study'", "missing"),
            id="no-study-column",
        ),
        pytest.param(
            pd.DataFrame([{k: v for k, v in BINARY.items() if k != "outcome"}]),
            ("'outcome'", "missing"),
            id="no-outcome-column",
        ),
    ],
)
def test_study_table_rejects_bad_tables(frame, fragments):
    with raises(DataError, *fragments):
        data.study_table(frame)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param([BINARY], id="list-of-dicts"),
        pytest.param(np.ones((2, 4)), id="numpy-array"),
        pytest.param("studies.csv", id="file-name"),
        pytest.param(None, id="none"),
    ],
)
def test_study_table_rejects_non_frames(value):
    with raises(DataError, "expected a pandas DataFrame"):
        data.study_table(value)


def test_study_table_accepts_all_zero_events_and_one_study():
    """All-zero events and a single study are valid data (estimability is decided later)."""
    table = data.study_table(pd.DataFrame([BINARY | {"events_t": 0, "events_c": 0}]))
    assert table["events_t"].tolist() == [0]


# ----------------------------------------------------------------------------- effect sizes


def binary_table(*rows: dict) -> pd.DataFrame:
    return data.study_table(pd.DataFrame(list(rows)))


@pytest.mark.parametrize(
    "measure, table, fragments",
    [
        pytest.param("HR", [BINARY], ("unknown measure", "'HR'", "RR"), id="unknown-measure"),
        pytest.param("rr", [BINARY], ("unknown measure", "'rr'"), id="lower-case-measure"),
        pytest.param("", [BINARY], ("unknown measure",), id="empty-measure"),
        pytest.param(None, [BINARY], ("unknown measure",), id="none-measure"),
        pytest.param("MD", [BINARY], ("MD", "continuous", "binary"), id="md-on-binary"),
        pytest.param("OR", [CONTINUOUS], ("OR", "binary", "continuous"), id="or-on-continuous"),
        pytest.param("SMD", [GENERIC], ("SMD", "continuous", "generic"), id="smd-on-generic"),
    ],
)
def test_effect_sizes_rejects_bad_measures(measure, table, fragments):
    with raises(DataError, *fragments):
        effects.effect_sizes(binary_table(*table), measure)


def test_effect_sizes_double_zero_is_reported_not_raised():
    """A study with no events in either arm is kept, flagged, with the reason in words."""
    table = binary_table(BINARY | {"events_t": 0, "events_c": 0}, second(BINARY))
    out = effects.effect_sizes(table, "RR").to_frame()
    assert out["estimable"].tolist() == [False, True]
    assert "no events in either arm" in out["reason"].iloc[0]


# ----------------------------------------------------------------------------- datasets


@pytest.mark.parametrize(
    "name, table, fragments",
    [
        pytest.param(
            "pip", "studies", ("unknown data set", "'pip'", "pip_barlow2015"), id="unknown-dataset"
        ),
        pytest.param(
            "pip_barlow2015", "forest", ("no table", "'forest'", "studies"), id="unknown-table"
        ),
        pytest.param("../../etc", "studies", ("unknown data set",), id="path-traversal-name"),
    ],
)
def test_datasets_load_rejects_unknown_names(name, table, fragments):
    with raises(DataError, *fragments):
        datasets.load(name, table)


# ----------------------------------------------------------------------------- frequentist


TWO_BINARY = [BINARY, second(BINARY, events_t=3, n_t=20, events_c=5, n_c=21)]

META_ANALYSIS_CASES = [
    pytest.param({"measure": "HR"}, ("unknown measure", "'HR'"), id="unknown-measure"),
    pytest.param({"measure": None}, ("unknown measure",), id="none-measure"),
    pytest.param({"measure": "SMD", "method": "MH"}, ("Mantel-Haenszel", "SMD"), id="mh-with-smd"),
    pytest.param({"measure": "RR", "method": "Peto"}, ("Peto", "odds ratio"), id="peto-with-rr"),
    pytest.param({"measure": "MD"}, ("MD", "continuous", "binary"), id="md-on-binary-data"),
    pytest.param(
        {"measure": "RR", "method": "XYZ"},
        ("method", "'XYZ'"),
        id="unknown-method",
    ),
    pytest.param(
        {"measure": "RR", "method": None},
        ("method",),
        id="none-method",
    ),
    pytest.param(
        {"measure": "RR", "tau2_method": "SJ"},
        ("tau2_method", "'SJ'"),
        id="unknown-tau2-method",
    ),
    pytest.param(
        {"measure": "RR", "ci_method": "kr"},
        ("ci_method", "'kr'"),
        id="unknown-ci-method",
    ),
    pytest.param(
        {"measure": "RR", "random": False, "ci_method": "hksj"},
        ("hksj", "random"),
        id="hksj-with-fixed-effect",
    ),
    pytest.param(
        {"measure": "RR", "level": 1.5},
        ("level", "1.5"),
        id="level-above-one",
    ),
    pytest.param(
        {"measure": "RR", "level": 0.0},
        ("level",),
        id="level-zero",
    ),
    pytest.param(
        {"measure": "RR", "level": math.nan},
        ("level",),
        id="level-nan",
    ),
]


@pytest.mark.parametrize("kwargs, fragments", META_ANALYSIS_CASES)
def test_meta_analysis_rejects_bad_settings(kwargs, fragments):
    kwargs = dict(kwargs)
    measure = kwargs.pop("measure")
    with raises(DataError, *fragments):
        frequentist.meta_analysis(binary_table(*TWO_BINARY), measure, **kwargs)


@pytest.mark.parametrize(
    "frame, fragments",
    [
        pytest.param(lambda: binary_table(BINARY).iloc[:0], ("empty",), id="no-studies"),
        pytest.param(
            lambda: [1, 2],
            ("DataFrame",),
            id="list-instead-of-table",
        ),
        pytest.param(
            lambda: None,
            ("DataFrame",),
            id="none-instead-of-table",
        ),
        pytest.param(
            lambda: pd.DataFrame([BINARY | {"events_t": -1}, second(BINARY)]),
            (f"'{STUDY}'", "'events_t'", "negative"),
            id="unvalidated-negative-count",
        ),
        pytest.param(
            lambda: pd.DataFrame([BINARY | {"events_t": 20}, second(BINARY)]),
            (f"'{STUDY}'", "'events_t'", "exceed"),
            id="unvalidated-events-above-n",
        ),
        pytest.param(
            lambda: pd.DataFrame({"study": ["a", "b"], "yi": ["x", 0.2], "vi": [0.1, 0.2]}),
            ("'yi'",),
            id="text-effect-in-yi-table",
        ),
        pytest.param(
            lambda: pd.DataFrame({"yi": [0.1, 0.2], "vi": [0.1, 0.2]}),
            ("'study'",),
            id="yi-table-without-study-column",
        ),
    ],
)
def test_meta_analysis_rejects_bad_tables(frame, fragments):
    with raises(DataError, *fragments):
        frequentist.meta_analysis(frame(), "RR")


@pytest.mark.parametrize(
    "rows, measure, method",
    [
        pytest.param([BINARY], "RR", "MH", id="one-study"),
        pytest.param(
            [BINARY | {"events_t": 0, "events_c": 0}], "RR", "IV", id="one-double-zero-study"
        ),
        pytest.param(
            [BINARY | {"events_t": 0, "events_c": 0}, second(BINARY, events_t=0, events_c=0)],
            "OR",
            "MH",
            id="all-zero-events-MH",
        ),
        pytest.param(
            [BINARY | {"events_t": 0, "events_c": 0}, second(BINARY, events_t=0, events_c=0)],
            "OR",
            "Peto",
            id="all-zero-events-Peto",
        ),
    ],
)
def test_meta_analysis_sparse_edge_cases_give_results_not_errors(rows, measure, method):
    """One study and all-zero events are legitimate sparse data: a result, with reasons."""
    result = frequentist.meta_analysis(binary_table(*rows), measure, method=method)
    text = str(result)
    assert f"k = {result.k}" in text
    if result.k == 0:
        assert "not estimable" in text and result.excluded


# ----------------------------------------------------------------------------- priors


PRIOR_STRING_CASES = [
    pytest.param(
        "halfnorml(0.5)", ("unknown tau prior", "'halfnorml'", "halfnormal"), id="misspelt-name"
    ),
    pytest.param("normal(0, 1)", ("unknown tau prior", "'normal'"), id="mu-prior-as-tau-prior"),
    pytest.param("halfnormal(-1)", ("halfnormal", "'scale'", "positive"), id="negative-scale"),
    pytest.param("halfnormal(0)", ("'scale'", "positive"), id="zero-scale"),
    pytest.param("halfnormal(nan)", ("'scale'", "number"), id="nan-scale"),
    pytest.param("halfnormal(1e400)", ("'scale'", "finite"), id="overflowing-scale"),
    pytest.param("halfnormal('wide')", ("'scale'", "number"), id="text-scale"),
    pytest.param("halfnormal(True)", ("'scale'",), id="bool-scale"),
    pytest.param(
        "halfnormal(sigma=1)", ("unknown parameter", "'sigma'", "scale"), id="unknown-parameter"
    ),
    pytest.param("halfnormal(0.5, 2)", ("too many positional",), id="too-many-arguments"),
    pytest.param("halfnormal(scale=1, scale=2)", ("more than once",), id="duplicate-parameter"),
    pytest.param("halfnormal", ("missing parameter", "'scale'"), id="missing-parameter"),
    pytest.param("halfnormal(0.5", ("cannot parse",), id="unclosed-bracket"),
    pytest.param("", ("cannot parse",), id="empty-string"),
    pytest.param("__import__('os').system('true')", ("cannot parse",), id="code-injection"),
    pytest.param("halfnormal(**{'scale': 1})", ("'**'",), id="double-star-injection"),
    pytest.param("uniform(2, 1)", ("'lower'", "lower < upper"), id="uniform-bounds-reversed"),
    pytest.param(
        'turner2015(outcome="nonsense", comparison="pharm vs pharm")',
        ("turner2015", "unknown outcome", "'nonsense'", "all-cause mortality"),
        id="turner-unknown-outcome",
    ),
    pytest.param(
        'turner2015(outcome="pain")',
        ("turner2015", "missing parameter 'comparison'"),
        id="turner-missing-comparison",
    ),
    pytest.param(
        'turner2015(outcome="pain", comparison="placebo vs placebo")',
        ("placebo/control vs placebo/control", "not"),
        id="turner-placebo-vs-placebo",
    ),
    pytest.param('bartos(measure="AUC")', ("bartos", "'AUC'"), id="bartos-unknown-measure"),
]


@pytest.mark.parametrize("text, fragments", PRIOR_STRING_CASES)
def test_prior_strings_are_parsed_strictly(text, fragments):
    with raises(PriorError, *fragments):
        priors.parse(text)


@pytest.mark.parametrize(
    "call, fragments",
    [
        pytest.param(lambda: priors.parse(None), ("string",), id="parse-none"),
        pytest.param(lambda: priors.parse(0.5), ("string",), id="parse-number"),
        pytest.param(
            lambda: priors.parse_mu("cauchy(0, 1)"),
            ("unknown mu prior", "'cauchy'"),
            id="unknown-mu-prior",
        ),
        pytest.param(
            lambda: priors.parse_mu("normal(0, -1)"),
            ("'sd'", "positive"),
            id="mu-prior-negative-sd",
        ),
        pytest.param(
            lambda: priors.HalfNormal(-1.0),
            ("'scale'", "positive"),
            id="constructor-negative-scale",
        ),
        pytest.param(
            lambda: priors.describe(priors.parse("halfnormal(0.5)"), scale="log"),
            ("unknown scale", "'log'", "logOR"),
            id="describe-unknown-scale",
        ),
        pytest.param(
            lambda: priors.describe(priors.parse("jeffreys")),
            ("improper",),
            id="describe-improper-prior",
        ),
        pytest.param(
            lambda: priors.describe(priors.parse("uniform_shrinkage")),
            ("standard errors", "se="),
            id="describe-se-prior-without-se",
        ),
        pytest.param(
            lambda: priors.parse("uniform_shrinkage").pdf(0.1, se=[0.2, -1.0]),
            ("se", "positive"),
            id="negative-se-for-se-prior",
        ),
        pytest.param(
            lambda: priors.describe(None),
            ("expected a tau prior or its string", "None"),
            id="describe-given-none",
        ),
        pytest.param(
            lambda: priors.describe(0.5),
            ("expected a tau prior or its string", "0.5"),
            id="describe-given-a-number",
        ),
    ],
)
def test_prior_api_rejects_bad_values(call, fragments):
    with raises(PriorError, *fragments):
        call()


def test_prior_describe_accepts_a_prior_string():
    """describe parses a prior string (and a string that does not parse is a PriorError)."""
    summary = priors.describe("halfnormal(0.5)")
    assert summary.prior == "halfnormal(scale=0.5)"
    # median of HN(0.5) = 0.5 * Phi^-1(0.75), Phi^-1(0.75) = 0.6744897501960817
    assert summary.median == pytest.approx(0.5 * 0.6744897501960817, rel=1e-12)
    with raises(PriorError, "unknown tau prior", "'nope'"):
        priors.describe("nope(1)")


# ----------------------------------------------------------------------------- exact posterior


Y, SE = [0.1, 0.5], [0.2, 0.3]


@pytest.mark.parametrize(
    "kwargs, error, fragments",
    [
        pytest.param(
            {"y": [0.1, math.nan]}, DataError, ("'study 2'", "not finite"), id="nan-effect"
        ),
        pytest.param(
            {"y": [0.1, math.inf]}, DataError, ("'study 2'", "not finite"), id="infinite-effect"
        ),
        pytest.param({"se": [0.2, 0.0]}, DataError, ("'study 2'", "se", "> 0"), id="zero-se"),
        pytest.param({"se": [0.2, -0.3]}, DataError, ("'study 2'", "> 0"), id="negative-se"),
        pytest.param({"se": [0.2, math.nan]}, DataError, ("'study 2'", "finite"), id="nan-se"),
        pytest.param({"se": [0.2]}, DataError, ("2 values", "1"), id="length-mismatch"),
        pytest.param({"y": [], "se": []}, DataError, ("no studies",), id="no-studies"),
        pytest.param(
            {"y": [[0.1, 0.2]], "se": [[0.2, 0.3]]}, DataError, ("one-dimensional",), id="2d-input"
        ),
        pytest.param({"labels": ["A", "A"]}, DataError, ("unique",), id="duplicate-labels"),
        pytest.param(
            {"labels": ["A"]}, DataError, ("1 labels", "2 studies"), id="wrong-number-of-labels"
        ),
        pytest.param(
            {"tau_prior": "nope(1)"},
            PriorError,
            ("unknown tau prior", "'nope'"),
            id="unknown-prior",
        ),
        pytest.param({"tau_prior": 0.5}, PriorError, ("logpdf",), id="number-as-prior"),
        pytest.param({"tau_prior": None}, PriorError, ("logpdf",), id="no-prior"),
        pytest.param(
            {"mu_prior": {"mean": 0.0, "sd": -1.0}},
            PriorError,
            ("sd > 0",),
            id="mu-prior-negative-sd",
        ),
        pytest.param(
            {"mu_prior": "cauchy"}, PriorError, ("mu prior", "'cauchy'"), id="unknown-mu-prior"
        ),
        pytest.param(
            {"y": ["a", "b"]},
            DataError,
            ("y",),
            id="text-effects",
        ),
    ],
)
def test_exact_posterior_rejects_bad_input(kwargs, error, fragments):
    args = {"y": Y, "se": SE, "tau_prior": "halfnormal(0.5)"} | kwargs
    with raises(error, *fragments):
        exact.posterior(**args)


def test_exact_posterior_improper_posterior_is_refused():
    """An improper tau prior that leaves the posterior improper must not give numbers."""
    with pytest.warns(UserWarning, match="only one study"), raises(PriorError, "improper", "k = 1"):
        exact.posterior([0.3], [0.2], "jeffreys")


def test_exact_posterior_one_study_warns_and_still_answers():
    with pytest.warns(UserWarning, match="only one study"):
        post = exact.posterior([0.3], [0.2], "halfnormal(0.5)")
    assert post.tau.median > 0


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda p: p.mu.interval(2.0), id="interval-level-above-one"),
        pytest.param(lambda p: p.mu.quantile(1.5), id="quantile-above-one"),
        pytest.param(lambda p: p.prob("mu", "!=", 0.0), id="unknown-comparison-operator"),
        pytest.param(lambda p: p.summary(level=1.5), id="summary-level-above-one"),
    ],
)
def test_exact_posterior_methods_reject_bad_arguments(call):
    post = exact.posterior(Y, SE, "halfnormal(0.5)")
    with pytest.raises(SparsemetaError):
        call(post)


# ----------------------------------------------------------------------------- RevMan files

EXAMPLE_RM5 = resources.files("sparsemeta") / "examples_data" / "synthetic_sparse.rm5"
VALID = EXAMPLE_RM5.read_text(encoding="utf-8")
CSV_HEADER = "Comparison Number,Outcome Number,Subgroup Number,Name\n"

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n<COCHRANE_REVIEW>&lol9;</COCHRANE_REVIEW>\n"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n'
    "<COCHRANE_REVIEW>&secret;</COCHRANE_REVIEW>\n"
)
PARAMETER_ENTITY = (
    '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY % remote SYSTEM "http://example.invalid/x.dtd">'
    " %remote;]>\n<COCHRANE_REVIEW/>\n"
)
EXTERNAL_DTD = (
    '<?xml version="1.0"?>\n<!DOCTYPE COCHRANE_REVIEW SYSTEM "http://example.invalid/rm5.dtd">\n'
    + VALID.split("\n", 1)[1]
)


def _mutate(old: str, new: str) -> bytes:
    assert old in VALID, old
    return VALID.replace(old, new, 1).encode("utf-8")


READER_CASES = [
    pytest.param(b"", ("empty",), id="empty-file"),
    pytest.param(b"  \n\t\n", ("empty",), id="whitespace-only"),
    pytest.param(VALID[: len(VALID) // 2].encode(), ("well-formed", "line"), id="truncated-xml"),
    pytest.param(b"<<<<>>>>", ("well-formed",), id="malformed-xml"),
    pytest.param(
        VALID[:600].encode() + b"\x00" + VALID[600:].encode(), ("well-formed",), id="nul-byte"
    ),
    pytest.param(BILLION_LAUGHS.encode(), ("refused", "entit"), id="billion-laughs"),
    pytest.param(EXTERNAL_ENTITY.encode(), ("refused", "entit"), id="external-entity-file"),
    pytest.param(PARAMETER_ENTITY.encode(), ("refused",), id="external-parameter-entity"),
    pytest.param(
        EXTERNAL_DTD.encode(),
        ("refused",),
        id="external-dtd",
    ),
    pytest.param(
        VALID.replace("encoding='UTF-8'", "encoding='U_F-8'", 1).encode(),
        ("encoding",),
        id="xml-declaration-unknown-encoding",
    ),
    pytest.param(
        b"<html><body/></html>", ("root element", "<html>", "COCHRANE_REVIEW"), id="wrong-root"
    ),
    pytest.param(
        ("<a>" * 50_000 + "</a>" * 50_000).encode(), ("COCHRANE_REVIEW",), id="deep-nesting"
    ),
    pytest.param(
        VALID.encode("utf-16"),
        ("not UTF-8",),
        id="utf16-xml",
    ),
    pytest.param(
        _mutate('EVENTS_1="2" TOTAL_1="40"', 'EVENTS_1="-2" TOTAL_1="40"'),
        ("line", "'Birch 2005'", "EVENTS_1", "whole number"),
        id="negative-events",
    ),
    pytest.param(
        _mutate('EVENTS_1="2" TOTAL_1="40"', 'EVENTS_1="2.5" TOTAL_1="40"'),
        ("line", "'Birch 2005'", "EVENTS_1"),
        id="non-integer-events",
    ),
    pytest.param(
        _mutate('EVENTS_1="2" TOTAL_1="40"', 'EVENTS_1="NaN" TOTAL_1="40"'),
        ("line", "EVENTS_1", "'NaN'"),
        id="nan-events",
    ),
    pytest.param(
        _mutate('EVENTS_1="2" TOTAL_1="40"', 'EVENTS_1="two" TOTAL_1="40"'),
        ("line", "EVENTS_1", "not a number"),
        id="text-events",
    ),
    pytest.param(
        _mutate('EVENTS_1="2" TOTAL_1="40"', 'EVENTS_1="1e400" TOTAL_1="40"'),
        ("line", "EVENTS_1", "1e400"),
        id="huge-number",
    ),
    pytest.param(
        _mutate('EVENTS_1="2" TOTAL_1="40"', 'EVENTS_1="99" TOTAL_1="40"'),
        ("line", "'Birch 2005'", "'events_t'", "exceed"),
        id="events-above-n",
    ),
    pytest.param(
        _mutate('SD_1="1.2"', 'SD_1="0"'), ("line", "'Ivy 2004'", "'sd_t'", "> 0"), id="sd-zero"
    ),
    pytest.param(
        _mutate(' TOTAL_1="40"', ""), ("line", "<DICH_DATA>", "TOTAL_1"), id="missing-attribute"
    ),
    pytest.param(
        _mutate('EFFECT_MEASURE="RR"', 'EFFECT_MEASURE="XX"'),
        ("line", "EFFECT_MEASURE", "'XX'"),
        id="unknown-effect-measure",
    ),
    pytest.param(
        _mutate('METHOD="MH"', 'METHOD="ZZ"'), ("line", "METHOD", "'ZZ'"), id="unknown-method"
    ),
    pytest.param(b"\x00\x01\x02garbage", ("not a RevMan 5 CSV export",), id="binary-garbage"),
    pytest.param(
        b"A" * 2_000_000,
        ("not a RevMan 5",),
        id="huge-single-field",
    ),
    pytest.param(
        CSV_HEADER.replace(",", ";").encode() + b"1;0;0;x\n",
        ("semicolon",),
        id="csv-semicolon-delimiter",
    ),
    pytest.param(
        CSV_HEADER.replace(",", "\t").encode() + b"1\t0\t0\tx\n",
        ("tab",),
        id="csv-tab-delimiter",
    ),
    pytest.param(
        (CSV_HEADER + "1,0,0,Müller\n").encode("latin-1"),
        ("not UTF-8", "offset"),
        id="csv-latin1-encoding",
    ),
]


@pytest.mark.parametrize("content, fragments", READER_CASES)
def test_read_revman_rejects_bad_files(tmp_path, content, fragments):
    path = tmp_path / "review.rm5"
    path.write_bytes(content)
    with raises(RevManFormatError, "review.rm5", *fragments):
        io.read_revman(path)


@pytest.mark.parametrize(
    "path, fragments",
    [
        pytest.param(
            "does-not-exist.rm5", ("does-not-exist.rm5", "cannot read"), id="missing-file"
        ),
        pytest.param(".", ("not a Cochrane data package",), id="directory"),
        pytest.param(
            None,
            ("path",),
            id="none-path",
        ),
    ],
)
def test_read_revman_rejects_bad_paths(tmp_path, monkeypatch, path, fragments):
    monkeypatch.chdir(tmp_path)
    with raises(RevManFormatError, *fragments):
        io.read_revman(path)


def test_write_revman_refuses_an_invalid_table_and_writes_nothing(tmp_path):
    bad = pd.DataFrame([BINARY | {"events_t": 50}])
    with raises(DataError, f"'{STUDY}'", "exceed"):
        io.write_revman(bad, tmp_path / "out.rm5")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- analysis plans

GOOD_PLAN = (resources.files("sparsemeta") / "plans" / "pip_barlow2015.toml").read_text("utf-8")


def _plan_edit(old: str, new: str) -> str:
    assert old in GOOD_PLAN, old
    return GOOD_PLAN.replace(old, new, 1)


def _plan_key(key: str, value: str) -> str:
    """The packaged plan with the first ``key = ...`` line set to ``key = value``."""
    pattern = re.compile(rf"^{re.escape(key)} = .*$", re.MULTILINE)
    assert pattern.search(GOOD_PLAN), key
    return pattern.sub(f"{key} = {value}", GOOD_PLAN, count=1)


PLAN_CASES = [
    pytest.param("", ("the file is empty",), id="empty-plan"),
    pytest.param("this is not toml", ("not valid TOML", "line 1"), id="not-toml"),
    pytest.param(
        GOOD_PLAN[: GOOD_PLAN.index("[[analyses]]")],
        ("'analyses'", "missing"),
        id="truncated-before-analyses",
    ),
    pytest.param(
        GOOD_PLAN[: GOOD_PLAN.index('why = "') + 20],
        ("not valid TOML", "unterminated string"),
        id="truncated-inside-a-string",
    ),
    pytest.param(b"\xff\xfe\x00\x01", ("UTF-8",), id="binary-plan"),
    pytest.param(_plan_key("plan_version", "99"), ("version 99",), id="future-version"),
    pytest.param(
        _plan_edit("[defaults]", "[defaults]\nfoo = 1"), ("[defaults]", "'foo'"), id="unknown-key"
    ),
    pytest.param(
        _plan_edit('prior = "halfnormal(1.0)"', 'prior = "halfnormal(-1.0)"'),
        ("tau_priors", "halfnormal", "positive"),
        id="bad-prior-parameter",
    ),
    pytest.param(
        _plan_edit('prior = "halfnormal(1.0)"', 'prior = "wide(1.0)"'),
        ("tau_priors", "unknown tau prior", "'wide'"),
        id="unknown-prior",
    ),
    pytest.param(
        _plan_edit('prior = "halfnormal(1.0)"', 'prior = "halfnormal(1.0)"\ndefault = true'),
        ("exactly one prior", "default"),
        id="two-default-priors",
    ),
    pytest.param(
        _plan_key("tau2_method", '"XX"'),
        ("tau2_method", "'XX'"),
        id="unknown-tau2-method",
    ),
    pytest.param(_plan_key("level", "1.5"), ("level", "1.5"), id="level-above-one"),
    pytest.param(_plan_key("level", '"high"'), ("level", "'high'"), id="level-text"),
    pytest.param(_plan_key("draws", "-1"), ("draws", "-1"), id="negative-draws"),
    pytest.param(_plan_key("chains", "2.5"), ("chains", "2.5"), id="fractional-chains"),
    pytest.param(
        _plan_key("models", '["exact", "nuts"]'),
        ("models", "'nuts'"),
        id="unknown-model",
    ),
    pytest.param(
        _plan_key("data", '"dataset:nope"'),
        ("[review].data", "'nope'"),
        id="unknown-dataset",
    ),
    pytest.param(
        _plan_key("data", '"missing.csv"'),
        ("[review].data", "missing.csv", "does not exist"),
        id="missing-data-file",
    ),
    pytest.param(
        _plan_key("data", '"semicolons.csv"'),
        ("semicolons.csv",),
        id="data-csv-wrong-delimiter",
    ),
    pytest.param(
        _plan_key("data", '"latin1.csv"'),
        ("latin1.csv", "UTF-8"),
        id="data-csv-latin1",
    ),
]


@pytest.mark.parametrize("text, fragments", PLAN_CASES)
def test_plan_load_rejects_bad_plans(tmp_path, text, fragments):
    studies = (
        resources.files("sparsemeta") / "datasets_files" / "pip_barlow2015" / "studies.csv"
    ).read_text("utf-8")
    (tmp_path / "semicolons.csv").write_text(studies.replace(",", ";"), encoding="utf-8")
    (tmp_path / "latin1.csv").write_bytes(
        studies.replace("Cicchetti", "Müller").encode("latin-1", "replace")
    )
    path = tmp_path / "plan.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with raises(PlanError, "plan.toml", *fragments):
        plan.load(path)


# ----------------------------------------------------------------------------- command line

JUNK = "<<<< not a review"
_CSV = "study,events_t,n_t,events_c,n_c\nAmes 2001,1,10,2,10\nBell 2004,3,20,5,21\n"
CLI_FILES: dict[str, str | bytes] = {
    "ok.csv": _CSV,
    "semicolons.csv": _CSV.replace(",", ";"),
    "latin1.csv": _CSV.replace("Ames", "Müller").encode("latin-1"),
    "empty.csv": "",
    "negative.csv": _CSV.replace("Ames 2001,1,", "Ames 2001,-1,"),
    "above-n.csv": _CSV.replace("Ames 2001,1,", "Ames 2001,11,"),
    "missing-value.csv": _CSV.replace("Ames 2001,1,", "Ames 2001,,"),
    "duplicate.csv": _CSV.replace("Bell 2004", "Ames 2001"),
    "all-zero.csv": "study,events_t,n_t,events_c,n_c\nA,0,10,0,10\nB,0,20,0,21\n",
    "two-outcomes.csv": "outcome,study,events_t,n_t,events_c,n_c\nX,A,1,10,2,10\nY,B,3,20,5,21\n",
    "sd-zero.csv": "study,mean_t,sd_t,n_t,mean_c,sd_c,n_c\nA,1,0,10,2,1,10\nB,3,1,20,5,1,21\n",
    "bad-plan.toml": "plan_version = 1\n[review]\nid = 'x'\n",
}


def run_cli(argv, tmp_path, monkeypatch, capsys):
    """Run ``sparsemeta argv`` in ``tmp_path``; return (status, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "junk.rm5").write_text(JUNK, encoding="utf-8")
    (tmp_path / "empty.rm5").write_text('<?xml version="1.0"?><COCHRANE_REVIEW/>', encoding="utf-8")
    (tmp_path / "out").mkdir()
    for name, text in CLI_FILES.items():
        (tmp_path / name).write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    try:
        status = cli.main(argv)
    except SystemExit as exc:  # argparse usage errors
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


FIT = ["--measure", "RR", "--tau-prior", "halfnormal(0.5)"]
FIT_MCMC = ["fit", *FIT, "--engine", "mcmc", "ok.csv"]

CLI_CASES = [
    pytest.param(["revman-check"], ("FILE", "--example"), id="revman-check-no-file"),
    pytest.param(
        ["revman-check", "missing.rm5"],
        ("missing.rm5", "cannot read"),
        id="revman-check-missing-file",
    ),
    pytest.param(
        ["revman-check", "junk.rm5"], ("junk.rm5", "well-formed"), id="revman-check-malformed-file"
    ),
    pytest.param(
        ["revman-check", "."], ("not a Cochrane data package",), id="revman-check-directory"
    ),
    pytest.param(
        ["revman-check", "empty.rm5"],
        ("empty.rm5", "no analyses"),
        id="revman-check-review-without-analyses",
    ),
    pytest.param(["priors", "nope(1)"], ("unknown tau prior", "'nope'"), id="priors-unknown-prior"),
    pytest.param(["priors", "halfnormal(-1)"], ("'scale'", "positive"), id="priors-bad-parameter"),
    pytest.param(["priors", "jeffreys"], ("improper",), id="priors-describe-improper"),
    pytest.param(
        ["priors", "--scale", "XX", "halfnormal(0.5)"],
        ("--scale", "'XX'"),
        id="priors-unknown-scale",
    ),
    pytest.param(
        ["priors", "--family", "nope"],
        ("'nope'",),
        id="priors-unknown-family",
    ),
    pytest.param(["simulate", "--k", "0", "--reps", "5"], ("k", ">= 1"), id="simulate-k-zero"),
    pytest.param(
        ["simulate", "--k", "1.5", "--reps", "5"],
        ("k", "whole numbers"),
        id="simulate-k-fractional",
    ),
    pytest.param(
        ["simulate", "--tau", "-1", "--reps", "5"], ("tau", ">= 0"), id="simulate-negative-tau"
    ),
    pytest.param(
        ["simulate", "--tau", "nan", "--reps", "5"], ("tau", "finite"), id="simulate-nan-tau"
    ),
    pytest.param(["simulate", "--reps", "0"], ("reps", ">= 1"), id="simulate-zero-reps"),
    pytest.param(
        ["simulate", "--se", "0", "--reps", "5"], ("se", "positive"), id="simulate-zero-se"
    ),
    pytest.param(
        ["simulate", "--se", "1:0", "--reps", "5"], ("se range",), id="simulate-reversed-se-range"
    ),
    pytest.param(
        ["simulate", "--se", "abc", "--reps", "5"], ("se", "'abc'"), id="simulate-text-se"
    ),
    pytest.param(
        ["simulate", "--n", "10", "--risk", "1.5", "--reps", "5"],
        ("risk", "1.5"),
        id="simulate-risk-above-one",
    ),
    pytest.param(
        ["simulate", "--methods", "foo", "--reps", "5"], ("'foo'",), id="simulate-unknown-method"
    ),
    pytest.param(
        ["simulate", "--mu-prior", "cauchy", "--reps", "5"],
        ("'cauchy'",),
        id="simulate-unknown-mu-prior",
    ),
    pytest.param(
        ["simulate", "--workers", "0", "--reps", "5"],
        ("--workers", ">= 1"),
        id="simulate-zero-workers",
    ),
    pytest.param(
        ["simulate", "--reps", "5", "--methods", "dl", "--out", "nowhere/table.csv"],
        ("nowhere/table.csv",),
        id="simulate-output-folder-missing",
    ),
    pytest.param(
        [
            "simulate",
            "--reps",
            "5",
            "--methods",
            "dl",
            "--out",
            "out/table.csv",
            "--figure",
            "out/figure.xyz",
        ],
        ("figure.xyz", "xyz"),
        id="simulate-unknown-figure-format",
    ),
    pytest.param(
        ["fit", *FIT, "missing.csv"], ("missing.csv", "no such file"), id="fit-missing-file"
    ),
    pytest.param(
        ["fit", *FIT, "semicolons.csv"],
        ("semicolons.csv", "delimiter", "';'"),
        id="fit-csv-semicolon-delimiter",
    ),
    pytest.param(["fit", *FIT, "latin1.csv"], ("latin1.csv", "utf-8"), id="fit-csv-latin1"),
    pytest.param(
        ["fit", *FIT, "empty.csv"], ("empty.csv", "the file is empty"), id="fit-empty-csv"
    ),
    pytest.param(
        ["fit", *FIT, "negative.csv"],
        ("'Ames 2001'", "'events_t'", "negative"),
        id="fit-negative-count",
    ),
    pytest.param(
        ["fit", *FIT, "above-n.csv"],
        ("'Ames 2001'", "'events_t'", "exceed"),
        id="fit-events-above-n",
    ),
    pytest.param(
        ["fit", *FIT, "missing-value.csv"],
        ("'Ames 2001'", "'events_t'", "missing"),
        id="fit-missing-count",
    ),
    pytest.param(
        ["fit", *FIT, "duplicate.csv"], ("'Ames 2001'", "duplicate"), id="fit-duplicate-study"
    ),
    pytest.param(
        ["fit", *FIT, "all-zero.csv"], ("no study", "estimable"), id="fit-all-zero-events"
    ),
    pytest.param(
        ["fit", *FIT, "two-outcomes.csv"],
        ("several outcomes", "--outcome"),
        id="fit-several-outcomes",
    ),
    pytest.param(
        ["fit", *FIT, "two-outcomes.csv", "--outcome", "Z"],
        ("no rows", "'Z'"),
        id="fit-unknown-outcome",
    ),
    pytest.param(
        ["fit", "--measure", "MD", "--tau-prior", "halfnormal(0.5)", "sd-zero.csv"],
        ("'sd_t'", "> 0"),
        id="fit-sd-zero",
    ),
    pytest.param(
        ["fit", "--measure", "MD", "--tau-prior", "halfnormal(0.5)", "ok.csv"],
        ("MD", "continuous", "binary"),
        id="fit-measure-does-not-fit-data",
    ),
    pytest.param(
        ["fit", "--measure", "HR", "--tau-prior", "halfnormal(0.5)", "ok.csv"],
        ("'HR'",),
        id="fit-unknown-measure",
    ),
    pytest.param(
        ["fit", "--measure", "RR", "--tau-prior", "nope", "ok.csv"],
        ("unknown tau prior", "'nope'"),
        id="fit-unknown-prior",
    ),
    pytest.param(
        ["fit", *FIT, "--model", "arm-normal", "--engine", "exact", "ok.csv"],
        ("exact", "normal-normal", "arm-normal"),
        id="fit-exact-engine-arm-normal-model",
    ),
    pytest.param([*FIT_MCMC, "--draws", "0"], ("draws", "0"), id="fit-zero-draws"),
    pytest.param(
        ["fit", "--measure", "RR", "--tau-prior", "jeffreys", "--engine", "mcmc", "ok.csv"],
        ("jeffreys", "exact"),
        id="fit-improper-prior-with-mcmc",
    ),
    pytest.param(
        ["reproduce", "no_such_plan", "--out", "out/report"],
        ("no packaged plan", "'no_such_plan'", "pip_barlow2015"),
        id="reproduce-unknown-plan",
    ),
    pytest.param(
        ["reproduce", "missing.toml", "--out", "out/report"],
        ("missing.toml", "does not exist"),
        id="reproduce-missing-plan-file",
    ),
    pytest.param(
        ["reproduce", "bad-plan.toml", "--out", "out/report"],
        ("bad-plan.toml", "'analyses'", "missing"),
        id="reproduce-malformed-plan",
    ),
    pytest.param(
        ["batch", "--out", "out/o.parquet", "missing"],
        ("missing", "no such file"),
        id="batch-missing-input",
    ),
    pytest.param(
        ["batch", "--out", "out/o.parquet", "--priors", "nope", "junk.rm5"],
        ("'nope'",),
        id="batch-unknown-prior",
    ),
    pytest.param(
        ["batch", "--workers", "0", "--out", "out/o.parquet", "junk.rm5"],
        ("--workers",),
        id="batch-zero-workers",
    ),
]


@pytest.mark.parametrize("argv, fragments", CLI_CASES)
def test_cli_reports_bad_input_in_one_line(tmp_path, monkeypatch, capsys, argv, fragments):
    status, out, err = run_cli(argv, tmp_path, monkeypatch, capsys)
    assert status == 2, (status, out, err)
    assert "Traceback" not in err
    message = err.strip().splitlines()[-1]
    assert message.startswith(("sparsemeta", "usage:")), err
    for fragment in fragments:
        assert fragment.lower() in message.lower(), f"{message!r} lacks {fragment!r}"
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == [], f"a failed run left files behind: {written}"
    assert not list(tmp_path.glob(".*.csv*")) and not list(tmp_path.glob("nowhere*")), (
        "partial output"
    )


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["revman-check", "junk.rm5"], id="malformed-review"),
        pytest.param(["priors", "halfnormal(0.5"], id="unparsable-prior"),
        pytest.param(["simulate", "--k", "0"], id="bad-simulation-design"),
        pytest.param(
            ["fit", "--measure", "RR", "--tau-prior", "halfnormal(0.5)", "junk.rm5"],
            id="fit-given-a-malformed-file",
        ),
        pytest.param(["reproduce", "junk.toml", "--out", "report"], id="malformed-plan"),
        pytest.param(["no-such-command"], id="unknown-subcommand"),
    ],
)
def test_cli_process_prints_no_traceback(tmp_path, argv):
    """The real console entry point, in its own process: status 2 and a message, no traceback."""
    (tmp_path / "junk.rm5").write_text(JUNK, encoding="utf-8")
    (tmp_path / "junk.toml").write_text(JUNK, encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from sparsemeta.cli import main; sys.exit(main())",
            *argv,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "error:" in proc.stderr.strip().splitlines()[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.rm5", "junk.toml"]


# ----------------------------------------------------------------------------- PyMC models and fit

LABELS2 = ["Ames 2001", "Bell 2004"]
COUNTS = {"events_t": [1, 2], "n_t": [10, 10], "events_c": [1, 2], "n_c": [10, 10]}


def _binomial(builder, **changes):
    args = COUNTS | changes
    return lambda: builder(
        args["events_t"], args["n_t"], args["events_c"], args["n_c"], LABELS2, "halfnormal(0.5)"
    )


MODEL_CASES = [
    pytest.param(
        lambda: models.normal_normal([0.1, math.nan], SE, LABELS2, "halfnormal(0.5)"),
        DataError,
        ("'Bell 2004'", "'y'", "not finite"),
        id="normal-normal-nan-effect",
    ),
    pytest.param(
        lambda: models.normal_normal(Y, [0.2, 0.0], LABELS2, "halfnormal(0.5)"),
        DataError,
        ("'Bell 2004'", "'se'", "> 0"),
        id="normal-normal-zero-se",
    ),
    pytest.param(
        lambda: models.normal_normal(Y, [0.2], LABELS2, "halfnormal(0.5)"),
        DataError,
        ("lengths",),
        id="normal-normal-length-mismatch",
    ),
    pytest.param(
        lambda: models.normal_normal([], [], [], "halfnormal(0.5)"),
        DataError,
        ("no studies",),
        id="normal-normal-no-studies",
    ),
    pytest.param(
        lambda: models.normal_normal(Y, SE, ["A", "A"], "halfnormal(0.5)"),
        DataError,
        ("unique", "'A'"),
        id="normal-normal-duplicate-labels",
    ),
    pytest.param(
        lambda: models.normal_normal(Y, SE, LABELS2, "nope(1)"),
        PriorError,
        ("unknown tau prior", "'nope'"),
        id="normal-normal-unknown-prior",
    ),
    pytest.param(
        lambda: models.normal_normal(Y, SE, LABELS2, "jeffreys"),
        PriorError,
        ("jeffreys", "no PyMC form", "exact"),
        id="normal-normal-improper-prior",
    ),
    pytest.param(
        lambda: models.normal_normal(Y, SE, LABELS2, "halfnormal(0.5)", "cauchy(0, 1)"),
        PriorError,
        ("unknown mu prior", "'cauchy'"),
        id="normal-normal-unknown-mu-prior",
    ),
    pytest.param(
        lambda: models.normal_normal(["a", "b"], SE, LABELS2, "halfnormal(0.5)"),
        DataError,
        ("'y'",),
        id="normal-normal-text-effects",
    ),
    pytest.param(
        _binomial(models.binomial_normal, events_t=[-1, 2]),
        DataError,
        ("'Ames 2001'", "'events_t'", "non-negative integer"),
        id="binomial-normal-negative-events",
    ),
    pytest.param(
        _binomial(models.binomial_normal, events_t=[11, 2]),
        DataError,
        ("'Ames 2001'", "'events_t'", "exceed"),
        id="binomial-normal-events-above-n",
    ),
    pytest.param(
        _binomial(models.binomial_normal, events_t=[1.5, 2]),
        DataError,
        ("'events_t'", "integer"),
        id="binomial-normal-fractional-events",
    ),
    pytest.param(
        _binomial(models.binomial_normal, n_t=[0, 10], events_t=[0, 2]),
        DataError,
        ("'n_t'", "> 0"),
        id="binomial-normal-zero-n",
    ),
    pytest.param(
        _binomial(models.binomial_rr, events_c=[math.nan, 2]),
        DataError,
        ("'events_c'", "not finite"),
        id="binomial-rr-nan-events",
    ),
    pytest.param(
        lambda: models.binomial_normal(
            *COUNTS.values(), LABELS2, "halfnormal(0.5)", baseline_sd=-1.0
        ),
        PriorError,
        ("baseline_sd", "> 0"),
        id="binomial-normal-negative-baseline-sd",
    ),
    pytest.param(
        lambda: models.binomial_normal(*COUNTS.values(), LABELS2, "uniform_shrinkage"),
        PriorError,
        ("standard errors", "normal-normal"),
        id="binomial-normal-se-dependent-prior",
    ),
    pytest.param(
        lambda: models.arm_normal(
            [1.0, 2.0],
            [0.0, 1.0],
            [10, 10],
            [1.0, 2.0],
            [1.0, 1.0],
            [10, 10],
            LABELS2,
            "halfnormal(0.5)",
        ),
        DataError,
        ("'Ames 2001'", "'sd_t'", "> 0"),
        id="arm-normal-zero-sd",
    ),
]


@pytest.mark.parametrize("call, error, fragments", MODEL_CASES)
def test_model_builders_reject_bad_input(call, error, fragments):
    with raises(error, *fragments):
        call()


def _secure():
    pip = datasets.pip_barlow2015()
    return pip[
        (pip["comparison"] == "PIP vs control") & (pip["outcome"] == "Infant attachment: secure")
    ]


@pytest.mark.parametrize(
    "kwargs, fragments",
    [
        pytest.param(
            {"model": "nuts"}, ("unknown model", "'nuts'", "normal-normal"), id="unknown-model"
        ),
        pytest.param({"draws": 0}, ("draws", "0"), id="zero-draws"),
        pytest.param({"chains": -1}, ("chains", "-1"), id="negative-chains"),
        pytest.param({"engine": "stan"}, ("unknown engine", "'stan'"), id="unknown-engine"),
        pytest.param(
            {"model": "binomial-normal", "measure": "SMD"},
            ("binomial-normal", "SMD"),
            id="model-measure-mismatch",
        ),
        pytest.param({"measure": "HR"}, ("unknown measure", "'HR'"), id="unknown-measure"),
        pytest.param({"data": [1, 2]}, ("study table", "list"), id="list-instead-of-table"),
        pytest.param(
            {"target_accept": 1.5},
            ("target_accept", "1.5"),
            id="target-accept-above-one",
        ),
    ],
)
def test_fit_rejects_bad_settings_before_sampling(kwargs, fragments):
    args = {"data": _secure(), "measure": "RR", "tau_prior": "halfnormal(0.5)"} | kwargs
    table, measure = args.pop("data"), args.pop("measure")
    with raises(DataError, *fragments):
        sample.sample(table, measure, **args)


# ----------------------------------------------------------------------------- sensitivity, simulation

SE_RANGE = (0.3, 0.8)


@pytest.mark.parametrize(
    "call, error, fragments",
    [
        pytest.param(
            lambda: sensitivity.compare_priors(_secure(), [], "RR"),
            PriorError,
            ("at least one tau prior",),
            id="compare-priors-no-prior",
        ),
        pytest.param(
            lambda: sensitivity.compare_priors(_secure(), ["nope"], "RR"),
            PriorError,
            ("unknown tau prior", "'nope'"),
            id="compare-priors-unknown-prior",
        ),
        pytest.param(
            lambda: sensitivity.compare_priors(_secure(), ["halfnormal(0.5)"] * 2, "RR"),
            PriorError,
            ("given twice",),
            id="compare-priors-duplicate-prior",
        ),
        pytest.param(
            lambda: sensitivity.compare_priors(_secure(), ["halfnormal(0.5)"]),
            DataError,
            ("measure",),
            id="compare-priors-binary-data-without-measure",
        ),
        pytest.param(
            lambda: sensitivity.compare_priors(_secure(), ["halfnormal(0.5)"], "XX"),
            DataError,
            ("unknown measure", "'XX'"),
            id="compare-priors-unknown-measure",
        ),
        pytest.param(
            lambda: sensitivity.compare_priors([0.1, 0.2], ["halfnormal(0.5)"]),
            DataError,
            ("se=",),
            id="compare-priors-effects-without-se",
        ),
        pytest.param(
            lambda: sensitivity.compare_priors(_secure(), ["halfnormal(0.5)"], "RR", level=2.0),
            DataError,
            ("level", "2"),
            id="compare-priors-level-above-one",
        ),
        pytest.param(
            lambda: sim.Design(k=(0,), taus=(0.1,), reps=10, se_range=SE_RANGE),
            DataError,
            ("k", ">= 1"),
            id="design-zero-studies",
        ),
        pytest.param(
            lambda: sim.Design(k=(2,), taus=(-0.1,), reps=10, se_range=SE_RANGE),
            DataError,
            ("tau", ">= 0"),
            id="design-negative-tau",
        ),
        pytest.param(
            lambda: sim.Design(k=(2,), taus=(0.1,), reps=0, se_range=SE_RANGE),
            DataError,
            ("reps", ">= 1"),
            id="design-zero-replicates",
        ),
        pytest.param(
            lambda: sim.Design(k=(2,), taus=(0.1,), reps=10),
            DataError,
            ("standard errors",),
            id="design-without-standard-errors",
        ),
        pytest.param(
            lambda: sim.simulate(
                sim.Design(k=(2,), taus=(0.1,), reps=10, se_range=SE_RANGE), "", progress=False
            ),
            DataError,
            ("no methods",),
            id="simulate-no-methods",
        ),
        pytest.param(
            lambda: sim.simulate(
                sim.Design(k=(2,), taus=(0.1,), reps=10, se_range=SE_RANGE), "dl,dl", progress=False
            ),
            DataError,
            ("twice", "'dl'"),
            id="simulate-method-twice",
        ),
        pytest.param(
            lambda: check.compare_printed(0.5, "n.s."),
            DataError,
            ("'n.s.'", "not a number"),
            id="compare-printed-text",
        ),
        pytest.param(
            lambda: frequentist.RevManSettings("binary", "MH", "SMD"),
            DataError,
            ("'measure'", "MH/SMD"),
            id="revman-settings-impossible-measure",
        ),
        pytest.param(
            lambda: frequentist.RevManSettings("binary", "MH", "RR", totals="MAYBE"),
            DataError,
            ("'totals'", "'MAYBE'"),
            id="revman-settings-unknown-totals",
        ),
    ],
)
def test_analysis_apis_reject_bad_input(call, error, fragments):
    with raises(error, *fragments):
        call()


# ----------------------------------------------------------------------------- tidy CSV study tables

_HEAD = "comparison,outcome,study,events_t,n_t,events_c,n_c\n"
_TABLE = _HEAD + "A vs B,Death,Ames 2001,1,10,2,12\nA vs B,Death,Bell 2004,3,20,5,21\n"


def _table_edit(old: str, new: str) -> str:
    assert old in _TABLE, old
    return _TABLE.replace(old, new, 1)


READ_TABLE_CASES = [
    pytest.param("", ("empty",), id="empty-file"),
    pytest.param(_HEAD, ("no studies",), id="header-only"),
    pytest.param("<COCHRANE_REVIEW/>", ("XML", "read_revman"), id="rm5-given-to-csv-reader"),
    pytest.param(_TABLE.replace(",", ";"), ("line 1", "';'"), id="semicolon-delimiter"),
    pytest.param(_TABLE.replace(",", "\t"), ("line 1", "tab"), id="tab-delimiter"),
    pytest.param(
        _TABLE.replace("Ames", "Müller").encode("latin-1"), ("line 2", "not UTF-8"), id="latin1"
    ),
    pytest.param(_TABLE.encode("utf-16"), ("not UTF-8", "UTF-16"), id="utf16"),
    pytest.param(
        _table_edit("Ames 2001,1,", "Ames 2001,-1,"),
        ("'Ames 2001'", "'events_t'", "negative"),
        id="negative-count",
    ),
    pytest.param(
        _table_edit("Ames 2001,1,", "Ames 2001,1.5,"),
        ("'Ames 2001'", "'events_t'", "not an integer"),
        id="fractional-count",
    ),
    pytest.param(
        _table_edit("Ames 2001,1,", "Ames 2001,one,"),
        ("line 2", "'Ames 2001'", "'events_t'", "not a number"),
        id="text-count",
    ),
    pytest.param(
        _table_edit("Ames 2001,1,", "Ames 2001,NaN,"),
        ("'Ames 2001'", "'events_t'", "missing"),
        id="nan-count",
    ),
    pytest.param(
        _table_edit("Ames 2001,1,", "Ames 2001,inf,"),
        ("line 2", "'events_t'", "'inf'"),
        id="infinite-count",
    ),
    pytest.param(
        _table_edit("Ames 2001,1,", "Ames 2001,11,"), ("'Ames 2001'", "exceed"), id="events-above-n"
    ),
    pytest.param(
        _table_edit("Bell 2004", "Ames 2001"), ("'Ames 2001'", "duplicate"), id="duplicate-study"
    ),
    pytest.param(
        _table_edit("Ames 2001,1,10,2,12", "Ames 2001,1,10,2,12,9"),
        ("line 2", "8 fields", "7"),
        id="extra-field",
    ),
    pytest.param(_table_edit("Ames 2001", '"Ames 2001'), ("line 2", "fields"), id="unclosed-quote"),
    pytest.param(_table_edit("study", "trial"), ("line 1", "'study'"), id="no-study-column"),
    pytest.param(
        _table_edit("Ames 2001", ""), ("line 2", "'study'", "empty"), id="empty-study-label"
    ),
    pytest.param(
        _HEAD.replace("n_c", "n_t") + "A,B,S,1,2,3,4\n", ("'n_t'", "twice"), id="duplicate-column"
    ),
    pytest.param(
        _HEAD + "A,B," + "x" * 300_000 + ",1,2,3,4\n", ("line 2", "not valid CSV"), id="huge-field"
    ),
    pytest.param(
        "comparison,outcome,study,mean_t,sd_t,n_t,mean_c,sd_c,n_c\nA,B,S,1,0,10,2,1,10\n",
        ("'S'", "'sd_t'", "> 0"),
        id="sd-zero",
    ),
    pytest.param(
        "comparison,outcome,study,effect,se,log_scale\nA,B,S,0.1,0.2,yes\n",
        ("line 2", "'log_scale'", "TRUE or FALSE"),
        id="log-scale-text",
    ),
]


@pytest.mark.parametrize("content, fragments", READ_TABLE_CASES)
def test_read_table_rejects_bad_files(tmp_path, content, fragments):
    path = tmp_path / "studies.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    with raises(DataError, "studies.csv", *fragments):
        io.read_table(path)


@pytest.mark.parametrize(
    "path, fragments",
    [
        pytest.param(None, ("file path", "NoneType"), id="none"),
        pytest.param(3, ("file path", "int"), id="number"),
        pytest.param("missing.csv", ("missing.csv", "cannot read"), id="missing-file"),
        pytest.param(".", ("cannot read",), id="directory"),
    ],
)
def test_read_table_rejects_bad_paths(tmp_path, monkeypatch, path, fragments):
    monkeypatch.chdir(tmp_path)
    with raises(DataError, *fragments):
        io.read_table(path)
