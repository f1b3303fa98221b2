"""Frequentist estimators on numpy arrays: fixed and random inverse-variance pools, Cochran's Q,
I², the τ² estimators, Hartung-Knapp standard errors, prediction intervals, the Q-profile
interval for τ², Mantel-Haenszel and Peto pools, and the pooling of one set of studies that
both :func:`sparsemeta.frequentist.meta_analysis` and RevMan's recipe use.

The τ² estimators, :func:`fixed_iv`, :func:`random_iv` and :func:`hksj_se` work along the last
axis, so a simulation can pass ``(replicates, k)`` arrays; they expect finite ``yi`` and
positive ``vi`` (filter non-estimable studies first). Confidence intervals use the exact
normal quantile ``Z975 = Φ⁻¹(0.975)`` (RevMan 5 does).

References: DerSimonian & Laird (1986) Control Clin Trials 7:177; Paule & Mandel (1982)
J Res Natl Bur Stand 87:377; Viechtbauer (2005) J Educ Behav Stat 30:261 (REML);
Viechtbauer (2007) Stat Med 26:37 (Q-profile); Hartung & Knapp (2001) Stat Med 20:3875;
Sidik & Jonkman (2002) Stat Med 21:3153; Röver, Knapp & Friede (2015) BMC Med Res Methodol
15:99 (modified HK); Higgins, Thompson & Spiegelhalter (2009) J R Stat Soc A 172:137
(prediction interval); Greenland & Robins (1985) Biometrics 41:55; Robins, Breslow &
Greenland (1986) Biometrics 42:311; Yusuf et al. (1985) Prog Cardiovasc Dis 27:335 (Peto).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import optimize, special

from sparsemeta import effects
from sparsemeta.errors import DataError

__all__ = [
    "Z975",
    "PiMethod",
    "fixed_iv",
    "h_squared_tau2",
    "hksj_se",
    "i_squared",
    "i_squared_tau2",
    "mantel_haenszel",
    "peto",
    "prediction_interval",
    "q_statistic",
    "random_iv",
    "tau2_dl",
    "tau2_pm",
    "tau2_qprofile_ci",
    "tau2_reml",
    "tau2_se",
    "tau2_to_i2_ci",
    "typical_variance",
]

Z975: float = float(special.ndtri(0.975))
"""The exact 97.5% standard normal quantile, 1.959963984540054."""

_Array = np.ndarray
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


PiMethod = Literal["hts", "t", "normal"]
_PI_MIN_K = {"hts": 3, "t": 2, "normal": 2}


def prediction_interval(
    estimate: float,
    se: float,
    tau2: float,
    k: int,
    level: float = 0.95,
    method: PiMethod = "hts",
) -> tuple[float, float] | None:
    """Prediction interval for the effect in a new study, ``μ̂ ± c √(τ² + SE²)``.

    ``method`` chooses the critical value ``c`` at ``(1 + level)/2``:

    * ``"hts"``: ``t`` with ``k − 2`` df (Higgins, Thompson & Spiegelhalter 2009;
      Riley, Higgins & Deeks 2011), needs ``k ≥ 3``;
    * ``"t"``: ``t`` with ``k − 1`` df, RevMan's "t-distribution" interval (Cochrane
      Handbook v6.5 §10.10.4.3) and metafor's interval after ``test="t"``/``"knha"``;
      needs ``k ≥ 2``;
    * ``"normal"``: the standard normal quantile, RevMan's "normal distribution" interval
      and metafor's default (``test="z"``); needs ``k ≥ 2``.

    ``se`` is the standard error of ``μ̂`` from the chosen CI method (Wald or HKSJ).
    Returns ``None`` when ``k`` is below the minimum.
    """
    if k < _PI_MIN_K[method]:
        return None
    q = 0.5 + level / 2
    if method == "normal":
        crit = float(special.ndtri(q))
    else:
        crit = float(special.stdtrit(k - 2 if method == "hts" else k - 1, q))
    half = crit * np.sqrt(tau2 + se**2)
    return estimate - half, estimate + half


def typical_variance(vi) -> _Array:
    """Higgins & Thompson's typical within-study variance.

    ``s² = (k − 1)Σwᵢ / ((Σwᵢ)² − Σwᵢ²)`` with ``wᵢ = 1/vᵢ`` (Higgins & Thompson 2002,
    Stat Med 21:1539, eq. 9; metafor's ``vt``). NaN for ``k < 2``.
    """
    w = 1.0 / np.asarray(vi, dtype=float)
    sw = w.sum(axis=-1)
    denom = sw**2 - (w**2).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, (w.shape[-1] - 1) * sw / denom, np.nan)


def i_squared_tau2(tau2, vi) -> _Array:
    """I² from τ² in percent: ``100 τ²/(τ² + s²)``, ``s²`` the typical variance.

    Higgins & Thompson (2002); the I² metafor prints for every τ² estimator and RevMan
    (from January 2025) reports for random-effects analyses. With the DerSimonian-Laird
    τ² it equals the Q-based ``(Q − df)/Q`` whenever τ² > 0.
    """
    tau2 = np.asarray(tau2, dtype=float)
    s2 = typical_variance(vi)
    return 100.0 * tau2 / (tau2 + s2)


def h_squared_tau2(tau2, vi) -> _Array:
    """H² from τ²: ``(τ² + s²)/s²`` (Higgins & Thompson 2002; metafor's ``H2``)."""
    s2 = typical_variance(vi)
    return (np.asarray(tau2, dtype=float) + s2) / s2


def tau2_se(vi, tau2: float, method: str) -> float:
    """Standard error of τ̂² for the DerSimonian-Laird and REML estimators (1-D input).

    With ``P = W − W11ᵀW/Σw`` (``W`` diagonal) one has ``tr P = Σw − Σw²/Σw`` and
    ``tr P² = Σw² − 2Σw³/Σw + (Σw²/Σw)²``.

    * REML: the inverse Fisher information, ``SE² = 2 / tr P²`` with ``w = 1/(v + τ²)``
      (Viechtbauer 2005; metafor's ``se.tau2``);
    * DL: the variance of the method-of-moments estimator,
      ``SE² = [2(k − 1) + 4τ² tr P + 2τ⁴ tr P²] / (tr P)²`` with ``w = 1/v``
      (DerSimonian & Kacker 2007; as metafor computes it).

    NaN for other estimators and for ``k < 2``.
    """
    vi = np.asarray(vi, dtype=float)
    k = vi.size
    if k < 2 or method not in ("DL", "REML"):
        return float("nan")
    w = 1.0 / (vi + tau2) if method == "REML" else 1.0 / vi
    sw, sw2, sw3 = w.sum(), (w**2).sum(), (w**3).sum()
    trp = sw - sw2 / sw
    trpp = sw2 - 2.0 * sw3 / sw + (sw2 / sw) ** 2
    if method == "REML":
        return float(np.sqrt(2.0 / trpp))
    t2 = max(tau2, 0.0)
    return float(np.sqrt((2.0 * (k - 1) + 4.0 * t2 * trp + 2.0 * t2**2 * trpp) / trp**2))


def tau2_to_i2_ci(tau2_ci: tuple[float, float], vi) -> tuple[float, float]:
    """Map a CI for τ² to CIs for I² (percent) through ``I² = 100 τ²/(τ² + s²)``.

    I² increases in τ², so the bounds map to bounds (as metafor's ``confint``).
    """
    lo, hi = (float(i_squared_tau2(t, vi)) for t in tau2_ci)
    return lo, hi


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
