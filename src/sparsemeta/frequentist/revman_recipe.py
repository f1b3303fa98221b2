"""RevMan's recipe for one outcome: subgroups, TOTALS semantics and the fields RevMan stores.

:func:`revman` computes one outcome as RevMan 5 or RevMan Web does → :class:`RevManResult`,
whose fields carry the names of the attributes RevMan stores. The two versions differ in two
per-study rules (:data:`VERSION_RULES`) and RevMan Web adds, from January 2025, the
random-effects options of :class:`RevManSettings` (REML, Hartung-Knapp-Sidik-Jonkman CI,
prediction intervals, Q-profile CI for τ², I² from τ²). References: Deeks & Higgins (2010)
*Statistical algorithms in Review Manager 5*; Cochrane Handbook v6.5 chapter 10; Cochrane
Methods, "Random-effects meta-analysis methods for Intervention Reviews" (2024-2025).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special

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
    hksj_se,
    i_squared,
    i_squared_tau2,
    prediction_interval,
    q_statistic,
    tau2_qprofile_ci,
)
from sparsemeta.results import json_safe, summary_frame

__all__ = [
    "VERSION_RULES",
    "RevManLevel",
    "RevManResult",
    "RevManSettings",
    "SubgroupTest",
    "revman",
]

#: How each RevMan version computes two per-study edge cases (see :func:`revman`).
VERSION_RULES: dict[str, dict[str, str]] = {
    "5": {
        "all_events": "RR/OR: a study with all participants having the event in both arms "
        "is not estimable",
        "smd_small": "SMD: a study with n_t + n_c < 4 is not estimable",
    },
    "web": {
        "all_events": "RR/OR: a study with all events in both arms is estimable with 0.5 "
        "added to every cell (e.g. 28/28 vs 29/29 gives RR 1.00 [0.935, 1.069])",
        "smd_small": "SMD: with n_t + n_c = 3 Hedges' factor 1 − 3/(4N − 9) is 0, so g = 0 "
        "with SE² = N/(n_t·n_c) (RevMan Web shows 0.00 [−2.40, 2.40])",
    },
}


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
    version : {"5", "web"}
        Which RevMan computed the stored results: the per-study rules of
        :data:`VERSION_RULES` follow it.
    tau2_method : {"DL", "REML"}
        Random effects: τ² by DerSimonian-Laird (RevMan 5, and RevMan Web's default) or
        restricted maximum likelihood (RevMan Web from 2025).
    ci_method : {"wald", "hksj"}
        Random effects: the pooled CI with the normal quantile, or Hartung-Knapp-Sidik-
        Jonkman (SE² = Σw(y − μ̂)²/((k − 1)Σw), t with k − 1 df).
    prediction : {"none", "t", "normal"}
        Random effects: prediction interval ``μ̂ ± c√(τ² + SE²)`` with ``c`` from t with
        k − 1 df or the normal distribution, SE from ``ci_method``.
    i2_from_tau2 : bool
        Random effects: I² = 100 τ²/(τ² + s²) (RevMan Web from 2025) instead of (Q − df)/Q.
    tau2_ci : bool
        Random effects: compute the Q-profile CI for τ² of every pooled line.
    swap_events : bool
        Binary data: analyse non-events instead of events (``SWAP_EVENTS="YES"``): each
        arm's events become ``n − events``.
    """

    data_type: Literal["binary", "continuous", "generic"]
    method: Literal["MH", "IV", "PETO"]
    measure: str
    random: bool = False
    totals: Literal["YES", "SUB", "NO"] = "YES"
    log_data: bool = False
    version: Literal["5", "web"] = "5"
    tau2_method: Literal["DL", "REML"] = "DL"
    ci_method: Literal["wald", "hksj"] = "wald"
    prediction: Literal["none", "t", "normal"] = "none"
    i2_from_tau2: bool = False
    tau2_ci: bool = False
    swap_events: bool = False

    def __post_init__(self) -> None:
        if self.totals not in ("YES", "SUB", "NO"):
            raise DataError(
                f"RevMan settings, field 'totals': must be YES, SUB or NO, got {self.totals!r}"
            )
        for name, allowed in (
            ("version", ("5", "web")),
            ("tau2_method", ("DL", "REML")),
            ("ci_method", ("wald", "hksj")),
            ("prediction", ("none", "t", "normal")),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise DataError(
                    f"RevMan settings, field {name!r}: must be one of {list(allowed)}, "
                    f"got {value!r}"
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
    With the Hartung-Knapp-Sidik-Jonkman CI, ``se`` is the HKSJ standard error, ``z`` is
    ``|t|`` and ``p_z`` its two-sided p-value with ``t_df = k − 1`` degrees of freedom
    (``t_df`` is 0 for normal-based results). ``tau2_ci_start``/``tau2_ci_end`` (Q-profile)
    and ``pi_start``/``pi_end`` (prediction interval, reporting scale) are NaN when not
    requested or undefined.
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
    t_df: int = 0
    tau2_ci_start: float = float("nan")
    tau2_ci_end: float = float("nan")
    pi_start: float = float("nan")
    pi_end: float = float("nan")


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

    @property
    def level(self) -> float:
        """Probability of the confidence intervals (RevMan's are 95%)."""
        return 0.95

    def summary(self) -> pd.DataFrame:
        """One ``mu`` row per pooled line (the total, ``subgroup`` None, then each subgroup)
        in the columns of :data:`sparsemeta.results.SUMMARY_COLUMNS` plus ``subgroup``,
        ``k`` and ``weight``; analysis scale (log for ratios), ``sd`` the standard error."""
        levels = ([self.overall] if self.overall is not None else []) + list(
            self.subgroups.values()
        )
        rows = [
            {
                "param": "mu",
                "study": None,
                "mean": lv.estimate,
                "sd": lv.se,
                "median": lv.estimate,
                "lower": lv.estimate - Z975 * lv.se,
                "upper": lv.estimate + Z975 * lv.se,
                "subgroup": lv.label,
                "k": lv.k,
                "weight": lv.weight,
            }
            for lv in levels
        ]
        return summary_frame(rows, self.level)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe record: settings, pooled lines, subgroup test and per-study rows."""
        return json_safe(
            {
                "settings": self.settings,
                "overall": self.overall,
                "subgroups": self.subgroups,
                "test_subgroups": self.test_subgroups,
                "studies": self.to_frame(),
            }
        )

    def levels_frame(self) -> pd.DataFrame:
        """One row per pooled line (``"overall"`` and each subgroup), RevMan's fields."""
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

    def to_frame(self) -> pd.DataFrame:
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
        return head + "\n" + self.levels_frame().to_string(index=False)


def _level(
    core: _Core, label: str | None, ratio: bool, weight: float, settings: RevManSettings
) -> RevManLevel:
    if core.k == 0:
        nan = float("nan")
        return RevManLevel(
            label, False, 0, nan, nan, nan, nan, nan, nan, nan, nan, 0, nan, nan, nan, weight
        )
    est, se = core.estimate, core.se
    crit, t_df = Z975, 0
    random = settings.random and core.k >= 2
    if random and settings.ci_method == "hksj":
        se = float(hksj_se(core.yi_ok, core.vi_ok, core.tau2))
        t_df = core.k - 1
        crit = float(special.stdtrit(t_df, 0.975))
    lo, hi = est - crit * se, est + crit * se
    tr = np.exp if ratio else float
    z = abs(est / se)
    p_z = float(2 * special.stdtr(t_df, -z)) if t_df else _p_norm(z)
    i2 = float(i_squared(core.chi2, core.df))
    if random and settings.i2_from_tau2:
        i2 = float(i_squared_tau2(core.tau2, core.vi_ok))
    tau2_ci = (float("nan"), float("nan"))
    if random and settings.tau2_ci:
        tau2_ci = tau2_qprofile_ci(core.yi_ok, core.vi_ok)
    pi = None
    if random and settings.prediction != "none":
        pi = prediction_interval(est, se, core.tau2, core.k, 0.95, settings.prediction)
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
        p_z=p_z,
        chi2=core.chi2,
        df=core.df,
        p_chi2=_p_chi2(core.chi2, core.df),
        i2=i2,
        tau2=core.tau2,
        weight=weight,
        t_df=t_df,
        tau2_ci_start=tau2_ci[0],
        tau2_ci_end=tau2_ci[1],
        pi_start=float("nan") if pi is None else float(tr(pi[0])),
        pi_end=float("nan") if pi is None else float(tr(pi[1])),
    )


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _share(w: _Array) -> _Array:
    total = w.sum()
    return w / total * 100 if total > 0 else np.zeros_like(w)


def _apply_version(
    arr: dict[str, _Array], data: pd.DataFrame, settings: RevManSettings
) -> dict[str, _Array]:
    """Per-study effects under RevMan Web's rules (:data:`VERSION_RULES`); RevMan 5's are
    those of :mod:`sparsemeta.effects`."""
    if settings.version != "web":
        return arr
    measure = settings.effect_measure
    rows = np.zeros(len(data), dtype=bool)
    yi, vi = arr["yi"].copy(), arr["vi"].copy()
    if measure in ("RR", "OR"):
        rows = (arr["a"] == arr["n1"]) & (arr["c"] == arr["n2"]) & (arr["a"] > 0)
        if rows.any():
            a, b, c, d = (arr[k][rows] for k in ("a_cc", "b_cc", "c_cc", "d_cc"))
            fn = effects.log_rr if measure == "RR" else effects.log_or
            yi[rows], vi[rows] = fn(a, a + b, c, c + d)  # corrected cells: no zero left
    elif measure == "SMD":
        n1 = data["n_t"].to_numpy(dtype=float)
        n2 = data["n_c"].to_numpy(dtype=float)
        rows = n1 + n2 == 3
        if rows.any():
            # Hedges' factor 1 − 3/(4N − 9) = 0 at N = 3: g = 0, SE² = N/(n1·n2) + 0
            yi[rows] = 0.0
            vi[rows] = 3.0 / (n1[rows] * n2[rows])
    if not rows.any():
        return arr
    out = dict(arr)
    out["yi"], out["vi"] = yi, vi
    out["estimable"] = arr["estimable"] | rows
    reason = arr["reason"].copy()
    reason[rows] = None
    out["reason"] = reason
    return out


def revman(data: pd.DataFrame, settings: RevManSettings) -> RevManResult:
    """RevMan's computation of one outcome, subgroups and totals included.

    Rules (Deeks & Higgins 2010, confirmed against RevMan files): per-study effects with
    the zero-cell rules of :mod:`sparsemeta.effects` and, for ``version="web"``, RevMan
    Web's rules for all-event studies and SMD with three participants
    (:data:`VERSION_RULES`); M-H, Peto or IV fixed pools; random effects by
    DerSimonian-Laird with Q around the method's fixed estimate (or REML); CIs with
    ``Z975`` (or HKSJ with t, k − 1 df); one estimable study gives that study's own
    estimate and variance (no τ², no HKSJ, no prediction interval).

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
    if settings.swap_events and settings.data_type == "binary":
        data = data.assign(events_t=data["n_t"] - data["events_t"])
        data = data.assign(events_c=data["n_c"] - data["events_c"])
    arr = _apply_version(effects.study_arrays(data, settings.effect_measure), data, settings)
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
        return _pool_core(
            arr, rows, measure, settings.method, settings.random, settings.tau2_method
        )

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
        subgroups[g] = _level(sub_cores[g], g, ratio, w, settings)

    test = None
    ests = [lv for lv in subgroups.values() if lv.k > 0]
    if has_sub:
        if len(ests) >= 2:
            th = np.array([lv.estimate for lv in ests])
            v = np.array([lv.se**2 for lv in ests])
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
        overall = _level(overall_core, None, ratio, 100.0 * len(ests), settings)
        if ests:
            th = np.array([lv.estimate for lv in ests])
            v = np.array([lv.se**2 for lv in ests])
            est, se = (float(x) for x in fixed_iv(th, v))
            fixed = replace(settings, random=False)
            pooled = _level(
                _Core(len(ests), est, se, 0.0, 0, 0.0, v, th, v), None, ratio, 0.0, fixed
            )
            overall = replace(
                overall,
                estimate=est,
                se=se,
                effect_size=pooled.effect_size,
                ci_start=pooled.ci_start,
                ci_end=pooled.ci_end,
                z=pooled.z,
                p_z=pooled.p_z,
                t_df=0,
            )
    else:
        overall = _level(overall_core, None, ratio, 100.0, settings)

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
