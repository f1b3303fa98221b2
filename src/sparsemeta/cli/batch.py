"""``sparsemeta batch``: recompute and Bayesian re-analysis of many RevMan files.

Example::

    sparsemeta batch reviews/ extra.rm5 --priors "halfnormal(0.5),halfnormal(1.0)" \\
        --workers 2 --out results.parquet

Writes one Parquet table (long in priors; columns in :mod:`sparsemeta.review.batch`) and ends with
the number of analyses done and skipped, with reasons. Files that cannot be read are
reported and skipped. With ``--json`` the standard output is one JSON object with the counts
and the skip list.
"""

from __future__ import annotations

import argparse
import json
import sys

from sparsemeta.errors import DataError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``batch`` subcommand."""
    p = subparsers.add_parser(
        "batch",
        help="recompute RevMan files and re-analyse them under Bayesian priors",
        description=(
            "Read every RevMan file given (directories are searched for *.rm5 and RevMan CSV "
            "exports), recompute each analysis with its RevMan settings and re-analyse it with "
            "the Bayesian normal-normal model (exact) under each prior; write one Parquet table."
        ),
    )
    p.add_argument("paths", nargs="+", metavar="DIR_OR_FILE", help="RevMan files or directories")
    p.add_argument(
        "--priors",
        default="default",
        help='comma-separated tau priors; "default" is the measure\'s default prior '
        "(sparsemeta.measures; the default)",
    )
    p.add_argument("--mu-prior", help="prior of mu (default: the measure's default)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="run on a local dask cluster of N workers")
    where.add_argument("--scheduler", help="run on the dask scheduler at this address")
    p.add_argument("--out", required=True, help="Parquet file to write")
    p.add_argument("--json", action="store_true", help="print one JSON object, no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the batch; write the table; report counts (exit 0 even when files were skipped)."""
    from sparsemeta.review import batch

    if args.workers is not None and args.workers < 1:
        raise DataError(f"--workers must be >= 1, got {args.workers}")
    result = batch.reanalyse(
        args.paths,
        args.priors,
        mu_prior=args.mu_prior,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=not args.json and sys.stderr.isatty(),
    )
    result.write(args.out)
    if args.json:
        json.dump({**result.to_dict(), "out": args.out}, sys.stdout)
        sys.stdout.write("\n")
        return 0
    for s in result.skipped:
        where = " / ".join(x for x in (s.analysis_id, s.outcome, s.subgroup, s.prior) if x)
        print(f"skipped: {s.file}{': ' + where if where else ''}: {s.reason}", file=sys.stderr)
    print(
        f"{len(result.files)} files ({result.files_failed} unreadable), "
        f"{result.analyses_done} analyses done, {result.analyses_skipped} skipped; "
        f"{len(result.table)} rows written to {args.out}"
    )
    return 0
