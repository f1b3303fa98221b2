"""Compare computed results with stored or published ones.

Three tools:

* :func:`compare` — field-by-field comparison of two mappings of numbers with a relative
  tolerance for estimates and statistics and an absolute tolerance for p-values;
* :func:`compare_printed` — is a full-precision value what a paper printed (rounded)?
* :func:`revman_check` — recompute every analysis of a RevMan review with the file's own
  settings (:func:`sparsemeta.frequentist.revman`) and compare with what RevMan stored.

Tolerances follow RevMan 5's own precision: stored estimates, CIs, Z, Chi², τ², I² and
weights are double precision (relative difference ≤ 1e-9 is a match); RevMan computes
p-values with its own approximations (differences up to ~5e-7), so p-values are compared
absolutely (≤ 1e-6). I² is not compared where df = 0 (RevMan stores floating-point noise
there), nor the p-value of a statistic with df = 0. Values stored as ``NaN`` are RevMan's
placeholders and are skipped; so are all levels marked ``ESTIMABLE="NO"`` and every total
when ``TOTALS="NO"``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import pandas as pd

from sparsemeta import frequentist
from sparsemeta.errors import DataError, SparsemetaError
from sparsemeta.io.review import RevManAnalysis, RevManReview, StoredResult, stored_scale
from sparsemeta.results import json_safe

__all__ = [
    "P_FIELDS",
    "CheckEntry",
    "CheckReport",
    "Comparison",
    "FieldDiff",
    "PrintedComparison",
    "check_analysis",
    "compare",
    "compare_printed",
    "revman_check",
    "revman_settings",
]

Status = Literal["reproduced", "mismatch", "not-comparable"]

#: Fields compared with the absolute p-value tolerance (RevMan's attribute names).
P_FIELDS: tuple[str, ...] = ("P_Z", "P_CHI2", "P_Q")
#: Pooled-level fields compared by :func:`revman_check`.
LEVEL_FIELDS: tuple[str, ...] = (
    "EFFECT_SIZE",
    "CI_START",
    "CI_END",
    "Z",
    "P_Z",
    "CHI2",
    "DF",
    "P_CHI2",
    "I2",
    "TAU2",
    "WEIGHT",
    "TAU2_CI_START",
    "TAU2_CI_END",
    "PI_START",
    "PI_END",
)
_RATIO_FIELDS = ("EFFECT_SIZE", "CI_START", "CI_END", "PI_START", "PI_END")
#: Study-level fields compared by :func:`revman_check`.
STUDY_FIELDS: tuple[str, ...] = ("EFFECT_SIZE", "CI_START", "CI_END", "SE", "WEIGHT")
_CI_FIELDS = frozenset({"CI_START", "CI_END"})


@dataclass(frozen=True)
class FieldDiff:
    """One field that differs beyond its tolerance."""

    field: str
    computed: float
    reference: float
    diff: float
    tolerance: float
    kind: Literal["relative", "absolute"]


@dataclass(frozen=True)
class Comparison:
    """Result of :func:`compare`.

    Attributes
    ----------
    status : {"reproduced", "mismatch", "not-comparable"}
        ``not-comparable`` when no field has a finite reference value.
    max_rel_diff : float or None
        Largest relative difference over the non-p-value fields compared (see
        :func:`compare` for the scale used near zero); ``None`` when none was compared.
    field : str or None
        The field of the largest violation (mismatch), else of ``max_rel_diff``.
    max_p_diff : float or None
        Largest absolute difference over the p-value fields compared.
    p_field : str or None
        Its field.
    compared : tuple of str
        Fields compared, in input order.
    mismatches : tuple of FieldDiff
        Fields beyond tolerance, worst first.
    reason : str or None
        Why nothing could be compared, or a description of the worst mismatch.
    """

    status: Status
    max_rel_diff: float | None
    field: str | None
    max_p_diff: float | None
    p_field: str | None
    compared: tuple[str, ...]
    mismatches: tuple[FieldDiff, ...]
    reason: str | None = None


def _is_p(key: str, p_fields: Iterable[str]) -> bool:
    return key.rsplit("/", 1)[-1] in set(p_fields)


def compare(
    computed: Mapping[str, float],
    reference: Mapping[str, float],
    rel_tol: float = 1e-9,
    p_abs_tol: float = 1e-6,
    p_fields: Iterable[str] = P_FIELDS,
    abs_tol: float = 1e-12,
    half_units: Mapping[str, float] | None = None,
) -> Comparison:
    """Compare computed values with reference values, field by field.

    Every key of ``reference`` whose value is finite (or ±infinity) is compared; ``NaN``
    and ``None`` references are placeholders and are skipped. A key absent from
    ``computed``, or a computed ``NaN`` where the reference is a number, is a mismatch.
    A key may carry a level prefix ending in ``/`` (``"Smith 2000/WEIGHT"``); the part
    after the last ``/`` decides whether it is a p-value field.

    * p-value fields: match when ``|c − r| ≤ p_abs_tol``;
    * other fields: the difference ``|c − r| / max(|r|, abs_tol / rel_tol)`` must be
      ``≤ rel_tol``; i.e. relative, except that values smaller than ``abs_tol / rel_tol``
      (1e-3 by default) are matched to ``abs_tol`` absolutely (a stored 0 against a computed
      1e-17; a CI bound next to zero).

    Parameters
    ----------
    computed, reference : Mapping[str, float]
        Values by field name (e.g. RevMan attribute names).
    rel_tol : float
        Relative tolerance for estimates, CIs, statistics, τ², I², weights.
    p_abs_tol : float
        Absolute tolerance for p-values.
    p_fields : iterable of str
        Names of the p-value fields.
    abs_tol : float
        Absolute tolerance for values near zero (see above).
    half_units : Mapping[str, float], optional
        Per-key absolute tolerances for values stored rounded (half a unit of the last
        printed decimal): such a key matches when ``|c − r|`` is within it (or within the
        tolerance above).

    Returns
    -------
    Comparison
    """
    p_set = tuple(p_fields)
    floor = abs_tol / rel_tol if rel_tol > 0 else abs_tol
    compared: list[str] = []
    bad: list[tuple[float, FieldDiff]] = []
    rel_best: tuple[float, str] | None = None
    p_best: tuple[float, str] | None = None
    for key, ref in reference.items():
        if ref is None or (isinstance(ref, float) and math.isnan(ref)):
            continue
        r = float(ref)
        compared.append(key)
        c = float(computed[key]) if key in computed and computed[key] is not None else math.nan
        is_p = _is_p(key, p_set)
        if math.isinf(r) or math.isinf(c):
            diff = 0.0 if c == r else math.inf
        elif math.isnan(c):
            diff = math.inf
        elif is_p:
            diff = abs(c - r)
        else:
            diff = abs(c - r) / max(abs(r), floor)
        tol = p_abs_tol if is_p else rel_tol
        if half_units and key in half_units and math.isfinite(diff) and not is_p:
            # rounded reference: within half a unit of its printed last digit
            if abs(c - r) <= half_units[key]:
                diff = min(diff, tol)
        elif half_units and key in half_units and is_p:
            tol = max(tol, half_units[key])
        if is_p:
            if p_best is None or diff > p_best[0]:
                p_best = (diff, key)
        elif rel_best is None or diff > rel_best[0]:
            rel_best = (diff, key)
        if not diff <= tol:
            kind: Literal["relative", "absolute"] = "absolute" if is_p else "relative"
            ratio = diff / tol if tol > 0 else math.inf
            bad.append((ratio, FieldDiff(key, c, r, diff, tol, kind)))
    if not compared:
        return Comparison(
            "not-comparable", None, None, None, None, (), (), "no stored values to compare"
        )
    bad.sort(key=lambda item: -item[0])
    mismatches = tuple(d for _, d in bad)
    if mismatches:
        worst = mismatches[0]
        reason = f"{worst.field}: computed {worst.computed!r}, reference {worst.reference!r}"
        fld: str | None = worst.field
    else:
        reason = None
        fld = rel_best[1] if rel_best else (p_best[1] if p_best else None)
    return Comparison(
        status="mismatch" if mismatches else "reproduced",
        max_rel_diff=rel_best[0] if rel_best else None,
        field=fld,
        max_p_diff=p_best[0] if p_best else None,
        p_field=p_best[1] if p_best else None,
        compared=tuple(compared),
        mismatches=mismatches,
        reason=reason,
    )


@dataclass(frozen=True)
class PrintedComparison:
    """Result of :func:`compare_printed`.

    Attributes
    ----------
    status : {"reproduced", "mismatch"}
    value : float
        The full-precision value.
    printed : str
        The printed text as given.
    decimals : int or None
        Decimal places printed (``None`` for a bound such as ``"<0.001"``).
    rounded : str
        ``value`` at the printed precision (what we would have printed).
    diff : float
        ``value − printed number``.
    """

    status: Literal["reproduced", "mismatch"]
    value: float
    printed: str
    decimals: int | None
    rounded: str
    diff: float


def _printed_number(printed: str) -> tuple[str, Decimal]:
    text = printed.strip().replace("−", "-").replace("·", ".").replace(" ", "")
    bound = ""
    for sign in ("<=", ">=", "≤", "≥", "<", ">"):
        if text.startswith(sign):
            bound, text = sign, text[len(sign) :]
            break
    text = text.removesuffix("%")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise DataError(f"printed value {printed!r} is not a number") from None
    if not number.is_finite():
        raise DataError(f"printed value {printed!r} is not a finite number")
    return bound, number


def compare_printed(value: float, printed: str) -> PrintedComparison:
    """Is ``value`` what was printed, at the printed precision?

    A printed number with ``d`` decimal places is reproduced when ``value`` lies within
    half a unit of its last digit (``|value − printed| ≤ 0.5 × 10⁻ᵈ``), i.e. when ``value``
    rounds to the printed digits (either way at an exact tie, since journals round both
    ways). Bounds such as ``"<0.001"`` or ``"> 0.99"`` are reproduced when ``value``
    satisfies them. A Unicode minus, a middle-dot decimal point (``"0·81"``) and a trailing
    ``%`` are accepted.

    Parameters
    ----------
    value : float
        Our full-precision value (on the printed scale, e.g. a ratio, or I² in percent).
    printed : str
        The printed text.

    Returns
    -------
    PrintedComparison

    Raises
    ------
    DataError
        If ``printed`` is not a number (or a bound on one), or ``value`` is not finite.

    Examples
    --------
    >>> compare_printed(0.8968655609, "0.90").status
    'reproduced'
    >>> compare_printed(0.8968655609, "0.89").rounded
    '0.90'
    """
    if not math.isfinite(value):
        raise DataError(f"value {value!r} compared with printed {printed!r} is not finite")
    bound, number = _printed_number(printed)
    exact = Decimal(value)
    exponent = number.as_tuple().exponent
    decimals = max(0, -exponent) if isinstance(exponent, int) else 0
    rounded = f"{value:.{decimals}f}"
    diff = float(exact - number)
    if bound:
        ok = {
            "<": exact < number,
            ">": exact > number,
            "<=": exact <= number,
            "≤": exact <= number,
            ">=": exact >= number,
            "≥": exact >= number,
        }[bound]
        return PrintedComparison(
            "reproduced" if ok else "mismatch", value, printed, None, rounded, diff
        )
    half = Decimal(5).scaleb(exponent - 1) if isinstance(exponent, int) else Decimal(0)
    ok = abs(exact - number) <= half
    return PrintedComparison(
        "reproduced" if ok else "mismatch", value, printed, decimals, rounded, diff
    )


# --------------------------------------------------------------------------- RevMan check


@dataclass(frozen=True)
class CheckEntry:
    """The check of one pooled level: an outcome's total line or one of its subgroups.

    ``status``/``max_rel_diff``/``field``/``reason`` summarise the comparison (see
    :class:`Comparison`); study-level fields of the studies in the level are included,
    with keys ``"<study>/<FIELD>"``. A level that is not comparable (``ESTIMABLE="NO"``,
    ``TOTALS="NO"``, empty stored results) still has its studies compared: a study that
    does not reproduce makes it a mismatch.
    """

    comparison: str
    outcome: str
    subgroup: str | None
    analysis_id: str
    status: Status
    max_rel_diff: float | None
    field: str | None
    reason: str | None
    max_p_diff: float | None
    p_field: str | None
    n_fields: int
    n_studies: int
    data_type: str | None
    method: str
    measure: str
    random: bool
    totals: str
    location: str
    mismatches: tuple[FieldDiff, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (:func:`sparsemeta.results.json_safe`: non-finite numbers are
        written as ``"NaN"``, ``"Infinity"``, ``"-Infinity"``; ``None`` = not applicable)."""
        return json_safe(
            {
                "comparison": self.comparison,
                "outcome": self.outcome,
                "subgroup": self.subgroup,
                "status": self.status,
                "max_rel_diff": self.max_rel_diff,
                "field": self.field,
                "reason": self.reason,
                "analysis_id": self.analysis_id,
                "max_p_diff": self.max_p_diff,
                "p_field": self.p_field,
                "n_fields": self.n_fields,
                "n_studies": self.n_studies,
                "data_type": self.data_type,
                "method": self.method,
                "measure": self.measure,
                "random": self.random,
                "totals": self.totals,
                "location": self.location,
                "mismatches": [
                    {
                        "field": d.field,
                        "computed": d.computed,
                        "reference": d.reference,
                        "diff": d.diff,
                        "tolerance": d.tolerance,
                        "kind": d.kind,
                    }
                    for d in self.mismatches
                ],
            }
        )


@dataclass(frozen=True)
class CheckReport:
    """Result of :func:`revman_check`: one entry per outcome total and per subgroup."""

    file: str
    entries: tuple[CheckEntry, ...]
    tolerances: Mapping[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def totals(self) -> dict[str, int]:
        """Counts of ``reproduced``, ``mismatch`` and ``not_comparable`` entries."""
        status = [e.status for e in self.entries]
        return {
            "reproduced": status.count("reproduced"),
            "mismatch": status.count("mismatch"),
            "not_comparable": status.count("not-comparable"),
        }

    @property
    def ok(self) -> bool:
        """True when no comparable level mismatches."""
        return all(e.status != "mismatch" for e in self.entries)

    def summary(self) -> pd.DataFrame:
        """One row per checked level: ``comparison, outcome, subgroup, status,
        max_rel_diff, field, reason, max_p_diff, p_field, n_fields, n_studies, method,
        measure, random, totals, location``."""
        columns = [
            "comparison",
            "outcome",
            "subgroup",
            "status",
            "max_rel_diff",
            "field",
            "reason",
            "max_p_diff",
            "p_field",
            "n_fields",
            "n_studies",
            "method",
            "measure",
            "random",
            "totals",
            "location",
        ]
        return pd.DataFrame(
            [{c: getattr(e, c) for c in columns} for e in self.entries], columns=columns
        )

    def __str__(self) -> str:
        t = self.totals
        head = (
            f"RevMan check of {self.file}: {t['reproduced']} reproduced, {t['mismatch']} "
            f"mismatch, {t['not_comparable']} not comparable"
        )
        frame = self.summary()[["outcome", "subgroup", "status", "max_rel_diff", "field"]]
        return head + "\n" + frame.to_string(index=False, float_format="%.3g")

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``sparsemeta revman-check --json`` (JSON-safe)."""
        return json_safe(
            {
                "file": self.file,
                "outcomes": [e.to_dict() for e in self.entries],
                "totals": self.totals,
                "notes": list(self.notes),
                "tolerances": dict(self.tolerances),
            }
        )


def _tolerances(analysis: RevManAnalysis) -> dict[str, float]:
    if analysis.decimals is None:
        return {"rel_tol": 1e-9, "p_abs_tol": 1e-6, "abs_tol": 1e-12}
    # Values rounded to d decimals (RevMan 5 CSV: 8; data packages: 6): anything that
    # rounds to the stored digits matches, compared at the printed precision.
    half = 0.5 * 10.0 ** (-analysis.decimals) * (1 + 1e-9)
    return {"rel_tol": 1e-9, "p_abs_tol": max(1e-6, half), "abs_tol": half}


def _level_values(level: frequentist.RevManLevel) -> dict[str, float]:
    return {
        "EFFECT_SIZE": level.effect_size,
        "CI_START": level.ci_start,
        "CI_END": level.ci_end,
        "Z": level.z,
        "P_Z": level.p_z,
        "CHI2": level.chi2,
        "DF": float(level.df),
        "P_CHI2": level.p_chi2,
        "I2": level.i2,
        "TAU2": level.tau2,
        "WEIGHT": level.weight,
        "TAU2_CI_START": level.tau2_ci_start,
        "TAU2_CI_END": level.tau2_ci_end,
        "PI_START": level.pi_start,
        "PI_END": level.pi_end,
    }


def _reference(
    stored: StoredResult,
    df: float | None,
    fields: Iterable[str],
    skip: Iterable[str],
    log_stored: bool = False,
) -> dict[str, float]:
    out = {k: stored.values[k] for k in fields if k in stored.values and k not in skip}
    if log_stored:  # generic log data whose results were stored as logs, not ratios
        out |= {k: math.exp(v) for k, v in out.items() if k in _RATIO_FIELDS}
    if df == 0:
        out.pop("I2", None)
        out.pop("P_CHI2", None)
    return out


def _not_comparable_reason(analysis: RevManAnalysis, stored: StoredResult) -> str | None:
    if analysis.totals == "NO":
        return "TOTALS=NO: RevMan stores placeholders, not results"
    if stored.estimable is False:
        return "ESTIMABLE=NO: RevMan stores placeholders, not results"
    if stored.placeholder:
        return "RevMan stored placeholders (0 with a zero-width CI), not results"
    effect = stored.values.get("EFFECT_SIZE")
    if effect is None or math.isnan(effect):
        return "no stored results (EFFECT_SIZE and the other results are empty)"
    return None


def _entry(
    analysis: RevManAnalysis,
    subgroup: str | None,
    location: str,
    comparison: Comparison,
    *,
    reason: str | None,
    n_studies: int,
) -> CheckEntry:
    status: Status = comparison.status
    text = comparison.reason
    if reason is not None and status != "mismatch":
        status, text = "not-comparable", reason
    elif reason is not None:
        text = f"{reason}; studies: {comparison.reason}"
    return CheckEntry(
        comparison=analysis.comparison,
        outcome=analysis.outcome,
        subgroup=subgroup,
        analysis_id=analysis.analysis_id,
        status=status,
        max_rel_diff=comparison.max_rel_diff,
        field=comparison.field,
        reason=text,
        max_p_diff=comparison.max_p_diff,
        p_field=comparison.p_field,
        n_fields=len(comparison.compared),
        n_studies=n_studies,
        data_type=analysis.data_type,
        method=analysis.method,
        measure=analysis.measure,
        random=analysis.random,
        totals=analysis.totals,
        location=location,
        mismatches=comparison.mismatches,
    )


def _simple_entry(analysis: RevManAnalysis, status: Status, reason: str) -> CheckEntry:
    empty = Comparison(status, None, None, None, None, (), (), reason)
    return _entry(
        analysis, None, analysis.source, empty, reason=None, n_studies=len(analysis.studies)
    )


def revman_settings(analysis: RevManAnalysis) -> frequentist.RevManSettings:
    """The :class:`~sparsemeta.frequentist.RevManSettings` of an analysis read from a file.

    Raises
    ------
    DataError
        If the file's method and measure are not a combination RevMan offers.
    """
    assert analysis.data_type is not None
    stored = [analysis.overall, *analysis.stored_subgroups]
    return frequentist.RevManSettings(
        data_type=analysis.data_type,
        method=analysis.method,  # type: ignore[arg-type]
        measure=analysis.measure,
        random=analysis.random,
        totals=analysis.totals,
        log_data=bool(analysis.log_data),
        version=analysis.revman_version,
        tau2_method=analysis.tau2_method,
        ci_method=analysis.ci_method,
        prediction=analysis.prediction,
        i2_from_tau2=analysis.i2_from_tau2,
        tau2_ci=any("TAU2_CI_START" in s.values for s in stored),
        swap_events=bool(analysis.swap_events) and analysis.data_type == "binary",
    )


def check_analysis(analysis: RevManAnalysis) -> list[CheckEntry]:
    """Recompute one RevMan outcome and compare every level with RevMan's stored values.

    Returns one :class:`CheckEntry` for the outcome's total line and one per subgroup.
    """
    if analysis.unsupported is not None:
        return [_simple_entry(analysis, "not-comparable", analysis.unsupported)]
    try:
        settings = revman_settings(analysis)
    except DataError as exc:
        return [_simple_entry(analysis, "not-comparable", f"settings not supported: {exc}")]
    try:
        result = frequentist.revman(analysis.studies, settings)
    except SparsemetaError as exc:
        return [_simple_entry(analysis, "mismatch", f"recomputation failed: {exc}")]
    tol = _tolerances(analysis)
    # frequentist.revman computes 95% intervals: other stored levels are not compared
    notes = [
        f"{name}={level:g}%"
        for name, level in (("CI_STUDY", analysis.ci_study), ("CI_TOTAL", analysis.ci_total))
        if level is not None and level != 95
    ]
    skip_total = _CI_FIELDS if analysis.ci_total not in (None, 95) else set()
    skip_study = _CI_FIELDS if analysis.ci_study not in (None, 95) else set()
    study_values = _study_values(result)
    entries = []
    levels: list[tuple[str | None, StoredResult, frequentist.RevManLevel | None]] = [
        (None, analysis.overall, result.overall)
    ]
    levels += [
        (s.subgroup, s, result.subgroups.get(s.subgroup or "")) for s in analysis.stored_subgroups
    ]
    for subgroup, stored, computed in levels:
        reason = _not_comparable_reason(analysis, stored)
        reference: dict[str, float] = {}
        values: dict[str, float] = {}
        if reason is None and computed is None:
            reason = "no recomputed total (RevMan stored one)"
        if reason is None and computed is not None:
            log_stored = bool(analysis.log_data) and stored_scale(stored.values) == "log"
            reference = _reference(stored, computed.df, LEVEL_FIELDS, skip_total, log_stored)
            values = _level_values(computed)
            if subgroup is None and analysis.has_subgroups and result.test_subgroups is not None:
                test = result.test_subgroups
                values |= {"Q": test.q, "P_Q": test.p_q, "I2_Q": test.i2_q}
                extra = ["Q"] if test.df == 0 else ["Q", "P_Q", "I2_Q"]
                reference |= {k: stored.values[k] for k in extra if k in stored.values}
        half_units = {
            k: stored.half_units[k]
            for k in reference
            if stored.half_units and k in stored.half_units
        }
        in_level = [
            (i, s)
            for i, s in enumerate(analysis.stored_studies)
            if (not analysis.has_subgroups and subgroup is None)
            or (analysis.has_subgroups and subgroup is not None and s.subgroup == subgroup)
        ]
        for i, s in in_level:
            if s.estimable is False:
                continue
            weight_ok = analysis.totals != "NO" and reason is None
            fields = [f for f in STUDY_FIELDS if f != "WEIGHT" or weight_ok]
            log_stored = bool(analysis.log_data) and stored_scale(s.values) == "log"
            for key, ref in _reference(s, None, fields, skip_study, log_stored).items():
                reference[f"{s.study}/{key}"] = ref
                if s.half_units and key in s.half_units:
                    half_units[f"{s.study}/{key}"] = s.half_units[key]
                values[f"{s.study}/{key}"] = study_values[i][key]
        comparison = compare(values, reference, **tol, half_units=half_units or None)
        if reason is None and not any("/" not in k for k in comparison.compared):
            reason = "no stored results (empty attributes)"
        if notes and reason is None and comparison.status == "reproduced":
            comparison = replace(
                comparison, reason=f"CIs not compared ({', '.join(notes)}; recomputed at 95%)"
            )
        entries.append(
            _entry(
                analysis,
                subgroup,
                stored.location,
                comparison,
                reason=reason,
                n_studies=len(in_level),
            )
        )
    return entries


def _study_values(result: frequentist.RevManResult) -> list[dict[str, float]]:
    """Recomputed per-study values, in study-table order (= the order of stored studies)."""
    return [
        {
            "EFFECT_SIZE": float(result.study_effect[i]),
            "CI_START": float(result.study_ci_start[i]),
            "CI_END": float(result.study_ci_end[i]),
            "SE": float(result.study_se[i]),
            "WEIGHT": float(result.study_weights[i]),
        }
        for i in range(len(result.studies))
    ]


def revman_check(review: RevManReview) -> CheckReport:
    """Recompute every analysis of a review with its own settings and compare with RevMan.

    Parameters
    ----------
    review : RevManReview
        From :func:`sparsemeta.io.read_revman`.

    Returns
    -------
    CheckReport
        One entry per outcome total line and per subgroup, each ``reproduced``,
        ``mismatch`` (largest difference and its field) or ``not-comparable`` (with the
        reason: ``ESTIMABLE=NO``, ``TOTALS=NO``, empty stored results, unsupported outcome
        type, outcome without study rows). Files whose stored values are rounded (RevMan 5
        CSV exports: 8 decimals; Cochrane data packages: 6) are compared at the printed
        precision: a value matches when it is within half a unit of the last stored
        decimal (5e-9, 5e-7), or within the relative tolerance 1e-9 for large values;
        ``tolerances["rounded_decimals"]`` records the precision.
    """
    entries: list[CheckEntry] = []
    for analysis in review.analyses:
        entries.extend(check_analysis(analysis))
    tolerances: dict[str, float] = {"rel_tol": 1e-9, "p_abs_tol": 1e-6}
    decimals = [a.decimals for a in review.analyses if a.decimals is not None]
    if decimals:
        tolerances["rounded_decimals"] = min(decimals)
    notes = list(review.notes)
    for a in review.analyses:
        notes += [f"{a.analysis_id} {a.outcome}: {n}" for n in a.notes]
        if a.revman_version == "web" and review.file_format == "rm5":
            notes.append(f"{a.analysis_id} {a.outcome}: RevMan Web rules ({a.version_basis})")
    return CheckReport(review.path, tuple(entries), tolerances, tuple(notes))
