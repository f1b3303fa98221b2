r"""Fit a Bayesian meta-analysis by MCMC, with a diagnostics gate and tidy summaries.

:func:`fit` takes a study table (or a model from :mod:`sparsemeta.bayes.models`, possibly
extended by the user), samples it with nutpie (PyMC's NUTS as fallback) and returns a
:class:`FitResult`: an :class:`arviz.InferenceData` with ``study`` coordinates and a
summary table.

Post-processing (seeded numpy generator ``numpy.random.default_rng(seed)``, draw by draw):

* normal-normal model: the study effects are integrated out while sampling; the shrunken
  effects are drawn from :math:`\theta_i \mid \mu, \tau, y \sim N(b_i\mu + (1-b_i)y_i,
  (1-b_i)\sigma_i^2)` with :math:`b_i = \sigma_i^2/(\sigma_i^2+\tau^2)`;
* every family: :math:`\theta_\mathrm{new} \mid \mu, \tau \sim N(\mu, \tau^2)`;
* the ``prior`` group holds draws of ``mu`` and ``tau`` from their priors (``mu`` only
  when its prior is proper) and ``theta_new`` from the prior predictive.

Diagnostics gate (:mod:`sparsemeta.bayes.diagnostics`; Vehtari et al. 2021): no divergent
transitions, rank-normalised split R-hat <= 1.01 and bulk and tail ESS >= 400 for every
posterior quantity. A failed gate warns with :class:`~sparsemeta.errors.DiagnosticsWarning`
naming the parameter, its value and what to do; ``strict=True`` raises
:class:`~sparsemeta.errors.DiagnosticsError` instead.

Compiled models are cached (per process) by family, priors, model options and — for the
families whose parameter count grows with k — the number of studies; a later analysis swaps
its data into the cached compiled model (nutpie ``with_data``), so a review with many
outcomes compiles each model once. The normal-normal model samples only ``mu`` and ``tau``,
so its compiled form serves every k.

Compiled models also persist across processes: nutpie's compiled code is kept on disk,
keyed by the model's structure and the library versions, and a later process links it back
in instead of compiling (:mod:`sparsemeta.bayes.compiled`; ``FitResult.compiled_from_disk``).
Besides, ``sample(..., cache=True)`` keeps each finished fit on disk, in
:func:`cache_dir`, keyed by everything that determines its draws: family,
model options, priors, data, labels, sampler settings and seed, the versions of sparsemeta,
nutpie, PyMC and PyTensor, and the source of :mod:`sparsemeta.bayes.models` and this module. A
later identical call (e.g. in a new process) loads the draws instead of compiling and
sampling; the diagnostics gate and the summary are computed afresh from them. An entry holds
the InferenceData twice: as raw arrays with a JSON description (loaded in milliseconds,
exactly, without a NetCDF library) and as the NetCDF file ArviZ writes
(``FitResult.netcdf``, which a report saves as it is instead of encoding it again).

The cache verifies what it reads, as content-addressed stores do: each entry holds the full
key it was made for and the length and SHA-256 of its NetCDF payload, and an entry whose key
or checksum does not match (another fit's file copied over it, a truncated or unreadable
file) is refitted after a one-line :class:`~sparsemeta.errors.CacheWarning`. Entries are
written to a temporary file, fsynced and renamed into place, so concurrent runs sharing the
folder never read half an entry; a cache that cannot be written never fails the fit (one
warning per problem and process).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from sparsemeta import measures
from sparsemeta.bayes import disk_cache
from sparsemeta.bayes.diagnostics import (
    ESS_MIN,
    RHAT_MAX,
    Diagnostics,
    convergence,
    gate,
    gate_message,
    without_numba,
)
from sparsemeta.bayes.disk_cache import cache_dir
from sparsemeta.bayes.priors import MuPriorLike, TauPriorLike
from sparsemeta.effects import Effects, as_effects
from sparsemeta.errors import DataError, DiagnosticsError, DiagnosticsWarning
from sparsemeta.measures import MEASURE_OF_FAMILY
from sparsemeta.results import Op, json_safe, prob_from_draws, summary_frame

if TYPE_CHECKING:
    import arviz as az
    import pymc as pm
    import xarray as xr

    from sparsemeta.bayes.crosscheck import CrossCheck
    from sparsemeta.bayes.models import ModelInfo, VarNames
    from sparsemeta.bayes.priors import MuPrior, TauPrior

__all__ = [
    "DEFAULT_TARGET_ACCEPT",
    "ESS_MIN",
    "MEASURE_OF_FAMILY",
    "MIN_SETTINGS",
    "RHAT_MAX",
    "Diagnostics",
    "FitResult",
    "cache_dir",
    "check_settings",
    "clear_cache",
    "prepare",
    "sample",
]

#: default NUTS target acceptance per family, chosen so that the test examples (k = 2 with
#: zero-event arms, half-normal(0.5) to half-Cauchy(0.5) priors) run without divergences
DEFAULT_TARGET_ACCEPT: dict[str | None, float] = {
    "normal-normal": 0.95,
    "binomial-normal": 0.99,
    "binomial-rr": 0.99,
    "arm-normal": 0.99,
    None: 0.95,
}

#: smallest sampler settings with computable diagnostics: rank-normalised split R-hat
#: compares at least two chains, and ArviZ computes R-hat and ESS from 4 draws per chain
MIN_SETTINGS: dict[str, int] = {"draws": 4, "tune": 0, "chains": 2, "seed": 0}

_DATA_OF_FAMILY = {"binomial-normal": "binary", "binomial-rr": "binary", "arm-normal": "continuous"}
_COMPILED: dict[tuple[Any, ...], Any] = {}


def check_settings(**settings: object) -> None:
    """Validate sampler settings (``draws``, ``tune``, ``chains``, ``seed``).

    Raises
    ------
    DataError
        A setting that is not an integer (bools and fractional numbers included) or is
        below :data:`MIN_SETTINGS` (then the diagnostics gate could not be computed).
    """
    for name, value in settings.items():
        least = MIN_SETTINGS[name]
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
            why = " (R-hat and ESS need at least 2 chains of 4 draws)" if least > 0 else ""
            raise DataError(f"fit: {name} must be an integer >= {least}{why}, got {value!r}")


# ----------------------------------------------------------------------------- results


@dataclass
class FitResult:
    """The result of :func:`fit`.

    Attributes
    ----------
    idata : arviz.InferenceData
        Groups ``posterior`` (``mu``, ``tau``, ``theta`` and ``theta_new`` where the model
        has them, ``beta`` with covariates, plus the sampled nuisance parameters),
        ``sample_stats``, ``prior``, ``observed_data`` and ``constant_data``; for the
        normal-normal model also ``log_likelihood``, ``posterior_predictive`` and (proper mu
        prior, no covariates) ``prior_predictive``, each holding ``y``; for the arm-level
        models ``log_likelihood`` (``y``, both arms of a study) and ``posterior_predictive``
        (the arm data): ``arviz.loo`` and ``arviz.compare`` work on every family. Study-level variables have dims ``study``
        with the study labels as coordinates. With covariates ``theta_new`` is the effect
        in a new study whose covariates are all 0.
    table : pandas.DataFrame
        One row per reported quantity, what :meth:`summary` returns (see :func:`sample`).
    diagnostics : Diagnostics
    family, measure : str or None
        Model family and effect measure (``None`` for a user model without them).
    tau_prior, mu_prior
        The priors (``mu_prior`` ``None`` for flat).
    engine : str
        Sampler actually used: ``"nutpie"`` or ``"pymc"``.
    labels : list of str
    excluded : pandas.DataFrame
        Studies left out of a normal-normal analysis as not estimable (with the reason).
    compile_seconds, sampling_seconds, seconds : float
        Compilation time (the time to load it when ``compiled_from_disk``; 0 when this
        process's compiled model was reused), sampling time and total wall time of the call.
    cached : bool
        Whether a cached compiled model was reused.
    settings : dict
        draws, tune, chains, seed, target_accept.
    from_disk : bool
        Whether the draws were loaded from the on-disk cache of fits (``cache=True``);
        then ``compile_seconds`` and ``sampling_seconds`` are 0.
    compiled_from_disk : bool
        Whether nutpie's compiled model was loaded from the disk cache of compiled models
        (:mod:`sparsemeta.bayes.compiled`) instead of being compiled in this process;
        ``compile_seconds`` is then the time to load it.
    crosscheck : CrossCheck or None
        MCMC quantiles of mu, tau and theta_new against the exact posterior, when the model
        has one (:mod:`sparsemeta.bayes.crosscheck`).
    extended : bool
        Whether the model is a builder's model with variables added by the user (they
        appear in the summary; no exact cross-check then).
    model_name : str
        The name of a named model (``pm.Model(name="m")``, whose variables PyMC calls
        ``m::mu`` etc.; :func:`sparsemeta.bayes.models.model_name`), ``""`` otherwise. The
        posterior and the summary use the plain names (``mu``); the name is also kept in
        ``idata.posterior.attrs["model_name"]``.
    prior_dominated : tuple of str
        Why the result is mostly its prior (:func:`sparsemeta.bayes.dominance.reasons`;
        empty when it is not); also the ``prior_dominated`` column of the summary.
    netcdf : bytes or None
        ``idata`` as a NetCDF-4 file (what :meth:`arviz.InferenceData.to_netcdf` writes)
        when the fit went through the disk cache of fits (``cache=True``: stored or loaded),
        so that it can be saved without encoding it again; ``None`` otherwise.
    """

    idata: az.InferenceData
    table: pd.DataFrame
    diagnostics: Diagnostics
    family: str | None
    measure: str | None
    tau_prior: TauPrior | None
    mu_prior: MuPrior | None
    engine: str
    labels: list[str]
    excluded: pd.DataFrame
    compile_seconds: float
    sampling_seconds: float
    seconds: float
    cached: bool
    settings: dict[str, Any] = field(default_factory=dict)
    from_disk: bool = False
    compiled_from_disk: bool = False
    crosscheck: CrossCheck | None = None
    extended: bool = False
    prior_dominated: tuple[str, ...] = ()
    model_name: str = ""
    netcdf: bytes | None = field(default=None, repr=False)

    @property
    def k(self) -> int:
        """Number of studies in the model."""
        return len(self.labels)

    def quantiles(self, var: str, probs: Sequence[float]) -> np.ndarray:
        """Posterior quantiles of a scalar variable (``mu``, ``tau``, ``theta_new``)."""
        return np.quantile(self.idata.posterior[var].values.ravel(), probs)

    def _draws(self, param: str) -> np.ndarray:
        from sparsemeta.bayes.models import VarNames

        post = self.idata.posterior
        param = VarNames(self.model_name).plain(param)
        if param.startswith("theta[") and param.endswith("]"):
            return post["theta"].sel(study=param[6:-1]).values.ravel()
        if param in post and set(post[param].dims) == {"chain", "draw"}:
            return post[param].values.ravel()
        if "theta" in post and "study" in post["theta"].dims and param in self.labels:
            return post["theta"].sel(study=param).values.ravel()
        raise KeyError(f"unknown parameter {param!r}; use mu, tau, theta_new or a study label")

    def prob(self, param: str, op: Op, value: float) -> float:
        """Posterior probability ``P(param op value)`` from the draws (analysis scale), e.g.
        P(mu < 0) = ``prob("mu", "<", 0)``; ``param`` ``mu``, ``tau``, ``theta_new``, a
        study label or ``theta[label]``."""
        return prob_from_draws(self._draws(param), op, value)

    def summary(self) -> pd.DataFrame:
        """One row per quantity: ``mu`` (and ``exp(mu)`` for ratio measures), ``tau``,
        ``theta_new`` (and ``exp(theta_new)``) and ``theta`` per study; columns
        :data:`sparsemeta.results.SUMMARY_COLUMNS` (95% equal-tailed intervals) then the
        diagnostics ``mcse_median, ess_bulk, ess_tail, r_hat``."""
        return self.table.copy()

    def to_frame(self) -> pd.DataFrame:
        """One row per study: the summary of its shrunken ``theta``."""
        theta = self.table[self.table["param"] == "theta"]
        return theta.drop(columns="param").reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe record: model, priors, sampler settings, diagnostics and the summary."""
        return json_safe(
            {
                "family": self.family,
                "model_name": self.model_name,
                "measure": self.measure,
                "tau_prior": None if self.tau_prior is None else str(self.tau_prior),
                "mu_prior": str(self.mu_prior or "flat"),
                "engine": self.engine,
                "k": self.k,
                "labels": self.labels,
                "excluded": self.excluded,
                "settings": self.settings,
                "diagnostics": self.diagnostics.to_dict(),
                "crosscheck": None if self.crosscheck is None else self.crosscheck.to_dict(),
                "prior_dominated": list(self.prior_dominated),
                "summary": self.table,
                "seconds": self.seconds,
            }
        )

    def __str__(self) -> str:
        d = self.diagnostics
        priors = (
            f"tau prior {self.tau_prior}, mu prior {self.mu_prior or 'flat'}"
            if self.family is not None
            else "priors as in the model"
        )
        name = (self.family or "user model") + (" extended by the user" if self.extended else "")
        if self.model_name:
            name += f" (model {self.model_name!r})"
        head = (
            f"{name} ({self.measure or '?'}), k = {self.k}, {priors}; "
            f"{self.engine}: {self.settings.get('chains')} chains x "
            f"{self.settings.get('draws')} draws, seed {self.settings.get('seed')}\n"
            f"diagnostics: divergences {d.divergences}, max R-hat {d.r_hat_max:.3f}, "
            f"min ESS bulk {d.ess_bulk_min:.0f}, tail {d.ess_tail_min:.0f} -> "
            f"{'passed' if d.passed else 'FAILED: ' + '; '.join(d.failures)}"
        )
        if self.crosscheck is not None:
            head += "\ncross-check: " + self.crosscheck.message()
        if self.prior_dominated:
            head += "\nPRIOR-DOMINATED: " + "; ".join(self.prior_dominated)
        drop = ("mcse_median", "level", "prior_dominated")
        cols = [c for c in self.table.columns if c not in drop]
        return head + "\n" + self.table[cols].to_string(index=False, float_format="%.4g")


# ----------------------------------------------------------------------------- data input


def prepare(
    table: pd.DataFrame | Effects,
    measure: str | None,
    family: str,
    tau_prior: TauPriorLike,
    mu_prior: MuPriorLike,
    covariates: Sequence[str] = (),
) -> tuple[pm.Model, str, pd.DataFrame]:
    """Build the model of ``family`` for one analysis of a study table.

    Parameters
    ----------
    table : pandas.DataFrame or Effects
        Study table of one analysis (binary, continuous or generic data; label columns
        ``comparison``/``outcome`` may be omitted), or (normal-normal model) its
        :class:`~sparsemeta.effects.Effects`. Generic data (``effect, se``) are on the
        analysis scale (log for ratio measures).
    measure : str or None
        Effect measure; ``None`` takes the family's own (OR, RR, MD) or, for the
        normal-normal model, fails.
    family : str
        One of :data:`sparsemeta.bayes.models.FAMILIES`.
    tau_prior, mu_prior
        Prior values or strings; ``None``: the measure's defaults
        (:data:`sparsemeta.measures.TABLE`); ``mu_prior="flat"``: the flat prior.
    covariates : sequence of str
        Columns of ``table`` for a meta-regression (numeric as they are, text as subgroup
        dummies against the first level, :func:`sparsemeta.frequentist.design_matrix`);
        ``mu`` is then the intercept and ``beta`` the coefficients (flat priors).

    Returns
    -------
    (pymc.Model, measure, excluded)
        ``excluded`` lists studies without an estimable effect (normal-normal model only:
        the binomial models keep every study).

    Raises
    ------
    DataError
        Bad data, an unknown family, or a measure the family cannot analyse.
    """
    from sparsemeta import data
    from sparsemeta.bayes import models

    if family not in models.FAMILIES:
        raise DataError(f"fit: unknown model {family!r}; use one of {list(models.FAMILIES)}")
    if not isinstance(table, pd.DataFrame | Effects):
        raise DataError(
            f"fit: expected a study table (DataFrame), Effects or a model, got "
            f"{type(table).__name__}"
        )
    if family == "normal-normal":
        if measure is None and not isinstance(table, Effects):
            raise DataError("fit: the normal-normal model needs a measure (RR, OR, RD, MD, SMD)")
        eff = as_effects(table, measure, where="fit").require("fit")
        reg = _covariate_kwargs(table, list(eff.studies), covariates)
        model = models.normal_normal(eff, tau_prior=tau_prior, mu_prior=mu_prior, **reg)
        excluded = pd.DataFrame(list(eff.excluded), columns=["study", "reason"])
        return model, eff.measure.code, excluded
    tab = data.single_analysis(table)
    kind = data.data_type(tab)
    labels = tab["study"].astype(str).tolist()
    own = MEASURE_OF_FAMILY[family]
    if measure is not None and measure.upper() != own:
        raise DataError(f"fit: model {family} analyses the {own} scale, not {measure}")
    if kind != _DATA_OF_FAMILY[family]:
        raise DataError(f"fit: model {family} needs {_DATA_OF_FAMILY[family]} data, got {kind}")
    reg = _covariate_kwargs(tab, labels, covariates)
    if family == "arm-normal":
        cols = [tab[c].to_numpy(float) for c in data.CONTINUOUS_COLUMNS]
        model = models.arm_normal(*cols, labels, tau_prior, mu_prior, **reg)
    else:
        build = models.binomial_normal if family == "binomial-normal" else models.binomial_rr
        cols = [tab[c].to_numpy() for c in data.BINARY_COLUMNS]
        model = build(*cols, labels, tau_prior, mu_prior, **reg)
    return model, own, pd.DataFrame({"study": [], "reason": []})


def _covariate_kwargs(
    table: pd.DataFrame | Effects, labels: list[str], covariates: Sequence[str]
) -> dict[str, Any]:
    """``covariates``/``covariate_names`` for a builder: the design matrix of the studies
    ``labels`` (in that order) without its intercept column."""
    if not covariates:
        return {}
    if not isinstance(table, pd.DataFrame):
        raise DataError("fit: covariates are columns of a study table; pass the table")
    from sparsemeta.frequentist import design_matrix

    rows = table.assign(study=table["study"].astype(str)).set_index("study", drop=False)
    X, names = design_matrix(rows.loc[labels].reset_index(drop=True), list(covariates))
    return {"covariates": X[:, 1:], "covariate_names": list(names[1:])}


# ----------------------------------------------------------------------------- sampling


def clear_cache() -> None:
    """Forget every compiled model of this process (the disk cache of compiled models,
    :mod:`sparsemeta.bayes.compiled`, stays)."""
    _COMPILED.clear()


def _disk_record(info: ModelInfo, engine: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Everything that determines a fit's draws (see the module docstring): the full key
    a cache entry records and is checked against when read."""
    from importlib.metadata import version

    from sparsemeta import __version__
    from sparsemeta.bayes import models

    sources = [Path(models.__file__).read_bytes(), Path(__file__).read_bytes()]
    record = {
        "family": info.family,
        "name": info.name,
        "options": sorted((k, str(v)) for k, v in info.options.items()),
        "tau_prior": str(info.tau_prior),
        "mu_prior": str(info.mu_prior),
        "labels": list(info.labels),
        "data": {k: np.asarray(v).tolist() for k, v in sorted(info.data.items())},
        "engine": engine,
        "settings": sorted((k, str(v)) for k, v in settings.items()),
        "versions": [__version__, *(version(p) for p in ("nutpie", "pymc", "pytensor"))],
        "sources": [hashlib.sha256(src).hexdigest() for src in sources],
    }
    return record


#: first line of every fit-cache entry (:mod:`sparsemeta.bayes.disk_cache`); the payload is
#: a JSON line describing the InferenceData (groups, variables, dims, dtypes, attributes, where
#: each array's bytes are), the arrays' raw bytes, then the same InferenceData as NetCDF-4
#: (h5netcdf), which a report copies as it is instead of encoding it again
_ENTRY_MAGIC = b"sparsemeta fit-cache entry 2\n"
#: array kinds stored as raw bytes (booleans, integers, floats, complex)
_RAW_KINDS = "biufc"


def _jsonable(value: Any) -> Any:
    """An attribute value for the payload's JSON line (numpy scalars and arrays as Python)."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"attribute value {value!r} cannot be kept in the fit cache")


def _encode(idata: az.InferenceData) -> tuple[bytes, bytes]:
    """The payload of a fit-cache entry: every group's variables as raw arrays (read back
    without a NetCDF library, exactly: dtype, shape, dims, coordinates, attributes) and
    the NetCDF-4 file of :meth:`arviz.InferenceData.to_netcdf`; and that file's bytes.

    Raises
    ------
    OSError
        The temporary NetCDF file cannot be written.
    TypeError
        A variable or attribute that the format cannot hold (e.g. an object array).
    """
    import tempfile

    blobs: list[bytes] = []
    offset = 0
    groups = []
    for name in idata.groups():
        ds = idata[name]
        variables = []
        for var_name, var in ds.variables.items():
            arr = np.ascontiguousarray(var.values)
            item: dict[str, Any] = {
                "name": str(var_name),
                "coord": var_name in ds.coords,
                "dims": [str(d) for d in var.dims],
                "attrs": var.attrs,
            }
            if arr.dtype.kind in _RAW_KINDS:
                raw = arr.tobytes()
                item.update(dtype=arr.dtype.str, shape=list(arr.shape), at=[offset, len(raw)])
                blobs.append(raw)
                offset += len(raw)
            elif arr.dtype.kind == "U" and arr.ndim == 1:  # labels (study, covariate, ...)
                item.update(dtype=arr.dtype.str, values=arr.tolist())
            else:
                raise TypeError(f"{name}/{var_name}: {arr.dtype} arrays are not cached")
            variables.append(item)
        groups.append({"name": name, "attrs": ds.attrs, "variables": variables})
    fd, tmp = tempfile.mkstemp(suffix=".nc")
    os.close(fd)
    try:
        idata.to_netcdf(tmp, engine="h5netcdf")
        netcdf = Path(tmp).read_bytes()
    finally:
        Path(tmp).unlink(missing_ok=True)
    meta = {"groups": groups, "netcdf": [offset, len(netcdf)]}
    head = json.dumps(meta, default=_jsonable).encode()
    return head + b"\n" + b"".join(blobs) + netcdf, netcdf


def _decode(payload: bytes) -> tuple[az.InferenceData, bytes]:
    """The InferenceData and the NetCDF bytes of an entry's payload (see :func:`_encode`).

    Raises
    ------
    ValueError, KeyError, TypeError
        A payload that does not have this layout.
    """
    import arviz as az
    import xarray as xr

    line, _, rest = payload.partition(b"\n")
    meta = json.loads(line)
    start, size = meta["netcdf"]
    if start + size != len(rest):
        raise ValueError("payload layout does not match its arrays")
    groups = {}
    for group in meta["groups"]:
        coords, data_vars = {}, {}
        for item in group["variables"]:
            if "values" in item:
                values = np.array(item["values"], dtype=item["dtype"])
            else:
                at, length = item["at"]
                if at + length > start:
                    raise ValueError("payload layout does not match its arrays")
                dtype = np.dtype(item["dtype"])
                if length != dtype.itemsize * math.prod(item["shape"]):
                    raise ValueError("payload layout does not match its arrays")
                values = np.frombuffer(rest, dtype, length // dtype.itemsize, at)
                values = values.reshape(item["shape"]).copy()
            var = xr.Variable(item["dims"], values, attrs=item["attrs"])
            (coords if item["coord"] else data_vars)[item["name"]] = var
        groups[group["name"]] = xr.Dataset(data_vars, coords=coords, attrs=group["attrs"])
    return az.InferenceData(**groups), bytes(rest[start:])


def _load_fit(path: Path, record: dict[str, Any]) -> tuple[az.InferenceData, bytes] | None:
    """The verified cached draws at ``path`` and their NetCDF bytes, or ``None`` (absent, or
    broken: refit).

    The entry must pass :func:`sparsemeta.bayes.disk_cache.read_entry` for ``record`` and
    its payload must decode (:func:`_decode`); anything else (another fit's entry, a
    truncated or unreadable file, a folder in its place) warns once with
    :class:`~sparsemeta.errors.CacheWarning` and returns ``None``.
    """
    try:
        entry = disk_cache.read_entry(path, _ENTRY_MAGIC, record, "fit")
        if entry is None:
            return None
        return _decode(entry[1])
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        disk_cache.notice(f"fit cache entry {path} unusable ({problem}); refitting")
        return None


def _store_fit(idata: az.InferenceData, path: Path, record: dict[str, Any]) -> bytes | None:
    """Write a verified entry to ``path`` (:func:`sparsemeta.bayes.disk_cache.write_entry`:
    a concurrent reader sees the old entry or the whole new one); return the fit's NetCDF
    bytes (``None`` when the entry could not be made).

    Never raises for a file-system problem or a fit the format cannot hold: the fit is
    still returned by :func:`sample`, and the problem is reported once
    (:class:`~sparsemeta.errors.CacheWarning`).
    """
    try:
        payload, netcdf = _encode(idata)
        disk_cache.write_entry(path, _ENTRY_MAGIC, record, payload)
    except OSError as exc:
        disk_cache.notice(
            f"fit cache folder {path.parent} cannot be written ({exc.strerror or exc}); "
            "the fit is not kept (results are unaffected)"
        )
        return None
    except TypeError as exc:
        disk_cache.notice(f"fit not kept in the cache ({exc}; results are unaffected)")
        return None
    return netcdf


def _cache_key(info: ModelInfo) -> tuple[Any, ...]:
    k = None if info.family == "normal-normal" else info.k
    se_key: tuple[float, ...] = ()
    if getattr(info.tau_prior, "requires_se", False):
        # the prior's density is built from the standard errors: one compilation per data set
        se = info.data.get("se")
        se_key = tuple(np.round(se, 12)) if se is not None else ()
    options = tuple(sorted(info.options.items()))
    return (info.family, info.name, k, str(info.tau_prior), str(info.mu_prior), options, se_key)


def _draw(
    engine: str,
    model: pm.Model,
    info: ModelInfo | None,
    settings: dict[str, Any],
    progress: bool = False,
) -> tuple[az.InferenceData, float, bool, bool]:
    """Sample ``model`` with ``engine`` (``settings`` as :attr:`FitResult.settings`).

    nutpie: the compiled model comes from this process's cache (:data:`_COMPILED`, new data
    swapped in), else from the disk cache of compiled models or a compilation
    (:func:`sparsemeta.bayes.compiled.compile_model`). PyMC: its own NUTS, one core.

    Returns
    -------
    (trace, compile seconds, reused in this process, loaded from disk)
    """
    draws, tune, chains = settings["draws"], settings["tune"], settings["chains"]
    seed, target_accept = settings["seed"], settings["target_accept"]
    var_names = _stored_vars(model, info)
    if engine == "pymc":
        import pymc as pm

        with model:
            idata = pm.sample(
                draws=draws,
                tune=tune,
                chains=chains,
                cores=1,
                random_seed=seed,
                target_accept=target_accept,
                progressbar=progress,
                compute_convergence_checks=False,
                nuts_sampler="pymc",
                var_names=var_names,
                idata_kwargs={"log_likelihood": False},
            )
        return idata, 0.0, False, False
    import nutpie

    from sparsemeta.bayes import compiled as compiled_models
    from sparsemeta.bayes import models

    key = _cache_key(info) if info is not None and not models.is_extended(model) else None
    cached, from_disk = key is not None and key in _COMPILED, False
    t0 = time.perf_counter()
    if cached:
        names = models.VarNames(info.name)  # type: ignore[union-attr]
        data = {names.full(n): arr for n, arr in info.data.items()}  # type: ignore[union-attr]
        compiled = _COMPILED[key].with_data(**data)
    elif key is None:  # user and extended models: compiled afresh in each process
        compiled = nutpie.compile_pymc_model(model, var_names=var_names)
    else:
        label = info.family if info is not None else "user"
        compiled, from_disk = compiled_models.compile_model(model, var_names, progress, label)
        _COMPILED[key] = compiled
    compile_seconds = 0.0 if cached else time.perf_counter() - t0
    idata = nutpie.sample(
        compiled,
        draws=draws,
        tune=tune,
        chains=chains,
        cores=min(chains, os.cpu_count() or 1),
        seed=seed,
        target_accept=target_accept,
        progress_bar=progress,
        save_warmup=False,
    )
    return idata, compile_seconds, cached, from_disk


def _stored_vars(model: pm.Model, info: ModelInfo | None) -> list[str] | None:
    """Variables kept in the trace: for our families the free variables, ``mu``, ``theta``
    and ``beta``.

    Leaving out the normal-normal model's ``location`` (``mu`` repeated per study) keeps
    its compiled form independent of k. User models keep everything.
    """
    from sparsemeta.bayes import models

    if info is None or models.is_extended(model):
        return None
    plain = models.VarNames(info.name).plain
    kept = ("mu", "theta", "beta")
    free = [rv.name for rv in model.free_RVs]
    return free + [d.name for d in model.deterministics if plain(d.name) in kept]


def _posterior_only(
    idata: az.InferenceData, labels: list[str], names: VarNames
) -> az.InferenceData:
    """Keep posterior and sample_stats; set the study coordinate to the current labels;
    give the variables of a named model their plain names (``m::mu`` -> ``mu``) and keep
    the model's name in the posterior's ``model_name`` attribute."""
    import arviz as az

    post = idata.posterior
    post = post.drop_vars([v for v in post.data_vars if str(v).endswith("__")])
    if names.model:
        post = post.rename({v: names.plain(str(v)) for v in post.data_vars})
        post.attrs["model_name"] = names.model
    if "study" in post.dims:
        post = post.assign_coords(study=labels)
    elif "study" in post.coords:
        post = post.drop_vars("study")
    return az.InferenceData(posterior=post, sample_stats=idata.sample_stats)


def _post_process(
    idata: az.InferenceData, info: ModelInfo, rng: np.random.Generator
) -> az.InferenceData:
    """Add theta (normal-normal) and theta_new to the posterior; add the prior group, the
    pointwise ``log_likelihood`` and the posterior (and for the normal-normal model prior)
    predictive draws."""
    import arviz as az
    import xarray as xr

    post = idata.posterior
    mu, tau = post["mu"], post["tau"]
    shape = mu.shape
    coords = {"study": list(info.labels)}
    location, tau_study = mu, tau
    if "X" in info.data:
        X = xr.DataArray(info.data["X"], dims=("study", "covariate"), coords=coords)
        location = mu + xr.dot(X, post["beta"], dim="covariate")
    if "G" in info.data:  # separate mu and tau per subgroup
        levels = {"subgroup": list(info.options["subgroups"])}
        G = xr.DataArray(info.data["G"], dims=("study", "subgroup"), coords={**coords, **levels})
        location, tau_study = xr.dot(G, mu, dim="subgroup"), xr.dot(G, tau, dim="subgroup")
    if info.family == "normal-normal":
        y = xr.DataArray(info.data["y"], dims="study", coords=coords)
        se = xr.DataArray(info.data["se"], dims="study", coords=coords)
        b = se**2 / (se**2 + tau_study**2)
        mean = b * location + (1 - b) * y
        sd = np.sqrt((1 - b) * se**2)
        noise = rng.standard_normal(mean.transpose("chain", "draw", "study").shape)
        theta = (
            mean.transpose("chain", "draw", "study")
            + sd.transpose("chain", "draw", "study") * noise
        )
        post = post.assign(theta=theta)
    post = post.assign(theta_new=mu + tau * rng.standard_normal(shape))
    groups: dict[str, xr.Dataset] = {"posterior": post, "sample_stats": idata.sample_stats}
    groups["prior"] = _prior_draws(info, shape[0] * shape[1], rng)
    if info.family == "normal-normal":
        groups.update(_normal_predictive(info, location, tau_study, groups["prior"], rng))
    elif info.family in ("binomial-normal", "binomial-rr", "arm-normal"):
        groups.update(_arm_predictive(info, post, rng))
    observed = {n: ("study", info.data[n]) for n in info.observed}
    matrix_dims = {"X": ("study", "covariate"), "G": ("study", "subgroup")}
    constant = {
        n: (matrix_dims.get(n, "study"), arr)
        for n, arr in info.data.items()
        if n not in info.observed
    }
    groups["observed_data"] = xr.Dataset(observed, coords=coords)
    if "G" in info.data:
        coords = {**coords, "subgroup": list(info.options["subgroups"])}
    groups["constant_data"] = xr.Dataset(constant, coords=coords)
    return az.InferenceData(**groups)


def _normal_predictive(
    info: ModelInfo,
    location: xr.DataArray,
    tau: xr.DataArray,
    prior: xr.Dataset,
    rng: np.random.Generator,
) -> dict[str, xr.Dataset]:
    r"""``log_likelihood``, ``posterior_predictive`` and ``prior_predictive`` of the
    normal-normal model, all named ``y`` (dims ``chain, draw, study``).

    Pointwise :math:`\log N(y_i; \mu + x_i'\beta, \sigma_i^2 + \tau^2)` per draw (the
    marginal likelihood of study i given the hyperparameters, what ``arviz.loo`` and
    ``arviz.compare`` need), replicated data :math:`y_i^{rep} \sim N(\mu + x_i'\beta,
    \sigma_i^2 + \tau^2)` per posterior draw, and prior predictive data from the prior
    draws of mu and tau (only when the mu prior is proper and there are no covariates).
    """
    import xarray as xr

    coords = {"study": list(info.labels)}
    y = xr.DataArray(info.data["y"], dims="study", coords=coords)
    se = xr.DataArray(info.data["se"], dims="study", coords=coords)
    sd = np.sqrt(se**2 + tau**2).transpose("chain", "draw", "study")
    loc = (location + 0.0 * se).transpose("chain", "draw", "study")
    loglik = -0.5 * (np.log(2 * np.pi * sd**2) + ((y - loc) / sd) ** 2)
    y_rep = loc + sd * rng.standard_normal(sd.shape)
    out = {
        "log_likelihood": xr.Dataset({"y": loglik}),
        "posterior_predictive": xr.Dataset({"y": y_rep}),
    }
    if "mu" in prior and "X" not in info.data and "G" not in info.data:
        prior_sd = np.sqrt(se**2 + prior["tau"] ** 2).transpose("chain", "draw", "study")
        prior_loc = (prior["mu"] + 0.0 * se).transpose("chain", "draw", "study")
        draws = prior_loc + prior_sd * rng.standard_normal(prior_sd.shape)
        out["prior_predictive"] = xr.Dataset({"y": draws})
    return out


def _arm_predictive(
    info: ModelInfo, post: xr.Dataset, rng: np.random.Generator
) -> dict[str, xr.Dataset]:
    r"""``log_likelihood`` (``y``: the log-likelihood of both arms of study i per draw) and
    ``posterior_predictive`` (new arm data per draw) of the arm-level models, from the
    sampled baselines and study effects with the builders' formulas
    (:mod:`sparsemeta.bayes.models`): binomial-normal
    :math:`\mathrm{logit}\,p_c = \alpha - s\theta`, :math:`\mathrm{logit}\,p_t = \alpha +
    (1 - s)\theta` (:math:`s = 1/2` for symmetric arms, 0 for the comparator baseline);
    binomial-rr :math:`p_c = u\,e^{\min(0, -\theta)}`, :math:`p_t = u\,e^{\min(\theta, 0)}`;
    arm-normal :math:`\bar y_c \sim N(\alpha, s_c^2)`, :math:`\bar y_t \sim N(\alpha +
    \theta, s_t^2)` with :math:`\alpha = \bar y_c^{obs} + s_c a`.
    """
    import xarray as xr
    from scipy import special, stats

    theta = post["theta"].transpose("chain", "draw", "study").values
    base = post["baseline" if "baseline" in post else "baseline_std"]
    base = base.transpose("chain", "draw", "study").values
    d = info.data
    coords = {"study": list(info.labels)}
    dims = ("chain", "draw", "study")
    if info.family == "arm-normal":
        alpha = d["mean_c"] + d["se_c"] * base
        loglik = stats.norm.logpdf(d["mean_c"], alpha, d["se_c"]) + stats.norm.logpdf(
            d["mean_t"], alpha + theta, d["se_t"]
        )
        rep = {
            "mean_t": alpha + theta + d["se_t"] * rng.standard_normal(theta.shape),
            "mean_c": alpha + d["se_c"] * rng.standard_normal(theta.shape),
        }
    else:
        if info.family == "binomial-normal":
            shift = 0.5 if info.options.get("arms", "symmetric") == "symmetric" else 0.0
            p_c = special.expit(base - shift * theta)
            p_t = special.expit(base + (1.0 - shift) * theta)
        else:
            p_c = base * np.exp(np.minimum(0.0, -theta))
            p_t = base * np.exp(np.minimum(theta, 0.0))
        n_t, n_c = d["n_t"], d["n_c"]
        loglik = stats.binom.logpmf(d["events_t"], n_t, p_t) + stats.binom.logpmf(
            d["events_c"], n_c, p_c
        )
        rep = {
            "events_t": rng.binomial(np.broadcast_to(n_t, p_t.shape), p_t),
            "events_c": rng.binomial(np.broadcast_to(n_c, p_c.shape), p_c),
        }
    chain_draw = {"chain": post["chain"].values, "draw": post["draw"].values, **coords}
    return {
        "log_likelihood": xr.Dataset({"y": (dims, loglik)}, coords=chain_draw),
        "posterior_predictive": xr.Dataset(
            {name: (dims, arr) for name, arr in rep.items()}, coords=chain_draw
        ),
    }


def _prior_draws(info: ModelInfo, n: int, rng: np.random.Generator) -> xr.Dataset:
    import xarray as xr

    se = info.data.get("se")
    kwargs = {"se": se} if getattr(info.tau_prior, "requires_se", False) else {}
    tau = np.asarray(info.tau_prior.random(rng, size=(1, n), **kwargs), dtype=float)
    out = {"tau": (("chain", "draw"), tau)}
    if info.mu_prior is not None and getattr(info.mu_prior, "proper", True):
        mu = np.asarray(info.mu_prior.random(rng, size=(1, n)), dtype=float)
        out["mu"] = (("chain", "draw"), mu)
        out["theta_new"] = (("chain", "draw"), mu + tau * rng.standard_normal((1, n)))
    return xr.Dataset(out, coords={"chain": [0], "draw": np.arange(n)})


# ----------------------------------------------------------------------------- summary


def _summary_row(
    param: str, study: str | None, draws: np.ndarray, transform: bool, diag: dict[str, float]
) -> dict[str, Any]:
    values = np.exp(draws) if transform else draws
    return {
        "param": param,
        "study": study,
        "mean": float(np.mean(values)),
        "sd": float(np.std(values, ddof=1)),
        "median": float(np.median(values)),
        "lower": float(np.quantile(values, 0.025)),
        "upper": float(np.quantile(values, 0.975)),
        **diag,
    }


def _rao_blackwell_rows(
    param: str,
    study: str | None,
    means: np.ndarray,
    sds: np.ndarray,
    ratio: bool,
    diag: dict[str, float],
) -> list[dict[str, Any]]:
    r"""Summary of an effect whose conditional given each draw is N(means, sds^2), and with
    ``ratio`` also of its exp (row ``exp(param)``).

    The margin is the mixture :math:`\frac1S \sum_s N(m_s, s_s^2)` (Rao-Blackwellisation:
    no extra normal draw per posterior draw); quantiles by
    :class:`sparsemeta.bayes.exact.NormalMixture` (computed once: those of exp of the effect
    are their exp), moments in closed form (of exp of the effect:
    :math:`E e^{X} = \overline{e^{m + s^2/2}}`).
    """
    from sparsemeta.bayes import exact

    m, sd = np.asarray(means, float).ravel(), np.maximum(np.asarray(sds, float).ravel(), 1e-12)
    mix = exact.NormalMixture(param, m, sd, np.full(m.size, 1.0 / m.size))
    q = np.asarray(mix.quantile(np.array([0.5, 0.025, 0.975])))
    mean, sd_out = float(m.mean()), math.sqrt(float(np.mean(sd**2) + m.var()))
    moments = [(param, q, mean, sd_out)]
    if ratio:
        exp_mean = float(np.mean(np.exp(m + sd**2 / 2)))
        exp_sd = math.sqrt(max(float(np.mean(np.exp(2 * m + 2 * sd**2))) - exp_mean**2, 0.0))
        moments.append((f"exp({param})", np.exp(q), exp_mean, exp_sd))
    return [
        {
            "param": name,
            "study": study,
            "mean": mean_,
            "sd": sd_,
            "median": float(q_[0]),
            "lower": float(q_[1]),
            "upper": float(q_[2]),
            **diag,
        }
        for name, q_, mean_, sd_ in moments
    ]


def _summarise(
    idata: az.InferenceData,
    measure: str | None,
    conv: dict[str, xr.Dataset],
    info: ModelInfo | None = None,
    extended: bool = False,
) -> pd.DataFrame:
    import arviz as az

    post = idata.posterior
    ratio = measure is not None and measures.is_ratio(measure.upper())
    rows = []
    summarised = [v for v in ("mu", "tau", "theta_new", "theta") if v in post]
    with without_numba():
        mcse = az.mcse(post[summarised], method="quantile", prob=0.5)
    stats = {"mcse_median": mcse, **conv}

    def diag_of(var: Any, sel: dict[str, Any]) -> dict[str, float]:
        return {
            name: float(ds[var].sel(sel) if sel else ds[var])
            for name, ds in stats.items()
            if var in ds
        }

    rao_blackwell = info is not None and "mu" in post and "tau" in post
    for var, effect in (("mu", True), ("tau", False), ("theta_new", True)):
        if var not in post or set(post[var].dims) != {"chain", "draw"}:
            continue
        draws = post[var].values.ravel()
        diag = diag_of(var, {})
        if var == "theta_new" and rao_blackwell:  # theta_new | mu, tau ~ N(mu, tau^2)
            mu, tau = post["mu"].values.ravel(), post["tau"].values.ravel()
            rows += _rao_blackwell_rows(var, None, mu, tau, ratio, diag)
            continue
        rows.append(_summary_row(var, None, draws, False, diag))
        if ratio and effect:
            rows.append(_summary_row(f"exp({var})", None, draws, True, diag))
    if "theta" in post and "study" in post["theta"].dims:
        nn = (
            rao_blackwell
            and info is not None
            and info.family == "normal-normal"
            and "covariates" not in info.options
        )
        for i, lab in enumerate(post["theta"]["study"].values):
            diag = diag_of("theta", {"study": lab})
            if nn:  # theta_i | mu, tau, y ~ N(b mu + (1 - b) y_i, (1 - b) se_i^2)
                y, se = info.data["y"][i], info.data["se"][i]  # type: ignore[union-attr]
                mu, tau = post["mu"].values.ravel(), post["tau"].values.ravel()
                b = se**2 / (se**2 + tau**2)
                means, sds = b * mu + (1 - b) * y, np.sqrt((1 - b) * se**2)
                rows += _rao_blackwell_rows("theta", str(lab), means, sds, False, diag)
                continue
            draws = post["theta"].sel(study=lab).values.ravel()
            rows.append(_summary_row("theta", str(lab), draws, False, diag))
    if extended and info is not None:  # the variables the user added
        from sparsemeta.bayes.models import VarNames

        full = VarNames(info.name).full
        for var in post.data_vars:
            if full(str(var)) in info.variables or var in (*summarised, "theta_new"):
                continue
            arr = post[var]
            extra = [d for d in arr.dims if d not in ("chain", "draw")]
            if not extra:
                rows.append(
                    _summary_row(str(var), None, arr.values.ravel(), False, diag_of(var, {}))
                )
            elif extra == ["study"]:
                for lab in arr["study"].values:
                    draws = arr.sel(study=lab).values.ravel()
                    diag = diag_of(var, {"study": lab})
                    rows.append(_summary_row(str(var), str(lab), draws, False, diag))
    return summary_frame(rows, 0.95)


def _check_proper(info: ModelInfo) -> None:
    """Refuse (PriorError) a model whose posterior the exact engines call improper."""
    from sparsemeta.bayes import exact, exact_binomial

    if info.family in ("binomial-normal", "binomial-rr"):
        counts = tuple(
            np.asarray(info.data[c], float) for c in ("events_t", "n_t", "events_c", "n_c")
        )
        exact_binomial.check_proper(
            counts,
            info.family,
            info.options.get("arms", "symmetric"),
            info.options.get("baseline_sd", 1.0),
            info.mu_prior,
        )
    elif info.family == "normal-normal" and "covariates" not in info.options:
        y, se = info.data["y"][None, :], info.data["se"][None, :]
        mu = exact._mu_prior(info.mu_prior)
        exact._check_proper(info.tau_prior, exact._Data(y, se, np.ones_like(y, bool), mu))


# ----------------------------------------------------------------------------- entry point


def sample(
    data_or_model: pd.DataFrame | pm.Model,
    measure: str | None = None,
    *,
    model: str = "normal-normal",
    tau_prior: TauPriorLike = None,
    mu_prior: MuPriorLike = None,
    engine: Literal["nutpie", "pymc"] = "nutpie",
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = 0,
    strict: bool = False,
    target_accept: float | None = None,
    cache: bool = False,
    covariates: Sequence[str] = (),
    progress: bool | None = None,
) -> FitResult:
    r"""Fit one random-effects meta-analysis by MCMC and apply the diagnostics gate.

    Parameters
    ----------
    data_or_model : pandas.DataFrame or pymc.Model
        A study table of one analysis (see :func:`prepare`), or a model built by
        :mod:`sparsemeta.bayes.models` (possibly extended; then ``model``, ``measure``'s default,
        ``tau_prior`` and ``mu_prior`` come from the model). Any other PyMC model is
        sampled as it is and summarised through its ``mu``/``tau``/``theta`` variables.
    measure : str, optional
        RR, OR, RD, MD, SMD (ratio measures are analysed on the log scale). Needed for the
        normal-normal model on a table; the binomial models imply OR / RR, arm-normal MD.
    model : str
        ``"normal-normal"`` (default), ``"binomial-normal"``, ``"binomial-rr"`` or
        ``"arm-normal"`` (see :mod:`sparsemeta.bayes.models`).
    tau_prior : TauPrior, str or None
        E.g. ``"halfnormal(0.5)"``; ``None`` (or ``"default"``): the measure's default
        (:data:`sparsemeta.measures.TABLE`; MD and generic effects have none).
    mu_prior : MuPrior, str or None
        ``None`` (or ``"default"``): the measure's default; ``"flat"``: the flat prior.
    engine : {"nutpie", "pymc"}
        Sampler; if nutpie fails to compile or is missing, PyMC's NUTS is used (with a
        warning) and ``FitResult.engine`` says so.
    draws, tune, chains : int
        Draws kept and warm-up iterations per chain; number of chains.
    seed : int
        Seeds the sampler and the post-processing generator: the same seed gives
        identical draws.
    strict : bool
        Raise :class:`~sparsemeta.errors.DiagnosticsError` when the gate or the exact
        cross-check fails (default: warn with :class:`~sparsemeta.errors.DiagnosticsWarning`).
    target_accept : float, optional
        NUTS target acceptance; default :data:`DEFAULT_TARGET_ACCEPT` for the family.
    cache : bool
        Keep the fit on disk (:func:`cache_dir`) and reuse it when an identical fit is
        asked for again, in this or a later process (models of :mod:`sparsemeta.bayes.models`
        only); the gate and the summary are recomputed from the loaded draws.
    covariates : sequence of str
        Covariate columns of the table for a meta-regression (see :func:`prepare`); the
        posterior then holds ``beta`` (dims ``covariate``) and ``mu`` is the intercept.
    progress : bool, optional
        Show the sampler's progress (nutpie's bars per chain with draws and divergences so
        far, or PyMC's) and say when a model is being compiled. Default: on when standard
        error is a terminal, off otherwise (pipes, files, CI logs).

    Returns
    -------
    FitResult
        ``summary()`` has one row per quantity: ``mu`` (and ``exp(mu)`` for ratio
        measures), ``tau``, ``theta_new`` (and ``exp(theta_new)``), and ``theta`` per study,
        with columns :data:`sparsemeta.results.SUMMARY_COLUMNS` (95% intervals) and the
        diagnostics ``mcse_median, ess_bulk, ess_tail, r_hat``, then ``prior_dominated``
        (:mod:`sparsemeta.bayes.dominance`); posterior probabilities come from ``prob``,
        e.g. ``prob("mu", "<", 0)``. ``theta_new`` rows (and the ``theta`` rows of the
        normal-normal model without covariates) are Rao-Blackwellised: computed from the
        normal conditionals given each (mu, tau) draw. Variables a user added to a
        builder's model get rows of their own. ``crosscheck`` compares mu, tau and
        theta_new with the exact posterior when the model has one
        (:mod:`sparsemeta.bayes.crosscheck`).

    Raises
    ------
    DataError, PriorError
        Bad data or priors.
    DiagnosticsError
        With ``strict=True`` when the gate fails.
    """
    import pymc as pm

    from sparsemeta.bayes import models

    t_start = time.perf_counter()
    if engine not in ("nutpie", "pymc"):
        raise DataError(f"fit: unknown engine {engine!r}; use 'nutpie' or 'pymc'")
    check_settings(draws=draws, tune=tune, chains=chains, seed=seed)
    if target_accept is not None and not (
        isinstance(target_accept, int | float) and 0 < target_accept < 1
    ):
        raise DataError(f"fit: target_accept must be a number in (0, 1), got {target_accept!r}")
    excluded = pd.DataFrame({"study": [], "reason": []})
    if isinstance(data_or_model, pm.Model):
        pm_model, tau_prior, mu_prior = data_or_model, None, None
        info = models.model_info(pm_model)
        family = info.family if info is not None else None
        if measure is None and family in MEASURE_OF_FAMILY:
            measure = MEASURE_OF_FAMILY[family]
    else:
        pm_model, measure, excluded = prepare(
            data_or_model, measure, model, tau_prior, mu_prior, covariates
        )
        info = models.model_info(pm_model)
        family = model
    extended = info is not None and models.is_extended(pm_model)
    names = models.VarNames.of(pm_model)
    if info is not None:
        _check_proper(info)
    if target_accept is None:
        target_accept = DEFAULT_TARGET_ACCEPT.get(family, DEFAULT_TARGET_ACCEPT[None])
    settings = {
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "seed": seed,
        "target_accept": target_accept,
    }
    labels = list(pm_model.coords.get("study", ()) or ())
    used, compile_seconds, sampling_seconds, cached = engine, 0.0, 0.0, False
    compiled_from_disk = False
    disk, record = None, None
    if cache and info is not None:
        record = _disk_record(info, engine, settings)
        disk = cache_dir() / f"{disk_cache.sha256_key(record)}.fit"
    loaded = _load_fit(disk, record) if disk is not None and record is not None else None
    idata, netcdf = loaded if loaded is not None else (None, None)
    from_disk = idata is not None
    if idata is None:
        show = sys.stderr.isatty() if progress is None else bool(progress)
        t_sample = time.perf_counter()
        try:
            raw, compile_seconds, cached, compiled_from_disk = _draw(
                engine, pm_model, info, settings, show
            )
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # nutpie reports Rust panics as BaseException
            if engine != "nutpie":
                raise
            warnings.warn(
                f"nutpie failed ({type(exc).__name__}: {exc}); falling back to PyMC's NUTS",
                UserWarning,
                stacklevel=2,
            )
            used, t_sample = "pymc", time.perf_counter()
            raw, compile_seconds, cached, compiled_from_disk = _draw(
                used, pm_model, info, settings, show
            )
        sampling_seconds = time.perf_counter() - t_sample - compile_seconds
        idata = _posterior_only(raw, [str(lab) for lab in labels], names)
        if info is not None and "mu" in idata.posterior and "tau" in idata.posterior:
            idata = _post_process(idata, info, np.random.default_rng(seed))
        if disk is not None and record is not None and used == engine:
            netcdf = _store_fit(idata, disk, record)  # a fallback's draws are not cached
    conv = convergence(idata.posterior)
    diag = gate(idata, conv)
    table = _summarise(idata, measure, conv, info, extended)
    check, why = _against_exact(pm_model, info, idata, len(labels))
    table["prior_dominated"] = bool(why)
    result = FitResult(
        idata=idata,
        table=table,
        diagnostics=diag,
        family=family,
        measure=measure,
        tau_prior=info.tau_prior if info is not None else tau_prior,
        mu_prior=info.mu_prior if info is not None else mu_prior,
        engine=used,
        labels=[str(lab) for lab in labels],
        excluded=excluded,
        compile_seconds=compile_seconds,
        sampling_seconds=sampling_seconds,
        seconds=time.perf_counter() - t_start,
        cached=cached,
        settings=settings,
        from_disk=from_disk,
        compiled_from_disk=compiled_from_disk,
        crosscheck=check,
        extended=extended,
        prior_dominated=why,
        model_name=names.model,
        netcdf=netcdf,
    )
    if not diag.passed:
        _alarm(gate_message(diag, family, settings), strict)
    elif check is not None and not check.passed:  # one loud warning is enough
        _alarm(f"{family} model: " + check.message(), strict)
    return result


def _alarm(message: str, strict: bool) -> None:
    """Raise DiagnosticsError (strict) or warn with DiagnosticsWarning."""
    if strict:
        raise DiagnosticsError(message)
    warnings.warn(message, DiagnosticsWarning, stacklevel=3)


def _against_exact(
    pm_model: pm.Model, info: ModelInfo | None, idata: az.InferenceData, k: int
) -> tuple[CrossCheck | None, tuple[str, ...]]:
    """The cross-check against the exact posterior (when there is one) and the reasons the
    result is prior-dominated (:mod:`sparsemeta.bayes.dominance`)."""
    from sparsemeta.bayes import crosscheck, dominance

    check, kl = None, None
    if all(v in idata.posterior for v in ("mu", "tau", "theta_new")):
        reference = crosscheck.exact_reference(pm_model)
        if reference is not None:
            with without_numba():  # its MCSEs: ArviZ's NumPy code, no JIT compilation
                check = crosscheck.compare(idata, reference)
            if getattr(reference.tau_prior, "proper", True):
                kl = reference.kl_tau()
    events = None
    if info is not None and "events_t" in info.data:
        events = (info.data["events_t"], info.data["events_c"])
    return check, tuple(dominance.reasons(k, events, kl))
