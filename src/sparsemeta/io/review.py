"""The objects a RevMan reader returns, and the assembly shared by the ``.rm5`` and CSV readers.

A RevMan review holds *comparisons*; each comparison holds *outcomes* (one outcome is one
analysis of :mod:`sparsemeta.data`); an outcome either holds studies directly or holds
*subgroups* that hold studies. RevMan stores, next to the study data, the results it computed
for every level: the outcome ("overall"), each subgroup and each study.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import pandas as pd

from sparsemeta import data
from sparsemeta.errors import DataError, RevManFormatError

__all__ = ["RevManAnalysis", "RevManReview", "StoredResult"]

Level = Literal["overall", "subgroup", "study"]
Totals = Literal["YES", "SUB", "NO"]

#: Columns of the study table a RevMan reader fills in for each data type (see
#: :mod:`sparsemeta.data`), in output order.
DATA_COLUMNS: dict[str, tuple[str, ...]] = {
    "binary": ("events_t", "n_t", "events_c", "n_c"),
    "continuous": ("mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c"),
    "generic": ("effect", "se", "log_scale"),
}
#: Extra columns that keep each row traceable to the file (carried through by ``data``).
PROVENANCE_COLUMNS: tuple[str, ...] = (
    "study_id",
    "study_name",
    "year",
    "analysis_id",
    "comparison_no",
    "outcome_no",
    "subgroup_no",
    "order",
    "footnote",
    "source",
)


@dataclass(frozen=True)
class StoredResult:
    """RevMan's stored results for one level of an analysis.

    Attributes
    ----------
    level : {"overall", "subgroup", "study"}
        What the values describe: the outcome's total line, one subgroup, or one study.
    subgroup, study : str or None
        The subgroup label (subgroup level, and study level inside a subgroup) and the study
        label (study level), as in the study table.
    estimable : bool or None
        RevMan's ``ESTIMABLE`` flag; ``None`` when the file does not say.
    values : Mapping[str, float]
        The numeric result attributes under their ``.rm5`` names (``EFFECT_SIZE``,
        ``CI_START``, ``CI_END``, ``Z``, ``P_Z``, ``CHI2``, ``DF``, ``P_CHI2``, ``I2``,
        ``TAU2``, ``Q``, ``P_Q``, ``I2_Q``, ``WEIGHT``, ``SE``, ...). An attribute that is
        empty in the file is absent; ``NaN`` and ``-Infinity`` are kept as RevMan wrote them.
        Ratio measures are stored on the ratio scale; ``LOG_*`` attributes are base-10 logs.
    location : str
        Where the values come from (file and line or row), for messages.
    half_units : Mapping[str, float] or None
        For rounded values (data packages): half a unit of the last printed decimal of
        each value, the tolerance it is compared at; ``None`` for full precision.
    placeholder : bool
        The source wrote placeholders, not results (a data package's 0 with a zero-width
        CI); ``values`` is then empty.
    """

    level: Level
    subgroup: str | None
    study: str | None
    estimable: bool | None
    values: Mapping[str, float]
    location: str
    half_units: Mapping[str, float] | None = None
    placeholder: bool = False


@dataclass(frozen=True)
class RevManAnalysis:
    """One RevMan outcome: its settings, its study rows and RevMan's stored results.

    Attributes
    ----------
    comparison, outcome : str
        Labels as in the study table (made unique within the file, see :func:`unique_labels`).
    comparison_no, outcome_no : int
        RevMan's numbers (the outcome is "analysis comparison_no.outcome_no").
    analysis_id : str
        RevMan's identifier, e.g. ``"CMP-001.02"`` (``"1.2"`` for CSV exports).
    revman_type : {"DICH", "CONT", "IV", "IPD", "OTHER"}
        RevMan's outcome type.
    data_type : {"binary", "continuous", "generic"} or None
        The study-table data type; ``None`` for outcome types sparsemeta does not read
        (``IPD`` O-E and variance, ``OTHER`` data), whose reason is in ``unsupported``.
    method : {"MH", "IV", "PETO"}
        Pooling method (``"IV"`` for continuous and generic outcomes).
    measure : str
        ``"RR"``, ``"OR"``, ``"RD"``, ``"PETO_OR"``, ``"MD"``, ``"SMD"``; for generic outcomes
        the measure RevMan records (e.g. ``"HR"``), or ``"GENERIC"`` when it records none.
    random : bool
        Random effects (DerSimonian-Laird) rather than fixed effect.
    totals : {"YES", "SUB", "NO"}
        RevMan's ``TOTALS``: overall and subgroup totals, subgroup totals only, or none.
    has_subgroups : bool
        The outcome is divided into subgroups.
    subgroups : tuple of str
        Subgroup labels in file order.
    subgroup_test : bool or None
        Whether RevMan reports the test for subgroup differences.
    log_data : bool or None
        Generic outcomes: the entered effects are logs of ratios (``LOG_DATA``).
    swap_events : bool or None
        Binary outcomes: RevMan analyses non-events instead of events (``SWAP_EVENTS``).
    ci_study, ci_total : float or None
        Confidence levels in percent for study and total intervals (``CI_STUDY``, ``CI_TOTAL``).
    group_labels, graph_labels : tuple of str
        Arm labels (group 1, group 2) and forest-plot side labels.
    units : str or None
        Units of a continuous outcome when the file records them.
    overall : StoredResult
        Stored results of the outcome's total line.
    stored_subgroups : tuple of StoredResult
        Stored results of each subgroup, in file order.
    stored_studies : tuple of StoredResult
        Stored per-study results, in file order (same order as ``studies``).
    decimals : int or None
        ``None`` when stored values are full double precision (``.rm5``); the number of
        decimal places when the source rounded them (RevMan CSV exports: 8).
    unsupported : str or None
        Why this outcome cannot be recomputed: an outcome type sparsemeta does not read
        (``data_type`` is then ``None``) or an outcome without study rows (``data_type``
        kept); ``studies`` is then empty.
    source : str
        File and line (or row) of the outcome.
    studies : pandas.DataFrame
        The validated study-table rows of this outcome (see :mod:`sparsemeta.data`).
    revman_version : {"5", "web"}
        Which RevMan computed the stored results (decides the per-study rules, see
        :data:`sparsemeta.frequentist.VERSION_RULES`); ``version_basis`` says how it was
        determined.
    tau2_method, ci_method, prediction, i2_from_tau2
        Random-effects settings (RevMan Web from 2025; RevMan 5 files: DL, Wald, no
        prediction interval, Q-based I²), see
        :class:`sparsemeta.frequentist.RevManSettings`.
    notes : tuple of str
        What the reader inferred or could not use (e.g. on which scale generic log data
        were stored, unknown columns).
    """

    comparison: str
    outcome: str
    comparison_no: int
    outcome_no: int
    analysis_id: str
    revman_type: str
    data_type: data.DataType | None
    method: str
    measure: str
    random: bool
    totals: Totals
    has_subgroups: bool
    subgroups: tuple[str, ...]
    subgroup_test: bool | None
    log_data: bool | None
    swap_events: bool | None
    ci_study: float | None
    ci_total: float | None
    group_labels: tuple[str, str]
    graph_labels: tuple[str, str]
    units: str | None
    overall: StoredResult
    stored_subgroups: tuple[StoredResult, ...]
    stored_studies: tuple[StoredResult, ...]
    decimals: int | None
    unsupported: str | None
    source: str
    studies: pd.DataFrame = field(compare=False, repr=False)
    revman_version: Literal["5", "web"] = "5"
    version_basis: str = "RevMan 5 file format"
    tau2_method: Literal["DL", "REML"] = "DL"
    ci_method: Literal["wald", "hksj"] = "wald"
    prediction: Literal["none", "t", "normal"] = "none"
    i2_from_tau2: bool = False
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``"1.2 Outcome name"``: RevMan's analysis number and the outcome label."""
        return f"{self.comparison_no}.{self.outcome_no} {self.outcome}"


@dataclass(frozen=True)
class RevManReview:
    """A RevMan 5 review read by :func:`sparsemeta.io.read_revman`.

    Attributes
    ----------
    path : str
        The file read.
    title : str or None
        The review title (``.rm5``), or the file name for CSV exports, which carry none.
    review_id : str or None
        RevMan's review ``ID`` (``.rm5``; ``None`` for CSV exports).
    doi : str or None
        The review DOI when the file records one.
    revman_version : str or None
        RevMan version that wrote the file, when recorded.
    file_format : {"rm5", "csv", "datapackage"}
        Which of RevMan's formats the file is (``datapackage``: a Cochrane data package
        written by RevMan Web, as a zip, its inner data zip or an extracted folder).
    analyses : tuple of RevManAnalysis
        Every outcome in the file, in file order.
    studies : pandas.DataFrame
        The study table of all readable analyses (see :mod:`sparsemeta.data`), in file order.
    notes : tuple of str
        File-level notes (e.g. columns the reader does not know, listed rather than refused).
    """

    path: str
    title: str | None
    review_id: str | None
    doi: str | None
    revman_version: str | None
    file_format: Literal["rm5", "csv", "datapackage"]
    analyses: tuple[RevManAnalysis, ...]
    studies: pd.DataFrame = field(compare=False, repr=False)
    notes: tuple[str, ...] = ()

    def analysis(self, comparison: str, outcome: str) -> RevManAnalysis:
        """Return the analysis with these comparison and outcome labels.

        Raises
        ------
        KeyError
            If the review has no such analysis.
        """
        for a in self.analyses:
            if a.comparison == comparison and a.outcome == outcome:
                return a
        raise KeyError(f"{self.path}: no analysis {comparison!r} / {outcome!r}")


_XML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def name_from_id(study_id: str) -> str:
    """A readable study label from a RevMan study ID (``"STD-MRC_x002d_1"`` → ``"MRC-1"``).

    RevMan derives IDs from study names, prefixing ``STD-`` and escaping characters that
    are not allowed in XML names as ``_xHHHH_``; this undoes both. Used only when the file
    does not map the ID to a name.
    """
    stem = study_id[4:] if study_id.startswith("STD-") else study_id
    return _XML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), stem)


def unique_labels(names: Sequence[str]) -> list[str]:
    """Make repeated labels unique by numbering every occurrence: ``"A #1"``, ``"A #2"``.

    RevMan allows the same study twice in one subgroup (e.g. two arms of one trial against
    a shared control), which the study table cannot hold; labels that occur once are kept.
    """
    counts = Counter(names)
    seen: Counter[str] = Counter()
    out = []
    for name in names:
        if counts[name] > 1:
            seen[name] += 1
            out.append(f"{name} #{seen[name]}")
        else:
            out.append(name)
    return out


def parse_float(text: str | None) -> float | None:
    """Parse a RevMan number: ``None`` for an absent or empty value, else a float.

    Accepts Java's spellings ``NaN``, ``Infinity`` and ``-Infinity`` (RevMan is a Java
    program). Raises ``ValueError`` for anything else that is not a number.
    """
    if text is None or not text.strip():
        return None
    return float(text)


def study_frame(rows: list[dict[str, Any]], data_type: data.DataType, where: str) -> pd.DataFrame:
    """Build and validate the study rows of one analysis.

    Parameters
    ----------
    rows : list of dict
        One dict per study with the label, data and provenance columns.
    data_type : {"binary", "continuous", "generic"}
        The analysis's data type: selects the data columns.
    where : str
        File, line and outcome, prefixed to validation messages.

    Raises
    ------
    RevManFormatError
        When :func:`sparsemeta.data.study_table` rejects a row; the message gives ``where``
        and the study, field and problem.
    """
    columns = [*data.LABEL_COLUMNS, *DATA_COLUMNS[data_type], *PROVENANCE_COLUMNS]
    frame = pd.DataFrame(rows, columns=columns)
    try:
        return data.study_table(frame)
    except DataError as exc:
        raise RevManFormatError(f"{where}: {exc}") from exc


def review_table(analyses: Sequence[RevManAnalysis]) -> pd.DataFrame:
    """Concatenate the (already validated) study rows of every readable analysis."""
    frames = [a.studies for a in analyses if len(a.studies)]
    if not frames:
        return pd.DataFrame(columns=[*data.LABEL_COLUMNS, *PROVENANCE_COLUMNS])
    table = pd.concat(frames, ignore_index=True)
    order = [*data.LABEL_COLUMNS]
    for kind in ("binary", "continuous", "generic"):
        order += [c for c in DATA_COLUMNS[kind] if c in table.columns and c not in order]
    order += [c for c in table.columns if c not in order]
    return table[order]


NO_STUDY_ROWS = "the outcome has no study rows: nothing to pool or compare"


def stored_scale(values: Mapping[str, float]) -> Literal["ratio", "log"] | None:
    """On which scale a stored ratio result is written, from its own CI.

    A CI is symmetric on the scale of the values: ratio-scale values satisfy
    ``EFFECT_SIZE² = CI_START · CI_END`` (geometric mean), log-scale values
    ``EFFECT_SIZE = (CI_START + CI_END)/2``. Returns ``None`` when the values cannot tell
    (missing or zero-width CI, or neither identity holds to 1e-6 relative).
    """
    es, lo, hi = (values.get(k) for k in ("EFFECT_SIZE", "CI_START", "CI_END"))
    if es is None or lo is None or hi is None or not hi > lo:
        return None
    log_ok = abs(es - (lo + hi) / 2) <= 1e-6 * max(1.0, abs(es), abs(hi - lo))
    ratio_ok = lo > 0 and es > 0 and abs(es * es - lo * hi) <= 1e-6 * es * es
    if ratio_ok and not log_ok:
        return "ratio"
    if log_ok and not ratio_ok:
        return "log"
    return None


def frozen_values(values: Mapping[str, float]) -> Mapping[str, float]:
    """A read-only copy of a mapping of stored values."""
    return MappingProxyType(dict(values))
