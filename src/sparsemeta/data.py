"""The study table: one row is one study in one analysis.

An *analysis* is one comparison × outcome × timepoint; its subgroups stay inside it (as in
RevMan, where subgroups are levels of one outcome). Arm-level columns follow RevMan's group
order: ``t`` is the experimental arm (group 1) and ``c`` the comparator (group 2).

=============  =======================================================================
data type      columns
=============  =======================================================================
binary         ``events_t, n_t, events_c, n_c`` (non-negative integers, events ≤ n, n > 0)
continuous     ``mean_t, sd_t, n_t, mean_c, sd_c, n_c`` (finite means, sd > 0, integer n > 0)
generic        ``effect, se, log_scale`` (finite effect, se > 0, log_scale a bool)
=============  =======================================================================

Label columns: ``comparison``, ``outcome``, ``study`` (required, non-empty strings),
``subgroup`` and ``timepoint`` (optional; missing means "not applicable"). Any other column
(``provenance``, ``confidence``, ...) is carried through untouched.

A table may hold analyses of different data types (a binary outcome and a continuous one);
a row's data type is read from the columns it fills in, and all rows of one analysis must
share one data type. A study label may appear once per subgroup of an analysis (RevMan
allows the same study in several subgroups of one outcome, e.g. a multi-arm trial).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from sparsemeta.errors import DataError

__all__ = [
    "BINARY_COLUMNS",
    "CONTINUOUS_COLUMNS",
    "GENERIC_COLUMNS",
    "LABEL_COLUMNS",
    "AnalysisKey",
    "DataType",
    "analyses",
    "data_type",
    "single_analysis",
    "study_table",
    "with_placeholders",
]

DataType = Literal["binary", "continuous", "generic"]

LABEL_COLUMNS: tuple[str, ...] = ("comparison", "outcome", "subgroup", "timepoint", "study")
BINARY_COLUMNS: tuple[str, ...] = ("events_t", "n_t", "events_c", "n_c")
CONTINUOUS_COLUMNS: tuple[str, ...] = ("mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c")
GENERIC_COLUMNS: tuple[str, ...] = ("effect", "se", "log_scale")

_REQUIRED_LABELS = ("comparison", "outcome", "study")
_OPTIONAL_LABELS = ("subgroup", "timepoint")
_COLUMNS: dict[str, tuple[str, ...]] = {
    "binary": BINARY_COLUMNS,
    "continuous": CONTINUOUS_COLUMNS,
    "generic": GENERIC_COLUMNS,
}
# Columns whose presence (a non-missing value) marks a row as being of that data type;
# n_t/n_c are shared by binary and continuous data and so mark neither.
_MARKERS: dict[str, tuple[str, ...]] = {
    "binary": ("events_t", "events_c"),
    "continuous": ("mean_t", "sd_t", "mean_c", "sd_c"),
    "generic": ("effect", "se"),
}
_COUNTS = ("events_t", "n_t", "events_c", "n_c")
_NUMERIC = (
    "events_t",
    "events_c",
    "n_t",
    "n_c",
    "mean_t",
    "sd_t",
    "mean_c",
    "sd_c",
    "effect",
    "se",
)


class AnalysisKey(NamedTuple):
    """Identifies one analysis: subgroups are levels inside it, not separate analyses."""

    comparison: str
    outcome: str
    timepoint: str | None


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


def _label(value: object) -> str | None:
    return None if _missing(value) else str(value)


def _where(study: object, row: object) -> str:
    return f"study {study!r}" if not _missing(study) else f"row {row!r} (no study label)"


def _fail(study: object, row: object, field: str, problem: str) -> DataError:
    return DataError(f"{_where(study, row)}, field {field!r}: {problem}")


def _check_labels(df: pd.DataFrame) -> None:
    first = df["study"].iloc[0] if "study" in df.columns and len(df) else None
    for col in _REQUIRED_LABELS:
        if col not in df.columns:
            raise _fail(first, df.index[0], col, "required column is missing from the table")
    for col in _REQUIRED_LABELS:
        for row, study, value in zip(
            df.index.tolist(), df["study"].tolist(), df[col].tolist(), strict=True
        ):
            if _missing(value) or not isinstance(value, str) or not value.strip():
                raise _fail(study, row, col, f"must be a non-empty string, got {value!r}")
    for col in _OPTIONAL_LABELS:
        if col not in df.columns:
            continue
        for row, study, value in zip(
            df.index.tolist(), df["study"].tolist(), df[col].tolist(), strict=True
        ):
            if not _missing(value) and not isinstance(value, str):
                raise _fail(study, row, col, f"must be a string or missing, got {value!r}")


def _to_numeric(df: pd.DataFrame) -> None:
    """Convert numeric columns in place, naming the first cell that is not a number."""
    for col in _NUMERIC:
        if col not in df.columns:
            continue
        values = df[col]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            df[col] = values.astype(float)
            continue
        out = np.empty(len(df))
        for i, (row, study, value) in enumerate(
            zip(df.index.tolist(), df["study"].tolist(), values, strict=True)
        ):
            if _missing(value):
                out[i] = np.nan
            elif isinstance(value, bool | np.bool_) or not isinstance(
                value, int | float | np.number
            ):
                raise _fail(study, row, col, f"must be a number, got {value!r}")
            else:
                out[i] = float(value)
        df[col] = out


def _row_types(df: pd.DataFrame) -> list[DataType]:
    """The data type of each row, read from the columns it fills in."""
    present = np.zeros((len(_MARKERS), len(df)), dtype=bool)
    for j, cols in enumerate(_MARKERS.values()):
        for c in cols:
            if c in df.columns:
                present[j] |= ~pd.isna(df[c].to_numpy())
    bad = np.flatnonzero(present.sum(axis=0) != 1)
    if bad.size:
        i = int(bad[0])
        found = [k for j, k in enumerate(_MARKERS) if present[j, i]]
        markers = [c for k in _MARKERS for c in _MARKERS[k]]
        have = [c for c in markers if c in df.columns]
        if found:
            problem = f"row mixes {' and '.join(found)} data; fill in one data type per row"
        elif have:
            problem = f"no study data: all of {', '.join(have)} are missing"
        else:
            problem = f"no study data: the table has none of the columns {', '.join(markers)}"
        field = "/".join(c for k in (found or _MARKERS) for c in _MARKERS[k])
        raise _fail(df["study"].iloc[i], df.index[i], field, problem)
    names: list[DataType] = list(_MARKERS)  # type: ignore[arg-type]
    return [names[j] for j in present.argmax(axis=0)]


def _check_values(df: pd.DataFrame, kinds: list[DataType]) -> None:
    cols = {c: df[c].to_numpy() for k in _COLUMNS.values() for c in k if c in df.columns}
    for i, (row, study) in enumerate(zip(df.index.tolist(), df["study"].tolist(), strict=True)):
        kind = kinds[i]
        for col in _COLUMNS[kind]:
            if col not in cols:
                raise _fail(study, row, col, f"column missing; {kind} data need {_COLUMNS[kind]}")
        if kind == "generic":
            flag = cols["log_scale"][i]
            if not isinstance(flag, bool | np.bool_):
                raise _fail(study, row, "log_scale", f"must be True or False, got {flag!r}")
        for col in _COLUMNS[kind]:
            if col == "log_scale":
                continue
            value = float(cols[col][i])
            if np.isnan(value):
                raise _fail(study, row, col, "value is missing (NaN)")
            if not np.isfinite(value):
                raise _fail(study, row, col, f"value is not finite ({value})")
            if col in _COUNTS:
                if value < 0:
                    raise _fail(study, row, col, f"count is negative ({value:g})")
                if value != np.floor(value):
                    raise _fail(study, row, col, f"count is not an integer ({value:g})")
            if col in ("n_t", "n_c") and value <= 0:
                raise _fail(study, row, col, f"sample size must be > 0, got {value:g}")
            if col in ("sd_t", "sd_c", "se") and value <= 0:
                raise _fail(study, row, col, f"must be > 0, got {value:g}")
        if kind == "binary":
            for ev, n in (("events_t", "n_t"), ("events_c", "n_c")):
                if cols[ev][i] > cols[n][i]:
                    raise _fail(
                        study, row, ev, f"events ({cols[ev][i]:g}) exceed {n} ({cols[n][i]:g})"
                    )


def _group_keys(df: pd.DataFrame) -> list[tuple[str, str, str | None]]:
    return [
        (c, o, _label(t))
        for c, o, t in zip(
            df["comparison"].tolist(), df["outcome"].tolist(), df["timepoint"].tolist(), strict=True
        )
    ]


def _check_analyses(df: pd.DataFrame, kinds: list[DataType]) -> None:
    first_type: dict[tuple[str, str, str | None], tuple[DataType, str]] = {}
    seen: set[tuple[str, str, str | None, str | None, str]] = set()
    keys = _group_keys(df)
    for i, (row, study, sub) in enumerate(
        zip(df.index.tolist(), df["study"].tolist(), df["subgroup"].tolist(), strict=True)
    ):
        key = keys[i]
        kind = kinds[i]
        if key not in first_type:
            first_type[key] = (kind, study)
        elif first_type[key][0] != kind:
            other_kind, other = first_type[key]
            raise _fail(
                study,
                row,
                "/".join(_MARKERS[kind]),
                f"{kind} data in analysis {AnalysisKey(*key)} whose study {other!r} has "
                f"{other_kind} data; one analysis holds one data type",
            )
        label = (*key, _label(sub), study)
        if label in seen:
            where = f" subgroup {label[3]!r} of" if label[3] is not None else ""
            raise _fail(
                study, row, "study", f"duplicate study label in{where} analysis {AnalysisKey(*key)}"
            )
        seen.add(label)


def study_table(df: pd.DataFrame) -> pd.DataFrame:
    """Validate a study table and return a normalised copy.

    Normalisation: ``subgroup`` and ``timepoint`` columns are added (all missing) when
    absent; numeric columns become ``float64``, and the count columns ``events_t, n_t,
    events_c, n_c`` become ``int64`` when no row leaves them empty (they stay ``float64``
    with NaN in a table that mixes binary or continuous rows with generic ones); the
    ``log_scale`` column becomes ``object`` holding ``True``/``False``/``None``. Labels lose
    leading and trailing blanks (inner blanks are kept), so a label reads back the same from
    every file format. The index, the row order and any extra column are kept.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per study per analysis, with the exact column names of the module table.

    Returns
    -------
    pandas.DataFrame
        The validated copy.

    Raises
    ------
    DataError
        Naming the study, the field and the problem, for: an empty table; a missing
        column; a label that is not a non-empty string; a non-numeric value in a numeric
        column; a row with no data or with two data types; NaN or infinite values; negative
        or non-integer counts; events above n; n ≤ 0; sd or se ≤ 0; a ``log_scale`` that is
        not a bool; an analysis mixing data types; a study label repeated within one
        subgroup of one analysis.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"study table: expected a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0:
        raise DataError("study table, field 'study': the table is empty (no studies)")
    out = df.copy()
    _check_labels(out)
    for col in _OPTIONAL_LABELS:
        if col not in out.columns:
            out[col] = None
    for col in (*_REQUIRED_LABELS, *_OPTIONAL_LABELS):
        out[col] = [None if _missing(v) else v.strip() for v in out[col].tolist()]
    _to_numeric(out)
    kinds = _row_types(out)
    _check_values(out, kinds)
    _check_analyses(out, kinds)
    for col in _COUNTS:
        if col in out.columns and out[col].notna().all():
            out[col] = out[col].astype(np.int64)
    if "log_scale" in out.columns:
        out["log_scale"] = [
            None if _missing(v) else bool(v) for v in out["log_scale"].astype(object)
        ]
    return out


def data_type(df: pd.DataFrame) -> DataType:
    """Return the data type of one analysis: ``"binary"``, ``"continuous"`` or ``"generic"``.

    The type is read from the columns the rows fill in (``events_*`` for binary, ``mean_*``/
    ``sd_*`` for continuous, ``effect``/``se`` for generic).

    Raises
    ------
    DataError
        If the table is empty, a row has no data or two data types, or the rows do not
        share one data type.
    """
    if len(df) == 0:
        raise DataError("study table, field 'study': the analysis is empty (no studies)")
    if "study" not in df.columns:
        raise DataError("study table, field 'study': required column is missing from the table")
    kinds = _row_types(df)
    for row, study, kind in zip(df.index.tolist(), df["study"].tolist(), kinds, strict=True):
        if kind != kinds[0]:
            raise _fail(
                study,
                row,
                "/".join(_MARKERS[kind]),
                f"{kind} data where study {df['study'].iloc[0]!r} has {kinds[0]} data; "
                "one analysis holds one data type",
            )
    return kinds[0]


def analyses(df: pd.DataFrame) -> Iterator[tuple[AnalysisKey, pd.DataFrame]]:
    """Iterate over the analyses of a study table, in order of first appearance.

    Rows are grouped by (comparison, outcome, timepoint); a missing timepoint is its own
    group (key ``timepoint=None``). Subgroups stay inside their analysis. Each yielded
    frame keeps the original index and row order.

    Yields
    ------
    (AnalysisKey, pandas.DataFrame)
    """
    if "timepoint" not in df.columns:
        df = df.assign(timepoint=None)
    keys = _group_keys(df)
    order: dict[tuple[str, str, str | None], list[int]] = {}
    for i, key in enumerate(keys):
        order.setdefault(key, []).append(i)
    for key, rows in order.items():
        yield AnalysisKey(*key), df.iloc[rows]


def with_placeholders(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the columns a single analysis may leave out: ``comparison`` and
    ``outcome`` (placeholders ``"comparison"``/``"outcome"``) and, for generic data,
    ``log_scale`` (``False``). Other tables are returned as they are."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"study table: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in ("comparison", "outcome") if c not in df.columns]
    generic_flag = "effect" in df.columns and "log_scale" not in df.columns
    if missing or generic_flag:
        df = df.assign(**{c: c for c in missing})
        if generic_flag:
            df["log_scale"] = False
    return df


def single_analysis(df: pd.DataFrame) -> pd.DataFrame:
    """Validate a study table of one analysis and return the normalised copy.

    A single analysis needs only ``study`` and the data columns: a missing ``comparison``
    or ``outcome`` column is filled with a placeholder (``"comparison"``/``"outcome"``),
    a missing ``log_scale`` of generic data with ``False``. Then :func:`study_table`.

    Raises
    ------
    DataError
        As :func:`study_table`, and for a table that holds several analyses.
    """
    table = study_table(with_placeholders(df))
    keys = [key for key, _ in analyses(table)]
    if len(keys) > 1:
        names = "; ".join(f"{k.comparison} / {k.outcome}" for k in keys)
        raise DataError(
            f"study table, field 'outcome': {len(keys)} analyses ({names}); pass the rows of one"
        )
    return table
