"""Leave-one-out analysis and influence diagnostics (metafor's ``leave1out`` and ``influence``).

:func:`leave_one_out` repeats one analysis of :func:`sparsemeta.frequentist.meta_analysis`
without each study in turn (same method, τ² estimator and CI). :func:`influence` computes,
for the normal-normal model with or without moderators (inverse-variance weights), the
case-deletion diagnostics of Viechtbauer & Cheung (2010, Res Synth Methods 1:112), as
metafor's ``influence.rma.uni`` defines them. With ``β̂``, ``V = Var(β̂)`` and hat matrix
``H = X(X'WX)⁻¹X'W`` of the full fit and ``β̂₍ᵢ₎``, ``V₍ᵢ₎``, ``τ²₍ᵢ₎``, ``s²₍ᵢ₎`` (the
Knapp-Hartung factor, 1 for Wald) of the fit without study i:

* ``rstudent``: ``(yᵢ − xᵢ'β̂₍ᵢ₎) / √(s²₍ᵢ₎(vᵢ + τ²₍ᵢ₎) + xᵢ'V₍ᵢ₎xᵢ)``;
* ``dffits``: ``xᵢ'(β̂ − β̂₍ᵢ₎) / √(s²₍ᵢ₎ hᵢᵢ (τ²₍ᵢ₎ + vᵢ))``;
* ``cook_d``: ``(β̂ − β̂₍ᵢ₎)'V⁻¹(β̂ − β̂₍ᵢ₎)`` over all p coefficients;
* ``cov_r``: ``det V₍ᵢ₎ / det V``;
* ``tau2_del``, ``qe_del``: τ² and the residual heterogeneity statistic without study i;
* ``hat``: ``hᵢᵢ``; ``weight``: ``100 wᵢ/Σw``, ``wᵢ = 1/(vᵢ + τ²)``;
* ``dfbetas``: ``(β̂ − β̂₍ᵢ₎) / √(s²₍ᵢ₎ diag (X'W₍ᵢ₎X)⁻¹)``, ``W₍ᵢ₎`` the full-data weights
  with ``τ²₍ᵢ₎`` plugged in.

A study is flagged ``influential`` when ``|dffits| > 3√(p/(k − p))``, or
``P(χ²ₚ ≤ cook_d) > 0.5``, or ``hᵢᵢ > 3p/k``, or some ``|dfbetas| > 1`` (metafor's rule).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from sparsemeta.errors import DataError
from sparsemeta.frequentist.analysis import MetaResult, meta_analysis
from sparsemeta.frequentist.estimators import h_squared_tau2, i_squared_tau2
from sparsemeta.frequentist.regression import MetaRegression, _q_e, _tau2, _wls
from sparsemeta.results import json_safe, summary_frame

__all__ = ["Influence", "LeaveOneOut", "influence", "leave_one_out"]

_Array = np.ndarray


@dataclass(frozen=True, eq=False)
class LeaveOneOut:
    """The analysis repeated without each estimable study (:func:`leave_one_out`).

    Attributes
    ----------
    full : MetaResult
        The analysis with every study.
    omitted : tuple[str, ...]
        The study left out of each re-analysis, in input order.
    results : tuple[MetaResult, ...]
        The re-analyses, aligned with ``omitted``.
    """

    full: MetaResult
    omitted: tuple[str, ...]
    results: tuple[MetaResult, ...] = field(repr=False)

    @property
    def measure(self) -> str:
        """The effect measure of the analysis."""
        return self.full.measure

    @property
    def log_scale(self) -> bool:
        """Whether estimates are log ratios."""
        return self.full.log_scale

    @property
    def level(self) -> float:
        """Confidence level of the intervals."""
        return self.full.level

    def to_frame(self) -> pd.DataFrame:
        """One row per omitted study (analysis scale).

        Columns ``study`` (the study left out), ``k``, ``estimate, se, lower, upper, z, p``
        (the method's CI and test), ``q, q_p`` (Cochran's Q and its p-value), ``tau2``,
        ``i2`` (Q-based, as :attr:`MetaResult.i2`), ``i2_tau2`` and ``h2`` (τ²-based, as
        metafor's ``leave1out`` prints them for random-effects models:
        ``I² = τ²/(τ² + s̃²)``, ``H² = (τ² + s̃²)/s̃²``, s̃² the typical within-study
        variance; Q-based ``I²`` and ``H² = Q/df`` for a fixed-effect model).
        """
        rows = []
        for study, r in zip(self.omitted, self.results, strict=True):
            ok = np.isfinite(r.yi) & np.isfinite(r.vi)
            if r.random and r.k >= 2:
                i2_tau2 = float(i_squared_tau2(r.tau2, r.vi[ok]))
                h2 = float(h_squared_tau2(r.tau2, r.vi[ok]))
            else:
                i2_tau2 = r.i2
                h2 = r.chi2 / r.df if r.df > 0 else math.nan
            rows.append(
                {
                    "study": study,
                    "k": r.k,
                    "estimate": r.estimate,
                    "se": r.se,
                    "lower": r.ci_low,
                    "upper": r.ci_high,
                    "z": r.z,
                    "p": r.p,
                    "q": r.chi2,
                    "q_p": r.p_chi2,
                    "tau2": r.tau2,
                    "i2": r.i2,
                    "i2_tau2": i2_tau2,
                    "h2": h2,
                }
            )
        return pd.DataFrame(rows)

    def summary(self) -> pd.DataFrame:
        """Protocol summary: one ``mu`` row and one ``tau2`` row per omitted study (``study``
        = the study left out; ``mean = median`` = the estimate, ``sd`` = its SE)."""
        frame = self.to_frame()
        rows: list[dict[str, Any]] = []
        for r in frame.itertuples(index=False):
            rows.append(
                {
                    "param": "mu",
                    "study": r.study,
                    "mean": r.estimate,
                    "sd": r.se,
                    "median": r.estimate,
                    "lower": r.lower,
                    "upper": r.upper,
                }
            )
            rows.append(
                {
                    "param": "tau2",
                    "study": r.study,
                    "mean": r.tau2,
                    "sd": math.nan,
                    "median": r.tau2,
                    "lower": math.nan,
                    "upper": math.nan,
                }
            )
        return summary_frame(rows, self.level)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe record: ``leave_one_out`` rows ``{study, estimate, lower, upper, tau2,
        i2, ...}`` on the analysis scale (``scale`` says which)."""
        return json_safe(
            {
                "measure": self.measure,
                "scale": "log" if self.log_scale else "identity",
                "leave_one_out": self.to_frame(),
            }
        )

    def __str__(self) -> str:
        f = self.to_frame()
        what = f"{self.full.method}, " + (
            f"random effects (τ² {self.full.tau2_method})" if self.full.random else "fixed effect"
        )
        head = f"Leave-one-out analysis ({self.measure}, {what}; k = {self.full.k})"
        if self.log_scale:
            f = f.assign(ratio=np.exp(f["estimate"]), ratio_lower=np.exp(f["lower"]))
            f["ratio_upper"] = np.exp(f["upper"])
        cols = [c for c in f.columns if c not in ("z",)]
        return head + "\n" + f[cols].to_string(index=False, float_format="%.4f")

    def plot(self, **kwargs: Any) -> Any:
        """Forest plot of the re-analyses (:func:`sparsemeta.present.forest.forest`)."""
        from sparsemeta.present.forest import forest

        return forest(self, **kwargs)


def leave_one_out(data: pd.DataFrame, measure: str, **settings: Any) -> LeaveOneOut:
    """Repeat :func:`~sparsemeta.frequentist.meta_analysis` without each estimable study.

    Parameters
    ----------
    data : pandas.DataFrame
        As for :func:`~sparsemeta.frequentist.meta_analysis` (a study table of one
        analysis, or a ``study, yi, vi`` table).
    measure : str
    **settings
        ``method``, ``random``, ``tau2_method``, ``ci_method``, ``level`` of
        :func:`~sparsemeta.frequentist.meta_analysis`; every re-analysis uses them.

    Returns
    -------
    LeaveOneOut
        Studies that are not estimable are in no re-analysis (leaving them out changes
        nothing).

    Raises
    ------
    DataError
        Bad data or settings (as :func:`~sparsemeta.frequentist.meta_analysis`), or fewer
        than two estimable studies.
    """
    full = meta_analysis(data, measure, **settings)
    if full.k < 2:
        raise DataError(
            f"leave-one-out needs at least 2 estimable studies, found {full.k} in the analysis"
        )
    excluded = {s for s, _ in full.excluded}
    labels = data["study"].astype(str).str.strip()
    settings = {**settings, "tau2_ci": False}
    omitted = tuple(s for s in full.studies if s not in excluded)
    results = tuple(meta_analysis(data[labels != s], measure, **settings) for s in omitted)
    return LeaveOneOut(full, omitted, results)


@dataclass(frozen=True, eq=False)
class Influence:
    """Case-deletion diagnostics of one normal-normal model (:func:`influence`).

    Attributes
    ----------
    studies : tuple[str, ...]
    names : tuple[str, ...]
        Coefficient names (``"intercept"`` for a model without moderators).
    rstudent, dffits, cook_d, cov_r, tau2_del, qe_del, hat, weight : numpy.ndarray
        One value per study (see the module notes).
    dfbetas : numpy.ndarray, shape (k, p)
    influential : numpy.ndarray of bool
    measure : str
    """

    studies: tuple[str, ...]
    names: tuple[str, ...]
    rstudent: _Array
    dffits: _Array
    cook_d: _Array
    cov_r: _Array
    tau2_del: _Array
    qe_del: _Array
    hat: _Array
    weight: _Array
    dfbetas: _Array
    influential: _Array
    measure: str = "GENERIC"

    def to_frame(self) -> pd.DataFrame:
        """One row per study: ``study, rstudent, dffits, cook_d, cov_r, tau2_del, qe_del,
        hat, weight, dfbetas_<name>..., influential``."""
        frame = pd.DataFrame(
            {
                "study": list(self.studies),
                "rstudent": self.rstudent,
                "dffits": self.dffits,
                "cook_d": self.cook_d,
                "cov_r": self.cov_r,
                "tau2_del": self.tau2_del,
                "qe_del": self.qe_del,
                "hat": self.hat,
                "weight": self.weight,
            }
        )
        for j, name in enumerate(self.names):
            frame[f"dfbetas_{name}"] = self.dfbetas[:, j]
        frame["influential"] = self.influential
        return frame

    summary = to_frame

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe record: the rows of :meth:`to_frame`."""
        return json_safe({"measure": self.measure, "influence": self.to_frame()})

    def __str__(self) -> str:
        frame = self.to_frame()
        frame["influential"] = np.where(self.influential, "*", "")
        return "Influence diagnostics\n" + frame.to_string(index=False, float_format="%.4f")


def _refit(
    y: _Array, v: _Array, X: _Array, tau2_method: str | None, hksj: bool
) -> tuple[float, Any, float]:
    """τ², the weighted fit and the Knapp-Hartung factor (1 for Wald) of one data set."""
    tau2 = 0.0 if tau2_method is None else _tau2(y, v, X, tau2_method)
    fit = _wls(y, v, X, tau2)
    k, p = X.shape
    s2 = float((fit.w * fit.resid**2).sum()) / (k - p) if hksj else 1.0
    return tau2, fit, s2


def influence(
    result: MetaResult | MetaRegression | None = None,
    *,
    y: Sequence[float] | _Array | None = None,
    v: Sequence[float] | _Array | None = None,
    X: _Array | None = None,
    studies: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    tau2_method: str | None = "REML",
    ci_method: str = "z",
    measure: str = "GENERIC",
) -> Influence:
    """Influence diagnostics of a normal-normal model (metafor's ``influence.rma.uni``).

    Parameters
    ----------
    result : MetaResult or MetaRegression, optional
        An inverse-variance analysis (:func:`~sparsemeta.frequentist.meta_analysis` with
        ``method="IV"``; its estimable studies, τ² estimator and CI; ``"mhk"`` is treated
        as ``"hksj"``, the unmodified Knapp-Hartung factor of metafor's ``test="knha"``) or a
        meta-regression.
        Or give the arrays instead:
    y, v : array_like
        Effects and sampling variances.
    X : numpy.ndarray, optional
        Design matrix (default: an intercept only).
    studies, names : sequence of str, optional
    tau2_method : {"REML", "DL", "PM"} or None
        ``None`` for a fixed-effect (τ² = 0) model.
    ci_method : {"z", "hksj"}
    measure : str

    Returns
    -------
    Influence

    Raises
    ------
    DataError
        A Mantel-Haenszel or Peto analysis (no inverse-variance model to delete from), or
        fewer than ``p + 2`` studies.
    """
    if isinstance(result, MetaRegression):
        y_, v_, X_ = result.y, result.v, result.X
        studies, names = result.studies, result.names
        tau2_method, ci_method, measure = result.tau2_method, result.ci_method, result.measure
    elif isinstance(result, MetaResult):
        if result.method != "IV":
            raise DataError(
                f"influence: diagnostics are defined for inverse-variance models; this "
                f"analysis used {result.method} (use leave_one_out for it)"
            )
        ok = np.isfinite(result.yi) & np.isfinite(result.vi)
        y_, v_ = result.yi[ok], result.vi[ok]
        X_ = np.ones((y_.size, 1))
        studies = tuple(s for s, good in zip(result.studies, ok, strict=True) if good)
        names = ("intercept",)
        tau2_method = result.tau2_method if result.random else None
        ci_method = "hksj" if result.ci_method != "z" else "z"
        measure = result.measure
    else:
        if y is None or v is None:
            raise DataError("influence: give a result, or the arrays y and v")
        y_, v_ = np.asarray(y, dtype=float), np.asarray(v, dtype=float)
        X_ = np.ones((y_.size, 1)) if X is None else np.asarray(X, dtype=float)
        if X_.ndim == 1:
            X_ = X_[:, None]
    k, p = X_.shape
    studies = tuple(studies) if studies is not None else tuple(f"study {i + 1}" for i in range(k))
    names = (
        tuple(names)
        if names is not None
        else ("intercept",)
        if p == 1
        else tuple(f"x{j}" for j in range(p))
    )
    if k < p + 2:
        raise DataError(
            f"influence: needs at least {p + 2} studies for {p} coefficient(s), got {k}"
        )
    hksj = ci_method != "z"
    _, fit, s2 = _refit(y_, v_, X_, tau2_method, hksj)
    vb = s2 * fit.inv
    vb_inv = np.linalg.inv(vb)
    det_full = np.linalg.det(vb)
    hat = np.einsum("ij,jk,ik->i", X_, fit.inv, X_ * fit.w[:, None])
    pred = X_ @ fit.beta
    out = {n: np.full(k, np.nan) for n in ("rstudent", "dffits", "cook", "covr", "tau2", "qe")}
    dfbetas = np.full((k, p), np.nan)
    for i in range(k):
        keep = np.arange(k) != i
        yi, vi, Xi = y_[keep], v_[keep], X_[keep]
        if np.linalg.matrix_rank(Xi) < p:
            continue
        tau2_i, fit_i, s2_i = _refit(yi, vi, Xi, tau2_method, hksj)
        vb_i = s2_i * fit_i.inv
        x = X_[i]
        delpred = float(x @ fit_i.beta)
        out["rstudent"][i] = (y_[i] - delpred) / math.sqrt(
            s2_i * (v_[i] + tau2_i) + float(x @ vb_i @ x)
        )
        out["dffits"][i] = (pred[i] - delpred) / math.sqrt(s2_i * hat[i] * (tau2_i + v_[i]))
        diff = fit.beta - fit_i.beta
        out["cook"][i] = float(diff @ vb_inv @ diff)
        out["covr"][i] = np.linalg.det(vb_i) / det_full
        out["tau2"][i] = tau2_i
        out["qe"][i] = _q_e(yi, vi, Xi)
        plugged = _wls(y_, v_, X_, tau2_i).inv
        dfbetas[i] = diff / np.sqrt(s2_i * np.diag(plugged))
    influential = (
        (np.abs(out["dffits"]) > 3 * math.sqrt(p / (k - p)))
        | (special.chdtr(p, out["cook"]) > 0.5)
        | (hat > 3 * p / k)
        | (np.abs(dfbetas) > 1).any(axis=1)
    )
    return Influence(
        studies=studies,
        names=names,
        rstudent=out["rstudent"],
        dffits=out["dffits"],
        cook_d=out["cook"],
        cov_r=out["covr"],
        tau2_del=out["tau2"],
        qe_del=out["qe"],
        hat=hat,
        weight=100 * fit.w / fit.w.sum(),
        dfbetas=dfbetas,
        influential=influential,
        measure=measure,
    )
