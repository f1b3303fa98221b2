"""``sm.forest(result)``: a forest plot of any sparsemeta result in one call.

The rows are read from the result's own tables — ``summary()`` (columns ``param, study,
median, lower, upper``) and the per-study observed effects — and drawn by
:func:`sparsemeta.present.plots.forest`:

* frequentist :class:`~sparsemeta.frequentist.MetaResult`: studies (CI, weight), pooled
  diamond, prediction interval, heterogeneity and overall-effect lines;
* exact :class:`~sparsemeta.bayes.exact.ExactPosterior` and MCMC
  :class:`~sparsemeta.bayes.sample.FitResult`: studies with their shrunken estimates
  (hollow circles), the posterior of μ as a diamond, θ_new as the prediction interval and
  the posterior of τ;
* :class:`~sparsemeta.bayes.sensitivity.PriorComparison`: studies, then μ and θ_new under
  each τ prior;
* leave-one-out results (frequentist :class:`~sparsemeta.frequentist.influence.LeaveOneOut`
  and any result whose ``summary()`` has ``mu`` rows labelled with the omitted study): the
  estimate without each study, then the estimate with all.

Ratio measures are drawn on the ratio scale with a logarithmic axis.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sparsemeta import measures
from sparsemeta.errors import DataError
from sparsemeta.present import plots
from sparsemeta.present.format import fmt, short_prior_label
from sparsemeta.present.plots import ForestRow

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["check_plot_path", "forest", "save_forest"]

_BAYES = "#1f77b4"


def _summary(result: Any) -> pd.DataFrame:
    """The ``param, study, median, lower, upper`` columns of a result's protocol summary."""
    return result.summary()[["param", "study", "median", "lower", "upper"]]


def _row(table: pd.DataFrame, param: str) -> tuple[float, float, float] | None:
    hit = table[(table["param"] == param) & table["study"].isna()]
    if hit.empty:
        return None
    r = hit.iloc[0]
    return float(r["median"]), float(r["lower"]), float(r["upper"])


def _observed(result: Any) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Study labels, observed effects and standard errors of a Bayesian result."""
    if hasattr(result, "idata"):
        idata = result.idata
        data = {**idata.constant_data.data_vars}
        if "observed_data" in idata.groups():
            data.update(idata.observed_data.data_vars)
        labels = [str(s) for s in idata.constant_data["study"].values]
        if "y" in data and "se" in data:
            return labels, data["y"].values, data["se"].values
        if "events_t" in data:  # binomial models: the study's own estimate (RevMan rules)
            from sparsemeta import effects

            cells = (data[c].values for c in ("events_t", "n_t", "events_c", "n_c"))
            fn = effects.log_rr if result.measure == "RR" else effects.log_or
            est, var = fn(*cells)
            return labels, np.asarray(est, float), np.sqrt(np.asarray(var, float))
        if "mean_t" in data:  # arm-level normal model: mean difference
            est = data["mean_t"].values - data["mean_c"].values
            return labels, est, np.hypot(data["se_t"].values, data["se_c"].values)
        raise DataError("forest: the fit holds no study data to draw")
    return [str(s) for s in result.labels], np.asarray(result.y), np.asarray(result.se)


def _study_rows(
    labels: list[str],
    y: np.ndarray,
    se: np.ndarray,
    log: bool,
    shrunk: pd.DataFrame | None = None,
    weights: dict[str, float] | None = None,
) -> list[ForestRow]:
    f = math.exp if log else float
    rows = []
    for lab, yi, si in zip(labels, y, se, strict=True):
        lo, hi = yi - 1.959963984540054 * si, yi + 1.959963984540054 * si
        note = f"{fmt(f(yi))} [{fmt(f(lo))}, {fmt(f(hi))}]"
        weight = (weights or {}).get(lab, math.nan)
        if math.isfinite(weight):
            note += f"   {weight:.1f}%"
        s = None
        if shrunk is not None:
            hit = shrunk[shrunk["study"] == lab]
            if not hit.empty:
                r = hit.iloc[0]
                s = (float(r["median"]), float(r["lower"]), float(r["upper"]))
                note += f"\nshrunken {fmt(f(s[0]))} [{fmt(f(s[1]))}, {fmt(f(s[2]))}]"
        rows.append(ForestRow(lab, "study", yi, lo, hi, note, weight, _BAYES, s))
    return rows


def _text(est: tuple[float, float, float], log: bool) -> str:
    f = math.exp if log else float
    return f"{fmt(f(est[0]))} [{fmt(f(est[1]))}, {fmt(f(est[2]))}]"


def _bayes_rows(table: pd.DataFrame, log: bool, name: str, color: str) -> list[ForestRow]:
    rows = []
    mu = _row(table, "mu")
    if mu is not None:
        rows.append(
            ForestRow(f"μ, {name}", "pooled", *mu, _text(mu, log) + " (95% CrI)", color=color)
        )
    new = _row(table, "theta_new")
    if new is not None:
        rows.append(
            ForestRow(f"new study (θ_new), {name}", "predict", *new, _text(new, log), color=color)
        )
    return rows


def _tau_line(table: pd.DataFrame) -> str:
    tau = _row(table, "tau")
    if tau is None:
        return ""
    return f"τ: median {tau[0]:.3g} [95% CrI {tau[1]:.3g}, {tau[2]:.3g}]"


def _frequentist(result: Any) -> tuple[list[ForestRow], str, str]:
    log = result.log_scale
    frame = result.to_frame()
    studies = frame[frame["study"] != "pooled"]
    weights = dict(zip(studies["study"], studies["weight"], strict=True))
    ok = np.isfinite(studies["yi"].to_numpy(float))
    rows = _study_rows(
        studies["study"][ok].tolist(),
        studies["yi"][ok].to_numpy(float),
        studies["se"][ok].to_numpy(float),
        log,
        weights=weights,
    )
    rows += [ForestRow(s, "excluded", note=f"not estimable: {why}") for s, why in result.excluded]
    model = "Random" if result.random else "Fixed"
    how = result.method + (f", τ² {result.tau2_method}" if result.random else "")
    if result.ci_method != "z":
        how += f", {result.ci_method.upper()}"
    pooled = (result.estimate, result.ci_low, result.ci_high)
    rows.append(
        ForestRow(f"{model} effects ({how})", "pooled", *pooled, _text(pooled, log), color="k")
    )
    if result.pi_low is not None:
        f = math.exp if log else float
        rows.append(
            ForestRow(
                "prediction interval",
                "predict",
                result.estimate,
                result.pi_low,
                result.pi_high,
                f"[{fmt(f(result.pi_low))}, {fmt(f(result.pi_high))}]",
                color="0.3",
            )
        )
    else:
        rows.append(ForestRow("prediction interval", "text", note=result.pi_note))
    het = (
        f"Heterogeneity: τ² = {result.tau2:.3g}; Chi² = {result.chi2:.2f}, df = {result.df} "
        f"(p = {result.p_chi2:.2g}); I² = {result.i2:.0f}%"
    )
    test = "t" if result.ci_method != "z" else "Z"
    overall = f"Test for overall effect: {test} = {abs(result.z):.2f} (p = {result.p:.2g})"
    return rows, het + "\n" + overall, "estimate [95% CI]   weight"


def _leave_one_out(result: Any, log: bool) -> tuple[list[ForestRow], str, str]:
    from sparsemeta.frequentist.analysis import MetaResult

    table = _summary(result)
    omitted = table[(table["param"] == "mu") & table["study"].notna()]
    rows = [
        ForestRow(
            f"omitting {r.study}",
            "study",
            r.median,
            r.lower,
            r.upper,
            _text((r.median, r.lower, r.upper), log),
        )
        for r in omitted.itertuples(index=False)
    ]
    full = getattr(result, "full", None)
    footer = ""
    if isinstance(full, MetaResult):
        pooled = (full.estimate, full.ci_low, full.ci_high)
        rows.append(ForestRow("all studies", "pooled", *pooled, _text(pooled, log), color="k"))
        footer = f"All studies: τ² = {full.tau2:.3g}; I² = {full.i2:.0f}%"
    else:
        rows += _bayes_rows(table, log, "all studies", _BAYES)
        footer = _tau_line(table)
    return rows, footer, "estimate [95% interval]"


def _measure(result: Any, measure: str | None) -> str | None:
    return measure or getattr(result, "measure", None)


def forest(
    result: Any,
    *,
    measure: str | None = None,
    favours: tuple[str, str] | None = ("favours experimental", "favours control"),
    title: str = "",
    ax: Any = None,
) -> Figure:
    """Forest plot of any sparsemeta result.

    Parameters
    ----------
    result
        A :class:`~sparsemeta.frequentist.MetaResult`, an exact posterior, an MCMC fit, a
        prior comparison or a leave-one-out result (see the module notes).
    measure : str, optional
        The effect measure when the result does not carry one (an exact posterior):
        ratio measures (RR, OR, HR) are drawn on a logarithmic ratio axis.
    favours : (str, str) or None
        Labels left and right of the line of no effect; ``None`` for none.
    title : str
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    DataError
        A result of a kind this function cannot draw.
    """
    from sparsemeta.bayes.sensitivity import PriorComparison
    from sparsemeta.frequentist.analysis import MetaResult

    m = _measure(result, measure)
    own = getattr(result, "log_scale", None)  # results that know their scale say it
    log = bool(own) if isinstance(own, bool) else bool(m and measures.is_ratio(m.upper()))
    footer = ""
    if isinstance(result, MetaResult):
        rows, footer, header = _frequentist(result)
    elif hasattr(result, "omitted") or _is_leave_one_out(result):
        rows, footer, header = _leave_one_out(result, log)
    elif isinstance(result, PriorComparison):
        rows = _study_rows(list(result.labels), result.y, result.se, log)
        colors = plots.prior_colors(list(result.posteriors))
        for label, post in result.posteriors.items():
            name = short_prior_label(result.priors[label])
            rows += _bayes_rows(_summary(post), log, name, colors[label])
        header = "median [95% interval]"
        footer = "Diamonds: posterior of μ; dashed: θ_new, one colour per τ prior"
    elif hasattr(result, "summary") and (hasattr(result, "labels") or hasattr(result, "idata")):
        table = _summary(result)
        labels, y, se = _observed(result)
        shrunk = table[table["param"] == "theta"]
        rows = _study_rows(labels, y, se, log, shrunk=shrunk)
        prior = getattr(result, "tau_prior", None)
        name = "posterior" if prior is None else f"τ ~ {prior}"
        rows += _bayes_rows(table, log, name, _BAYES)
        footer = _tau_line(table) + (
            "\nSquares: observed effects (95% CI); circles: shrunken study effects (95% CrI)"
        )
        header = "estimate [95% interval]"
    else:
        raise DataError(
            f"forest: cannot draw a {type(result).__name__}; give a meta-analysis, posterior, "
            "fit, prior comparison or leave-one-out result"
        )
    label = measures.plain_name(m.upper()) if m else "effect"
    xlabel = label + (" (log scale)" if log else "")
    return plots.forest(
        rows,
        log_scale=log,
        xlabel=xlabel,
        title=title,
        value_header=header,
        favours=favours,
        footer=footer,
        ax=ax,
    )


def _is_leave_one_out(result: Any) -> bool:
    """A result whose summary has ``mu`` rows labelled with a study (the omitted one)."""
    if not hasattr(result, "summary") or hasattr(result, "labels"):
        return False
    try:
        table = _summary(result)
    except (AttributeError, KeyError, TypeError):
        return False
    return bool(((table["param"] == "mu") & table["study"].notna()).any())


_PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def check_plot_path(path: str | None, option: str = "--plot") -> None:
    """Refuse, before any work, a figure file name that cannot be written.

    Raises
    ------
    DataError
        A suffix other than .png, .pdf or .svg, or a folder that does not exist.
    """
    if path is None:
        return
    target = Path(path)
    if target.suffix.lower() not in _PLOT_SUFFIXES:
        raise DataError(f"{option} {path}: give a .png, .pdf or .svg file name")
    if not target.parent.is_dir():
        raise DataError(f"{option} {path}: folder {str(target.parent)!r} does not exist")


def save_forest(result: Any, path: str | Path, **kwargs: Any) -> None:
    """Write :func:`forest` of ``result`` to ``path`` (non-interactive backend) and close it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = forest(result, **kwargs)
    try:
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
