"""Reading an input file's bytes and text with errors that name the file.

Every reader of a user's file goes through :func:`read_input`: only regular files are
read (a directory, a named pipe, a device or a socket is refused up front, before a byte is
read, so a FIFO cannot hang a run and ``/dev/zero`` cannot exhaust memory), and a file
larger than :data:`MAX_INPUT_BYTES` is refused with its size. :func:`decode_text` turns the
bytes into text, naming the line and byte of the first one that is not UTF-8.
"""

from __future__ import annotations

import os
import stat

from sparsemeta.errors import DataError

__all__ = ["MAX_INPUT_BYTES", "decode_text", "read_input"]

#: Largest input file read (bytes): far above any review's data (a large Cochrane review's
#: ``.rm5`` file is a few MiB), far below what would strain memory.
MAX_INPUT_BYTES = 256 * 2**20

_KINDS = (
    (stat.S_ISDIR, "it is a directory"),
    (stat.S_ISFIFO, "it is a named pipe (FIFO), not a regular file"),
    (stat.S_ISCHR, "it is a character device, not a regular file"),
    (stat.S_ISBLK, "it is a block device, not a regular file"),
    (stat.S_ISSOCK, "it is a socket, not a regular file"),
)


def read_input(
    path: object, caller: str, error: type[DataError], *, limit: int = MAX_INPUT_BYTES
) -> tuple[str, bytes, bytes]:
    """Read a regular file given by path for ``caller``.

    The file is opened without blocking and checked with :func:`os.fstat` on the open
    descriptor (no window between the check and the read), then read up to ``limit`` + 1
    bytes.

    Returns
    -------
    name, raw, head
        The path as a string, the file's bytes, and the bytes with a leading UTF-8
        byte-order mark and white space removed (for sniffing the format).

    Raises
    ------
    DataError
        Of the class ``error``: ``path`` is not a path, the file cannot be opened, is not
        a regular file (directory, FIFO, device, socket), is larger than ``limit`` bytes,
        or is empty.
    """
    if not isinstance(path, str | os.PathLike):
        raise error(
            f"{caller}: expected a file path (str or os.PathLike), got {type(path).__name__}"
        )
    name = os.fspath(path)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(name, flags | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise error(f"{name}: cannot read file ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        for test, what in _KINDS:
            if test(info.st_mode):
                raise error(f"{name}: cannot read file ({what})")
        if info.st_size > limit:
            raise error(_too_large(name, info.st_size, limit))
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(2**20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise error(f"{name}: cannot read file ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    raw = b"".join(chunks)
    if len(raw) > limit:
        raise error(_too_large(name, len(raw), limit))
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise error(f"{name}: the file is empty")
    return name, raw, head


def _too_large(name: str, size: int, limit: int) -> str:
    return (
        f"{name}: cannot read file (more than {limit:,} bytes{f': {size:,}' if size > limit else ''}"
        "; larger input files are refused)"
    )


def _position(raw: bytes, offset: int) -> str:
    line = raw.count(b"\n", 0, offset) + 1
    column = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line}: byte 0x{raw[offset]:02x} at byte {column} of the line, offset {offset}"


def decode_text(raw: bytes, name: str, error: type[DataError], save_as: str) -> str:
    """UTF-8 text of ``raw`` (a leading byte-order mark is dropped).

    Raises
    ------
    DataError
        Of the class ``error``, naming the file, the line and the byte: UTF-16 text, a NUL
        byte (a binary file) or bytes that are not UTF-8 (e.g. Latin-1); ``save_as`` ends
        the message (how to save the file as UTF-8).
    """
    utf16 = raw.startswith((b"\xff\xfe", b"\xfe\xff"))
    nul = raw.find(b"\x00")
    if utf16 or nul >= 0:
        at = _position(raw, 0 if utf16 else nul)
        what = "a UTF-16 byte-order mark" if utf16 else "a NUL byte"
        raise error(
            f"{name}, {at} of the file: not UTF-8 text ({what}: UTF-16 text or a binary "
            f"file); {save_as}"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(
            f"{name}, {_position(raw, exc.start)} of the file: not UTF-8 text; {save_as}, "
            "or convert it, e.g. iconv -f latin1 -t utf-8"
        ) from None
