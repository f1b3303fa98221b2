"""The ``sparsemeta`` command line.

Each subcommand lives in its own module of this package and provides two functions:
``add_parser(subparsers)`` (registers the subcommand and its options) and
``run(args) -> int`` (does the work and returns the exit status).

Exit status: 0 success; 1 the job ran but its check failed (e.g. a mismatch or a fit
that failed the diagnostics gate); 2 bad input or an unreadable file (one-line message
on stderr, never a traceback); 130 / 143 interrupted by SIGINT / SIGTERM (one line saying
what was kept; temporary files are removed); 141 (128 + SIGPIPE) when the reader of
standard output went away (``sparsemeta ... --json | head``), silently. Warnings are printed
as one line each, ``sparsemeta COMMAND: warning: MESSAGE``, without Python's source path.

Building the parser imports no numerical library: a subcommand's module imports what it
needs inside ``run``, so ``sparsemeta --help`` starts in a fraction of a second.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from sparsemeta.errors import SparsemetaError
from sparsemeta.present.escape import terminal

#: subcommand name -> module in this package
COMMANDS: dict[str, str] = {
    "fit": "fit",
    "pool": "pool",
    "simulate": "simulate",
    "batch": "batch",
    "priors": "priors",
    "revman-check": "revman_check",
    "reproduce": "reproduce",
}


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="sparsemeta",
        description="Bayesian random-effects meta-analysis for sparse data.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS.values():
        importlib.import_module(f"sparsemeta.cli.{module}").add_parser(sub)
    return parser


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived: unwinds like Ctrl-C, so every ``finally`` cleans up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt(signum: int, _frame: object) -> None:
    # a second signal must not cut the clean-up short
    for other in (signal.SIGINT, signal.SIGTERM):
        signal.signal(other, signal.SIG_IGN)
    raise Interrupted(signum)


class _Escaped:
    """A text stream that writes control characters as ``\\xNN`` (labels in a table or
    summary cannot drive the terminal); everything else is the wrapped stream's."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(terminal(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def _signals_and_warnings(command: str) -> Iterator[None]:
    """SIGINT/SIGTERM raise :class:`Interrupted`; warnings print as one line on stderr;
    control characters on stdout are escaped (:func:`sparsemeta.present.escape.terminal`)."""
    handlers = {}
    if threading.current_thread() is threading.main_thread():
        handlers = {s: signal.signal(s, _interrupt) for s in (signal.SIGINT, signal.SIGTERM)}

    def show(message: Warning | str, *_args: object, **_kwargs: object) -> None:
        text = " ".join(str(message).split())
        print(terminal(f"sparsemeta {command}: warning: {text}"), file=sys.stderr)

    stdout, sys.stdout = sys.stdout, _Escaped(sys.stdout)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            yield
    finally:
        sys.stdout = stdout
        for s, handler in handlers.items():
            signal.signal(s, handler)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sparsemeta`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _signals_and_warnings(args.command):
            status = int(args.run(args))
            sys.stdout.flush()
            return status
    except BrokenPipeError:
        # the reader closed the pipe (e.g. `| head`): stop quietly; point stdout at
        # /dev/null so that the interpreter's final flush does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        kept = getattr(args, "kept", None) or "nothing written"
        name = signal.Signals(signum).name
        print(f"sparsemeta {args.command}: interrupted ({name}); {kept}", file=sys.stderr)
        return 128 + signum
    except SparsemetaError as exc:
        print(terminal(f"sparsemeta {args.command}: error: {exc}"), file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        print(terminal(f"sparsemeta {args.command}: error: {exc}"), file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
