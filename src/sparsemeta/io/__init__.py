"""Reading and writing study data: RevMan 5 files (``.rm5`` XML and CSV analysis exports)
and tidy CSV study tables.

:func:`read_revman` returns a :class:`RevManReview`: the study table of every analysis in
the file (the columns of :mod:`sparsemeta.data`, with the RevMan identifiers kept as extra
columns), each analysis's settings, and the results RevMan computed and stored in the file.
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
