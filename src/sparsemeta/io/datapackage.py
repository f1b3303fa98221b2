"""Cochrane data packages (RevMan Web's export, published on the Cochrane Library).

A data package is a zip holding the article, forest plots and an inner ``*-data.zip`` with
``*-analysis-data/`` ``data-rows.csv`` (one row per study per analysis: arm data or generic
mean/SE, weight, mean, CI), ``overall-estimates-and-settings.csv`` (one row per analysis:
settings and pooled results), ``subgroup-estimates.csv`` (one row per subgroup) and
``*-study-data/study-information.csv``. :func:`parse_datapackage` accepts the outer zip, the
inner data zip or an extracted folder of either, reads the CSV members in memory
(:mod:`sparsemeta.io.archive`) and returns the same :class:`RevManReview` as an ``.rm5``.

Columns are read by header name (case, spacing, punctuation and ``²`` ignored), in any
order; columns the reader does not know are listed in ``RevManReview.notes``, never refused.
Stored results are RevMan Web's rounded values (6 decimals in version 1 packages): each
analysis records in ``decimals`` the most decimals printed in the package, the precision the
check compares at. Settings are per analysis; the random-effects options of RevMan 2025
(``Heterogeneity estimator``, ``CI method``, ``Prediction interval``, ``CI/PI level``;
Cochrane's data package specification, version 2, as read by R meta's ``read.cdir``) are
read when present. An analysis whose settings or study data cannot be used is kept with the
reason in ``unsupported``; the rest of the package is still read.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from sparsemeta import data, measures
from sparsemeta.errors import DataError, RevManFormatError
from sparsemeta.io.archive import read_members
from sparsemeta.io.review import (
    NO_STUDY_ROWS,
    RevManAnalysis,
    RevManReview,
    StoredResult,
    frozen_values,
    review_table,
    study_frame,
    unique_labels,
)

__all__ = ["parse_datapackage"]

_FILES = {
    "settings": "overall-estimates-and-settings.csv",
    "rows": "data-rows.csv",
    "subgroups": "subgroup-estimates.csv",
    "studies": "study-information.csv",
}
#: Result columns (normalised header) → ``.rm5`` attribute names.
_RESULTS = {
    "mean": "EFFECT_SIZE",
    "cistart": "CI_START",
    "ciend": "CI_END",
    "weight": "WEIGHT",
    "heterogeneitytau2": "TAU2",
    "heterogeneitychi2": "CHI2",
    "heterogeneitydf": "DF",
    "heterogeneityp": "P_CHI2",
    "heterogeneityi2": "I2",
    "effectz": "Z",
    "effectp": "P_Z",
    "subgroupchi2": "Q",
    "subgroupp": "P_Q",
    "subgroupi2": "I2_Q",
    "heterogeneitytau2cistart": "TAU2_CI_START",
    "heterogeneitytau2ciend": "TAU2_CI_END",
    "tau2cistart": "TAU2_CI_START",
    "tau2ciend": "TAU2_CI_END",
    "predictionintervalstart": "PI_START",
    "predictionintervalend": "PI_END",
    "pistart": "PI_START",
    "piend": "PI_END",
}
#: Columns read for settings, labels and study data, or known and not needed.
_KNOWN = {
    "settings": {
        "analysisgroup", "analysisnumber", "analysisname", "analysisgroupname",
        "datasource", "datasourceeligibility", "datatype", "logscaledata", "outcome",
        "interventiongrouping", "experimentalintervention", "controlintervention",
        "subgroupby", "filtercriteria", "experimentalgrouplabel", "controlgrouplabel",
        "statisticalmethod", "effectmeasure", "unitofeffectmeasure", "analysismodel",
        "subgroupestimates", "overallestimates", "testforsubgroupdifferences",
        "swapeventandnonevent", "studyci", "estimateci", "cipilevel",
        "heterogeneityestimator", "cimethod", "predictioninterval", "tau2ci",
        "graphlabelleft", "graphlabelright", "graphscale", "showriskofbias",
        "experimentalcases", "experimentaln", "controlcases", "controln", "subgroupdf",
        "id", "analysisid",
    },
    "rows": {
        "analysisgroup", "analysisnumber", "analysisname", "subgroup", "applicability",
        "study", "studyyear", "givmean", "givse", "experimentalmean", "experimentalsd",
        "experimentalcases", "experimentaln", "controlmean", "controlsd", "controlcases",
        "controln", "oe", "variance", "footnotes", "id", "studyid",
    },
    "subgroups": {
        "analysisgroup", "analysisnumber", "subgroup", "subgroupnumber",
        "experimentalcases", "experimentaln", "controlcases", "controln", "id",
    },
    "studies": None,
}  # fmt: skip
_DATA_TYPES: dict[str, tuple[str, data.DataType | None]] = {
    "dichotomous": ("DICH", "binary"),
    "continuous": ("CONT", "continuous"),
    "contrastlevel": ("IV", "generic"),
    "genericinversevariance": ("IV", "generic"),
    "oeandvariance": ("IPD", "generic"),
}


def _key(heading: str) -> str:
    return re.sub(r"[^a-z0-9]", "", heading.replace("²", "2").lower())


class _Table:
    """One CSV member: rows as dicts keyed by normalised header, with locations."""

    def __init__(self, name: str, raw: bytes, kind: str) -> None:
        self.name = name
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RevManFormatError(
                f"{name}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                "Cochrane data packages are UTF-8"
            ) from None
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            records = list(reader)
        except csv.Error as exc:
            raise RevManFormatError(f"{name}, line {reader.line_num}: not CSV ({exc})") from None
        if not records:
            raise RevManFormatError(f"{name}: empty CSV member (no header line)")
        self.header = [_key(h) for h in records[0]]
        known = _KNOWN[kind]
        self.unknown = (
            []
            if known is None
            else [h for h, k in zip(records[0], self.header, strict=True) if k not in known
                  and k not in _RESULTS]
        )  # fmt: skip
        self.rows: list[tuple[int, dict[str, str]]] = []
        for number, record in enumerate(records[1:], start=2):
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(self.header):
                raise RevManFormatError(
                    f"{name}, line {number}: {len(record)} fields where the header has "
                    f"{len(self.header)}"
                )
            self.rows.append((number, dict(zip(self.header, record, strict=True))))

    def need(self, *keys: str) -> None:
        missing = [k for k in keys if k not in self.header]
        if missing:
            raise RevManFormatError(
                f"{self.name}, line 1: required column(s) missing: {', '.join(missing)} "
                "(header names compared without case, spaces or punctuation)"
            )


def _text(cells: Mapping[str, str], key: str) -> str:
    return " ".join(cells.get(key, "").split())


def _decimals(text: str) -> int:
    t = text.strip().lower()
    if "e" in t or "." not in t:
        return 0
    return len(t.split(".", 1)[1])


def _number(cells: Mapping[str, str], key: str, where: str) -> float | None:
    text = cells.get(key, "").strip().replace(",", "")
    if not text or text.upper() in ("#N/A", "NA", "N/A"):
        return None
    try:
        return float(text)
    except ValueError:
        raise RevManFormatError(f"{where}: column {key!r} = {text!r} is not a number") from None


def _flag(cells: Mapping[str, str], key: str) -> bool | None:
    value = _text(cells, key).lower()
    if value in ("true", "yes", "1"):
        return True
    if value in ("false", "no", "0"):
        return False
    return None


def _level_pct(cells: Mapping[str, str], *keys: str) -> float | None:
    for key in keys:
        text = _text(cells, key).rstrip("%").strip()
        if text:
            try:
                return float(text)
            except ValueError:
                return None
    return None


class _Package:
    def __init__(self, path: str, members: dict[str, bytes]) -> None:
        self.path = path
        tables: dict[str, _Table] = {}
        for kind, suffix in _FILES.items():
            found = [n for n in members if n.lower().endswith(suffix)]
            if len(found) > 1:
                raise RevManFormatError(
                    f"{path}: {len(found)} members end in {suffix!r} ({', '.join(found)}); "
                    "expected one data package"
                )
            if found:
                tables[kind] = _Table(found[0], members[found[0]], kind)
        for kind in ("settings", "rows"):
            if kind not in tables:
                raise RevManFormatError(
                    f"{path}: no member ending in {_FILES[kind]!r}: not a Cochrane data "
                    "package (expected the zip, its inner *-data.zip or an extracted folder)"
                )
        self.tables = tables
        tables["settings"].need("analysisgroup", "analysisnumber", "datatype")
        tables["rows"].need("analysisgroup", "analysisnumber", "study")
        self.decimals = max(
            (
                _decimals(cells.get(k, ""))
                for t in tables.values()
                for _, cells in t.rows
                for k in _RESULTS
                if k in cells
            ),
            default=6,
        )
        self.notes = tuple(
            f"{t.name}: unknown column {c!r} (not read)" for t in tables.values() for c in t.unknown
        )

    def stored(
        self, table: _Table, line: int, cells: Mapping[str, str], level: str,
        subgroup: str | None, study: str | None,
    ) -> StoredResult:  # fmt: skip
        where = f"{table.name}, line {line}"
        values, half = {}, {}
        for key, name in _RESULTS.items():
            value = _number(cells, key, where)
            if value is not None:
                values[name] = value
                text = cells[key].strip()
                places = _decimals(text) if "." in text else self.decimals
                half[name] = 0.5 * 10.0**-places * (1 + 1e-9)
        lo, hi = values.get("CI_START"), values.get("CI_END")
        placeholder = lo is not None and hi is not None and lo == hi
        if placeholder:
            values, half = {}, {}  # RevMan Web writes 0, 0, 0 where it computed nothing
        return StoredResult(
            level,  # type: ignore[arg-type]
            subgroup,
            study,
            None,
            frozen_values(values),
            where,
            frozen_values(half),
            placeholder,
        )


def _analysis_no(cells: Mapping[str, str], where: str) -> tuple[int, int]:
    out = []
    for key in ("analysisgroup", "analysisnumber"):
        value = _number(cells, key, where)
        if value is None or value != int(value) or value < 0:
            raise RevManFormatError(f"{where}: column {key!r} is not a whole number ≥ 0")
        out.append(int(value))
    return out[0], out[1]


def _random_settings(cells: Mapping[str, str]) -> tuple[dict[str, Any], list[str], str | None]:
    """RevMan 2025 random-effects settings of one analysis, notes, and a reason to refuse."""
    notes: list[str] = []
    est = _text(cells, "heterogeneityestimator").lower()
    if not est or "dersimonian" in est or est == "dl":
        tau2_method = "DL"
    elif "reml" in est or "restricted" in est:
        tau2_method = "REML"
    else:
        return {}, notes, f"Heterogeneity estimator {est!r} is not DerSimonian-Laird or REML"
    ci = _text(cells, "cimethod").lower()
    if not ci or "wald" in ci or "normal" in ci:
        ci_method = "wald"
    elif "hartung" in ci or "knapp" in ci or "hksj" in ci:
        ci_method = "hksj"
    else:
        return {}, notes, f"CI method {ci!r} is not Wald or Hartung-Knapp-Sidik-Jonkman"
    pi = _text(cells, "predictioninterval").lower()
    if not pi or pi in ("none", "no", "false"):
        prediction = "none"
    elif pi == "t" or "t-dist" in pi or "t dist" in pi or "student" in pi:
        prediction = "t"
    elif "normal" in pi or pi == "z":
        prediction = "normal"
    else:
        prediction = "none"
        notes.append(f"Prediction interval = {pi!r} does not name the distribution: not compared")
    return (
        {"tau2_method": tau2_method, "ci_method": ci_method, "prediction": prediction},
        notes,
        None,
    )


def _study_values(
    kind: data.DataType, cells: Mapping[str, str], log: bool, where: str, o_e: bool = False
) -> dict:
    def num(key: str) -> float:
        value = _number(cells, key, where)
        if value is None:
            raise DataError(f"{where}: column {key!r} is empty")
        return value

    def whole(key: str) -> int:
        value = num(key)
        if value != int(value) or value < 0:
            raise DataError(f"{where}: column {key!r} = {value!r} is not a whole number ≥ 0")
        return int(value)

    if kind == "binary":
        return {
            "events_t": whole("experimentalcases"),
            "n_t": whole("experimentaln"),
            "events_c": whole("controlcases"),
            "n_c": whole("controln"),
        }
    if kind == "continuous":
        return {
            "mean_t": num("experimentalmean"),
            "sd_t": num("experimentalsd"),
            "n_t": whole("experimentaln"),
            "mean_c": num("controlmean"),
            "sd_c": num("controlsd"),
            "n_c": whole("controln"),
        }
    if o_e:  # O − E and variance: ln ratio (O − E)/V, SE 1/√V (Peto)
        var = num("variance")
        if not var > 0:
            raise DataError(f"{where}: column 'variance' = {var!r} is not > 0 (not estimable)")
        return {"effect": num("oe") / var, "se": 1 / var**0.5, "log_scale": True}
    return {"effect": num("givmean"), "se": num("givse"), "log_scale": log}


def _build(package: _Package, line: int, cells: dict[str, str], rows, subs) -> RevManAnalysis:
    settings_table = package.tables["settings"]
    where = f"{settings_table.name}, line {line}"
    cmp_no, out_no = _analysis_no(cells, where)
    comparison = _text(cells, "analysisgroupname") or f"Comparison {cmp_no}"
    outcome = _text(cells, "analysisname") or f"Analysis {cmp_no}.{out_no}"
    type_text = _text(cells, "datatype")
    revman_type, kind = _DATA_TYPES.get(_key(type_text), (type_text.upper() or "UNKNOWN", None))
    reasons: list[str] = []
    if kind is None:
        reasons.append(
            f"data type {type_text!r} is not one of Dichotomous, Continuous, Contrast level, "
            "O-E and variance"
        )
    o_e = revman_type == "IPD"
    log = bool(_flag(cells, "logscaledata")) or o_e
    method_text = _text(cells, "statisticalmethod").lower().replace("-", "").replace(" ", "")
    method = {"mh": "MH", "mantelhaenszel": "MH", "iv": "IV", "inversevariance": "IV",
              "peto": "PETO"}.get(method_text, "")  # fmt: skip
    if kind in ("continuous", "generic"):
        method = "IV"
    elif kind == "binary" and not method:
        reasons.append(
            f"Statistical method {_text(cells, 'statisticalmethod')!r} is not MH, IV or Peto"
        )
    measure_text = _text(cells, "effectmeasure")
    measure = measures.revman_code(measure_text) or measure_text.upper() or "GENERIC"
    if kind == "binary" and method == "PETO":
        measure = "PETO_OR"
    if kind == "binary" and measure not in measures.codes("binary", computable=True):
        reasons.append(f"Effect measure {measure_text!r} is not a dichotomous RevMan measure")
    if kind == "continuous" and measure not in measures.codes("continuous", computable=True):
        reasons.append(f"Effect measure {measure_text!r} is not a continuous RevMan measure")
    model = _text(cells, "analysismodel").lower()
    random = "random" in model
    if not random and "fixed" not in model:
        reasons.append(f"Analysis model {model!r} is not fixed or random effect")
    overall_on, sub_on = _flag(cells, "overallestimates"), _flag(cells, "subgroupestimates")
    totals = "YES" if overall_on in (True, None) else ("SUB" if sub_on else "NO")
    extra, notes, refuse = _random_settings(cells)
    if refuse and random:
        reasons.append(refuse)
    my_rows = rows.get((cmp_no, out_no), [])
    sub_rows = subs.get((cmp_no, out_no), [])
    sub_names = list(dict.fromkeys(
        [_text(c, "subgroup") for _, _, c in sub_rows if _text(c, "subgroup")]
        + [_text(c, "subgroup") for _, _, c in my_rows if _text(c, "subgroup")]
    ))  # fmt: skip
    analysis_id = f"{cmp_no}.{out_no}"
    study_rows: list[dict[str, Any]] = []
    stored_studies: list[StoredResult] = []
    by_sub: dict[str | None, list] = {}
    for table, row_line, rc in my_rows:
        by_sub.setdefault(_text(rc, "subgroup") or None, []).append((table, row_line, rc))
    if not reasons and kind is not None:
        try:
            for sub, members in by_sub.items():
                labels = unique_labels([_text(rc, "study") for _, _, rc in members])
                for (table, row_line, rc), label in zip(members, labels, strict=True):
                    rwhere = f"{table.name}, line {row_line}"
                    values = _study_values(kind, rc, log, rwhere, o_e)
                    study_rows.append({
                        "comparison": comparison, "outcome": outcome, "subgroup": sub,
                        "timepoint": None, "study": label, **values,
                        "study_id": None, "study_name": _text(rc, "study"),
                        "year": _text(rc, "studyyear") or None, "analysis_id": analysis_id,
                        "comparison_no": cmp_no, "outcome_no": out_no,
                        "subgroup_no": (sub_names.index(sub) + 1) if sub else None,
                        "order": None, "footnote": _text(rc, "footnotes") or None,
                        "source": rwhere,
                    })  # fmt: skip
                    stored_studies.append(package.stored(table, row_line, rc, "study", sub, label))
            studies = (
                study_frame(study_rows, kind, f"{where}: outcome {outcome!r}")
                if study_rows
                else pd.DataFrame()
            )
        except (DataError, RevManFormatError) as exc:
            reasons.append(f"invalid study data: {exc}")
            studies, stored_studies = pd.DataFrame(), []
    else:
        studies = pd.DataFrame()
    if not reasons and kind is not None and not study_rows:
        reasons.append(NO_STUDY_ROWS)
    stored_subs = tuple(
        package.stored(t, ln, c, "subgroup", _text(c, "subgroup"), None) for t, ln, c in sub_rows
    )
    ci_study = _level_pct(cells, "studyci", "cipilevel")
    ci_total = _level_pct(cells, "estimateci", "cipilevel")
    return RevManAnalysis(
        comparison=comparison,
        outcome=outcome,
        comparison_no=cmp_no,
        outcome_no=out_no,
        analysis_id=analysis_id,
        revman_type=revman_type,
        data_type=kind,
        method=method,
        measure=measure,
        random=random,
        totals=totals,  # type: ignore[arg-type]
        has_subgroups=bool(sub_names),
        subgroups=tuple(sub_names),
        subgroup_test=_flag(cells, "testforsubgroupdifferences"),
        log_data=log if kind == "generic" else None,
        swap_events=_flag(cells, "swapeventandnonevent"),
        ci_study=ci_study,
        ci_total=ci_total,
        group_labels=(_text(cells, "experimentalgrouplabel"), _text(cells, "controlgrouplabel")),
        graph_labels=(_text(cells, "graphlabelleft"), _text(cells, "graphlabelright")),
        units=_text(cells, "unitofeffectmeasure") or None,
        overall=package.stored(settings_table, line, cells, "overall", None, None),
        stored_subgroups=stored_subs,
        stored_studies=tuple(stored_studies),
        decimals=package.decimals,
        unsupported="; ".join(reasons) if reasons else None,
        source=where,
        studies=studies,
        revman_version="web",
        version_basis="Cochrane data package (written by RevMan Web)",
        i2_from_tau2=random,
        notes=tuple(notes),
        **extra,
    )


def parse_datapackage(path: str | os.PathLike[str]) -> RevManReview:
    """Read a Cochrane data package: the zip, its inner data zip, or an extracted folder.

    Raises
    ------
    RevManFormatError
        Hostile or broken archives (see :mod:`sparsemeta.io.archive`), a package without
        the analysis CSV files, non-UTF-8 or malformed CSV, missing required columns or
        non-numeric results; the message names the file and the member (and line).
    """
    name = os.fspath(path)

    def wanted(member: str) -> bool:
        return any(member.lower().endswith(s) for s in _FILES.values())

    def nested(member: str) -> bool:
        return member.lower().endswith(".zip")

    package = _Package(name, read_members(path, wanted, nested))
    rows: dict[tuple[int, int], list] = {}
    table = package.tables["rows"]
    for line, cells in table.rows:
        rows.setdefault(_analysis_no(cells, f"{table.name}, line {line}"), []).append(
            (table, line, cells)
        )
    subs: dict[tuple[int, int], list] = {}
    if "subgroups" in package.tables:
        st = package.tables["subgroups"]
        for line, cells in st.rows:
            subs.setdefault(_analysis_no(cells, f"{st.name}, line {line}"), []).append(
                (st, line, cells)
            )
    settings = package.tables["settings"]
    analyses = [_build(package, line, cells, rows, subs) for line, cells in settings.rows]
    known = {(a.comparison_no, a.outcome_no) for a in analyses}
    orphans = [k for k in rows if k not in known]
    notes = list(package.notes)
    notes += [f"data rows of analysis {c}.{o} have no settings row (not read)" for c, o in orphans]
    title = os.path.basename(name.rstrip("/\\")).removesuffix(".zip")
    return RevManReview(
        path=name,
        title=title,
        review_id=None,
        doi=None,
        revman_version="RevMan Web",
        file_format="datapackage",
        analyses=tuple(analyses),
        studies=review_table(analyses),
        notes=tuple(notes),
    )
