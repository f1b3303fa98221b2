"""Prior sensitivity: the same meta-analysis under several tau priors, side by side.

:func:`compare_priors` computes, for each tau prior, the exact posterior of the
normal-normal model (:func:`sparsemeta.bayes.exact.posterior`) and puts next to it what the prior
itself says about tau (:func:`sparsemeta.bayes.priors.describe`). With two to five studies the
data say little about tau, so the posterior of tau, and through it the width of the
credible and prediction intervals, follows the prior; the comparison shows how far.
The KL divergence of the tau posterior from its prior (Röver 2020, J Stat Softw 93(6),
Sec. 3.5) measures how much the data moved it: near 0 means "prior in, prior out".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from sparsemeta import measures
from sparsemeta.bayes import dominance, exact
from sparsemeta.bayes import priors as pri
from sparsemeta.effects import Effects, as_effects
from sparsemeta.errors import DataError, PriorError
from sparsemeta.present.format import fixed, fmt
from sparsemeta.results import Op, check_op, json_safe

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["PriorComparison", "compare_priors"]


@dataclass(frozen=True)
class PriorComparison:
    """One meta-analysis under several tau priors (the result of :func:`compare_priors`).

    Attributes
    ----------
    measure : str
        Effect measure; log-scale measures (:data:`sparsemeta.measures.TABLE`) are analysed on the log scale.
    labels : tuple[str, ...]
        The studies used (estimable ones).
    y, se : numpy.ndarray
        Their effects (analysis scale) and standard errors.
    excluded : tuple[tuple[str, str], ...]
        Studies left out as not estimable, with the reason.
    mu_prior : MuPrior
        Prior of the overall effect (the same under every tau prior).
    priors : dict[str, TauPrior]
        The tau priors, keyed by label (the table's index).
    posteriors : dict[str, ExactPosterior]
        The exact posterior under each prior, same keys.
    level : float
        Level of the credible and prediction intervals.
    table : pandas.DataFrame
        One row per prior, indexed by label. Columns: ``prior`` (canonical string);
        ``mu_median, mu_low, mu_high`` (equal-tailed interval, analysis scale);
        ``tau_median, tau_low, tau_high``; ``pred_low, pred_high`` (interval of the effect
        in a new study, theta_new); ``kl_tau`` (nats; NaN for an improper prior); the
        prior's own ``prior_tau_median, prior_tau_q95, prior_p_tau_gt_0_5,
        prior_p_tau_gt_1`` (NaN for an improper prior). Ratio measures add
        ``ratio_median, ratio_low, ratio_high, pred_ratio_low, pred_ratio_high`` = exp of
        the above; ``prior_dominated`` (text of the reasons, empty when none;
        :mod:`sparsemeta.bayes.dominance`). Posterior probabilities come from :meth:`prob`.
    model : str
        ``"normal-normal"`` (exact engine on y, se) or ``"binomial-normal"`` (exact binomial
        engine on the counts; then ``y, se`` are the mean and SD of each study's
        normalised likelihood of the log odds ratio, for display only).
    """

    measure: str
    labels: tuple[str, ...]
    y: NDArray[np.float64]
    se: NDArray[np.float64]
    excluded: tuple[tuple[str, str], ...]
    mu_prior: pri.MuPrior
    priors: dict[str, pri.TauPrior]
    posteriors: dict[str, exact.ExactPosterior]
    level: float
    table: pd.DataFrame
    model: str = "normal-normal"

    @property
    def log_scale(self) -> bool:
        """Whether effects are log ratios (then plots use the ratio scale on a log axis)."""
        return measures.is_ratio(self.measure)

    @property
    def k(self) -> int:
        """Number of studies used."""
        return len(self.labels)

    def prob(self, param: str, op: Op, value: float) -> pd.Series:
        """Posterior probability ``P(param op value)`` under each tau prior (a Series indexed
        by the prior labels), e.g. P(mu < 0) = ``prob("mu", "<", 0)``."""
        check_op(op)
        return pd.Series(
            {label: post.prob(param, op, value) for label, post in self.posteriors.items()},
            name=f"P({param} {op} {value:g})",
        )

    def summary(self) -> pd.DataFrame:
        """``mu``, ``tau`` and ``theta_new`` under each tau prior: the columns of
        :data:`sparsemeta.results.SUMMARY_COLUMNS` (equal-tailed intervals of probability
        ``level``, analysis scale) plus ``prior`` (the label)."""
        frames = []
        for label, post in self.posteriors.items():
            rows = post.summary(self.level)
            rows = rows[rows["param"] != "theta"].assign(prior=label)
            frames.append(rows[[c for c in rows.columns if not c.startswith("shortest")]])
        return pd.concat(frames, ignore_index=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe record: the studies, the priors, the per-prior table and the summary."""
        return json_safe(
            {
                "measure": self.measure,
                "labels": self.labels,
                "y": self.y,
                "se": self.se,
                "excluded": [{"study": s, "reason": r} for s, r in self.excluded],
                "mu_prior": str(self.mu_prior),
                "priors": {label: str(p) for label, p in self.priors.items()},
                "level": self.level,
                "table": self.table.reset_index(names="label"),
                "summary": self.summary(),
            }
        )

    def plot(self, ax: Sequence[Axes] | None = None) -> Figure:
        """How mu, its prediction interval and tau move with the tau prior.

        Left panel: per prior, the median and credible interval of mu (thick) and the
        prediction interval of a new study's effect (thin); ratio measures on the ratio
        scale with a log axis. Right panel: median and credible interval of tau (solid)
        and the prior's own median and 95% quantile (grey, hollow marker).

        Parameters
        ----------
        ax : pair of matplotlib Axes, optional
            (effect axes, tau axes); a new figure is made when omitted.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from sparsemeta.present import plots

        return plots.prior_comparison(self, ax)

    def plot_tau(self, ax: Sequence[Axes] | None = None) -> Figure:
        """Prior (dashed) and exact posterior (solid) density of tau, one panel per prior,
        with the KL divergence of the posterior from the prior in each panel's title.

        Improper priors have no density to draw; only their posterior is shown.

        Parameters
        ----------
        ax : sequence of matplotlib Axes, optional
            One per prior; a new figure (three panels per row) is made when omitted.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from sparsemeta.present import plots

        return plots.tau_densities(self, ax)

    def __str__(self) -> str:
        t = self.table
        pct = f"{100 * self.level:g}%"
        ratio = self.log_scale
        name = measures.plain_name(self.measure)
        effect = f"{name} (median [{pct} CrI])" if ratio else f"mu (median [{pct} CrI])"
        head = [
            f"Prior comparison ({self.model}): {self.measure}, k = {self.k} "
            f"({', '.join(self.labels)}); mu prior {self.mu_prior}",
        ]
        if self.excluded:
            head.append(
                "not estimable, left out: " + "; ".join(f"{s} ({why})" for s, why in self.excluded)
            )
        rows = []
        for label, r in t.iterrows():
            mid, lo, hi = (
                (r.ratio_median, r.ratio_low, r.ratio_high)
                if ratio
                else (r.mu_median, r.mu_low, r.mu_high)
            )
            plo, phi = (r.pred_ratio_low, r.pred_ratio_high) if ratio else (r.pred_low, r.pred_high)
            prob = self.posteriors[str(label)].prob("mu", ">" if ratio else "<", 0.0)
            rows.append(
                [
                    str(label),
                    f"{fmt(mid)} [{fmt(lo)}, {fmt(hi)}]",
                    f"[{fmt(plo)}, {fmt(phi)}]",
                    f"{prob:.3f}",
                    f"{r.tau_median:.2f} [{r.tau_low:.2f}, {r.tau_high:.2f}]",
                    fixed(r.kl_tau, 3),
                    f"{fixed(r.prior_tau_median, 2)} / {fixed(r.prior_tau_q95, 2)}",
                    f"{fixed(r.prior_p_tau_gt_0_5, 2)} / {fixed(r.prior_p_tau_gt_1, 2)}",
                ]
            )
        cols = [
            "tau prior",
            effect,
            f"{pct} prediction",
            "P(ratio > 1)" if ratio else "P(mu < 0)",
            f"tau (median [{pct} CrI])",
            "KL tau",
            "prior tau median / q95",
            "prior P(tau>0.5) / P(tau>1)",
        ]
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
        lines = [*head, "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
        for label, why in t["prior_dominated"].items():
            if why:
                lines.append(f"PRIOR-DOMINATED under {label}: {why}")
        return "\n".join(line.rstrip() for line in lines)


# ----------------------------------------------------------------------------- entry point


def compare_priors(
    data: Effects | pd.DataFrame | ArrayLike,
    priors: Sequence[str | pri.TauPrior] | Mapping[str, str | pri.TauPrior] | None = None,
    measure: str | None = None,
    mu_prior: pri.MuPriorLike = None,
    *,
    se: ArrayLike | None = None,
    labels: Sequence[str] | None = None,
    level: float = 0.95,
    model: str = "normal-normal",
) -> PriorComparison:
    """Fit one meta-analysis under each tau prior (exact posterior, no MCMC).

    Parameters
    ----------
    data : Effects, pandas.DataFrame or array_like
        An :class:`~sparsemeta.effects.Effects` value, a study table of one analysis
        (:mod:`sparsemeta.data`; effects are computed with
        :func:`sparsemeta.effects.effect_sizes` and ``measure``), a table with ``yi`` and
        ``vi`` (or ``sei``) columns and optionally ``study``, or the study effects ``yi``
        themselves (then pass ``se=``). Ratio effects are natural logs.
    priors : sequence or mapping, optional
        The tau priors: prior values or strings for :func:`sparsemeta.bayes.priors.parse`; a
        mapping gives each a label (otherwise the label is the canonical prior string).
        ``None``: the measure's default tau prior alone (:data:`sparsemeta.measures.TABLE`).
    measure : str, optional
        ``"RR"``, ``"OR"``, ``"PETO_OR"``, ``"HR"``, ``"RD"``, ``"MD"``, ``"SMD"`` or
        ``"GENERIC"``. Required for a study table of binary or continuous data; otherwise
        ``"GENERIC"`` by default.
    mu_prior : MuPrior, str or None
        Prior of mu. ``None`` (default): :func:`sparsemeta.bayes.priors.mu_prior_default` for the
        measure (e.g. N(0, 2.82^2) for a log RR); ``"flat"`` for the flat prior.
    se : array_like, optional
        Standard errors, when ``data`` is an array of effects.
    labels : sequence of str, optional
        Study labels, when ``data`` is an array of effects.
    level : float, default 0.95
        Level of the credible and prediction intervals.
    model : {"normal-normal", "binomial-normal"}
        ``"binomial-normal"`` fits the arm-symmetric binomial-normal model to the counts of
        a binary study table with :func:`sparsemeta.bayes.exact_binomial.posterior` (log odds
        ratio; double-zero studies kept; ``measure`` must be OR or omitted).

    Returns
    -------
    PriorComparison

    Raises
    ------
    DataError
        Bad study data, a table of several analyses, no estimable study, or a missing
        measure or ``se``.
    PriorError
        An unparsable or duplicate prior, or an improper posterior.

    Notes
    -----
    An improper tau prior (e.g. ``jeffreys``) is allowed where the posterior is proper; it
    has no KL divergence and no prior quantiles (NaN in the table). With one study a
    ``UserWarning`` says that the tau posterior is the prior's.

    Examples
    --------
    >>> from sparsemeta import compare_priors
    >>> c = compare_priors([0.9, 0.1], ["halfnormal(0.5)", "halfnormal(1.0)"],
    ...                    measure="RR", se=[0.4, 0.6])
    >>> list(c.table.index)
    ['halfnormal(scale=0.5)', 'halfnormal(scale=1.0)']
    """
    if not isinstance(level, int | float) or not 0 < level < 1:
        raise DataError(f"compare_priors: level must be a number in (0, 1), got {level!r}")
    if model in ("binomial-normal", "binomial-rr"):
        return _compare_binomial(data, priors, measure, mu_prior, level, model)
    if model != "normal-normal":
        raise DataError(
            f"compare_priors: unknown model {model!r}; use 'normal-normal', 'binomial-normal' "
            "or 'binomial-rr'"
        )
    eff = as_effects(data, measure, se=se, labels=labels, where="compare_priors")
    eff = eff.require("compare_priors")
    measure, y, s, labs, excluded = (
        eff.measure.code,
        eff.y,
        eff.se,
        list(eff.studies),
        eff.excluded,
    )
    tau_priors = _priors([pri.tau_prior(None, measure)] if priors is None else priors)
    mu = pri.mu_prior(mu_prior, measure)
    scale = measures.lookup(measure).scale
    posts = {
        label: exact.posterior(eff, tau_prior=p, mu_prior=mu) for label, p in tau_priors.items()
    }
    rows = [
        _row(label, tau_priors[label], post, scale, s, level, measures.is_ratio(measure))
        for label, post in posts.items()
    ]
    for row, post in zip(rows, posts.values(), strict=True):
        row["prior_dominated"] = "; ".join(dominance.reasons(post.k, None, row["kl_tau"]))
    table = pd.DataFrame(rows).set_index("label")
    table.index.name = "tau prior"
    return PriorComparison(
        measure, tuple(labs), y, s, excluded, mu, tau_priors, posts, level, table
    )


def _compare_binomial(
    data: Any,
    priors: Any,
    measure: str | None,
    mu_prior: pri.MuPriorLike,
    level: float,
    model: str = "binomial-normal",
) -> PriorComparison:
    """:func:`compare_priors` for the binomial-normal (log OR) or binomial-rr (log RR) model
    (exact binomial engines)."""
    from sparsemeta import data as data_mod
    from sparsemeta.bayes import exact_binomial, exact_binomial_rr

    scale_code = measures.MEASURE_OF_FAMILY[model]
    engine = exact_binomial.posterior if model == "binomial-normal" else exact_binomial_rr.posterior
    if measure is not None and measure.upper() != scale_code:
        raise DataError(
            f"compare_priors: model {model} analyses the {scale_code} scale, not {measure}"
        )
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"compare_priors: model {model} needs a binary study table")
    tab = data_mod.single_analysis(data)
    if data_mod.data_type(tab) != "binary":
        raise DataError(f"compare_priors: model {model} needs binary data (events_t, n_t, ...)")
    labs = tab["study"].astype(str).tolist()
    cols = [tab[c].to_numpy() for c in data_mod.BINARY_COLUMNS]
    tau_priors = _priors([pri.tau_prior(None, scale_code)] if priors is None else priors)
    mu = pri.mu_prior(mu_prior, scale_code)
    posts = {label: engine(*cols, p, mu, labs) for label, p in tau_priors.items()}
    first = next(iter(posts.values()))
    scale = measures.lookup(scale_code).scale
    rows = []
    for label, post in posts.items():
        row = _row(label, tau_priors[label], post, scale, first.se, level, True)
        row["prior_dominated"] = "; ".join(
            dominance.reasons(post.k, (cols[0], cols[2]), row["kl_tau"])
        )
        rows.append(row)
    table = pd.DataFrame(rows).set_index("label")
    table.index.name = "tau prior"
    return PriorComparison(
        scale_code,
        tuple(labs),
        first.y,
        first.se,
        (),
        mu,
        tau_priors,
        posts,
        level,
        table,
        model,
    )


# ----------------------------------------------------------------------------- helpers


def _priors(
    given: Sequence[str | pri.TauPrior] | Mapping[str, str | pri.TauPrior],
) -> dict[str, pri.TauPrior]:
    if isinstance(given, str | pri.TauPrior):
        given = [given]
    items = list(given.items()) if isinstance(given, Mapping) else [(None, p) for p in given]
    if not items:
        raise PriorError("compare_priors: give at least one tau prior")
    out: dict[str, pri.TauPrior] = {}
    for label, p in items:
        value = pri.tau_prior(p)
        key = str(value) if label is None else str(label)
        if key in out:
            raise PriorError(f"compare_priors: tau prior {key!r} given twice")
        out[key] = value
    return out


def _row(
    label: str,
    prior: pri.TauPrior,
    post: exact.ExactPosterior,
    scale: str,
    se: NDArray[np.float64],
    level: float,
    ratio: bool,
) -> dict[str, Any]:
    probs = np.array([(1 - level) / 2, 0.5, (1 + level) / 2])
    mu = np.asarray(post.mu.quantile(probs), float)
    tau = np.asarray(post.tau.quantile(probs), float)
    pred = np.asarray(post.theta_new.quantile(probs), float)
    row: dict[str, Any] = {
        "label": label,
        "prior": str(prior),
        "mu_median": mu[1],
        "mu_low": mu[0],
        "mu_high": mu[2],
        "tau_median": tau[1],
        "tau_low": tau[0],
        "tau_high": tau[2],
        "pred_low": pred[0],
        "pred_high": pred[2],
    }
    if ratio:
        row.update(
            ratio_median=math.exp(mu[1]),
            ratio_low=math.exp(mu[0]),
            ratio_high=math.exp(mu[2]),
            pred_ratio_low=math.exp(pred[0]),
            pred_ratio_high=math.exp(pred[2]),
        )
    nan = math.nan
    stated = dict.fromkeys(
        ("kl_tau", "prior_tau_median", "prior_tau_q95", "prior_p_tau_gt_0_5", "prior_p_tau_gt_1"),
        nan,
    )
    if prior.proper:
        d = pri.describe(prior, scale, se=se if prior.requires_se else None)
        stated = {
            "kl_tau": post.kl_tau(),
            "prior_tau_median": d.median,
            "prior_tau_q95": d.q95,
            "prior_p_tau_gt_0_5": d.p_tau_gt_0_5,
            "prior_p_tau_gt_1": d.p_tau_gt_1,
        }
    row.update(stated)
    return row
