"""Reading an input file's bytes with errors that name the file."""

from __future__ import annotations

import os
from pathlib import Path

from sparsemeta.errors import DataError


def read_input(path: object, caller: str, error: type[DataError]) -> tuple[str, bytes, bytes]:
    """Read a file given by path for ``caller``.

    Returns
    -------
    name, raw, head
        The path as a string, the file's bytes, and the bytes with a leading UTF-8
        byte-order mark and white space removed (for sniffing the format).

    Raises
    ------
    DataError
        Of the class ``error``: ``path`` is not a path, the file cannot be read, or it is
        empty.
    """
    if not isinstance(path, str | os.PathLike):
        raise error(
            f"{caller}: expected a file path (str or os.PathLike), got {type(path).__name__}"
        )
    name = os.fspath(path)
    try:
        raw = Path(name).read_bytes()
    except OSError as exc:
        raise error(f"{name}: cannot read file ({exc.strerror or exc})") from None
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise error(f"{name}: the file is empty")
    return name, raw, head
