r"""PyMC models for random-effects meta-analysis (build only; :mod:`sparsemeta.bayes.sample` samples).

Every builder returns a plain :class:`pymc.Model` with ``coords={"study": labels}``; nothing
is sampled, so a researcher can add variables or likelihood terms before fitting. The data
enter as :func:`pymc.Data` containers, so one compiled model serves every analysis of the
same family (see :func:`sparsemeta.bayes.sample.sample`, which swaps the data of a cached compiled model).

Common names: ``mu`` (overall effect on the analysis scale), ``tau`` (between-study
standard deviation), ``theta`` (study effects, dims ``study``; in the normal-normal model
they are integrated out and drawn afterwards by :func:`sparsemeta.bayes.sample.sample`), ``theta_new``
(effect in a new study; always drawn afterwards). The priors are values from
:mod:`sparsemeta.bayes.priors` (or strings they parse); their ``to_pymc(name)`` creates ``tau``
and ``mu`` in the model. A prior left at ``None`` is the measure's default
(:data:`sparsemeta.measures.TABLE`); ``"flat"`` is the flat prior of mu.

===============  ===============================================  ======================
builder          likelihood                                       scale of mu, theta
===============  ===============================================  ======================
normal_normal    y_i ~ N(mu, se_i^2 + tau^2)                      that of y (log ratios)
binomial_normal  r_ci ~ Bin(n_ci, p_ci), r_ti ~ Bin(n_ti, p_ti),  log odds ratio
                 logit p_ti = alpha_i + theta_i / 2,
                 logit p_ci = alpha_i - theta_i / 2 (default)
binomial_rr      as above with p_ti = p_ci exp(theta_i) <= 1      log risk ratio
arm_normal       ybar_ci ~ N(alpha_i, s_ci^2 / n_ci),             mean difference
                 ybar_ti ~ N(alpha_i + theta_i, s_ti^2 / n_ti)
===============  ===============================================  ======================

References
----------
Smith TC, Spiegelhalter DJ, Thomas A (1995). Bayesian approaches to random-effects
meta-analysis: a comparative study. *Stat Med* 14(24):2685-2699.

Günhan BK, Röver C, Friede T (2020). Random-effects meta-analysis of few studies involving
rare events. *Res Synth Methods* 11(1):74-90.

Warn DE, Thompson SG, Spiegelhalter DJ (2002). Bayesian random effects meta-analysis of
trials with binary outcomes: methods for the absolute risk difference and relative risk
scales. *Stat Med* 21(11):1601-1623.

Röver C (2020). Bayesian random-effects meta-analysis using the bayesmeta R package.
*J Stat Softw* 93(6):1-51.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from numpy.typing import ArrayLike, NDArray
from pymc.distributions.transforms import Transform

from sparsemeta.bayes import priors
from sparsemeta.bayes.inputs import (
    ARMS,
    BASELINE_SD,
    binomial_counts,
    check_finite,
    check_positive,
    float_arrays,
    study_labels,
    warn_single,
)
from sparsemeta.bayes.priors import MuPriorLike, TauPriorLike
from sparsemeta.bayes.priors.tau import Exponential, HalfNormal
from sparsemeta.effects import Effects, as_effects
from sparsemeta.errors import DataError, PriorError

if TYPE_CHECKING:
    from sparsemeta.bayes.priors import MuPrior, TauPrior

__all__ = [
    "ARMS",
    "BASELINE_SD",
    "FAMILIES",
    "ModelInfo",
    "VarNames",
    "arm_normal",
    "binomial_normal",
    "binomial_rr",
    "is_extended",
    "model_info",
    "model_name",
    "normal_normal",
]

#: model family names, as used by :func:`sparsemeta.bayes.sample.sample` and ``sparsemeta fit --model``
FAMILIES: tuple[str, ...] = ("normal-normal", "binomial-normal", "binomial-rr", "arm-normal")

_INFO_ATTR = "sparsemeta_info"


@dataclass(frozen=True)
class ModelInfo:
    """What a builder put into a model: family, priors and data (attached to the model).

    Attributes
    ----------
    family : str
        One of :data:`FAMILIES`.
    labels : tuple of str
        Study labels (the ``study`` coordinate).
    tau_prior, mu_prior
        The prior values (``mu_prior`` is ``None`` for the flat prior).
    data : dict of str to ndarray
        The arrays held in the model's :func:`pymc.Data` containers, by container name.
    observed : tuple of str
        Names of the containers that are observed data (the rest are constants).
    options : dict
        Builder options that change the model graph (e.g. ``parameterization``).
    variables : tuple of str
        Names of the variables the builder created (as PyMC names them, with the model's
        name); a model with more (extended by the user) is no longer the builder's model,
        so it has no exact counterpart.
    name : str
        The model's name (:func:`model_name`; ``""`` for an unnamed model).
    """

    family: str
    labels: tuple[str, ...]
    tau_prior: TauPrior | None
    mu_prior: MuPrior | None
    data: dict[str, NDArray[Any]] = field(repr=False)
    observed: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    variables: tuple[str, ...] = ()
    name: str = ""

    @property
    def k(self) -> int:
        """Number of studies."""
        return len(self.labels)


def model_info(model: pm.Model) -> ModelInfo | None:
    """The :class:`ModelInfo` a builder attached to ``model`` (``None`` for other models)."""
    return getattr(model, _INFO_ATTR, None)


def model_name(model: pm.Model) -> str:
    """The name PyMC puts before the model's variable names (``"m"`` for ``m::mu``).

    The model's own prefix (``pm.Model(name="m")``, nested names joined by ``::``); for a
    model that has lost its name but not its variables' (:func:`pymc.do` returns an
    unnamed copy), the ``::``-separated prefix shared by every variable; ``""`` for none.
    """
    if model.prefix:
        return str(model.prefix)
    parts = [name.split("::")[:-1] for name in model.named_vars]
    if not parts:
        return ""
    common = parts[0]
    for other in parts[1:]:
        n = 0
        while n < min(len(common), len(other)) and common[n] == other[n]:
            n += 1
        common = common[:n]
    return "::".join(common)


@dataclass(frozen=True)
class VarNames:
    """Variable names of a (possibly named) model: the one place that adds or strips the
    model's name. PyMC names variable ``mu`` of a model named ``m`` ``m::mu``;
    :mod:`sparsemeta.bayes.sample` works with the plain names (``mu``).

    Attributes
    ----------
    model : str
        The model's name (:func:`model_name`), ``""`` for an unnamed model.
    """

    model: str = ""

    @classmethod
    def of(cls, model: pm.Model) -> VarNames:
        """The names of ``model``'s variables."""
        return cls(model_name(model))

    def full(self, name: str) -> str:
        """The model's name for plain ``name``: ``mu`` -> ``m::mu``."""
        return f"{self.model}::{name}" if self.model else name

    def plain(self, name: str) -> str:
        """The plain name of one of the model's names: ``m::mu`` -> ``mu`` (others unchanged)."""
        head = f"{self.model}::"
        return name[len(head) :] if self.model and name.startswith(head) else name


def _tau_prior(tau_prior: TauPriorLike, measure: str) -> Any:
    """The tau prior (:func:`sparsemeta.bayes.priors.tau_prior`), which needs a PyMC form."""
    tau_prior = priors.tau_prior(tau_prior, measure)
    if not callable(getattr(tau_prior, "to_pymc", None)):
        raise PriorError(f"tau prior {tau_prior!r} has no PyMC form (to_pymc)")
    return tau_prior


def _mu_prior(mu_prior: MuPriorLike, measure: str) -> Any:
    """The mu prior (:func:`sparsemeta.bayes.priors.mu_prior`); ``None`` for flat."""
    mu_prior = priors.mu_prior(mu_prior, measure)
    if getattr(mu_prior, "name", None) == "flat":
        return None
    if not callable(getattr(mu_prior, "to_pymc", None)):
        raise PriorError(f"mu prior {mu_prior!r} has no PyMC form (to_pymc)")
    return mu_prior


#: tau priors sampled on the softplus scale (see :func:`_tau_rv`)
SOFTPLUS_TAU: tuple[type, ...] = (HalfNormal, Exponential)

#: standard deviation of the proper stand-in for a flat variable (see :func:`_flat`)
FLAT_STAND_IN_SD: float = 10.0


def _flat(
    name: str,
    dims: str | None = None,
    standardises: tuple[Any, Any, MuPrior | None] | None = None,
) -> Any:
    r"""A variable with a flat (improper) density that still allows prior predictive draws.

    Its log density is 0, as for ``pm.Flat`` (same initial point 0, same model log density and
    gradient, so same posterior draws for a seed); unlike ``pm.Flat`` it can be drawn from:
    :func:`pymc.sample_prior_predictive` draws it from :math:`N(0, s^2)` with :math:`s` =
    ``FLAT_STAND_IN_SD``, a proper stand-in that lets prior predictive checks run, not the
    (improper) prior itself.

    ``standardises = (centre, scale, prior)`` is for a standardised variable :math:`z` of
    :math:`\mu = c + s z` (:func:`_add_mu_tau`; ``centre`` and ``scale`` may depend on tau):
    its prior predictive draws are :math:`(m - c)/s` with :math:`m` drawn from ``prior``
    (the stand-in above when ``None``, i.e. flat), so the draws of mu are draws from mu's
    prior. Prior predictive sampling ignores potentials, so ``theta`` in the conditional
    form (:func:`_study_effects`) is still not drawn from its prior.
    """
    mean, sd = (0.0, FLAT_STAND_IN_SD)
    if standardises is None:

        def draw(rng: np.random.Generator | None = None, size: Any = None) -> NDArray[np.float64]:
            return np.random.default_rng(rng).normal(mean, sd, size)

        return pm.CustomDist(name, logp=lambda value: pt.zeros_like(value), random=draw, dims=dims)
    centre, scale, prior = standardises
    if prior is not None:
        mean, sd = prior.mean, prior.sd

    def draw_z(
        c: NDArray[np.float64],
        s: NDArray[np.float64],
        rng: np.random.Generator | None = None,
        size: Any = None,
    ) -> NDArray[np.float64]:
        return (np.random.default_rng(rng).normal(mean, sd, size) - c) / s

    return pm.CustomDist(
        name,
        centre,
        scale,
        logp=lambda value, c, s: pt.zeros_like(value),
        random=draw_z,
        dims=dims,
    )


def _add_mu_tau(
    tau_prior: TauPriorLike,
    mu_prior: MuPriorLike,
    se: NDArray[np.float64] | None,
    reference: tuple[Any, Any] | None = None,
) -> tuple[Any, Any]:
    r"""Create ``tau`` and ``mu`` in the current model; ``se`` goes to priors that need it.

    With ``reference`` :math:`(\hat y_i, v_i)`, effects and variances whose normal
    likelihood is (or approximates) the studies' likelihood of :math:`\theta_i`, mu is
    sampled standardised by its conditional posterior given tau under that normal
    likelihood (Röver 2020, Eq. 10-12): with :math:`w_i = 1/(v_i + \tau^2)`,
    :math:`V = 1/(\sum_i w_i + s_0^{-2})` and :math:`\hat\mu = V(\sum_i w_i \hat y_i +
    m_0 s_0^{-2})` (:math:`s_0^{-2} = 0` for a flat prior), the free variable is ``mu_z``
    with :math:`\mu = \hat\mu(\tau) + \sqrt{V(\tau)}\,\mu_z`, the Jacobian
    :math:`\tfrac12\log V(\tau)` and the normal prior of mu enter as potentials, and
    ``mu`` is deterministic. The model is unchanged (a change of variables); the funnel
    between mu and tau (mu's posterior width growing with tau, sharpest at k = 2) is taken
    out, exactly when the reference likelihood is the model's (normal-normal) and
    approximately otherwise. Without ``reference`` mu is a free variable with its prior.
    """
    tau = _tau_rv(tau_prior, se)
    if reference is None:
        return (_flat("mu") if mu_prior is None else mu_prior.to_pymc("mu")), tau
    return _standardised_mu(mu_prior, *reference, tau), tau


def _standardised_mu(
    mu_prior: MuPrior | None, effect: Any, var: Any, tau: Any, groups: Any = None
) -> Any:
    """Create the standardised ``mu_z``, the deterministic ``mu`` and their potentials (see
    :func:`_add_mu_tau`); ``tau`` may be per study. ``groups``: a study-by-subgroup
    indicator matrix, for one mu per subgroup (dims ``subgroup``, sums taken per column)."""
    w = 1.0 / (var + tau**2)
    if groups is None:
        precision, weighted, dims = w.sum(), (w * effect).sum(), None
    else:
        precision, weighted, dims = pt.dot(groups.T, w), pt.dot(groups.T, w * effect), "subgroup"
    if mu_prior is not None:
        precision = precision + 1.0 / mu_prior.sd**2
        weighted = weighted + mu_prior.mean / mu_prior.sd**2
    var_mu = 1.0 / precision
    centre, scale = weighted * var_mu, pt.sqrt(var_mu)
    mu_z = _flat("mu_z", dims=dims, standardises=(centre, scale, mu_prior))
    mu = pm.Deterministic("mu", centre + scale * mu_z, dims=dims)
    jacobian = 0.5 * pt.log(var_mu)
    pm.Potential("mu_jacobian", jacobian if groups is None else jacobian.sum())
    if mu_prior is not None:
        prior = -0.5 * ((mu - mu_prior.mean) / mu_prior.sd) ** 2
        pm.Potential("mu_prior", prior if groups is None else prior.sum())
    return mu


class SoftplusTransform(Transform):
    r"""The unconstrained value ``u`` of tau, :math:`\tau = c\,\log(1 + e^u)` (c > 0).

    Inverse :math:`u = \log(e^{\tau/c} - 1)`, log Jacobian
    :math:`\log c - \log(1 + e^{-u})`. Below c it behaves like the log transform
    (:math:`\tau \approx c e^u`), above c like the identity (:math:`\tau \approx cu`).
    """

    name = "softplus"

    def __init__(self, scale: float) -> None:
        self.scale = float(scale)

    def backward(self, value: Any, *inputs: Any) -> Any:
        return self.scale * pt.softplus(value)

    def forward(self, value: Any, *inputs: Any) -> Any:
        x = value / self.scale
        return x + pt.log(-pt.expm1(-x))

    def log_jac_det(self, value: Any, *inputs: Any) -> Any:
        return math.log(self.scale) - pt.softplus(-value)


def _tau_rv(tau_p: Any, se: NDArray[np.float64] | None, **kwargs: Any) -> Any:
    """Create ``tau`` in the current model (``se`` goes to priors that need it).

    Priors with a light right tail are sampled on the :class:`SoftplusTransform` scale with
    c their median (see :data:`SOFTPLUS_TAU`); the others keep their PyMC transform.
    """
    if getattr(tau_p, "requires_se", False):
        if se is None:
            raise PriorError(
                f"tau prior {tau_p} depends on the study standard errors; use it with "
                "the normal-normal model"
            )
        kwargs["se"] = se
    base = getattr(tau_p, "base", tau_p)
    if isinstance(base, SOFTPLUS_TAU):
        kwargs.update(transform=SoftplusTransform(tau_p.median()), default_transform=None)
    return tau_p.to_pymc("tau", **kwargs)


PARAMETERIZATIONS: tuple[str, ...] = ("conditional", "non-centred", "centred")


def _study_effects(
    mu: Any, tau: Any, parameterization: str, ref_effect: Any = None, ref_var: Any = None
) -> Any:
    r"""Create ``theta`` (dims ``study``) with theta_i ~ N(mu, tau^2) in the current model.

    ``"centred"`` samples theta_i; ``"non-centred"`` samples z_i ~ N(0, 1) with
    theta_i = mu + tau z_i; ``"conditional"`` samples z_i with

    .. math::

        \theta_i = b_i\mu + (1 - b_i)\hat y_i + \sqrt{(1 - b_i) v_i}\, z_i,\qquad
        b_i = v_i / (v_i + \tau^2),

    where :math:`\hat y_i, v_i` are a rough normal approximation of study i's likelihood
    (``ref_effect``, ``ref_var``). That is the conditional posterior of theta_i under the
    approximation, so z_i is close to N(0, 1) whether tau is small or large: non-centred for
    uninformative studies, centred for informative ones. It is only a change of variables:
    the prior N(mu, tau^2) of theta_i and the Jacobian enter as a potential, so the model
    (with its exact likelihood) is unchanged whatever the approximation.
    """
    if parameterization == "centred":
        return pm.Normal("theta", mu=mu, sigma=tau, dims="study")
    if parameterization == "non-centred":
        z = pm.Normal("z", 0.0, 1.0, dims="study")
        return pm.Deterministic("theta", mu + tau * z, dims="study")
    b = ref_var / (ref_var + tau**2)
    scale = pt.sqrt((1.0 - b) * ref_var)
    z = _flat("z", dims="study")
    theta = pm.Deterministic("theta", b * mu + (1.0 - b) * ref_effect + scale * z, dims="study")
    prior = pm.logp(pm.Normal.dist(mu, tau), theta)
    pm.Potential("theta_prior", (prior + pt.log(scale)).sum())
    return theta


def _check_parameterization(parameterization: str) -> None:
    if parameterization not in PARAMETERIZATIONS:
        raise DataError(
            f"parameterization {parameterization!r}: use one of {list(PARAMETERIZATIONS)}"
        )


def _reference(counts: dict[str, NDArray[np.int64]], scale: str) -> dict[str, NDArray[np.float64]]:
    """Normal approximation of each study's log OR / log RR likelihood (0.5 added to every
    cell): used only to choose the change of variables of ``theta``, never as data."""
    a, c = counts["events_t"] + 0.5, counts["events_c"] + 0.5
    n1, n2 = counts["n_t"] + 1.0, counts["n_c"] + 1.0
    if scale == "OR":
        b, d = n1 - a, n2 - c
        return {"ref_effect": np.log(a * d / (b * c)), "ref_var": 1 / a + 1 / b + 1 / c + 1 / d}
    return {
        "ref_effect": np.log(a / n1) - np.log(c / n2),
        "ref_var": 1 / a - 1 / n1 + 1 / c - 1 / n2,
    }


_BEFORE_ATTR = "_sparsemeta_before"


@contextmanager
def _model(coords: dict[str, Any]) -> Iterator[pm.Model]:
    """The model a builder fills: a new one, or, when the builder is called inside a
    ``with pm.Model(...)`` block, that model (its variables then carry its name, e.g.
    ``m::mu``, as any variable created in the block would)."""
    parent = pm.Model.get_context(error_if_none=False)
    if parent is None:
        with pm.Model(coords=coords) as model:
            setattr(model, _BEFORE_ATTR, frozenset())
            yield model
        return
    parent.add_coords(coords)
    setattr(parent, _BEFORE_ATTR, frozenset(parent.named_vars))
    yield parent


def _attach(model: pm.Model, info: ModelInfo) -> pm.Model:
    """Attach ``info`` (with the builder's variables and the model's name) to ``model``."""
    before = getattr(model, _BEFORE_ATTR, frozenset())
    if hasattr(model, _BEFORE_ATTR):
        delattr(model, _BEFORE_ATTR)
    own = tuple(name for name in model.named_vars if name not in before)
    setattr(model, _INFO_ATTR, replace(info, variables=own, name=model_name(model)))
    return model


@dataclass(frozen=True)
class _Covariates:
    """A checked covariate matrix (k x p, no intercept column) and its column names."""

    X: NDArray[np.float64]
    names: tuple[str, ...]

    @property
    def coords(self) -> dict[str, list[str]]:
        return {"covariate": list(self.names)}

    @property
    def options(self) -> dict[str, Any]:
        return {"covariates": self.names}


def _covariates(
    covariates: ArrayLike | None, names: Sequence[str] | None, labels: list[str]
) -> _Covariates | None:
    """Check a covariate matrix (one row per study, no intercept column)."""
    if covariates is None:
        return None
    try:
        X = np.asarray(covariates, dtype=float)
    except (TypeError, ValueError):
        raise DataError("covariates: every entry must be a number") from None
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] != len(labels) or X.shape[1] == 0:
        raise DataError(
            f"covariates: expected a ({len(labels)}, p) matrix, one row per study, got {X.shape}"
        )
    bad = ~np.isfinite(X)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DataError(f"study {labels[i]!r}: covariate {j + 1} is not finite ({X[i, j]})")
    if names is None:
        names = [f"x{j + 1}" for j in range(X.shape[1])]
    names = tuple(str(n) for n in names)
    if len(names) != X.shape[1] or len(set(names)) != len(names) or "intercept" in names:
        raise DataError(
            f"covariates: need {X.shape[1]} distinct names (not 'intercept'), got {names}"
        )
    if np.linalg.matrix_rank(np.column_stack([np.ones(len(labels)), X])) < X.shape[1] + 1:
        raise DataError(
            "covariates: the columns (with the intercept) are linearly dependent; drop one"
        )
    return _Covariates(X, names)


def _location(mu: Any, cov: _Covariates | None) -> Any:
    """``mu`` or, with covariates, ``mu + X beta`` with flat coefficients ``beta``."""
    if cov is None:
        return mu
    X = pm.Data("X", cov.X, dims=("study", "covariate"))
    beta = _flat("beta", dims="covariate")
    return mu + pt.dot(X, beta)


def is_extended(model: pm.Model) -> bool:
    """True when ``model`` has variables its builder did not create (the user added them)."""
    info = model_info(model)
    return info is None or set(model.named_vars) != set(info.variables)


# ----------------------------------------------------------------------------- builders


def normal_normal(
    y: ArrayLike | Effects | pd.DataFrame,
    se: ArrayLike | None = None,
    labels: Sequence[Any] | None = None,
    tau_prior: TauPriorLike = None,
    mu_prior: MuPriorLike = None,
    *,
    measure: str | None = None,
    covariates: ArrayLike | None = None,
    covariate_names: Sequence[str] | None = None,
    subgroups: Sequence[Any] | None = None,
) -> pm.Model:
    r"""Normal-normal hierarchical model with the study effects integrated out.

    .. math::

        y_i \mid \theta_i \sim N(\theta_i, \sigma_i^2),\quad
        \theta_i \mid \mu, \tau \sim N(\mu, \tau^2)
        \;\Longrightarrow\;
        y_i \mid \mu, \tau \sim N(\mu, \sigma_i^2 + \tau^2)

    (Röver 2020, Sec. 2), with ``mu ~ N(m_0, s_0^2)`` or flat. Only ``tau`` and a
    standardised ``mu`` are sampled. Given tau, mu is normal,
    :math:`\mu \mid \tau, y \sim N(\hat\mu(\tau), V(\tau))` with
    :math:`w_i = 1/(\sigma_i^2 + \tau^2)`, :math:`V = 1/(\sum_i w_i + s_0^{-2})` and
    :math:`\hat\mu = V(\sum_i w_i y_i + m_0 s_0^{-2})` (:math:`s_0^{-2} = 0` when flat;
    Röver 2020, Eq. 10-12), so the model samples :math:`\mu_z` with
    :math:`\mu = \hat\mu(\tau) + \sqrt{V(\tau)}\,\mu_z` and adds the Jacobian
    :math:`\tfrac12\log V(\tau)`. The joint density is unchanged, but :math:`\mu_z` is
    a standard normal independent of tau a posteriori: the funnel between mu and tau that
    makes the direct parameterisation diverge at k = 2 is gone. The shrunken study effects
    and the new-study effect are drawn afterwards by :func:`sparsemeta.bayes.sample.sample` from their
    exact conditionals, draw by draw:

    .. math::

        \theta_i \mid \mu, \tau, y \sim N\big(b_i\mu + (1 - b_i) y_i,\; (1 - b_i)\sigma_i^2\big),
        \quad b_i = \frac{\sigma_i^2}{\sigma_i^2 + \tau^2};\qquad
        \theta_\mathrm{new} \mid \mu, \tau \sim N(\mu, \tau^2).

    Parameters
    ----------
    y : Effects, pandas.DataFrame or array_like
        The studies (:func:`sparsemeta.effects.as_effects`): an ``Effects`` value, a study
        table of one analysis (with ``measure``), or effects on the analysis scale (log for
        ratio measures) with ``se`` (finite, se > 0, same length k >= 1; k = 1 warns).
    se : array_like, optional
        Standard errors of array effects.
    labels : sequence of str or None
        Study labels of array effects (the ``study`` coordinate); ``None`` gives
        ``"study 1"``, ...
    tau_prior : TauPrior, str or None
        Prior of tau (see :mod:`sparsemeta.bayes.priors`); priors that depend on the standard
        errors receive ``se``. ``None``: the measure's default (arrays are GENERIC, which
        has none).
    mu_prior : MuPrior, str or None
        Normal prior of mu (a value with ``mean`` and ``sd``) or ``"flat"``; ``None``: the
        measure's default (flat for arrays).
    measure : str, optional
        Measure of a study table, or label of array effects.
    covariates : array_like, shape (k, p), optional
        Default: the covariates an ``Effects`` value carries (``X``). Meta-regression
        (Röver & Friede 2023): :math:`\theta_i \sim N(\mu + x_i'\beta,
        \tau^2)`, mu the intercept (the effect where every covariate is 0), flat priors on
        the coefficients ``beta`` (dims ``covariate``). Given tau the coefficient vector
        :math:`c = (\mu, \beta)` is normal, :math:`N(\hat c, P^{-1})` with
        :math:`P = \tilde X'W\tilde X + \Lambda_0` (:math:`\tilde X = [1, X]`,
        :math:`\Lambda_0` the prior precisions), so the model samples a standardised
        ``coef_z`` with :math:`c = \hat c + L^{-T} z` (:math:`P = LL'`) and adds the
        Jacobian :math:`-\sum_j \log L_{jj}`: the multivariate form of the mu
        standardisation above.
    covariate_names : sequence of str, optional
        Names of the covariate columns (default ``x1, x2, ...``).
    subgroups : sequence, optional
        Subgroup of each study: separate ``mu`` and ``tau`` per subgroup (dims
        ``subgroup``, levels in order of appearance, the same priors in each), i.e.
        independent meta-analyses fitted together; the mu standardisation is applied per
        subgroup. Not combined with ``covariates`` (for subgroups sharing one tau use
        indicator covariates).

    Returns
    -------
    pymc.Model
        Data containers ``y`` and ``se`` (and ``X`` with covariates, ``G`` the study-by-
        subgroup indicator matrix with subgroups) (dims ``study``; swap them with
        :func:`pymc.set_data`, any k); free variables ``mu_z`` and ``tau``; deterministic
        ``mu``; the deterministic ``location`` (the mean of :math:`\theta_i`, ``mu`` for
        every study); observed ``y_obs``. ``location`` is the hook for extensions: after
        adding a covariate ``x`` and a slope ``beta`` to the model,
        ``pymc.do(model, {"location": model["mu"] + beta * x})`` gives the meta-regression
        :math:`\theta_i \sim N(\mu + \beta x_i, \tau^2)` (the standardisation of mu stays a
        valid change of variables there, merely no longer an exact one). The compiled model
        does not depend on k, so :func:`sparsemeta.bayes.sample.sample` reuses one compilation for every
        normal-normal analysis with the same priors.

    Raises
    ------
    DataError
        Mismatched lengths, non-finite values, se <= 0, repeated labels.
    PriorError
        A tau prior without a PyMC form, or a mu prior that is neither normal nor flat.
    """
    eff = as_effects(y, measure, se=se, labels=labels, where="normal_normal").require(
        "normal_normal"
    )
    arrays = {"y": eff.y, "se": eff.se}
    labs = list(eff.studies)
    warn_single(labs)
    tau_p = _tau_prior(tau_prior, eff.measure.code)
    mu_p = _mu_prior(mu_prior, eff.measure.code)
    if mu_p is not None and not all(hasattr(mu_p, a) for a in ("mean", "sd")):
        raise PriorError(f"mu prior {mu_p}: the normal-normal model takes a normal or flat prior")
    if covariates is None and eff.X is not None:  # the covariates the Effects value carries
        covariates, covariate_names = eff.X, eff.covariate_names
    cov = _covariates(covariates, covariate_names, labs)
    if cov is not None and subgroups is not None:
        raise DataError("normal_normal: give covariates or subgroups, not both")
    if cov is not None:
        return _normal_regression(arrays, labs, tau_p, mu_p, cov)
    if subgroups is not None:
        return _normal_subgroups(arrays, labs, tau_p, mu_p, subgroups)
    with _model(coords={"study": labs}) as model:
        y_data = pm.Data("y", arrays["y"], dims="study")
        se_data = pm.Data("se", arrays["se"], dims="study")
        mu, tau = _add_mu_tau(tau_p, mu_p, arrays["se"], (y_data, se_data**2))
        location = pm.Deterministic("location", mu + pt.zeros_like(y_data), dims="study")
        _normal_obs(location, se_data, tau, y_data)
    info = ModelInfo("normal-normal", tuple(labs), tau_p, mu_p, arrays, ("y",))
    return _attach(model, info)


def _normal_obs(location: Any, se: Any, tau: Any, y: Any) -> Any:
    """The marginal likelihood ``y_obs``: y_i ~ N(location_i, se_i^2 + tau_i^2)."""
    return pm.Normal("y_obs", mu=location, sigma=pt.sqrt(se**2 + tau**2), observed=y, dims="study")


def _normal_subgroups(
    arrays: dict[str, NDArray[np.float64]],
    labs: list[str],
    tau_p: Any,
    mu_p: Any,
    subgroups: Sequence[Any],
) -> pm.Model:
    """The normal-normal model with separate mu and tau per subgroup (see ``subgroups``)."""
    values = [str(g) for g in subgroups]
    if len(values) != len(labs):
        raise DataError(f"subgroups: {len(values)} values for {len(labs)} studies")
    for lab, g in zip(labs, values, strict=True):
        if g in ("", "nan", "None"):
            raise DataError(f"study {lab!r}: subgroup is missing")
    levels = list(dict.fromkeys(values))
    G = np.array([[float(v == lev) for lev in levels] for v in values])
    with _model(coords={"study": labs, "subgroup": levels}) as model:
        y_data = pm.Data("y", arrays["y"], dims="study")
        se_data = pm.Data("se", arrays["se"], dims="study")
        g_data = pm.Data("G", G, dims=("study", "subgroup"))
        if getattr(tau_p, "requires_se", False):
            raise PriorError(f"tau prior {tau_p} depends on the standard errors; not per subgroup")
        tau = _tau_rv(tau_p, None, dims="subgroup")
        tau_study = pt.dot(g_data, tau)
        mu = _standardised_mu(mu_p, y_data, se_data**2, tau_study, g_data)
        location = pm.Deterministic("location", pt.dot(g_data, mu), dims="study")
        _normal_obs(location, se_data, tau_study, y_data)
    data = {**arrays, "G": G}
    options = {"subgroups": tuple(levels)}
    info = ModelInfo("normal-normal", tuple(labs), tau_p, mu_p, data, ("y",), options)
    return _attach(model, info)


def _normal_regression(
    arrays: dict[str, NDArray[np.float64]],
    labs: list[str],
    tau_p: Any,
    mu_p: Any,
    cov: _Covariates,
) -> pm.Model:
    """The normal-normal meta-regression of :func:`normal_normal` (see ``covariates``)."""
    from pytensor.tensor import slinalg

    p = len(cov.names) + 1
    lam0 = np.zeros(p)
    m0 = np.zeros(p)
    if mu_p is not None:
        lam0[0], m0[0] = 1.0 / mu_p.sd**2, mu_p.mean
    coords = {"study": labs, "coefficient": ["intercept", *cov.names], **cov.coords}
    with _model(coords=coords) as model:
        y_data = pm.Data("y", arrays["y"], dims="study")
        se_data = pm.Data("se", arrays["se"], dims="study")
        X = pm.Data("X", cov.X, dims=("study", "covariate"))
        tau = _tau_rv(tau_p, arrays["se"])
        design = pt.concatenate([pt.ones_like(y_data)[:, None], X], axis=1)
        w = 1.0 / (se_data**2 + tau**2)
        precision = pt.dot(design.T, w[:, None] * design) + np.diag(lam0)
        chol = slinalg.cholesky(precision)
        rhs = pt.dot(design.T, w * y_data) + lam0 * m0
        half = slinalg.solve_triangular(chol, rhs, lower=True)
        centre = slinalg.solve_triangular(chol.T, half, lower=False)
        coef_z = _flat("coef_z", dims="coefficient")
        coef = centre + slinalg.solve_triangular(chol.T, coef_z, lower=False)
        pm.Potential("coef_jacobian", -pt.log(pt.diag(chol)).sum())
        mu = pm.Deterministic("mu", coef[0])
        pm.Deterministic("beta", coef[1:], dims="covariate")
        if mu_p is not None:
            pm.Potential("mu_prior", -0.5 * ((mu - mu_p.mean) / mu_p.sd) ** 2)
        location = pm.Deterministic("location", pt.dot(design, coef), dims="study")
        _normal_obs(location, se_data, tau, y_data)
    data = {**arrays, "X": cov.X}
    info = ModelInfo("normal-normal", tuple(labs), tau_p, mu_p, data, ("y",), cov.options)
    return _attach(model, info)


def binomial_normal(
    events_t: ArrayLike,
    n_t: ArrayLike,
    events_c: ArrayLike,
    n_c: ArrayLike,
    labels: Sequence[Any] | None,
    tau_prior: TauPriorLike = None,
    mu_prior: MuPriorLike = None,
    *,
    baseline_sd: float = BASELINE_SD,
    parameterization: str = "conditional",
    arms: str = "symmetric",
    covariates: ArrayLike | None = None,
    covariate_names: Sequence[str] | None = None,
) -> pm.Model:
    r"""Binomial-normal hierarchical model on the log odds ratio (arm-level counts).

    .. math::

        r_{ci} \sim \mathrm{Bin}(n_{ci}, p_{ci}),\quad
        r_{ti} \sim \mathrm{Bin}(n_{ti}, p_{ti}),\quad
        \theta_i \sim N(\mu, \tau^2),\quad
        \alpha_i \sim N(0, \mathtt{baseline\_sd}^2),

    with, by default (``arms="symmetric"``; the logit-normal model (6) of Agresti & Hartzel
    2000, *Stat Med* 19(8):1115-1139, one of the models compared by Jackson et al. 2018,
    *Stat Med* 37(7):1059-1085),

    .. math::

        \mathrm{logit}\,p_{ti} = \alpha_i + \theta_i / 2,\qquad
        \mathrm{logit}\,p_{ci} = \alpha_i - \theta_i / 2,

    or (``arms="comparator"``; Smith, Spiegelhalter & Thomas 1995, MetaStan's
    ``param = "Smith"``) :math:`\mathrm{logit}\,p_{ci} = \alpha_i`,
    :math:`\mathrm{logit}\,p_{ti} = \alpha_i + \theta_i`. The symmetric form treats the
    arms alike: swapping them negates every theta_i, mu and theta_new exactly, and a study
    with no events in two arms of equal size has a likelihood symmetric in theta_i. With the
    comparator form the prior on alpha_i is a prior on the comparator risk only, so a
    double-zero study's likelihood favours effects that lower the treatment risk and the
    answer depends on which arm is called "treatment" (docs/formulas.md, "Binomial models").
    The exact binomial likelihood needs no continuity correction: zero-event arms and
    double-zero studies are kept.

    Parameters
    ----------
    events_t, n_t, events_c, n_c : array_like
        Events and arm sizes, experimental (t) and comparator (c) arm; non-negative
        integers, events <= n, n > 0.
    labels, tau_prior, mu_prior
        As in :func:`normal_normal`; mu is the mean log odds ratio. Priors that depend on
        standard errors are not available here.
    baseline_sd : float
        Prior SD of the baseline log odds alpha_i (default :data:`BASELINE_SD` = sqrt(10),
        variance 10; MetaStan's default is SD 10, see :data:`BASELINE_SD`).
    parameterization : {"conditional", "non-centred", "centred"}
        How theta is sampled (the model is the same): ``"conditional"`` (default) samples
        the standardised deviation of theta_i from its approximate conditional posterior,
        which behaves like the non-centred form for sparse studies and like the centred
        form for large ones, and was the only one of the three without divergences on
        both the sparse PIP examples and large-arm data at k = 2 (see ``_study_effects``).
    arms : {"symmetric", "comparator"}
        Arm parameterisation (see above and :data:`ARMS`).

    covariates : array_like, shape (k, p), optional
        Meta-regression: :math:`\theta_i \sim N(\mu + x_i'\beta, \tau^2)` with flat
        priors on ``beta`` (dims ``covariate``); mu is the effect where every covariate is
        0 (also in :func:`binomial_rr` and :func:`arm_normal`).
    covariate_names : sequence of str, optional
        Covariate names (default ``x1, x2, ...``).
    Returns
    -------
    pymc.Model
        Data ``events_t, n_t, events_c, n_c`` and ``ref_effect, ref_var`` (the normal
        approximation that shapes the changes of variables); free ``mu_z, tau, baseline``
        (alpha_i) and ``z`` (or ``theta`` when centred); deterministic ``mu`` (standardised
        by the reference as in :func:`normal_normal`; a free ``mu`` with covariates) and
        ``theta``; observed ``events_t_obs, events_c_obs``.
    """
    counts, labs = binomial_counts(events_t, n_t, events_c, n_c, labels)
    if not (math.isfinite(baseline_sd) and baseline_sd > 0):
        raise PriorError(f"baseline_sd must be finite and > 0, got {baseline_sd!r}")
    _check_parameterization(parameterization)
    if arms not in ARMS:
        raise DataError(f"arms {arms!r}: use one of {list(ARMS)}")
    tau_p, mu_p = _tau_prior(tau_prior, "OR"), _mu_prior(mu_prior, "OR")
    held = {**counts, **_reference(counts, "OR")}
    cov = _covariates(covariates, covariate_names, labs)
    with _model(coords={"study": labs, **(cov.coords if cov else {})}) as model:
        data = {name: pm.Data(name, arr, dims="study") for name, arr in held.items()}
        reference = None if cov else (data["ref_effect"], data["ref_var"])
        mu, tau = _add_mu_tau(tau_p, mu_p, None, reference)
        alpha = pm.Normal("baseline", 0.0, baseline_sd, dims="study")
        location = _location(mu, cov)
        theta = _study_effects(location, tau, parameterization, data["ref_effect"], data["ref_var"])
        shift = 0.5 if arms == "symmetric" else 0.0
        pm.Binomial(
            "events_c_obs",
            n=data["n_c"],
            logit_p=alpha - shift * theta,
            observed=data["events_c"],
            dims="study",
        )
        pm.Binomial(
            "events_t_obs",
            n=data["n_t"],
            logit_p=alpha + (1.0 - shift) * theta,
            observed=data["events_t"],
            dims="study",
        )
    options = {
        "baseline_sd": float(baseline_sd),
        "parameterization": parameterization,
        "arms": arms,
        **(cov.options if cov else {}),
    }
    if cov is not None:
        held = {**held, "X": cov.X}
    info = ModelInfo(
        "binomial-normal", tuple(labs), tau_p, mu_p, held, ("events_t", "events_c"), options
    )
    return _attach(model, info)


def binomial_rr(
    events_t: ArrayLike,
    n_t: ArrayLike,
    events_c: ArrayLike,
    n_c: ArrayLike,
    labels: Sequence[Any] | None,
    tau_prior: TauPriorLike = None,
    mu_prior: MuPriorLike = None,
    *,
    parameterization: str = "conditional",
    covariates: ArrayLike | None = None,
    covariate_names: Sequence[str] | None = None,
) -> pm.Model:
    r"""Exact-binomial random-effects model on the log risk ratio (Warn et al. 2002).

    .. math::

        r_{ci} \sim \mathrm{Bin}(n_{ci}, p_{ci}),\quad
        r_{ti} \sim \mathrm{Bin}(n_{ti}, p_{ti}),\quad
        p_{ti} = p_{ci}\, e^{\theta_i},\quad
        \theta_i \sim N(\mu, \tau^2).

    Both risks must stay below 1, i.e. :math:`\log p_{ci} \le \min(0, -\theta_i)`: the
    constraint of Warn, Thompson & Spiegelhalter (2002). It is built into the
    parameterisation: with :math:`u_i \in (0, 1)`,

    .. math::

        \log p_{ci} = \log u_i + \min(0, -\theta_i),\qquad
        \log p_{ti} = \log u_i + \min(\theta_i, 0),

    and :math:`u_i \sim \mathrm{Uniform}(0, 1)`, so the baseline risk is uniform on its
    admissible range :math:`(0, \min(1, e^{-\theta_i}))` given :math:`\theta_i` (our choice
    of baseline prior within Warn et al.'s constrained model). No continuity correction;
    zero-event arms and double-zero studies are kept. The model is arm-symmetric: u_i is
    the larger of the two risks whichever arm has it, so swapping the arms maps theta_i to
    -theta_i exactly. A double-zero study's likelihood is, however, U-shaped in theta_i
    (a large :math:`|\theta_i|` lets the smaller risk be tiny): it favours large effects and
    heterogeneity (docs/formulas.md, "Binomial models").

    Parameters
    ----------
    events_t, n_t, events_c, n_c, labels, tau_prior, mu_prior, parameterization
        As in :func:`binomial_normal`; mu is the mean log risk ratio.

    Returns
    -------
    pymc.Model
        Data ``events_t, n_t, events_c, n_c, ref_effect, ref_var``; free
        ``mu_z, tau, baseline`` (u_i) and ``z`` (or ``theta`` when centred); deterministic
        ``mu`` (as in :func:`binomial_normal`) and ``theta``; observed
        ``events_t_obs, events_c_obs``.
    """
    counts, labs = binomial_counts(events_t, n_t, events_c, n_c, labels)
    _check_parameterization(parameterization)
    tau_p, mu_p = _tau_prior(tau_prior, "RR"), _mu_prior(mu_prior, "RR")
    held = {**counts, **_reference(counts, "RR")}
    cov = _covariates(covariates, covariate_names, labs)
    with _model(coords={"study": labs, **(cov.coords if cov else {})}) as model:
        data = {name: pm.Data(name, arr, dims="study") for name, arr in held.items()}
        reference = None if cov else (data["ref_effect"], data["ref_var"])
        mu, tau = _add_mu_tau(tau_p, mu_p, None, reference)
        u = pm.Uniform("baseline", 0.0, 1.0, dims="study")
        location = _location(mu, cov)
        theta = _study_effects(location, tau, parameterization, data["ref_effect"], data["ref_var"])
        log_u = pt.log(u)
        p_c = pt.exp(log_u + pt.minimum(0.0, -theta))
        p_t = pt.exp(log_u + pt.minimum(theta, 0.0))
        pm.Binomial("events_c_obs", n=data["n_c"], p=p_c, observed=data["events_c"], dims="study")
        pm.Binomial("events_t_obs", n=data["n_t"], p=p_t, observed=data["events_t"], dims="study")
    if cov is not None:
        held = {**held, "X": cov.X}
    info = ModelInfo(
        "binomial-rr",
        tuple(labs),
        tau_p,
        mu_p,
        held,
        ("events_t", "events_c"),
        {"parameterization": parameterization, **(cov.options if cov else {})},
    )
    return _attach(model, info)


def arm_normal(
    mean_t: ArrayLike,
    sd_t: ArrayLike,
    n_t: ArrayLike,
    mean_c: ArrayLike,
    sd_c: ArrayLike,
    n_c: ArrayLike,
    labels: Sequence[Any] | None,
    tau_prior: TauPriorLike = None,
    mu_prior: MuPriorLike = None,
    *,
    covariates: ArrayLike | None = None,
    covariate_names: Sequence[str] | None = None,
) -> pm.Model:
    r"""Arm-level normal model for the mean difference, with known (plug-in) SDs.

    .. math::

        \bar y_{ci} \sim N(\alpha_i, s_{ci}^2 / n_{ci}),\quad
        \bar y_{ti} \sim N(\alpha_i + \theta_i, s_{ti}^2 / n_{ti}),\quad
        \theta_i \sim N(\mu, \tau^2),

    with a flat prior on each arm-level baseline mean :math:`\alpha_i`. The sample SDs are
    treated as the known arm SDs (the usual plug-in of the normal-normal model on the MD;
    their uncertainty is ignored, which matters only for very small arms). Integrating
    :math:`\alpha_i` out gives :math:`\bar y_{ti} - \bar y_{ci} \sim N(\theta_i,
    s_{ti}^2/n_{ti} + s_{ci}^2/n_{ci})`: the model is the normal-normal model on the MD
    with RevMan's MD variance, kept at arm level so that arm-level terms (baseline
    covariates, a common SD) can be added. ``alpha_i`` is sampled on the standardised
    scale ``a_i = (alpha_i - ybar_ci) / (s_ci / sqrt(n_ci))`` (a linear map, so the flat
    prior is unchanged) to keep the sampler scale-free, and theta_i in the
    ``"conditional"`` parameterisation of :func:`binomial_normal` (reference: the observed
    MD and its variance).

    Parameters
    ----------
    mean_t, sd_t, n_t, mean_c, sd_c, n_c : array_like
        Arm means, SDs (> 0) and sizes (> 0) for the experimental (t) and comparator (c) arms.
    labels, tau_prior, mu_prior
        As in :func:`normal_normal`; mu is the mean difference in the outcome's units.

    Returns
    -------
    pymc.Model
        Data ``mean_t, se_t, mean_c, se_c`` (se = sd / sqrt(n)); free ``mu_z, tau, z,
        baseline_std``; deterministic ``mu`` (standardised by the observed MDs and their
        variances; a free ``mu`` with covariates) and ``theta``;
        observed ``mean_t_obs, mean_c_obs``.
    """
    arrays = float_arrays(
        {"mean_t": mean_t, "sd_t": sd_t, "n_t": n_t, "mean_c": mean_c, "sd_c": sd_c, "n_c": n_c}
    )
    labs = study_labels(labels, arrays["mean_t"].size)
    check_finite(arrays, labs)
    check_positive({k: arrays[k] for k in ("sd_t", "n_t", "sd_c", "n_c")}, labs)
    warn_single(labs)
    tau_p, mu_p = _tau_prior(tau_prior, "MD"), _mu_prior(mu_prior, "MD")
    held = {
        "mean_t": arrays["mean_t"],
        "se_t": arrays["sd_t"] / np.sqrt(arrays["n_t"]),
        "mean_c": arrays["mean_c"],
        "se_c": arrays["sd_c"] / np.sqrt(arrays["n_c"]),
    }
    cov = _covariates(covariates, covariate_names, labs)
    with _model(coords={"study": labs, **(cov.coords if cov else {})}) as model:
        data = {name: pm.Data(name, arr, dims="study") for name, arr in held.items()}
        md_var = data["se_t"] ** 2 + data["se_c"] ** 2
        reference = None if cov else (data["mean_t"] - data["mean_c"], md_var)
        se_md = np.sqrt(held["se_t"] ** 2 + held["se_c"] ** 2)
        mu, tau = _add_mu_tau(tau_p, mu_p, se_md, reference)
        a = _flat("baseline_std", dims="study")
        alpha = data["mean_c"] + data["se_c"] * a
        location = _location(mu, cov)
        theta = _study_effects(
            location, tau, "conditional", data["mean_t"] - data["mean_c"], md_var
        )
        pm.Normal("mean_c_obs", mu=alpha, sigma=data["se_c"], observed=data["mean_c"], dims="study")
        pm.Normal(
            "mean_t_obs",
            mu=alpha + theta,
            sigma=data["se_t"],
            observed=data["mean_t"],
            dims="study",
        )
    if cov is not None:
        held = {**held, "X": cov.X}
    options = cov.options if cov else {}
    info = ModelInfo("arm-normal", tuple(labs), tau_p, mu_p, held, ("mean_t", "mean_c"), options)
    return _attach(model, info)
