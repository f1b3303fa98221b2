r"""Exact Bayesian model averaging over {common effect, random effects} x {no effect, effect}.

Four normal-normal models for the study estimates :math:`y_i \sim N(\theta_i, \sigma_i^2)`
(the set of metaBMA's ``meta_bma`` and of Gronau et al. 2021):

=======================  ==============  ======================================
model                    mu              tau
=======================  ==============  ======================================
``common, no effect``    0               0
``common, effect``       N(m_0, s_0^2)   0
``random, no effect``    0               p(tau)
``random, effect``       N(m_0, s_0^2)   p(tau)
=======================  ==============  ======================================

Their marginal likelihoods are exact: :math:`\prod_i N(y_i; 0, \sigma_i^2)` in closed form;
with tau = 0 and the normal mu prior, mu integrated analytically (the conditional of
:mod:`sparsemeta.bayes.exact` at tau = 0); with mu = 0, the one-dimensional integral
:math:`\int p(\tau) \prod_i N(y_i; 0, \sigma_i^2 + \tau^2)\, d\tau` on the quadrature of
:mod:`sparsemeta.bayes.exact`; and the full model's :math:`p(y)` from the same engine. With
prior model probabilities :math:`\pi_j` (equal by default) the posterior model
probabilities are :math:`P(M_j \mid y) = \pi_j p(y \mid M_j) / \sum_l \pi_l p(y \mid M_l)`,
and the inclusion Bayes factors are posterior over prior odds of the models with the
component against those without it (Hinne et al. 2020):

.. math::

    \mathrm{BF}_\text{effect} = \frac{P(M_{ce}) + P(M_{re})}{P(M_{c0}) + P(M_{r0})}
        \Big/ \frac{\pi_{ce} + \pi_{re}}{\pi_{c0} + \pi_{r0}},

and likewise for heterogeneity (random against common). The model-averaged posterior of
mu mixes a point mass at 0 (weight :math:`P(M_{c0}) + P(M_{r0})`), the normal posterior of
the common-effect model and the exact random-effects posterior.

References
----------
Gronau QF, Heck DW, Berkhout SW, Haaf JM, Wagenmakers EJ (2021). A primer on Bayesian
model-averaged meta-analysis. *Adv Methods Pract Psychol Sci* 4(3):1-19.

Hinne M, Gronau QF, van den Bergh D, Wagenmakers EJ (2020). A conceptual introduction to
Bayesian model averaging. *Adv Methods Pract Psychol Sci* 3(2):200-215.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special, stats

from sparsemeta.bayes import exact
from sparsemeta.effects import Effects
from sparsemeta.errors import DataError, PriorError
from sparsemeta.results import json_safe

if TYPE_CHECKING:
    from sparsemeta.bayes.priors import MuPriorLike, TauPriorLike

__all__ = ["MODELS", "ModelAverage", "model_average"]

#: the four models, in this order everywhere
MODELS: tuple[str, ...] = (
    "common, no effect",
    "common, effect",
    "random, no effect",
    "random, effect",
)


@dataclass(frozen=True)
class ModelAverage:
    """Posterior model probabilities, inclusion Bayes factors and the averaged mu.

    Attributes
    ----------
    models : pandas.DataFrame
        One row per model (:data:`MODELS`): ``name, mu_prior, tau_prior, prior_prob,
        posterior_prob, log_marginal_likelihood``.
    inclusion_bf : dict
        ``{"effect": ..., "heterogeneity": ...}``.
    level : float
        Probability of the interval of the averaged mu.
    """

    models: pd.DataFrame
    inclusion_bf: dict[str, float]
    level: float
    _components: tuple[float, float, float, float, exact.NormalMixture]  # null, ce weight, m, s, re

    def mu_cdf(self, x: float) -> float:
        """cdf of the model-averaged posterior of mu (right-continuous at the atom 0)."""
        null, p_ce, m_ce, s_ce, re = self._components
        p_re = float(self.models["posterior_prob"].iloc[3])
        out = p_ce * special.ndtr((x - m_ce) / s_ce) + p_re * float(re.cdf(x))
        return float(out + (null if x >= 0 else 0.0))

    def mu_quantile(self, p: float) -> float:
        """Quantile of the model-averaged posterior of mu (0 where p falls on the atom)."""
        null = self._components[0]
        below = self.mu_cdf(0.0) - null  # continuous part up to 0
        if null > 0 and below < p <= below + null:
            return 0.0
        lo, hi = -1.0, 1.0
        while self.mu_cdf(lo) > p:
            lo *= 2.0
        while self.mu_cdf(hi) < p:
            hi *= 2.0
        return float(optimize.brentq(lambda x: self.mu_cdf(x) - p, lo, hi, xtol=1e-12))

    @property
    def mu_mean(self) -> float:
        """Mean of the model-averaged posterior of mu."""
        _, p_ce, m_ce, _, re = self._components
        return p_ce * m_ce + float(self.models["posterior_prob"].iloc[3]) * re.mean

    def mu(self) -> dict[str, float]:
        """``{"mean", "median", "lower", "upper"}`` of the averaged mu (equal-tailed)."""
        return {
            "mean": self.mu_mean,
            "median": self.mu_quantile(0.5),
            "lower": self.mu_quantile((1 - self.level) / 2),
            "upper": self.mu_quantile((1 + self.level) / 2),
        }

    def summary(self) -> pd.DataFrame:
        """The model table (see :attr:`models`)."""
        return self.models.copy()

    def to_dict(self) -> dict[str, Any]:
        """``{"models": [...], "inclusion_bf": {...}, "mu": {...}, "level"}``: the
        ``model_average`` field of ``sparsemeta fit --json``."""
        return json_safe(
            {
                "models": self.models.to_dict(orient="records"),
                "inclusion_bf": dict(self.inclusion_bf),
                "mu": self.mu(),
                "level": self.level,
            }
        )

    def __str__(self) -> str:
        mu = self.mu()
        return (
            "Bayesian model averaging (exact marginal likelihoods)\n"
            + self.models.to_string(index=False, float_format="%.4g")
            + f"\ninclusion BF: effect {self.inclusion_bf['effect']:.4g}, heterogeneity "
            f"{self.inclusion_bf['heterogeneity']:.4g}\nmodel-averaged mu: median "
            f"{mu['median']:.4g}, {100 * self.level:g}% interval [{mu['lower']:.4g}, "
            f"{mu['upper']:.4g}]"
        )


def _prior_probs(prior_probs: Sequence[float] | Mapping[str, float] | None) -> NDArray[np.float64]:
    if prior_probs is None:
        return np.full(4, 0.25)
    if isinstance(prior_probs, Mapping):
        unknown = set(prior_probs) - set(MODELS)
        if unknown:
            raise DataError(f"prior model probabilities: unknown model {sorted(unknown)[0]!r}")
        probs = np.array([float(prior_probs.get(m, 0.0)) for m in MODELS])
    else:
        probs = np.asarray(prior_probs, dtype=float)
    if probs.shape != (4,) or np.any(~np.isfinite(probs) | (probs < 0)) or probs.sum() <= 0:
        raise DataError(
            f"prior model probabilities: need 4 non-negative numbers (for {list(MODELS)}), "
            f"got {prior_probs!r}"
        )
    return probs / probs.sum()


def model_average(
    y: ArrayLike | Effects | pd.DataFrame,
    se: ArrayLike | None = None,
    tau_prior: TauPriorLike = None,
    mu_prior: MuPriorLike = None,
    labels: Sequence[str] | None = None,
    prior_probs: Sequence[float] | Mapping[str, float] | None = None,
    level: float = 0.95,
    *,
    measure: str | None = None,
) -> ModelAverage:
    """Exact model averaging over common/random effects and no effect/effect.

    Parameters
    ----------
    y, se, labels, measure
        As in :func:`sparsemeta.bayes.exact.posterior` (an ``Effects`` value, a study table
        or arrays).
    tau_prior : prior value, str or None
        Proper tau prior of the random-effects models (``None``: the measure's default).
    mu_prior : normal prior, str or None
        Proper (normal) mu prior of the effect models, e.g. ``"normal(0, 1)"`` (``None``:
        the measure's default, which must then be normal).
    prior_probs : 4 numbers or mapping, optional
        Prior model probabilities in the order of :data:`MODELS` (or by name; missing
        names get 0); normalised to sum 1. Default: 1/4 each.
    level : float
        Probability of the interval of the model-averaged mu.

    Returns
    -------
    ModelAverage

    Raises
    ------
    PriorError
        A flat mu prior or an improper tau prior (the marginal likelihoods are undefined).
    DataError
        Bad data or prior model probabilities.
    """
    eff, prior, mu = exact._inputs(y, se, labels, measure, tau_prior, mu_prior, "model_average")
    y_arr, se_arr, labs = eff.y, eff.se, list(eff.studies)
    level = exact._check_level(level, "model_average")
    if mu is None:
        raise PriorError(
            "model averaging needs a proper (normal) mu prior: with a flat prior the marginal "
            "likelihoods of the effect models are undefined"
        )
    if not getattr(prior, "proper", True):
        raise PriorError(f"model averaging needs a proper tau prior; {prior} is improper")
    probs = _prior_probs(prior_probs)
    full = exact.posterior(y_arr, se_arr, prior, mu, labs)
    ce_data = exact._Data(y_arr[None, :], se_arr[None, :], np.ones((1, y_arr.size), bool), mu)
    ce_loglik, ce_mean, ce_var = (a[0, 0] for a in ce_data.conditional(np.zeros((1, 1))))
    r0_grid = exact._build_grid(exact._FixedMu(y_arr, se_arr, np.zeros(1)), prior, exact._FINE)
    log_ml = np.array(
        [
            float(stats.norm.logpdf(y_arr, 0.0, se_arr).sum()),
            float(ce_loglik),
            float(r0_grid.log_z[0]),
            full.log_marginal_likelihood,
        ]
    )
    with np.errstate(divide="ignore"):
        log_post = np.log(probs) + log_ml
    post = np.exp(log_post - special.logsumexp(log_post))

    def odds_ratio(with_: list[int], without: list[int]) -> float:
        """Posterior over prior odds; NaN when a side has prior probability 0."""
        if probs[with_].sum() == 0 or probs[without].sum() == 0:
            return math.nan
        prior_odds = probs[with_].sum() / probs[without].sum()
        with np.errstate(divide="ignore"):
            return float(post[with_].sum() / post[without].sum() / prior_odds)

    mu_text = f"normal({mu.mean:g}, {mu.sd:g})"
    table = pd.DataFrame(
        {
            "name": list(MODELS),
            "mu_prior": ["0 (fixed)", mu_text, "0 (fixed)", mu_text],
            "tau_prior": ["0 (fixed)", "0 (fixed)", str(prior), str(prior)],
            "prior_prob": probs,
            "posterior_prob": post,
            "log_marginal_likelihood": log_ml,
        }
    )
    bf = {"effect": odds_ratio([1, 3], [0, 2]), "heterogeneity": odds_ratio([2, 3], [0, 1])}
    components = (
        float(post[0] + post[2]),
        float(post[1]),
        float(ce_mean),
        math.sqrt(ce_var),
        full.mu,
    )
    return ModelAverage(table, bf, level, components)
