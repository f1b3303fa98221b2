"""``sparsemeta priors``: list the tau-prior library with sources, or describe one prior.

Examples::

    sparsemeta priors                      # table of every prior in the library
    sparsemeta priors --json               # the same as a JSON array of objects
    sparsemeta priors "halfnormal(0.5)"    # what this prior says about tau (log-OR scale)
    sparsemeta priors "rhodes2015()" --scale SMD --json
"""

from __future__ import annotations

import argparse
import json

from sparsemeta import measures
from sparsemeta.bayes import priors

#: longest line of the listing
_WIDTH = 100


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``priors`` subcommand."""
    p = subparsers.add_parser(
        "priors",
        help="list the tau-prior library with sources, or describe one prior",
        description="Without PRIOR: list every named tau prior (canonical string, family, "
        "parameters, scale it was derived for, source). With PRIOR: median, 95% quantile, "
        "P(tau > 0.5), P(tau > 1) and the implied 97.5% quantile of theta_i - mu.",
    )
    p.add_argument("prior", nargs="?", help='a prior string, e.g. "halfnormal(0.5)"')
    p.add_argument(
        "--scale",
        default="logOR",
        choices=measures.describe_scales(),
        help="effect scale for the description (default logOR)",
    )
    p.add_argument("--family", help="list only priors whose name is this (e.g. turner2015)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """List the library or describe ``args.prior``; returns the exit status."""
    from sparsemeta.errors import PriorError

    if args.prior:
        summary = priors.describe(priors.parse(args.prior), scale=args.scale)
        print(json.dumps(summary.to_dict(), indent=2) if args.json else summary)
        return 0
    table = priors.library()
    if args.family:
        if args.family not in set(table["name"]):
            raise PriorError(
                f"unknown prior family {args.family!r}; valid names: "
                f"{', '.join(dict.fromkeys(table['name']))}"
            )
        table = table[table["name"] == args.family]
    if args.json:
        print(
            json.dumps(
                table.drop(columns="reference").to_dict(orient="records"),
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    import textwrap

    refs = list(dict.fromkeys(table["reference"]))
    for row in table.itertuples(index=False):
        ref = refs.index(row.reference) + 1
        entry = f"{row.string}  ({row.family}; {row.parameters}; for the {row.scale} scale) [{ref}]"
        print(textwrap.fill(entry, width=_WIDTH, subsequent_indent="    ", break_long_words=False))
    print()
    for i, ref in enumerate(refs, start=1):
        print(textwrap.fill(f"[{i}] {ref}", width=_WIDTH, subsequent_indent="    "))
    return 0
