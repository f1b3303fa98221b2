# %% [markdown]
# # Getting started: one sparse meta-analysis from table to posterior
#
# Two trials of parent-infant psychotherapy (the PIP review, Barlow et al. 2015), outcome
# "secure attachment". The script prints the frequentist result the review published, the
# Hartung-Knapp interval, and the exact Bayesian posterior under a half-normal(0.5) prior on
# tau. Run: ``python examples/getting_started.py``.

# %%
import numpy as np

from sparsemeta import datasets, effects, frequentist
from sparsemeta.bayes import exact, priors

# %% The study table (packaged, already validated) and the per-study log risk ratios
pip = datasets.pip_barlow2015()
secure = pip[
    (pip["comparison"] == "PIP vs control") & (pip["outcome"] == "Infant attachment: secure")
]
fx = effects.effect_sizes(secure, "RR").to_frame()
print(fx[["study", "yi", "sei"]].to_string(index=False))

# %% Frequentist: the review's Mantel-Haenszel random-effects analysis, then Hartung-Knapp
mh = frequentist.meta_analysis(secure, "RR", method="MH")
print(mh)
hk = frequentist.meta_analysis(secure, "RR", method="MH", ci_method="hksj")
low, high = hk.exp_ci()
print(f"Hartung-Knapp 95% CI: {low:.3g} to {high:.3g} (t with 1 df)")

# %% Bayesian, exact: what the prior says, then the posterior
prior = priors.parse("halfnormal(0.5)")
print(priors.describe(prior, scale="logRR"))
post = exact.posterior(fx["yi"], fx["sei"], prior, labels=fx["study"])
low, high = post.mu.interval(0.95)
print(f"RR {np.exp(post.mu.median):.2f} (95% CrI {np.exp(low):.2f} to {np.exp(high):.2f})")
print(f"P(RR > 1) = {post.prob('mu', '>', 0.0):.4f}")
print(f"tau: median {post.tau.median:.3f}; KL(prior -> posterior) = {post.kl_tau():.3f} nats")
