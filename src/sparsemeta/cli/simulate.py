"""``sparsemeta simulate``: a calibration study of few-study methods.

Example::

    sparsemeta simulate --k 2 --tau 0,0.5,1 --se 0.3:0.8 --reps 2000 \\
        --methods "dl,reml,hksj,mkh,halfnormal(0.5),halfnormal(1.0)" --seed 1 --workers 2

With ``--json`` the standard output is exactly one JSON object::

    {"results": [{"method", "k", "tau", "failed", "coverage", "coverage_se", "width_median",
                  "width_mean", "bias", "rmse", ...}, ...], "fits_per_second", "seconds",
     "failures": [{"method", "k", "tau", "replicate", "data", "error"}, ...], ...}

A replicate whose fit fails (``failed`` in the table) also prints one warning per method on
the standard error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from sparsemeta.errors import DataError

if TYPE_CHECKING:
    from sparsemeta import simulate as sim


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``simulate`` subcommand."""
    p = subparsers.add_parser(
        "simulate",
        help="calibration study: coverage, width, bias of few-study methods",
        description=(
            "Simulate meta-analyses from the normal-normal model (or binary 2x2 tables) and "
            "report coverage of the 95% interval, its width, bias and RMSE per method x k x tau."
        ),
    )
    p.add_argument("--k", default="2", help="numbers of studies, comma-separated (default 2)")
    p.add_argument("--tau", default="0,0.25,0.5,1", help="true tau values (default 0,0.25,0.5,1)")
    p.add_argument("--mu", type=float, default=0.0, help="true overall effect (default 0)")
    p.add_argument(
        "--se",
        help="within-study SEs: fixed values (0.5 or 0.2,0.4) or a range low:high drawn per "
        "study and replicate (default 0.3:0.8 unless --n is given)",
    )
    p.add_argument("--n", help="binary design: patients per arm (one value or one per study)")
    p.add_argument("--risk", type=float, help="binary design: comparator-arm event risk")
    p.add_argument("--reps", type=int, default=2000, help="replicates per cell (default 2000)")
    p.add_argument(
        "--methods",
        default="dl,reml,hksj,mkh,halfnormal(0.5),halfnormal(1.0)",
        help="comma-separated methods: fe, dl, reml, pm, hksj, mkh, <tau2>-<ci>, tau prior "
        "strings such as halfnormal(0.5) (exact normal-normal), and for binary designs "
        "bnhm-exact:<prior> (binomial-normal, exact posterior, tens of ms per replicate) or "
        "bnhm:<prior> (binomial-normal by MCMC; slow)",
    )
    p.add_argument("--mu-prior", help="prior of mu for Bayesian methods (prior string)")
    p.add_argument(
        "--measure",
        help="effect measure of the simulated effects (e.g. RR, ROM): supplies its default "
        "mu prior and, for the method 'default', its default tau prior",
    )
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument(
        "--chunk-size", type=int, default=1000, help="replicates per task (default 1000)"
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="run on a local dask cluster of N workers")
    where.add_argument("--scheduler", help="run on the dask scheduler at this address")
    p.add_argument("--json", action="store_true", help="print one JSON object, no progress bar")
    p.add_argument("--out", help="write the table to this CSV file")
    p.add_argument("--figure", help="write the coverage/width figure to this file (png, pdf, svg)")
    p.set_defaults(run=run)


def design_from_args(args: argparse.Namespace) -> sim.Design:
    """Build the :class:`~sparsemeta.simulate.Design` described by the options."""
    from sparsemeta import simulate as sim

    ks = sim.parse_floats(args.k, "k")
    if any(k != int(k) for k in ks):
        raise DataError(f"k: expected whole numbers, got {args.k!r}")
    se: tuple[float, ...] = ()
    se_range = None
    n_per_arm: tuple[int, ...] = ()
    if args.n is not None:
        sizes = sim.parse_floats(args.n, "n")
        if any(v != int(v) for v in sizes):
            raise DataError(f"n: expected whole numbers, got {args.n!r}")
        n_per_arm = tuple(int(v) for v in sizes)
    if args.se is not None or args.n is None:
        se, se_range = sim.parse_se(args.se if args.se is not None else "0.3:0.8")
    if args.workers is not None and args.workers < 1:
        raise DataError(f"--workers must be >= 1, got {args.workers}")
    return sim.Design(
        k=tuple(int(k) for k in ks),
        taus=sim.parse_floats(args.tau, "tau"),
        reps=args.reps,
        mu=args.mu,
        se=se,
        se_range=se_range,
        n_per_arm=n_per_arm,
        baseline_risk=args.risk,
        seed=args.seed,
        chunk_size=args.chunk_size,
    )


def run(args: argparse.Namespace) -> int:
    """Run the study; print a table (or JSON) and write the requested files."""
    from sparsemeta import simulate as sim
    from sparsemeta.io.output import atomic_path, check_output_path
    from sparsemeta.present import escape

    design = design_from_args(args)
    if args.out:
        check_output_path(args.out)
    if args.figure:
        check_output_path(args.figure, figure=True)
    result = sim.simulate(
        design,
        args.methods,
        mu_prior=args.mu_prior,
        measure=args.measure,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=not args.json and sys.stderr.isatty(),
    )
    if args.out:
        with atomic_path(args.out) as tmp:
            escape.csv_frame(result.table).to_csv(tmp, index=False)
    if args.figure:
        result.plot(args.figure)
    if args.json:
        json.dump(result.to_dict(), sys.stdout)
        sys.stdout.write("\n")
        return 0
    cols = [
        "method",
        "k",
        "tau",
        "replicates_analysed",
        "failed",
        "coverage",
        "coverage_se",
        "width_median",
        "width_mean",
        "bias",
        "rmse",
    ]
    print(result.table[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(
        f"{result.fits} fits in {result.seconds:.2f} s "
        f"({result.fits_per_second:,.0f} fits per second)"
    )
    return 0
