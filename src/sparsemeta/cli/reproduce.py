"""``sparsemeta reproduce``: recompute a review's analyses, compare with the published results,
fit the Bayesian models and write a report.

Examples::

    sparsemeta reproduce                          # the bundled PIP review (Barlow et al. 2015)
    sparsemeta reproduce my_review.toml --out report/
    sparsemeta reproduce --json > result.json     # the result as one JSON document

Exit status: 0 when every analysis with data reproduces (a printed secondary statistic
identified as a likely typo leaves its analysis reproduced; it is flagged with both values)
and every MCMC fit passes the diagnostics gate; 1 otherwise; 2 for a bad plan,
unreadable data or an unusable --out (one line on stderr); 130 / 143 when interrupted by
SIGINT / SIGTERM (the earlier report, if any, is left whole; no temporary folder stays).

--out is replaced whole by the new report. A folder holding files that no sparsemeta
report wrote is refused before any work unless --force is given (then they are deleted).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparsemeta.errors import DataError

if TYPE_CHECKING:
    from sparsemeta.review import plan as plan_mod
    from sparsemeta.review.reproduce import ReproduceResult

#: plan used when none is given
DEFAULT_PLAN = "pip_barlow2015"
#: output folder used when none is given
DEFAULT_OUT = "sparsemeta-report"

_DESCRIPTION = """\
Recompute every analysis of an analysis plan with the review's RevMan 5 settings and
compare with the published results at printed precision; fit the exact normal-normal
posterior under each tau prior of the plan and the binomial-likelihood model by MCMC;
run the data checks; write a report (Markdown, self-contained HTML, figures, CSV tables,
NetCDF of the MCMC fits) into --out. Finished MCMC fits are kept on disk and an identical
later fit loads their draws instead of sampling again (--no-cache to sample afresh). PLAN is a plan file (TOML, docs/plan-format.md) or
the name of a plan shipped with sparsemeta; default: the parent-infant psychotherapy
review (Barlow et al. 2015, Cochrane CD010534)."""


def add_parser(subparsers: Any) -> None:
    """Register ``reproduce`` on the top-level subcommand parser."""
    p = subparsers.add_parser(
        "reproduce",
        help="reproduce a review's analyses and write a report",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "plan",
        nargs="?",
        default=DEFAULT_PLAN,
        metavar="PLAN",
        help=f"plan file or packaged plan name (default: {DEFAULT_PLAN})",
    )
    p.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"report folder (default: {DEFAULT_OUT}/)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace --out even if it holds files that are not part of a sparsemeta report "
        "(they are deleted); without it such a folder is refused",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the result as one JSON document instead of the summary table",
    )
    p.add_argument(
        "--no-mcmc",
        action="store_true",
        help="skip the MCMC fits (exact normal-normal posteriors only; much faster)",
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="sample every MCMC fit afresh instead of reusing identical fits kept on disk "
        "by an earlier run (cache folder: $SPARSEMETA_CACHE_DIR, else ~/.cache/sparsemeta)",
    )
    p.set_defaults(run=run)


def _load(spec: str) -> plan_mod.Plan:
    """A plan from a file path, or else from the packaged plans by name."""
    from sparsemeta.review import plan as plan_mod

    path = Path(spec)
    if path.suffix == ".toml" or path.exists():
        return plan_mod.load(path)
    return plan_mod.load(plan_mod.packaged(spec))


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(result: ReproduceResult, out: Path) -> str:
    from sparsemeta.present import report
    from sparsemeta.present.format import interval, short_prior_label

    default = result.plan.default_prior.label
    name = short_prior_label(result.plan.default_prior.prior, with_scale=False)
    width = min(max(len(a.analysis.label) for a in result.analyses), 76)
    head = (
        f"{'analysis':<{width}} {'status':<13} {'published':<20} {'reproduced':<20} "
        f"Bayes pooled effect, {name} (ratio for RR/OR)"
    )
    lines = [f"{result.plan.title} ({result.plan.id})", head, "-" * len(head)]
    for a in result.analyses:
        pub, rec = a.published, a.reproduced_values()
        published = (
            f"{pub['estimate']} [{pub['ci_low']}, {pub['ci_high']}]" if "estimate" in pub else "-"
        )
        reproduced = "-"
        if rec.get("estimate") is not None:
            reproduced = interval(rec["estimate"], rec["ci_low"], rec["ci_high"])
        b = a.exact.get(default)
        bayes = interval(*report.bayes_quantiles(b, "mu")) if b else "-"
        lines.append(
            f"{_short(a.analysis.label, width):<{width}} {a.status:<13} {published:<20} "
            f"{reproduced:<20} {bayes}"
        )
    lines += [
        "-" * len(head),
        result.headline(),
        *_provenance_lines(result),
        f"{len(result.findings)} data findings; {result.seconds:.1f} s",
        f"report: {out / 'report.html'} (also report.md, CSV tables, figures)",
    ]
    return "\n".join(lines)


def _provenance_lines(result: ReproduceResult) -> list[str]:
    """One line on where the study rows came from, when the data say (the report's first
    section has the table)."""
    from sparsemeta import data
    from sparsemeta.review import provenance

    studies = result.plan.studies()
    if "provenance" not in studies.columns:
        return []
    keys = {a.key for a in result.analyses}
    texts = [t for key, rows in data.analyses(studies) if key in keys for t in rows["provenance"]]
    n = provenance.count_sources(texts)
    if not n["reconstructed"] and not n["inferred"]:
        return []
    return [
        f"data provenance: {n['published']} study rows from a published table, "
        f"{n['reconstructed']} reconstructed from the published estimates, {n['inferred']} "
        "inferred; an analysis on reconstructed rows is consistent with the review, not "
        "reproduced from independent data (see the report's Data provenance section)"
    ]


def _check_out(out: Path, force: bool) -> None:
    """Refuse an unusable --out before any work is done, naming the option."""
    from sparsemeta.present import report

    try:
        report.check_destination(out, force=force)
    except DataError as exc:
        raise DataError(f"--out {exc}") from None


def run(args: argparse.Namespace) -> int:
    """Reproduce, write the report, print the summary or JSON; return the exit status."""
    from tqdm import tqdm

    from sparsemeta.present import report
    from sparsemeta.review.reproduce import reproduce

    previous = Path(args.out).is_dir() and any(Path(args.out).iterdir())
    args.kept = f"nothing written{f' (the report in {args.out} is unchanged)' if previous else ''}"
    plan = _load(args.plan)
    _check_out(Path(args.out), args.force)

    def published(folder: Path) -> None:
        args.kept = f"the new report in {folder} is complete"

    quiet = args.json or not sys.stderr.isatty()
    total = len(plan.analyses)
    with tqdm(total=total, desc="reproduce", file=sys.stderr, disable=quiet, leave=False) as bar:

        def step(text: str) -> None:
            bar.set_description(_short(text, 40))
            bar.update(1)

        result = reproduce(plan, mcmc=not args.no_mcmc, progress=step, cache=not args.no_cache)
        bar.total = total + report.report_steps(result)
        bar.refresh()
        out = report.write_report(
            result, args.out, progress=step, force=args.force, on_published=published
        )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    else:
        print(_table(result, out))
    problems = report.failed(result)
    for line in problems:
        print(f"sparsemeta reproduce: {line}", file=sys.stderr)
    return 1 if problems else 0
