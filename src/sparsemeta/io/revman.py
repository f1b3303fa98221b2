"""Read RevMan 5 reviews (``.rm5`` or CSV export) and write study tables as ``.rm5``."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping

import pandas as pd

from sparsemeta.errors import RevManFormatError
from sparsemeta.io.datapackage import parse_datapackage
from sparsemeta.io.files import read_input
from sparsemeta.io.review import RevManAnalysis, RevManReview, StoredResult
from sparsemeta.io.revman_csv import parse_csv
from sparsemeta.io.rm5 import parse_rm5, write_rm5

__all__ = ["RevManAnalysis", "RevManReview", "StoredResult", "read_revman", "write_revman"]


def read_revman(path: str | os.PathLike[str]) -> RevManReview:
    """Read a RevMan review: ``.rm5``, a RevMan 5 CSV "analysis data" export, or a Cochrane
    data package (RevMan Web: the zip, its inner data zip, or an extracted folder).

    The format is recognised from the content (XML starts with ``<``, a zip with ``PK``; a
    folder is a data package), not the file name.

    Parameters
    ----------
    path : str or path-like
        The file or (data package) folder.

    Returns
    -------
    RevManReview
        ``.studies`` is the study table of every analysis (:mod:`sparsemeta.data` columns,
        group 1 as ``_t``, group 2 as ``_c``, plus ``study_id``, ``study_name``, ``year``,
        ``analysis_id``, ``comparison_no``, ``outcome_no``, ``subgroup_no``, ``order``,
        ``footnote``, ``source``); ``.analyses`` holds each outcome's settings, its rows and
        RevMan's stored results.

    Raises
    ------
    RevManFormatError
        ``path`` is not a path; the file cannot be opened, is empty, is not well-formed XML or a RevMan CSV export,
        contains entity declarations or external references (refused, never expanded or
        fetched), or holds invalid study data. The message names the file and, where
        possible, the line.

    Notes
    -----
    Study labels come from the review's ``STUDY_ID`` → ``NAME`` mapping. A label repeated
    inside one subgroup (the same study entered twice, e.g. two arms against one control)
    is numbered: ``"Smith 2000 #1"``, ``"Smith 2000 #2"``; ``study_name`` keeps the name.
    """
    if isinstance(path, str | os.PathLike):
        if os.path.isdir(path):
            return parse_datapackage(path)
        magic = b""  # not a regular file, or unreadable: read_input reports it
        try:
            if stat.S_ISREG(os.stat(path).st_mode):  # never open a FIFO or device to sniff
                with open(path, "rb") as handle:
                    magic = handle.read(4)
        except OSError:
            pass
        if magic in (b"PK\x03\x04", b"PK\x05\x06"):  # a zip: never read whole into memory
            return parse_datapackage(path)
    name, raw, head = read_input(path, "read_revman", RevManFormatError)
    if head.startswith(b"<"):
        return parse_rm5(raw, name)
    return parse_csv(raw, name)


def write_revman(
    studies: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    title: str = "Review written by sparsemeta",
    attributes: Mapping[tuple[str, ...], Mapping[str, object]] | None = None,
) -> None:
    """Write a study table as a minimal RevMan 5 ``.rm5`` file.

    One ``COMPARISON`` per comparison label, one outcome element per analysis (``DICH``,
    ``CONT`` or ``IV`` by data type), one ``*_SUBGROUP`` per subgroup label, and a ``STUDY``
    entry mapping a generated ID to each study label. No results are computed or stored
    unless given in ``attributes``. Within an analysis, rows are written grouped by subgroup
    (in order of first appearance), as RevMan nests studies inside subgroups.

    Parameters
    ----------
    studies : pandas.DataFrame
        A study table (validated with :func:`sparsemeta.data.study_table`). Timepoints are
        not representable in RevMan; a table that uses them is refused.
    path : str or path-like
        Output file (UTF-8 XML).
    title : str
        Review title.
    attributes : mapping, optional
        Extra or overriding XML attributes: key ``(comparison, outcome)`` for an outcome
        element (e.g. ``{"METHOD": "MH", "EFFECT_MEASURE": "OR", "RANDOM": True,
        "TOTALS": "SUB", "EFFECT_SIZE": 0.81}``), ``(comparison, outcome, subgroup)`` for a
        subgroup element, ``(comparison, outcome, subgroup or None, study)`` for a study row
        (e.g. stored per-study ``EFFECT_SIZE``, ``WEIGHT``, ``ESTIMABLE``). Booleans are
        written ``YES``/``NO``, floats with full precision (``repr``).
        Defaults: binary M-H risk ratio, continuous mean difference, generic inverse
        variance; fixed effect; ``TOTALS="YES"``.

    Raises
    ------
    DataError
        If the table is not a valid study table.
    RevManFormatError
        If the table uses timepoints.
    """
    write_rm5(studies, path, title=title, attributes=attributes or {})
