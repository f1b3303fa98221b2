"""The frequentist branch: inverse-variance, Mantel-Haenszel and Peto pooling, τ² estimators,
Hartung-Knapp intervals, prediction intervals and RevMan's recipe for whole outcomes.

Modules: ``estimators`` (numpy estimators), ``analysis`` (one analysis → ``MetaResult``),
``revman_recipe`` (RevMan 5's recipe for one outcome → ``RevManResult``), ``regression``
(meta-regression → ``MetaRegression``), ``influence`` (leave-one-out and influence
diagnostics)."""

from sparsemeta.frequentist.analysis import CI_METHODS, TAU2_METHODS, MetaResult, meta_analysis
from sparsemeta.frequentist.estimators import (
    Z975,
    fixed_iv,
    h_squared_tau2,
    hksj_se,
    i_squared,
    i_squared_tau2,
    mantel_haenszel,
    peto,
    prediction_interval,
    q_statistic,
    random_iv,
    tau2_dl,
    tau2_pm,
    tau2_qprofile_ci,
    tau2_reml,
    tau2_se,
    tau2_to_i2_ci,
    typical_variance,
)
from sparsemeta.frequentist.influence import Influence, LeaveOneOut, influence, leave_one_out
from sparsemeta.frequentist.regression import MetaRegression, design_matrix, meta_regression
from sparsemeta.frequentist.revman_recipe import (
    VERSION_RULES,
    RevManLevel,
    RevManResult,
    RevManSettings,
    SubgroupTest,
    revman,
)

__all__ = [
    "CI_METHODS",
    "TAU2_METHODS",
    "VERSION_RULES",
    "Z975",
    "Influence",
    "LeaveOneOut",
    "MetaRegression",
    "MetaResult",
    "RevManLevel",
    "RevManResult",
    "RevManSettings",
    "SubgroupTest",
    "design_matrix",
    "fixed_iv",
    "h_squared_tau2",
    "hksj_se",
    "i_squared",
    "i_squared_tau2",
    "influence",
    "leave_one_out",
    "mantel_haenszel",
    "meta_analysis",
    "meta_regression",
    "peto",
    "prediction_interval",
    "q_statistic",
    "random_iv",
    "revman",
    "tau2_dl",
    "tau2_pm",
    "tau2_qprofile_ci",
    "tau2_reml",
    "tau2_se",
    "tau2_to_i2_ci",
    "typical_variance",
]
