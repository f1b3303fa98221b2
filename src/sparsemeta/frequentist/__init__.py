"""The frequentist branch: inverse-variance, Mantel-Haenszel and Peto pooling, τ² estimators,
Hartung-Knapp intervals, prediction intervals and RevMan's recipe for whole outcomes.

Modules: ``estimators`` (numpy estimators), ``analysis`` (one analysis → ``MetaResult``),
``revman_recipe`` (RevMan 5's recipe for one outcome → ``RevManResult``)."""

from sparsemeta.frequentist.analysis import CI_METHODS, TAU2_METHODS, MetaResult, meta_analysis
from sparsemeta.frequentist.estimators import (
    Z975,
    fixed_iv,
    hksj_se,
    i_squared,
    mantel_haenszel,
    peto,
    prediction_interval,
    q_statistic,
    random_iv,
    tau2_dl,
    tau2_pm,
    tau2_qprofile_ci,
    tau2_reml,
)
from sparsemeta.frequentist.revman_recipe import (
    RevManLevel,
    RevManResult,
    RevManSettings,
    SubgroupTest,
    revman,
)

__all__ = [
    "CI_METHODS",
    "TAU2_METHODS",
    "Z975",
    "MetaResult",
    "RevManLevel",
    "RevManResult",
    "RevManSettings",
    "SubgroupTest",
    "fixed_iv",
    "hksj_se",
    "i_squared",
    "mantel_haenszel",
    "meta_analysis",
    "peto",
    "prediction_interval",
    "q_statistic",
    "random_iv",
    "revman",
    "tau2_dl",
    "tau2_pm",
    "tau2_qprofile_ci",
    "tau2_reml",
]
