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

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd

from sparsemeta import measures
from sparsemeta.data import BINARY_COLUMNS, CONTINUOUS_COLUMNS, data_type
from sparsemeta.errors import DataError

__all__ = [
    "Cells",
    "corrected_cells",
    "effect_sizes",
    "generic",
    "hedges_g",
    "log_or",
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


def effect_sizes(df: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Per-study effect sizes of one analysis with RevMan 5's zero-cell rules.

    Parameters
    ----------
    df : pandas.DataFrame
        A validated study table (:func:`sparsemeta.data.study_table`) of one analysis.
    measure : str
        A measure of :data:`sparsemeta.measures.TABLE` with an effect function (RR, OR,
        PETO_OR, RD, MD, SMD, GENERIC, ...). Log-scale measures are returned as natural
        logarithms. GENERIC takes ``effect`` and ``se`` as given (on the log scale when
        ``log_scale`` is true).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``df``: ``study, yi, vi, sei, estimable, reason``; binary data add
        the zero-corrected cells ``a_cc, b_cc, c_cc, d_cc`` and ``cc_added`` (0 or 0.5).
        Non-estimable studies keep their row with ``yi = vi = sei = NaN`` and a reason.

    Raises
    ------
    DataError
        Unknown measure, a measure that does not fit the data type, or a missing column.
    """
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
    return frame
