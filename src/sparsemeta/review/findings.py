"""Findings: problems in a review's data or printed results, detected from the data.

Each check is generic; what it needs to know about a review (its analyses, their measures
and the consistency relations between outcomes) comes from the analysis plan
(:mod:`sparsemeta.review.plan`). Four kinds of finding:

``likely-typo``
    a printed heterogeneity value (tau^2 or tau) that equals another statistic printed
    for the same analysis and that no honest estimator (DerSimonian-Laird, REML,
    Paule-Mandel) gives from the data: most likely the other statistic copied into its
    place. The finding reports the value the review's own method gives.
``count-rounding``
    category counts of one study arm that miss a consistency relation (categories that
    should add up to the arm, or one count that should equal the sum of others) by one:
    what rounding halved or shared-arm counts produces.
``entry-error``
    category counts that miss a relation by more than rounding can explain; the finding
    names the entry most likely in error (an entry also in a relation that holds is taken
    as confirmed; among the rest the one of lowest ``confidence``, when the data carry
    that column) and the count the other categories imply, and says which of the two
    values reproduces the published result.
``dropped-study``
    a study that a ratio measure cannot use (no events in either arm): RevMan excludes
    it, so the pooled result rests on the remaining studies only; a binomial-likelihood
    model can keep it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import pandas as pd

from sparsemeta import data
from sparsemeta.data import AnalysisKey
from sparsemeta.frequentist import TAU2_METHODS
from sparsemeta.results import json_safe
from sparsemeta.review import check
from sparsemeta.review.plan import Analysis, Plan, Relation, analysis_label, published_row

__all__ = [
    "HETEROGENEITY_FIELDS",
    "KINDS",
    "ROUNDING",
    "Finding",
    "count_relations",
    "detect",
    "dropped_studies",
    "heterogeneity_typo",
    "heterogeneity_typos",
]

Kind = Literal["likely-typo", "count-rounding", "entry-error", "dropped-study"]
KINDS: tuple[str, ...] = ("likely-typo", "count-rounding", "entry-error", "dropped-study")

#: printed heterogeneity columns checked for typos, and the statistic each one holds
HETEROGENEITY_FIELDS: dict[str, str] = {"tau2": "τ²", "tau": "τ"}
#: other printed columns a heterogeneity value may have been copied from
_STATISTICS: dict[str, str] = {
    "chi2": "Chi²",
    "i2": "I²",
    "p_het": "P (heterogeneity)",
    "estimate": "estimate",
    "ci_low": "lower CI limit",
    "ci_high": "upper CI limit",
    "p_overall": "P (overall effect)",
}
#: a relation missed by at most this many counts is reported as rounding
ROUNDING = 1
_CONFIDENCE_RANK = {"low": 0, "medium": 1, "high": 2}
_ARMS = (("t", "experimental arm"), ("c", "comparator arm"))


@dataclass(frozen=True)
class Finding:
    """One finding.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    analysis : str
        Label of the analysis concerned (``"comparison | outcome | timepoint"``), or of
        the relation for a family of analyses (``"comparison | relation | timepoint"``).
    message : str
        One self-contained sentence or two, with the numbers.
    study : str or None
        The study concerned, if one.
    details : dict
        The numbers behind the message (kind-specific keys).
    """

    kind: Kind
    analysis: str
    message: str
    study: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe record: ``kind, analysis, message, study, details``."""
        return json_safe(
            {
                "kind": self.kind,
                "analysis": self.analysis,
                "message": self.message,
                "study": self.study,
                "details": dict(self.details),
            }
        )


def detect(
    plan: Plan, studies: pd.DataFrame | None = None, published: pd.DataFrame | None = None
) -> list[Finding]:
    """Run every check of this module on a plan's data.

    Parameters
    ----------
    plan : Plan
        The analysis plan (analyses, measures, relations).
    studies : pandas.DataFrame, optional
        Study table to check instead of the plan's own data (e.g. a corrected copy).
    published : pandas.DataFrame, optional
        Published results as printed strings, instead of the plan's own.

    Returns
    -------
    list[Finding]
        Heterogeneity typos, count relations, dropped studies, in that order.
    """
    studies = plan.studies() if studies is None else data.study_table(studies)
    if published is None:
        published = plan.published_table(printed=True)
    return [
        *heterogeneity_typos(plan, studies, published),
        *count_relations(plan, studies, published),
        *dropped_studies(plan, studies, published),
    ]


# ----------------------------------------------------------------------- helpers


def _rows_by_key(studies: pd.DataFrame) -> dict[AnalysisKey, pd.DataFrame]:
    return dict(data.analyses(studies))


def _same_number(a: str, b: str) -> bool:
    try:
        return Decimal(a) == Decimal(b)
    except InvalidOperation:
        return False


def _ratio_text(result: Any) -> str:
    if result.log_scale:
        lo, hi = result.exp_ci()
        return f"{result.measure} {result.exp_estimate():.2f} [{lo:.2f}, {hi:.2f}]"
    return f"{result.measure} {result.estimate:.2f} [{result.ci_low:.2f}, {result.ci_high:.2f}]"


# ----------------------------------------------------------------------- typos


def heterogeneity_typo(
    analysis: Analysis, rows: pd.DataFrame, row: Mapping[str, str]
) -> list[Finding]:
    """Printed heterogeneity values of one analysis that are likely typos.

    A printed value of a :data:`HETEROGENEITY_FIELDS` column is a likely typo when it
    equals (at printed precision) another statistic printed for the same analysis and
    none of the DerSimonian-Laird, REML and Paule-Mandel estimates rounds to it.

    Parameters
    ----------
    analysis : Analysis
        The analysis and its RevMan settings.
    rows : pandas.DataFrame
        Its studies.
    row : mapping
        Its published row, ``{column: printed text}`` (:func:`sparsemeta.review.plan.published_row`).
    """
    out: list[Finding] = []
    for column, symbol in HETEROGENEITY_FIELDS.items():
        printed = row.get(column)
        if printed is None:
            continue
        twins = [
            name
            for other, name in _STATISTICS.items()
            if (text := row.get(other)) is not None and _same_number(printed, text)
        ]
        if not twins:
            continue
        honest = {m: analysis.meta_analysis(rows, tau2_method=m) for m in TAU2_METHODS}
        values = {m: (r.tau2 if column == "tau2" else r.tau) for m, r in honest.items()}
        if any(check.compare_printed(v, printed).status == "reproduced" for v in values.values()):
            continue
        ours = values[analysis.tau2_method]
        listing = ", ".join(f"{m} {v:.2f}" for m, v in values.items())
        out.append(
            Finding(
                kind="likely-typo",
                analysis=analysis.label,
                message=(
                    f"{analysis.label}: the printed {symbol} = {printed} equals the printed "
                    f"{' and '.join(twins)}, and no estimator gives it from the data "
                    f"({listing}); likely a typo. The review's method "
                    f"({analysis.method} random, {analysis.tau2_method}) gives "
                    f"{symbol} = {ours:.2f}."
                ),
                details={
                    "field": column,
                    "printed": printed,
                    "equals": twins,
                    "computed": ours,
                    "estimators": values,
                },
            )
        )
    return out


def heterogeneity_typos(
    plan: Plan, studies: pd.DataFrame, published: pd.DataFrame | None
) -> list[Finding]:
    """:func:`heterogeneity_typo` over every analysis with study data and a published row."""
    by_key = _rows_by_key(studies)
    out: list[Finding] = []
    for analysis in plan.analyses:
        rows = by_key.get(analysis.key)
        row = published_row(published, analysis.key)
        if rows is not None and row and analysis.measure is not None:
            out.extend(heterogeneity_typo(analysis, rows, row))
    return out


# ----------------------------------------------------------------------- counts


@dataclass(frozen=True)
class _ArmCheck:
    relation: Relation
    comparison: str
    study: str
    arm: str
    n: int
    counts: dict[str, int]
    lhs: int
    rhs: int

    @property
    def gap(self) -> int:
        return self.rhs - self.lhs

    @property
    def entries(self) -> tuple[str, ...]:
        return self.relation.sum + (self.relation.equals or ())


def _arm_checks(plan: Plan, studies: pd.DataFrame) -> list[_ArmCheck]:
    by_key = _rows_by_key(studies)
    out: list[_ArmCheck] = []
    for relation in plan.relations:
        comparisons = dict.fromkeys(
            a.comparison for a in plan.analyses if relation.applies(a.comparison)
        )
        for comparison in comparisons:
            frames = {
                o: by_key.get(AnalysisKey(comparison, o, relation.timepoint))
                for o in relation.sum + (relation.equals or ())
            }
            if any(f is None or data.data_type(f) != "binary" for f in frames.values()):
                continue
            studies_in = set.intersection(*(set(f["study"]) for f in frames.values()))
            first = next(iter(frames.values()))
            for study in [s for s in first["study"] if s in studies_in]:
                rows = {o: f[f["study"] == study].iloc[0] for o, f in frames.items()}
                for arm, _ in _ARMS:
                    sizes = {int(r[f"n_{arm}"]) for r in rows.values()}
                    if len(sizes) != 1:
                        continue
                    n = sizes.pop()
                    counts = {o: int(r[f"events_{arm}"]) for o, r in rows.items()}
                    lhs = sum(counts[o] for o in relation.sum)
                    rhs = n if relation.equals is None else sum(counts[o] for o in relation.equals)
                    out.append(_ArmCheck(relation, comparison, study, arm, n, counts, lhs, rhs))
    return out


def _describe(c: _ArmCheck) -> str:
    if c.relation.equals is None:
        return (
            f"{', '.join(f'{o} {c.counts[o]}' for o in c.relation.sum)} add up to {c.lhs}, "
            f"not the arm's {c.n}"
        )
    left = " + ".join(f"{o} {c.counts[o]}" for o in c.relation.sum)
    right = " + ".join(f"{o} {c.counts[o]}" for o in c.relation.equals)
    return f"{left} (= {c.lhs}) differs from {right} (= {c.rhs})"


def count_relations(
    plan: Plan, studies: pd.DataFrame, published: pd.DataFrame | None = None
) -> list[Finding]:
    """Check the plan's consistency relations in every study arm.

    A relation missed by at most :data:`ROUNDING` counts gives a ``count-rounding``
    finding; by more, an ``entry-error`` finding. An arm entered identically in several
    comparisons (a shared arm) is reported once, listing the other comparisons.
    """
    checks = _arm_checks(plan, studies)
    holds = [c for c in checks if c.gap == 0]
    reported: dict[tuple[Any, ...], Finding] = {}
    out: list[Finding] = []
    for c in checks:
        if c.gap == 0:
            continue
        identity = (c.relation.name, c.study, c.arm, c.n, tuple(sorted(c.counts.items())))
        if identity in reported:
            reported[identity].details["also_in"].append(c.comparison)
            continue
        arm_name = dict(_ARMS)[c.arm]
        where = f"{c.study}, {arm_name} (n = {c.n})"
        family = analysis_label(AnalysisKey(c.comparison, c.relation.name, c.relation.timepoint))
        details: dict[str, Any] = {
            "relation": c.relation.name,
            "arm": c.arm,
            "n": c.n,
            "counts": c.counts,
            "sum": c.lhs,
            "expected": c.rhs,
            "also_in": [],
        }
        if abs(c.gap) <= ROUNDING:
            finding = Finding(
                kind="count-rounding",
                analysis=family,
                study=c.study,
                message=(
                    f"{where}: {_describe(c)}. A difference of {abs(c.gap)} count is what "
                    "rounding produces (e.g. halved counts of a shared multi-arm trial arm)."
                ),
                details=details,
            )
        else:
            finding = _entry_error(plan, studies, published, c, holds, where, family, details)
        reported[identity] = finding
        out.append(finding)
    return out


def _entry_error(
    plan: Plan,
    studies: pd.DataFrame,
    published: pd.DataFrame | None,
    c: _ArmCheck,
    holds: Sequence[_ArmCheck],
    where: str,
    family: str,
    details: dict[str, Any],
) -> Finding:
    confirmed = {
        o
        for h in holds
        if h.study == c.study and h.arm == c.arm and h.comparison == c.comparison
        for o in h.entries
    }
    candidates: list[tuple[str, int]] = []
    for o in c.entries:
        implied = c.counts[o] + (c.gap if o in c.relation.sum else -c.gap)
        if o not in confirmed and 0 <= implied <= c.n:
            candidates.append((o, implied))
    by_key = _rows_by_key(studies)

    def rank(item: tuple[str, int]) -> int:
        rows = by_key[AnalysisKey(c.comparison, item[0], c.relation.timepoint)]
        row = rows[rows["study"] == c.study].iloc[0]
        return _CONFIDENCE_RANK.get(str(row.get("confidence", "")), len(_CONFIDENCE_RANK))

    candidates.sort(key=rank)
    details["candidates"] = {o: v for o, v in candidates}
    message = f"{where}: {_describe(c)}, a gap of {abs(c.gap)} that rounding cannot explain."
    if not candidates:
        return Finding("entry-error", family, message, c.study, details)
    outcome, implied = candidates[0]
    entered = c.counts[outcome]
    key = AnalysisKey(c.comparison, outcome, c.relation.timepoint)
    message += (
        f" The other categories imply {outcome} {implied}/{c.n}, where {entered}/{c.n} is entered"
    )
    if len(candidates) > 1:
        others = "; ".join(f"{o} {v}/{c.n}" for o, v in candidates[1:])
        message += f" (ranked first by the data's confidence; alternatively {others})"
    message += "."
    details.update({"outcome": outcome, "entered": entered, "implied": implied})
    message += _published_effect(plan, studies, published, key, c, entered, implied, details)
    return Finding("entry-error", analysis_label(key), message, c.study, details)


def _published_effect(
    plan: Plan,
    studies: pd.DataFrame,
    published: pd.DataFrame | None,
    key: AnalysisKey,
    c: _ArmCheck,
    entered: int,
    implied: int,
    details: dict[str, Any],
) -> str:
    row = published_row(published, key)
    analysis = next((a for a in plan.analyses if a.key == key), None)
    if analysis is None or row.get("estimate") is None:
        return ""
    rows = _rows_by_key(studies)[key].copy()
    fixed = rows.copy()
    fixed.loc[fixed["study"] == c.study, f"events_{c.arm}"] = implied
    results = {entered: analysis.meta_analysis(rows), implied: analysis.meta_analysis(fixed)}
    printed = {f: row.get(f) for f in ("estimate", "ci_low", "ci_high")}
    text = f"{analysis.measure} {printed['estimate']} [{printed['ci_low']}, {printed['ci_high']}]"
    verdicts = {}
    for value, result in results.items():
        ours = (
            (result.exp_estimate(), *result.exp_ci())
            if result.log_scale
            else (result.estimate, result.ci_low, result.ci_high)
        )
        verdicts[value] = all(
            check.compare_printed(v, p).status == "reproduced"
            for v, p in zip(ours, printed.values(), strict=True)
            if p is not None
        )
    details["reproduces_published"] = verdicts
    details["with_implied"] = _ratio_text(results[implied])
    said = [
        f"{v}/{c.n} {'reproduces' if ok else 'does not reproduce'}" for v, ok in verdicts.items()
    ]
    return (
        f" Against the published {text}: {said[0]}; {said[1]} "
        f"(it gives {_ratio_text(results[implied])})."
    )


# ----------------------------------------------------------------------- dropped studies


def dropped_studies(
    plan: Plan, studies: pd.DataFrame, published: pd.DataFrame | None = None
) -> list[Finding]:
    """Studies the review's method cannot use (e.g. no events in either arm of a ratio).

    One finding per analysis with excluded studies, saying what the pooled result then
    rests on and, when the analysis has a published estimate, that it is that study alone.
    """
    by_key = _rows_by_key(studies)
    out: list[Finding] = []
    for analysis in plan.analyses:
        rows = by_key.get(analysis.key)
        if rows is None or analysis.measure is None:
            continue
        result = analysis.meta_analysis(rows)
        if not result.excluded:
            continue
        dropped = []
        for study, reason in result.excluded:
            r = rows[rows["study"] == study].iloc[0]
            cells = (
                f" ({int(r['events_t'])}/{int(r['n_t'])} vs {int(r['events_c'])}/{int(r['n_c'])})"
                if "events_t" in r
                else ""
            )
            dropped.append(f"{study}{cells}: {reason}")
        kept = [s for s, w in zip(result.studies, result.weights, strict=True) if w > 0]
        if result.k == 0:
            rest = "no study is left and there is no pooled estimate"
        elif result.k == 1:
            rest = f"the pooled {_ratio_text(result)} is {kept[0]} alone"
        else:
            rest = f"the pooled {_ratio_text(result)} rests on {', '.join(kept)}"
        row = published_row(published, analysis.key)
        k_printed = row.get("k_studies")
        if k_printed is not None:
            rest += f" although the publication counts {k_printed} studies"
        out.append(
            Finding(
                kind="dropped-study",
                analysis=analysis.label,
                study=result.excluded[0][0],
                message=(
                    f"{analysis.label}: {'; '.join(dropped)}. RevMan excludes it, so {rest}. "
                    "A binomial-likelihood model can keep the study."
                ),
                details={
                    "excluded": [s for s, _ in result.excluded],
                    "kept": kept,
                    "k_estimable": result.k,
                    "k": len(rows),
                },
            )
        )
    return out
