"""``sparsemeta fit``: fit one Bayesian random-effects meta-analysis from a CSV study table.

Examples::

    sparsemeta fit pip_secure.csv --measure RR --tau-prior "halfnormal(0.5)"
    sparsemeta fit pip_secure.csv --measure RR --tau-prior "halfnormal(0.5)" \\
        --model binomial-rr --seed 7 --json
    sparsemeta fit effects.csv --measure OR --tau-prior "turner2015()" --mu-prior flat

The CSV holds the columns of a study table (:mod:`sparsemeta.data`): ``study`` and either
``events_t, n_t, events_c, n_c`` or ``mean_t, sd_t, n_t, mean_c, sd_c, n_c`` or generic
``effect, se`` on the analysis scale (log for ratio measures). ``comparison`` and
``outcome`` may be omitted; a file with several analyses needs ``--outcome``.

Engines: ``exact`` (quadrature, :mod:`sparsemeta.bayes.exact`; normal-normal model only, the
default for it) and ``mcmc`` (:func:`sparsemeta.bayes.sample.fit` with nutpie; the default for the
binomial and arm-level models). Exit status 0 on success, 1 when an MCMC fit fails the
diagnostics gate (the numbers are still printed, with the failure on stderr), 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from typing import TYPE_CHECKING, Any

from sparsemeta import measures
from sparsemeta.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from sparsemeta.bayes.priors import MuPriorLike, TauPriorLike

_PROBS = {"q025": 0.025, "q50": 0.5, "q975": 0.975}


_COLUMNS_HELP = """\
CSV columns (a header row; one row per study):
  study                                   study label (required)
  events_t, n_t, events_c, n_c            binary data: events and arm sizes, treatment
                                          and control (RR, OR, RD)
  mean_t, sd_t, n_t, mean_c, sd_c, n_c    continuous data (MD, SMD)
  effect, se, log_scale                   generic: effect and standard error on the
                                          analysis scale (log for RR and OR);
                                          log_scale (true/false) is optional
  comparison, outcome                     optional labels; a file with several outcomes
                                          needs --outcome"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``fit`` subcommand."""
    p = subparsers.add_parser(
        "fit",
        help="fit one Bayesian random-effects meta-analysis from a CSV study table",
        description="Fit the normal-normal (exact or MCMC), binomial-normal (log OR), "
        "binomial-rr (log RR, Warn et al. 2002) or arm-normal (MD) model to one analysis "
        "and print mu, tau, theta_new and the shrunken study effects (for ratio measures "
        "also on the ratio scale, with P(ratio < 1)), and every continuity correction applied.",
        epilog=_COLUMNS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("data", help="CSV study table (one analysis, or choose with --outcome)")
    p.add_argument(
        "--measure",
        required=True,
        type=str.upper,
        choices=measures.codes(),
        help="effect measure (ratio measures are analysed on the log scale)",
    )
    p.add_argument(
        "--tau-prior",
        default=None,
        help='tau prior, e.g. "halfnormal(0.5)" (default: the measure\'s default, '
        "sparsemeta.measures.TABLE; MD and generic effects have none)",
    )
    p.add_argument(
        "--mu-prior",
        default=None,
        help='mu prior: "normal(0, 10)" or "flat" (default: the documented default for the '
        "measure, sparsemeta.bayes.priors.mu_prior_default)",
    )
    p.add_argument(
        "--model",
        default="normal-normal",
        choices=["normal-normal", "binomial-normal", "binomial-rr", "arm-normal"],
        help="model family (default normal-normal)",
    )
    p.add_argument(
        "--engine",
        choices=["exact", "mcmc"],
        default=None,
        help="exact (normal-normal only; its default) or mcmc (default for the other models)",
    )
    p.add_argument("--outcome", help="the outcome to fit when the file holds several")
    p.add_argument("--seed", type=int, default=0, help="random seed of the MCMC (default 0)")
    p.add_argument("--draws", type=int, default=1000, help="MCMC draws per chain (1000)")
    p.add_argument("--tune", type=int, default=1000, help="MCMC warm-up per chain (1000)")
    p.add_argument("--chains", type=int, default=4, help="MCMC chains (4)")
    p.add_argument(
        "--threshold",
        type=float,
        action="append",
        default=[],
        help="effect threshold on the analysis scale for P(beyond); repeatable",
    )
    p.add_argument(
        "--covariate",
        action="extend",
        nargs="+",
        default=[],
        metavar="COL",
        help="meta-regression on these columns (numeric as is, text as subgroup dummies); "
        'adds "coefficients" (intercept with the mu prior, other coefficients flat)',
    )
    p.add_argument(
        "--leave-one-out",
        action="store_true",
        help='exact posterior of mu and tau without each study (normal-normal model); adds "leave_one_out"',
    )
    p.add_argument(
        "--model-average",
        action="store_true",
        help="exact Bayesian model averaging over common/random effects x no effect/effect "
        '(normal-normal model, equal prior probabilities); adds "model_average"',
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no MCMC progress bars (they are shown only when stderr is a terminal)",
    )
    p.add_argument(
        "--plot",
        metavar="FILE",
        help="write a forest plot (observed and shrunken study effects, mu, theta_new; "
        ".png, .pdf or .svg)",
    )
    p.set_defaults(run=run)


def _read(path: str, outcome: str | None, measure: str) -> pd.DataFrame:
    """Read the CSV (:func:`sparsemeta.io.read_table`; the label columns and, for generic
    data, ``log_scale`` may be left out) and select one analysis."""
    from sparsemeta.io.table import read_table

    df = read_table(
        path,
        defaults={
            "comparison": "comparison",
            "outcome": "outcome",
            "log_scale": measures.lookup(measure).log_scale,
        },
    )
    if outcome is not None:
        df = df[df["outcome"].astype(str) == outcome]
        if df.empty:
            raise DataError(f"{path}: no rows with outcome {outcome!r}")
    elif df["outcome"].nunique() > 1:
        names = ", ".join(map(repr, dict.fromkeys(df["outcome"].astype(str))))
        raise DataError(f"{path}: several outcomes ({names}); choose one with --outcome")
    return df.reset_index(drop=True)


def _quantiles(dist: Any) -> dict[str, float]:
    out = {name: float(dist.quantile(p)) for name, p in _PROBS.items()}
    out.update(mean=float(dist.mean), sd=float(dist.sd))
    return out


def _draw_quantiles(values: np.ndarray) -> dict[str, float]:
    import numpy as np

    out = {name: float(np.quantile(values, p)) for name, p in _PROBS.items()}
    out.update(mean=float(np.mean(values)), sd=float(np.std(values, ddof=1)))
    return out


def _head(
    family: str,
    engine: str,
    measure: str,
    tau_prior: TauPriorLike,
    mu_prior: MuPriorLike,
    labels: list[str],
    excluded: pd.DataFrame,
) -> dict[str, Any]:
    return {
        "model": family,
        "engine": engine,
        "measure": measure,
        "tau_prior": str(tau_prior),
        "mu_prior": "flat" if mu_prior is None else str(mu_prior),
        "k": len(labels),
        "studies": list(labels),
        "excluded": excluded.to_dict(orient="records"),
    }


def _run_exact(
    args: argparse.Namespace, df: pd.DataFrame, mu_prior: Any
) -> tuple[dict[str, Any], str, bool]:
    import pandas as pd

    from sparsemeta import data
    from sparsemeta.bayes import dominance, exact
    from sparsemeta.effects import as_effects

    events = None
    if args.model in ("binomial-normal", "binomial-rr"):
        code = "OR" if args.model == "binomial-normal" else "RR"
        if args.measure != code:
            raise DataError(
                f"fit: model {args.model} analyses the {code} scale, not {args.measure}"
            )
        tab = data.single_analysis(df)
        if data.data_type(tab) != "binary":
            raise DataError(f"fit: model {args.model} needs binary data (events_t, n_t, ...)")
        labels = tab["study"].astype(str).tolist()
        cols = [tab[c].to_numpy() for c in data.BINARY_COLUMNS]
        events = (cols[0], cols[2])
        from sparsemeta.bayes import exact_binomial, exact_binomial_rr  # scipy: only here

        engine = exact_binomial if args.model == "binomial-normal" else exact_binomial_rr
        post = engine.posterior(*cols, args.tau_prior, mu_prior, labels)
        measure, excluded = code, pd.DataFrame({"study": [], "reason": []})
        corrections: list[dict[str, Any]] = []
    else:
        eff = as_effects(df, args.measure, where="fit").require("fit")
        measure, labels = eff.measure.code, list(eff.studies)
        excluded = pd.DataFrame(list(eff.excluded), columns=["study", "reason"])
        post = exact.posterior(eff, tau_prior=args.tau_prior, mu_prior=mu_prior)
        corrections = _corrections(df, measure, labels)
    args.fitted = post  # for --plot
    record = _head(args.model, "exact", measure, args.tau_prior, mu_prior, labels, excluded)
    record["corrections"] = corrections
    kl = post.kl_tau() if getattr(post.tau_prior, "proper", True) else None
    record["prior_dominated"] = dominance.reasons(len(labels), events, kl)
    record.update(
        mu=_quantiles(post.mu),
        tau=_quantiles(post.tau),
        theta_new=_quantiles(post.theta_new),
        theta={lab: _quantiles(post.theta[lab]) for lab in labels},
        p_mu_lt_0=post.prob("mu", "<", 0.0),
        p_mu_beyond={f"{t:g}": post.prob("mu", "<" if t < 0 else ">", t) for t in args.threshold},
        diagnostics=None,
    )
    if args.model in ("binomial-normal", "binomial-rr"):
        return record, "exact binomial posterior (quadrature over mu and tau; no sampling)", True
    return record, "exact posterior (quadrature over tau; no sampling)", True


def _run_mcmc(
    args: argparse.Namespace, df: pd.DataFrame, mu_prior: Any
) -> tuple[dict[str, Any], str, bool]:
    import numpy as np

    from sparsemeta.bayes import sample
    from sparsemeta.errors import DiagnosticsWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DiagnosticsWarning)
        result = sample.sample(
            df,
            args.measure,
            model=args.model,
            tau_prior=args.tau_prior,
            mu_prior=mu_prior,
            draws=args.draws,
            tune=args.tune,
            chains=args.chains,
            seed=args.seed,
            covariates=tuple(args.covariate),
            progress=not (args.json or args.quiet) and sys.stderr.isatty(),
        )
    for w in caught:
        if not issubclass(w.category, DiagnosticsWarning):
            print(f"sparsemeta fit: warning: {' '.join(str(w.message).split())}", file=sys.stderr)
    args.fitted = result  # for --plot
    post = result.idata.posterior
    mu = post["mu"].values.ravel()
    record = _head(
        result.family or args.model,
        "mcmc",
        result.measure or args.measure,
        result.tau_prior,
        result.mu_prior,
        result.labels,
        result.excluded,
    )
    binomial = (result.family or args.model) != "normal-normal"
    record["corrections"] = [] if binomial else _corrections(df, record["measure"], result.labels)
    record.update(
        mu=_draw_quantiles(mu),
        tau=_draw_quantiles(post["tau"].values.ravel()),
        theta_new=_draw_quantiles(post["theta_new"].values.ravel()),
        theta={
            lab: _draw_quantiles(post["theta"].sel(study=lab).values.ravel())
            for lab in result.labels
        },
        p_mu_lt_0=result.prob("mu", "<", 0.0),
        p_mu_beyond={f"{t:g}": result.prob("mu", "<" if t < 0 else ">", t) for t in args.threshold},
        diagnostics=result.diagnostics.to_dict(),
        sampler={
            **result.settings,
            "backend": result.engine,
            "cached": result.cached,
            "from_disk": result.from_disk,
            "compile_seconds": result.compile_seconds,
            "sampling_seconds": result.sampling_seconds,
        },
        crosscheck=None if result.crosscheck is None else result.crosscheck.to_dict(),
        prior_dominated=list(result.prior_dominated),
    )
    if args.covariate:
        coefs = {"intercept": mu}
        for name in post["beta"]["covariate"].values:
            coefs[str(name)] = post["beta"].sel(covariate=name).values.ravel()
        record["_coefficients"] = {
            name: {
                "mean": float(np.mean(v)),
                "median": float(np.median(v)),
                "lower": float(np.quantile(v, 0.025)),
                "upper": float(np.quantile(v, 0.975)),
            }
            for name, v in coefs.items()
        }
    d = result.diagnostics
    text = (
        f"MCMC ({result.engine}): {result.settings['chains']} chains x "
        f"{result.settings['draws']} draws after {result.settings['tune']} warm-up, seed "
        f"{result.settings['seed']}; divergences {d.divergences}, max R-hat {d.r_hat_max:.3f}, "
        f"min ESS bulk {d.ess_bulk_min:.0f}, tail {d.ess_tail_min:.0f} -> "
        + ("passed" if d.passed else "FAILED: " + "; ".join(d.failures))
    )
    if result.crosscheck is not None:
        text += "\ncross-check: " + result.crosscheck.message()
    return record, text, d.passed


def run(args: argparse.Namespace) -> int:
    """Fit the analysis in ``args.data`` and print the summary; returns the exit status."""
    from sparsemeta.bayes import priors

    t0 = time.perf_counter()
    engine = args.engine or ("exact" if args.model == "normal-normal" else "mcmc")
    if engine == "exact" and args.model not in ("normal-normal", "binomial-normal", "binomial-rr"):
        raise DataError(
            f"the exact engine fits the normal-normal, binomial-normal and binomial-rr models; use "
            f"--engine mcmc for {args.model}"
        )
    from sparsemeta.measures import MEASURE_OF_FAMILY

    scale = MEASURE_OF_FAMILY.get(args.model, args.measure)
    args.tau_prior_default = args.tau_prior is None
    args.tau_prior = priors.tau_prior(args.tau_prior, scale)
    mu_prior = priors.mu_prior(args.mu_prior, scale)
    if args.plot:  # matplotlib is imported only when a plot is asked for
        from sparsemeta.present.forest import check_plot_path

        check_plot_path(args.plot)
    df = _read(args.data, args.outcome, args.measure)
    if (args.leave_one_out or args.model_average) and args.model != "normal-normal":
        raise DataError(
            "--leave-one-out and --model-average use the exact normal-normal model; "
            f"drop them or use --model normal-normal (not {args.model})"
        )
    runner = _run_exact if engine == "exact" else _run_mcmc
    record, engine_line, passed = runner(args, df, mu_prior)
    record["tau_prior_default"] = args.tau_prior_default
    record["mu_prior_default"] = args.mu_prior is None
    _add_ratio_scale(record)
    extras = _extras(args, df, mu_prior, engine, record)
    if args.plot:
        from sparsemeta.present.forest import save_forest

        save_forest(args.fitted, args.plot, measure=record["measure"])
        record["plot"] = args.plot
    record["seconds"] = time.perf_counter() - t0
    if args.json:
        print(json.dumps(_json_safe(record), indent=2, allow_nan=False))
    else:
        print(_text(record, engine_line) + extras)
    if not passed:
        failures = "; ".join(record["diagnostics"]["failures"])
        print(
            f"sparsemeta fit: diagnostics gate FAILED ({failures}); do not report these "
            "numbers: increase --tune/--draws, or use --engine exact for the normal-normal "
            "model",
            file=sys.stderr,
        )
        return 1
    return 0


def _extras(
    args: argparse.Namespace,
    df: pd.DataFrame,
    mu_prior: MuPriorLike,
    engine: str,
    record: dict[str, Any],
) -> str:
    """Add the ``coefficients``, ``leave_one_out`` and ``model_average`` fields asked for;
    returns their text."""
    if not (args.covariate or args.leave_one_out or args.model_average):
        return ""
    import numpy as np

    from sparsemeta.bayes import averaging, leave_one_out, regression
    from sparsemeta.effects import as_effects
    from sparsemeta.frequentist import design_matrix

    mu = None if getattr(mu_prior, "name", None) == "flat" else mu_prior
    texts = []
    if args.covariate and engine == "mcmc":
        record["coefficients"] = record.pop("_coefficients")
        texts.append("coefficients: " + json.dumps(_json_safe(record["coefficients"])))
    if (args.covariate and engine == "exact") or args.leave_one_out or args.model_average:
        eff = as_effects(df, args.measure, where="fit").require("fit")
        y, se, labels = eff.y, eff.se, list(eff.studies)
    if args.covariate and engine == "exact":
        kept = df.set_index(df["study"].astype(str)).loc[labels].reset_index(drop=True)
        X, names = design_matrix(kept, args.covariate)
        sd = np.full(len(names), np.inf)
        mean = np.zeros(len(names))
        if mu is not None:
            mean[0], sd[0] = mu.mean, mu.sd
        post = regression.regression(y, se, X, args.tau_prior, (mean, sd), labels, names)
        record["coefficients"] = post.coefficients()
        texts.append(str(post))
    if args.leave_one_out:
        loo = leave_one_out.leave_one_out(y, se, args.tau_prior, mu, labels)
        record["leave_one_out"] = loo.records()
        texts.append(str(loo))
    if args.model_average:
        bma = averaging.model_average(y, se, args.tau_prior, mu, labels)
        record["model_average"] = bma.to_dict()
        texts.append(str(bma))
    return "".join("\n" + t for t in texts)


def _corrections(df: pd.DataFrame, measure: str, labels: list[str]) -> list[dict[str, Any]]:
    """The continuity corrections RevMan 5's rules applied to the studies kept in the model.

    One record per corrected study: ``study``, ``added`` (0.5), ``reason`` and ``text``
    (e.g. "0.5 added to all cells of Beta 2021 (zero events in the treatment arm)").
    """
    if not {"events_t", "n_t", "events_c", "n_c"} <= set(df.columns):
        return []
    from sparsemeta import effects

    eff = effects.effect_sizes(df, measure).to_frame()
    if "cc_added" not in eff.columns:
        return []
    out = []
    kept = set(labels)
    for i, row in eff.iterrows():
        if not row["estimable"] or row["cc_added"] <= 0 or str(row["study"]) not in kept:
            continue
        src = df.loc[i]
        cells = {
            "zero events in the treatment arm": src["events_t"] == 0,
            "zero events in the control arm": src["events_c"] == 0,
            "every treatment-arm participant had the event": src["events_t"] == src["n_t"],
            "every control-arm participant had the event": src["events_c"] == src["n_c"],
        }
        reason = "; ".join(name for name, hit in cells.items() if hit)
        added = float(row["cc_added"])
        out.append(
            {
                "study": str(row["study"]),
                "added": added,
                "reason": reason,
                "text": f"{added:g} added to all cells of {row['study']} ({reason})",
            }
        )
    return out


def _exp(x: float) -> float:
    """exp(x); beyond the float range infinity (written "Infinity" in JSON), not an error."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _add_ratio_scale(record: dict[str, Any]) -> None:
    """For ratio measures: the ratio-scale quantiles of mu and theta_new and P(ratio < 1)."""
    row = measures.get(record["measure"])
    record["scale"] = f"log {record['measure']}" if row and row.log_scale else record["measure"]
    if row is None or not row.log_scale:
        return
    record["ratio"] = {
        name: {q: _exp(record[name][q]) for q in _PROBS} for name in ("mu", "theta_new")
    }
    record["p_ratio_lt_1"] = record["p_mu_lt_0"]


def _default_note(record: dict[str, Any], key: str) -> str:
    return f" (the default for {record['measure']})" if record.get(key) else ""


def _text(record: dict[str, Any], engine_line: str) -> str:
    """The same layout for both engines: head, corrections, one table, probabilities."""
    measure, scale = record["measure"], record["scale"]
    lines = [
        f"{record['model']} model, {measure}, k = {record['k']}; tau prior "
        f"{record['tau_prior']}{_default_note(record, 'tau_prior_default')}; mu prior "
        f"{record['mu_prior']}{_default_note(record, 'mu_prior_default')}",
        f"engine: {engine_line}",
    ]
    if record["corrections"]:
        lines += [f"correction: {c['text']}" for c in record["corrections"]]
    elif record["model"] != "normal-normal":
        lines.append("correction: none (binomial likelihood; zero cells need no correction)")
    else:
        lines.append("correction: none")
    lines += [f"excluded: {row['study']}: {row['reason']}" for row in record["excluded"]]
    rows: list[tuple[str, dict[str, float], bool]] = [(f"mu ({scale})", record["mu"], True)]
    if "ratio" in record:
        rows.append((f"{measure} = exp(mu)", record["ratio"]["mu"], False))
    rows.append((f"tau ({scale} scale)", record["tau"], True))
    rows.append((f"theta_new ({scale})", record["theta_new"], True))
    if "ratio" in record:
        rows.append((f"{measure} in a new study", record["ratio"]["theta_new"], False))
    rows += [(f"theta[{lab}] ({scale})", q, True) for lab, q in record["theta"].items()]
    width = max(len(name) for name, _, _ in rows)
    lines.append(f"{'':<{width}}  {'median':>9}  {'95% CrI':<21}  {'mean':>9}  {'sd':>9}")

    def num(x: float) -> str:
        return f"{x:>9.4g}"

    for name, q, moments in rows:
        interval = f"[{q['q025']:.4g}, {q['q975']:.4g}]"
        tail = f"{num(q['mean'])}  {num(q['sd'])}" if moments else f"{'-':>9}  {'-':>9}"
        lines.append(f"{name:<{width}}  {num(q['q50'])}  {interval:<21}  {tail}")
    if "ratio" in record:
        lines.append(f"P({measure} < 1) = P(mu < 0) = {record['p_ratio_lt_1']:.4f}")
    else:
        lines.append(f"P(mu < 0) = {record['p_mu_lt_0']:.4f}")
    for t, p in record["p_mu_beyond"].items():
        op = "<" if float(t) < 0 else ">"
        lines.append(f"P(mu {op} {t}) = {p:.4f}")
    if record.get("prior_dominated"):
        lines.append("PRIOR-DOMINATED: " + "; ".join(record["prior_dominated"]))
    return "\n".join(lines)


def _json_safe(value: Any) -> Any:
    """:func:`sparsemeta.results.json_safe`, imported when output is written (it loads
    pandas, which the command-line parser must not)."""
    from sparsemeta.results import json_safe

    return json_safe(value)
