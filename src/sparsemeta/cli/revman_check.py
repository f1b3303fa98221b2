"""``sparsemeta revman-check``: recompute a RevMan review (``.rm5``, RevMan 5 CSV export or
Cochrane data package) and compare with RevMan's stored results.

Exit status: 0 when every comparable outcome and subgroup reproduces; 1 on any mismatch;
2 when the file cannot be read or holds no analyses (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from typing import TYPE_CHECKING, Any

from sparsemeta.present.format import sci

if TYPE_CHECKING:
    from sparsemeta.review.check import CheckEntry, CheckReport

EXAMPLE = "synthetic_sparse.rm5"

_HELP = "recompute every analysis of a RevMan review and compare with RevMan's stored results"
_DESCRIPTION = """\
Read a RevMan review (.rm5; a RevMan 5 CSV "analysis data" export; or a Cochrane data
package written by RevMan Web: the .zip, its inner data zip, or an extracted folder),
recompute every outcome, subgroup and study with the file's own settings (method, effect
measure, fixed/random, totals, RevMan version, and RevMan 2025's random-effects options
where the package records them), and compare with the results RevMan stored: relative
difference <= 1e-9 for estimates, CIs, Z, Chi2, tau2, I2 and weights; absolute <= 1e-6 for
p-values. Rounded stored values (CSV exports: 8 decimals; data packages: 6) are compared at
their printed precision. Levels RevMan marks not estimable, totals switched off, empty
stored results, outcomes without study rows and unsupported outcome types are listed as not
comparable, with the reason."""
_EXAMPLE_HELP = (
    "check the bundled example instead of FILE: a small made-up review (three sparse "
    "outcomes, a zero-cell and a double-zero study, subgroups) whose stored results were "
    "computed by an independent hand calculation, not by RevMan"
)


def add_parser(subparsers: Any) -> None:
    """Register ``revman-check`` on the top-level subcommand parser."""
    p = subparsers.add_parser(
        "revman-check",
        help=_HELP,
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="RevMan .rm5 file, RevMan 5 CSV export, or Cochrane data package (.zip or folder)",
    )
    p.add_argument("--example", action="store_true", help=_EXAMPLE_HELP)
    p.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    p.set_defaults(run=run)


def _line(entry: CheckEntry, width: int) -> str:
    name = entry.outcome if entry.subgroup is None else f"  {entry.subgroup}"
    if len(name) > width:
        name = name[: width - 1] + "…"
    number = entry.analysis_id if entry.subgroup is None else ""
    detail = entry.field or ""
    if entry.status != "reproduced" and entry.reason:
        detail = entry.reason
    return (
        f"{number:<12} {name:<{width}} {entry.status:<15} "
        f"{sci(entry.max_rel_diff):>8} {sci(entry.max_p_diff):>8}  {detail}"
    )


def _table(report: CheckReport) -> str:
    width = 48
    head = (
        f"{'analysis':<12} {'outcome / subgroup':<{width}} {'status':<15} "
        f"{'rel diff':>8} {'p diff':>8}  field or reason"
    )
    lines = [f"RevMan check: {report.file}", head, "-" * len(head)]
    comparison = None
    for entry in report.entries:
        if entry.comparison != comparison:
            comparison = entry.comparison
            lines.append(f"Comparison: {comparison}")
        lines.append(_line(entry, width))
    t = report.totals
    lines.append("-" * len(head))
    tolerance = "relative 1e-9; p-values absolute 1e-6"
    if "rounded_decimals" in report.tolerances:
        tolerance += (
            f"; stored values rounded to {report.tolerances['rounded_decimals']:g} decimals, "
            "compared at that printed precision"
        )
    lines.append(
        f"{t['reproduced']} reproduced, {t['mismatch']} mismatch, "
        f"{t['not_comparable']} not comparable (tolerances: {tolerance})"
    )
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run the check; return 0 (all reproduced), 1 (a mismatch) or 2 (bad invocation)."""
    from sparsemeta.errors import RevManFormatError
    from sparsemeta.io import read_revman
    from sparsemeta.review.check import revman_check

    if args.example == (args.file is not None):
        print(
            "sparsemeta revman-check: error: give either FILE or --example",
            file=sys.stderr,
        )
        return 2
    if args.example:
        with resources.as_file(resources.files("sparsemeta") / "examples_data" / EXAMPLE) as path:
            review = read_revman(path)
    else:
        review = read_revman(args.file)
    if not review.analyses:
        raise RevManFormatError(
            f"{review.path}: the review has no analyses (no outcomes under ANALYSES_AND_DATA); "
            "nothing to check"
        )
    report = revman_check(review)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, allow_nan=False))
    else:
        print(_table(report))
    return 0 if report.ok else 1
