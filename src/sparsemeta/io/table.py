"""Read a tidy study table from a CSV file (the columns of :mod:`sparsemeta.data`).

The file is UTF-8 text (a byte-order mark is allowed), comma-separated, with a header line
holding the study-table column names (``comparison, outcome, study``, optional
``subgroup, timepoint``, and the data columns of one or more data types); any other column
is carried through as text. Cells are read as text and converted here, so that a bad cell
is reported with its line, study and column rather than as a parser error:

* label and extra columns: the text as written; an empty cell is missing (``None``);
* numeric columns: a plain decimal number (``12``, ``-0.5``, ``1e-3``); an empty cell or
  ``NA``/``NaN``/``N/A`` (any case) is missing;
* ``log_scale``: ``TRUE``/``FALSE`` (any case); an empty cell is missing.

The resulting frame is then validated by :func:`sparsemeta.data.study_table`.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Mapping, Sequence

import pandas as pd

from sparsemeta import data
from sparsemeta.errors import DataError
from sparsemeta.io.files import decode_text, read_input

__all__ = ["read_table", "read_text_table"]

_REQUIRED = ("comparison", "outcome", "study")
_DATA_COLUMNS: dict[str, tuple[str, ...]] = {
    "binary": data.BINARY_COLUMNS,
    "continuous": data.CONTINUOUS_COLUMNS,
    "generic": data.GENERIC_COLUMNS,
}
_NUMERIC = frozenset((*data.BINARY_COLUMNS, *data.CONTINUOUS_COLUMNS, "effect", "se"))
_MISSING = frozenset(("", "na", "nan", "n/a"))
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DELIMITERS = {";": "';'", "\t": "a tab", "|": "'|'"}
_TYPES = "; ".join(f"{kind}: {', '.join(columns)}" for kind, columns in _DATA_COLUMNS.items())


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _decode(raw: bytes, name: str) -> str:
    return decode_text(raw, name, DataError, "save the file as UTF-8 CSV (in Excel: 'CSV UTF-8')")


def _records(text: str, name: str) -> list[tuple[int, list[str]]]:
    """The non-blank CSV records with the line each starts on."""
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    records = []
    line = 1
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                records.append((line, record))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{name}, line {reader.line_num}: not valid CSV ({exc})") from None
    return records


def _check_header(header: list[str], where: str, filled: Mapping[str, object]) -> None:
    seen: dict[str, int] = {}
    for position, column in enumerate(header, start=1):
        if not column:
            continue
        if column in seen:
            raise DataError(
                f"{where}: column {column!r} appears twice (columns {seen[column]} and {position})"
            )
        seen[column] = position
    missing = [c for c in _REQUIRED if c not in seen and c not in filled]
    if missing:
        found = ", ".join(repr(_shorten(c)) for c in list(seen)[:12])
        found += ", ..." if len(seen) > 12 else ""
        joined = ",".join(header)
        delimiter = next((d for d in _DELIMITERS if d in joined), None)
        if delimiter is not None:
            raise DataError(
                f"{where}: expected comma-separated columns ({', '.join(_REQUIRED)}, "
                f"...), found {len(seen)} column(s): {found}; is the delimiter "
                f"{_DELIMITERS[delimiter]}? Save the file with commas between columns"
            )
        hint = ""
        if "comparison number" in (c.lower() for c in header):
            hint = "; this looks like a RevMan 5 CSV export: read it with io.read_revman"
        raise DataError(
            f"{where}: missing column(s) {', '.join(map(repr, missing))}; a study "
            f"table needs {', '.join(_REQUIRED)} and the data columns of one data type "
            f"({_TYPES}); found {found}{hint}"
        )
    gaps = {
        kind: [c for c in columns if c not in seen and c not in filled]
        for kind, columns in _DATA_COLUMNS.items()
    }
    if all(gaps.values()):
        present = {k: len(_DATA_COLUMNS[k]) - len(v) for k, v in gaps.items()}
        kind = max(present, key=lambda k: present[k])
        if not present[kind]:
            raise DataError(
                f"{where}: no data columns; the data columns of each data type are: {_TYPES}"
            )
        raise DataError(
            f"{where}: missing column(s) {', '.join(map(repr, gaps[kind]))} for "
            f"{kind} data; the data columns of each data type are: {_TYPES}"
        )


def _number(text: str, where: str, column: str) -> float:
    value = text.strip()
    if value.lower() in _MISSING:
        return float("nan")
    if not _NUMBER.fullmatch(value):
        hint = " (decimal comma? write 1.5, not 1,5)" if "," in value else ""
        raise DataError(f"{where}, field {column!r}: {_shorten(value)!r} is not a number{hint}")
    return float(value)


def _flag(text: str, where: str) -> bool | None:
    value = text.strip().lower()
    if value == "":
        return None
    if value in ("true", "false"):
        return value == "true"
    raise DataError(f"{where}, field 'log_scale': must be TRUE or FALSE, got {_shorten(text)!r}")


def read_table(
    path: str | os.PathLike[str], *, defaults: Mapping[str, object] | None = None
) -> pd.DataFrame:
    """Read a study table from a comma-separated UTF-8 file and validate it.

    Parameters
    ----------
    path : str or path-like
        The CSV file: a header line with the study-table column names of
        :mod:`sparsemeta.data`, then one line per study per analysis. Cells are converted
        as the module documentation says (extra columns stay text).
    defaults : mapping, optional
        Columns the file may leave out, with the value every row then gets (e.g. the
        label columns of a file holding one analysis).

    Returns
    -------
    pandas.DataFrame
        The validated, normalised study table (:func:`sparsemeta.data.study_table`), rows
        in file order with a fresh ``RangeIndex``.

    Raises
    ------
    DataError
        Naming the file and, where possible, the line, the study and the column: ``path``
        is not a path or cannot be read; the file is empty, XML (a RevMan ``.rm5`` file:
        use :func:`sparsemeta.io.read_revman`), not UTF-8 (the line and byte), not valid
        CSV, or has a header without the study-table columns (with a hint when the
        delimiter looks like ``;`` or a tab), a duplicate or unnamed column, a line with
        the wrong number of fields, no studies, an empty label, a cell that is not a
        number or not TRUE/FALSE; or the table fails :func:`sparsemeta.data.study_table`.
    """
    name, raw, head = read_input(path, "read_table", DataError)
    if head.startswith(b"<"):
        raise DataError(
            f"{name}: this is XML (a RevMan .rm5 file?), not a comma-separated study table; "
            "read RevMan files with io.read_revman"
        )
    records = _records(_decode(raw, name), name)
    header_at = f"{name}, line {records[0][0]}"
    header = [cell.strip() for cell in records[0][1]]
    rows = records[1:]
    unnamed = [i for i, c in enumerate(header) if not c]
    for i in unnamed:
        used = next((n for n, r in rows if i < len(r) and r[i].strip()), None)
        if used is not None:
            raise DataError(
                f"{header_at}: column {i + 1} has no name but line {used} has a value in it"
            )
    filled = {k: v for k, v in (defaults or {}).items() if k not in header}
    _check_header(header, header_at, filled)
    if not rows:
        raise DataError(f"{name}: the file has a header line but no studies")
    columns: dict[str, list[object]] = {c: [] for c in header if c}
    for line, record in rows:
        if len(record) != len(header):
            raise DataError(
                f"{name}, line {line}: {len(record)} fields where the header has "
                f'{len(header)} (a label with a comma must be quoted: "Smith, 2001")'
            )
        cells = dict(zip(header, record, strict=True))
        for label in (c for c in _REQUIRED if c in cells):
            if not cells[label].strip():
                raise DataError(
                    f"{name}, line {line}, field {label!r}: empty; every row needs "
                    f"{', '.join(_REQUIRED)} labels"
                )
        where = f"{name}, line {line}, study {cells['study']!r}"
        for column, values in columns.items():
            text = cells[column]
            if column in _NUMERIC:
                values.append(_number(text, where, column))
            elif column == "log_scale":
                values.append(_flag(text, where))
            else:
                values.append(text if text.strip() else None)
    for column, value in filled.items():
        columns[column] = [value] * len(rows)
    try:
        return data.study_table(pd.DataFrame(columns))
    except DataError as exc:
        raise DataError(f"{name}: {exc}") from None


def read_text_table(
    path: str | os.PathLike[str],
    required: Sequence[str],
    *,
    numeric: Sequence[str] = (),
    caller: str = "read_text_table",
) -> pd.DataFrame:
    """Read a comma-separated UTF-8 file of text cells (e.g. a published-results table).

    Parameters
    ----------
    path : str or path-like
        The CSV file: a header line, then one record per line (blank lines skipped).
    required : sequence of str
        Columns the header must have.
    numeric : sequence of str
        Columns (where present) converted to numbers: a plain decimal number, or empty /
        ``NA`` / ``NaN`` / ``N/A`` for missing.
    caller : str
        Named in the message when ``path`` is not a path.

    Returns
    -------
    pandas.DataFrame
        One column per header name, text cells as written (an empty cell is ``""``), the
        ``numeric`` columns as floats; rows in file order with a fresh ``RangeIndex``.

    Raises
    ------
    DataError
        Naming the file and, where possible, the line and column: not a regular file, too
        large, empty, not UTF-8, not valid CSV, a duplicate or unnamed column, a missing
        required column, a line with the wrong number of fields, a cell of a ``numeric``
        column that is not a number.
    """
    name, raw, _ = read_input(path, caller, DataError)
    records = _records(_decode(raw, name), name)
    header_at = f"{name}, line {records[0][0]}"
    header = [cell.strip() for cell in records[0][1]]
    seen: dict[str, int] = {}
    for position, column in enumerate(header, start=1):
        if not column:
            raise DataError(f"{header_at}: column {position} has no name")
        if column in seen:
            raise DataError(
                f"{header_at}: column {column!r} appears twice (columns {seen[column]} and "
                f"{position})"
            )
        seen[column] = position
    missing = [c for c in required if c not in seen]
    if missing:
        raise DataError(
            f"{header_at}: missing column(s) {', '.join(map(repr, missing))}; found "
            f"{', '.join(repr(_shorten(c)) for c in header[:12])}"
        )
    columns: dict[str, list[object]] = {c: [] for c in header}
    for line, record in records[1:]:
        if len(record) != len(header):
            raise DataError(
                f"{name}, line {line}: {len(record)} fields where the header has "
                f'{len(header)} (a text with a comma must be quoted: "Smith, 2001")'
            )
        for column, text in zip(header, record, strict=True):
            if column in numeric:
                columns[column].append(_number(text, f"{name}, line {line}", column))
            else:
                columns[column].append(text)
    return pd.DataFrame(columns, dtype=object).astype({c: float for c in numeric if c in columns})
