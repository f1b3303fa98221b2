"""Tests of sparsemeta.bayes.subgroups (separate tau per subgroup).

The subgroup posteriors must equal exact posteriors fitted to each subgroup's studies on
their own; the posterior of the difference of two subgroup means is checked against
``scipy.integrate.quad`` of P(mu_a < mu_b) = int f_a(x) (1 - F_b(x)) dx with the separate
posteriors' densities, and against the moments of independent variables (means subtract,
variances add).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from sparsemeta.bayes import exact, subgroups
from sparsemeta.errors import DataError

Y = np.array([-2.31, -0.46, -2.30, -1.76, -1.26, -2.42])
SE = np.array([0.60, 0.56, 0.88, 0.46, 0.64, 1.53])
GROUPS = ["dac", "bas", "dac", "bas", "bas", "bas"]


def test_separate_posteriors_and_difference():
    res = subgroups.subgroups(Y, SE, GROUPS, "halfnormal(0.5)", "normal(0, 4)")
    assert list(res.posteriors) == ["dac", "bas"]
    dac = exact.posterior(Y[[0, 2]], SE[[0, 2]], "halfnormal(0.5)", "normal(0, 4)")
    assert res.posteriors["dac"].mu.median == pytest.approx(dac.mu.median, abs=1e-12)
    a, b = res.posteriors["bas"], res.posteriors["dac"]
    diff = res.difference("bas", "dac")
    assert diff.mean == pytest.approx(a.mu.mean - b.mu.mean, abs=2e-4 * diff.sd)
    assert diff.sd == pytest.approx(math.hypot(a.mu.sd, b.mu.sd), rel=2e-4)
    p = integrate.quad(lambda x: a.mu.pdf(x) * (1 - b.mu.cdf(x)), -8, 6, limit=200)[0]
    assert float(diff.cdf(0.0)) == pytest.approx(p, abs=1e-4)
    s = res.summary()
    assert set(s["subgroup"]) == {"dac", "bas"} and set(s["param"]) == {"mu", "tau", "theta_new"}
    assert "separate tau" in str(res)


def test_bad_input():
    with pytest.raises(DataError, match="subgroup values"):
        subgroups.subgroups(Y, SE, GROUPS[:5], "halfnormal(0.5)")
    with pytest.raises(DataError, match="missing"):
        subgroups.subgroups(Y, SE, [*GROUPS[:5], None], "halfnormal(0.5)")
    res = subgroups.subgroups(Y, SE, GROUPS, "halfnormal(0.5)", "normal(0, 4)")
    with pytest.raises(DataError, match="unknown subgroup"):
        res.difference("bas", "xyz")
