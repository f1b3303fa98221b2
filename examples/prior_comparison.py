# %% [markdown]
# # Comparing priors on tau
#
# The same two studies (PIP review, secure attachment, log risk ratio) under several tau
# priors, exact posteriors. For each prior the script prints what it says before the data
# (median and 95% quantile of tau, P(tau > 1)) and after (pooled RR with 95% credible
# interval, P(RR > 1), KL divergence prior -> posterior), and writes the table to
# ``$SPARSEMETA_OUTPUT/prior_comparison.csv`` (default folder ``sparsemeta-output``).
# ``SPARSEMETA_QUICK=1`` compares three priors instead of six.

# %%
import os
from pathlib import Path

import numpy as np
import pandas as pd

from sparsemeta import datasets, effects
from sparsemeta.bayes import exact, priors

QUICK = os.environ.get("SPARSEMETA_QUICK") == "1"
OUTPUT = Path(os.environ.get("SPARSEMETA_OUTPUT", "sparsemeta-output"))

CANDIDATES = [
    "halfnormal(0.5)",
    "halfnormal(1.0)",
    "halfcauchy(0.5)",
    'turner2015(outcome="mental health indicators", comparison="non-pharm vs placebo/control")',
    'bartos(measure="logRR")',
    "uniform_shrinkage",
]
if QUICK:
    CANDIDATES = CANDIDATES[:3]

# %%
pip = datasets.pip_barlow2015()
secure = pip[
    (pip["comparison"] == "PIP vs control") & (pip["outcome"] == "Infant attachment: secure")
]
fx = effects.effect_sizes(secure, "RR").to_frame()
se = fx["sei"].to_numpy()

rows = []
for text in CANDIDATES:
    prior = priors.parse(text)
    before = priors.describe(prior, scale="logRR", se=se)
    post = exact.posterior(fx["yi"], se, prior, labels=fx["study"])
    low, high = post.mu.interval(0.95)
    rows.append(
        {
            "prior": str(prior),
            "prior tau median": before.median,
            "prior tau q95": before.q95,
            "prior P(tau>1)": before.p_tau_gt_1,
            "RR": np.exp(post.mu.median),
            "CrI low": np.exp(low),
            "CrI high": np.exp(high),
            "P(RR>1)": post.prob("mu", ">", 0.0),
            "posterior tau median": post.tau.median,
            "KL": post.kl_tau(),
        }
    )
table = pd.DataFrame(rows)

# %%
with pd.option_context("display.width", 200, "display.max_colwidth", 40):
    print(table.round(3).to_string(index=False))
OUTPUT.mkdir(parents=True, exist_ok=True)
table.to_csv(OUTPUT / "prior_comparison.csv", index=False)
print(f"written: {OUTPUT / 'prior_comparison.csv'}")
