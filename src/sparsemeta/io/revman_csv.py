"""RevMan 5 CSV "analysis data" exports (File → Export → Data and analyses).

One row per comparison, outcome, subgroup and study, told apart by the ``Comparison
Number``, ``Outcome Number`` and ``Subgroup Number`` columns: ``Outcome Number`` 0 is a
comparison row; a row with a ``Data Type`` is an outcome row (``Subgroup Number`` 0) or a
subgroup row; any other row is a study. Results are rounded to 8 decimal places, so an
analysis read from CSV has ``decimals=8``. CSV exports carry no study IDs, no ``TOTALS``
unless the optional ``Totals`` column was exported (``YES`` is assumed otherwise) and no
``ESTIMABLE`` flags. Only dichotomous (``DIC``) and continuous (``CON``) outcomes are read;
other data types are listed as unsupported analyses (their scale is not in the export).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pandas as pd

from sparsemeta import data, measures
from sparsemeta.errors import RevManFormatError
from sparsemeta.io.review import (
    NO_STUDY_ROWS,
    RevManAnalysis,
    RevManReview,
    StoredResult,
    frozen_values,
    parse_float,
    review_table,
    study_frame,
    unique_labels,
)

__all__ = ["parse_csv"]

#: RevMan's exported column headings (normalised by :func:`_key`) → ``.rm5`` attribute names.
_RESULT_COLUMNS = {
    "effectestimate": "EFFECT_SIZE",
    "se": "SE",
    "cistart": "CI_START",
    "ciend": "CI_END",
    "weight": "WEIGHT",
    "q": "CHI2",
    "pq": "P_CHI2",
    "i2q": "I2",
    "tau2": "TAU2",
    "z": "Z",
    "pz": "P_Z",
    "qint": "Q",
    "pqint": "P_Q",
    "i2qint": "I2_Q",
    "df": "DF",
    "oe": "O_E",
    "var": "VAR",
    "events1": "EVENTS_1",
    "total1": "TOTAL_1",
    "events2": "EVENTS_2",
    "total2": "TOTAL_2",
}
_REQUIRED = ("comparisonnumber", "outcomenumber", "subgroupnumber", "name")
_DATA_TYPES: dict[str, tuple[str, data.DataType]] = {
    "DIC": ("DICH", "binary"),
    "CON": ("CONT", "continuous"),
}
_MEASURES = {kind: set(measures.codes(kind, computable=True)) for kind in ("binary", "continuous")}
_DECIMALS = 8


def _key(heading: str) -> str:
    return re.sub(r"[^a-z0-9]", "", heading.replace("²", "2").lower())


def _decode(raw: bytes, path: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RevManFormatError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "RevMan 5 writes its CSV exports in UTF-8 — re-export, or convert the file"
        ) from exc


class _Row:
    """One CSV row with access by normalised heading and messages that name the row."""

    def __init__(self, path: str, number: int, cells: dict[str, str]) -> None:
        self.path = path
        self.number = number
        self.cells = cells

    @property
    def at(self) -> str:
        return f"{self.path}, line {self.number}"

    def text(self, key: str) -> str:
        return self.cells.get(key, "").strip()

    def fail(self, message: str) -> RevManFormatError:
        return RevManFormatError(f"{self.at}: {message}")

    def number_or_none(self, key: str) -> float | None:
        value = self.text(key).replace(",", "")
        try:
            return parse_float(value)
        except ValueError:
            raise self.fail(f"column {key!r}: {self.text(key)!r} is not a number") from None

    def integer(self, key: str, what: str) -> int:
        value = self.number_or_none(key)
        if value is None or value != int(value) or value < 0:
            raise self.fail(
                f"{what}: column {key!r} = {self.text(key)!r} is not a whole number ≥ 0"
            )
        return int(value)

    def real(self, key: str, what: str) -> float:
        value = self.number_or_none(key)
        if value is None:
            raise self.fail(f"{what}: column {key!r} is empty")
        return value

    def results(self) -> dict[str, float]:
        out = {}
        for key, name in _RESULT_COLUMNS.items():
            if key in self.cells:
                value = self.number_or_none(key)
                if value is not None:
                    out[name] = value
        return out

    def stored(self, level: str, subgroup: str | None, study: str | None) -> StoredResult:
        return StoredResult(
            level=level,  # type: ignore[arg-type]
            subgroup=subgroup,
            study=study,
            estimable=None,
            values=frozen_values(self.results()),
            location=self.at,
        )


def _read_rows(text: str, path: str) -> list[_Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        records = list(reader)
    except csv.Error as exc:
        raise RevManFormatError(
            f"{path}, line {reader.line_num}: not a RevMan 5 CSV export ({exc})"
        ) from exc
    if not records or not any(cell.strip() for cell in records[0]):
        raise RevManFormatError(f"{path}: empty CSV file (no header line)")
    header = [_key(h) for h in records[0]]
    missing = [k for k in _REQUIRED if k not in header]
    if missing:
        line = records[0][0] if len(records[0]) == 1 else ",".join(records[0])
        hint = next(
            (
                f"; the header looks {name}-separated, RevMan exports are comma-separated"
                for sep, name in ((";", "semicolon"), ("\t", "tab"))
                if sep in line
            ),
            "",
        )
        raise RevManFormatError(
            f"{path}, line 1: not a RevMan 5 CSV export — columns 'Comparison Number', "
            f"'Outcome Number', 'Subgroup Number' and 'Name' are required{hint}"
        )
    rows = []
    for number, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            raise RevManFormatError(
                f"{path}, line {number}: {len(record)} fields where the header has {len(header)}"
            )
        rows.append(_Row(path, number, dict(zip(header, record, strict=True))))
    return rows


def _flag(row: _Row, key: str, default: bool | None) -> bool | None:
    value = row.text(key).lower()
    if not value:
        return default
    if value not in ("yes", "no"):
        raise row.fail(f"column {key!r} = {row.text(key)!r} is not Yes or No")
    return value == "yes"


def _totals(row: _Row) -> str:
    value = row.text("totals").lower()
    if not value or value == "yes":
        return "YES"
    if value == "no":
        return "NO"
    if value.startswith("sub"):
        return "SUB"
    raise row.fail(f"column 'Totals' = {row.text('totals')!r} is not Yes, No or Subtotals only")


class _Outcome:
    """Rows of one outcome while the CSV is read."""

    def __init__(self, row: _Row, comparison: str, comparison_no: int, outcome_no: int) -> None:
        self.row = row
        self.comparison = comparison
        self.comparison_no = comparison_no
        self.outcome_no = outcome_no
        self.code = row.text("datatype").upper()
        self.revman_type, self.data_type = _DATA_TYPES.get(self.code, (self.code, None))
        self.subgroups: list[tuple[_Row, int]] = []
        self.studies: list[tuple[_Row, int]] = []


def _study_row(row: _Row, kind: data.DataType) -> dict[str, Any]:
    name = " ".join(row.text("name").split())
    what = f"study {name!r}"
    out: dict[str, Any] = {
        "study_id": None,
        "study_name": name,
        "year": row.text("yearofstudy") or None,
    }
    if kind == "binary":
        out |= {
            "events_t": row.integer("events1", what),
            "n_t": row.integer("total1", what),
            "events_c": row.integer("events2", what),
            "n_c": row.integer("total2", what),
        }
    else:
        out |= {
            "mean_t": row.real("mean1", what),
            "sd_t": row.real("sd1", what),
            "n_t": row.integer("total1", what),
            "mean_c": row.real("mean2", what),
            "sd_c": row.real("sd2", what),
            "n_c": row.integer("total2", what),
        }
    order = row.number_or_none("userdefinedorder")
    out["order"] = int(order) if order is not None else None
    out["footnote"] = None
    out["source"] = row.at
    return out


def _unsupported(item: _Outcome, name: str) -> RevManAnalysis:
    """An outcome whose CSV data type is not read, listed with the reason."""
    row = item.row
    return RevManAnalysis(
        comparison=item.comparison,
        outcome=name,
        comparison_no=item.comparison_no,
        outcome_no=item.outcome_no,
        analysis_id=f"{item.comparison_no}.{item.outcome_no}",
        revman_type=item.revman_type,
        data_type=None,
        method=row.text("statisticalmethod"),
        measure=row.text("effectmeasure"),
        random=row.text("analysismodel").lower() == "random",
        totals=_totals(row),  # type: ignore[arg-type]
        has_subgroups=bool(item.subgroups),
        subgroups=(),
        subgroup_test=None,
        log_data=None,
        swap_events=None,
        ci_study=None,
        ci_total=None,
        group_labels=(row.text("grouplabel1"), row.text("grouplabel2")),
        graph_labels=(row.text("leftgraphlabel"), row.text("rightgraphlabel")),
        units=None,
        overall=row.stored("overall", None, None),
        stored_subgroups=(),
        stored_studies=(),
        decimals=_DECIMALS,
        unsupported=(
            f"CSV data type {item.code!r} is not read (only DIC and CON: the export does not "
            "say on which scale generic or O-E data are given); read the .rm5 file instead"
        ),
        source=row.at,
        studies=pd.DataFrame(),
    )


def _analysis(item: _Outcome) -> RevManAnalysis:
    row = item.row
    name = " ".join(row.text("name").split())
    kind = item.data_type
    if kind is None:
        return _unsupported(item, name)
    method = row.text("statisticalmethod").upper() if kind == "binary" else "IV"
    if method not in ("MH", "IV", "PETO"):
        raise row.fail(
            f"outcome {name!r}: Statistical Method {row.text('statisticalmethod')!r} "
            "is not MH, IV or PETO"
        )
    measure = row.text("effectmeasure").upper()
    if measure not in _MEASURES[kind]:
        raise row.fail(
            f"outcome {name!r}: Effect Measure {row.text('effectmeasure')!r} is not "
            f"one of {sorted(_MEASURES[kind])}"
        )
    model = row.text("analysismodel").lower()
    if model not in ("fixed", "random"):
        raise row.fail(
            f"outcome {name!r}: Analysis Model {row.text('analysismodel')!r} is not Fixed or Random"
        )
    sub_labels = unique_labels([" ".join(r.text("name").split()) for r, _ in item.subgroups])
    sub_by_no = {no: label for (_, no), label in zip(item.subgroups, sub_labels, strict=True)}
    rows: list[dict[str, Any]] = []
    stored_studies = []
    groups: dict[int, list[tuple[_Row, dict[str, Any]]]] = {}
    for study_row, sub_no in item.studies:
        if sub_no and sub_no not in sub_by_no:
            raise study_row.fail(f"study row for subgroup {sub_no}, which has no subgroup row")
        groups.setdefault(sub_no, []).append((study_row, _study_row(study_row, kind)))
    for sub_no, members in groups.items():
        labels = unique_labels([m[1]["study_name"] for m in members])
        subgroup = sub_by_no.get(sub_no)
        for (study_row, values), label in zip(members, labels, strict=True):
            values |= {
                "comparison": item.comparison,
                "outcome": name,
                "subgroup": subgroup,
                "timepoint": None,
                "study": label,
                "analysis_id": f"{item.comparison_no}.{item.outcome_no}",
                "comparison_no": item.comparison_no,
                "outcome_no": item.outcome_no,
                "subgroup_no": sub_no or None,
            }
            rows.append(values)
            stored_studies.append(study_row.stored("study", subgroup, label))
    where = f"{row.at}: outcome {name!r}"
    return RevManAnalysis(
        comparison=item.comparison,
        outcome=name,
        comparison_no=item.comparison_no,
        outcome_no=item.outcome_no,
        analysis_id=f"{item.comparison_no}.{item.outcome_no}",
        revman_type=item.revman_type,
        data_type=kind,
        method=method,
        measure=measure,
        random=model == "random",
        totals=_totals(row),  # type: ignore[arg-type]
        has_subgroups=bool(item.subgroups),
        subgroups=tuple(sub_labels),
        subgroup_test=_flag(row, "testforsubgroupdifferences", None),
        log_data=None,
        swap_events=_flag(row, "swapeventandnonevent", None),
        ci_study=parse_float(row.text("studyconfidenceinterval").rstrip("%")),
        ci_total=parse_float(row.text("totalconfidenceinterval").rstrip("%")),
        group_labels=(row.text("grouplabel1"), row.text("grouplabel2")),
        graph_labels=(row.text("leftgraphlabel"), row.text("rightgraphlabel")),
        units=None,
        overall=row.stored("overall", None, None),
        stored_subgroups=tuple(
            r.stored("subgroup", label, None)
            for (r, _), label in zip(item.subgroups, sub_labels, strict=True)
        ),
        stored_studies=tuple(stored_studies),
        decimals=_DECIMALS,
        unsupported=None if rows else NO_STUDY_ROWS,
        source=row.at,
        studies=study_frame(rows, kind, where) if rows else pd.DataFrame(),
    )


def parse_csv(raw: bytes, path: str) -> RevManReview:
    """Parse the bytes of a RevMan 5 CSV analysis export.

    Raises
    ------
    RevManFormatError
        Text that is not UTF-8, a header without RevMan's columns (e.g. a semicolon- or
        tab-separated file), rows with the wrong number of fields, unknown settings,
        non-numeric numbers, or study data that
        :func:`sparsemeta.data.study_table` rejects; the message gives file and line.
    """
    rows = _read_rows(_decode(raw, path), path)
    comparisons: dict[int, str] = {}
    outcomes: dict[tuple[int, int], _Outcome] = {}
    for row in rows:
        cmp_no = row.integer("comparisonnumber", "Comparison Number")
        out_no = row.integer("outcomenumber", "Outcome Number")
        sub_no = row.integer("subgroupnumber", "Subgroup Number")
        if out_no == 0:
            comparisons[cmp_no] = " ".join(row.text("name").split())
            continue
        if cmp_no not in comparisons:
            raise row.fail(f"outcome row for comparison {cmp_no}, which has no comparison row")
        key = (cmp_no, out_no)
        if row.text("datatype"):
            if sub_no == 0:
                if key in outcomes:
                    raise row.fail(f"second outcome row for outcome {cmp_no}.{out_no}")
                outcomes[key] = _Outcome(row, comparisons[cmp_no], cmp_no, out_no)
            elif key in outcomes:
                outcomes[key].subgroups.append((row, sub_no))
            else:
                raise row.fail(f"subgroup row before the row of outcome {cmp_no}.{out_no}")
            continue
        if key not in outcomes:
            raise row.fail(f"study row before the row of outcome {cmp_no}.{out_no}")
        outcomes[key].studies.append((row, sub_no))
    comparison_labels = dict(
        zip(comparisons, unique_labels(list(comparisons.values())), strict=True)
    )
    for item in outcomes.values():
        item.comparison = comparison_labels[item.comparison_no]
    per_comparison: dict[int, list[_Outcome]] = {}
    for item in outcomes.values():
        per_comparison.setdefault(item.comparison_no, []).append(item)
    analyses = []
    for items in per_comparison.values():
        names = unique_labels([" ".join(i.row.text("name").split()) for i in items])
        for item, label in zip(items, names, strict=True):
            item.row.cells["name"] = label
            analyses.append(_analysis(item))
    title = path.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".csv")
    return RevManReview(
        path=path,
        title=title,
        review_id=None,
        doi=None,
        revman_version=None,
        file_format="csv",
        analyses=tuple(analyses),
        studies=review_table(analyses),
    )
