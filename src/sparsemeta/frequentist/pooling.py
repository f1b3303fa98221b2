"""Frequentist pooling: fixed and random effects, and RevMan 5's recipes.

Three layers:

* low-level estimators on numpy arrays (:func:`fixed_iv`, :func:`q_statistic`,
  :func:`tau2_dl`, :func:`tau2_pm`, :func:`tau2_reml`, :func:`random_iv`, :func:`hksj_se`,
  :func:`mantel_haenszel`, :func:`peto`, :func:`prediction_interval`,
  :func:`tau2_qprofile_ci`). The τ² estimators, :func:`fixed_iv`, :func:`random_iv` and
  :func:`hksj_se` work along the last axis, so a simulation can pass ``(replicates, k)``
  arrays; they expect finite ``yi`` and positive ``vi`` (filter non-estimable studies first);
* :func:`meta_analysis`: one analysis → :class:`MetaResult`;
* :func:`revman`: RevMan 5's recipe for one outcome with subgroups and TOTALS semantics →
  :class:`RevManResult`, whose fields carry the names of the attributes RevMan stores.

Confidence intervals use the exact normal quantile ``Z975 = Φ⁻¹(0.975)`` (RevMan 5 does).
References: DerSimonian & Laird (1986) Control Clin Trials 7:177; Paule & Mandel (1982)
J Res Natl Bur Stand 87:377; Viechtbauer (2005) J Educ Behav Stat 30:261 (REML);
Viechtbauer (2007) Stat Med 26:37 (Q-profile); Hartung & Knapp (2001) Stat Med 20:3875;
Sidik & Jonkman (2002) Stat Med 21:3153; Röver, Knapp & Friede (2015) BMC Med Res Methodol
15:99 (modified HK); Higgins, Thompson & Spiegelhalter (2009) J R Stat Soc A 172:137
(prediction interval); Greenland & Robins (1985) Biometrics 41:55; Robins, Breslow &
Greenland (1986) Biometrics 42:311; Yusuf et al. (1985) Prog Cardiovasc Dis 27:335 (Peto);
Deeks & Higgins (2010) *Statistical algorithms in Review Manager 5*.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize, special

from sparsemeta import effects
from sparsemeta.data import BINARY_COLUMNS, CONTINUOUS_COLUMNS, study_table
from sparsemeta.errors import DataError

__all__ = [
    "Z975",
    "MetaResult",
    "RevManLevel",
    "RevManResult",
    "RevManSettings",
    "SubgroupTest",
    "fixed_iv",
    "hksj_se",
    "i_squared",
    "mantel_haenszel",
    "meta_analysis",
    "peto",
    "prediction_interval",
    "q_statistic",
    "random_iv",
    "revman",
    "tau2_dl",
    "tau2_pm",
    "tau2_qprofile_ci",
    "tau2_reml",
]

Z975: float = float(special.ndtri(0.975))
"""The exact 97.5% standard normal quantile, 1.959963984540054."""

_Array = np.ndarray
_RATIO = {"RR", "OR", "PETO_OR"}
_TOL = 1e-12
_MAXITER = 1000


# ---------------------------------------------------------------------------------------
# low-level estimators (numpy; last axis = studies)
# ---------------------------------------------------------------------------------------


def fixed_iv(yi, vi) -> tuple[_Array, _Array]:
    """Inverse-variance fixed-effect pool.

    ``μ̂ = Σwᵢyᵢ/Σwᵢ``, ``SE = 1/√Σwᵢ`` with ``wᵢ = 1/vᵢ``.

    Returns
    -------
    (estimate, se) : arrays with the last axis reduced.
    """
    w = 1.0 / np.asarray(vi, dtype=float)
    sw = w.sum(axis=-1)
    return (w * yi).sum(axis=-1) / sw, 1.0 / np.sqrt(sw)


def q_statistic(yi, vi, center=None) -> _Array:
    """Cochran's Q: ``Q = Σ (yᵢ − θ)²/vᵢ``.

    ``center`` is θ; by default the inverse-variance fixed estimate. RevMan's M-H random
    recipe passes the Mantel-Haenszel estimate here (Deeks & Higgins 2010).
    """
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    if center is None:
        center = fixed_iv(yi, vi)[0]
    return ((yi - np.expand_dims(center, -1)) ** 2 / vi).sum(axis=-1)


def i_squared(q, df) -> _Array:
    """Higgins & Thompson's I² in percent: ``max(0, (Q − df)/Q) × 100`` (0 when Q = 0)."""
    q = np.asarray(q, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        i2 = np.where(q > 0, (q - df) / q, 0.0)
    return np.maximum(0.0, i2) * 100.0


def tau2_dl(yi, vi, q=None) -> _Array:
    """DerSimonian-Laird τ²: ``max(0, (Q − (k − 1)) / (Σw − Σw²/Σw))``, ``w = 1/v``.

    ``q`` defaults to Cochran's Q around the inverse-variance estimate; pass Q around the
    Mantel-Haenszel estimate for RevMan's M-H random recipe (DerSimonian & Laird 1986).
    """
    vi = np.asarray(vi, dtype=float)
    if q is None:
        q = q_statistic(yi, vi)
    w = 1.0 / vi
    sw = w.sum(axis=-1)
    c = sw - (w**2).sum(axis=-1) / sw
    k = vi.shape[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        tau2 = np.where(c > 0, (q - (k - 1)) / c, 0.0)
    return np.maximum(0.0, tau2)


def _generalised_q(yi: _Array, vi: _Array, tau2) -> _Array:
    w = 1.0 / (vi + np.expand_dims(tau2, -1))
    mu = (w * yi).sum(axis=-1) / w.sum(axis=-1)
    return (w * (yi - np.expand_dims(mu, -1)) ** 2).sum(axis=-1)


def tau2_pm(yi, vi, tol: float = _TOL, maxiter: int = _MAXITER) -> _Array:
    """Paule-Mandel τ²: the root of the generalised Q, ``Σ wᵢ(τ²)(yᵢ − μ̂(τ²))² = k − 1``.

    ``wᵢ(τ²) = 1/(vᵢ + τ²)``; τ² = 0 when the equation has no positive root. Solved by
    Newton's iteration from τ² = 0, ``τ² ← τ² + (Q(τ²) − (k − 1)) / Σwᵢ²(yᵢ − μ̂)²``, which
    increases monotonically to the root (DerSimonian & Kacker 2007, Contemp Clin Trials
    28:105; Paule & Mandel 1982).
    """
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    df = yi.shape[-1] - 1
    tau2 = np.zeros(yi.shape[:-1])
    for _ in range(maxiter):
        w = 1.0 / (vi + tau2[..., None])
        mu = (w * yi).sum(axis=-1) / w.sum(axis=-1)
        r2 = (yi - mu[..., None]) ** 2
        q = (w * r2).sum(axis=-1)
        slope = (w**2 * r2).sum(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where((q > df) & (slope > 0), (q - df) / slope, 0.0)
        tau2 = tau2 + step
        if np.all(step <= tol * np.maximum(1.0, tau2)):
            break
    return tau2 if tau2.ndim else tau2[()]


def _reml_parts(yi: _Array, vi: _Array, tau2: _Array) -> tuple[_Array, _Array]:
    """REML log-likelihood (up to a constant) and the Newton step for τ² (see tau2_reml)."""
    w = 1.0 / (vi + tau2[..., None])
    sw = w.sum(axis=-1)
    sw2 = (w**2).sum(axis=-1)
    mu = (w * yi).sum(axis=-1) / sw
    r = yi - mu[..., None]
    wr2 = (w * r**2).sum(axis=-1)
    loglik = -0.5 * (np.log(vi + tau2[..., None]).sum(axis=-1) + np.log(sw) + wr2)
    score = (w**2 * r**2).sum(axis=-1) - (sw - sw2 / sw)
    trpp = sw2 - 2.0 * (w**3).sum(axis=-1) / sw + (sw2 / sw) ** 2
    curv = 2.0 * ((w**3 * r**2).sum(axis=-1) - (w**2 * r).sum(axis=-1) ** 2 / sw) - trpp
    return loglik, score / np.where(curv > 0, curv, trpp)


def tau2_reml(yi, vi, tol: float = _TOL, maxiter: int = _MAXITER) -> _Array:
    """Restricted maximum-likelihood τ² (Viechtbauer 2005), Newton's method with step halving.

    With ``wᵢ = 1/(vᵢ + τ²)``, ``rᵢ = yᵢ − μ̂`` (``μ̂`` the weighted mean), ``P`` the REML
    projection, ``tr P = Σw − Σw²/Σw`` and ``tr P² = Σw² − 2Σw³/Σw + (Σw²/Σw)²``, the
    restricted log-likelihood ``ℓ = −½[Σ ln(vᵢ + τ²) + ln Σwᵢ + Σwᵢrᵢ²]`` has
    ``2ℓ' = Σwᵢ²rᵢ² − tr P`` and ``−2ℓ'' = 2[Σwᵢ³rᵢ² − (Σwᵢ²rᵢ)²/Σw] − tr P²``. The update
    ``τ² ← max(0, τ² − ℓ'/ℓ'')`` (Fisher scoring, divisor ``tr P²``, where ``ℓ'' ≥ 0``) is
    halved while it would lower ℓ, so the iteration, started at the DerSimonian-Laird
    value, climbs to a maximum; it converges quadratically where Fisher scoring alone
    crawls (flat likelihoods with few studies).
    """
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    tau2 = np.asarray(tau2_dl(yi, vi), dtype=float)
    loglik, step = _reml_parts(yi, vi, tau2)
    for _ in range(maxiter):
        new = np.maximum(0.0, tau2 + step)
        new_ll = _reml_parts(yi, vi, new)[0]
        for _ in range(60):
            worse = new_ll < loglik - 1e-14 * np.abs(loglik)
            if not np.any(worse):
                break
            step = np.where(worse, step / 2, step)
            new = np.where(worse, np.maximum(0.0, tau2 + step), new)
            new_ll = np.where(worse, _reml_parts(yi, vi, new)[0], new_ll)
        done = np.all(np.abs(new - tau2) <= tol * np.maximum(1.0, new))
        tau2 = new
        loglik, step = _reml_parts(yi, vi, tau2)
        if done:
            break
    return tau2 if tau2.ndim else tau2[()]


def random_iv(yi, vi, tau2) -> tuple[_Array, _Array]:
    """Random-effects inverse-variance pool with weights ``1/(vᵢ + τ²)``: ``(μ̂, SE)``."""
    return fixed_iv(yi, np.asarray(vi, dtype=float) + np.expand_dims(tau2, -1))


def hksj_se(yi, vi, tau2, modified: bool = False) -> _Array:
    """Hartung-Knapp-Sidik-Jonkman standard error of the random-effects mean.

    ``SE² = q / Σwᵢ`` with ``wᵢ = 1/(vᵢ + τ²)`` and ``q = Σwᵢ(yᵢ − μ̂)²/(k − 1)``; the
    interval uses ``t`` with ``k − 1`` df (Hartung & Knapp 2001; Sidik & Jonkman 2002).
    ``modified=True`` floors q at 1 so the interval is never narrower than the z-based
    one's variance (Röver, Knapp & Friede 2015).
    """
    yi = np.asarray(yi, dtype=float)
    w = 1.0 / (np.asarray(vi, dtype=float) + np.expand_dims(tau2, -1))
    sw = w.sum(axis=-1)
    mu = (w * yi).sum(axis=-1) / sw
    q = (w * (yi - np.expand_dims(mu, -1)) ** 2).sum(axis=-1) / (yi.shape[-1] - 1)
    if modified:
        q = np.maximum(q, 1.0)
    return np.sqrt(q / sw)


def prediction_interval(
    estimate: float, se: float, tau2: float, k: int, level: float = 0.95
) -> tuple[float, float] | None:
    """Higgins-Thompson-Spiegelhalter prediction interval for a new study's effect.

    ``μ̂ ± t_{k−2, (1+level)/2} √(τ² + SE²)`` (Higgins, Thompson & Spiegelhalter 2009).
    Undefined for ``k < 3`` (no degrees of freedom): returns ``None``.
    """
    if k < 3:
        return None
    half = float(special.stdtrit(k - 2, 0.5 + level / 2)) * np.sqrt(tau2 + se**2)
    return estimate - half, estimate + half


def tau2_qprofile_ci(yi, vi, level: float = 0.95) -> tuple[float, float]:
    """Q-profile confidence interval for τ² (Viechtbauer 2007).

    The bounds solve ``Q(τ²) = χ²_{k−1, 1−α/2}`` (lower) and ``Q(τ²) = χ²_{k−1, α/2}``
    (upper), Q being the generalised Q statistic with weights ``1/(vᵢ + τ²)``, which
    decreases in τ². A bound is 0 when Q(0) is already below its quantile. 1-D input only.
    """
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    k = yi.size
    if k < 2:
        return (np.nan, np.nan)
    alpha = 1.0 - level
    q0 = float(_generalised_q(yi, vi, 0.0))

    def bound(target: float) -> float:
        if q0 <= target:
            return 0.0
        hi = max(1.0, 10.0 * float(np.var(yi)))
        while float(_generalised_q(yi, vi, hi)) > target:
            hi *= 10.0
            if hi > 1e12:
                return np.inf
        return optimize.brentq(
            lambda t2: float(_generalised_q(yi, vi, t2)) - target, 0.0, hi, xtol=1e-14, rtol=1e-14
        )

    return (
        bound(float(special.chdtri(k - 1, alpha / 2))),
        bound(float(special.chdtri(k - 1, 1 - alpha / 2))),
    )


def mantel_haenszel(a, n1, c, n2, measure: str) -> tuple[float, float, _Array]:
    """Mantel-Haenszel pooled estimate (log scale for RR/OR), its SE and the study weights.

    RevMan 5 rules (Deeks & Higgins 2010): cells are zero-corrected (0.5 added to all four
    cells of a study with a zero cell); pass estimable studies only (for RR/OR, drop
    studies with no events or all events in both arms). With ``N = n1 + n2``:

    * RR: ``RR = R/S``, ``R = Σ a·n2/N``, ``S = Σ c·n1/N`` (weights ``c·n1/N``);
      ``Var ln RR = P/(R·S)``, ``P = Σ (n1·n2·(a + c) − a·c·N)/N²`` (Greenland & Robins 1985);
    * OR: ``OR = R/S``, ``R = Σ a·d/N``, ``S = Σ b·c/N`` (weights ``b·c/N``);
      ``Var ln OR = E/(2R²) + F/(2RS) + G/(2S²)`` with ``E = Σ (a + d)ad/N²``,
      ``F = Σ [(a + d)bc + (b + c)ad]/N²``, ``G = Σ (b + c)bc/N²`` (Robins et al. 1986);
    * RD: ``RD = Σ (a·n2 − c·n1)/N / Σ n1·n2/N`` and weights ``n1·n2/N`` on the raw cells;
      ``Var RD = [Σ (a·b·n2³ + c·d·n1³)/(n1·n2·N²)] / (Σ n1·n2/N)²`` with the sum on the
      corrected cells (Greenland & Robins 1985).

    Returns
    -------
    (estimate, se, weights) : weights unnormalised, one per study.
    """
    a = np.asarray(a, dtype=float)
    c = np.asarray(c, dtype=float)
    n1 = np.asarray(n1, dtype=float)
    n2 = np.asarray(n2, dtype=float)
    k = effects.corrected_cells(a, n1, c, n2)
    m1, m2 = k.a + k.b, k.c + k.d
    m = m1 + m2
    if measure == "RR":
        rw = k.a * m2 / m
        sw = k.c * m1 / m
        r, s = rw.sum(), sw.sum()
        p = ((m1 * m2 * (k.a + k.c) - k.a * k.c * m) / m**2).sum()
        return float(np.log(r / s)), float(np.sqrt(p / (r * s))), sw
    if measure == "OR":
        rw = k.a * k.d / m
        sw = k.b * k.c / m
        r, s = rw.sum(), sw.sum()
        e = ((k.a + k.d) * k.a * k.d / m**2).sum()
        f = (((k.a + k.d) * k.b * k.c + (k.b + k.c) * k.a * k.d) / m**2).sum()
        g = ((k.b + k.c) * k.b * k.c / m**2).sum()
        var = e / (2 * r**2) + f / (2 * r * s) + g / (2 * s**2)
        return float(np.log(r / s)), float(np.sqrt(var)), sw
    if measure == "RD":
        n = n1 + n2
        w = n1 * n2 / n
        sw_ = w.sum()
        rd = ((a * n2 - c * n1) / n).sum() / sw_
        j = ((k.a * k.b * m2**3 + k.c * k.d * m1**3) / (m1 * m2 * m**2)).sum()
        return float(rd), float(np.sqrt(j) / sw_), w
    raise DataError(
        f"study table, field 'measure': Mantel-Haenszel needs RR, OR or RD, got {measure!r}"
    )


def peto(a, n1, c, n2) -> tuple[float, float, float, _Array]:
    """Peto's pooled log odds ratio (Yusuf et al. 1985).

    ``ln OR = Σ(O − E)/ΣV``, ``SE = 1/√ΣV``, heterogeneity
    ``Q = Σ(O − E)²/V − (Σ(O − E))²/ΣV``, with per-study ``O − E`` and ``V`` from
    :func:`sparsemeta.effects.peto_log_or`. Pass studies with ``V > 0`` only.

    Returns
    -------
    (estimate, se, q, weights) : the weights are the ``V``.
    """
    o_e, v = effects.peto_parts(a, n1, c, n2)
    sv = v.sum()
    q = float((o_e**2 / v).sum() - o_e.sum() ** 2 / sv)
    return float(o_e.sum() / sv), float(1 / np.sqrt(sv)), q, v


# ---------------------------------------------------------------------------------------
# one analysis
# ---------------------------------------------------------------------------------------


def _p_norm(z: float) -> float:
    """Two-sided normal p-value, ``2(1 − Φ(|z|))``."""
    return float(special.erfc(abs(z) / np.sqrt(2.0)))


def _p_chi2(q: float, df: int) -> float:
    """Upper χ² tail probability; NaN when df = 0."""
    return float(special.chdtrc(df, q)) if df > 0 else float("nan")


def _zcrit(level: float) -> float:
    return Z975 if level == 0.95 else float(special.ndtri(0.5 + level / 2))


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
        its χ² p-value (NaN when df = 0) and I² in percent, always the Q-based
        ``(Q − df)/Q`` of Higgins & Thompson (2002) as in RevMan (metafor's REML/PM
        output prints a τ²-based I² instead).
    tau2, tau2_ci, tau
        Between-study variance (0 for a fixed-effect model), its Q-profile CI (``None``
        when not computed or k < 2) and √τ².
    pi_low, pi_high, pi_note
        Prediction interval (``None`` when undefined: fixed-effect model or k < 3) and a
        note saying which interval it is or why there is none. It uses the SE of the
        chosen ``ci_method``.
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

    def _fmt(self, x: float) -> str:
        return f"{np.exp(x):.2f}" if self.log_scale else f"{x:.3f}"

    def summary(self) -> str:
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
                f"  {self.measure} {self._fmt(self.estimate)} [{pct} CI "
                f"{self._fmt(self.ci_low)}, {self._fmt(self.ci_high)}]; "
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
                    f"  Prediction interval: [{self._fmt(self.pi_low)}, {self._fmt(self.pi_high)}]"
                )
            else:
                lines.append(f"  Prediction interval: {self.pi_note}")
        lines += [f"  excluded {s!r}: {r}" for s, r in self.excluded]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def to_frame(self) -> pd.DataFrame:
        """Per-study rows (``study, yi, se, ci_low, ci_high, weight, reason``) and a pooled row."""
        reasons = dict(self.excluded)
        se = np.sqrt(self.vi)
        z = _zcrit(self.level)
        frame = pd.DataFrame(
            {
                "study": [*self.studies, "pooled"],
                "yi": [*self.yi, self.estimate],
                "se": [*se, self.se],
                "ci_low": [*(self.yi - z * se), self.ci_low],
                "ci_high": [*(self.yi + z * se), self.ci_high],
                "weight": [*self.weights, 100.0 if self.estimable else 0.0],
                "reason": [*(reasons.get(s) for s in self.studies), None],
            }
        )
        return frame


@dataclass
class _Core:
    """Pooled numbers of one set of studies (internal; no CI yet)."""

    k: int
    estimate: float
    se: float
    chi2: float
    df: int
    tau2: float
    weights: _Array  # unnormalised, aligned with the input (0 where excluded)
    yi_ok: _Array
    vi_ok: _Array


def _pool_core(
    arr: dict[str, _Array],
    rows: _Array,
    measure: str,
    method: str,
    random: bool,
    tau2_method: str = "DL",
) -> _Core:
    """Pool the studies ``rows`` (indices into the arrays) the RevMan way."""
    ok = arr["estimable"][rows]
    idx = rows[ok]
    yi, vi = arr["yi"][idx], arr["vi"][idx]
    k = idx.size
    weights = np.zeros(rows.size)
    if k == 0:
        return _Core(0, np.nan, np.nan, np.nan, 0, np.nan, weights, yi, vi)
    if k == 1:
        weights[ok] = 1.0
        return _Core(1, float(yi[0]), float(np.sqrt(vi[0])), 0.0, 0, 0.0, weights, yi, vi)
    if method == "MH":
        est, se, w = mantel_haenszel(
            arr["a"][idx], arr["n1"][idx], arr["c"][idx], arr["n2"][idx], measure
        )
        chi2 = float(q_statistic(yi, vi, est))
    elif method == "PETO":
        est, se, chi2, w = peto(arr["a"][idx], arr["n1"][idx], arr["c"][idx], arr["n2"][idx])
    else:
        w = 1.0 / vi
        est_, se_ = fixed_iv(yi, vi)
        est, se = float(est_), float(se_)
        chi2 = float(q_statistic(yi, vi, est))
    tau2 = 0.0
    if random:
        if tau2_method == "DL":
            tau2 = float(tau2_dl(yi, vi, chi2))
        elif tau2_method == "REML":
            tau2 = float(tau2_reml(yi, vi))
        else:
            tau2 = float(tau2_pm(yi, vi))
        w = 1.0 / (vi + tau2)
        est_, se_ = fixed_iv(yi, vi + tau2)
        est, se = float(est_), float(se_)
    weights[ok] = w
    return _Core(k, est, se, chi2, k - 1, tau2, weights, yi, vi)


def _effect_measure(measure: str, method: str) -> str:
    if method == "PETO":
        return "PETO_OR"
    return measure


_METHOD_CHOICES = {"IV": "IV", "MH": "MH", "PETO": "Peto"}
_TAU2_CHOICES = ("DL", "REML", "PM")
_CI_CHOICES = ("z", "hksj", "mhk")
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
    _choice("tau2_method", tau2_method, _TAU2_CHOICES)
    _choice("ci_method", ci_method, _CI_CHOICES)
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
    kind = effects.MEASURES.get(measure) if isinstance(measure, str) else None
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
    data: pd.DataFrame,
    measure: str,
    *,
    method: Literal["IV", "MH", "Peto", "PETO"] = "IV",
    random: bool = True,
    tau2_method: Literal["DL", "REML", "PM"] = "DL",
    ci_method: Literal["z", "hksj", "mhk"] = "z",
    level: float = 0.95,
    tau2_ci: bool = True,
) -> MetaResult:
    """Meta-analysis of one analysis (no subgroups).

    Parameters
    ----------
    data : pandas.DataFrame
        A study table of one analysis. A table that has not been through
        :func:`sparsemeta.data.study_table` is validated by it (the check of an already
        valid table is cheap and does not repeat the full validation). Or a table of
        effects with columns ``study, yi, vi`` and none of the study-table data columns;
        then ``measure`` only labels the result, ``method`` must be ``"IV"``, ratio
        measures are taken to be on the log scale, the ``study`` column is required
        (results name their studies; there are no made-up labels), a study whose ``yi``
        or ``vi`` is missing (NaN, as :func:`sparsemeta.effects.effect_sizes` leaves a
        non-estimable study) is excluded with a reason, and a non-numeric or infinite
        ``yi`` or a ``vi`` that is not finite and > 0 raises.
    measure : {"RR", "OR", "RD", "MD", "SMD", "GENERIC"}
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
    method = _check_settings(method, random, tau2_method, ci_method, level)
    if not isinstance(tau2_ci, bool | np.bool_):
        raise DataError(
            f"meta_analysis, argument 'tau2_ci': must be True or False, got {tau2_ci!r}"
        )
    if method == "MH" and measure not in ("RR", "OR", "RD"):
        raise DataError(
            f"study table, field 'measure': Mantel-Haenszel needs RR, OR or RD, got {measure!r}"
        )
    if method == "PETO" and measure not in ("OR", "PETO_OR"):
        raise DataError(
            f"study table, field 'measure': Peto's method gives an odds ratio, got {measure!r}"
        )
    if not isinstance(data, pd.DataFrame):
        raise DataError(
            "meta_analysis, argument 'data': expected a pandas DataFrame (a study table or a "
            f"table with study, yi, vi), got {type(data).__name__}"
        )
    if len(data) == 0:
        raise DataError("study table, field 'study': the table is empty (no studies)")
    columns = data.columns
    if ("yi" in columns or "vi" in columns) and not any(c in columns for c in _MARKERS):
        if method != "IV":
            raise DataError(f"study table, field 'yi': method {method} needs arm-level counts")
        if not isinstance(measure, str) or not measure.strip():
            raise DataError(
                f"study table, field 'measure': unknown measure {measure!r}; a yi/vi table "
                "needs a measure label such as 'MD' or 'RR'"
            )
        studies, arr = _yi_vi_arrays(data)
        log_scale = measure in _RATIO or measure == "PETO_OR"
    else:
        eff = _effect_measure(measure, method)
        data, arr, studies = _arm_arrays(data, eff)
        log_scale = eff in _RATIO or (eff == "GENERIC" and bool(data["log_scale"].iloc[0]))
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
    if not random:
        note = "fixed-effect model: no prediction interval"
    elif core.k < 3:
        note = f"undefined with k = {core.k} studies (t with k − 2 df needs k ≥ 3)"
    else:
        pi = prediction_interval(est, se, core.tau2, core.k, level)
        note = f"t with {core.k - 2} df (Higgins, Thompson & Spiegelhalter 2009)"
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
        i2=float(i_squared(core.chi2, core.df)) if core.k else np.nan,
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
    )


# ---------------------------------------------------------------------------------------
# RevMan 5 recipes
# ---------------------------------------------------------------------------------------

_MEASURES_BY_TYPE = {
    "binary": {"MH": {"RR", "OR", "RD"}, "IV": {"RR", "OR", "RD"}, "PETO": {"PETO_OR", "OR"}},
    "continuous": {"IV": {"MD", "SMD"}},
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
        allowed = _MEASURES_BY_TYPE.get(self.data_type)
        if allowed is None:
            raise DataError(
                f"RevMan settings, field 'data_type': unknown data type {self.data_type!r}"
            )
        if self.method not in allowed or self.measure not in allowed[self.method]:
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
        return self.effect_measure in _RATIO


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
