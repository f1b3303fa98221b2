"""``sparsemeta pool``: frequentist meta-analysis of one analysis in a CSV study table.

Examples::

    sparsemeta pool bcg.csv --measure RR --tau2 REML --ci hksj
    sparsemeta pool bcg.csv --measure RR --tau2 REML --leave-one-out --json
    sparsemeta pool bcg.csv --measure RR --tau2 REML --covariate ablat --plot forest.png

The CSV is read as for ``sparsemeta fit`` (a study table; ``comparison`` and ``outcome``
may be omitted; ``--outcome`` picks one analysis of several). Covariate columns may be
numeric (entered as they are) or text (a subgroup factor, dummies against its first level).
Estimates are on the analysis scale (log for ratio measures; ``scale`` in the JSON says
which, and ``ratio`` gives the exponentiated estimate and interval).

Exit status 0 on success, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from sparsemeta import measures
from sparsemeta.errors import DataError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``pool`` subcommand."""
    p = subparsers.add_parser(
        "pool",
        help="frequentist meta-analysis (and meta-regression) of a CSV study table",
        description="Pool one analysis by inverse variance, Mantel-Haenszel or Peto, with "
        "a DerSimonian-Laird, REML or Paule-Mandel tau^2, Wald or Hartung-Knapp intervals; "
        "optionally leave-one-out re-analyses and a meta-regression on covariate columns.",
    )
    p.add_argument("data", help="CSV study table (one analysis, or choose with --outcome)")
    p.add_argument(
        "--measure",
        required=True,
        type=str.upper,
        choices=measures.codes(computable=True),
        help="effect measure (ratio measures are analysed on the log scale)",
    )
    p.add_argument(
        "--method",
        type=str.upper,
        choices=["IV", "MH", "PETO"],
        default="IV",
        help="pooling method (default IV; MH and PETO need 2x2 counts)",
    )
    p.add_argument(
        "--tau2",
        type=str.upper,
        choices=["DL", "REML", "PM"],
        default="DL",
        help="tau^2 estimator of the random-effects model (default DL)",
    )
    p.add_argument(
        "--fixed", action="store_true", help="fixed-effect model instead of random effects"
    )
    p.add_argument(
        "--ci",
        choices=["wald", "hksj"],
        default="wald",
        help="Wald (normal) or Hartung-Knapp-Sidik-Jonkman (t) intervals (default wald)",
    )
    p.add_argument("--level", type=float, default=0.95, help="confidence level (0.95)")
    p.add_argument("--leave-one-out", action="store_true", help="re-analyse without each study")
    p.add_argument(
        "--covariate",
        nargs="+",
        default=[],
        metavar="COL",
        help="meta-regression on these columns (inverse variance, the chosen tau^2 estimator)",
    )
    p.add_argument("--outcome", help="the outcome to pool when the file holds several")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", metavar="FILE", help="write a forest plot (PNG, PDF or SVG)")
    p.set_defaults(run=run)


def _interval(est: float, lo: float, hi: float) -> dict[str, float]:
    return {"estimate": est, "lower": lo, "upper": hi}


def run(args: argparse.Namespace) -> int:
    """Pool the analysis in ``args.data`` and print the result; returns the exit status."""
    from sparsemeta import effects
    from sparsemeta.cli.fit import _read
    from sparsemeta.frequentist import design_matrix, leave_one_out, meta_analysis, meta_regression
    from sparsemeta.present.forest import check_plot_path

    check_plot_path(args.plot)
    if args.covariate and args.method != "IV":
        raise DataError(
            f"--covariate: meta-regression is inverse-variance; drop --method {args.method}"
        )
    if args.fixed and args.ci == "hksj":
        raise DataError("--ci hksj adjusts the random-effects interval; drop --fixed")
    df = _read(args.data, args.outcome, args.measure)
    settings: dict[str, Any] = {
        "method": args.method,
        "random": not args.fixed,
        "tau2_method": args.tau2,
        "ci_method": "hksj" if args.ci == "hksj" else "z",
        "level": args.level,
    }
    # generic effect/se columns are pooled as given (on the log scale for ratio measures)
    pooled = "GENERIC" if "effect" in df.columns else args.measure
    if pooled == "GENERIC" and args.method != "IV":
        raise DataError(
            f"{args.data}: --method {args.method} needs 2x2 counts; the file holds effect/se "
            "columns (use --method IV)"
        )
    result = replace(meta_analysis(df, pooled, **settings), measure=args.measure)
    log = result.log_scale
    record: dict[str, Any] = {
        "measure": args.measure,
        "scale": "log" if log else "identity",
        "method": result.method,
        "model": "random" if result.random else "fixed",
        "tau2_method": result.tau2_method,
        "ci_method": args.ci,
        "level": result.level,
        "k": result.k,
        "estimate": result.estimate,
        "se": result.se,
        "lower": result.ci_low,
        "upper": result.ci_high,
        "z": result.z,
        "p": result.p,
        "tau2": result.tau2,
        "tau": result.tau,
        "i2": result.i2,
        "q": result.chi2,
        "q_df": result.df,
        "q_p": result.p_chi2,
        "prediction": None
        if result.pi_low is None
        else {"lower": result.pi_low, "upper": result.pi_high},
        "studies": result.to_frame().query("study != 'pooled'").to_dict(orient="records"),
        "excluded": [{"study": s, "reason": r} for s, r in result.excluded],
        "coefficients": {
            "intercept": {
                "estimate": result.estimate,
                "se": result.se,
                "lower": result.ci_low,
                "upper": result.ci_high,
            }
        },
        "leave_one_out": None,
    }
    if log:
        record["ratio"] = {
            k: math.exp(v)
            for k, v in (
                ("estimate", result.estimate),
                ("lower", result.ci_low),
                ("upper", result.ci_high),
            )
        }
    texts = [str(result)]
    loo = None
    if args.leave_one_out:
        loo = leave_one_out(df, pooled, **settings)
        record["leave_one_out"] = loo.to_frame().to_dict(orient="records")
        texts.append(str(loo))
    if args.covariate:
        eff = effects.effect_sizes(df, pooled)
        rows = df.set_index(df["study"].astype(str).str.strip()).loc[list(eff.studies)]
        X, names = design_matrix(rows.reset_index(drop=True), args.covariate)
        eff = replace(eff, X=X[:, 1:], covariate_names=names[1:])
        reg = meta_regression(
            eff,
            tau2_method=args.tau2,
            ci_method=settings["ci_method"],
            level=args.level,
            measure=args.measure,
        )
        reg_dict = reg.to_dict()
        record["coefficients"] = reg_dict.pop("coefficients")
        record["regression"] = reg_dict
        texts.append(str(reg))
    if args.plot:
        _plot(result, loo, args.plot, args.measure)
        record["plot"] = args.plot
    if args.json:
        print(json.dumps(_json_safe(record), indent=2, allow_nan=False))
    else:
        print("\n\n".join(texts))
    return 0


def _plot(result: Any, loo: Any, path: str, measure: str) -> None:
    """The forest plot of ``result`` in ``path``; with leave-one-out results, a second file
    ``<stem>-leave-one-out<suffix>``."""
    from sparsemeta.present.forest import save_forest

    save_forest(result, path, measure=measure)
    if loo is not None:
        target = Path(path)
        other = target.with_name(f"{target.stem}-leave-one-out{target.suffix}")
        save_forest(loo, other, measure=measure, title="leave-one-out")


def _json_safe(value: Any) -> Any:
    """:func:`sparsemeta.results.json_safe`, imported when output is written (it loads
    pandas, which the command-line parser must not)."""
    from sparsemeta.results import json_safe

    return json_safe(value)
