"""One meta-analysis: :func:`meta_analysis` pools one analysis (no subgroups) into a
:class:`MetaResult` with the estimators of :mod:`sparsemeta.frequentist.estimators`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special

from sparsemeta import effects, measures
from sparsemeta.data import BINARY_COLUMNS, CONTINUOUS_COLUMNS, study_table
from sparsemeta.effects import Effects
from sparsemeta.errors import DataError
from sparsemeta.frequentist.estimators import (
    PiMethod,
    _Array,
    _p_chi2,
    _p_norm,
    _pool_core,
    _zcrit,
    h_squared_tau2,
    hksj_se,
    i_squared,
    i_squared_tau2,
    prediction_interval,
    tau2_qprofile_ci,
    tau2_se,
)
from sparsemeta.present.format import effect
from sparsemeta.results import json_safe, summary_frame

__all__ = ["CI_METHODS", "TAU2_METHODS", "MetaResult", "meta_analysis"]


def _row(
    param: str,
    study: str | None,
    mean: float,
    sd: float,
    median: float,
    lower: float,
    upper: float,
    weight: float,
) -> dict[str, object]:
    return {
        "param": param,
        "study": study,
        "mean": float(mean),
        "sd": float(sd),
        "median": float(median),
        "lower": float(lower),
        "upper": float(upper),
        "weight": weight,
    }


@dataclass(frozen=True, eq=False)
class MetaResult:
    """Result of one meta-analysis; estimates on the analysis scale (log for ratios).

    Attributes
    ----------
    measure, method, random, tau2_method, ci_method, level
        What was computed (``tau2_method`` is ``None`` for a fixed-effect model).
    k : int
        Number of estimable studies pooled.
    estimate, se, ci_low, ci_high, z, p
        Pooled effect, its standard error, CI, and the test for overall effect. With
        ``ci_method="hksj"``/``"mhk"`` the SE, CI and p are the Hartung-Knapp ones
        (t with ``k − 1`` df).
    chi2, df, p_chi2, i2
        Cochran's Q (around the method's fixed estimate: M-H, Peto or IV), ``k − 1``,
        its χ² p-value (NaN when df = 0) and I² in percent: with ``i2_method="q"`` the
        Q-based ``(Q − df)/Q`` of Higgins & Thompson (2002) as in RevMan 5; with
        ``"tau2"`` the τ²-based ``100 τ²/(τ² + s²)`` that metafor prints and RevMan
        (2025) reports for random effects.
    h2, i2_ci, h2_ci
        H² (``Q/df`` or ``(τ² + s²)/s²``, following ``i2_method``) and, when the τ² CI
        is computed and ``i2_method="tau2"``, CIs for I² and H² obtained by mapping the
        τ² CI (metafor's ``confint``); ``None`` otherwise.
    tau2, tau2_ci, tau
        Between-study variance (0 for a fixed-effect model), its Q-profile CI (``None``
        when not computed or k < 2) and √τ².
    tau2_se
        Standard error of τ̂² (DL and REML; NaN otherwise or for a fixed-effect model).
    pi_low, pi_high, pi_method, pi_note
        Prediction interval (``None`` when undefined: fixed-effect model or too few
        studies for ``pi_method``), its method and a note saying which interval it is
        or why there is none. It uses the SE of the chosen ``ci_method``.
    weights : numpy.ndarray
        Percent weight of each study in ``studies`` (0 for excluded studies).
    studies : tuple[str, ...]
        Every study of the analysis, in input order.
    excluded : tuple[tuple[str, str], ...]
        ``(study, reason)`` for the studies that were not estimable.
    yi, vi : numpy.ndarray
        Per-study effects and variances aligned with ``studies`` (NaN where excluded).
    log_scale : bool
        Whether the estimates are log ratios.
    """

    measure: str
    method: str
    random: bool
    tau2_method: str | None
    ci_method: str
    k: int
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    p: float
    chi2: float
    df: int
    p_chi2: float
    i2: float
    tau2: float
    tau2_ci: tuple[float, float] | None
    tau: float
    pi_low: float | None
    pi_high: float | None
    pi_note: str
    weights: _Array
    studies: tuple[str, ...]
    excluded: tuple[tuple[str, str], ...]
    yi: _Array = field(repr=False)
    vi: _Array = field(repr=False)
    log_scale: bool = False
    level: float = 0.95
    i2_method: str = "q"
    h2: float = float("nan")
    i2_ci: tuple[float, float] | None = None
    h2_ci: tuple[float, float] | None = None
    tau2_se: float = float("nan")
    pi_method: str = "hts"

    @property
    def estimable(self) -> bool:
        """Whether at least one study could be pooled."""
        return self.k > 0

    def exp_estimate(self) -> float:
        """The pooled estimate on the ratio scale, ``exp(estimate)`` (log-scale results only)."""
        self._need_log()
        return float(np.exp(self.estimate))

    def exp_ci(self) -> tuple[float, float]:
        """The confidence interval on the ratio scale."""
        self._need_log()
        return float(np.exp(self.ci_low)), float(np.exp(self.ci_high))

    def exp_pi(self) -> tuple[float, float] | None:
        """The prediction interval on the ratio scale, or ``None`` when undefined."""
        self._need_log()
        if self.pi_low is None or self.pi_high is None:
            return None
        return float(np.exp(self.pi_low)), float(np.exp(self.pi_high))

    def _need_log(self) -> None:
        if not self.log_scale:
            raise ValueError(f"{self.measure} is not a log-ratio measure; use .estimate")

    def summary(self) -> pd.DataFrame:
        """The pooled effect ``mu`` (CI), ``tau2`` (Q-profile CI), ``theta_new`` (prediction
        interval) and one ``theta`` row per study (its CI), in the columns of
        :data:`sparsemeta.results.SUMMARY_COLUMNS` plus ``weight`` (percent); analysis scale.
        ``mean`` and ``median`` are the point estimate, ``sd`` its standard error."""
        nan = float("nan")
        z = _zcrit(self.level)
        se = np.sqrt(self.vi)
        t2lo, t2hi = self.tau2_ci if self.tau2_ci is not None else (nan, nan)
        pilo = nan if self.pi_low is None else self.pi_low
        pihi = nan if self.pi_high is None else self.pi_high
        est = self.estimate
        rows: list[dict[str, object]] = [
            _row("mu", None, est, self.se, est, self.ci_low, self.ci_high, 100.0 * self.estimable),
            _row("tau2", None, self.tau2, nan, nan, t2lo, t2hi, nan),
            _row("theta_new", None, est, nan, est, pilo, pihi, nan),
        ]
        rows += [
            _row("theta", s, y, e, y, y - z * e, y + z * e, float(w))
            for s, y, e, w in zip(self.studies, self.yi, se, self.weights, strict=True)
        ]
        return summary_frame(rows, self.level)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe record of every field (:func:`sparsemeta.results.json_safe`)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields["excluded"] = [{"study": s, "reason": r} for s, r in self.excluded]
        return json_safe(fields)

    def __str__(self) -> str:
        """A readable multi-line summary (ratio measures shown on the ratio scale)."""
        model = "Random-effects" if self.random else "Fixed-effect"
        how = self.method + (f", τ² {self.tau2_method}" if self.random else "")
        how += f", {self.ci_method} CI" if self.ci_method != "z" else ""
        pct = f"{self.level * 100:g}%"
        lines = [f"{model} meta-analysis ({how}): {self.measure}, k = {self.k}"]
        if not self.estimable:
            lines.append("  not estimable: no study could be pooled")
        else:
            lines.append(
                f"  {self.measure} {effect(self.estimate, self.log_scale)} [{pct} CI "
                f"{effect(self.ci_low, self.log_scale)}, {effect(self.ci_high, self.log_scale)}]; "
                f"Z = {self.z:.2f} (p = {self.p:.3g})"
            )
            het = (
                f"  Heterogeneity: Chi² = {self.chi2:.2f}, df = {self.df} "
                f"(p = {self.p_chi2:.3g}); I² = {self.i2:.0f}%; τ² = {self.tau2:.4g}"
            )
            if self.tau2_ci is not None:
                het += f" [{self.tau2_ci[0]:.4g}, {self.tau2_ci[1]:.4g}]"
            lines.append(het)
            if self.pi_low is not None and self.pi_high is not None:
                lines.append(
                    f"  Prediction interval: [{effect(self.pi_low, self.log_scale)}, {effect(self.pi_high, self.log_scale)}]"
                )
            else:
                lines.append(f"  Prediction interval: {self.pi_note}")
        lines += [f"  excluded {s!r}: {r}" for s, r in self.excluded]
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """One row per study: ``study, yi, se, ci_low, ci_high, weight, reason`` (the pooled
        effect is the ``mu`` row of :meth:`summary`)."""
        reasons = dict(self.excluded)
        se = np.sqrt(self.vi)
        z = _zcrit(self.level)
        return pd.DataFrame(
            {
                "study": list(self.studies),
                "yi": self.yi,
                "se": se,
                "ci_low": self.yi - z * se,
                "ci_high": self.yi + z * se,
                "weight": self.weights,
                "reason": [reasons.get(s) for s in self.studies],
            }
        )


def _effect_measure(measure: str, method: str) -> str:
    if method == "PETO":
        return "PETO_OR"
    return measure


_METHOD_CHOICES = {"IV": "IV", "MH": "MH", "PETO": "Peto"}
#: τ² estimators of the random-effects pool
TAU2_METHODS: tuple[str, ...] = ("DL", "REML", "PM")
#: confidence intervals: normal; Hartung-Knapp-Sidik-Jonkman; modified Knapp-Hartung (q
#: floored at 1), spelt ``"mhk"`` everywhere
CI_METHODS: tuple[str, ...] = ("z", "hksj", "mhk")
# study-table columns per data type (data.study_table's rules) and the row-type markers
_DATA_COLUMNS = {
    "binary": BINARY_COLUMNS,
    "continuous": CONTINUOUS_COLUMNS,
    "generic": ("effect", "se", "log_scale"),
}
_MARKERS = ("events_t", "events_c", "mean_t", "sd_t", "mean_c", "sd_c", "effect", "se")


def _choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise DataError(
            f"meta_analysis, argument {name!r}: unknown {name} {value!r}; valid choices: {valid}"
        )


def _check_settings(
    method: object, random: object, tau2_method: object, ci_method: object, level: object
) -> str:
    """Validate the settings of :func:`meta_analysis`; return the method in upper case."""
    upper = method.upper() if isinstance(method, str) else method
    if upper not in _METHOD_CHOICES:
        _choice("method", method, tuple(_METHOD_CHOICES.values()))
    if not isinstance(random, bool | np.bool_):
        raise DataError(f"meta_analysis, argument 'random': must be True or False, got {random!r}")
    _choice("tau2_method", tau2_method, TAU2_METHODS)
    _choice("ci_method", ci_method, CI_METHODS)
    if ci_method != "z" and not random:
        raise DataError(
            f"meta_analysis, argument 'ci_method': ci_method={ci_method!r} needs random=True "
            "(Hartung-Knapp adjusts the random-effects interval)"
        )
    if (
        isinstance(level, bool | np.bool_)
        or not isinstance(level, int | float | np.integer | np.floating)
        or not 0.0 < float(level) < 1.0
    ):
        raise DataError(
            f"meta_analysis, argument 'level': must be a number strictly between 0 and 1 "
            f"(e.g. 0.95), got {level!r}"
        )
    return str(upper)


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _columns_ok(df: pd.DataFrame, kind: str) -> bool:
    """The columns ``kind`` data need are there, numeric ones with a numeric dtype."""
    if not all(c in df.columns for c in ("comparison", "outcome", "study", *_DATA_COLUMNS[kind])):
        return False
    dtypes = df.dtypes
    return all(dtypes[c].kind in "iuf" for c in _DATA_COLUMNS[kind] if c != "log_scale")


def _labels_ok(df: pd.DataFrame, studies: list[object]) -> bool:
    """Whether the labels are as study_table wants them.

    Comparison, outcome and study non-empty strings; subgroup and timepoint strings or
    missing; (subgroup, study) unique.
    """
    required = [studies, df["comparison"].tolist(), df["outcome"].tolist()]
    if not all(isinstance(v, str) and v.strip() for labels in required for v in labels):
        return False
    optional = {
        c: [None if _is_missing(v) else v for v in df[c].tolist()]
        for c in ("subgroup", "timepoint")
        if c in df.columns
    }
    if not all(v is None or isinstance(v, str) for labels in optional.values() for v in labels):
        return False
    subgroups = optional.get("subgroup", [None] * len(studies))
    return len(set(zip(subgroups, studies, strict=True))) == len(studies)


def _values_ok(df: pd.DataFrame, arr: dict[str, _Array], kind: str) -> bool:
    """The data values obey the study-table rules (binary: on the arrays already read)."""
    if kind == "binary":
        a, n1, c, n2 = arr["a"], arr["n1"], arr["c"], arr["n2"]
        x = np.stack([a, n1, c, n2])
        return bool(
            np.isfinite(x).all()
            and (x == np.floor(x)).all()
            and ((a >= 0) & (c >= 0) & (n1 > 0) & (n2 > 0) & (a <= n1) & (c <= n2)).all()
        )
    if kind == "generic":
        effect, se = df["effect"].to_numpy(dtype=float), df["se"].to_numpy(dtype=float)
        flags = df["log_scale"].tolist()
        return bool(np.isfinite(effect).all() and np.isfinite(se).all() and (se > 0).all()) and all(
            isinstance(f, bool | np.bool_) for f in flags
        )
    x = {c: df[c].to_numpy(dtype=float) for c in CONTINUOUS_COLUMNS}
    n = np.stack([x["n_t"], x["n_c"]])
    return bool(
        all(np.isfinite(v).all() for v in x.values())
        and (n > 0).all()
        and (n == np.floor(n)).all()
        and (x["sd_t"] > 0).all()
        and (x["sd_c"] > 0).all()
    )


def _arm_arrays(
    df: pd.DataFrame, measure: str
) -> tuple[pd.DataFrame, dict[str, _Array], tuple[str, ...]]:
    """Study table, :func:`effects.study_arrays` and study labels of an arm-level table.

    A table that obeys :func:`sparsemeta.data.study_table`'s rules (as one it returned
    does) is used as it is: the rules are checked on the columns pooling reads anyway
    (dtypes, labels, the data values), which costs microseconds where validating again
    costs milliseconds on every pooling; row types are checked by ``study_arrays``. A study
    label repeated in one subgroup (allowed across analyses) also sends the table through
    ``study_table``, which raises the DataError naming the study and the field or returns
    the normalised table.
    """
    row = measures.get(measure)
    kind = row.data_type if row is not None and row.computable else None
    if kind is not None and _columns_ok(df, kind):
        studies = df["study"].tolist()
        if _labels_ok(df, studies):
            # invalid values (n = 0, ...) are refused below: no numpy warnings on the way
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                arr = effects.study_arrays(df, measure)
            if _values_ok(df, arr, kind):
                return df, arr, tuple(studies)
    df = study_table(df)
    return df, effects.study_arrays(df, measure), tuple(df["study"].tolist())


def _yi_vi_arrays(df: pd.DataFrame) -> tuple[tuple[str, ...], dict[str, _Array]]:
    """Study labels and the arrays of a ``study, yi, vi`` table, validated.

    A study with ``yi`` or ``vi`` missing (NaN, as :func:`sparsemeta.effects.effect_sizes`
    leaves a non-estimable study) is kept and reported as not estimable; anything else
    that is not a finite effect with a positive variance raises.
    """
    for c in ("study", "yi", "vi"):
        if c not in df.columns:
            raise DataError(
                f"yi/vi table, field {c!r}: required column is missing (a table of effects "
                f"needs study, yi and vi; found {', '.join(map(str, df.columns))})"
            )
    labels = df["study"].tolist()
    for row, label in zip(df.index.tolist(), labels, strict=True):
        if _is_missing(label) or not str(label).strip():
            raise DataError(f"row {row!r} (no study label), field 'study': label is missing")
    studies = tuple(str(s) for s in labels)
    if len(set(studies)) != len(studies):
        dup = next(s for i, s in enumerate(studies) if s in studies[:i])
        raise DataError(f"study {dup!r}, field 'study': duplicate study label")
    values = {}
    for c in ("yi", "vi"):
        column = df[c]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            for study, v in zip(studies, column.tolist(), strict=True):
                if isinstance(v, bool | np.bool_) or not (
                    _is_missing(v) or isinstance(v, int | float | np.number)
                ):
                    raise DataError(f"study {study!r}, field {c!r}: must be a number, got {v!r}")
        values[c] = column.to_numpy(dtype=float)
    yi, vi = values["yi"], values["vi"]
    missing = np.isnan(yi) | np.isnan(vi)
    bad_vi = ~missing & ~(np.isfinite(vi) & (vi > 0))
    for c, v, bad in (("yi", yi, np.isinf(yi)), ("vi", vi, bad_vi)):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            need = "not finite" if c == "yi" else "the variance must be finite and > 0"
            raise DataError(f"study {studies[i]!r}, field {c!r}: {need}, got {v[i]!r}")
    good = ~missing
    reason = np.where(good, None, "yi or vi missing: not estimable")
    return studies, {"yi": yi, "vi": vi, "estimable": good, "reason": reason}


def meta_analysis(
    data: pd.DataFrame | Effects,
    measure: str | None = None,
    *,
    method: Literal["IV", "MH", "Peto", "PETO"] = "IV",
    random: bool = True,
    tau2_method: Literal["DL", "REML", "PM"] = "DL",
    ci_method: Literal["z", "hksj", "mhk"] = "z",
    level: float = 0.95,
    tau2_ci: bool = True,
    i2_method: Literal["q", "tau2"] = "q",
    pi_method: PiMethod = "hts",
) -> MetaResult:
    """Meta-analysis of one analysis (no subgroups).

    Parameters
    ----------
    data : pandas.DataFrame or Effects
        An :class:`~sparsemeta.effects.Effects` value (pooled by inverse variance; its
        excluded studies are reported as such), or a study table of one analysis. A table that has not been through
        :func:`sparsemeta.data.study_table` is validated by it (the check of an already
        valid table is cheap and does not repeat the full validation). Or a table of
        effects with columns ``study, yi, vi`` and none of the study-table data columns;
        then ``measure`` only labels the result, ``method`` must be ``"IV"``, ratio
        measures are taken to be on the log scale, the ``study`` column is required
        (results name their studies; there are no made-up labels), a study whose ``yi``
        or ``vi`` is missing (NaN, as :func:`sparsemeta.effects.effect_sizes` leaves a
        non-estimable study) is excluded with a reason, and a non-numeric or infinite
        ``yi`` or a ``vi`` that is not finite and > 0 raises.
    measure : str, optional
        A measure of :data:`sparsemeta.measures.TABLE` (RR, OR, RD, MD, SMD, GENERIC, ...);
        an Effects value brings its own.
    method : {"IV", "MH", "Peto"}
        Case-insensitive. Fixed-effect method; with ``random=True`` it supplies the Q for DerSimonian-Laird
        (RevMan's M-H random recipe: Q around the M-H estimate) and the pool is the
        inverse-variance one with weights ``1/(vᵢ + τ²)``. Peto implies the odds ratio.
    random : bool
        Random-effects model.
    tau2_method : {"DL", "REML", "PM"}
        τ² estimator (random effects only).
    ci_method : {"z", "hksj", "mhk"}
        Normal CI; Hartung-Knapp-Sidik-Jonkman; modified HK with q floored at 1 (both use
        t with k − 1 df, random effects only).
    level : float
        Confidence level of the CI, the τ² CI and the prediction interval, strictly
        between 0 and 1.
    tau2_ci : bool
        Compute the Q-profile CI for τ² (needs k ≥ 2).
    i2_method : {"q", "tau2"}
        I² and H² from Cochran's Q (RevMan 5) or from τ² (metafor; RevMan from 2025 for
        random effects; with a τ² CI this also gives CIs for I² and H²).
    pi_method : {"hts", "t", "normal"}
        Prediction interval: t with k − 2 df (Higgins, Thompson & Spiegelhalter 2009),
        t with k − 1 df (RevMan's t interval; metafor after ``test="knha"``) or normal
        (RevMan's normal interval; metafor's default); see
        :func:`~sparsemeta.frequentist.estimators.prediction_interval`.

    Returns
    -------
    MetaResult
        With one estimable study the pooled result is that study (df = 0, τ² = 0). The
        prediction interval (random effects, t with k − 2 df) is ``None`` for k < 3.

    Raises
    ------
    DataError
        Unknown or mistyped settings (the message lists the valid choices), ``hksj``/``mhk``
        without random effects, a level outside (0, 1), ``data`` that is not a DataFrame
        or is empty, invalid study data (naming the study and the field), bad
        measure/method/data-type combinations or missing columns.
    """
    if isinstance(data, Effects) and measure is None:
        measure = data.measure.code
    method = _check_settings(method, random, tau2_method, ci_method, level)
    _choice("i2_method", i2_method, ("q", "tau2"))
    _choice("pi_method", pi_method, ("hts", "t", "normal"))
    if not isinstance(tau2_ci, bool | np.bool_):
        raise DataError(
            f"meta_analysis, argument 'tau2_ci': must be True or False, got {tau2_ci!r}"
        )
    if method == "MH" and measure not in (mh := measures.for_method("MH")):
        raise DataError(
            f"study table, field 'measure': Mantel-Haenszel needs {', '.join(mh[:-1])} or "
            f"{mh[-1]}, got {measure!r}"
        )
    if method == "PETO" and measure not in measures.for_method("Peto"):
        raise DataError(
            f"study table, field 'measure': Peto's method gives an odds ratio, got {measure!r}"
        )
    if isinstance(data, Effects):
        if method != "IV":
            raise DataError(
                f"meta_analysis, argument 'method': {method} needs arm-level counts (a study "
                "table), not effects"
            )
        frame = data.to_frame()
        studies = tuple(str(s) for s in frame["study"])
        arr = {
            "yi": frame["yi"].to_numpy(float),
            "vi": frame["vi"].to_numpy(float),
            "estimable": frame["estimable"].to_numpy(bool),
            "reason": frame["reason"].to_numpy(object),
        }
        log_scale = data.log_scale
    elif not isinstance(data, pd.DataFrame):
        raise DataError(
            "meta_analysis, argument 'data': expected an Effects value or a pandas DataFrame "
            f"(a study table or a table with study, yi, vi), got {type(data).__name__}"
        )
    elif len(data) == 0:
        raise DataError("study table, field 'study': the table is empty (no studies)")
    elif {"yi", "vi"} & set(data.columns) and not set(_MARKERS) & set(data.columns):
        if method != "IV":
            raise DataError(f"study table, field 'yi': method {method} needs arm-level counts")
        if not isinstance(measure, str) or not measure.strip():
            raise DataError(
                f"study table, field 'measure': unknown measure {measure!r}; a yi/vi table "
                "needs a measure label such as 'MD' or 'RR'"
            )
        studies, arr = _yi_vi_arrays(data)
        log_scale = measures.is_ratio(measure)
    else:
        eff = _effect_measure(measure, method)
        data, arr, studies = _arm_arrays(data, eff)
        log_scale = measures.is_ratio(eff) or (eff == "GENERIC" and bool(data["log_scale"].iloc[0]))
    rows = np.arange(len(studies))
    core = _pool_core(arr, rows, measure if method != "PETO" else "OR", method, random, tau2_method)
    z = _zcrit(level)
    est, se = core.estimate, core.se
    p_chi2 = _p_chi2(core.chi2, core.df)
    if core.k >= 2 and ci_method != "z":
        se = float(hksj_se(core.yi_ok, core.vi_ok, core.tau2, modified=ci_method == "mhk"))
        crit = float(special.stdtrit(core.k - 1, 0.5 + level / 2))
        zval = est / se
        pval = float(2 * special.stdtr(core.k - 1, -abs(zval)))
    else:
        crit = z
        zval = est / se if core.k else np.nan
        pval = _p_norm(zval) if core.k else np.nan
    tci = None
    if random and tau2_ci and core.k >= 2:
        tci = tau2_qprofile_ci(core.yi_ok, core.vi_ok, level)
    pi = None
    min_k = 3 if pi_method == "hts" else 2
    if not random:
        note = "fixed-effect model: no prediction interval"
    elif core.k < min_k:
        note = f"undefined with k = {core.k} studies ({pi_method} interval needs k ≥ {min_k})"
    else:
        pi = prediction_interval(est, se, core.tau2, core.k, level, pi_method)
        note = {
            "hts": f"t with {core.k - 2} df (Higgins, Thompson & Spiegelhalter 2009)",
            "t": f"t with {core.k - 1} df (RevMan's t interval)",
            "normal": "normal quantile (RevMan's normal interval)",
        }[pi_method]
    i2, h2, i2_ci, h2_ci = _heterogeneity(core, i2_method, tci)
    total = core.weights.sum()
    weights = core.weights / total * 100 if total > 0 else core.weights
    yi_all = np.where(arr["estimable"], arr["yi"], np.nan)
    vi_all = np.where(arr["estimable"], arr["vi"], np.nan)
    excluded = tuple(
        (s, str(r))
        for s, r, ok in zip(studies, arr["reason"], arr["estimable"], strict=True)
        if not ok
    )
    return MetaResult(
        measure=measure,
        method=method,
        random=random,
        tau2_method=tau2_method if random else None,
        ci_method=ci_method,
        k=core.k,
        estimate=est,
        se=se,
        ci_low=est - crit * se,
        ci_high=est + crit * se,
        z=zval,
        p=pval,
        chi2=core.chi2,
        df=core.df,
        p_chi2=p_chi2,
        i2=i2,
        tau2=core.tau2,
        tau2_ci=tci,
        tau=float(np.sqrt(core.tau2)),
        pi_low=None if pi is None else float(pi[0]),
        pi_high=None if pi is None else float(pi[1]),
        pi_note=note,
        weights=weights,
        studies=studies,
        excluded=excluded,
        yi=yi_all,
        vi=vi_all,
        log_scale=log_scale,
        level=level,
        i2_method=i2_method,
        h2=h2,
        i2_ci=i2_ci,
        h2_ci=h2_ci,
        tau2_se=tau2_se(core.vi_ok, core.tau2, tau2_method) if random else float("nan"),
        pi_method=pi_method,
    )


def _heterogeneity(
    core, i2_method: str, tci: tuple[float, float] | None
) -> tuple[float, float, tuple[float, float] | None, tuple[float, float] | None]:
    """I², H² and, for the τ²-based ones with a τ² CI, their CIs (see :class:`MetaResult`)."""
    nan = float("nan")
    if core.k == 0:
        return nan, nan, None, None
    if i2_method == "q" or core.k < 2:
        h2 = core.chi2 / core.df if core.df > 0 else nan
        return float(i_squared(core.chi2, core.df)), h2, None, None
    i2 = float(i_squared_tau2(core.tau2, core.vi_ok))
    h2 = float(h_squared_tau2(core.tau2, core.vi_ok))
    if tci is None:
        return i2, h2, None, None
    i2_ci = (float(i_squared_tau2(tci[0], core.vi_ok)), float(i_squared_tau2(tci[1], core.vi_ok)))
    h2_ci = (float(h_squared_tau2(tci[0], core.vi_ok)), float(h_squared_tau2(tci[1], core.vi_ok)))
    return i2, h2, i2_ci, h2_ci
