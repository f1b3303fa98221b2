"""Frequentist meta-regression (the mixed-effects model of metafor's ``rma(yi, vi, mods=)``).

Model: ``yᵢ = xᵢ'β + uᵢ + εᵢ`` with ``uᵢ ~ N(0, τ²)`` and ``εᵢ ~ N(0, vᵢ)``, ``vᵢ`` known.
With ``W = diag(1/(vᵢ + τ²))``:

* ``β̂ = (X'WX)⁻¹X'Wy`` and ``Var(β̂) = (X'WX)⁻¹`` (Wald: normal quantiles);
* Knapp-Hartung (``ci_method="hksj"``): ``Var(β̂) = s² (X'WX)⁻¹`` with
  ``s² = Σwᵢrᵢ²/(k − p)`` and t with ``k − p`` df (Knapp & Hartung 2003, Stat Med 22:2693);
* τ² by REML (Fisher scoring on the restricted likelihood, Viechtbauer 2005), the
  method-of-moments DerSimonian-Laird extension ``max(0, (Q_E − (k − p))/tr P₀)`` or
  Paule-Mandel (the root of ``Σwᵢ(τ²)rᵢ(τ²)² = k − p``), where
  ``P = W − WX(X'WX)⁻¹X'W`` and ``P₀`` is ``P`` at τ² = 0;
* ``Q_E = y'P₀y`` (residual heterogeneity, χ² with ``k − p`` df); the omnibus test of the
  coefficients other than the intercept ``Q_M = β̂'Var(β̂)⁻¹β̂`` (χ², or ``Q_M/m`` as F with
  ``m, k − p`` df under Knapp-Hartung);
* residual ``I² = τ²/(τ² + s̃²)`` and ``H² = (τ² + s̃²)/s̃²`` with the typical within-study
  variance ``s̃² = (k − p)/tr P₀``, and ``R² = max(0, (τ²₀ − τ²)/τ²₀)`` against the τ²₀ of the
  model without moderators (Raudenbush 2009), all as metafor prints them
  (Viechtbauer 2010, J Stat Softw 36(3)).

A categorical covariate (a subgroup) enters as dummy columns against its first level, as
R's treatment contrasts do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize, special

from sparsemeta import measures
from sparsemeta.effects import Effects
from sparsemeta.errors import DataError
from sparsemeta.frequentist.estimators import _zcrit
from sparsemeta.results import json_safe, summary_frame

__all__ = ["MetaRegression", "design_matrix", "meta_regression"]

_Array = np.ndarray
_TAU2_METHODS = ("REML", "DL", "PM")
_CI_METHODS = ("z", "hksj")


@dataclass(frozen=True)
class _Fit:
    """Weighted least squares at a given τ² (internal)."""

    beta: _Array
    inv: _Array  # (X'WX)^-1
    w: _Array
    resid: _Array
    logdet: float  # ln det X'WX


def _wls(y: _Array, v: _Array, X: _Array, tau2: float) -> _Fit:
    w = 1.0 / (v + tau2)
    xtw = X.T * w
    xtwx = xtw @ X
    inv = np.linalg.inv(xtwx)
    beta = inv @ (xtw @ y)
    return _Fit(beta, inv, w, y - X @ beta, float(np.linalg.slogdet(xtwx)[1]))


def _projection(fit: _Fit, X: _Array) -> _Array:
    """``P = W − WX(X'WX)⁻¹X'W``."""
    wx = X * fit.w[:, None]
    return np.diag(fit.w) - wx @ fit.inv @ wx.T


def _q_e(y: _Array, v: _Array, X: _Array) -> float:
    fit = _wls(y, v, X, 0.0)
    return float((fit.w * fit.resid**2).sum())


def _restricted_loglik(fit: _Fit, v: _Array, tau2: float) -> float:
    return -0.5 * (np.log(v + tau2).sum() + fit.logdet + (fit.w * fit.resid**2).sum())


def _reml_step(fit: _Fit, X: _Array) -> float:
    """Newton step for τ² on the restricted likelihood (Fisher scoring where the curvature
    is not negative): with ``Py = Wr``, ``2ℓ' = y'PPy − tr P`` and
    ``−2ℓ'' = 2y'PPPy − tr(PP)``."""
    P = _projection(fit, X)
    py = fit.w * fit.resid
    ppy = P @ py
    score = py @ py - np.trace(P)
    trpp = np.sum(P * P)
    curv = 2 * py @ ppy - trpp
    return float(score / (curv if curv > 0 else trpp))


def _tau2_reml(y: _Array, v: _Array, X: _Array, tol: float = 1e-12, maxiter: int = 200) -> float:
    """REML τ² (Viechtbauer 2005): Newton's method from the DerSimonian-Laird value, the step
    halved while the restricted likelihood would fall, truncated at 0."""
    tau2 = _tau2_dl(y, v, X)
    fit = _wls(y, v, X, tau2)
    ll = _restricted_loglik(fit, v, tau2)
    for _ in range(maxiter):
        step = _reml_step(fit, X)
        for _ in range(60):
            new = max(0.0, tau2 + step)
            new_fit = _wls(y, v, X, new)
            new_ll = _restricted_loglik(new_fit, v, new)
            if new_ll >= ll - 1e-14 * abs(ll):
                break
            step /= 2
        done = abs(new - tau2) <= tol * max(1.0, new)
        tau2, fit, ll = new, new_fit, new_ll
        if done:
            break
    return tau2


def _tau2_dl(y: _Array, v: _Array, X: _Array) -> float:
    fit0 = _wls(y, v, X, 0.0)
    trace = float(np.trace(_projection(fit0, X)))
    k, p = X.shape
    qe = float((fit0.w * fit0.resid**2).sum())
    return max(0.0, (qe - (k - p)) / trace) if trace > 0 else 0.0


def _tau2_pm(y: _Array, v: _Array, X: _Array) -> float:
    k, p = X.shape

    def excess(tau2: float) -> float:
        fit = _wls(y, v, X, tau2)
        return float((fit.w * fit.resid**2).sum()) - (k - p)

    if excess(0.0) <= 0:
        return 0.0
    hi = max(1.0, 10 * float(np.var(y)))
    while excess(hi) > 0:
        hi *= 10
    return float(optimize.brentq(excess, 0.0, hi, xtol=1e-14, rtol=1e-14))


_ESTIMATORS = {"REML": _tau2_reml, "DL": _tau2_dl, "PM": _tau2_pm}


def _tau2(y: _Array, v: _Array, X: _Array, method: str) -> float:
    return _ESTIMATORS[method](y, v, X) if X.shape[0] > X.shape[1] else 0.0


@dataclass(frozen=True, eq=False)
class MetaRegression:
    """Result of :func:`meta_regression`; estimates on the analysis scale (log for ratios).

    Attributes
    ----------
    names : tuple[str, ...]
        Coefficient names (``"intercept"`` first when the model has one).
    estimate, se, lower, upper, stat, p : numpy.ndarray
        Per coefficient: estimate, standard error, CI, z (or t) statistic and its p-value.
    df : int or None
        ``k − p`` for Knapp-Hartung (t and F tests), ``None`` for Wald (normal, χ²).
    tau2, tau : float
        Residual between-study variance and its square root.
    qe, qe_df, qe_p : float, int, float
        Test for residual heterogeneity.
    qm, qm_df, qm_p : float, int, float
        Omnibus test of the moderators (F statistic ``Q_M/m`` under Knapp-Hartung); NaN
        for a model with an intercept only.
    i2, h2, r2 : float
        Residual I² (%), H², and R² (%, NaN without an intercept or when τ²₀ = 0).
    k : int
    tau2_method, ci_method, measure : str
    level : float
    studies : tuple[str, ...]
    y, v : numpy.ndarray
    X : numpy.ndarray
        The design matrix, one row per study.
    hat : numpy.ndarray
        Diagonal of ``X(X'WX)⁻¹X'W``.
    weights : numpy.ndarray
        Percent weights ``100 wᵢ/Σw``.
    """

    names: tuple[str, ...]
    estimate: _Array
    se: _Array
    lower: _Array
    upper: _Array
    stat: _Array
    p: _Array
    df: int | None
    tau2: float
    tau: float
    qe: float
    qe_df: int
    qe_p: float
    qm: float
    qm_df: int
    qm_p: float
    i2: float
    h2: float
    r2: float
    k: int
    tau2_method: str
    ci_method: str
    measure: str
    level: float
    studies: tuple[str, ...]
    y: _Array = field(repr=False)
    v: _Array = field(repr=False)
    X: _Array = field(repr=False)
    hat: _Array = field(repr=False)
    weights: _Array = field(repr=False)
    vcov: _Array = field(repr=False)

    @property
    def log_scale(self) -> bool:
        """Whether the outcome is a log ratio."""
        return measures.is_ratio(self.measure)

    @property
    def fitted(self) -> _Array:
        """Fitted values ``Xβ̂``."""
        return self.X @ self.estimate

    def coefficients(self) -> pd.DataFrame:
        """One row per coefficient: ``term, estimate, se, stat, p, lower, upper``."""
        return pd.DataFrame(
            {
                "term": list(self.names),
                "estimate": self.estimate,
                "se": self.se,
                "stat": self.stat,
                "p": self.p,
                "lower": self.lower,
                "upper": self.upper,
            }
        )

    def summary(self) -> pd.DataFrame:
        """Protocol summary: one ``param = "beta"`` row per coefficient (its name in
        ``term``; ``mean = median`` = the estimate, ``sd`` = its SE) and a ``tau2`` row
        (point estimate only)."""
        rows: list[dict[str, Any]] = [
            {
                "param": "beta",
                "study": None,
                "mean": float(b),
                "sd": float(s),
                "median": float(b),
                "lower": float(lo),
                "upper": float(hi),
                "term": name,
            }
            for name, b, s, lo, hi in zip(
                self.names, self.estimate, self.se, self.lower, self.upper, strict=True
            )
        ]
        for param, value in (("tau2", self.tau2), ("tau", self.tau)):
            rows.append(
                {
                    "param": param,
                    "study": None,
                    "mean": value,
                    "sd": math.nan,
                    "median": value,
                    "lower": math.nan,
                    "upper": math.nan,
                    "term": None,
                }
            )
        return summary_frame(rows, self.level)

    def to_frame(self) -> pd.DataFrame:
        """One row per study: ``study, yi, vi, fitted, residual, hat, weight`` and the
        covariate columns of the design."""
        frame = pd.DataFrame(
            {
                "study": list(self.studies),
                "yi": self.y,
                "vi": self.v,
                "fitted": self.fitted,
                "residual": self.y - self.fitted,
                "hat": self.hat,
                "weight": self.weights,
            }
        )
        for j, name in enumerate(self.names):
            if name != "intercept":
                frame[name] = self.X[:, j]
        return frame

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe record (:func:`sparsemeta.results.json_safe`); ``coefficients`` is
        ``{name: {estimate, se, lower, upper, stat, p}}``; ``qm`` is ``"NaN"`` without
        moderators."""
        coefs = {
            name: {
                "estimate": float(b),
                "se": float(s),
                "lower": float(lo),
                "upper": float(hi),
                "stat": float(t),
                "p": float(p),
            }
            for name, b, s, lo, hi, t, p in zip(
                self.names,
                self.estimate,
                self.se,
                self.lower,
                self.upper,
                self.stat,
                self.p,
                strict=True,
            )
        }
        return json_safe(
            {
                "measure": self.measure,
                "scale": "log" if self.log_scale else "identity",
                "k": self.k,
                "tau2_method": self.tau2_method,
                "ci_method": self.ci_method,
                "level": self.level,
                "df": self.df,
                "coefficients": coefs,
                "tau2": self.tau2,
                "tau": self.tau,
                "qe": self.qe,
                "qe_df": self.qe_df,
                "qe_p": self.qe_p,
                "qm": self.qm,
                "qm_df": self.qm_df,
                "qm_p": self.qm_p,
                "i2": self.i2,
                "h2": self.h2,
                "r2": self.r2,
            }
        )

    def __str__(self) -> str:
        test = "t" if self.df is not None else "z"
        head = (
            f"Meta-regression ({self.measure}, k = {self.k}; τ² {self.tau2_method}, "
            f"{'Knapp-Hartung' if self.df is not None else 'Wald'} tests)\n"
            f"  τ² = {self.tau2:.4f} (τ = {self.tau:.4f}); I² = {self.i2:.2f}%; "
            f"H² = {self.h2:.2f}; R² = {self.r2:.2f}%\n"
            f"  residual heterogeneity: QE({self.qe_df}) = {self.qe:.4f}, p = {self.qe_p:.4g}"
        )
        if self.qm_df:
            name = f"F({self.qm_df}, {self.df})" if self.df is not None else f"QM({self.qm_df})"
            head += f"\n  moderators: {name} = {self.qm:.4f}, p = {self.qm_p:.4g}"
        table = self.coefficients().rename(columns={"stat": test})
        return head + "\n" + table.to_string(index=False, float_format="%.4f")


def _check(name: str, value: object, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise DataError(
            f"meta_regression, argument {name!r}: unknown value {value!r}; valid choices: "
            + ", ".join(map(repr, choices))
        )


def meta_regression(
    y: Sequence[float] | _Array | Effects,
    v: Sequence[float] | _Array | None = None,
    X: Sequence[Sequence[float]] | _Array | None = None,
    *,
    names: Sequence[str] | None = None,
    studies: Sequence[str] | None = None,
    tau2_method: Literal["REML", "DL", "PM"] = "REML",
    ci_method: Literal["z", "hksj"] = "z",
    level: float = 0.95,
    measure: str | None = None,
) -> MetaRegression:
    """Mixed-effects meta-regression of effects ``y`` (variances ``v``) on the design ``X``.

    Parameters
    ----------
    y, v : array_like, shape (k,)
        Study effects (log scale for ratio measures) and their sampling variances (> 0).
        Or ``y`` is an :class:`~sparsemeta.effects.Effects` value and ``v`` is omitted:
        its studies, effects, variances and measure are used, and its covariates ``X``
        (with an intercept added, coefficient names ``intercept, *covariate_names``)
        unless ``X`` is given.
    X : array_like, shape (k, p)
        Design matrix; include a column of ones for an intercept (:func:`design_matrix`
        builds one from covariate columns).
    names : sequence of str, optional
        Coefficient names (default ``x0, x1, ...``).
    studies : sequence of str, optional
        Study labels (default ``study 1, ...``).
    tau2_method : {"REML", "DL", "PM"}
    ci_method : {"z", "hksj"}
        Wald (normal) or Knapp-Hartung (t with ``k − p`` df) inference.
    level : float
        Confidence level.
    measure : str, optional
        Label of the effect measure (ratio measures are on the log scale); default the
        Effects value's measure, or ``"GENERIC"``.

    Returns
    -------
    MetaRegression

    Raises
    ------
    DataError
        Mismatched shapes, non-finite values, variances ≤ 0, ``k ≤ p``, a design that is
        not of full column rank, or unknown settings.
    """
    _check("tau2_method", tau2_method, _TAU2_METHODS)
    _check("ci_method", ci_method, _CI_METHODS)
    if isinstance(y, Effects):
        eff = y
        if X is None:
            if eff.X is None:
                raise DataError("meta_regression: the Effects value carries no covariates X")
            X = np.column_stack([np.ones(eff.k), eff.X])
            names = ("intercept", *eff.covariate_names)
        y, v = eff.y, eff.v
        studies = eff.studies if studies is None else studies
        measure = eff.measure.code if measure is None else measure
    if v is None or X is None:
        raise DataError("meta_regression: give y, v and X, or an Effects value with covariates")
    measure = "GENERIC" if measure is None else measure
    if not isinstance(level, float | int) or not 0 < float(level) < 1:
        raise DataError(f"meta_regression, argument 'level': must be in (0, 1), got {level!r}")
    y_ = np.asarray(y, dtype=float)
    v_ = np.asarray(v, dtype=float)
    X_ = np.asarray(X, dtype=float)
    if X_.ndim == 1:
        X_ = X_[:, None]
    k = y_.size
    if y_.ndim != 1 or v_.shape != y_.shape or X_.shape[0] != k:
        raise DataError(
            f"meta_regression: y, v and X must have one row per study (got {y_.shape}, "
            f"{v_.shape}, {X_.shape})"
        )
    labels = tuple(studies) if studies is not None else tuple(f"study {i + 1}" for i in range(k))
    p = X_.shape[1]
    names_ = tuple(names) if names is not None else tuple(f"x{j}" for j in range(p))
    if len(labels) != k or len(names_) != p:
        raise DataError("meta_regression: one study label per row and one name per column")
    for i in range(k):
        if not (math.isfinite(y_[i]) and math.isfinite(v_[i]) and v_[i] > 0):
            raise DataError(
                f"study {labels[i]!r}, field 'yi'/'vi': need a finite effect and a variance "
                f"> 0, got {y_[i]!r}, {v_[i]!r}"
            )
        if not np.isfinite(X_[i]).all():
            j = int(np.flatnonzero(~np.isfinite(X_[i]))[0])
            raise DataError(f"study {labels[i]!r}, field {names_[j]!r}: covariate is missing")
    if k <= p:
        raise DataError(f"meta_regression: k = {k} studies cannot estimate {p} coefficients")
    if np.linalg.matrix_rank(X_) < p:
        raise DataError(
            f"meta_regression: the design ({', '.join(names_)}) is not of full rank "
            "(a covariate is constant or collinear with others)"
        )
    tau2 = _tau2(y_, v_, X_, tau2_method)
    fit = _wls(y_, v_, X_, tau2)
    df = k - p
    if ci_method == "hksj":
        s2 = float((fit.w * fit.resid**2).sum()) / df
        vcov = s2 * fit.inv
        crit = float(special.stdtrit(df, 0.5 + level / 2))
    else:
        vcov = fit.inv
        crit = _zcrit(level)
    se = np.sqrt(np.diag(vcov))
    stat = fit.beta / se
    pval = (
        2 * special.stdtr(df, -np.abs(stat))
        if ci_method == "hksj"
        else special.erfc(np.abs(stat) / math.sqrt(2))
    )
    fit0 = _wls(y_, v_, X_, 0.0)
    qe = float((fit0.w * fit0.resid**2).sum())
    s2_typ = df / float(np.trace(_projection(fit0, X_)))
    intercept = [j for j, n in enumerate(names_) if n == "intercept"]
    mods = [j for j in range(p) if j not in intercept]
    qm = qm_p = math.nan
    if mods and intercept:
        b = fit.beta[mods]
        qm = float(b @ np.linalg.solve(vcov[np.ix_(mods, mods)], b))
        if ci_method == "hksj":
            qm /= len(mods)
            qm_p = float(special.fdtrc(len(mods), df, qm))
        else:
            qm_p = float(special.chdtrc(len(mods), qm))
    r2 = math.nan
    if intercept and mods:
        ones = np.ones((k, 1))
        tau2_0 = _tau2(y_, v_, ones, tau2_method)
        if tau2_0 > 0:
            r2 = max(0.0, 100 * (tau2_0 - tau2) / tau2_0)
    wx = X_ * fit.w[:, None]
    hat = np.einsum("ij,jk,ik->i", X_, fit.inv, wx)
    return MetaRegression(
        names=names_,
        estimate=fit.beta,
        se=se,
        lower=fit.beta - crit * se,
        upper=fit.beta + crit * se,
        stat=stat,
        p=np.asarray(pval, dtype=float),
        df=df if ci_method == "hksj" else None,
        tau2=tau2,
        tau=math.sqrt(tau2),
        qe=qe,
        qe_df=df,
        qe_p=float(special.chdtrc(df, qe)),
        qm=qm,
        qm_df=len(mods) if intercept else 0,
        qm_p=qm_p,
        i2=100 * tau2 / (tau2 + s2_typ),
        h2=(tau2 + s2_typ) / s2_typ,
        r2=r2,
        k=k,
        tau2_method=tau2_method,
        ci_method=ci_method,
        measure=measure,
        level=float(level),
        studies=labels,
        y=y_,
        v=v_,
        X=X_,
        hat=hat,
        weights=100 * fit.w / fit.w.sum(),
        vcov=vcov,
    )


def design_matrix(
    table: pd.DataFrame, covariates: Sequence[str], *, intercept: bool = True
) -> tuple[_Array, tuple[str, ...]]:
    """Design matrix and coefficient names from covariate columns of a study table.

    A column whose every value is a number (numeric, or text that reads as numbers, as a
    CSV reader may leave it) enters as it is; any other text (or categorical, or boolean)
    column is a subgroup factor coded as dummies against its first level in sorted order
    (R's treatment contrasts), named ``column[level]``.

    Raises
    ------
    DataError
        A missing column, or a missing covariate value (naming the study and field).
    """
    studies = table["study"].astype(str).tolist() if "study" in table.columns else None
    columns: list[_Array] = [np.ones(len(table))] if intercept else []
    names: list[str] = ["intercept"] if intercept else []
    for col in covariates:
        if col not in table.columns:
            raise DataError(
                f"covariate {col!r}: no such column (found {', '.join(map(str, table.columns))})"
            )
        values = table[col]
        missing = (values.isna() | (values.astype(str).str.strip() == "")).to_numpy()
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            who = studies[i] if studies else f"row {i + 1}"
            raise DataError(f"study {who!r}, field {col!r}: covariate value is missing")
        numbers = _as_numbers(values)
        if numbers is not None:
            columns.append(numbers)
            names.append(str(col))
            continue
        text = values.astype(str)
        levels = sorted(text.unique())
        for level in levels[1:] if intercept else levels:
            columns.append((text == level).to_numpy(dtype=float))
            names.append(f"{col}[{level}]")
    return np.column_stack(columns), tuple(names)


def _as_numbers(values: pd.Series) -> _Array | None:
    """The column as floats when every value is a number, else ``None``."""
    if pd.api.types.is_bool_dtype(values):
        return None
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype=float)
    converted = pd.to_numeric(values.astype(str).str.strip(), errors="coerce")
    return None if converted.isna().any() else converted.to_numpy(dtype=float)
