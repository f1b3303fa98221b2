"""Tests of sparsemeta.bayes.leave_one_out against separate fits and quadrature.

Each leave-one-out row is compared with an exact posterior fitted to the k - 1 remaining
studies on their own (sparsemeta.bayes.exact, itself checked against brute force and
bayesmeta in test_exact.py), the shifts are recomputed by hand from those fits, and the
Kullback-Leibler divergences are recomputed with ``scipy.integrate.quad`` from the two
posterior densities.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from sparsemeta.bayes import exact, leave_one_out
from sparsemeta.errors import DataError

Y = np.array([-0.9, -0.2, -0.6, 0.1, -1.4])
SE = np.array([0.4, 0.3, 0.5, 0.25, 0.6])
LABELS = ["A", "B", "C", "D", "E"]


def test_rows_match_separate_fits_and_kl_by_quadrature():
    res = leave_one_out.leave_one_out(Y, SE, "halfnormal(0.5)", "normal(0, 4)", LABELS)
    full = exact.posterior(Y, SE, "halfnormal(0.5)", "normal(0, 4)")
    t = res.table
    assert t["study"].tolist() == [None, *LABELS]
    assert t["mu_median"][0] == pytest.approx(full.mu.median, abs=1e-9)
    for i, lab in enumerate(LABELS, start=1):
        keep = [j for j in range(5) if j != i - 1]
        sub = exact.posterior(Y[keep], SE[keep], "halfnormal(0.5)", "normal(0, 4)")
        row = t.iloc[i]
        assert row["study"] == lab
        assert row["mu_median"] == pytest.approx(sub.mu.median, abs=1e-8)
        assert (row["mu_lower"], row["mu_upper"]) == pytest.approx(sub.mu.interval(), abs=1e-8)
        assert row["tau_median"] == pytest.approx(sub.tau.median, abs=1e-8)
        assert row["tau_mean"] == pytest.approx(sub.tau.mean, abs=1e-8)
        assert row["mu_shift"] == pytest.approx(
            (full.mu.median - sub.mu.median) / full.mu.sd, abs=1e-8
        )
        assert row["tau_shift"] == pytest.approx(
            (full.tau.median - sub.tau.median) / full.tau.sd, abs=1e-8
        )

        def kl(a, b, lo, hi):
            f = lambda x: a.pdf(x) * np.log(a.pdf(x) / b.pdf(x)) if a.pdf(x) > 0 else 0.0  # noqa: E731
            return integrate.quad(f, lo, hi, limit=200)[0]

        assert row["mu_kl"] == pytest.approx(kl(full.mu, sub.mu, -5, 4), abs=1e-5)
        assert row["tau_kl"] == pytest.approx(kl(full.tau, sub.tau, 0, 6), abs=1e-5)


def test_forest_frame_and_records():
    res = leave_one_out.leave_one_out(Y, SE, "halfnormal(0.5)", "normal(0, 4)", LABELS)
    frame = res.to_frame()
    assert list(frame.columns[:5]) == ["study", "mean", "sd", "median", "lower"]
    assert {"upper", "level"} <= set(frame.columns)
    assert frame["study"].tolist() == LABELS
    rec = res.records()
    assert rec[0]["study"] == "A" and set(rec[0]["mu"]) >= {"median", "lower", "upper"}
    assert "median" in rec[0]["tau"]
    assert set(res.summary()["param"]) == {"mu", "tau"}
    assert "leave-one-out" in str(res)


def test_needs_two_studies():
    with pytest.raises(DataError, match="at least 2"):
        leave_one_out.leave_one_out([0.1], [0.2], "halfnormal(0.5)")
