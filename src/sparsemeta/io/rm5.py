"""RevMan 5 ``.rm5`` files: a safe XML reader and a minimal writer.

The XML is parsed with :mod:`defusedxml`: entity declarations (the "billion laughs"
expansion attack), external entities and document type declarations that reference an
external DTD (file or network access) are refused, never expanded or fetched. Every element keeps the line it starts on, so that a message
about bad content says where it is.

Layout read (RevMan 5.x): ``COCHRANE_REVIEW/ANALYSES_AND_DATA/COMPARISON`` holds
``DICH_OUTCOME``, ``CONT_OUTCOME``, ``IV_OUTCOME``, ``IPD_OUTCOME`` (O − E and variance,
read as the log ratio (O − E)/V with SE 1/√V) and ``OTHER_OUTCOME`` (reported as
unsupported); an outcome holds ``*_DATA`` study rows directly or inside
``*_SUBGROUP`` elements. ``STUDIES_AND_REFERENCES//STUDY`` maps ``STUDY_ID`` to the study
``NAME`` and ``YEAR``.
"""

from __future__ import annotations

import math
import os
import re
import xml.etree.ElementTree as StdET
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

import numpy as np
import pandas as pd
from defusedxml import (
    DefusedXmlException,
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
)
from defusedxml.ElementTree import DefusedXMLParser

from sparsemeta import data, measures
from sparsemeta.errors import RevManFormatError
from sparsemeta.io.review import (
    NO_STUDY_ROWS,
    RevManAnalysis,
    RevManReview,
    StoredResult,
    frozen_values,
    name_from_id,
    parse_float,
    review_table,
    stored_scale,
    study_frame,
    unique_labels,
)

__all__ = ["parse_rm5", "write_rm5"]

_OUTCOME_TYPES: dict[str, data.DataType | None] = {
    "DICH": "binary",
    "CONT": "continuous",
    "IV": "generic",
    "IPD": "generic",  # O-E and variance: log ratio (O − E)/V with SE 1/√V
    "OTHER": None,
}
_UNSUPPORTED = {
    "OTHER": "'other data' outcomes hold text, not numbers that can be pooled",
}
_METHODS = {"MH", "IV", "PETO"}
#: outcome element -> the EFFECT_MEASURE codes it may hold (the measure table's)
_MEASURES = {
    "DICH": set(measures.codes("binary", computable=True)),
    "CONT": set(measures.codes("continuous", computable=True)),
}
#: Numeric result attributes read from outcome, subgroup and study elements.
RESULT_FIELDS: tuple[str, ...] = (
    "EFFECT_SIZE",
    "CI_START",
    "CI_END",
    "SE",
    "VAR",
    "O_E",
    "WEIGHT",
    "Z",
    "P_Z",
    "CHI2",
    "DF",
    "P_CHI2",
    "I2",
    "TAU2",
    "Q",
    "P_Q",
    "I2_Q",
    "LOG_EFFECT_SIZE",
    "LOG_CI_START",
    "LOG_CI_END",
    "STUDIES",
    "EVENTS_1",
    "TOTAL_1",
    "EVENTS_2",
    "TOTAL_2",
)
# Study-level attributes that are the study's data, not RevMan's results.
_STUDY_DATA_FIELDS = {
    "binary": ("EVENTS_1", "TOTAL_1", "EVENTS_2", "TOTAL_2"),
    "continuous": ("MEAN_1", "SD_1", "TOTAL_1", "MEAN_2", "SD_2", "TOTAL_2"),
    "generic": ("EFFECT_SIZE", "SE"),
}


class _LineTarget:
    """Tree builder target that records the line each element starts on."""

    def __init__(self) -> None:
        self._builder = TreeBuilder()
        self.lines: dict[int, int] = {}
        self.parser: DefusedXMLParser | None = None

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        element = self._builder.start(tag, attrs)
        assert self.parser is not None
        self.lines[id(element)] = self.parser.parser.CurrentLineNumber
        return element

    def end(self, tag: str) -> Element:
        return self._builder.end(tag)

    def data(self, text: str) -> None:
        self._builder.data(text)

    def close(self) -> Element:
        return self._builder.close()


def _refuse_external_dtd(name: str, sysid: str | None, pubid: str | None, _subset: bool) -> None:
    if sysid or pubid:
        raise DTDForbidden(name, sysid, pubid)


_REFUSED = {
    EntitiesForbidden: "an XML entity declaration",
    ExternalReferenceForbidden: "an XML external reference",
    DTDForbidden: "an external DTD reference",
}


_DECLARED_ENCODING = re.compile(
    rb"(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)[\"']"
)


def _parse_xml(raw: bytes, path: str) -> tuple[Element, dict[int, int]]:
    target = _LineTarget()
    parser = DefusedXMLParser(target=target, forbid_entities=True, forbid_external=True)
    parser.parser.StartDoctypeDeclHandler = _refuse_external_dtd
    target.parser = parser
    try:
        parser.feed(raw)
        root = parser.close()
    except ParseError as exc:
        raise RevManFormatError(f"{path}: not a well-formed XML file ({exc})") from exc
    except DefusedXmlException as exc:
        line = parser.parser.CurrentLineNumber
        what = _REFUSED.get(type(exc), "XML content that could expand or fetch data")
        raise RevManFormatError(
            f"{path}, line {line}: refused to read {what} ({exc}); RevMan files never "
            "contain one, and it is never expanded or fetched"
        ) from exc
    except (LookupError, ValueError) as exc:  # codec lookup/decoding for the declared encoding
        declared = _DECLARED_ENCODING.match(raw)
        name = repr(declared.group(1).decode("ascii", "replace")) if declared else "(none)"
        raise RevManFormatError(
            f"{path}, line 1: cannot decode the file with the encoding its XML declaration "
            f"names, {name} ({exc}); RevMan 5 files are UTF-8"
        ) from exc
    return root, target.lines


class _Reader:
    """State shared while reading one ``.rm5`` file."""

    def __init__(self, path: str, root: Element, lines: dict[int, int]) -> None:
        self.path = path
        self.lines = lines
        self.version = "5"
        self.version_basis = ""
        self.names: dict[str, tuple[str, str | None]] = {}
        for study in root.iter("STUDY"):
            sid = study.get("ID")
            if sid and study.get("NAME"):
                self.names[sid] = (study.get("NAME", ""), study.get("YEAR") or None)

    def at(self, element: Element) -> str:
        line = self.lines.get(id(element))
        return f"{self.path}, line {line}" if line else self.path

    def fail(self, element: Element, message: str) -> RevManFormatError:
        return RevManFormatError(f"{self.at(element)}: <{element.tag}> {message}")

    def attr(self, element: Element, name: str) -> str:
        value = element.get(name)
        if value is None or not value.strip():
            raise self.fail(element, f"has no {name} attribute")
        return value.strip()

    def name(self, element: Element) -> str:
        text = element.findtext("NAME")
        if text is None or not text.strip():
            raise self.fail(element, "has no <NAME>")
        return text.strip()

    def integer(self, element: Element, name: str, what: str) -> int:
        value = self.attr(element, name)
        try:
            number = float(value)
        except ValueError:
            raise self.fail(element, f"{what}: {name}={value!r} is not a number") from None
        if not math.isfinite(number) or number != int(number) or number < 0:
            raise self.fail(element, f"{what}: {name}={value!r} is not a whole number ≥ 0")
        return int(number)

    def number(self, element: Element, name: str, what: str) -> float:
        value = self.attr(element, name)
        try:
            return float(value)
        except ValueError:
            raise self.fail(element, f"{what}: {name}={value!r} is not a number") from None

    def flag(self, element: Element, name: str, *, required: bool = False) -> bool | None:
        value = element.get(name)
        if value is None or not value.strip():
            if required:
                raise self.fail(element, f"has no {name} attribute")
            return None
        if value not in ("YES", "NO"):
            raise self.fail(element, f"{name}={value!r} is not YES or NO")
        return value == "YES"

    def results(self, element: Element, skip: Iterable[str] = ()) -> dict[str, float]:
        out: dict[str, float] = {}
        skipped = set(skip)
        for key in RESULT_FIELDS:
            if key in skipped:
                continue
            try:
                value = parse_float(element.get(key))
            except ValueError:
                raise self.fail(
                    element, f"stored result {key}={element.get(key)!r} is not a number"
                ) from None
            if value is not None:
                out[key] = value
        return out

    def stored(
        self,
        element: Element,
        level: str,
        subgroup: str | None,
        study: str | None,
        skip: Iterable[str] = (),
    ) -> StoredResult:
        return StoredResult(
            level=level,  # type: ignore[arg-type]
            subgroup=subgroup,
            study=study,
            estimable=self.flag(element, "ESTIMABLE"),
            values=frozen_values(self.results(element, skip)),
            location=self.at(element),
        )

    def study_label(self, element: Element) -> tuple[str, str, str | None]:
        sid = self.attr(element, "STUDY_ID")
        name, year = self.names.get(sid, (name_from_id(sid), None))
        return sid, name.strip(), year


def _measure(reader: _Reader, outcome: Element, kind: str) -> str:
    if kind in _MEASURES:
        measure = reader.attr(outcome, "EFFECT_MEASURE")
        if measure not in _MEASURES[kind]:
            raise reader.fail(
                outcome,
                f"EFFECT_MEASURE={measure!r} is not one of {sorted(_MEASURES[kind])}",
            )
        return measure
    text = outcome.get("EFFECT_MEASURE") or outcome.findtext("EFFECT_MEASURE") or ""
    text = " ".join(text.split())
    if not text:
        return "GENERIC"
    return measures.revman_code(text) or text


def _method(reader: _Reader, outcome: Element, kind: str) -> str:
    if kind != "DICH":
        return "IV"
    method = reader.attr(outcome, "METHOD")
    if method not in _METHODS:
        raise reader.fail(outcome, f"METHOD={method!r} is not one of {sorted(_METHODS)}")
    return method


def _study_row(
    reader: _Reader,
    element: Element,
    data_type: data.DataType,
    log_data: bool | None,
    o_e: bool = False,
) -> dict[str, Any]:
    sid, name, year = reader.study_label(element)
    what = f"study {name!r}"
    row: dict[str, Any] = {"study_id": sid, "study_name": name, "year": year}
    if o_e:
        # O − E and variance (Peto; Deeks & Higgins 2010): ln ratio (O − E)/V, SE 1/√V;
        # the inverse-variance pool of these is Peto's Σ(O − E)/ΣV with its Q
        diff, var = reader.number(element, "O_E", what), reader.number(element, "VAR", what)
        if not (math.isfinite(var) and var > 0):
            row["_not_estimable"] = f"{what}: VAR={var!r}, not estimable (V must be > 0)"
            var = 1.0
        row |= {"effect": diff / var, "se": 1 / math.sqrt(var), "log_scale": True}
    elif data_type == "binary":
        row |= {
            "events_t": reader.integer(element, "EVENTS_1", what),
            "n_t": reader.integer(element, "TOTAL_1", what),
            "events_c": reader.integer(element, "EVENTS_2", what),
            "n_c": reader.integer(element, "TOTAL_2", what),
        }
    elif data_type == "continuous":
        row |= {
            "mean_t": reader.number(element, "MEAN_1", what),
            "sd_t": reader.number(element, "SD_1", what),
            "n_t": reader.integer(element, "TOTAL_1", what),
            "mean_c": reader.number(element, "MEAN_2", what),
            "sd_c": reader.number(element, "SD_2", what),
            "n_c": reader.integer(element, "TOTAL_2", what),
        }
    else:
        effect = reader.number(element, "EFFECT_SIZE", what)
        if log_data and _ratio_stored(reader, element, effect):
            if not effect > 0:
                raise reader.fail(element, f"{what}: ratio EFFECT_SIZE={effect!r} is not > 0")
            effect = math.log(effect)
            row["_ratio_stored"] = True
        row |= {
            "effect": effect,
            "se": reader.number(element, "SE", what),
            "log_scale": bool(log_data),
        }
    order = element.get("ORDER")
    row["order"] = int(order) if order and order.strip().isdigit() else None
    footnote = element.findtext("FOOTNOTE")
    row["footnote"] = " ".join(footnote.split()) if footnote and footnote.strip() else None
    row["source"] = reader.at(element)
    return row


def _ratio_stored(reader: _Reader, element: Element, effect: float) -> bool:
    """Whether a ``LOG_DATA="YES"`` study stores ``EFFECT_SIZE`` as the ratio, not its log.

    RevMan writes ``LOG_EFFECT_SIZE`` as the base-10 log of the ratio: when present it
    decides (``EFFECT_SIZE = 10^LOG_EFFECT_SIZE`` means a ratio). Otherwise the study's own
    CI decides (:func:`~sparsemeta.io.review.stored_scale`); with neither, the value is
    taken as entered, a natural log.
    """
    log10 = parse_float(element.get("LOG_EFFECT_SIZE"))
    if log10 is not None and math.isfinite(log10):
        ln = log10 * math.log(10)
        if effect > 0 and abs(math.log(effect) - ln) <= 1e-6 * max(1.0, abs(ln)):
            return abs(effect - ln) > 1e-6 * max(1.0, abs(ln))
        return False
    values = {k: parse_float(element.get(k)) for k in ("CI_START", "CI_END")}
    values["EFFECT_SIZE"] = effect
    return stored_scale({k: v for k, v in values.items() if v is not None}) == "ratio"


def _version(root: Element, reader: _Reader) -> tuple[str, str]:
    """Which RevMan computed a ``.rm5`` file's results, and the evidence.

    RevMan 5 and RevMan Web differ for RR/OR studies with all events in both arms and SMD
    studies with three participants (:data:`sparsemeta.frequentist.VERSION_RULES`): such a
    study stored as estimable with a result is RevMan Web's rule, stored as not estimable
    RevMan 5's. A version attribute naming "Web" also counts. Default: RevMan 5.
    """
    declared = " ".join(filter(None, (root.get("REVMAN_VERSION"), root.get("REVMAN_SUB_VERSION"))))
    if "web" in declared.lower():
        return "web", f"the file declares RevMan version {declared!r}"
    for outcome in root.iter():
        tag = outcome.tag
        if tag == "DICH_OUTCOME" and outcome.get("EFFECT_MEASURE") in ("RR", "OR"):
            kind = "DICH_DATA"
        elif tag == "CONT_OUTCOME" and outcome.get("EFFECT_MEASURE") == "SMD":
            kind = "CONT_DATA"
        else:
            continue
        for study in outcome.iter(kind):
            try:
                n1, n2 = float(study.get("TOTAL_1", "")), float(study.get("TOTAL_2", ""))
                if kind == "DICH_DATA":
                    a, c = float(study.get("EVENTS_1", "")), float(study.get("EVENTS_2", ""))
                    edge = a == n1 and c == n2 and a > 0
                else:
                    edge = n1 + n2 == 3
            except ValueError:
                continue
            if not edge:
                continue
            effect = parse_float(study.get("EFFECT_SIZE") or None)
            where = reader.at(study)
            if study.get("ESTIMABLE") == "NO" or effect is None or not math.isfinite(effect):
                return "5", f"{where}: a study stored as not estimable under RevMan 5's rule"
            return "web", f"{where}: a study stored as estimable under RevMan Web's rule"
    return "5", "RevMan 5 file format (no study decides between the versions' rules)"


def _outcome(
    reader: _Reader,
    outcome: Element,
    comparison: str,
    comparison_no: int,
    outcome_label: str,
) -> RevManAnalysis:
    kind = outcome.tag.removesuffix("_OUTCOME")
    data_type = _OUTCOME_TYPES[kind]
    where = f"{reader.at(outcome)}: outcome {outcome_label!r}"
    outcome_no = reader.integer(outcome, "NO", f"outcome {outcome_label!r}")
    supported = data_type is not None
    o_e = kind == "IPD"
    log_data = True if o_e else reader.flag(outcome, "LOG_DATA", required=kind == "IV")
    subgroup_elements = [e for e in outcome if e.tag == f"{kind}_SUBGROUP"]
    subgroups = unique_labels([reader.name(e) for e in subgroup_elements])
    blocks: list[tuple[Element | None, str | None, int | None]] = (
        [
            (e, label, reader.integer(e, "NO", f"subgroup {label!r}"))
            for e, label in zip(subgroup_elements, subgroups, strict=True)
        ]
        if subgroup_elements
        else [(None, None, None)]
    )
    rows: list[dict[str, Any]] = []
    ratio_note: str | None = None
    stored_subgroups: list[StoredResult] = []
    stored_studies: list[StoredResult] = []
    skip = ("O_E", "VAR") if o_e else _STUDY_DATA_FIELDS[data_type] if data_type else ()
    left_out: list[str] = []
    for block, label, number in blocks:
        parent = outcome if block is None else block
        if block is not None:
            stored_subgroups.append(reader.stored(block, "subgroup", label, None))
        elements = [e for e in parent if e.tag == f"{kind}_DATA"]
        if not supported:
            continue
        block_rows = [_study_row(reader, e, data_type, log_data, o_e) for e in elements]
        keep = [not r.get("_not_estimable") for r in block_rows]
        left_out += [r["_not_estimable"] for r in block_rows if r.get("_not_estimable")]
        block_rows = [r for r, k in zip(block_rows, keep, strict=True) if k]
        elements = [e for e, k in zip(elements, keep, strict=True) if k]
        if any([r.pop("_ratio_stored", False) for r in block_rows]):
            ratio_note = (
                "LOG_DATA=YES: some studies store EFFECT_SIZE as the ratio (their CI or "
                "LOG_EFFECT_SIZE says so); read as its natural log"
            )
        names = unique_labels([r["study_name"] for r in block_rows])
        for row, study, element in zip(block_rows, names, elements, strict=True):
            row |= {
                "comparison": comparison,
                "outcome": outcome_label,
                "subgroup": label,
                "timepoint": None,
                "study": study,
                "analysis_id": outcome.get("ID") or f"{comparison_no}.{outcome_no}",
                "comparison_no": comparison_no,
                "outcome_no": outcome_no,
                "subgroup_no": number,
            }
            rows.append(row)
            stored_studies.append(reader.stored(element, "study", label, study, skip))
    unsupported = None if supported else _UNSUPPORTED[kind]
    if supported and not rows:
        unsupported = NO_STUDY_ROWS
    studies = study_frame(rows, data_type, where) if rows else pd.DataFrame()
    totals = outcome.get("TOTALS", "YES")
    if totals not in ("YES", "SUB", "NO"):
        raise reader.fail(outcome, f"TOTALS={totals!r} is not YES, SUB or NO")
    ci_study = parse_float(outcome.get("CI_STUDY"))
    ci_total = parse_float(outcome.get("CI_TOTAL"))
    units = outcome.get("UNITS")
    return RevManAnalysis(
        comparison=comparison,
        outcome=outcome_label,
        comparison_no=comparison_no,
        outcome_no=outcome_no,
        analysis_id=outcome.get("ID") or f"{comparison_no}.{outcome_no}",
        revman_type=kind,
        data_type=data_type,
        method=_method(reader, outcome, kind) if supported else outcome.get("METHOD", ""),
        measure=_measure(reader, outcome, kind) if supported else "",
        random=bool(reader.flag(outcome, "RANDOM", required=supported and not o_e)),
        totals=totals,  # type: ignore[arg-type]
        has_subgroups=bool(subgroup_elements),
        subgroups=tuple(subgroups),
        subgroup_test=reader.flag(outcome, "SUBGROUP_TEST"),
        log_data=log_data,
        swap_events=reader.flag(outcome, "SWAP_EVENTS"),
        ci_study=ci_study,
        ci_total=ci_total,
        group_labels=(
            outcome.findtext("GROUP_LABEL_1") or "",
            outcome.findtext("GROUP_LABEL_2") or "",
        ),
        graph_labels=(
            outcome.findtext("GRAPH_LABEL_1") or "",
            outcome.findtext("GRAPH_LABEL_2") or "",
        ),
        units=units if units else None,
        overall=reader.stored(outcome, "overall", None, None),
        stored_subgroups=tuple(stored_subgroups),
        stored_studies=tuple(stored_studies),
        decimals=None,
        unsupported=unsupported,
        source=reader.at(outcome),
        studies=studies,
        revman_version=reader.version,  # type: ignore[arg-type]
        version_basis=reader.version_basis,
        notes=((ratio_note,) if ratio_note else ())
        + tuple(f"{m}; left out of the recomputation" for m in left_out),
    )


def parse_rm5(raw: bytes, path: str) -> RevManReview:
    """Parse the bytes of a ``.rm5`` file.

    Parameters
    ----------
    raw : bytes
        The file's content.
    path : str
        The file name, used in messages.

    Returns
    -------
    RevManReview

    Raises
    ------
    RevManFormatError
        Malformed or truncated XML, an entity declaration or external reference, a root
        element other than ``COCHRANE_REVIEW``, a missing or invalid attribute, a non-numeric
        count or result, or study data that :func:`sparsemeta.data.study_table` rejects; the
        message gives the file and line.
    """
    root, lines = _parse_xml(raw, path)
    if root.tag != "COCHRANE_REVIEW":
        raise RevManFormatError(
            f"{path}, line {lines.get(id(root), 1)}: root element is <{root.tag}>, "
            "expected <COCHRANE_REVIEW> (a RevMan 5 review)"
        )
    reader = _Reader(path, root, lines)
    reader.version, reader.version_basis = _version(root, reader)
    section = root.find("ANALYSES_AND_DATA")
    comparisons = [] if section is None else [e for e in section if e.tag == "COMPARISON"]
    comparison_labels = unique_labels([reader.name(e) for e in comparisons])
    analyses: list[RevManAnalysis] = []
    for element, label in zip(comparisons, comparison_labels, strict=True):
        number = reader.integer(element, "NO", f"comparison {label!r}")
        outcomes = [e for e in element if e.tag.removesuffix("_OUTCOME") in _OUTCOME_TYPES]
        outcome_labels = unique_labels([reader.name(e) for e in outcomes])
        for outcome, outcome_label in zip(outcomes, outcome_labels, strict=True):
            analyses.append(_outcome(reader, outcome, label, number, outcome_label))
    title = root.findtext("COVER_SHEET/TITLE")
    return RevManReview(
        path=path,
        title=" ".join(title.split()) if title else None,
        review_id=root.get("ID") or None,
        doi=root.get("DOI") or None,
        revman_version=(root.get("REVMAN_SUB_VERSION") or root.get("REVMAN_VERSION") or "").strip()
        or None,
        file_format="rm5",
        analyses=tuple(analyses),
        studies=review_table(analyses),
    )


# --------------------------------------------------------------------------- writing

_DEFAULTS: dict[str, dict[str, str]] = {
    "binary": {"METHOD": "MH", "EFFECT_MEASURE": "RR"},
    "continuous": {"EFFECT_MEASURE": "MD"},
    "generic": {"EFFECT_MEASURE": "GENERIC"},
}
_TAGS = {"binary": "DICH", "continuous": "CONT", "generic": "IV"}


def _text(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "YES" if value else "NO"
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value)


def _sub(parent: Element, tag: str, text: str | None = None, **attrs: object) -> Element:
    element = StdET.SubElement(parent, tag, {k: _text(v) for k, v in attrs.items()})
    if text is not None:
        element.text = text
    return element


def _study_id(name: str) -> str:
    out = []
    for ch in name:
        out.append(ch if ch.isalnum() or ch == "." else f"_x{ord(ch):04x}_")
    return "STD-" + "".join(out)


def write_rm5(
    studies: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    title: str,
    attributes: Mapping[tuple[str, ...], Mapping[str, object]],
) -> None:
    """Write a validated study table as a minimal ``.rm5`` file (see ``io.write_revman``)."""
    table = data.study_table(studies)
    root = StdET.Element("COCHRANE_REVIEW", {"REVMAN_VERSION": "5", "TYPE": "INTERVENTION"})
    _sub(_sub(root, "COVER_SHEET"), "TITLE", title)
    included = _sub(_sub(_sub(root, "STUDIES_AND_REFERENCES"), "STUDIES"), "INCLUDED_STUDIES")
    ids: dict[str, str] = {}
    for name in dict.fromkeys(table["study"]):
        ids[name] = _study_id(name)
        _sub(included, "STUDY", ID=ids[name], NAME=name)
    section = _sub(root, "ANALYSES_AND_DATA", CALCULATED_DATA="NO")
    comparisons: dict[str, Element] = {}
    outcome_counts: dict[str, int] = {}
    for key, frame in data.analyses(table):
        if key.timepoint is not None:
            raise RevManFormatError(
                f"analysis {tuple(key)}: RevMan has no timepoints; put the timepoint "
                "into the outcome label before writing a .rm5 file"
            )
        if key.comparison not in comparisons:
            comparisons[key.comparison] = _sub(section, "COMPARISON", NO=len(comparisons) + 1)
            _sub(comparisons[key.comparison], "NAME", key.comparison)
            outcome_counts[key.comparison] = 0
        outcome_counts[key.comparison] += 1
        kind = data.data_type(frame)
        tag = _TAGS[kind]
        attrs: dict[str, object] = {"NO": outcome_counts[key.comparison], "RANDOM": "NO"}
        attrs |= _DEFAULTS[kind]
        if kind == "generic":
            attrs["LOG_DATA"] = bool(frame["log_scale"].iloc[0])
        subgroups = list(dict.fromkeys(s for s in frame["subgroup"] if isinstance(s, str)))
        attrs |= {"SUBGROUPS": bool(subgroups), "TOTALS": "YES"}
        attrs |= attributes.get((key.comparison, key.outcome), {})
        outcome = _sub(comparisons[key.comparison], f"{tag}_OUTCOME", **attrs)
        _sub(outcome, "NAME", key.outcome)
        if subgroups:
            for number, subgroup in enumerate(subgroups, start=1):
                sub_attrs = {
                    "NO": number,
                    **attributes.get((key.comparison, key.outcome, subgroup), {}),
                }
                element = _sub(outcome, f"{tag}_SUBGROUP", **sub_attrs)
                _sub(element, "NAME", subgroup)
                rows = frame[frame["subgroup"] == subgroup]
                _write_rows(element, tag, kind, rows, ids, attributes, (*key[:2], subgroup))
        else:
            _write_rows(outcome, tag, kind, frame, ids, attributes, (*key[:2], None))
    tree = StdET.ElementTree(root)
    StdET.indent(tree)
    tree.write(Path(path), encoding="UTF-8", xml_declaration=True)


def _write_rows(
    parent: Element,
    tag: str,
    kind: str,
    frame: pd.DataFrame,
    ids: dict[str, str],
    attributes: Mapping[tuple[str, ...], Mapping[str, object]],
    prefix: tuple[str, str, str | None],
) -> None:
    for _, row in frame.iterrows():
        if kind == "binary":
            values = {
                "EVENTS_1": int(row["events_t"]),
                "TOTAL_1": int(row["n_t"]),
                "EVENTS_2": int(row["events_c"]),
                "TOTAL_2": int(row["n_c"]),
            }
        elif kind == "continuous":
            values = {
                "MEAN_1": float(row["mean_t"]),
                "SD_1": float(row["sd_t"]),
                "TOTAL_1": int(row["n_t"]),
                "MEAN_2": float(row["mean_c"]),
                "SD_2": float(row["sd_c"]),
                "TOTAL_2": int(row["n_c"]),
            }
        else:
            values = {"EFFECT_SIZE": float(row["effect"]), "SE": float(row["se"])}
        extra = attributes.get((*prefix, row["study"]), {})
        _sub(parent, f"{tag}_DATA", STUDY_ID=ids[row["study"]], **{**values, **extra})
