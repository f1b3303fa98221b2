"""RevMan 5's recipe for one outcome: subgroups, TOTALS semantics and the fields RevMan stores.

:func:`revman` computes one outcome as RevMan 5 does → :class:`RevManResult`, whose fields
carry the names of the attributes RevMan stores. Reference: Deeks & Higgins (2010)
*Statistical algorithms in Review Manager 5*.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from sparsemeta import effects, measures
from sparsemeta.errors import DataError
from sparsemeta.frequentist.estimators import (
    Z975,
    _Array,
    _Core,
    _p_chi2,
    _p_norm,
    _pool_core,
    fixed_iv,
    i_squared,
    q_statistic,
)

__all__ = ["RevManLevel", "RevManResult", "RevManSettings", "SubgroupTest", "revman"]


@dataclass(frozen=True)
class RevManSettings:
    """The settings of one RevMan 5 outcome (from its XML attributes).

    Attributes
    ----------
    data_type : {"binary", "continuous", "generic"}
        ``DICH_OUTCOME``, ``CONT_OUTCOME`` or ``IV_OUTCOME``.
    method : {"MH", "IV", "PETO"}
        ``METHOD``.
    measure : str
        ``EFFECT_MEASURE``: RR, OR, RD or PETO_OR for binary data, MD or SMD for
        continuous data; any label for generic data (e.g. ``"GENERIC"``, ``"RR"``, ``"HR"``).
    random : bool
        ``RANDOM="YES"``.
    totals : {"YES", "SUB", "NO"}
        ``TOTALS``.
    log_data : bool
        ``LOG_DATA="YES"`` (generic data on the log scale; reported as ratios).
    """

    data_type: Literal["binary", "continuous", "generic"]
    method: Literal["MH", "IV", "PETO"]
    measure: str
    random: bool = False
    totals: Literal["YES", "SUB", "NO"] = "YES"
    log_data: bool = False

    def __post_init__(self) -> None:
        if self.totals not in ("YES", "SUB", "NO"):
            raise DataError(
                f"RevMan settings, field 'totals': must be YES, SUB or NO, got {self.totals!r}"
            )
        if self.data_type == "generic":
            if self.method != "IV":
                raise DataError(
                    f"RevMan settings, field 'method': generic data use IV, got {self.method!r}"
                )
            return
        if self.data_type not in ("binary", "continuous"):
            raise DataError(
                f"RevMan settings, field 'data_type': unknown data type {self.data_type!r}"
            )
        row = measures.get(self.measure)
        if (
            row is None
            or row.data_type != self.data_type
            or self.measure not in measures.for_method(self.method)
        ):
            raise DataError(
                f"RevMan settings, field 'measure': {self.method}/{self.measure} is not a RevMan "
                f"method for {self.data_type} data"
            )

    @property
    def effect_measure(self) -> str:
        """The measure :mod:`sparsemeta.effects` computes for these settings."""
        if self.data_type == "generic":
            return "GENERIC"
        return "PETO_OR" if self.method == "PETO" else self.measure

    @property
    def ratio(self) -> bool:
        """Whether RevMan reports the effect as a ratio (analysed on the log scale)."""
        if self.data_type == "generic":
            return self.log_data
        return measures.is_ratio(self.effect_measure)


@dataclass(frozen=True, eq=False)
class RevManLevel:
    """One pooled line of a RevMan analysis (the overall total or one subgroup).

    Field names follow the attributes RevMan stores (lower case): ``effect_size``,
    ``ci_start``, ``ci_end`` on RevMan's reporting scale (ratios for RR/OR/Peto OR and
    generic log data), ``z`` (RevMan stores ``|Z|``), ``p_z``, ``chi2``, ``df``, ``p_chi2``, ``i2``, ``tau2``, and
    ``weight`` (percent). ``estimate`` and ``se`` are on the analysis (log) scale.
    ``estimable`` is False when no study could be pooled (all fields NaN).
    """

    label: str | None
    estimable: bool
    k: int
    estimate: float
    se: float
    effect_size: float
    ci_start: float
    ci_end: float
    z: float
    p_z: float
    chi2: float
    df: int
    p_chi2: float
    i2: float
    tau2: float
    weight: float


@dataclass(frozen=True)
class SubgroupTest:
    """RevMan's test for subgroup differences (stored as ``Q``, ``P_Q``, ``I2_Q``)."""

    q: float
    df: int
    p_q: float
    i2_q: float


@dataclass(frozen=True, eq=False)
class RevManResult:
    """RevMan 5's results for one outcome.

    Attributes
    ----------
    settings : RevManSettings
    overall : RevManLevel or None
        The outcome's total line (``None`` when ``TOTALS="NO"``). With ``TOTALS="SUB"`` its
        estimate, CI, Z and p are the inverse-variance pool of the subgroup estimates, and
        Chi², df, p, I², τ² are those of all studies pooled together.
    subgroups : dict[str, RevManLevel]
        One line per subgroup, in input order (empty without subgroups).
    test_subgroups : SubgroupTest or None
        Test for subgroup differences (``None`` without subgroups).
    studies, study_subgroups : tuple
        Study labels and their subgroups, in input order.
    study_weights : numpy.ndarray
        Per-study ``WEIGHT`` in percent, as RevMan stores it.
    study_effect, study_ci_start, study_ci_end : numpy.ndarray
        Per-study ``EFFECT_SIZE``, ``CI_START``, ``CI_END`` (reporting scale; NaN when not
        estimable).
    study_yi, study_se : numpy.ndarray
        Per-study effect and SE on the analysis scale (RevMan's ``SE``).
    """

    settings: RevManSettings
    overall: RevManLevel | None
    subgroups: dict[str, RevManLevel]
    test_subgroups: SubgroupTest | None
    studies: tuple[str, ...]
    study_subgroups: tuple[str | None, ...]
    study_weights: _Array
    study_effect: _Array
    study_ci_start: _Array
    study_ci_end: _Array
    study_yi: _Array
    study_se: _Array

    def to_frame(self) -> pd.DataFrame:
        """One row per pooled line (``"overall"`` and each subgroup)."""
        levels = ([self.overall] if self.overall is not None else []) + list(
            self.subgroups.values()
        )
        names = [
            "effect_size",
            "ci_start",
            "ci_end",
            "z",
            "p_z",
            "chi2",
            "df",
            "p_chi2",
            "i2",
            "tau2",
            "weight",
            "k",
            "estimable",
        ]
        return pd.DataFrame(
            [
                {
                    "level": "overall" if lv.label is None else lv.label,
                    **{n: getattr(lv, n) for n in names},
                }
                for lv in levels
            ]
        )

    def study_frame(self) -> pd.DataFrame:
        """One row per study: ``study, subgroup, effect_size, ci_start, ci_end, se, weight``."""
        return pd.DataFrame(
            {
                "study": self.studies,
                "subgroup": self.study_subgroups,
                "effect_size": self.study_effect,
                "ci_start": self.study_ci_start,
                "ci_end": self.study_ci_end,
                "se": self.study_se,
                "weight": self.study_weights,
            }
        )

    def __str__(self) -> str:
        s = self.settings
        head = (
            f"RevMan {s.method} {'random' if s.random else 'fixed'} {s.measure} "
            f"(TOTALS={s.totals}), {len(self.studies)} study rows"
        )
        return head + "\n" + self.to_frame().to_string(index=False)


def _level(core: _Core, label: str | None, ratio: bool, weight: float) -> RevManLevel:
    if core.k == 0:
        nan = float("nan")
        return RevManLevel(
            label, False, 0, nan, nan, nan, nan, nan, nan, nan, nan, 0, nan, nan, nan, weight
        )
    est, se = core.estimate, core.se
    lo, hi = est - Z975 * se, est + Z975 * se
    tr = np.exp if ratio else float
    z = abs(est / se)
    return RevManLevel(
        label=label,
        estimable=True,
        k=core.k,
        estimate=est,
        se=se,
        effect_size=float(tr(est)),
        ci_start=float(tr(lo)),
        ci_end=float(tr(hi)),
        z=z,
        p_z=_p_norm(z),
        chi2=core.chi2,
        df=core.df,
        p_chi2=_p_chi2(core.chi2, core.df),
        i2=float(i_squared(core.chi2, core.df)),
        tau2=core.tau2,
        weight=weight,
    )


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _share(w: _Array) -> _Array:
    total = w.sum()
    return w / total * 100 if total > 0 else np.zeros_like(w)


def revman(data: pd.DataFrame, settings: RevManSettings) -> RevManResult:
    """RevMan 5's computation of one outcome, subgroups and totals included.

    Rules (Deeks & Higgins 2010, confirmed against RevMan files): per-study effects with
    the zero-cell rules of :mod:`sparsemeta.effects`; M-H, Peto or IV fixed pools; random
    effects by DerSimonian-Laird with Q around the method's fixed estimate; CIs with
    ``Z975``; one estimable study gives that study's own estimate and variance.

    ``TOTALS="YES"``: the total pools all studies (one τ²); a study's weight is its share
    of that total and a subgroup's weight the sum of its studies'. ``TOTALS="SUB"``: study
    weights are shares within their subgroup; the total's estimate/CI/Z is the
    inverse-variance pool of the subgroup estimates (weights ``1/SE_g²``) while its Chi²,
    df, I², τ² come from all studies pooled together. ``TOTALS="NO"``: no total; weights
    within subgroups. Test for subgroup differences: ``Q = Σ(θ_g − θ̄)²/SE_g²`` over the
    estimable subgroups, df = G − 1.

    Parameters
    ----------
    data : pandas.DataFrame
        A validated study table of one analysis (:func:`sparsemeta.data.study_table`; the
        RevMan readers return one); the ``subgroup`` column (if any) defines the subgroups,
        in order of first appearance. It is not validated again here (this is the fast
        path of RevMan recomputation): pass a raw table through ``study_table`` first.
    settings : RevManSettings

    Returns
    -------
    RevManResult

    Raises
    ------
    DataError
        ``data`` is not a DataFrame or is empty, its data type does not fit the settings'
        measure, or some studies have a subgroup and others none.
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(
            f"revman, argument 'data': expected a pandas DataFrame (a study table), got "
            f"{type(data).__name__}"
        )
    arr = effects.study_arrays(data, settings.effect_measure)
    measure = "OR" if settings.method == "PETO" else settings.measure
    ratio = settings.ratio
    n = len(data)
    studies = tuple(str(s) for s in data["study"])
    subs: tuple[str | None, ...] = (
        tuple(None if _missing(s) else str(s) for s in data["subgroup"])
        if "subgroup" in data.columns
        else (None,) * n
    )
    all_rows = np.arange(n)

    def pool(rows: _Array) -> _Core:
        return _pool_core(arr, rows, measure, settings.method, settings.random)

    overall_core = pool(all_rows)
    labels = list(dict.fromkeys(s for s in subs if s is not None))
    has_sub = bool(labels)
    if has_sub and any(s is None for s in subs):
        i = subs.index(None)
        raise DataError(
            f"study {studies[i]!r}, field 'subgroup': missing while other studies of the "
            "analysis have subgroups"
        )
    members: dict[str, list[int]] = {g: [] for g in labels}
    for i, g in enumerate(subs):
        if g is not None:
            members[g].append(i)
    sub_rows = {g: np.array(r) for g, r in members.items()}
    sub_cores = {g: pool(r) for g, r in sub_rows.items()}

    totals = settings.totals if has_sub or settings.totals == "YES" else "NO"
    weights = np.zeros(n)
    if totals == "YES":
        weights = _share(overall_core.weights)
    elif totals == "SUB":
        for g, r in sub_rows.items():
            weights[r] = _share(sub_cores[g].weights)

    subgroups: dict[str, RevManLevel] = {}
    for g, r in sub_rows.items():
        w = float(weights[r].sum())
        subgroups[g] = _level(sub_cores[g], g, ratio, w)

    test = None
    ests = [c for c in sub_cores.values() if c.k > 0]
    if has_sub:
        if len(ests) >= 2:
            th = np.array([c.estimate for c in ests])
            v = np.array([c.se**2 for c in ests])
            q = float(q_statistic(th, v))
            dfq = len(ests) - 1
            test = SubgroupTest(q, dfq, _p_chi2(q, dfq), float(i_squared(q, dfq)))
        else:
            test = SubgroupTest(0.0, 0, float("nan"), 0.0)

    overall: RevManLevel | None
    if totals == "NO":
        overall = None
    elif totals == "SUB":
        # Chi², df, I², τ² of all studies pooled; estimate, CI, Z of the subgroup estimates
        # pooled by inverse variance; weight = the sum of the subgroup weights (100 each).
        overall = _level(overall_core, None, ratio, 100.0 * len(ests))
        if ests:
            th = np.array([c.estimate for c in ests])
            v = np.array([c.se**2 for c in ests])
            est, se = (float(x) for x in fixed_iv(th, v))
            pooled = _level(_Core(len(ests), est, se, 0.0, 0, 0.0, v, th, v), None, ratio, 0.0)
            overall = replace(
                overall,
                estimate=est,
                se=se,
                effect_size=pooled.effect_size,
                ci_start=pooled.ci_start,
                ci_end=pooled.ci_end,
                z=pooled.z,
                p_z=pooled.p_z,
            )
    else:
        overall = _level(overall_core, None, ratio, 100.0)

    yi, vi, ok = arr["yi"], arr["vi"], arr["estimable"]
    se = np.sqrt(vi)
    tr = np.exp if ratio else (lambda x: x)
    return RevManResult(
        settings=settings,
        overall=overall,
        subgroups=subgroups,
        test_subgroups=test,
        studies=studies,
        study_subgroups=subs,
        study_weights=weights,
        study_effect=np.where(ok, tr(yi), np.nan),
        study_ci_start=np.where(ok, tr(yi - Z975 * se), np.nan),
        study_ci_end=np.where(ok, tr(yi + Z975 * se), np.nan),
        study_yi=yi,
        study_se=se,
    )
