r"""Exact posterior of the normal-normal meta-regression by quadrature over tau.

Model (Röver & Friede 2023, Sec. 2.1; bayesmeta's ``bmr``)::

    y_i | theta_i        ~ N(theta_i, sigma_i^2)                i = 1..k
    theta_i | beta, tau  ~ N(x_i' beta, tau^2)
    beta_j ~ N(m_j, s_j^2)  or  p(beta_j) = 1 (flat),   tau ~ p(tau)

with a k x d regressor matrix X of full column rank. Given tau, the coefficients are
integrated analytically: with :math:`W = \mathrm{diag}(1/(\sigma_i^2 + \tau^2))` and the
prior precisions :math:`\Lambda_0 = \mathrm{diag}(s_j^{-2})` (0 for a flat coefficient),

.. math::

    P(\tau) = X'WX + \Lambda_0,\qquad
    \hat\beta(\tau) = P^{-1}(X'Wy + \Lambda_0 m),\qquad
    \beta \mid \tau, y \sim N(\hat\beta, P^{-1}),

and the marginal likelihood of tau is

.. math::

    \log p(y \mid \tau) = -\tfrac{k + d_p - d}{2}\log 2\pi
        - \tfrac12 \sum_i \log(\sigma_i^2 + \tau^2) + \tfrac12 \sum_{j\,\text{proper}} \log s_j^{-2}
        - \tfrac12 \big(y'Wy + m'\Lambda_0 m - \hat\beta' P \hat\beta\big)
        - \tfrac12 \log\det P,

(:math:`d_p` the number of coefficients with a normal prior; with flat coefficients the
value is defined up to the constant of the improper prior). Every margin is then a mixture
over the tau nodes of :mod:`sparsemeta.bayes.exact` (same quadrature, same
:class:`~sparsemeta.bayes.exact.TauPosterior`): a linear combination :math:`c'\beta` is
:math:`N(c'\hat\beta, c'P^{-1}c)` given tau, the predictive effect of a new study with
covariates x is :math:`N(x'\hat\beta, x'P^{-1}x + \tau^2)`, and the shrunken study effect,
with :math:`b_i = \sigma_i^2/(\sigma_i^2 + \tau^2)`, is

.. math::

    \theta_i \mid \tau, y \sim N\big(b_i x_i'\hat\beta + (1 - b_i) y_i,\;
        (1 - b_i)\sigma_i^2 + b_i^2 x_i' P^{-1} x_i\big).

With a single column of ones the model is the meta-analysis of
:func:`sparsemeta.bayes.exact.posterior`.

References
----------
Röver C, Friede T (2023). Using the bayesmeta R package for Bayesian random-effects
meta-regression. *Computer Methods and Programs in Biomedicine* 229:107303.
doi:10.1016/j.cmpb.2022.107303 (arXiv:2209.06004)

Röver C (2020). Bayesian random-effects meta-analysis using the bayesmeta R package.
*Journal of Statistical Software* 93(6):1-51. doi:10.18637/jss.v093.i06
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from sparsemeta.bayes import exact
from sparsemeta.effects import Effects
from sparsemeta.errors import DataError, PriorError
from sparsemeta.results import json_safe, summary_frame

if TYPE_CHECKING:
    from sparsemeta.bayes.priors import TauPriorLike

__all__ = ["RegressionPosterior", "regression", "subgroup_design"]

_LOG_2PI = math.log(2.0 * math.pi)


class _RegressionData(exact._Data):
    """One meta-regression's data for the quadrature of :mod:`sparsemeta.bayes.exact`.

    ``conditional`` reports the first coefficient's conditional moments (the grid keeps
    them as its ``mhat``, ``vmu``); :meth:`moments` gives all of them.
    """

    def __init__(
        self,
        y: NDArray[np.float64],
        se: NDArray[np.float64],
        X: NDArray[np.float64],
        prior_mean: NDArray[np.float64],
        prior_precision: NDArray[np.float64],
    ) -> None:
        super().__init__(y[None, :], se[None, :], np.ones((1, y.size), bool), None)
        self.X = X
        self.prior_mean = prior_mean
        self.prior_precision = prior_precision
        self.proper = prior_precision > 0

    @property
    def decay(self) -> NDArray[np.int64]:
        """p(y | tau) decays like tau^-(k - number of flat coefficients)."""
        return self.k - int((~self.proper).sum())

    def moments(
        self, tau: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Log p(y | tau), E[beta | tau, y] (n, m, d) and Cov[beta | tau, y] (n, m, d, d)."""
        X, y = self.X, self.y[0]
        var = self.se[0] ** 2 + tau[..., None] ** 2  # (n, m, k)
        w = 1.0 / var
        lam = self.prior_precision
        prec = np.einsum("ki,nmk,kj->nmij", X, w, X) + np.diag(lam)
        rhs = np.einsum("ki,nmk->nmi", X, w * y) + lam * self.prior_mean
        chol = np.linalg.cholesky(prec)
        cov = np.linalg.inv(prec)
        mean = np.einsum("nmij,nmj->nmi", cov, rhs)
        quad = (
            (w * y**2).sum(axis=-1)
            + float((lam * self.prior_mean**2).sum())
            - np.einsum("nmi,nmi->nm", mean, rhs)
        )
        log_det = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
        k, d, d_p = y.size, X.shape[1], int(self.proper.sum())
        const = -0.5 * (k + d_p - d) * _LOG_2PI + 0.5 * float(np.log(lam[self.proper]).sum())
        loglik = const - 0.5 * np.log(var).sum(axis=-1) - 0.5 * quad - 0.5 * log_det
        return loglik, mean, cov

    def conditional(
        self, tau: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        loglik, mean, cov = self.moments(tau)
        return loglik, mean[..., 0], cov[..., 0, 0]


def _design(
    X: ArrayLike, k: int, names: Sequence[str] | None, labels: Sequence[str]
) -> tuple[NDArray[np.float64], list[str]]:
    try:
        arr = np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        raise DataError("regressor matrix X: every entry must be a number") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != k:
        raise DataError(f"regressor matrix X: expected {k} rows (one per study), got {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DataError(
            f"study {labels[i]!r}: covariate column {j + 1} is not finite ({arr[i, j]})"
        )
    if names is None:
        names = [f"x{j + 1}" for j in range(arr.shape[1])]
    names = [str(n) for n in names]
    if len(names) != arr.shape[1] or len(set(names)) != len(names):
        raise DataError(
            f"regressor matrix X: need {arr.shape[1]} distinct coefficient names, got {names}"
        )
    return arr, names


def _beta_prior(
    beta_prior: Any, d: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(mean, sd, precision) of the coefficient priors; sd = inf is a flat prior."""
    if beta_prior is None or (isinstance(beta_prior, str) and beta_prior.lower() == "flat"):
        return np.zeros(d), np.full(d, np.inf), np.zeros(d)
    try:
        mean, sd = beta_prior
        mean = np.broadcast_to(np.asarray(mean, dtype=float), (d,)).copy()
        sd = np.broadcast_to(np.asarray(sd, dtype=float), (d,)).copy()
    except (TypeError, ValueError):
        raise PriorError(
            f"beta prior {beta_prior!r}: give None/'flat' or (means, sds) with one value "
            f"per coefficient ({d}); sd = inf for a flat coefficient"
        ) from None
    if np.any(np.isnan(mean) | np.isnan(sd) | (sd <= 0)) or np.any(
        np.isinf(mean) & np.isfinite(sd)
    ):
        raise PriorError(f"beta prior: means must be finite and sds > 0 (got {mean}, {sd})")
    precision = np.where(np.isfinite(sd), 1.0 / sd**2, 0.0)
    return np.where(np.isfinite(sd), mean, 0.0), sd, precision


def regression(
    y: ArrayLike | Effects | pd.DataFrame,
    se: ArrayLike | None = None,
    X: ArrayLike | None = None,
    tau_prior: TauPriorLike = None,
    beta_prior: Any = None,
    labels: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    *,
    measure: str | None = None,
) -> RegressionPosterior:
    """Exact posterior of the normal-normal meta-regression (bayesmeta's ``bmr``).

    Parameters
    ----------
    y, se : Effects, study table or array_like
        The studies, as in :func:`sparsemeta.bayes.exact.posterior` (k of each).
    X : array_like, shape (k, d), optional
        Regressor matrix, one row per study (include a column of ones for an intercept);
        full column rank where coefficients are flat. Default: an intercept and the
        covariates an ``Effects`` value carries.
    tau_prior : prior value, str or None
        As in :func:`sparsemeta.bayes.exact.posterior` (``None``: the measure's default).
    beta_prior : None, "flat" or (means, sds)
        Independent normal priors on the coefficients; ``None``/``"flat"`` (default) is flat
        for all, an ``sd`` of ``inf`` makes that coefficient flat.
    labels : sequence of str, optional
        Study labels.
    names : sequence of str, optional
        Coefficient names (default ``x1, x2, ...``).

    Returns
    -------
    RegressionPosterior

    Raises
    ------
    DataError
        Bad study data or regressor matrix (wrong shape, not finite, rank deficient where
        the coefficients are flat).
    PriorError
        Bad priors or an improper posterior.
    """
    eff, prior, _ = exact._inputs(y, se, labels, measure, tau_prior, "flat", "regression")
    y_arr, se_arr, labs = eff.y, eff.se, list(eff.studies)
    if X is None:
        if eff.X is None:
            raise DataError("regression: no regressor matrix X (and the Effects carry none)")
        X = np.column_stack([np.ones(eff.k), eff.X])
        names = names or ["intercept", *eff.covariate_names]
    Xa, coef_names = _design(X, y_arr.size, names, labs)
    mean, sd, precision = _beta_prior(beta_prior, Xa.shape[1])
    flat = precision == 0
    if flat.any() and np.linalg.matrix_rank(Xa[:, flat]) < int(flat.sum()):
        raise DataError(
            "regressor matrix X: the columns of the flat-prior coefficients "
            f"({', '.join(n for n, f in zip(coef_names, flat, strict=True) if f)}) are "
            "linearly dependent; drop a column or give those coefficients normal priors"
        )
    data = _RegressionData(y_arr, se_arr, Xa, mean, precision)
    grid = exact._build_grid(data, prior, exact._FINE)
    return RegressionPosterior(y_arr, se_arr, labs, Xa, coef_names, prior, (mean, sd), grid)


class RegressionPosterior:
    """Exact posterior of a normal-normal meta-regression.

    Attributes
    ----------
    coef : dict[str, NormalMixture]
        Marginal posterior of each coefficient, by name.
    tau : TauPosterior
        Residual heterogeneity.
    theta : dict[str, NormalMixture]
        Shrunken study effects (shrunk towards each study's fitted value), by label.
    y, se, labels, X, names, tau_prior
        The inputs; ``beta_prior`` is ``(means, sds)`` with ``sd = inf`` for flat.
    """

    def __init__(
        self,
        y: NDArray[np.float64],
        se: NDArray[np.float64],
        labels: list[str],
        X: NDArray[np.float64],
        names: list[str],
        tau_prior: TauPriorLike,
        beta_prior: tuple[NDArray[np.float64], NDArray[np.float64]],
        grid: Any,
    ) -> None:
        self.y, self.se, self.labels, self.X, self.names = y, se, labels, X, names
        self.tau_prior, self.beta_prior = tau_prior, beta_prior
        self.k, self.d = X.shape
        self._grid = grid
        keep = grid.weight[0] > 1e-16 * grid.weight[0].max()
        self._w = grid.weight[0, keep] / grid.weight[0, keep].sum()
        self._tau_nodes = grid.tau[0, keep]
        _, mean, cov = grid.data.moments(self._tau_nodes[None, :])
        self._mean, self._cov = mean[0], cov[0]  # (N, d), (N, d, d)
        self.tau = exact.TauPosterior(grid)
        self.coef = {
            name: self.linear(np.eye(self.d)[j], name=name) for j, name in enumerate(names)
        }
        se2 = se[:, None] ** 2
        b = se2 / (se2 + self._tau_nodes**2)  # (k, N)
        fit_mean = X @ self._mean.T  # (k, N)
        fit_var = np.einsum("ki,nij,kj->kn", X, self._cov, X)
        means = b * fit_mean + (1.0 - b) * y[:, None]
        sds = np.sqrt((1.0 - b) * se2 + b**2 * fit_var)
        self.theta = {
            lab: exact.NormalMixture(f"theta[{lab}]", means[i], sds[i], self._w)
            for i, lab in enumerate(labels)
        }

    def _tail(self, flat: bool) -> tuple[bool, bool]:
        if not flat:
            return True, True
        has_mean, has_var = self._grid.moments_exist
        return bool(has_mean[0]), bool(has_var[0])

    def _vector(self, x: ArrayLike) -> NDArray[np.float64]:
        vec = np.asarray(x, dtype=float).ravel()
        if vec.size != self.d or not np.all(np.isfinite(vec)):
            raise DataError(f"covariate vector: expected {self.d} finite numbers, got {x!r}")
        return vec

    def linear(self, x: ArrayLike, name: str = "x'beta") -> exact.NormalMixture:
        """Posterior of the linear combination :math:`x'\\beta` (e.g. a group difference or
        the mean effect at covariate values x)."""
        vec = self._vector(x)
        flat = bool(np.any((vec != 0) & ~np.isfinite(self.beta_prior[1])))
        return exact.NormalMixture(
            name,
            self._mean @ vec,
            np.sqrt(np.einsum("i,nij,j->n", vec, self._cov, vec)),
            self._w,
            lambda: self._tail(flat),
        )

    def predict(self, x: ArrayLike, name: str = "theta_new") -> exact.NormalMixture:
        """Predictive distribution of a new study's effect with covariates x,
        :math:`N(x'\\hat\\beta, x'P^{-1}x + \\tau^2)` mixed over tau."""
        vec = self._vector(x)
        var = np.einsum("i,nij,j->n", vec, self._cov, vec) + self._tau_nodes**2
        return exact.NormalMixture(
            name, self._mean @ vec, np.sqrt(var), self._w, lambda: self._tail(True)
        )

    def __getitem__(self, param: str) -> Any:
        """Margin by name: a coefficient name, ``"tau"``, or ``"theta[label]"``/a label."""
        if param == "tau":
            return self.tau
        if param in self.coef:
            return self.coef[param]
        label = param[6:-1] if param.startswith("theta[") and param.endswith("]") else param
        if label in self.theta:
            return self.theta[label]
        raise KeyError(
            f"unknown parameter {param!r}; use tau, a coefficient {self.names} or a study"
        )

    def prob(self, param: str, op: str, value: float) -> float:
        """Posterior probability ``P(param op value)``, e.g. ``prob("ablat", "<", 0)``."""
        ops = {"<": True, "<=": True, ">": False, ">=": False}
        if op not in ops:
            raise DataError(f"prob: unknown comparison operator {op!r}; use one of {list(ops)}")
        below = float(self[param].cdf(value))
        return below if ops[op] else 1.0 - below

    @property
    def log_marginal_likelihood(self) -> float:
        """log p(y); needs a proper tau prior and normal priors on every coefficient."""
        if not getattr(self.tau_prior, "proper", True) or not np.all(
            np.isfinite(self.beta_prior[1])
        ):
            raise PriorError("the marginal likelihood needs proper tau and coefficient priors")
        return float(self._grid.log_z[0])

    def _rows(self, level: float) -> list[dict[str, Any]]:
        level = exact._check_level(level, "summary")
        rows = []
        margins: list[tuple[str, str | None, Any]] = [
            *(("beta", name, dist) for name, dist in self.coef.items()),
            ("tau", None, self.tau),
            *(("theta", lab, dist) for lab, dist in self.theta.items()),
        ]
        for param, key, dist in margins:
            lo, med, hi = dist.quantile(np.array([(1 - level) / 2, 0.5, (1 + level) / 2]))
            s_lo, s_hi = dist.interval(level, shortest=True)
            rows.append(
                {
                    "param": param,
                    "study": key if param == "theta" else None,
                    "coefficient": key if param == "beta" else None,
                    "mean": dist.mean,
                    "sd": dist.sd,
                    "median": float(med),
                    "lower": float(lo),
                    "upper": float(hi),
                    "level": level,
                    "shortest_lower": s_lo,
                    "shortest_upper": s_hi,
                }
            )
        return rows

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """One row per coefficient (``param`` ``"beta"``, name in ``coefficient``), ``tau``
        and each shrunken ``theta``: ``mean, sd, median, lower, upper`` (equal-tailed),
        ``level`` and the shortest interval ``shortest_lower, shortest_upper``."""
        return summary_frame(self._rows(level), level)

    def coefficients(self, level: float = 0.95) -> dict[str, dict[str, float]]:
        """``{name: {"mean", "median", "lower", "upper"}}`` (equal-tailed interval)."""
        out = {}
        for name, dist in self.coef.items():
            lo, med, hi = dist.quantile(np.array([(1 - level) / 2, 0.5, (1 + level) / 2]))
            out[name] = {
                "mean": dist.mean,
                "median": float(med),
                "lower": float(lo),
                "upper": float(hi),
            }
        return out

    def to_frame(self, level: float = 0.95) -> pd.DataFrame:
        """One row per study: ``study, y, se`` and the summary of its shrunken effect."""
        rows = [r for r in self._rows(level) if r["param"] == "theta"]
        frame = pd.DataFrame(rows).drop(columns=["param", "coefficient"])
        frame.insert(1, "y", self.y)
        frame.insert(2, "se", self.se)
        return frame

    def to_dict(self, level: float = 0.95) -> dict[str, Any]:
        """JSON-ready record: inputs, priors and the summary rows."""
        mean, sd = self.beta_prior
        return json_safe(
            {
                "k": self.k,
                "labels": list(self.labels),
                "coefficients": list(self.names),
                "X": self.X.tolist(),
                "y": self.y.tolist(),
                "se": self.se.tolist(),
                "tau_prior": str(self.tau_prior),
                "beta_prior": [
                    "flat" if not math.isfinite(s) else {"mean": float(m), "sd": float(s)}
                    for m, s in zip(mean, sd, strict=True)
                ],
                "level": level,
                "summary": self.summary(level),
            }
        )

    def __str__(self) -> str:
        priors = ", ".join(
            f"{n} {'flat' if not math.isfinite(s) else f'N({m:g}, {s:g}^2)'}"
            for n, m, s in zip(self.names, *self.beta_prior, strict=True)
        )
        head = (
            f"normal-normal meta-regression, exact posterior, k = {self.k}, "
            f"{self.d} coefficients; tau prior {self.tau_prior}; {priors}"
        )
        table = self.summary().drop(columns=["level"])
        return head + "\n" + table.to_string(index=False, float_format="%.4g")


def subgroup_design(groups: Sequence[Any]) -> tuple[NDArray[np.float64], list[str]]:
    """Indicator regressor matrix of a categorical covariate, one column per level.

    Each coefficient is then one subgroup's mean effect (the "group mean" coding of Röver
    & Friede 2023, Table 1), the subgroups sharing one tau; contrasts between subgroups
    are :meth:`RegressionPosterior.linear` combinations. Levels in order of appearance.
    """
    values = [str(g) for g in groups]
    if any(v in ("", "nan", "None") for v in values):
        i = next(i for i, v in enumerate(values) if v in ("", "nan", "None"))
        raise DataError(f"subgroup of study {i + 1} is missing")
    levels = list(dict.fromkeys(values))
    X = np.array([[float(v == lev) for lev in levels] for v in values])
    return X, levels
