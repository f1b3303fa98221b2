"""Tests of sparsemeta.bayes.averaging (exact model averaging) against hand computations.

The marginal likelihood of each of the four models is computed independently here:
closed forms with scipy (the product of normal densities; the multivariate normal of y with
mu integrated out, covariance diag(se^2 + tau^2) + s0^2 11') and one-dimensional
``scipy.integrate.quad`` over tau for the random-effects models. Posterior model
probabilities and inclusion Bayes factors are then computed by hand from them and the
stated prior probabilities; the inclusion Bayes factors are also compared with the exact
Savage-Dickey (mu = 0) and tau = 0 Bayes factors of sparsemeta.bayes.exact where they
coincide (only the two random-effects models, or only the two effect models, in play).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from sparsemeta.bayes import averaging, exact
from sparsemeta.errors import PriorError

Y = np.array([-0.9, -0.2, -0.6, 0.1, -1.4])
SE = np.array([0.4, 0.3, 0.5, 0.25, 0.6])
M0, S0, TAU_SCALE = 0.0, 1.0, 0.5


def _log_marginals() -> np.ndarray:
    def mvn(tau: float, with_effect: bool) -> float:
        cov = np.diag(SE**2 + tau**2) + (S0**2 if with_effect else 0.0)
        mean = np.full(Y.size, M0 if with_effect else 0.0)
        return stats.multivariate_normal.logpdf(Y, mean, cov)

    def random(with_effect: bool) -> float:
        f = lambda t: stats.halfnorm.pdf(t, scale=TAU_SCALE) * math.exp(mvn(t, with_effect))  # noqa: E731
        return math.log(integrate.quad(f, 0, 10, epsabs=0, epsrel=1e-11, limit=200)[0])

    return np.array(
        [
            stats.norm.logpdf(Y, 0.0, SE).sum(),
            mvn(0.0, True),
            random(False),
            random(True),
        ]
    )


def test_posterior_model_probabilities_by_hand():
    prior = np.array([0.1, 0.2, 0.3, 0.4])
    res = averaging.model_average(Y, SE, "halfnormal(0.5)", "normal(0, 1)", prior_probs=prior)
    log_ml = _log_marginals()
    assert res.models["log_marginal_likelihood"].to_numpy() == pytest.approx(log_ml, abs=1e-7)
    weights = prior * np.exp(log_ml)
    post = weights / weights.sum()
    assert res.models["posterior_prob"].to_numpy() == pytest.approx(post, abs=1e-8)
    assert res.models["prior_prob"].tolist() == pytest.approx(prior.tolist())
    bf_effect = (post[1] + post[3]) / (post[0] + post[2]) / ((0.2 + 0.4) / (0.1 + 0.3))
    bf_het = (post[2] + post[3]) / (post[0] + post[1]) / ((0.3 + 0.4) / (0.1 + 0.2))
    assert res.inclusion_bf["effect"] == pytest.approx(bf_effect, rel=1e-7)
    assert res.inclusion_bf["heterogeneity"] == pytest.approx(bf_het, rel=1e-7)
    assert res.models["mu_prior"].tolist() == ["0 (fixed)", "normal(0, 1)"] * 2
    assert res.models["tau_prior"].tolist()[:2] == ["0 (fixed)", "0 (fixed)"]


def test_inclusion_bfs_equal_exact_bayes_factors_where_they_coincide():
    post = exact.posterior(Y, SE, "halfnormal(0.5)", "normal(0, 1)")
    only_random = averaging.model_average(
        Y, SE, "halfnormal(0.5)", "normal(0, 1)", prior_probs=[0, 0, 1, 1]
    )
    assert only_random.inclusion_bf["effect"] == pytest.approx(
        1 / post.bayes_factor_mu(0.0), rel=1e-6
    )
    assert math.isnan(only_random.inclusion_bf["heterogeneity"])
    only_effect = averaging.model_average(
        Y,
        SE,
        "halfnormal(0.5)",
        "normal(0, 1)",
        prior_probs={"common, effect": 1, "random, effect": 1},
    )
    assert only_effect.inclusion_bf["heterogeneity"] == pytest.approx(
        1 / post.bayes_factor_tau0(), rel=1e-9
    )


def test_model_averaged_mu_distribution():
    res = averaging.model_average(Y, SE, "halfnormal(0.5)", "normal(0, 1)")
    p = res.models["posterior_prob"].to_numpy()
    re = exact.posterior(Y, SE, "halfnormal(0.5)", "normal(0, 1)")
    # common-effect posterior of mu by hand: precision-weighted with the prior as a datum
    w = np.append(1 / SE**2, 1 / S0**2)
    m_ce = (w * np.append(Y, M0)).sum() / w.sum()
    s_ce = 1 / math.sqrt(w.sum())
    x = -0.3
    by_hand = p[1] * stats.norm.cdf(x, m_ce, s_ce) + p[3] * re.mu.cdf(x)
    assert res.mu_cdf(x) == pytest.approx(by_hand, abs=1e-10)
    assert res.mu_cdf(0.0) - res.mu_cdf(-1e-12) == pytest.approx(p[0] + p[2], abs=1e-9)
    summary = res.mu()
    assert res.mu_cdf(summary["lower"]) == pytest.approx(0.025, abs=1e-9)
    assert summary["mean"] == pytest.approx(p[1] * m_ce + p[3] * re.mu.mean, abs=1e-10)
    # a median on the atom at 0 is reported as 0
    below, at = res.mu_cdf(-1e-12), res.mu_cdf(0.0)
    if below < 0.5 <= at:
        assert summary["median"] == 0.0
    record = res.to_dict()
    assert set(record) >= {"models", "inclusion_bf", "mu"}
    assert set(record["models"][0]) >= {
        "name",
        "prior_prob",
        "posterior_prob",
        "log_marginal_likelihood",
    }


def test_improper_priors_refused():
    with pytest.raises(PriorError, match="normal"):
        averaging.model_average(Y, SE, "halfnormal(0.5)", "flat")
