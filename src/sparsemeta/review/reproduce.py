"""Reproduce a review: recompute every analysis of a plan and compare with what was published.

:func:`reproduce` is a pure computation (it writes nothing) returning a
:class:`ReproduceResult` that report and command-line layers render. For each analysis of
the plan it

1. recomputes the frequentist result with the review's settings (RevMan 5 recipe,
   :meth:`sparsemeta.review.plan.Analysis.meta_analysis`) and compares it with the published row at
   printed precision (:func:`sparsemeta.review.check.compare_printed`); the analysis's status is

   * ``"reproduced"`` — every printed value is what our result rounds to, or is a likely
     typo of a secondary statistic: a printed value that no honest computation gives and
     that equals another printed statistic (:func:`sparsemeta.review.findings.heterogeneity_typo`,
     e.g. a tau^2 that is the Chi^2). Such a value is flagged on its own: its check has
     status ``"likely-typo"`` and the analysis lists it in ``typos``;
   * ``"likely-typo"`` — the pooled estimate or a confidence limit itself is a likely typo;
   * ``"mismatch"`` — some printed value is neither reproduced nor a recognised typo (both
     values are kept);
   * ``"no-data"`` — the plan marks the analysis as having no study-level data;
   * ``"not-published"`` — study data but no published pooled figure to compare with;

2. fits the Bayesian models the plan asks for: the exact normal-normal posterior
   (:func:`sparsemeta.bayes.exact.posterior`) under every tau prior of the plan's set, and a
   binomial-likelihood model by MCMC (:mod:`sparsemeta.bayes.sample`) under the default prior;

3. runs the data checks of :mod:`sparsemeta.review.findings`.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from sparsemeta import data
from sparsemeta.bayes import exact, sample
from sparsemeta.bayes.sensitivity import PriorComparison, compare_priors
from sparsemeta.data import AnalysisKey
from sparsemeta.errors import CacheWarning, DiagnosticsWarning
from sparsemeta.frequentist import MetaResult
from sparsemeta.results import Op, json_safe, prob_from_draws
from sparsemeta.review import check, findings
from sparsemeta.review.findings import Finding
from sparsemeta.review.plan import Analysis, Plan, TauPriorChoice, published_row

if TYPE_CHECKING:
    from sparsemeta.bayes.priors import TauPrior

__all__ = [
    "COMPARED_FIELDS",
    "MAIN_FIELDS",
    "STATUSES",
    "AnalysisResult",
    "BayesSummary",
    "FieldCheck",
    "ReproduceResult",
    "reproduce",
]

Status = Literal["reproduced", "mismatch", "likely-typo", "no-data", "not-published"]
STATUSES: tuple[str, ...] = ("reproduced", "mismatch", "likely-typo", "no-data", "not-published")

#: published column -> what it is compared with (values on the printed scale)
COMPARED_FIELDS: tuple[str, ...] = (
    "estimate",
    "ci_low",
    "ci_high",
    "chi2",
    "df",
    "p_het",
    "i2",
    "p_overall",
    "tau2",
    "k_studies",
    "n_participants",
)
#: printed values that make an analysis's result: a typo here is a typo of the analysis
MAIN_FIELDS: frozenset[str] = frozenset({"estimate", "ci_low", "ci_high"})
_QUANTILES = {"q025": 0.025, "q50": 0.5, "q975": 0.975}
#: measure -> binomial-likelihood model family of sparsemeta.bayes.sample
_BINOMIAL_FAMILY = {"RR": "binomial-rr", "OR": "binomial-normal"}


@dataclass(frozen=True)
class FieldCheck:
    """One printed value against ours.

    Attributes
    ----------
    field : str
        Published column (:data:`COMPARED_FIELDS`).
    printed : str
        The printed text.
    value : float
        Our full-precision value on the printed scale (ratio scale for ratio measures).
    rounded : str
        Our value at the printed precision (``""`` and ``value`` NaN when our computation
        gives no such value, e.g. no estimable study: then the status is a mismatch).
    status : {"reproduced", "mismatch", "likely-typo"}
    """

    field: str
    printed: str
    value: float
    rounded: str
    status: Literal["reproduced", "mismatch", "likely-typo"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe record of this check."""
        return json_safe(
            {
                "field": self.field,
                "printed": self.printed,
                "value": self.value,
                "rounded": self.rounded,
                "status": self.status,
            }
        )


@dataclass(frozen=True)
class BayesSummary:
    """Posterior summary of one Bayesian fit (one model, one tau prior).

    Quantiles of ``mu``, ``tau``, ``theta_new`` and each study's shrunken effect ``theta``
    are on the analysis scale (log for ratio measures), keyed ``q025, q50, q975``.

    Attributes
    ----------
    model : str
        ``"normal-normal (exact)"`` or the MCMC model's name.
    prior : str
        Canonical string of the tau prior actually used.
    why : str
        The plan's reason for this prior.
    mu, tau, theta_new : dict[str, float]
    theta : dict[str, dict[str, float]]
        Shrunken study effects, keyed by study label.
    log_scale : bool
        Whether mu, theta_new and theta are log ratios.
    extra : dict
        Model-specific numbers (KL divergence of tau, Bayes factors, diagnostics).
    idata : arviz.InferenceData or None
        The draws of an MCMC fit (``None`` for exact fits); not part of the JSON record,
        written by :func:`sparsemeta.present.report.write_report` as NetCDF.
    posterior : ExactPosterior or None
        The exact posterior itself (``None`` for MCMC fits), kept so that nothing has to
        be recomputed to present it.
    netcdf : bytes or None
        ``idata`` already encoded as NetCDF (:attr:`sparsemeta.bayes.sample.FitResult.netcdf`,
        when the fit went through the fit cache), written as it is by the report.
    """

    model: str
    prior: str
    why: str
    mu: dict[str, float]
    tau: dict[str, float]
    theta_new: dict[str, float]
    theta: dict[str, dict[str, float]]
    log_scale: bool
    extra: dict[str, Any] = field(default_factory=dict)
    idata: Any = field(default=None, repr=False, compare=False)
    posterior: exact.ExactPosterior | None = field(default=None, repr=False, compare=False)
    netcdf: bytes | None = field(default=None, repr=False, compare=False)

    def prob(self, param: str, op: Op, value: float) -> float:
        """Posterior probability ``P(param op value)`` (analysis scale): from the exact
        posterior, or from the MCMC draws; e.g. P(mu > 0) = ``prob("mu", ">", 0)``."""
        if self.posterior is not None:
            return self.posterior.prob(param, op, value)
        if self.idata is None:
            raise ValueError(f"{self.model}: neither a posterior nor draws are kept")
        return prob_from_draws(self.idata.posterior[param].values.ravel(), op, value)

    def ratio(self, param: Literal["mu", "theta_new"]) -> dict[str, float]:
        """Quantiles of ``mu`` or ``theta_new`` on the ratio scale (log-ratio fits only)."""
        if not self.log_scale:
            raise ValueError("not a log-ratio analysis")
        return {q: math.exp(v) for q, v in getattr(self, param).items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe record: log-scale quantiles, plus ratio-scale ``mu_ratio`` /
        ``theta_new_ratio``; ``p_positive`` (and ``p_ratio_gt_1`` for ratio measures) is
        ``prob("mu", ">", 0)``."""
        p_positive = self.prob("mu", ">", 0.0)
        out: dict[str, Any] = {
            "model": self.model,
            "prior": self.prior,
            "why": self.why,
            "mu": self.mu,
            "tau": self.tau,
            "theta_new": self.theta_new,
            "theta": self.theta,
            "p_positive": p_positive,
        }
        if self.log_scale:
            out["mu_ratio"] = self.ratio("mu")
            out["theta_new_ratio"] = self.ratio("theta_new")
            out["p_ratio_gt_1"] = p_positive
        out.update(self.extra)
        return json_safe(out)


@dataclass(frozen=True)
class AnalysisResult:
    """Everything :func:`reproduce` found for one analysis of the plan.

    Attributes
    ----------
    analysis : Analysis
    status : str
        One of :data:`STATUSES`.
    published : dict[str, str]
        The published row's printed values (empty when nothing was published).
    frequentist : MetaResult or None
        Our recomputation with the review's settings (``None`` without study data).
    checks : tuple[FieldCheck, ...]
        Every printed value compared.
    exact : dict[str, BayesSummary]
        Exact normal-normal posteriors, keyed by the prior's label (plan order).
    prior_comparison : PriorComparison or None
        The same exact posteriors side by side with what each tau prior says
        (:func:`sparsemeta.bayes.sensitivity.compare_priors`), keyed alike; ``None`` when
        the exact model was not fitted.
    binomial_comparison : PriorComparison or None
        The exact posterior of the measure's binomial-likelihood model (every study kept):
        ``binomial-rr`` (log RR) for RR analyses, the arm-symmetric ``binomial-normal``
        (log OR) for OR analyses (``_BINOMIAL_FAMILY``, the family the MCMC fit uses), under
        each tau prior of the plan that does not need standard errors
        (:func:`~sparsemeta.bayes.sensitivity.compare_priors` with that ``model``);
        ``None`` without binary data or without the ``binomial`` model.
    mcmc : dict[str, BayesSummary]
        Binomial-likelihood MCMC fits, keyed by the prior's label.
    notes : tuple[str, ...]
        Remarks (studies dropped by RevMan but kept by the binomial model, k = 1, ...).
    typos : tuple[Finding, ...]
        Printed values identified as likely typos
        (:func:`sparsemeta.review.findings.heterogeneity_typo`); their checks have status
        ``"likely-typo"``.
    leave_one_out : pandas.DataFrame or None
        The analysis without each estimable study (``None`` with fewer than two): one row
        per omitted ``study`` with the frequentist ``estimate, lower, upper, tau2, i2``
        (the review's settings, analysis scale) and, where the exact model was fitted,
        ``mu_median, mu_lower, mu_upper, mu_shift`` of the exact posterior under the
        plan's default tau prior (shift of the median in full-data posterior sd units).
    """

    analysis: Analysis
    status: Status
    published: dict[str, str]
    frequentist: MetaResult | None
    checks: tuple[FieldCheck, ...] = ()
    exact: dict[str, BayesSummary] = field(default_factory=dict)
    mcmc: dict[str, BayesSummary] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    typos: tuple[Finding, ...] = ()
    leave_one_out: pd.DataFrame | None = None
    prior_comparison: PriorComparison | None = field(default=None, repr=False)
    binomial_comparison: PriorComparison | None = field(default=None, repr=False)

    @property
    def key(self) -> AnalysisKey:
        """The analysis key."""
        return self.analysis.key

    def reproduced_values(self) -> dict[str, Any]:
        """Our frequentist numbers, estimates and CIs on the printed (ratio) scale."""
        r = self.frequentist
        if r is None:
            return {}
        scale = math.exp if r.log_scale else float
        return {
            "measure": r.measure,
            "method": r.method,
            "tau2_method": r.tau2_method,
            "k": r.k,
            "estimate": scale(r.estimate) if r.k else None,
            "ci_low": scale(r.ci_low) if r.k else None,
            "ci_high": scale(r.ci_high) if r.k else None,
            "log_estimate": r.estimate if r.log_scale else None,
            "se": r.se,
            "z": r.z,
            "p": r.p,
            "chi2": r.chi2,
            "df": r.df,
            "p_chi2": r.p_chi2,
            "i2": r.i2,
            "tau2": r.tau2,
            "tau": r.tau,
            "excluded": [{"study": s, "reason": why} for s, why in r.excluded],
            "weights": dict(zip(r.studies, (float(w) for w in r.weights), strict=True)),
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe record of this analysis in :meth:`ReproduceResult.to_dict`."""
        a = self.analysis
        published: dict[str, Any] = {
            f: _printed_number(v) for f, v in self.published.items() if f in COMPARED_FIELDS
        }
        published["printed"] = dict(self.published)
        diagnostics = {label: s.extra.get("diagnostics", {}) for label, s in self.mcmc.items()}
        return json_safe(
            {
                "comparison": a.comparison,
                "outcome": a.outcome,
                "timepoint": a.timepoint,
                "label": a.label,
                "measure": a.measure,
                "method": a.method,
                "status": self.status,
                "published": published,
                "reproduced": self.reproduced_values(),
                "checks": [c.to_dict() for c in self.checks],
                "typos": [_typo_record(f) for f in self.typos],
                "bayes": {label: s.to_dict() for label, s in self.exact.items()},
                "bayes_mcmc": {label: s.to_dict() for label, s in self.mcmc.items()},
                "diagnostics": diagnostics,
                "notes": list(self.notes),
                "note": a.note,
                "leave_one_out": None
                if self.leave_one_out is None
                else self.leave_one_out.to_dict(orient="records"),
            }
        )


@dataclass(frozen=True)
class ReproduceResult:
    """Result of :func:`reproduce` for a whole plan.

    Attributes
    ----------
    plan : Plan
    analyses : tuple[AnalysisResult, ...]
        In plan order.
    findings : tuple[Finding, ...]
    seconds : float
        Wall-clock time of the computation.
    """

    plan: Plan
    analyses: tuple[AnalysisResult, ...]
    findings: tuple[Finding, ...]
    seconds: float

    def __getitem__(self, key: AnalysisKey | tuple[str, str, str | None]) -> AnalysisResult:
        """The result of one analysis, by ``(comparison, outcome, timepoint)``."""
        key = AnalysisKey(*key)
        for r in self.analyses:
            if r.key == key:
                return r
        raise KeyError(f"no analysis {key} in this result")

    def counts(self) -> dict[str, int]:
        """Number of analyses per status (every status listed, zeros included)."""
        out = dict.fromkeys(STATUSES, 0)
        for r in self.analyses:
            out[r.status] += 1
        return out

    def typos(self) -> list[tuple[AnalysisResult, Finding]]:
        """Every printed value flagged as a likely typo, with its analysis (plan order)."""
        return [(r, f) for r in self.analyses for f in r.typos]

    def headline(self) -> str:
        """One line: analyses per status and the printed values flagged as likely typos.

        E.g. ``"8 reproduced, 12 no-data, 8 not-published; 1 printed value flagged as a
        likely typo (Infant attachment: secure (post): tau2 printed 3.71, computed 1.54)"``.
        """
        counts = ", ".join(f"{n} {status}" for status, n in self.counts().items() if n)
        typos = self.typos()
        if not typos:
            return f"{counts}; no printed value flagged as a likely typo"
        listing = "; ".join(
            f"{r.analysis.outcome}"
            + (f" ({r.analysis.timepoint})" if r.analysis.timepoint else "")
            + f": {f.details['field']} printed {f.details['printed']}, "
            f"computed {f.details['computed']:.2f}"
            for r, f in typos
        )
        values = "value" if len(typos) == 1 else "values"
        return f"{counts}; {len(typos)} printed {values} flagged as a likely typo ({listing})"

    def summary(self) -> pd.DataFrame:
        """One row per analysis: ``comparison, outcome, timepoint, measure, status, k``, the
        frequentist estimate and CI on the analysis scale (``estimate, ci_low, ci_high``)
        and, under the plan's default tau prior, the exact posterior of ``mu`` in the
        columns ``mean, sd, median, lower, upper, level`` (NaN where not computed)."""
        default = self.plan.default_prior.label
        nan = math.nan
        rows = []
        for r in self.analyses:
            a, f = r.analysis, r.frequentist
            post = r.exact[default].posterior if default in r.exact else None
            mu = (
                post.summary().iloc[0]
                if post is not None
                else dict.fromkeys(("mean", "sd", "median", "lower", "upper", "level"), nan)
            )
            rows.append(
                {
                    "comparison": a.comparison,
                    "outcome": a.outcome,
                    "timepoint": a.timepoint,
                    "measure": a.measure,
                    "status": r.status,
                    "k": nan if f is None else f.k,
                    "estimate": nan if f is None else f.estimate,
                    "ci_low": nan if f is None else f.ci_low,
                    "ci_high": nan if f is None else f.ci_high,
                    "tau_prior": default,
                    **{c: mu[c] for c in ("mean", "sd", "median", "lower", "upper", "level")},
                }
            )
        return pd.DataFrame(rows)

    def __str__(self) -> str:
        frame = self.summary().drop(columns=["comparison", "level"])
        return f"Reproduction of {self.plan.id}: {self.headline()}\n" + frame.to_string(
            index=False, float_format="%.4g"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe record (NaN and infinities written as ``"NaN"``, ``"Infinity"``,
        ``"-Infinity"``; see :mod:`sparsemeta.results`).

        Shape: ``{"review", "analyses": [...], "findings": [...], "counts",
        "typos_flagged", "seconds"}``;
        see :meth:`AnalysisResult.to_dict`. Estimates and CIs of ratio measures are on
        the ratio scale, Bayesian quantiles on the log scale.
        """
        p = self.plan
        return json_safe(
            {
                "review": {
                    "id": p.id,
                    "title": p.title,
                    "citation": p.citation,
                    "also": list(p.also),
                    "plan": str(p.path),
                },
                "analyses": [r.to_dict() for r in self.analyses],
                "findings": [f.to_dict() for f in self.findings],
                "counts": self.counts(),
                "typos_flagged": len(self.typos()),
                "seconds": self.seconds,
            }
        )


# ----------------------------------------------------------------------- entry point


def reproduce(
    plan: Plan,
    *,
    mcmc: bool = True,
    studies: pd.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
    cache: bool = False,
) -> ReproduceResult:
    """Recompute every analysis of ``plan`` and compare with the published results.

    Parameters
    ----------
    plan : Plan
        A loaded plan (:func:`sparsemeta.review.plan.load`).
    mcmc : bool, default True
        Fit the binomial-likelihood models the plan asks for (MCMC; the slow part). With
        ``False`` only the exact normal-normal posteriors are computed.
    studies : pandas.DataFrame, optional
        A study table to use instead of the plan's data (e.g. a corrected copy).
    progress : callable, optional
        Called with the analysis's label after each analysis of the plan (once per
        analysis, in plan order: ``len(plan.analyses)`` calls), e.g. to advance a
        progress bar.
    cache : bool, default False
        Reuse MCMC fits kept on disk by an earlier identical run, and keep new ones
        (:func:`sparsemeta.bayes.sample.fit`'s ``cache``; identical draws, gate rechecked).

    Returns
    -------
    ReproduceResult
    """
    start = time.perf_counter()
    table = plan.studies() if studies is None else data.study_table(studies)
    published = plan.published_table(printed=True)
    by_key = dict(data.analyses(table))
    results = []
    for a in plan.analyses:
        results.append(
            _analysis(plan, a, by_key.get(a.key), published_row(published, a.key), mcmc, cache)
        )
        if progress is not None:
            progress(a.label)
    found = tuple(findings.detect(plan, table, published))
    return ReproduceResult(plan, tuple(results), found, time.perf_counter() - start)


# ----------------------------------------------------------------------- one analysis


def _analysis(
    plan: Plan,
    a: Analysis,
    rows: pd.DataFrame | None,
    row: dict[str, str],
    mcmc: bool,
    cache: bool,
) -> AnalysisResult:
    if rows is None:
        return AnalysisResult(
            a, "no-data", row, None, notes=("no study-level data: nothing to recompute",)
        )
    result = a.meta_analysis(rows)
    notes: list[str] = []
    if result.k == 0:
        notes.append("no estimable study: no pooled estimate")
    typos = tuple(findings.heterogeneity_typo(a, rows, row)) if row else ()
    checks = _compare(rows, result, row, {f.details["field"] for f in typos})
    status = _status(row, checks)
    exact_fits, comparison = (
        _exact_fits(plan, a, rows, result, notes) if "exact" in a.models else ({}, None)
    )
    mcmc_fits: dict[str, BayesSummary] = {}
    if mcmc and "binomial" in a.models:
        mcmc_fits = _mcmc_fits(plan, a, rows, result, notes, cache)
    loo = _leave_one_out(plan, a, rows, result) if result.k >= 2 else None
    binomial = (
        _binomial_comparison(plan, a, rows, result, notes) if "binomial" in a.models else None
    )
    return AnalysisResult(
        a,
        status,
        row,
        result,
        checks,
        exact_fits,
        mcmc_fits,
        tuple(notes),
        typos,
        loo,
        comparison,
        binomial,
    )


def _binomial_comparison(
    plan: Plan, a: Analysis, rows: pd.DataFrame, r: MetaResult, notes: list[str]
) -> PriorComparison | None:
    """The exact binomial prior comparison of the analysis's measure (see
    :class:`AnalysisResult`)."""
    from sparsemeta import data

    if not set(data.BINARY_COLUMNS) <= set(rows.columns):
        return None
    assert a.measure is not None  # analyses with study data always have a measure
    family = _BINOMIAL_FAMILY[a.measure]
    _, se, _, n = _estimable(rows, r)
    priors = {}
    for choice in plan.priors_for(a):
        if choice.uisd_from_data and se.size == 0:
            continue
        prior = choice.build(n, se)
        if not getattr(prior, "requires_se", False):
            priors[choice.label] = prior
    if not priors:
        return None
    table = rows.assign(comparison="c", outcome="o")[
        ["study", "comparison", "outcome", *data.BINARY_COLUMNS]
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        comparison = compare_priors(table, priors, mu_prior=None, model=family)
    for w in caught:
        if (text := f"exact {family} model: {w.message}") not in notes:
            notes.append(text)
    return comparison


def _leave_one_out(plan: Plan, a: Analysis, rows: pd.DataFrame, r: MetaResult) -> pd.DataFrame:
    """The leave-one-out table of :attr:`AnalysisResult.leave_one_out`."""
    from sparsemeta.bayes.leave_one_out import leave_one_out as exact_leave_one_out

    table = a.leave_one_out(rows).to_frame()[["study", "estimate", "lower", "upper", "tau2", "i2"]]
    if "exact" not in a.models:
        return table
    y, se, labels, n = _estimable(rows, r)
    assert a.measure is not None  # analyses with study data always have a measure
    prior = plan.default_prior.build(n, se)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the fits' own notes say it already
        bayes = exact_leave_one_out(y, se, prior, plan.mu_prior_for(a.measure), labels)
    cols = ["study", "mu_median", "mu_lower", "mu_upper", "mu_shift"]
    return table.merge(bayes.table[cols].iloc[1:], on="study", how="left")


def _status(row: Mapping[str, str], checks: Sequence[FieldCheck]) -> Status:
    """Analysis status from its field checks (see the module docstring).

    A likely typo of a secondary statistic (tau^2, Chi^2, ...) leaves the analysis
    ``"reproduced"``; only a likely typo of the estimate or a confidence limit
    (:data:`MAIN_FIELDS`) makes the analysis ``"likely-typo"``.
    """
    if "estimate" not in row:
        return "not-published"
    if any(c.status == "mismatch" for c in checks):
        return "mismatch"
    if any(c.status == "likely-typo" and c.field in MAIN_FIELDS for c in checks):
        return "likely-typo"
    return "reproduced"


def _our_values(rows: pd.DataFrame, r: MetaResult) -> dict[str, float]:
    scale = math.exp if r.log_scale else float
    values = {
        "chi2": r.chi2,
        "df": float(r.df),
        "p_het": r.p_chi2,
        "i2": r.i2,
        "p_overall": r.p,
        "tau2": r.tau2,
        "k_studies": float(len(rows)),
    }
    if {"n_t", "n_c"} <= set(rows.columns):
        values["n_participants"] = float((rows["n_t"] + rows["n_c"]).sum())
    if r.k:
        values.update(estimate=scale(r.estimate), ci_low=scale(r.ci_low), ci_high=scale(r.ci_high))
    return values


def _compare(
    rows: pd.DataFrame, r: MetaResult, row: Mapping[str, str], typos: set[str]
) -> tuple[FieldCheck, ...]:
    if not row:
        return ()
    ours = _our_values(rows, r)
    out: list[FieldCheck] = []
    for name in COMPARED_FIELDS:
        printed = row.get(name)
        value = ours.get(name, math.nan)
        if printed is None:
            continue
        if not math.isfinite(value):  # printed, but our computation gives no such value
            out.append(FieldCheck(name, printed, math.nan, "", "mismatch"))
            continue
        cmp = check.compare_printed(value, printed)
        status = cmp.status
        if status == "mismatch" and name in typos:
            status = "likely-typo"
        out.append(FieldCheck(name, printed, value, cmp.rounded, status))
    return tuple(out)


# ----------------------------------------------------------------------- Bayes


def _quantiles(dist: Any) -> dict[str, float]:
    return {name: float(dist.quantile(p)) for name, p in _QUANTILES.items()}


def _estimable(
    rows: pd.DataFrame, r: MetaResult
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    keep = np.isfinite(r.yi) & np.isfinite(r.vi)
    labels = [s for s, k in zip(r.studies, keep, strict=True) if k]
    n = (rows["n_t"] + rows["n_c"]).to_numpy(float)[keep]
    return r.yi[keep], np.sqrt(r.vi[keep]), labels, n


def _exact_fits(
    plan: Plan, a: Analysis, rows: pd.DataFrame, r: MetaResult, notes: list[str]
) -> tuple[dict[str, BayesSummary], PriorComparison | None]:
    y, se, labels, n = _estimable(rows, r)
    if y.size == 0:
        notes.append("exact normal-normal model not fitted: no study has an estimable effect")
        return {}, None
    assert a.measure is not None  # analyses with study data always have a measure
    choices = {choice.label: choice for choice in plan.priors_for(a)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        comparison = compare_priors(
            y,
            {label: choice.build(n, se) for label, choice in choices.items()},
            measure=a.measure,
            mu_prior=plan.mu_prior_for(a.measure),
            se=se,
            labels=labels,
        )
    for w in caught:
        if (text := f"exact model: {w.message}") not in notes:
            notes.append(text)
    fits = {
        label: _exact_summary(
            choice, comparison.priors[label], comparison.posteriors[label], r.log_scale
        )
        for label, choice in choices.items()
    }
    return fits, comparison


def _exact_summary(
    choice: TauPriorChoice, prior: TauPrior, post: exact.ExactPosterior, log_scale: bool
) -> BayesSummary:
    extra: dict[str, Any] = {}
    if getattr(prior, "proper", True):
        extra = {"kl_tau": post.kl_tau(), "bf_tau0": post.bayes_factor_tau0()}
    return BayesSummary(
        model="normal-normal (exact)",
        prior=str(prior),
        why=choice.why,
        mu=_quantiles(post.mu),
        tau=_quantiles(post.tau),
        theta_new=_quantiles(post.theta_new),
        theta={s: _quantiles(post.theta[s]) for s in post.labels},
        log_scale=log_scale,
        extra=extra,
        posterior=post,
    )


def _mcmc_fits(
    plan: Plan, a: Analysis, rows: pd.DataFrame, r: MetaResult, notes: list[str], cache: bool
) -> dict[str, BayesSummary]:
    assert a.measure is not None  # analyses with study data always have a measure
    choice = plan.default_prior
    _, se, _, n = _estimable(rows, r)
    if choice.uisd_from_data and se.size == 0:
        notes.append(
            "binomial model not fitted: the data-scaled default prior needs an estimable study"
        )
        return {}
    prior = choice.build(n, se)
    family = _BINOMIAL_FAMILY[a.measure]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        warnings.simplefilter("always", DiagnosticsWarning)
        result = sample.sample(
            rows,
            a.measure,
            model=family,
            tau_prior=prior,
            mu_prior=plan.mu_prior_for(a.measure),
            draws=plan.mcmc.draws,
            tune=plan.mcmc.tune,
            chains=plan.mcmc.chains,
            seed=plan.mcmc.seed,
            cache=cache,
            progress=False,  # reproduce shows its own progress per analysis
        )
    for w in caught:
        if issubclass(w.category, CacheWarning):  # about the cache, not the analysis
            warnings.warn(w.message, CacheWarning, stacklevel=2)
        elif (text := f"{family} model: {w.message}") not in notes:
            notes.append(text)
    kept = [s for s, _ in r.excluded if s in result.labels]
    for study, reason in r.excluded:
        if study in kept:
            notes.append(
                f"the {family} model keeps {study}, which RevMan drops ({reason}): "
                f"{result.k} of {result.k} studies used"
            )
    summary = result.summary()

    def q(param: str, study: str | None = None) -> dict[str, float]:
        rows_ = summary[summary["param"] == param]
        if study is not None:
            rows_ = rows_[rows_["study"] == study]
        row = rows_.iloc[0]
        return {
            "q025": float(row["lower"]),
            "q50": float(row["median"]),
            "q975": float(row["upper"]),
        }

    diagnostics = {
        **result.diagnostics.to_dict(),
        "engine": result.engine,
        "seconds": result.seconds,
        "compile_seconds": result.compile_seconds,
        "cached": result.cached,
        "from_disk": result.from_disk,
        "settings": dict(result.settings),
        "kept_by_binomial": kept,
    }
    return {
        choice.label: BayesSummary(
            model=family,
            prior=str(prior),
            why=choice.why,
            mu=q("mu"),
            tau=q("tau"),
            theta_new=q("theta_new"),
            theta={s: q("theta", s) for s in result.labels},
            log_scale=r.log_scale,
            extra={"diagnostics": diagnostics},
            idata=result.idata,
            netcdf=result.netcdf,
        )
    }


# ----------------------------------------------------------------------- JSON helpers


def _printed_number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _typo_record(f: Finding) -> dict[str, Any]:
    """JSON record of a likely typo: field, printed and computed values, and why."""
    d = f.details
    return {
        "field": d["field"],
        "printed": _printed_number(d["printed"]),
        "computed": d["computed"],
        "equals": list(d.get("equals", [])),
        "why": f.message,
    }
