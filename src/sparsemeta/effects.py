"""Per-study effect sizes and their variances, with RevMan 5's zero-cell rules.

Low-level functions take numpy arrays (any broadcastable shapes) and return ``(yi, vi)``;
:func:`effect_sizes` applies them to a study table. Ratio measures are on the natural-log
scale. Notation for a 2×2 table: ``a``/``b`` events/non-events in the experimental arm
(size ``n1``), ``c``/``d`` in the comparator arm (size ``n2``), ``N = n1 + n2``.

Zero cells (RevMan 5; Deeks & Higgins, *Statistical algorithms in Review Manager 5*, 2010):
if any of the four cells of a study is 0, 0.5 is added to all four cells of that study.
Risk- and odds-ratio studies with no events in both arms, or all events in both arms, have
no information about the ratio: they are not estimable (``yi = vi = NaN``) and are listed
with a reason. The risk difference keeps them (RD = 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from sparsemeta import measures
from sparsemeta.data import BINARY_COLUMNS, CONTINUOUS_COLUMNS, data_type, single_analysis
from sparsemeta.errors import DataError

__all__ = [
    "Cells",
    "Effects",
    "as_effects",
    "corrected_cells",
    "effect_sizes",
    "generic",
    "hedges_g",
    "log_or",
    "log_ratio_of_means",
    "log_rr",
    "mean_difference",
    "peto_log_or",
    "peto_parts",
    "risk_difference",
    "study_arrays",
]

CORRECTION = 0.5
DOUBLE_ZERO = "no events in either arm: the ratio is not estimable"
DOUBLE_ALL = "all participants had events in both arms: the ratio is not estimable"
PETO_ZERO = "Peto variance V = 0 (no events or all events in both arms): not estimable"
SMD_SMALL = "n_t + n_c < 4: Hedges' g is not defined"
ROM_NONPOSITIVE = "a mean <= 0: the ratio of means needs positive means in both arms"

_Array = np.ndarray


class Cells(NamedTuple):
    """A 2×2 table after RevMan's zero-cell rule (float arrays) and the amount added."""

    a: _Array
    b: _Array
    c: _Array
    d: _Array
    added: _Array


def corrected_cells(a, n1, c, n2, correction: float = CORRECTION) -> Cells:
    """Apply RevMan 5's zero-cell rule to 2×2 tables.

    If any of ``a, b = n1 − a, c, d = n2 − c`` is 0, ``correction`` (0.5) is added to all
    four cells of that study (Deeks & Higgins 2010).

    Returns
    -------
    Cells
        Corrected ``a, b, c, d`` (float arrays) and ``added`` (0 or ``correction``).
    """
    a = np.asarray(a, dtype=float)
    c = np.asarray(c, dtype=float)
    b = np.asarray(n1, dtype=float) - a
    d = np.asarray(n2, dtype=float) - c
    added = np.where((a == 0) | (b == 0) | (c == 0) | (d == 0), correction, 0.0)
    return Cells(a + added, b + added, c + added, d + added, added)


def _ratio_not_estimable(a, n1, c, n2) -> _Array:
    a, n1, c, n2 = (np.asarray(x, dtype=float) for x in (a, n1, c, n2))
    return ((a == 0) & (c == 0)) | ((a == n1) & (c == n2))


def log_rr(a, n1, c, n2) -> tuple[_Array, _Array]:
    """Log risk ratio and its variance.

    ``yi = ln[(a/n1)/(c/n2)]``, ``vi = 1/a − 1/n1 + 1/c − 1/n2`` on zero-corrected cells
    (``n1 = a + b``, ``n2 = c + d`` after correction); Deeks & Higgins (2010). Studies with
    no events or all events in both arms give NaN.
    """
    k = corrected_cells(a, n1, c, n2)
    m1, m2 = k.a + k.b, k.c + k.d
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log((k.a / m1) / (k.c / m2))
        vi = 1 / k.a - 1 / m1 + 1 / k.c - 1 / m2
    bad = _ratio_not_estimable(a, n1, c, n2)
    return np.where(bad, np.nan, yi), np.where(bad, np.nan, vi)


def log_or(a, n1, c, n2) -> tuple[_Array, _Array]:
    """Log odds ratio and its (Woolf) variance.

    ``yi = ln(ad/bc)``, ``vi = 1/a + 1/b + 1/c + 1/d`` on zero-corrected cells (Deeks &
    Higgins 2010). Studies with no events or all events in both arms give NaN.
    """
    k = corrected_cells(a, n1, c, n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(k.a * k.d / (k.b * k.c))
        vi = 1 / k.a + 1 / k.b + 1 / k.c + 1 / k.d
    bad = _ratio_not_estimable(a, n1, c, n2)
    return np.where(bad, np.nan, yi), np.where(bad, np.nan, vi)


def risk_difference(a, n1, c, n2) -> tuple[_Array, _Array]:
    """Risk difference and its variance.

    ``yi = a/n1 − c/n2`` on the raw cells; ``vi = a·b/n1³ + c·d/n2³`` on the zero-corrected
    cells (with ``n1 = a + b``, ``n2 = c + d`` after correction), as RevMan 5 does (Deeks &
    Higgins 2010). Double-zero studies are kept (``yi = 0``).
    """
    a, n1, c, n2 = (np.asarray(x, dtype=float) for x in (a, n1, c, n2))
    k = corrected_cells(a, n1, c, n2)
    m1, m2 = k.a + k.b, k.c + k.d
    return a / n1 - c / n2, k.a * k.b / m1**3 + k.c * k.d / m2**3


def peto_log_or(a, n1, c, n2) -> tuple[_Array, _Array]:
    """Peto's one-step log odds ratio and its variance.

    ``O − E = a − n1(a + c)/N``, ``V = n1·n2·(a + c)(b + d) / (N²(N − 1))``;
    ``yi = (O − E)/V``, ``vi = 1/V`` on the raw cells (Yusuf et al. 1985; Deeks & Higgins
    2010). Studies with ``V = 0`` give NaN.
    """
    o_e, v = peto_parts(a, n1, c, n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        yi, vi = o_e / v, 1 / v
    bad = v == 0
    return np.where(bad, np.nan, yi), np.where(bad, np.nan, vi)


def peto_parts(a, n1, c, n2) -> tuple[_Array, _Array]:
    """Peto's observed-minus-expected events and hypergeometric variance of each study.

    ``O − E = a − n1(a + c)/N`` and ``V = n1·n2·(a + c)(b + d) / (N²(N − 1))`` on the raw
    cells (Yusuf et al. 1985); ``V = 0`` when ``N ≤ 1``.
    """
    a, n1, c, n2 = (np.asarray(x, dtype=float) for x in (a, n1, c, n2))
    n = n1 + n2
    events = a + c
    o_e = a - n1 * events / n
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(n > 1, n1 * n2 * events * (n - events) / (n**2 * (n - 1)), 0.0)
    return o_e, v


def mean_difference(m1, sd1, n1, m2, sd2, n2) -> tuple[_Array, _Array]:
    """Mean difference and its variance: ``yi = m1 − m2``, ``vi = sd1²/n1 + sd2²/n2``."""
    m1, sd1, n1, m2, sd2, n2 = (np.asarray(x, dtype=float) for x in (m1, sd1, n1, m2, sd2, n2))
    return m1 - m2, sd1**2 / n1 + sd2**2 / n2


def log_ratio_of_means(m1, sd1, n1, m2, sd2, n2) -> tuple[_Array, _Array]:
    """Log ratio of means and its delta-method variance.

    ``yi = ln(m1/m2)``, ``vi = sd1²/(n1·m1²) + sd2²/(n2·m2²)`` (Friedrich, Adhikari &
    Beyene 2008, J Clin Epidemiol 61(1):41-51; metafor's ``measure="ROM"``). Defined for
    positive means: a study with a mean ≤ 0 gives NaN.
    """
    m1, sd1, n1, m2, sd2, n2 = (np.asarray(x, dtype=float) for x in (m1, sd1, n1, m2, sd2, n2))
    bad = (m1 <= 0) | (m2 <= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(m1 / m2)
        vi = sd1**2 / (n1 * m1**2) + sd2**2 / (n2 * m2**2)
    return np.where(bad, np.nan, yi), np.where(bad, np.nan, vi)


def hedges_g(m1, sd1, n1, m2, sd2, n2) -> tuple[_Array, _Array]:
    """Standardised mean difference: Hedges' adjusted g with RevMan 5's variance.

    ``s = √[((n1 − 1)sd1² + (n2 − 1)sd2²)/(N − 2)]``, ``g = (m1 − m2)/s × (1 − 3/(4N − 9))``,
    ``vi = N/(n1·n2) + g²/(2(N − 3.94))`` (Deeks & Higgins 2010). Studies with ``N < 4``
    give NaN.
    """
    m1, sd1, n1, m2, sd2, n2 = (np.asarray(x, dtype=float) for x in (m1, sd1, n1, m2, sd2, n2))
    n = n1 + n2
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / (n - 2))
        g = (m1 - m2) / s * (1 - 3 / (4 * n - 9))
        vi = n / (n1 * n2) + g**2 / (2 * (n - 3.94))
    bad = n < 4
    return np.where(bad, np.nan, g), np.where(bad, np.nan, vi)


def generic(effect, se) -> tuple[_Array, _Array]:
    """Generic inverse-variance data: ``yi = effect``, ``vi = se²``."""
    se = np.asarray(se, dtype=float)
    return np.asarray(effect, dtype=float), se**2


def _column(df: pd.DataFrame, name: str, measure: str) -> _Array:
    if name not in df.columns:
        study = df["study"].iloc[0] if "study" in df.columns and len(df) else None
        raise DataError(
            f"study {study!r}, field {name!r}: column missing; measure {measure} needs it"
        )
    return df[name].to_numpy(dtype=float)


def _check_measure(df: pd.DataFrame, measure: object) -> measures.MeasureRow:
    row = measures.get(measure)
    if row is None or not row.computable:
        known = list(measures.codes(computable=True))
        raise DataError(
            f"study table, field 'measure': unknown measure {measure!r}; use one of {known}"
        )
    kind = data_type(df)
    if kind != row.data_type:
        raise DataError(
            f"study {df['study'].iloc[0]!r}, field 'measure': measure {row.code} needs "
            f"{row.data_type} data but the analysis holds {kind} data"
        )
    return row


def _ratio_reasons(yi: _Array, a: _Array, n1: _Array, c: _Array, n2: _Array) -> _Array:
    reason = np.full(yi.shape, None, dtype=object)
    reason[(a == 0) & (c == 0)] = DOUBLE_ZERO
    reason[(a == n1) & (c == n2)] = DOUBLE_ALL
    return reason


#: effect function -> the reason a study it returns NaN for is not estimable: a text, or a
#: function of ``(yi, *data columns)`` giving one per study
_NOT_ESTIMABLE: dict[str, str | Callable[..., _Array]] = {
    "log_rr": _ratio_reasons,
    "log_or": _ratio_reasons,
    "peto_log_or": PETO_ZERO,
    "hedges_g": SMD_SMALL,
    "log_ratio_of_means": ROM_NONPOSITIVE,
}
#: data columns an effect function takes, in order, per data type
_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "binary": BINARY_COLUMNS,
    "continuous": CONTINUOUS_COLUMNS,
    "generic": ("effect", "se"),
}


def study_arrays(df: pd.DataFrame, measure: str) -> dict[str, _Array]:
    """Per-study effects of one analysis as numpy arrays (the fast path of :func:`effect_sizes`).

    The effect function is the measure's ``effect`` in :data:`sparsemeta.measures.TABLE`,
    called with the data columns of its data type. Returns a dict with ``yi, vi`` (NaN
    where not estimable), ``estimable`` (bool) and a ``reason`` object array (``None``
    where estimable); binary data add the raw ``a, n1, c, n2`` and the corrected cells
    ``a_cc, b_cc, c_cc, d_cc`` and ``cc_added``.
    """
    row = _check_measure(df, measure)
    cols = [_column(df, name, row.code) for name in _ARGUMENTS[row.data_type]]
    yi, vi = globals()[row.effect](*cols)
    reason = np.full(len(df), None, dtype=object)
    why = _NOT_ESTIMABLE.get(row.effect)
    if callable(why):
        reason = why(yi, *cols)
    elif why is not None:
        reason[np.isnan(yi)] = why
    out: dict[str, _Array] = {}
    if row.data_type == "binary":
        a, n1, c, n2 = cols
        cells = corrected_cells(a, n1, c, n2)
        out.update(a=a, n1=n1, c=c, n2=n2, a_cc=cells.a, b_cc=cells.b, c_cc=cells.c, d_cc=cells.d)
        out["cc_added"] = cells.added
    out.update(yi=yi, vi=vi, estimable=np.isfinite(yi) & np.isfinite(vi), reason=reason)
    return out


@dataclass(frozen=True, eq=False)
class Effects:
    """The per-study effects of one analysis: what every engine takes.

    Made by :func:`effect_sizes` (from a study table) or :meth:`from_arrays` (from effects
    and standard errors); the data are validated there, once. Only estimable studies are
    in ``y``/``se``; the others are in ``excluded`` with the reason.

    Attributes
    ----------
    studies : tuple of str
        Labels of the estimable studies, in table order (unique).
    y, se : numpy.ndarray
        Their effects on the analysis scale (natural log for log-scale measures) and
        standard errors (finite, se > 0).
    measure : sparsemeta.measures.MeasureRow
        The measure (its scale, names and default priors).
    log_scale : bool
        Whether ``y`` are log ratios (the measure's flag; for generic data the table's
        ``log_scale``).
    excluded : tuple of (study, reason)
        Studies without an estimable effect.
    X : numpy.ndarray or None
        Covariate matrix, one row per estimable study (for meta-regression).
    covariate_names : tuple of str
        Names of the columns of ``X``.
    """

    studies: tuple[str, ...]
    y: NDArray[np.float64]
    se: NDArray[np.float64]
    measure: measures.MeasureRow
    log_scale: bool
    excluded: tuple[tuple[str, str], ...] = ()
    X: NDArray[np.float64] | None = None
    covariate_names: tuple[str, ...] = ()
    frame: pd.DataFrame | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.X is not None and (
            self.X.ndim != 2
            or self.X.shape[0] != len(self.studies)
            or self.X.shape[1] != len(self.covariate_names)
        ):
            raise DataError(
                f"covariates: X has shape {self.X.shape} for {len(self.studies)} studies and "
                f"{len(self.covariate_names)} covariate names"
            )

    @property
    def v(self) -> NDArray[np.float64]:
        """Within-study variances ``se²``."""
        return self.se**2

    @property
    def k(self) -> int:
        """Number of estimable studies."""
        return len(self.studies)

    def require(self, where: str) -> Effects:
        """``self``, or a DataError when no study is estimable (engines need k >= 1)."""
        if self.k == 0:
            why = "; ".join(f"{s}: {r}" for s, r in self.excluded)
            raise DataError(f"{where}: no study has an estimable {self.measure.code} ({why})")
        return self

    def to_frame(self) -> pd.DataFrame:
        """One row per study of the analysis: ``study, yi, vi, sei, estimable, reason``
        (binary data add the zero-corrected cells ``a_cc, b_cc, c_cc, d_cc, cc_added``);
        excluded studies keep their row with NaN effects and the reason."""
        if self.frame is not None:
            return self.frame.copy()
        rows = pd.DataFrame(
            {
                "study": list(self.studies) + [s for s, _ in self.excluded],
                "yi": np.concatenate([self.y, np.full(len(self.excluded), np.nan)]),
                "sei": np.concatenate([self.se, np.full(len(self.excluded), np.nan)]),
                "estimable": [True] * self.k + [False] * len(self.excluded),
                "reason": [None] * self.k + [r for _, r in self.excluded],
            }
        )
        rows.insert(2, "vi", rows["sei"] ** 2)
        return rows

    @classmethod
    def from_arrays(
        cls,
        y: ArrayLike,
        se: ArrayLike,
        studies: Sequence[object] | None = None,
        measure: str = "GENERIC",
        *,
        log_scale: bool | None = None,
    ) -> Effects:
        """Effects and standard errors given directly (already on the analysis scale).

        Raises
        ------
        DataError
            Non-numeric, non-finite or non-positive values (naming the study and field),
            arrays that are not one-dimensional or differ in length, no studies, a wrong
            number of labels or repeated labels; an unknown measure.
        """
        row = measures.lookup(measure)
        labels = None if studies is None else [str(s) for s in studies]
        y_arr = _float_array(y, "effect y", labels)
        se_arr = _float_array(se, "standard error se", labels)
        if y_arr.ndim != 1 or se_arr.ndim != 1:
            raise DataError("study effects: y and se must be one-dimensional")
        if y_arr.shape != se_arr.shape:
            raise DataError(
                f"study effects: mismatched lengths: y has {y_arr.size} values but se has "
                f"{se_arr.size}"
            )
        if y_arr.size == 0:
            raise DataError("study effects: no studies: y and se are empty")
        if labels is None:
            labels = [f"study {i + 1}" for i in range(y_arr.size)]
        _check_labels(labels, y_arr.size)
        need = {
            "y": "an effect y must be finite",
            "se": "a standard error se must be finite and > 0",
        }
        for name, arr in (("y", y_arr), ("se", se_arr)):
            for lab, value in zip(labels, arr, strict=True):
                if not np.isfinite(value):
                    raise DataError(
                        f"study {lab!r}, field {name!r}: value is not finite ({value}); {need[name]}"
                    )
        for lab, value in zip(labels, se_arr, strict=True):
            if value <= 0:
                raise DataError(
                    f"study {lab!r}, field 'se': must be > 0, got {value:g} ({need['se']})"
                )
        flag = row.log_scale if log_scale is None else bool(log_scale)
        return cls(tuple(labels), y_arr, se_arr, row, flag)

    def with_measure(self, measure: str) -> Effects:
        """The same effects labelled with another measure (generic data that hold, e.g.,
        log risk ratios), taking its scale, names and default priors."""
        row = measures.lookup(measure)
        return replace(self, measure=row, log_scale=row.log_scale or self.log_scale)


def _float_array(values: ArrayLike, field_name: str, labels: Sequence[str] | None) -> _Array:
    """``values`` as floats; DataError naming the first study whose entry is no number."""
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        pass
    entries = list(np.ravel(np.asarray(values, dtype=object)))
    names = (
        list(labels)
        if labels is not None and len(labels) == len(entries)
        else [f"study {i + 1}" for i in range(len(entries))]
    )
    for name, value in zip(names, entries, strict=True):
        try:
            float(value)
        except (TypeError, ValueError):
            raise DataError(
                f"study {name!r}: {field_name} must be a number, got {value!r} "
                f"(field {field_name.split()[-1]!r})"
            ) from None
    raise DataError(f"study effects: {field_name} must be a sequence of numbers, got {values!r}")


def _check_labels(labels: Sequence[str], k: int) -> None:
    if len(labels) != k:
        raise DataError(f"study labels: {len(labels)} labels for {k} studies")
    if len(set(labels)) != len(labels):
        dup = sorted({lab for lab in labels if labels.count(lab) > 1})
        raise DataError(f"study labels must be unique, repeated: {dup}")


def effect_sizes(table: pd.DataFrame, measure: str) -> Effects:
    """Per-study effect sizes of one analysis with RevMan 5's zero-cell rules.

    Parameters
    ----------
    table : pandas.DataFrame
        A study table of one analysis (:mod:`sparsemeta.data`; ``comparison`` and
        ``outcome`` may be left out). It is validated here.
    measure : str
        A measure of :data:`sparsemeta.measures.TABLE` with an effect function (RR, OR,
        PETO_OR, RD, MD, SMD, GENERIC, ...). Log-scale measures are returned as natural
        logarithms. GENERIC takes ``effect`` and ``se`` as given (on the log scale when
        ``log_scale`` is true).

    Returns
    -------
    Effects
        The estimable studies' ``y``/``se``, the excluded ones with their reasons, and
        (``to_frame()``) one row per study indexed like ``table``: ``study, yi, vi, sei,
        estimable, reason``, binary data adding the zero-corrected cells ``a_cc, b_cc,
        c_cc, d_cc`` and ``cc_added`` (0 or 0.5).

    Raises
    ------
    DataError
        Invalid study data (naming the study and field), several analyses, an unknown
        measure, a measure that does not fit the data type, or a missing column.
    """
    df = single_analysis(table)
    arrays = study_arrays(df, measure)
    frame = pd.DataFrame(
        {
            "study": df["study"].to_numpy(),
            "yi": arrays["yi"],
            "vi": arrays["vi"],
            "sei": np.sqrt(arrays["vi"]),
            "estimable": arrays["estimable"],
            "reason": pd.Series(arrays["reason"], index=df.index, dtype=object),
        },
        index=df.index,
    )
    if "a_cc" in arrays:
        for col in ("a_cc", "b_cc", "c_cc", "d_cc", "cc_added"):
            frame[col] = arrays[col]
    row = measures.lookup(measure)
    ok = arrays["estimable"]
    labels = [str(s) for s in frame["study"]]
    kept = [lab for lab, good in zip(labels, ok, strict=True) if good]
    _check_labels(kept, len(kept))
    log_scale = row.log_scale or (row.data_type == "generic" and bool(df["log_scale"].iloc[0]))
    excluded = tuple(
        (lab, str(why))
        for lab, good, why in zip(labels, ok, arrays["reason"], strict=True)
        if not good
    )
    return Effects(
        studies=tuple(kept),
        y=arrays["yi"][ok],
        se=np.sqrt(arrays["vi"][ok]),
        measure=row,
        log_scale=log_scale,
        excluded=excluded,
        frame=frame,
    )


def as_effects(
    data: Effects | pd.DataFrame | ArrayLike,
    measure: str | None = None,
    *,
    se: ArrayLike | None = None,
    labels: Sequence[object] | None = None,
    where: str = "effects",
) -> Effects:
    """The :class:`Effects` of what an engine was given: the one entry path of every engine.

    ``data`` is an :class:`Effects` value (returned as it is; ``measure`` relabels generic
    effects), a study table of one analysis (through :func:`effect_sizes`; generic data
    default to ``"GENERIC"``, other data need ``measure``), a table of effects with
    ``yi`` and ``vi`` or ``sei`` (and optionally ``study``; rows with a missing effect
    are excluded), or the effects themselves with ``se=`` (and optionally ``labels=``).
    """
    if isinstance(data, Effects):
        if se is not None or labels is not None:
            raise DataError(f"{where}: se= and labels= are for arrays of effects")
        if measure is not None and measures.lookup(measure).code != data.measure.code:
            return data.with_measure(measure)
        return data
    if isinstance(data, pd.DataFrame):
        if se is not None or labels is not None:
            raise DataError(f"{where}: se= and labels= are for arrays of effects, not tables")
        if "yi" in data.columns:
            return _from_yi_table(data, measure or "GENERIC", where)
        table = single_analysis(data)
        kind = data_type(table)
        if kind == "generic":
            eff = effect_sizes(table, "GENERIC")
            return eff if measure is None else eff.with_measure(measure)
        if measure is None:
            raise DataError(f"{where}: {kind} data need a measure (e.g. 'RR', 'OR', 'SMD')")
        return effect_sizes(table, measures.lookup(measure, where=where).code)
    if se is None:
        raise DataError(f"{where}: pass se= with an array of study effects")
    return Effects.from_arrays(data, se, labels, measure or "GENERIC")


def _from_yi_table(df: pd.DataFrame, measure: str, where: str) -> Effects:
    if "sei" in df.columns:
        sei = df["sei"].to_numpy(float)
    elif "vi" in df.columns:
        sei = np.sqrt(df["vi"].to_numpy(float))
    else:
        raise DataError(f"{where}: a table with 'yi' needs 'vi' or 'sei'")
    study = (
        df["study"].astype(str).tolist()
        if "study" in df.columns
        else [f"study {i + 1}" for i in range(len(df))]
    )
    yi = df["yi"].to_numpy(float)
    reason = df["reason"].tolist() if "reason" in df.columns else [None] * len(df)
    ok = ~(np.isnan(yi) | np.isnan(sei))
    if not ok.any():
        raise DataError(f"{where}: no study has an estimable effect")
    kept = [s for s, good in zip(study, ok, strict=True) if good]
    eff = Effects.from_arrays(yi[ok], sei[ok], kept, measure)
    excluded = tuple(
        (s, str(r) if r is not None else "no effect estimate")
        for s, r, good in zip(study, reason, ok, strict=True)
        if not good
    )
    return replace(eff, excluded=excluded)
