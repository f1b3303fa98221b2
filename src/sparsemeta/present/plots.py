"""Figures of the presentation layer: forest plots, tau priors against posteriors, prior sensitivity.

Every function draws on the axes it is given, or makes a new figure with
``matplotlib.pyplot`` when none is given, and returns the figure. Ratio measures are drawn
on the ratio scale with a logarithmic axis and a reference line at 1.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from sparsemeta import measures
from sparsemeta.present.format import (
    fmt,
    interval,
    short_prior_label,
    short_prior_label_from_string,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from pandas import DataFrame

    from sparsemeta.bayes.sensitivity import PriorComparison
    from sparsemeta.review.reproduce import AnalysisResult

__all__ = [
    "ForestRow",
    "forest",
    "forest_rows",
    "prior_colors",
    "prior_comparison",
    "sensitivity_overview",
    "tau_densities",
    "wrap",
]

#: plotting range of ratios (log axis); intervals beyond it end in an arrow
RATIO_LIMITS = (1e-3, 1e3)
_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")


def wrap(text: str, width: int = 30) -> str:
    """``text`` wrapped into lines of at most ``width`` characters (line breaks kept)."""
    lines = [
        textwrap.wrap(line, width, break_long_words=False) or [line] for line in text.split("\n")
    ]
    return "\n".join(part for parts in lines for part in parts)


def prior_colors(labels: Sequence[str]) -> dict[str, str]:
    """One colour per prior label, in order (the same order gives the same colours)."""
    return {lab: _PALETTE[i % len(_PALETTE)] for i, lab in enumerate(labels)}


def _new_axes(ncols: int, figsize: tuple[float, float]) -> tuple[Figure, list[Axes]]:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=figsize, squeeze=False)
    return fig, list(axes[0])


def _scale(log_scale: bool) -> Any:
    return np.exp if log_scale else (lambda x: np.asarray(x, float))


def _effect_axis(ax: Axes, log_scale: bool, label: str) -> None:
    """Reference line (1 for ratios, 0 otherwise), grid and label of an effect axis
    (ratio axes are made logarithmic by :func:`_log_ticks`)."""
    ax.axvline(1.0 if log_scale else 0.0, color="0.35", lw=0.9, zorder=1.6)
    ax.set_xlabel(label)
    ax.grid(axis="x", which="major", color="0.92", lw=0.6)


def _log_ticks(ax: Axes, lo: float, hi: float) -> None:
    """Set ratio limits and readable ticks: 1-2-5 steps over few decades, fewer over many."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    decades = math.log10(hi / lo)
    subs = (
        (1.0, 2.0, 3.0, 5.0)
        if decades <= 1.3
        else (1.0, 2.0, 5.0)
        if decades <= 2.6
        else (1.0, 3.0)
        if decades <= 4.2
        else (1.0,)
    )
    ticks = [
        m * 10.0**e
        for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
        for m in subs
        if lo <= m * 10.0**e <= hi
    ]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())


def _limits(lows: Sequence[float], highs: Sequence[float], log_scale: bool) -> tuple[float, float]:
    """Axis limits around the intervals (ratios: inside :data:`RATIO_LIMITS`, 1 included)."""
    lo, hi = min(lows), max(highs)
    if log_scale:
        lo = max(min(lo, 0.5), RATIO_LIMITS[0])
        hi = min(max(hi, 2.0), RATIO_LIMITS[1])
        return lo / 1.4, hi * 1.4
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    pad = 0.05 * (hi - lo or 1.0)
    return lo - pad, hi + pad


def _interval(
    ax: Axes, y: float, lo: float, hi: float, limits: tuple[float, float], **style: Any
) -> None:
    """Horizontal interval at height ``y``, clipped to ``limits``; an arrow head marks a
    clipped end."""
    a, b = limits
    lo_c, hi_c = max(lo, a), min(hi, b)
    ax.plot([lo_c, hi_c], [y, y], solid_capstyle="butt", **style)
    color = style.get("color", "k")
    if lo < a:
        ax.plot([lo_c], [y], marker="<", color=color, ms=6, clip_on=False)
    if hi > b:
        ax.plot([hi_c], [y], marker=">", color=color, ms=6, clip_on=False)


# ----------------------------------------------------------------------------- prior comparison


def _effect_label(measure: str, log_scale: bool) -> str:
    return f"{measures.plain_name(measure)}" + (" (log scale)" if log_scale else "")


def _scaled_rows(comp: PriorComparison) -> DataFrame:
    """The rows of ``comp.table`` that set the axes: those of proper tau priors when the
    comparison has any (an improper prior's wide intervals are drawn clipped, with arrows,
    so that they do not squash the others), else every row."""
    proper = [lab for lab in comp.table.index if getattr(comp.priors.get(str(lab)), "proper", True)]
    return comp.table.loc[proper] if proper else comp.table


def _effect_limits(comps: Sequence[PriorComparison]) -> tuple[float, float]:
    """Limits of the effect panel: every credible interval of mu under a proper tau prior
    (any prior when none is proper), and prediction intervals as far as ratios of
    1/100..100 (ratios) allow; beyond that arrows."""
    log = comps[0].log_scale
    f = _scale(log)
    tables = [_scaled_rows(c) for c in comps]
    mu_lo = min(float(f(t["mu_low"].min())) for t in tables)
    mu_hi = max(float(f(t["mu_high"].max())) for t in tables)
    pr_lo = min(float(f(t["pred_low"].min())) for t in tables)
    pr_hi = max(float(f(t["pred_high"].max())) for t in tables)
    if log:
        pr_lo, pr_hi = max(pr_lo, min(mu_lo, 1e-2)), min(pr_hi, max(mu_hi, 1e2))
    return _limits([mu_lo, pr_lo], [mu_hi, pr_hi], log)


def prior_comparison(comp: PriorComparison, ax: Sequence[Axes] | None = None) -> Figure:
    """Median and interval of mu, the prediction interval and tau under each tau prior.

    See :meth:`sparsemeta.bayes.sensitivity.PriorComparison.plot`.
    """
    labels = list(comp.table.index)
    if ax is None:
        fig, axes = _new_axes(2, (10.0, 1.6 + 0.6 * len(labels)))
    else:
        axes = list(ax)
        if len(axes) != 2:
            raise ValueError("prior_comparison needs two axes: (effect, tau)")
        fig = axes[0].figure
    eff_ax, tau_ax = axes
    _prior_rows([comp], eff_ax, tau_ax, prior_colors(labels), _effect_limits([comp]))
    eff_ax.set_yticks(range(len(labels)), [wrap(lab, 26) for lab in labels], fontsize=8.5)
    tau_ax.set_yticks(range(len(labels)), [""] * len(labels))
    for a in axes:
        a.set_ylim(len(labels) - 0.4, -0.6)
        a.tick_params(axis="y", length=0, pad=10)
    pct = f"{100 * comp.level:g}%"
    # y given: the title sits on the axes' top edge, where matplotlib would put it (no ticks
    # on top), without measuring every tick label at each draw to find that out
    eff_ax.set_title(f"mu: median, {pct} CrI (thick), {pct} prediction (thin)", fontsize=9, y=1.0)
    tau_ax.set_title(
        f"tau: median, {pct} CrI; grey: prior median to 95% quantile", fontsize=9, y=1.0
    )
    fig.tight_layout()
    return fig


def _prior_rows(
    comps: Sequence[PriorComparison],
    eff_ax: Axes,
    tau_ax: Axes,
    colors: dict[str, str],
    limits: tuple[float, float],
) -> list[float]:
    """One row per prior of each comparison (a blank row between comparisons), effect and
    tau panels; returns the centre height of each comparison's band."""
    log = comps[0].log_scale
    f = _scale(log)
    if log:
        _log_ticks(eff_ax, *limits)
    else:
        eff_ax.set_xlim(*limits)
    tau_hi = 1.1 * max(
        max(float(_scaled_rows(c)["tau_high"].max()), float(c.table["prior_tau_q95"].max()))
        for c in comps
    )
    tau_limits = (0.0, tau_hi if math.isfinite(tau_hi) and tau_hi > 0 else None)
    centres, y = [], 0.0
    for comp in comps:
        labels = list(comp.table.index)
        centres.append(y + (len(labels) - 1) / 2)
        for lab in labels:
            r = comp.table.loc[lab]
            c = colors[lab]
            lo, hi = float(f(r.pred_low)), float(f(r.pred_high))
            _interval(eff_ax, y, lo, hi, limits, color=c, lw=1.0, alpha=0.8)
            lo, hi = float(f(r.mu_low)), float(f(r.mu_high))
            _interval(eff_ax, y, lo, hi, limits, color=c, lw=4.0)
            eff_ax.plot([float(f(r.mu_median))], [y], "o", color="white", mec=c, ms=5, mew=1.5)
            if tau_limits[1] is None:
                tau_ax.plot([r.tau_low, r.tau_high], [y, y], color=c, lw=4.0, solid_capstyle="butt")
            else:
                _interval(tau_ax, y, r.tau_low, r.tau_high, tau_limits, color=c, lw=4.0)
            tau_ax.plot([r.tau_median], [y], "o", color="white", mec=c, ms=5, mew=1.5)
            if math.isfinite(r.prior_tau_median):
                yp = y + 0.32
                tau_ax.plot([r.prior_tau_median, r.prior_tau_q95], [yp, yp], color="0.6", lw=1.2)
                tau_ax.plot([r.prior_tau_median], [yp], "o", mfc="white", mec="0.5", ms=3.5)
            y += 1.0
        y += 1.0
    _effect_axis(eff_ax, log, _effect_label(comps[0].measure, log))
    tau_ax.set_xlabel("tau (between-study SD, analysis scale)")
    tau_ax.set_xlim(*tau_limits)
    tau_ax.grid(axis="x", color="0.92", lw=0.6)
    return centres


def tau_densities(
    comp: PriorComparison, ax: Sequence[Axes] | None = None, *, title: str = ""
) -> Figure:
    """Prior (dashed grey) and posterior (solid) density of tau, one panel per prior.

    See :meth:`sparsemeta.bayes.sensitivity.PriorComparison.plot_tau`.
    """
    from matplotlib.ticker import MaxNLocator

    labels = list(comp.table.index)
    n = len(labels)
    if ax is None:
        import matplotlib.pyplot as plt

        ncols = min(n, 3)
        nrows = math.ceil(n / ncols)
        height = (0.55 if title else 0.2) + 2.7 * nrows
        fig, grid_axes = plt.subplots(
            nrows, ncols, figsize=(3.5 * ncols, height), squeeze=False, sharex=True
        )
        # a fixed layout (tight_layout is slow): room for two-line titles and tau labels
        fig.subplots_adjust(
            left=0.2 / ncols,
            right=0.98,
            bottom=0.5 / height,
            wspace=0.3,
            top=1 - (0.95 if title else 0.6) / height,
            hspace=0.55,
        )
        axes = list(grid_axes.flat)
        for extra in axes[n:]:
            extra.set_visible(False)
    else:
        axes = list(ax)
        if len(axes) < n:
            raise ValueError(f"tau_densities needs one axes per prior ({n})")
        fig = axes[0].figure
    colors = prior_colors(labels)
    upper = min(max(1.4 * float(comp.table["tau_high"].max()), 0.5), 4.0)
    grid = np.linspace(0.0, upper, 400)[1:]
    for a, lab in zip(axes, labels, strict=False):
        post, prior = comp.posteriors[lab], comp.priors[lab]
        dens = np.asarray(post.tau.pdf(grid), float)
        a.fill_between(grid, dens, color=colors[lab], alpha=0.15, lw=0)
        a.plot(grid, dens, color=colors[lab], lw=1.8, label="posterior")
        kl = comp.table.loc[lab, "kl_tau"]
        if prior.proper:
            pdens = prior.pdf(grid, se=comp.se) if prior.requires_se else prior.pdf(grid)
            a.plot(grid, pdens, color="0.35", lw=1.2, ls="--", label="prior")
        name = short_prior_label(prior)
        if lab not in (name, short_prior_label(prior, with_scale=False)):
            name = f"{lab}: {name}"
        head = wrap(name, 34) + (
            f"\nKL = {kl:.3f} nats" if math.isfinite(kl) else "\n(improper prior)"
        )
        a.set_title(head, fontsize=8.5, y=1.0)  # y given: not placed by measuring tick labels
        a.set_xlim(0.0, upper)
        a.set_ylim(bottom=0.0)
        a.yaxis.set_major_locator(MaxNLocator(4))
        a.xaxis.set_major_locator(MaxNLocator(5, steps=[1, 2, 2.5, 5, 10]))
        a.tick_params(labelsize=8)
    for a in axes[:n]:
        a.set_xlabel("tau", fontsize=8.5)
        a.tick_params(labelbottom=True)
    axes[0].legend(fontsize=8, frameon=False, loc="upper right")
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.1 / fig.get_figheight(), va="top")
    return fig


# ----------------------------------------------------------------------------- forest plot


@dataclass(frozen=True)
class ForestRow:
    """One row of a forest plot.

    ``kind`` is ``"study"`` (square sized by ``weight``), ``"pooled"`` (diamond),
    ``"published"`` (hollow diamond), ``"bayes"`` (circle and interval), ``"predict"``
    (interval only), ``"excluded"`` (a study that is not estimable) and ``"text"`` (label
    and note only). Values are on the analysis scale. ``shrunk`` (a study row's shrunken
    Bayesian estimate: median, lower, upper) is drawn just below the study's own interval
    as a hollow circle in ``color``.
    """

    label: str
    kind: str
    est: float = math.nan
    low: float = math.nan
    high: float = math.nan
    note: str = ""
    weight: float = math.nan
    color: str = "k"
    shrunk: tuple[float, float, float] | None = None


def forest_rows(result: AnalysisResult, default_label: str) -> list[ForestRow]:
    """The rows of the forest plot of one analysis result (see :func:`forest`).

    Top to bottom: each study with its 95% CI and RevMan weight (or why it is not
    estimable); RevMan's pooled estimate and CI; the frequentist prediction interval (or
    why it is undefined, e.g. k < 3); the published estimate; the exact Bayesian mu and
    new-study prediction interval under the default prior ``default_label``; and the same
    for each MCMC fit.
    """
    r = result.frequentist
    assert r is not None  # only analyses with data have a forest plot
    log = r.log_scale
    f = math.exp if log else float
    rows: list[ForestRow] = []
    weights = dict(zip(r.studies, r.weights, strict=True))
    excluded = dict(r.excluded)
    pct = f"{100 * r.level:g}%"
    z = float(stats.norm.ppf((1 + r.level) / 2))
    for study, yi, vi in zip(r.studies, r.yi, r.vi, strict=True):
        if not (math.isfinite(yi) and math.isfinite(vi)):
            rows.append(
                ForestRow(study, "excluded", note=f"not estimable: {excluded.get(study, '')}")
            )
            continue
        se = math.sqrt(vi)
        lo, hi = yi - z * se, yi + z * se
        rows.append(
            ForestRow(
                study,
                "study",
                yi,
                lo,
                hi,
                f"{interval(f(yi), f(lo), f(hi))}   weight {weights.get(study, math.nan):.1f}%",
                weights.get(study, math.nan),
            )
        )
    if r.k:
        model = "random" if r.random else "fixed"
        rows.append(
            ForestRow(
                f"{r.method} {model} effects ({r.tau2_method}), as RevMan 5",
                "pooled",
                r.estimate,
                r.ci_low,
                r.ci_high,
                interval(f(r.estimate), f(r.ci_low), f(r.ci_high)),
            )
        )
        if r.pi_low is None or not math.isfinite(r.pi_low):
            rows.append(
                ForestRow(
                    f"frequentist {pct} prediction interval", "text", note=r.pi_note or "undefined"
                )
            )
        else:
            rows.append(
                ForestRow(
                    f"frequentist {pct} prediction interval",
                    "predict",
                    r.estimate,
                    r.pi_low,
                    r.pi_high,
                    f"[{fmt(f(r.pi_low))}, {fmt(f(r.pi_high))}]",
                    color="0.3",
                )
            )
    else:
        rows.append(ForestRow("RevMan 5 pooled estimate", "text", note="none: no estimable study"))
    published = _printed_interval(result.published)
    if published is not None:
        est, lo, hi = published
        g = math.log if log else float
        text = result.published
        rows.append(
            ForestRow(
                "published (review)",
                "published",
                g(est),
                g(lo),
                g(hi),
                f"{text['estimate']} [{text['ci_low']}, {text['ci_high']}]",
                color="0.45",
            )
        )
    bayes = result.exact.get(default_label)
    if bayes is not None:
        name = short_prior_label_from_string(bayes.prior)
        rows.append(
            ForestRow(
                f"Bayes pooled {result.analysis.measure or 'effect'}, {name} (normal-normal, exact)",
                "bayes",
                bayes.mu["q50"],
                bayes.mu["q025"],
                bayes.mu["q975"],
                interval(f(bayes.mu["q50"]), f(bayes.mu["q025"]), f(bayes.mu["q975"])),
                color="#1f77b4",
            )
        )
        rows.append(
            ForestRow(
                f"Bayes new-study 95% prediction, {name}",
                "predict",
                bayes.theta_new["q50"],
                bayes.theta_new["q025"],
                bayes.theta_new["q975"],
                f"[{fmt(f(bayes.theta_new['q025']))}, {fmt(f(bayes.theta_new['q975']))}]",
                color="#1f77b4",
            )
        )
    for s in result.mcmc.values():
        name = short_prior_label_from_string(s.prior)
        rows.append(
            ForestRow(
                f"Bayes pooled {result.analysis.measure or 'effect'}, {name} ({s.model}, MCMC)",
                "bayes",
                s.mu["q50"],
                s.mu["q025"],
                s.mu["q975"],
                interval(f(s.mu["q50"]), f(s.mu["q025"]), f(s.mu["q975"])),
                color="#d62728",
            )
        )
        rows.append(
            ForestRow(
                f"Bayes new-study 95% prediction ({s.model})",
                "predict",
                s.theta_new["q50"],
                s.theta_new["q025"],
                s.theta_new["q975"],
                f"[{fmt(f(s.theta_new['q025']))}, {fmt(f(s.theta_new['q975']))}]",
                color="#d62728",
            )
        )
    return rows


def _printed_interval(printed: dict[str, str]) -> tuple[float, float, float] | None:
    """The published estimate and CI as numbers, or ``None`` if any is missing or not a number."""
    try:
        est, lo, hi = (float(printed[k]) for k in ("estimate", "ci_low", "ci_high"))
    except (KeyError, ValueError):
        return None
    return (est, lo, hi) if all(map(math.isfinite, (est, lo, hi))) else None


def forest(
    rows: Sequence[ForestRow],
    *,
    log_scale: bool,
    xlabel: str,
    title: str = "",
    value_header: str = "",
    favours: tuple[str, str] | None = None,
    footer: str = "",
    ax: Axes | None = None,
) -> Figure:
    """Draw a forest plot of ``rows`` (:func:`forest_rows`): labels left, numbers right.

    Parameters
    ----------
    rows : sequence of ForestRow
        Top to bottom.
    log_scale : bool
        Values are log ratios: draw ratios on a log axis.
    xlabel, title : str
    value_header : str
        Heading of the column of numbers on the right.
    favours : (str, str), optional
        Labels written under the axis left and right of the line of no effect
        (e.g. ``("favours vaccine", "favours control")``).
    footer : str
        Lines written under the plot (heterogeneity, test for the overall effect).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    extra = (0.3 if favours else 0.0) + 0.2 * (footer.count("\n") + 1 if footer else 0)
    if ax is None:
        fig, (ax,) = _new_axes(1, (10.0, 1.5 + extra + 0.36 * len(rows)))
    else:
        fig = ax.figure
    f = _scale(log_scale)
    drawn = [r for r in rows if r.kind not in ("text", "excluded")]
    limits = _limits(
        [float(f(r.low)) for r in drawn] or [0.5],
        [float(f(r.high)) for r in drawn] or [2.0],
        log_scale,
    )
    if log_scale:
        _log_ticks(ax, *limits)
    else:
        ax.set_xlim(*limits)
    wmax = max((r.weight for r in rows if math.isfinite(r.weight)), default=1.0)
    for y, r in enumerate(rows):
        if r.kind in ("text", "excluded"):
            continue
        lo, hi, est = float(f(r.low)), float(f(r.high)), float(f(r.est))
        if r.kind == "study":
            _interval(ax, y, lo, hi, limits, color="k", lw=1.2)
            size = 5 + 9 * math.sqrt(r.weight / wmax) if math.isfinite(r.weight) else 6
            ax.plot([est], [y], "s", color="0.2", ms=size)
            if r.shrunk is not None:
                s_est, s_lo, s_hi = (float(f(v)) for v in r.shrunk)
                _interval(ax, y + 0.3, s_lo, s_hi, limits, color=r.color, lw=1.2)
                ax.plot([s_est], [y + 0.3], "o", mfc="white", mec=r.color, ms=5, mew=1.3)
        elif r.kind in ("pooled", "published"):
            _diamond(ax, y, lo, est, hi, filled=r.kind == "pooled", color=r.color)
        elif r.kind == "bayes":
            _interval(ax, y, lo, hi, limits, color=r.color, lw=2.5)
            ax.plot([est], [y], "o", color=r.color, ms=6)
        else:
            _interval(ax, y, lo, hi, limits, color=r.color, lw=1.2, ls=(0, (4, 2)))
    _effect_axis(ax, log_scale, xlabel)
    if favours:
        ref = 1.0 if log_scale else 0.0
        for text, dx, ha in ((favours[0], -6, "right"), (favours[1], 6, "left")):
            ax.annotate(
                text,
                xy=(ref, 0),
                xycoords=("data", "axes fraction"),
                xytext=(dx, -20),
                textcoords="offset points",
                ha=ha,
                va="top",
                fontsize=8,
                color="0.3",
            )
        ax.xaxis.labelpad = 18
    ax.set_ylim(len(rows) - 0.4, -0.9)
    ax.set_yticks(range(len(rows)), [wrap(r.label, 46) for r in rows], fontsize=8.5)
    ax.tick_params(axis="y", length=0, pad=10)  # room for arrow heads
    trans = ax.get_yaxis_transform()
    for y, r in enumerate(rows):
        ax.text(
            1.03,
            y,
            wrap(r.note, 44),
            transform=trans,
            va="center",
            ha="left",
            fontsize=8,
            color="0.45" if r.kind in ("text", "excluded") else "k",
        )
    if value_header:
        ax.text(
            1.03,
            -0.85,
            value_header,
            transform=trans,
            va="center",
            ha="left",
            fontsize=8,
            fontweight="bold",
        )
    summary = [y for y, r in enumerate(rows) if r.kind not in ("study", "excluded")]
    if summary:
        ax.axhline(summary[0] - 0.5, color="0.8", lw=0.6)
    if title:
        # y given: on the top edge, not placed by measuring every tick label at each draw
        ax.set_title(title, fontsize=10, loc="left", y=1.0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    height = fig.get_figheight()
    if footer:
        fig.text(0.02, 0.1 / height, footer, fontsize=8, va="bottom", ha="left", color="0.2")
    fig.subplots_adjust(
        left=0.34, right=0.70, top=1 - 0.45 / height, bottom=(0.75 + extra) / height
    )
    return fig


def _diamond(
    ax: Axes, y: float, lo: float, est: float, hi: float, *, filled: bool, color: str
) -> None:
    xs = [lo, est, hi, est, lo]
    ys = [y, y - 0.28, y, y + 0.28, y]
    if filled:
        ax.fill(xs, ys, color=color, zorder=3)
    else:
        ax.plot(xs, ys, color=color, lw=1.2, zorder=3)


# ----------------------------------------------------------------------------- across analyses


def sensitivity_overview(
    items: Sequence[tuple[str, PriorComparison]], *, title: str = ""
) -> Figure:
    """How mu, the prediction interval and tau move with the tau prior, across analyses.

    One band of rows per analysis (one row per prior, coloured by the prior's label),
    effect panel left (ratio scale and log axis for ratio measures) and tau panel right.
    Analyses on different scales (ratio, SMD, ...) get separate pairs of panels.

    Parameters
    ----------
    items : sequence of (label, PriorComparison)
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    groups: dict[str, list[tuple[str, PriorComparison]]] = {}
    for label, comp in items:
        groups.setdefault("ratio" if comp.log_scale else comp.measure, []).append((label, comp))
    heights = [sum(len(c.table) + 1 for _, c in g) for g in groups.values()]
    all_labels: list[str] = []
    for _, comp in items:
        all_labels += [lab for lab in comp.table.index if lab not in all_labels]
    colors = prior_colors(all_labels)
    ncol = 2 if max(map(len, all_labels)) > 30 else 3
    legend_rows = math.ceil((len(all_labels) + 1) / ncol)
    head = 0.45 + 0.2 * legend_rows + (0.35 if title else 0.0)
    fig, axes = plt.subplots(
        len(groups),
        2,
        figsize=(11.0, head + 0.9 + 0.2 * sum(heights)),
        squeeze=False,
        gridspec_kw={"height_ratios": heights, "width_ratios": [1.5, 1.0]},
    )
    for (eff_ax, tau_ax), group in zip(axes, groups.values(), strict=True):
        comps = [c for _, c in group]
        centres = _prior_rows(comps, eff_ax, tau_ax, colors, _effect_limits(comps))
        y = -1.0
        for comp in comps[:-1]:
            y += len(comp.table) + 1
            for a in (eff_ax, tau_ax):
                a.axhline(y, color="0.8", lw=0.6)
        eff_ax.set_yticks(centres, [wrap(label, 36) for label, _ in group], fontsize=8)
        tau_ax.set_yticks(centres, [""] * len(centres))
        for a in (eff_ax, tau_ax):
            a.set_ylim(y + len(comps[-1].table) + 0.6, -0.8)
            a.tick_params(axis="y", length=0, pad=10)
    handles = [Line2D([], [], color=colors[lab], lw=4) for lab in all_labels]
    handles.append(Line2D([], [], color="0.6", lw=1.2, marker="o", mfc="white", mec="0.5"))
    top = 1 - head / fig.get_figheight()
    fig.legend(
        handles,
        [*all_labels, "prior: median to 95% quantile (tau panel)"],
        loc="lower center",
        bbox_to_anchor=(0.5, top),
        ncol=ncol,
        fontsize=8.5,
        frameon=False,
        title="tau prior — thick: median and 95% CrI of mu or tau; thin: 95% prediction interval",
        title_fontsize=8.5,
    )
    if title:
        fig.suptitle(title, fontsize=11, y=1 - 0.1 / fig.get_figheight(), va="top")
    fig.tight_layout(rect=(0, 0, 1, top))
    return fig
