# %% [markdown]
# # A forest plot of any result in one call
#
# `sm.forest(result)` on the 13 BCG vaccine trials (metafor's `dat.bcg`, log risk ratio):
# a frequentist random-effects analysis, its leave-one-out re-analyses, the exact
# posterior with shrunken study effects, an MCMC fit of the binomial-normal model, a
# comparison of tau priors and the exact leave-one-out posteriors. The figures go to
# ``$SPARSEMETA_OUTPUT`` (default folder ``sparsemeta-output``) as ``forest-<kind>.png``;
# the documentation shows them. ``SPARSEMETA_QUICK=1`` samples fewer MCMC draws.

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import sparsemeta as sm
from sparsemeta import datasets, effects
from sparsemeta.bayes.leave_one_out import leave_one_out as exact_leave_one_out
from sparsemeta.frequentist import leave_one_out

QUICK = os.environ.get("SPARSEMETA_QUICK") == "1"
OUTPUT = Path(os.environ.get("SPARSEMETA_OUTPUT", "sparsemeta-output"))
OUTPUT.mkdir(parents=True, exist_ok=True)
FAVOURS = ("favours BCG", "favours no vaccine")

bcg = datasets.bcg_colditz1994()
fx = effects.effect_sizes(bcg, "RR")  # the per-study log risk ratios (an Effects value)


def save(fig, kind: str) -> None:
    fig.savefig(OUTPUT / f"forest-{kind}.png", dpi=110)
    plt.close(fig)
    print(f"wrote {OUTPUT / f'forest-{kind}.png'}")


# %% frequentist random effects (REML) and its leave-one-out re-analyses
freq = sm.meta_analysis(bcg, "RR", tau2_method="REML")
save(sm.forest(freq, favours=FAVOURS, title="Random effects, REML"), "frequentist")
save(
    sm.forest(
        leave_one_out(bcg, "RR", tau2_method="REML"),
        favours=FAVOURS,
        title="Leave-one-out, random effects (REML)",
    ),
    "leave-one-out",
)

# %% exact posterior (normal-normal, half-normal(0.5) prior on tau, flat mu prior)
post = sm.posterior(fx, tau_prior="halfnormal(0.5)")
save(sm.forest(post, measure="RR", favours=FAVOURS, title="Exact posterior"), "exact")

# %% MCMC fit of the binomial-normal model (log odds ratio)
fit = sm.sample(
    bcg,
    "OR",
    model="binomial-normal",
    tau_prior="halfnormal(0.5)",
    draws=300 if QUICK else 1000,
    tune=300 if QUICK else 1000,
    chains=2 if QUICK else 4,
    seed=1,
)
print(fit.diagnostics)
if fit.diagnostics.passed:  # MCMC numbers only with diagnostics that pass
    save(sm.forest(fit, favours=FAVOURS, title="MCMC, binomial-normal model"), "mcmc")
else:
    print("MCMC diagnostics gate failed: no figure (raise the draws)")

# %% comparison of tau priors and exact leave-one-out
comp = sm.compare_priors(bcg, ["halfnormal(0.5)", "halfcauchy(0.5)", "halfnormal(1.0)"], "RR")
save(sm.forest(comp, favours=FAVOURS, title="Three tau priors"), "prior-comparison")
loo = exact_leave_one_out(fx, tau_prior="halfnormal(0.5)")
save(
    sm.forest(loo, measure="RR", favours=FAVOURS, title="Exact leave-one-out"),
    "exact-leave-one-out",
)
