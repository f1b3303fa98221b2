r"""Check MCMC fits against the exact (quadrature) posterior where one exists.

:func:`sparsemeta.bayes.sample.sample` calls :func:`exact_reference` for every model built
by :mod:`sparsemeta.bayes.models` without covariates and not extended by the user:

* ``normal-normal``: :func:`sparsemeta.bayes.exact.posterior` on the same y, se and priors;
* ``arm-normal``: the same, on the mean differences with variance
  :math:`s_{ti}^2/n_{ti} + s_{ci}^2/n_{ci}` (integrating the flat-prior baselines out gives
  exactly the normal-normal model, see :func:`sparsemeta.bayes.models.arm_normal`);
* ``binomial-normal`` with a normal mu prior: :func:`sparsemeta.bayes.exact_binomial.posterior`
  with the model's arms and baseline SD;
* ``binomial-rr`` with a normal mu prior: :func:`sparsemeta.bayes.exact_binomial_rr.posterior`
  (the kink of its study likelihood at theta = 0 is handled there).

:func:`compare` then puts the MCMC quantiles (2.5%, 50%, 97.5%) of mu, tau and theta_new
beside the exact ones in units of their Monte Carlo standard error
(:func:`arviz.mcse`, ``method="quantile"``; Vehtari et al. 2021). theta_new is compared as
it is reported, Rao-Blackwellised: its quantile :math:`\hat q_p` solves
:math:`\frac1S \sum_s \Phi((q - \mu_s)/\tau_s) = p` and its MCSE is, by the delta method,
the MCSE of that mean (:func:`arviz.mcse`, ``method="mean"``, of the per-draw values
:math:`\Phi((\hat q_p - \mu_s)/\tau_s)`) divided by the mixture density at
:math:`\hat q_p`. With 9 comparisons, a
correct sampler exceeds 3 MCSE somewhere in about 2% of fits by chance, so a fit fails the
check only beyond :data:`TOLERANCE` = 4 MCSE (about 0.06% per comparison); the largest
|z| is always reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import arviz as az
    import pymc as pm

    from sparsemeta.bayes.exact import ExactPosterior

__all__ = ["PROBS", "TOLERANCE", "CrossCheck", "compare", "exact_reference"]

#: quantiles compared
PROBS: tuple[float, ...] = (0.025, 0.5, 0.975)
#: largest |MCMC - exact| / MCSE accepted
TOLERANCE: float = 4.0
_PARAMS = ("mu", "tau", "theta_new")


@dataclass(frozen=True)
class CrossCheck:
    """MCMC quantiles against the exact posterior.

    Attributes
    ----------
    engine : str
        The exact engine used (``"exact"`` or ``"exact-binomial"``).
    rows : tuple of dict
        One per (param, prob): ``param, prob, mcmc, exact, mcse, z``.
    tolerance : float
    """

    engine: str
    rows: tuple[dict[str, float | str], ...]
    tolerance: float = TOLERANCE

    @property
    def max_z(self) -> float:
        """Largest |z| over the comparisons."""
        return max(abs(float(r["z"])) for r in self.rows)

    @property
    def worst(self) -> dict[str, float | str]:
        """The comparison with the largest |z|."""
        return max(self.rows, key=lambda r: abs(float(r["z"])))

    @property
    def passed(self) -> bool:
        """Whether every comparison is within the tolerance."""
        return self.max_z <= self.tolerance

    def message(self) -> str:
        """One line: verdict, the worst quantity and, on failure, the remedy."""
        w = self.worst
        head = (
            f"MCMC vs {self.engine}: max |z| = {self.max_z:.2f} MCSE "
            f"({w['param']} q{float(w['prob']):g}: MCMC {float(w['mcmc']):.4g}, "
            f"exact {float(w['exact']):.4g}, MCSE {float(w['mcse']):.2g})"
        )
        if self.passed:
            return head + f" -> agrees (tolerance {self.tolerance:g})"
        return (
            head + f" -> DISAGREES beyond {self.tolerance:g} MCSE. Do not report the MCMC "
            "numbers: use the exact engine's answer, or rerun with more draws/warm-up and a "
            "higher target_accept and check again"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python record (the ``crosscheck`` field of ``sparsemeta fit --json``)."""
        return {
            "engine": self.engine,
            "tolerance": self.tolerance,
            "max_z": self.max_z,
            "passed": self.passed,
            "rows": [dict(r) for r in self.rows],
        }


def exact_reference(model: pm.Model) -> ExactPosterior | None:
    """The exact posterior of a builder's model, or ``None`` when there is none."""
    from sparsemeta.bayes import exact, exact_binomial, models

    info = models.model_info(model)
    if info is None or models.is_extended(model) or {"covariates", "subgroups"} & set(info.options):
        return None  # a user's model, a meta-regression, or separate subgroup posteriors
    labels = list(info.labels)
    if info.family == "normal-normal":
        return exact.posterior(
            info.data["y"], info.data["se"], info.tau_prior, info.mu_prior, labels
        )
    if info.family == "arm-normal":
        if getattr(info.tau_prior, "requires_se", False):
            return None
        d = info.data
        y = d["mean_t"] - d["mean_c"]
        se = np.sqrt(d["se_t"] ** 2 + d["se_c"] ** 2)
        return exact.posterior(y, se, info.tau_prior, info.mu_prior, labels)
    if info.family == "binomial-normal" and info.mu_prior is not None:
        d = info.data
        return exact_binomial.posterior(
            d["events_t"],
            d["n_t"],
            d["events_c"],
            d["n_c"],
            info.tau_prior,
            info.mu_prior,
            labels,
            arms=info.options.get("arms", "symmetric"),
            baseline_sd=info.options.get("baseline_sd"),
        )
    if info.family == "binomial-rr" and info.mu_prior is not None:
        from sparsemeta.bayes import exact_binomial_rr

        d = info.data
        return exact_binomial_rr.posterior(
            d["events_t"], d["n_t"], d["events_c"], d["n_c"], info.tau_prior, info.mu_prior, labels
        )
    return None


def compare(idata: az.InferenceData, reference: ExactPosterior) -> CrossCheck:
    """Compare the posterior draws of mu, tau, theta_new with the exact quantiles."""
    import arviz as az

    from sparsemeta.bayes.exact_binomial import BinomialPosterior

    post = idata.posterior
    rows = []
    for param in _PARAMS:
        exact_q = np.asarray(reference[param].quantile(np.array(PROBS)), dtype=float)
        if param == "theta_new" and {"mu", "tau"} <= set(post.data_vars):
            estimates = _mixture_quantiles(post["mu"].values, post["tau"].values)
        else:
            draws = post[param].values
            estimates = [
                (
                    float(np.quantile(draws.ravel(), p)),
                    float(az.mcse(draws, method="quantile", prob=p)),
                )
                for p in PROBS
            ]
        for p, ex, (mcmc, mcse) in zip(PROBS, exact_q, estimates, strict=True):
            z = (mcmc - ex) / mcse if mcse > 0 else float("inf")
            rows.append(
                {
                    "param": param,
                    "prob": p,
                    "mcmc": mcmc,
                    "exact": float(ex),
                    "mcse": mcse,
                    "z": float(z),
                }
            )
    engine = "exact-binomial" if isinstance(reference, BinomialPosterior) else "exact"
    return CrossCheck(engine, tuple(rows))


def _mixture_quantiles(mu: np.ndarray, tau: np.ndarray) -> list[tuple[float, float]]:
    """Rao-Blackwellised quantiles of theta_new and their MCSE (see the module notes)."""
    import arviz as az
    from scipy import special

    from sparsemeta.bayes import exact

    sd = np.maximum(tau, 1e-12)
    mix = exact.NormalMixture("theta_new", mu.ravel(), sd.ravel(), np.full(mu.size, 1 / mu.size))
    out = []
    for q in np.asarray(mix.quantile(np.array(PROBS)), dtype=float):
        z = (q - mu) / sd
        mcse_cdf = float(np.ravel(az.mcse(special.ndtr(z), method="mean"))[0])
        density = float(np.mean(np.exp(-0.5 * z**2) / (sd * np.sqrt(2 * np.pi))))
        out.append((float(q), mcse_cdf / density))
    return out
