"""The bundled synthetic RevMan example and an independent hand calculation of its results.

The example review (``src/sparsemeta/examples_data/synthetic_sparse.rm5``) is made up: the
study data below are invented to exercise sparse-data cases (a zero cell, a double-zero
study, subgroups, a random-effects outcome). The "stored results" written into it are NOT
RevMan output and NOT sparsemeta output: they are computed here, from the textbook formulas
written out with the standard library only (``math``), following Deeks & Higgins,
"Statistical algorithms in Review Manager 5" (2010):

* zero cells: add 0.5 to all four cells of a study with any zero cell; a study with no
  events in both arms is not estimable for RR/OR;
* Mantel-Haenszel RR and OR with the Greenland-Robins variances;
* heterogeneity Q around the M-H (or inverse-variance) fixed estimate with weights 1/v;
* DerSimonian-Laird τ² and the inverse-variance random-effects pool;
* CIs with z = Φ⁻¹(0.975) = 1.959963984540054; two-sided normal and chi-square p-values;
* test for subgroup differences: Q between subgroup estimates with weights 1/SE²;
* subgroup totals only (TOTALS=SUB): the total is the inverse-variance pool of the
  subgroup estimates, its heterogeneity that of all studies pooled together.

Regenerate the bundled file with ``python tests/revman_example.py`` (a test checks that the
bundled file equals what this script writes).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd

Z = 1.959963984540054
EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "sparsemeta" / "examples_data"
EXAMPLE_FILE = EXAMPLE / "synthetic_sparse.rm5"
COMPARISON = "Drug A versus placebo (synthetic example)"

# (study, events_t, n_t, events_c, n_c)
SAE = [
    ("Alder 2001", 0, 25, 3, 24),
    ("Birch 2005", 2, 40, 5, 41),
    ("Cedar 2009", 0, 18, 0, 20),
    ("Dogwood 2014", 12, 60, 6, 58),
]
# (subgroup, study, events_t, n_t, events_c, n_c)
FAILURE = [
    ("Adults", "Elm 2003", 1, 30, 4, 30),
    ("Adults", "Fir 2010", 3, 50, 6, 52),
    ("Children", "Gum 2007", 0, 15, 2, 16),
    ("Children", "Hazel 2012", 2, 22, 3, 20),
]
# (subgroup, study, events_t, n_t, events_c, n_c)
WITHDRAWAL = [
    ("Low dose", "Larch 2006", 1, 35, 2, 33),
    ("Low dose", "Maple 2013", 0, 28, 1, 30),
    ("High dose", "Nutmeg 2008", 5, 40, 2, 41),
    ("High dose", "Olive 2015", 7, 55, 3, 52),
]
# (study, mean_t, sd_t, n_t, mean_c, sd_c, n_c)
PAIN = [
    ("Ivy 2004", 3.1, 1.2, 20, 4.0, 1.5, 21),
    ("Juniper 2011", 2.8, 1.1, 30, 3.2, 1.4, 28),
    ("Kauri 2016", 3.0, 1.4, 12, 5.9, 1.8, 13),
]


def norm_p(z: float) -> float:
    """Two-sided normal p-value."""
    return math.erfc(abs(z) / math.sqrt(2))


def chi2_sf(x: float, df: int) -> float:
    """Upper tail of the chi-square distribution for integer df (closed-form series)."""
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for k in range(1, df // 2):
            term *= (x / 2) / k
            total += term
        return math.exp(-x / 2) * total
    total = math.erfc(math.sqrt(x / 2))
    for k in range(1, df, 2):  # Q(x; k + 2) = Q(x; k) + (x/2)^(k/2) e^(-x/2) / Γ(k/2 + 1)
        total += (x / 2) ** (k / 2) * math.exp(-x / 2) / math.gamma(k / 2 + 1)
    return total


def cells(a: int, n1: int, c: int, n2: int) -> tuple[float, float, float, float]:
    """2×2 cells with 0.5 added to all four when any is zero."""
    b, d = n1 - a, n2 - c
    if 0 in (a, b, c, d):
        return a + 0.5, b + 0.5, c + 0.5, d + 0.5
    return float(a), float(b), float(c), float(d)


def log_rr(a: int, n1: int, c: int, n2: int) -> tuple[float, float]:
    """log risk ratio and its variance (corrected cells)."""
    a_, b_, c_, d_ = cells(a, n1, c, n2)
    return math.log((a_ / (a_ + b_)) / (c_ / (c_ + d_))), 1 / a_ - 1 / (a_ + b_) + 1 / c_ - 1 / (
        c_ + d_
    )


def log_or(a: int, n1: int, c: int, n2: int) -> tuple[float, float]:
    """log odds ratio and its variance (corrected cells)."""
    a_, b_, c_, d_ = cells(a, n1, c, n2)
    return math.log(a_ * d_ / (b_ * c_)), 1 / a_ + 1 / b_ + 1 / c_ + 1 / d_


def mh_rr(tables: list[tuple[int, int, int, int]]) -> tuple[float, float, list[float]]:
    """M-H log RR, Greenland-Robins SE and the M-H weights c·n1/N."""
    r = s = p = 0.0
    weights = []
    for t in tables:
        a, b, c, d = cells(*t)
        n1, n2 = a + b, c + d
        n = n1 + n2
        r += a * n2 / n
        s += c * n1 / n
        p += (n1 * n2 * (a + c) - a * c * n) / n**2
        weights.append(c * n1 / n)
    return math.log(r / s), math.sqrt(p / (r * s)), weights


def mh_or(tables: list[tuple[int, int, int, int]]) -> tuple[float, float, list[float]]:
    """M-H log OR, Greenland-Robins SE and the M-H weights b·c/N."""
    sr = ss = spr = spsqr = sqs = 0.0
    weights = []
    for t in tables:
        a, b, c, d = cells(*t)
        n = a + b + c + d
        p, q, r, s = (a + d) / n, (b + c) / n, a * d / n, b * c / n
        sr += r
        ss += s
        spr += p * r
        spsqr += p * s + q * r
        sqs += q * s
        weights.append(b * c / n)
    var = spr / (2 * sr**2) + spsqr / (2 * sr * ss) + sqs / (2 * ss**2)
    return math.log(sr / ss), math.sqrt(var), weights


def iv_pool(y: list[float], v: list[float]) -> tuple[float, float]:
    """Inverse-variance pooled estimate and SE."""
    w = [1 / vi for vi in v]
    return sum(wi * yi for wi, yi in zip(w, y, strict=True)) / sum(w), math.sqrt(1 / sum(w))


def heterogeneity(y: list[float], v: list[float], centre: float) -> tuple[float, int, float]:
    """Cochran's Q around ``centre`` with weights 1/v, its df and DerSimonian-Laird τ²."""
    w = [1 / vi for vi in v]
    q = sum(wi * (yi - centre) ** 2 for wi, yi in zip(w, y, strict=True))
    df = len(y) - 1
    c = sum(w) - sum(wi**2 for wi in w) / sum(w)
    return q, df, max(0.0, (q - df) / c)


def level(
    est: float, se: float, q: float, df: int, tau2: float, ratio: bool, weight: float
) -> dict[str, object]:
    """The attributes RevMan stores for one pooled line."""
    tr = math.exp if ratio else (lambda x: x)
    z = abs(est / se)
    return {
        "EFFECT_SIZE": tr(est),
        "CI_START": tr(est - Z * se),
        "CI_END": tr(est + Z * se),
        "Z": z,
        "P_Z": norm_p(z),
        "CHI2": q,
        "DF": df,
        "P_CHI2": chi2_sf(q, df),
        "I2": max(0.0, (q - df) / q) * 100 if q > 0 else 0.0,
        "TAU2": tau2,
        "WEIGHT": weight,
        "ESTIMABLE": True,
    }


def study(y: float, v: float, ratio: bool, weight: float) -> dict[str, object]:
    """The attributes RevMan stores for one study."""
    tr = math.exp if ratio else (lambda x: x)
    se = math.sqrt(v)
    return {
        "EFFECT_SIZE": tr(y),
        "CI_START": tr(y - Z * se),
        "CI_END": tr(y + Z * se),
        "SE": se,
        "WEIGHT": weight,
        "ESTIMABLE": True,
    }


def example() -> tuple[pd.DataFrame, dict[tuple[str | None, ...], dict[str, object]]]:
    """Study table and hand-computed stored results of the synthetic example."""
    rows: list[dict[str, object]] = []
    attrs: dict[tuple[str | None, ...], dict[str, object]] = {}

    # 1. Serious adverse events: M-H risk ratio, random effects (DL around the M-H estimate).
    out = "Serious adverse events"
    for name, a, n1, c, n2 in SAE:
        rows.append(
            {
                "comparison": COMPARISON,
                "outcome": out,
                "study": name,
                "events_t": a,
                "n_t": n1,
                "events_c": c,
                "n_c": n2,
            }
        )
    estimable = [t for t in SAE if not (t[1] == 0 and t[3] == 0)]
    tables = [t[1:] for t in estimable]
    est_mh, _, _ = mh_rr(tables)
    ys, vs = zip(*(log_rr(*t) for t in tables), strict=True)
    q, df, tau2 = heterogeneity(list(ys), list(vs), est_mh)
    w = [1 / (v + tau2) for v in vs]
    est, se = iv_pool(list(ys), [v + tau2 for v in vs])
    attrs[(COMPARISON, out)] = {
        "METHOD": "MH",
        "EFFECT_MEASURE": "RR",
        "RANDOM": True,
        "TOTALS": "YES",
        **level(est, se, q, df, tau2, True, 100.0),
    }
    for t, y, v, wi in zip(estimable, ys, vs, w, strict=True):
        attrs[(COMPARISON, out, None, t[0])] = study(y, v, True, 100 * wi / sum(w))
    attrs[(COMPARISON, out, None, "Cedar 2009")] = {"ESTIMABLE": False}

    # 2. Treatment failure: M-H odds ratio, fixed effect, two subgroups, overall totals.
    out = "Treatment failure"
    for sub, name, a, n1, c, n2 in FAILURE:
        rows.append(
            {
                "comparison": COMPARISON,
                "outcome": out,
                "subgroup": sub,
                "study": name,
                "events_t": a,
                "n_t": n1,
                "events_c": c,
                "n_c": n2,
            }
        )
    all_tables = [t[2:] for t in FAILURE]
    est, se, w_all = mh_or(all_tables)
    ys, vs = zip(*(log_or(*t) for t in all_tables), strict=True)
    q, df, _ = heterogeneity(list(ys), list(vs), est)
    attrs[(COMPARISON, out)] = {
        "METHOD": "MH",
        "EFFECT_MEASURE": "OR",
        "RANDOM": False,
        "TOTALS": "YES",
        **level(est, se, q, df, 0.0, True, 100.0),
    }
    sub_est, sub_var = [], []
    for sub in ("Adults", "Children"):
        idx = [i for i, t in enumerate(FAILURE) if t[0] == sub]
        e_g, se_g, _ = mh_or([all_tables[i] for i in idx])
        q_g, df_g, _ = heterogeneity([ys[i] for i in idx], [vs[i] for i in idx], e_g)
        share = 100 * sum(w_all[i] for i in idx) / sum(w_all)
        attrs[(COMPARISON, out, sub)] = level(e_g, se_g, q_g, df_g, 0.0, True, share)
        sub_est.append(e_g)
        sub_var.append(se_g**2)
        for i in idx:
            attrs[(COMPARISON, out, sub, FAILURE[i][1])] = study(
                ys[i], vs[i], True, 100 * w_all[i] / sum(w_all)
            )
    centre, _ = iv_pool(sub_est, sub_var)
    q_sub, df_sub, _ = heterogeneity(sub_est, sub_var, centre)
    attrs[(COMPARISON, out)] |= {
        "Q": q_sub,
        "P_Q": chi2_sf(q_sub, df_sub),
        "I2_Q": max(0.0, (q_sub - df_sub) / q_sub) * 100 if q_sub > 0 else 0.0,
        "SUBGROUPS": True,
        "SUBGROUP_TEST": True,
    }

    # 3. Withdrawal: M-H risk ratio, fixed effect, subgroup totals only (TOTALS=SUB): study
    # weights are shares within their subgroup; the total's estimate is the inverse-variance
    # pool of the subgroup estimates, its Chi², df and I² those of all studies pooled.
    out = "Withdrawal due to adverse events"
    for sub, name, a, n1, c, n2 in WITHDRAWAL:
        rows.append(
            {
                "comparison": COMPARISON,
                "outcome": out,
                "subgroup": sub,
                "study": name,
                "events_t": a,
                "n_t": n1,
                "events_c": c,
                "n_c": n2,
            }
        )
    all_tables = [t[2:] for t in WITHDRAWAL]
    est_all, _, _ = mh_rr(all_tables)
    ys, vs = zip(*(log_rr(*t) for t in all_tables), strict=True)
    q, df, _ = heterogeneity(list(ys), list(vs), est_all)
    sub_est, sub_var = [], []
    for sub in ("Low dose", "High dose"):
        idx = [i for i, t in enumerate(WITHDRAWAL) if t[0] == sub]
        e_g, se_g, w_g = mh_rr([all_tables[i] for i in idx])
        q_g, df_g, _ = heterogeneity([ys[i] for i in idx], [vs[i] for i in idx], e_g)
        attrs[(COMPARISON, out, sub)] = level(e_g, se_g, q_g, df_g, 0.0, True, 100.0)
        sub_est.append(e_g)
        sub_var.append(se_g**2)
        for i, w_i in zip(idx, w_g, strict=True):
            attrs[(COMPARISON, out, sub, WITHDRAWAL[i][1])] = study(
                ys[i], vs[i], True, 100 * w_i / sum(w_g)
            )
    est, se = iv_pool(sub_est, sub_var)
    q_sub, df_sub, _ = heterogeneity(sub_est, sub_var, est)
    attrs[(COMPARISON, out)] = {
        "METHOD": "MH",
        "EFFECT_MEASURE": "RR",
        "RANDOM": False,
        "TOTALS": "SUB",
        # RevMan stores the sum of the subgroup weights (100 each): CD007868 analysis 4.1,
        # TOTALS="SUB" with two subgroups, has WEIGHT="200.0".
        **level(est, se, q, df, 0.0, True, 100.0 * len(sub_est)),
        "Q": q_sub,
        "P_Q": chi2_sf(q_sub, df_sub),
        "I2_Q": max(0.0, (q_sub - df_sub) / q_sub) * 100 if q_sub > 0 else 0.0,
    }

    # 4. Pain score: mean difference, inverse variance, random effects.
    out = "Pain score (0-10)"
    ys, vs = [], []
    for name, m1, s1, n1, m2, s2, n2 in PAIN:
        rows.append(
            {
                "comparison": COMPARISON,
                "outcome": out,
                "study": name,
                "mean_t": m1,
                "sd_t": s1,
                "n_t": n1,
                "mean_c": m2,
                "sd_c": s2,
                "n_c": n2,
            }
        )
        ys.append(m1 - m2)
        vs.append(s1**2 / n1 + s2**2 / n2)
    fixed, _ = iv_pool(ys, vs)
    q, df, tau2 = heterogeneity(ys, vs, fixed)
    est, se = iv_pool(ys, [v + tau2 for v in vs])
    w = [1 / (v + tau2) for v in vs]
    attrs[(COMPARISON, out)] = {
        "EFFECT_MEASURE": "MD",
        "RANDOM": True,
        "TOTALS": "YES",
        **level(est, se, q, df, tau2, False, 100.0),
    }
    for t, y, v, wi in zip(PAIN, ys, vs, w, strict=True):
        attrs[(COMPARISON, out, None, t[0])] = study(y, v, False, 100 * wi / sum(w))
    return pd.DataFrame(rows), attrs


TITLE = (
    "Synthetic sparse-data example (made-up studies; stored results computed by an "
    "independent hand calculation, not by RevMan)"
)


def write_example(path: Path) -> None:
    """Write the example review to ``path``."""
    from sparsemeta.io import write_revman

    studies, attrs = example()
    write_revman(studies, path, title=TITLE, attributes=attrs)  # type: ignore[arg-type]


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else EXAMPLE_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    write_example(target)
    print(f"wrote {target}")
