"""Tests of sparsemeta.bayes.predictive (posterior predictive p-values, bayesmeta's scheme).

Independent references:

* with tau = 0 and Cochran's Q as the statistic, replicated data are y_i ~ N(mu, se_i^2)
  whatever mu is drawn, so Q follows chi^2 with k - 1 df exactly: the p-value must agree with
  ``scipy.stats.chi2.sf(Q, k - 1)`` within Monte Carlo error (4 binomial standard errors);
* the replicated tau values under mu = 0 must follow the conditional posterior
  p(tau | mu = 0, y), integrated here by the trapezoid rule on a fine grid
  (Kolmogorov-Smirnov test);
* the two-tailed rejection region is checked on a small hand example against bayesmeta's
  rule (R/bayesmeta.R, ``pppvalue``: the smaller tail plus as many of the most extreme
  values on the other side).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from sparsemeta.bayes import exact, predictive
from sparsemeta.errors import DataError

Y = np.array([-0.9, -0.2, -0.6, 0.1, -1.4])
SE = np.array([0.4, 0.3, 0.5, 0.25, 0.6])


@pytest.fixture(scope="module")
def post():
    return exact.posterior(Y, SE, "halfnormal(0.5)", "normal(0, 4)")


def test_q_statistic_at_tau_zero_is_chi_square(post):
    n = 4000
    res = predictive.pppvalue(post, "tau", 0.0, "greater", "Q", n=n, seed=3)
    w = 1 / SE**2
    q = (((Y - (w * Y).sum() / w.sum()) / SE) ** 2).sum()
    assert res.statistic == pytest.approx(q)
    ref = stats.chi2.sf(q, Y.size - 1)
    assert abs(res.p_value - ref) < 4 * math.sqrt(ref * (1 - ref) / n)
    assert (res.replicates["tau"] == 0).all()
    assert res.rejection_region == "upper.tail"


def test_tau_replicates_follow_the_conditional_posterior(post):
    res = predictive.pppvalue(post, "mu", 0.0, "two.sided", "Q", n=1500, seed=4)
    assert (res.replicates["mu"] == 0).all()

    grid = np.linspace(0.0, 5.0, 20001)
    dens = stats.halfnorm.pdf(grid, scale=0.5) * np.prod(
        stats.norm.pdf(Y[:, None], 0.0, np.sqrt(SE[:, None] ** 2 + grid**2)), axis=0
    )
    cum = integrate.cumulative_trapezoid(dens, grid, initial=0.0)

    def cdf(t):
        return np.interp(t, grid, cum / cum[-1])

    assert stats.kstest(res.replicates["tau"].to_numpy(), cdf).pvalue > 0.001


def test_one_sided_draws_stay_on_the_null_side(post):
    res = predictive.pppvalue(post, "mu", 0.0, "less", "t", n=200, seed=5)
    assert (res.replicates["mu"] >= 0).all()
    assert res.rejection_region == "lower.tail"
    assert res.statistic == pytest.approx(post.mu.mean / post.mu.sd)
    again = predictive.pppvalue(post, "mu", 0.0, "less", "t", n=200, seed=5)
    assert again.p_value == res.p_value  # same seed, same p-value


def test_two_tailed_region_hand_example():
    stat = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    # actual 8.5: upper tail {9, 10} (2 values) is the smaller one; add the 2 lowest {1, 2}
    tail = predictive._tail(stat, 8.5, "two.tailed")
    assert tail.tolist() == ["lower", "lower"] + ["no"] * 6 + ["upper", "upper"]


def test_bad_requests(post):
    with pytest.raises(DataError, match="parameter"):
        predictive.pppvalue(post, "theta", 0.0)
    with pytest.raises(DataError, match="statistic"):
        predictive.pppvalue(post, "mu", 0.0, statistic="bogus")
    with pytest.raises(DataError, match="tau"):
        predictive.pppvalue(post, "tau", -1.0)
