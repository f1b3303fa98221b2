"""Where each study row came from, and what a reproduction of its analysis then shows.

A study table may carry a free-text ``provenance`` column (the bundled PIP data set does,
:func:`sparsemeta.datasets.pip_barlow2015`). Its leading words classify the row:

========================  =================================================================
source                    provenance text begins with
========================  =================================================================
``"published"``           ``trial report``, ``published``, ``table`` or ``RevMan``: the
                          counts are printed in a trial report or the review's tables
``"reconstructed"``       ``reconstructed``: the counts were recovered from the review's
                          printed pooled estimates (e.g. by searching for the 2x2 tables that
                          reproduce them)
``"inferred"``            ``inferred``: the counts were inferred from other sources and were
                          never checked against a published pooled estimate
``"unstated"``            anything else, or no ``provenance`` column
========================  =================================================================

Recomputing a published pooled estimate from *reconstructed* rows cannot fail by
construction: it shows that the data are consistent with the printed result, not that the
result was reproduced from independent data. :func:`reproduction` says which of the two a
``"reproduced"`` status means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = [
    "CONSISTENT",
    "INDEPENDENT",
    "SOURCES",
    "SOURCE_TEXT",
    "count_sources",
    "reproduction",
    "source_of",
]

#: the sources a study row can have, in the order reports list them
SOURCES: tuple[str, ...] = ("published", "reconstructed", "inferred", "unstated")

#: how a report names each source
SOURCE_TEXT: dict[str, str] = {
    "published": "from a published table",
    "reconstructed": "reconstructed from the published estimates",
    "inferred": "inferred, unverified",
    "unstated": "source not stated",
}

_PUBLISHED_PREFIXES = ("trial report", "published", "table", "revman")

#: what a status means given the sources of the study rows behind it
INDEPENDENT = "reproduced from independent study data"
CONSISTENT = "consistent: study data reconstructed from the published estimate"


def source_of(provenance: object) -> str:
    """Classify one row's ``provenance`` text as one of :data:`SOURCES`.

    >>> source_of("reconstructed: the ONLY pair of 2x2 tables ...")
    'reconstructed'
    >>> source_of("inferred, unverified: trial-report source data ...")
    'inferred'
    >>> source_of("trial report (AHRQ evidence-report appendix ...)")
    'published'
    >>> source_of(None)
    'unstated'
    """
    if not isinstance(provenance, str):
        return "unstated"
    text = provenance.strip().lower()
    if text.startswith("reconstructed"):
        return "reconstructed"
    if text.startswith("inferred"):
        return "inferred"
    if text.startswith(_PUBLISHED_PREFIXES):
        return "published"
    return "unstated"


def count_sources(provenance: Iterable[object]) -> dict[str, int]:
    """Number of rows of each source (every key of :data:`SOURCES`, zeros included)."""
    counts = dict.fromkeys(SOURCES, 0)
    for text in provenance:
        counts[source_of(text)] += 1
    return counts


def reproduction(status: str, counts: Mapping[str, int]) -> str:
    """What an analysis's status means once the sources of its study rows are known.

    Parameters
    ----------
    status : str
        The analysis status of :mod:`sparsemeta.review.reproduce` (``"reproduced"``,
        ``"likely-typo"``, ``"mismatch"``, ``"no-data"``, ``"not-published"``).
    counts : mapping
        :func:`count_sources` of the analysis's study rows.

    Returns
    -------
    str
        For ``"reproduced"``: :data:`CONSISTENT` when any row was reconstructed from the
        published estimates, :data:`INDEPENDENT` when every row is from a published table,
        else ``"reproduced (source of the study data not stated)"``; the same after
        ``"likely-typo; "`` for ``"likely-typo"``.
        For ``"not-published"`` with inferred rows: ``"not checkable: inferred study data,
        no published estimate"``. Otherwise the status itself.
    """
    if status in ("reproduced", "likely-typo"):
        prefix = "" if status == "reproduced" else f"{status}; "
        if counts.get("reconstructed", 0):
            return prefix + CONSISTENT
        if counts.get("published", 0) and sum(counts.values()) == counts["published"]:
            return prefix + INDEPENDENT
        return f"{status} (source of the study data not stated)"
    if status == "not-published" and counts.get("inferred", 0):
        return "not checkable: inferred study data, no published estimate"
    return status
