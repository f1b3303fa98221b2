# %% [markdown]
# # Extending a sparsemeta model in your own PyMC code
#
# Builds the normal-normal model for a four-trial outcome of the bundled synthetic review,
# adds a covariate (adults vs children) through the model's ``location`` hook with
# ``pymc.do``, samples it with ``sparsemeta.bayes.sample.fit`` (diagnostics gate included) and prints
# the slope. Then shows two other extensions without sampling: an extra likelihood term and a
# Student-t likelihood around the same priors. ``SPARSEMETA_QUICK=1`` samples 2 chains of
# 500 draws instead of 4 chains of 2,000 (the gate may then warn, as it should).

# %%
import os
import warnings
from importlib import resources

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from sparsemeta import effects, io
from sparsemeta.bayes import models, sample
from sparsemeta.errors import DiagnosticsWarning

QUICK = os.environ.get("SPARSEMETA_QUICK") == "1"

review = io.read_revman(resources.files("sparsemeta") / "examples_data" / "synthetic_sparse.rm5")
failure = review.studies[review.studies["outcome"] == "Treatment failure"]
fx = effects.effect_sizes(failure, "OR").to_frame()
children = (failure["subgroup"] == "Children").to_numpy(dtype=float)

# %% Build, then add a covariate through the `location` hook
model = models.normal_normal(fx["yi"], fx["sei"], fx["study"], "halfnormal(0.5)", "normal(0, 2.82)")
with model:
    beta = pm.Normal("beta", 0.0, 1.0)
    x = pm.Data("children", children, dims="study")
regression = pm.do(model, {"location": model["mu"] + beta * x})
print(regression.str_repr())

# %% Sample (one seeded fit) and report the slope
settings = (
    {"draws": 500, "tune": 500, "chains": 2}
    if QUICK
    else {"draws": 2000, "tune": 1000, "chains": 4}
)
with warnings.catch_warnings():
    if QUICK:  # short runs are for smoke tests: a failed gate is expected there
        warnings.simplefilter("ignore", DiagnosticsWarning)
    result = sample.sample(regression, seed=1, **settings)
print(result)
beta_draws = result.idata.posterior["beta"].to_numpy().ravel()
low, high = np.quantile(beta_draws, [0.025, 0.975])
print(
    f"beta (children vs adults, log OR): median {np.median(beta_draws):.2f}, 95% CrI {low:.2f} to {high:.2f}"
)

# %% An extra likelihood term: an estimate reported only as log OR -0.4 (SE 0.6)
with model:
    pm.Normal(
        "abstract_obs", mu=model["mu"], sigma=pt.sqrt(0.6**2 + model["tau"] ** 2), observed=-0.4
    )
print("log-density terms at the initial point:", model.point_logps())

# %% A different likelihood around the same priors
info = models.model_info(model)
with pm.Model(coords={"study": fx["study"].tolist()}) as robust:
    tau = info.tau_prior.to_pymc("tau")
    mu = info.mu_prior.to_pymc("mu")
    sigma = pt.sqrt(fx["sei"].to_numpy() ** 2 + tau**2)
    pm.StudentT("y_obs", nu=4, mu=mu, sigma=sigma, observed=fx["yi"].to_numpy(), dims="study")
print(robust.str_repr())
