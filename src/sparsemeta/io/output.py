"""Writing output files: refuse an unusable path before any work, and write atomically
(temporary file beside the target, then rename) so a failed run leaves no partial file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sparsemeta.errors import DataError

__all__ = ["atomic_path", "check_output_path"]


def check_output_path(path: str | os.PathLike[str], *, figure: bool = False) -> None:
    """Check that ``path`` can be an output file, before any work is done.

    Parameters
    ----------
    path : str or path-like
        The file to be written.
    figure : bool, default False
        ``path`` is a figure: its extension must be a format matplotlib can write.

    Raises
    ------
    DataError
        The folder of ``path`` does not exist (or is not a folder), or, for a figure, the
        extension is missing or not a format matplotlib supports (the message lists them).
    """
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise DataError(f"cannot write {str(path)!r}: the folder {str(folder)!r} does not exist")
    if figure:
        from matplotlib.backend_bases import FigureCanvasBase

        formats = FigureCanvasBase.get_supported_filetypes()
        ext = target.suffix.lower().removeprefix(".")
        if ext not in formats:
            problem = (
                f"extension {ext!r} is not a figure format matplotlib can write"
                if ext
                else "no extension to name the figure format"
            )
            raise DataError(
                f"figure {str(path)!r}: {problem}; use one of {', '.join(sorted(formats))}"
            )


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path`` atomically.

    The temporary file keeps ``path``'s suffix (so writers that pick a format from it work)
    and is removed if the block raises.

    Raises
    ------
    DataError
        Naming ``path`` (not the temporary file) when its folder does not exist or the
        temporary file cannot be created there.
    """
    target = Path(path)
    check_output_path(target)
    try:
        fd, tmp = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=target.suffix
        )
    except OSError as exc:
        raise DataError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
