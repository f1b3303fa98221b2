"""Reading and writing study data: RevMan files (``.rm5`` XML, RevMan 5 CSV analysis exports,
Cochrane data packages written by RevMan Web) and tidy CSV study tables.

:func:`read_revman` returns a :class:`RevManReview`: the study table of every analysis in
the file (the columns of :mod:`sparsemeta.data`, with the RevMan identifiers kept as extra
columns), each analysis's settings (including the RevMan version that computed it and, for
data packages, RevMan 2025's random-effects options), and the results RevMan computed and
stored in the file. A Cochrane data package is read from its zip, its inner data zip or an
extracted folder, in memory and with size limits (:mod:`sparsemeta.io.archive`).
:func:`write_revman` writes a study table as a minimal ``.rm5`` file that RevMan-compatible
readers (including :func:`read_revman`) accept. :func:`read_table` reads a comma-separated
file with the study-table columns of :mod:`sparsemeta.data` into a validated study table.
"""

from __future__ import annotations

from sparsemeta.io.revman import (
    RevManAnalysis,
    RevManReview,
    StoredResult,
    read_revman,
    write_revman,
)
from sparsemeta.io.table import read_table

__all__ = [
    "RevManAnalysis",
    "RevManReview",
    "StoredResult",
    "read_revman",
    "read_table",
    "write_revman",
]
