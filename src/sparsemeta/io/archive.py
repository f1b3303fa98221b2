"""Read selected members of a zip archive (optionally one zip nested inside it) or of a folder,
in memory and with size caps, so that hostile input cannot write files, escape a folder or
exhaust memory.

Nothing is extracted to disk. A zip is refused, with one line naming the file and member,
when a member name is absolute or climbs out of the archive (``..``), when a member is
encrypted, when a member to be read declares more than :data:`MAX_MEMBER_BYTES`, expands
more than :data:`MAX_RATIO` times its compressed size (a "zip bomb"), or holds more than it
declares, and when the archive has more than :data:`MAX_MEMBERS` entries. Inside a folder,
symbolic links are refused, hidden folders and folders more than four levels deep are not
searched, and files larger than :data:`MAX_MEMBER_BYTES` are not read.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from sparsemeta.errors import RevManFormatError

__all__ = ["MAX_MEMBERS", "MAX_MEMBER_BYTES", "MAX_RATIO", "read_members"]

#: Largest member (uncompressed) read into memory.
MAX_MEMBER_BYTES = 64 * 2**20
#: Largest expansion factor of a member larger than 1 MiB (uncompressed / compressed).
MAX_RATIO = 200
#: Most entries an archive (or folder walk) may have.
MAX_MEMBERS = 10_000
_SMALL = 2**20
_DEPTH = 4  # folder levels searched (a data package nests its CSV files two deep)


def _unsafe(name: str) -> str | None:
    """Why a member name is unsafe, or ``None``."""
    text = name.replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        return "is an absolute path"
    if ".." in PurePosixPath(text).parts:
        return "climbs out of the archive ('..')"
    if "\x00" in text:
        return "contains a NUL character"
    return None


def _read_zip(
    data: bytes | str,
    label: str,
    wanted: Callable[[str], bool],
    nested: Callable[[str], bool] | None,
    out: dict[str, bytes],
) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise RevManFormatError(f"{label}: not a readable zip archive ({exc})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise RevManFormatError(
                f"{label}: {len(infos)} archive entries, more than the {MAX_MEMBERS} read"
            )
        for info in infos:
            reason = _unsafe(info.filename)
            if reason:
                raise RevManFormatError(
                    f"{label}: member {info.filename!r} {reason}; refused (nothing extracted)"
                )
        for info in infos:
            name = info.filename
            if info.is_dir():
                continue
            inner = nested is not None and nested(name)
            if not (wanted(name) or inner):
                continue
            where = f"{label}: member {name!r}"
            if info.flag_bits & 0x1:
                raise RevManFormatError(f"{where} is encrypted; refused")
            if info.file_size > MAX_MEMBER_BYTES:
                raise RevManFormatError(
                    f"{where} declares {info.file_size} bytes, more than the "
                    f"{MAX_MEMBER_BYTES} read; refused"
                )
            if info.file_size > _SMALL and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise RevManFormatError(
                    f"{where} expands {info.file_size / max(info.compress_size, 1):.0f} times "
                    f"(more than {MAX_RATIO}): a zip bomb; refused"
                )
            try:
                with archive.open(info) as handle:
                    content = handle.read(MAX_MEMBER_BYTES + 1)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
                raise RevManFormatError(f"{where}: cannot be read ({exc})") from None
            except NotImplementedError as exc:
                raise RevManFormatError(f"{where}: unsupported compression ({exc})") from None
            if len(content) > MAX_MEMBER_BYTES:
                raise RevManFormatError(f"{where} holds more than {MAX_MEMBER_BYTES} bytes")
            if inner:
                _read_zip(content, f"{label}!{name}", wanted, None, out)
            else:
                out[f"{label}!{name}"] = content


def _read_folder(
    root: Path,
    wanted: Callable[[str], bool],
    nested: Callable[[str], bool],
    out: dict[str, bytes],
) -> None:
    count = 0
    for folder, dirs, files in os.walk(root, followlinks=False):
        depth = len(Path(folder).relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if depth < _DEPTH else []
        for name in sorted(files) + [d for d in dirs if (Path(folder) / d).is_symlink()]:
            count += 1
            if count > MAX_MEMBERS:
                raise RevManFormatError(f"{root}: more than {MAX_MEMBERS} entries; refused")
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            inner = nested(rel)
            if not (wanted(rel) or inner):
                continue
            where = f"{root}: member {rel!r}"
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                raise RevManFormatError(f"{where} is a symbolic link; refused")
            if not stat.S_ISREG(info.st_mode):  # a FIFO would block the read; a device never ends
                raise RevManFormatError(f"{where} is not a regular file; refused")
            if info.st_size > MAX_MEMBER_BYTES:
                raise RevManFormatError(
                    f"{where} has {info.st_size} bytes, more than the {MAX_MEMBER_BYTES} read"
                )
            try:
                content = path.read_bytes()
            except OSError as exc:
                raise RevManFormatError(f"{where}: cannot be read ({exc.strerror})") from None
            if inner:
                _read_zip(content, f"{root}/{rel}", wanted, None, out)
            else:
                out[f"{root}/{rel}"] = content


def read_members(
    path: str | os.PathLike[str],
    wanted: Callable[[str], bool],
    nested: Callable[[str], bool],
) -> dict[str, bytes]:
    """Read the members ``wanted`` accepts from a zip file or a folder.

    Parameters
    ----------
    path : str or path-like
        A zip file or a folder.
    wanted : callable
        Member name (``/``-separated, relative) → whether to read it.
    nested : callable
        Member name → whether it is a zip to open (in memory, one level deep) and search
        with ``wanted``.

    Returns
    -------
    dict
        ``"<file>!<member>"`` (zip; ``"<file>!<inner zip>!<member>"`` when nested) or
        ``"<folder>/<member>"`` → bytes, in archive order.

    Raises
    ------
    RevManFormatError
        See the module docstring; the message names the file and the member.
    """
    out: dict[str, bytes] = {}
    root = Path(path)
    if root.is_dir():
        _read_folder(root, wanted, nested, out)
    else:
        _read_zip(os.fspath(path), os.fspath(path), wanted, nested, out)
    return out
