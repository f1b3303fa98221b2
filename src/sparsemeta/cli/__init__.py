"""The ``sparsemeta`` command line.

Each subcommand lives in its own module of this package and provides two functions:
``add_parser(subparsers)`` (registers the subcommand and its options) and
``run(args) -> int`` (does the work and returns the exit status).

Exit status: 0 success; 1 the job ran but its check failed (e.g. a mismatch or a fit
that failed the diagnostics gate); 2 bad input or an unreadable file (one-line message
on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from sparsemeta.errors import SparsemetaError

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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sparsemeta`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except SparsemetaError as exc:
        print(f"sparsemeta {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        print(f"sparsemeta {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
