"""Verified on-disk cache entries, shared by the cache of fits (:mod:`sparsemeta.bayes.sample`)
and the cache of compiled models (:mod:`sparsemeta.bayes.compiled`).

An entry is one file: a first line naming its kind (the "magic" line), a JSON header
``{"key": record, "payload_sha256": ..., "payload_bytes": ..., ...}`` on the second line, then
the payload bytes. It is read back only when the header holds exactly the key it is looked up
with and the payload's length and SHA-256 match the header, as content-addressed stores do;
anything else is a broken entry, which the caller rebuilds after one
:class:`~sparsemeta.errors.CacheWarning`. Entries are written to a temporary file in the same
folder, fsynced and renamed into place (:func:`os.replace`), so concurrent processes sharing
the folder see the old entry or the whole new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import warnings
from pathlib import Path
from typing import Any

from sparsemeta.errors import CacheWarning

__all__ = ["cache_dir", "canonical", "notice", "read_entry", "sha256_key", "write_entry"]

#: cache problems already reported in this process (each is reported once)
REPORTED: set[str] = set()


def cache_dir() -> Path:
    """Folder of sparsemeta's on-disk caches (fits; compiled models in ``compiled/``).

    ``$SPARSEMETA_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/sparsemeta``, else
    ``~/.cache/sparsemeta``; it is created when an entry is first written.
    """
    if folder := os.environ.get("SPARSEMETA_CACHE_DIR"):
        return Path(folder)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sparsemeta"


def canonical(record: Any) -> bytes:
    """The JSON bytes of a key record (sorted keys): what entries are compared by."""
    return json.dumps(record, sort_keys=True).encode()


def sha256_key(record: Any) -> str:
    """SHA-256 of :func:`canonical` ``record`` (an entry's file name)."""
    return hashlib.sha256(canonical(record)).hexdigest()


def notice(message: str) -> None:
    """Warn once per process with :class:`~sparsemeta.errors.CacheWarning`."""
    if message not in REPORTED:
        REPORTED.add(message)
        warnings.warn(message, CacheWarning, stacklevel=4)


def read_entry(
    path: Path, magic: bytes, record: Any, subject: str = "key"
) -> tuple[dict[str, Any], bytes] | None:
    """The verified header and payload of the entry at ``path``; ``None`` when there is none
    (``subject`` names what a key stands for in the message of an entry made for another).

    Raises
    ------
    OSError, ValueError
        The entry is broken: not a regular file, another kind of entry, made for another
        key, truncated, or its payload fails the checksum.
    """
    if not os.path.lexists(path):
        return None
    with open(path, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise ValueError("not a regular file")
        raw = fh.read()
    if not raw.startswith(magic):
        raise ValueError("not a sparsemeta cache entry of this kind")
    line, _, payload = raw[len(magic) :].partition(b"\n")
    header = json.loads(line)
    if not isinstance(header, dict) or canonical(header.get("key")) != canonical(record):
        raise ValueError(f"made for another {subject}")
    if len(payload) != header.get("payload_bytes"):
        raise ValueError(
            f"truncated ({len(payload)} of {header.get('payload_bytes')} payload bytes)"
        )
    if hashlib.sha256(payload).hexdigest() != header.get("payload_sha256"):
        raise ValueError("payload checksum mismatch")
    return header, payload


def write_entry(
    path: Path, magic: bytes, record: Any, payload: bytes, extra: dict[str, Any] | None = None
) -> None:
    """Write an entry atomically (temporary file in the same folder, fsync, rename).

    ``extra`` adds fields to the header. Raises :class:`OSError` for a file-system problem
    (the temporary file is removed).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        header = {
            **(extra or {}),
            "key": record,
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
            "payload_bytes": len(payload),
        }
        with os.fdopen(fd, "wb") as fh:
            fh.write(magic + canonical(header) + b"\n")
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
