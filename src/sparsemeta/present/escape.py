"""User-written text (study labels, outcome and comparison names) made safe for each output.

* CSV: a cell a spreadsheet would run as a formula — text starting with ``=``, ``+``, ``-``,
  ``@``, a tab, a carriage return or a line feed — gets a leading apostrophe, the OWASP
  rule against CSV injection (OWASP, "CSV Injection",
  https://owasp.org/www-community/attacks/CSV_Injection). Text that is a plain number
  (``-0.25``) is left as it is: a spreadsheet reads it as a number and runs nothing.
* Terminal: control characters (C0 except tab and newline, DEL, C1) are written as
  ``\\xNN`` escapes, so a label cannot move the cursor, ring the bell or retitle the window.
* Markdown: ``<`` outside code spans becomes ``&lt;``, so no HTML tag, comment or script
  can start and a label holding ``<script>`` is shown, never run, by a Markdown viewer
  (code spans already show their content literally; ``>`` and ``&`` alone cannot open
  markup and stay readable).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["csv_cell", "csv_frame", "markdown", "terminal"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CODE_SPAN = re.compile(r"(`[^`]*`)")


def csv_cell(value: object) -> object:
    """``value`` with a leading apostrophe if it is text a spreadsheet would execute."""
    if (
        isinstance(value, str)
        and value.startswith(_FORMULA_START)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with :func:`csv_cell` applied to every text cell and column name."""
    from pandas.api.types import is_numeric_dtype

    out = frame.copy()
    for column in out.columns:
        if not is_numeric_dtype(out[column].dtype):
            out[column] = out[column].map(csv_cell)
    out.columns = [csv_cell(c) for c in out.columns]
    return out


def terminal(text: str) -> str:
    """``text`` with control characters (other than tab and newline) as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def markdown(text: str) -> str:
    """``text`` with every ``<`` outside code spans written as ``&lt;``."""
    parts = _CODE_SPAN.split(text)
    return "".join(part if i % 2 else part.replace("<", "&lt;") for i, part in enumerate(parts))
