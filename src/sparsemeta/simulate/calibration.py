r"""Calibration studies: how often do few-study intervals cover the truth?

A calibration study draws many meta-analyses from the normal-normal hierarchical model
(NNHM) with a known overall effect :math:`\mu` and heterogeneity :math:`\tau`, analyses each
with several methods and reports, per method × :math:`k` × :math:`\tau`, the coverage of the
95% interval, its width, and the bias and RMSE of the point estimate.

Data-generating model (one replicate, :math:`i = 1, \dots, k`)::

    theta_i ~ N(mu, tau^2)
    y_i     ~ N(theta_i, s_i^2)                  (continuous design), or
    r_ci ~ Bin(n_ci, p0),  r_ti ~ Bin(n_ti, expit(logit(p0) + theta_i))   (binary design)

with standard errors :math:`s_i` fixed or drawn per replicate from :math:`U(a, b)`. In the
binary design :math:`\theta_i` is the true log odds ratio of study :math:`i` and the analysed
effects are RevMan's zero-corrected log odds ratios (:func:`sparsemeta.effects.log_or`); a
study with no events (or all events) in both arms is not estimable and is left out of that
replicate, as RevMan would.

Methods (names accepted by :func:`method`):

==========================  ================================================================
``fe``                      common-effect inverse-variance pool, normal (z) interval
``dl``, ``reml``, ``pm``    random effects with the DerSimonian-Laird, REML or Paule-Mandel
                            :math:`\hat\tau^2`, normal (z) interval
``hksj``                    DL :math:`\hat\tau^2` with the Hartung-Knapp-Sidik-Jonkman interval
                            :math:`\hat\mu \pm t_{k-1,0.975}\,\mathrm{SE}_{HK}` (IntHout et al. 2014)
``mkh``                     DL :math:`\hat\tau^2`, modified Knapp-Hartung (:math:`q` floored at 1;
                            Röver, Knapp & Friede 2015)
``<tau2>-<ci>``             any other pairing, e.g. ``reml-hksj``, ``pm-mkh``, ``pm-z``
any prior string            Bayesian NNHM, exact posterior (:func:`sparsemeta.bayes.exact.posterior_batch`),
                            e.g. ``halfnormal(0.5)``: 95% equal-tailed credible interval of
                            :math:`\mu`, point estimate the posterior median
``bnhm:<prior>``            binomial-normal model (log odds ratio, arm-symmetric) fitted by
                            MCMC (:func:`sparsemeta.bayes.sample.sample`), binary designs only,
                            one fit per replicate (seconds each: for small replicate counts); a
                            fit that fails the diagnostics gate is a failed replicate
``bnhm-exact:<prior>``      the same model, exact posterior by quadrature
                            (:func:`sparsemeta.bayes.exact_binomial.posterior`, no MCMC; tens
                            of milliseconds per replicate): 95% equal-tailed interval and
                            median of :math:`\mu`
==========================  ================================================================

The binomial methods (:data:`COUNT_METHODS`) analyse every study's 2×2 counts, double-zero
studies included, with the τ prior named after the colon (``default``: the odds ratio's
default of :data:`sparsemeta.measures.TABLE`) and, unless ``mu_prior`` names another, the
measure table's μ prior for the odds ratio, N(0, 2.82²); the exact engine refuses a flat μ
prior. A replicate whose fit raises (or, for MCMC, fails the diagnostics gate) is not dropped
silently: it counts in the ``failed`` column of the table, is listed with its data and the
error in :attr:`Calibration.failures`, and :func:`simulate` warns.

Reproducibility: replicates come in chunks of ``chunk_size``; chunk ``j`` of the cell
(:math:`k`, :math:`\tau` index ``t``) draws from
``numpy.random.SeedSequence(seed, spawn_key=(k, t, j))``. Every method sees the same
replicates, and a result depends only on the design (seed, chunk size included), never on how
many workers computed it or in which order the chunks finished.

Monte Carlo error: coverage :math:`\hat c` over :math:`R` replicates has standard error
:math:`\sqrt{\hat c(1-\hat c)/R}` (Morris, White & Crowther 2019, Stat Med 38:2074-2102).

References
----------
IntHout J, Ioannidis JPA, Borm GF (2014). BMC Med Res Methodol 14:25.
Röver C, Knapp G, Friede T (2015). BMC Med Res Methodol 15:99.
Friede T, Röver C, Wandel S, Neuenschwander B (2017). Biom J 59(4):658-671.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import special
from tqdm import tqdm

from sparsemeta import frequentist, measures
from sparsemeta._parallel import client
from sparsemeta.bayes.priors import split_list
from sparsemeta.errors import (
    DataError,
    DiagnosticsError,
    PriorError,
    SingleStudyWarning,
    SparsemetaError,
)
from sparsemeta.io.output import atomic_path, check_output_path
from sparsemeta.results import json_safe

if TYPE_CHECKING:
    from distributed import Client
    from matplotlib.figure import Figure

__all__ = [
    "Calibration",
    "Design",
    "Interval",
    "Method",
    "Replicates",
    "draw",
    "evaluate",
    "method",
    "parse_floats",
    "parse_se",
    "plot",
    "simulate",
    "summarise",
]

#: Nominal level of every interval in a calibration study.
LEVEL = 0.95

#: Columns of :attr:`Calibration.failures`.
FAILURE_COLUMNS = ("method", "k", "tau", "replicate", "data", "error")

#: τ² estimator and interval type behind each frequentist short name.
FREQUENTIST_METHODS: dict[str, tuple[str, str]] = {
    "fe": ("FE", "z"),
    "dl": ("DL", "z"),
    "reml": ("REML", "z"),
    "pm": ("PM", "z"),
    "hksj": ("DL", "hksj"),
    "mhk": ("DL", "mhk"),
}
_TAU2 = {"fe": "FE", **{m.lower(): m for m in frequentist.TAU2_METHODS}}
_CI = {m: m for m in frequentist.CI_METHODS}
#: ``mkh``, the spelling of ``--methods`` in the published calibration study
#: (docs/calibration.md), is read as ``mhk``; the method keeps the label it was given
_CI_ALIASES = {"mkh": "mhk"}


# --------------------------------------------------------------------------- parsing


def parse_floats(text: str, what: str = "value") -> tuple[float, ...]:
    """Parse ``"0,0.25,0.5"`` into a tuple of finite floats (``DataError`` otherwise)."""
    try:
        values = tuple(float(item) for item in split_list(text))
    except ValueError as exc:
        raise DataError(f"{what}: expected comma-separated numbers, got {text!r}") from exc
    if not values or not all(math.isfinite(v) for v in values):
        raise DataError(f"{what}: expected finite numbers, got {text!r}")
    return values


def parse_se(text: str) -> tuple[tuple[float, ...], tuple[float, float] | None]:
    """Parse a standard-error specification.

    ``"0.3:0.8"`` means drawn per study and replicate from U(0.3, 0.8); ``"0.5"`` or
    ``"0.2,0.4,0.6"`` are fixed values (one for every study, or one per study).

    Returns
    -------
    (fixed, range)
        Exactly one of the two is filled: ``(values, None)`` or ``((), (low, high))``.
    """
    if ":" in text:
        low, _, high = text.partition(":")
        lo, hi = parse_floats(low, "se"), parse_floats(high, "se")
        if len(lo) != 1 or len(hi) != 1:
            raise DataError(f"se: a range is written low:high, got {text!r}")
        return (), (lo[0], hi[0])
    return parse_floats(text, "se"), None


# --------------------------------------------------------------------------- design


@dataclass(frozen=True)
class Design:
    """What to simulate.

    Parameters
    ----------
    k
        Numbers of studies per meta-analysis (one cell per value).
    taus
        True between-study standard deviations τ (one cell per value).
    reps
        Replicates per cell (k × τ).
    mu
        True overall effect μ (log odds ratio in a binary design).
    se
        Fixed within-study standard errors: one value for all studies or one per study.
    se_range
        ``(low, high)``: standard errors drawn from U(low, high) per study and replicate.
    n_per_arm
        Binary design: patients per arm (one value for all studies or one per study).
    baseline_risk
        Binary design: event risk p0 in the comparator arms.
    seed
        Root of every random stream (see the module notes).
    chunk_size
        Replicates per task; part of the design because it fixes the random streams.
    """

    k: tuple[int, ...]
    taus: tuple[float, ...]
    reps: int
    mu: float = 0.0
    se: tuple[float, ...] = ()
    se_range: tuple[float, float] | None = None
    n_per_arm: tuple[int, ...] = ()
    baseline_risk: float | None = None
    seed: int = 0
    chunk_size: int = 1000

    def __post_init__(self) -> None:
        object.__setattr__(self, "k", tuple(int(v) for v in np.atleast_1d(self.k)))
        object.__setattr__(self, "taus", tuple(float(v) for v in np.atleast_1d(self.taus)))
        object.__setattr__(self, "se", tuple(float(v) for v in np.atleast_1d(self.se)))
        object.__setattr__(self, "n_per_arm", tuple(int(v) for v in np.atleast_1d(self.n_per_arm)))
        if not self.k or min(self.k) < 1:
            raise DataError(f"k: need numbers of studies >= 1, got {self.k}")
        if not self.taus or min(self.taus) < 0:
            raise DataError(f"tau: need values >= 0, got {self.taus}")
        if self.reps < 1 or self.chunk_size < 1:
            raise DataError("reps and chunk_size must be >= 1")
        if self.seed < 0:
            raise DataError(f"seed must be >= 0, got {self.seed}")
        if not math.isfinite(self.mu):
            raise DataError(f"mu must be finite, got {self.mu}")
        if self.binary:
            self._check_binary()
        else:
            self._check_se()

    @property
    def binary(self) -> bool:
        """True for a binary (two-arm event count) design."""
        return bool(self.n_per_arm) or self.baseline_risk is not None

    def _check_per_study(self, values: tuple, what: str) -> None:
        if len(values) > 1 and set(self.k) != {len(values)}:
            raise DataError(f"{what}: give one value or one per study (k = {len(values)} only)")

    def _check_se(self) -> None:
        if bool(self.se) == (self.se_range is not None):
            raise DataError("give either fixed standard errors or a range low:high, not both")
        if self.se_range is not None:
            low, high = self.se_range
            if not 0 < low <= high:
                raise DataError(f"se range: need 0 < low <= high, got {low}:{high}")
        elif min(self.se) <= 0:
            raise DataError(f"se: need positive values, got {self.se}")
        self._check_per_study(self.se, "se")

    def _check_binary(self) -> None:
        if not self.n_per_arm or self.baseline_risk is None:
            raise DataError("a binary design needs both arm sizes and a baseline risk")
        if self.se or self.se_range is not None:
            raise DataError("a binary design takes arm sizes, not standard errors")
        if min(self.n_per_arm) < 1:
            raise DataError(f"arm sizes must be >= 1, got {self.n_per_arm}")
        if not 0 < self.baseline_risk < 1:
            raise DataError(f"baseline risk must be in (0, 1), got {self.baseline_risk}")
        self._check_per_study(self.n_per_arm, "arm sizes")

    def chunks(self) -> Iterator[tuple[int, int, int, int]]:
        """Tasks ``(k, tau_index, chunk_index, n_replicates)`` in table order."""
        n_chunks = -(-self.reps // self.chunk_size)
        for k in self.k:
            for t in range(len(self.taus)):
                for j in range(n_chunks):
                    yield k, t, j, min(self.chunk_size, self.reps - j * self.chunk_size)


@dataclass(frozen=True)
class Replicates:
    """One chunk of simulated meta-analyses, arrays of shape ``(n, k)``.

    ``y`` and ``se`` hold the analysed effects and standard errors (NaN where a study is not
    estimable); ``theta`` the true study effects; binary designs also fill the 2×2 counts
    and ``seeds``, one sampler seed per replicate for MCMC methods.
    """

    y: np.ndarray
    se: np.ndarray
    theta: np.ndarray
    events_t: np.ndarray | None = None
    n_t: np.ndarray | None = None
    events_c: np.ndarray | None = None
    n_c: np.ndarray | None = None
    seeds: np.ndarray | None = None


def draw(
    design: Design, k: int, tau_index: int, chunk_index: int, n: int | None = None
) -> Replicates:
    """Draw one chunk of replicates from its own seed ``(seed, spawn_key=(k, t, j))``.

    ``n`` defaults to the chunk's size in the design.
    """
    if n is None:
        n = min(design.chunk_size, design.reps - chunk_index * design.chunk_size)
    seq = np.random.SeedSequence(design.seed, spawn_key=(k, tau_index, chunk_index))
    rng = np.random.default_rng(seq)
    tau = design.taus[tau_index]
    theta = design.mu + tau * rng.standard_normal((n, k))
    if design.binary:
        from sparsemeta import effects

        size = np.broadcast_to(np.asarray(design.n_per_arm), (n, k))
        p0 = float(design.baseline_risk)  # type: ignore[arg-type]
        events_c = rng.binomial(size, p0)
        events_t = rng.binomial(size, special.expit(special.logit(p0) + theta))
        y, v = effects.log_or(events_t, size, events_c, size)
        seeds = np.random.SeedSequence(
            design.seed, spawn_key=(k, tau_index, chunk_index, 1)
        ).generate_state(n)
        return Replicates(y, np.sqrt(v), theta, events_t, size, events_c, size, seeds)
    if design.se_range is not None:
        se = rng.uniform(*design.se_range, size=(n, k))
    else:
        se = np.broadcast_to(np.asarray(design.se, dtype=float), (n, k)).copy()
    y = theta + se * rng.standard_normal((n, k))
    return Replicates(y, se, theta)


# --------------------------------------------------------------------------- methods


@dataclass(frozen=True)
class Interval:
    """Point estimates and interval limits of μ, one per replicate.

    ``failures`` lists the replicates whose fit failed as ``(row, message)``; their three
    values are NaN.
    """

    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    failures: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class Method:
    """An analysis method applied to many meta-analyses at once.

    ``kind`` is ``"frequentist"``, ``"bayes"`` (exact normal-normal) or the kind of a
    :data:`COUNT_METHODS` entry. ``fn(y, se)`` takes arrays ``(n, k)`` (no missing values)
    and returns an :class:`Interval`; ``min_k`` is the fewest studies it can analyse. The
    binomial methods instead fit one replicate at a time from its 2×2 counts with
    ``counts_fn(events_t, n_t, events_c, n_c, seed) -> (estimate, low, high)``, which raises
    when the fit fails.
    """

    name: str
    kind: str
    fn: Callable[[np.ndarray, np.ndarray], Interval] = field(repr=False, compare=False)
    min_k: int = 1
    counts_fn: Callable[..., tuple[float, float, float]] | None = field(
        default=None, repr=False, compare=False
    )

    def __call__(self, y: np.ndarray, se: np.ndarray) -> Interval:
        return self.fn(y, se)


def _frequentist(tau2_method: str, ci_method: str) -> Callable[[np.ndarray, np.ndarray], Interval]:
    """Vectorised frequentist interval from the low-level estimators of
    :mod:`sparsemeta.frequentist` (which work along the last axis)."""
    fq = frequentist
    tau2_fn = {"DL": fq.tau2_dl, "REML": fq.tau2_reml, "PM": fq.tau2_pm}.get(tau2_method)

    def fn(y: np.ndarray, se: np.ndarray) -> Interval:
        v = se**2
        if tau2_fn is None:
            est, sem = fq.fixed_iv(y, v)
            tau2 = np.zeros(y.shape[0])
        else:
            tau2 = tau2_fn(y, v)
            est, sem = fq.random_iv(y, v, tau2)
        if ci_method == "z":
            half = special.ndtri(0.5 + LEVEL / 2) * sem
        else:
            k = y.shape[-1]
            se_hk = fq.hksj_se(y, v, tau2, modified=ci_method == "mhk")
            half = special.stdtrit(k - 1, 0.5 + LEVEL / 2) * se_hk
        return Interval(est, est - half, est + half)

    return fn


def _bayes(prior_text: str, mu_prior: str | None) -> Callable[[np.ndarray, np.ndarray], Interval]:
    """Equal-tailed credible interval and posterior median of μ from
    :func:`sparsemeta.bayes.exact.posterior_batch`."""
    from sparsemeta.bayes import exact, priors

    # normal design: generic effects, whose default mu prior is flat (sparsemeta.measures)
    tau_prior = priors.tau_prior(prior_text)
    mu = priors.mu_prior(mu_prior)

    def fn(y: np.ndarray, se: np.ndarray) -> Interval:
        with warnings.catch_warnings():  # single-study replicates are expected here
            warnings.simplefilter("ignore", SingleStudyWarning)
            post = exact.posterior_batch(
                y, se, tau_prior, mu, quantiles=(0.5,), level=LEVEL, params=("mu",)
            )
        return Interval(
            post["mu_q500"].to_numpy(), post["mu_lower"].to_numpy(), post["mu_upper"].to_numpy()
        )

    return fn


def _no_vectorised(y: np.ndarray, se: np.ndarray) -> Interval:
    raise DataError("MCMC methods analyse 2x2 counts: use them with a binary design")


def _bnhm(prior_text: str, mu_prior: str | None) -> Callable[..., tuple[float, float, float]]:
    """Binomial-normal model fitted by MCMC (:func:`sparsemeta.bayes.sample.sample`); the
    posterior median and 95% interval of μ. A fit that fails the diagnostics gate raises
    :class:`~sparsemeta.errors.DiagnosticsError` (a failed replicate)."""
    from sparsemeta.bayes import priors, sample
    from sparsemeta.errors import DiagnosticsWarning

    tau_prior = priors.tau_prior(prior_text, "OR")
    mu = priors.mu_prior(mu_prior, "OR")

    def fn(events_t, n_t, events_c, n_c, seed: int) -> tuple[float, float, float]:
        table = pd.DataFrame(
            {
                "study": [f"study {i + 1}" for i in range(len(events_t))],
                "events_t": events_t,
                "n_t": n_t,
                "events_c": events_c,
                "n_c": n_c,
            }
        )
        with warnings.catch_warnings():
            warnings.simplefilter("error", DiagnosticsWarning)
            try:
                res = sample.sample(
                    table, model="binomial-normal", tau_prior=tau_prior, mu_prior=mu, seed=seed
                )
            except DiagnosticsWarning as exc:
                raise DiagnosticsError(f"diagnostics gate failed: {exc}") from None
        row = res.summary().set_index("param").loc["mu"]
        return float(row["median"]), float(row["lower"]), float(row["upper"])

    return fn


def _bnhm_exact(prior_text: str, mu_prior: str | None) -> Callable[..., tuple[float, float, float]]:
    r"""Binomial-normal model (log odds ratio, arm-symmetric), exact posterior by quadrature
    (:func:`sparsemeta.bayes.exact_binomial.posterior`): the posterior median and the 95%
    equal-tailed interval :math:`[q_{0.025}, q_{0.975}]` of μ.

    Raises
    ------
    PriorError
        A flat μ prior (the engine needs a normal one) or a τ prior built from standard
        errors, when the method is made (before any replicate is analysed).
    """
    from sparsemeta.bayes import exact_binomial, priors

    name = f"bnhm-exact:{prior_text}"
    tau_prior = priors.tau_prior(prior_text, "OR")
    mu = priors.mu_prior(mu_prior, "OR")
    if not mu.proper:
        raise PriorError(
            f"method {name!r}: the exact binomial engine needs a normal mu prior, got {mu}; "
            "leave the mu prior unset for the odds ratio's default normal(0, 2.82) or name "
            "one such as 'normal(0, 2.82)'"
        )
    if getattr(tau_prior, "requires_se", False):
        raise PriorError(
            f"method {name!r}: tau prior {tau_prior} depends on the study standard errors; "
            "use it with the normal-normal model"
        )
    probs = np.array([0.5 - LEVEL / 2, 0.5, 0.5 + LEVEL / 2])

    def fn(events_t, n_t, events_c, n_c, seed: int) -> tuple[float, float, float]:
        post = exact_binomial.posterior(events_t, n_t, events_c, n_c, tau_prior, mu)
        low, median, high = post.mu.quantile(probs)
        return float(median), float(low), float(high)

    return fn


#: Methods that analyse each replicate's 2×2 counts, named ``<prefix>:<τ prior>``: prefix →
#: (kind, factory). ``factory(prior_text, mu_prior)`` returns the per-replicate
#: ``counts_fn`` of :class:`Method`.
COUNT_METHODS: dict[str, tuple[str, Callable[[str, str | None], Callable[..., Any]]]] = {
    "bnhm": ("mcmc", _bnhm),
    "bnhm-exact": ("exact-binomial", _bnhm_exact),
}

#: Errors that make a replicate's fit fail (counted and listed) rather than stop the study.
_FIT_ERRORS = (SparsemetaError, ArithmeticError, ValueError)


def method(name: str, mu_prior: str | None = None) -> Method:
    """The :class:`Method` called ``name`` (see the module notes for the vocabulary).

    Parameters
    ----------
    name
        ``fe``, ``dl``, ``reml``, ``pm``, ``hksj``, ``mkh``, ``<tau2>-<ci>``, a τ prior string
        understood by :func:`sparsemeta.bayes.priors.parse` (exact normal-normal posterior),
        ``bnhm:<τ prior>`` (binomial-normal model by MCMC) or ``bnhm-exact:<τ prior>`` (the
        same model, exact posterior); the binomial methods (:data:`COUNT_METHODS`) need a
        binary design.
    mu_prior
        Prior of μ for Bayesian methods (a prior string); ``None`` means flat for the exact
        normal-normal posterior and sparsemeta's default μ prior for the log odds ratio
        (:func:`sparsemeta.bayes.priors.mu_prior_default`) for the binomial methods.

    Raises
    ------
    PriorError
        ``name`` is neither a frequentist method nor a prior that parses, or a binomial
        method's priors do not suit its engine.
    """
    key = name.strip().lower()
    prefix, colon, prior_text = name.strip().partition(":")
    if colon and prefix.strip().lower() in COUNT_METHODS:
        kind, factory = COUNT_METHODS[prefix.strip().lower()]
        counts = factory(prior_text.strip(), mu_prior)
        return Method(name.strip(), kind, _no_vectorised, 1, counts)
    parts = [_CI_ALIASES.get(part, part) for part in key.split("-")]
    if "-".join(parts) in FREQUENTIST_METHODS:
        tau2, ci = FREQUENTIST_METHODS["-".join(parts)]
    elif len(parts) == 2 and parts[0] in _TAU2 and parts[1] in _CI:
        tau2, ci = _TAU2[parts[0]], _CI[parts[1]]
    else:
        return Method(name.strip(), "bayes", _bayes(name.strip(), mu_prior))
    return Method(key, "frequentist", _frequentist(tau2, ci), 1 if ci == "z" else 2)


def evaluate(m: Method, reps: Replicates) -> Interval:
    """Apply a method to every replicate of a chunk.

    Replicates whose studies are all estimable are analysed in one vectorised call. When
    some studies are not estimable (binary designs), replicates are grouped by how many are
    left, compacted to that many columns and analysed group by group; replicates with fewer
    than ``m.min_k`` estimable studies get NaN (they count as not analysable). Binomial
    methods fit each replicate's counts (every study, double-zero ones included; MCMC with
    the replicate's own seed); a fit that raises one of :data:`_FIT_ERRORS` or returns a
    non-finite value gets NaN and is listed in :attr:`Interval.failures` with its message.
    """
    if m.counts_fn is not None:
        if reps.events_t is None or reps.seeds is None:
            raise DataError(f"method {m.name!r} analyses 2x2 counts: it needs a binary design")
        n = len(reps.seeds)
        out = np.full((n, 3), np.nan)
        failures: list[tuple[int, str]] = []
        for i, seed in enumerate(reps.seeds):
            try:
                fit = m.counts_fn(
                    reps.events_t[i], reps.n_t[i], reps.events_c[i], reps.n_c[i], int(seed)
                )
            except _FIT_ERRORS as exc:
                failures.append((i, f"{type(exc).__name__}: {exc}"))
                continue
            if not np.all(np.isfinite(fit)):
                failures.append((i, f"non-finite result (estimate, low, high) = {fit}"))
                continue
            out[i] = fit
        return Interval(out[:, 0], out[:, 1], out[:, 2], tuple(failures))
    ok = np.isfinite(reps.y) & np.isfinite(reps.se)
    if ok.all():
        return m(reps.y, reps.se)
    n = reps.y.shape[0]
    out = [np.full(n, np.nan) for _ in range(3)]
    counts = ok.sum(axis=1)
    for count in np.unique(counts):
        if count < m.min_k:
            continue
        rows = np.flatnonzero(counts == count)
        order = np.argsort(~ok[rows], axis=1, kind="stable")[:, :count]
        y = np.take_along_axis(reps.y[rows], order, axis=1)
        se = np.take_along_axis(reps.se[rows], order, axis=1)
        res = m(y, se)
        for target, part in zip(out, (res.estimate, res.low, res.high), strict=True):
            target[rows] = part
    return Interval(*out)


# --------------------------------------------------------------------------- running


def _run_chunk(
    task: tuple[int, int, int, int],
    design: Design,
    methods: Sequence[str],
    mu_prior: str | None,
) -> dict[str, Any]:
    """Simulate one chunk and analyse it with every method (runs on a worker)."""
    k, t, j, n = task
    reps = draw(design, k, t, j, n)
    out: dict[str, Any] = {
        "task": task,
        "intervals": {},
        "seconds": {},
        "cpu_seconds": {},
        "failures": {},
    }
    for name in methods:
        m = method(name, mu_prior)
        start, cpu = time.perf_counter(), time.thread_time()
        res = evaluate(m, reps)
        out["seconds"][name] = time.perf_counter() - start
        out["cpu_seconds"][name] = time.thread_time() - cpu
        out["intervals"][name] = np.column_stack([res.estimate, res.low, res.high])
        out["failures"][name] = [
            (row, _counts_text(reps, row), message) for row, message in res.failures
        ]
    return out


def _counts_text(reps: Replicates, row: int) -> str:
    """One replicate's 2×2 counts as ``events_t/n_t v events_c/n_c; ...`` (one per study)."""
    if reps.events_t is None or reps.n_t is None or reps.events_c is None or reps.n_c is None:
        return ""
    cols = (reps.events_t[row], reps.n_t[row], reps.events_c[row], reps.n_c[row])
    return "; ".join(f"{rt}/{nt} v {rc}/{nc}" for rt, nt, rc, nc in zip(*cols, strict=True))


def summarise(
    mu: float, method_name: str, k: int, tau: float, intervals: np.ndarray, failed: int = 0
) -> dict[str, Any]:
    r"""Calibration summary of one method in one cell.

    ``intervals`` has columns (estimate, low, high), one row per replicate. Rows with a
    missing limit are not analysable or failed and are left out of every statistic
    (``replicates_analysed`` counts the others; ``n`` is the same count under its earlier
    name; ``failed``, given by the caller, how many of the left-out rows are fits that
    failed). Coverage :math:`\hat c` = share of intervals containing μ, with Monte Carlo SE
    :math:`\sqrt{\hat c(1-\hat c)/n}`; width = high − low; bias = mean(estimate − μ) with
    SE sd/√n; RMSE = :math:`\sqrt{\mathrm{mean}((\hat\mu-\mu)^2)}`.
    """
    est, low, high = intervals.T
    valid = np.isfinite(low) & np.isfinite(high) & np.isfinite(est)
    n = int(valid.sum())
    est, low, high = est[valid], low[valid], high[valid]
    err = est - mu
    width = high - low
    cover = float(np.mean((low <= mu) & (mu <= high))) if n else np.nan
    return {
        "method": method_name,
        "k": k,
        "tau": tau,
        "reps": len(valid),
        "replicates_analysed": n,
        "n": n,  # the same as replicates_analysed (kept for earlier readers of the table)
        "failed": failed,
        "coverage": cover,
        "coverage_se": math.sqrt(cover * (1 - cover) / n) if n else np.nan,
        "width_median": float(np.median(width)) if n else np.nan,
        "width_mean": float(np.mean(width)) if n else np.nan,
        "bias": float(np.mean(err)) if n else np.nan,
        "bias_se": float(np.std(err, ddof=1) / math.sqrt(n)) if n > 1 else np.nan,
        "rmse": float(np.sqrt(np.mean(err**2))) if n else np.nan,
    }


@dataclass(frozen=True)
class Calibration:
    """Result of :func:`simulate`.

    Attributes
    ----------
    table
        One row per method × k × τ: ``method, k, tau, reps, replicates_analysed, n, failed,
        coverage, coverage_se, width_median, width_mean, bias, bias_se, rmse, seconds,
        cpu_seconds`` (``failed``: replicates whose fit failed, see :attr:`failures`;
        ``seconds``: wall time spent in the method, summed over chunks; ``cpu_seconds``: CPU
        time of the computing thread over the same calls, which does not grow when other
        processes compete for the cores).
    seconds
        Wall-clock time of the whole study.
    fits
        Meta-analyses analysed (replicates × methods).
    failures
        One row per failed fit: ``method, k, tau, replicate`` (its index in the cell, so
        ``draw(design, k, t, replicate // chunk_size)`` holds it at row
        ``replicate % chunk_size``), ``data`` (the 2×2 counts, ``events_t/n_t v
        events_c/n_c`` per study) and ``error``.
    """

    design: Design
    methods: tuple[str, ...]
    table: pd.DataFrame
    seconds: float
    fits: int
    failures: pd.DataFrame = field(default_factory=lambda: _failure_frame([]))

    @property
    def fits_per_second(self) -> float:
        """Meta-analyses analysed per wall-clock second (all methods, all workers)."""
        return self.fits / self.seconds if self.seconds > 0 else math.inf

    def method_fits_per_second(self, cpu: bool = False) -> dict[str, float]:
        """Replicates analysed per second spent in each method, on one core (wall time, or
        CPU time with ``cpu=True``)."""
        col = "cpu_seconds" if cpu else "seconds"
        per = self.table.groupby("method", sort=False)[["reps", col]].sum()
        return {
            str(m): float(r["reps"] / r[col]) if r[col] > 0 else math.inf for m, r in per.iterrows()
        }

    def summary(self) -> pd.DataFrame:
        """The calibration table (see :attr:`table`; a copy)."""
        return self.table.copy()

    def __str__(self) -> str:
        head = f"Calibration: {', '.join(self.methods)}; {self.fits} fits in {self.seconds:.1f} s"
        cols = ["method", "k", "tau", "reps", "coverage", "width_median", "bias", "rmse"]
        if len(self.failures):
            cols.insert(4, "failed")
        return head + "\n" + self.table[cols].to_string(index=False, float_format="%.4g")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary: ``results`` (table rows), ``fits_per_second``, ``seconds``, …
        (a rate over an unmeasurably short time is ``"Infinity"``)."""
        return json_safe(
            {
                "results": self.table,
                "fits_per_second": self.fits_per_second,
                "seconds": self.seconds,
                "fits": self.fits,
                "method_fits_per_second": self.method_fits_per_second(),
                "method_fits_per_cpu_second": self.method_fits_per_second(cpu=True),
                "failures": self.failures,
                "design": asdict(self.design),
            }
        )

    def plot(self, path: str | os.PathLike[str] | None = None) -> Figure:
        """Coverage and width against τ (see :func:`plot`)."""
        return plot(self.table, path)


def _measure_defaults(
    names: tuple[str, ...], mu_prior: str | None, measure: str
) -> tuple[tuple[str, ...], str | None]:
    """Method names and μ prior with the measure table's defaults filled in."""
    row = measures.lookup(measure, where="simulate, argument 'measure'")
    if any(n.strip().lower() == "default" for n in names) and row.tau_prior is None:
        raise DataError(
            f"simulate: measure {row.code} has no default tau prior; name one in the methods"
        )
    names = tuple(row.tau_prior if n.strip().lower() == "default" else n for n in names)
    return names, row.mu_prior if mu_prior is None else mu_prior


def simulate(
    design: Design,
    methods: Sequence[str] | str,
    *,
    mu_prior: str | None = None,
    measure: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    dask_client: Client | None = None,
    processes: bool = True,
    progress: bool = False,
) -> Calibration:
    """Run a calibration study.

    Parameters
    ----------
    design
        What to simulate (:class:`Design`).
    methods
        Method names (see :func:`method`), or one comma-separated string of them.
    mu_prior
        Prior of μ for the Bayesian methods (prior string); default: the ``measure``'s
        default μ prior when a measure is named, else that of
        :func:`sparsemeta.bayes.exact.posterior_batch`.
    measure
        Effect measure whose analysis scale the simulated effects are on (a code of
        :mod:`sparsemeta.measures`, e.g. ``"ROM"``). It supplies the defaults of the measure
        table: the method ``"default"`` becomes the measure's default τ prior, and
        ``mu_prior=None`` its default μ prior.
    workers, scheduler, dask_client
        Where to compute: in this process (all ``None``); on a new local dask cluster of
        ``workers`` workers; on the dask scheduler at address ``scheduler``; or on an existing
        ``dask_client``. The table is the same in every case.
    processes
        Local cluster of processes (default) or of threads.
    progress
        Show a tqdm progress bar (one step per chunk).

    Returns
    -------
    Calibration
    """
    names = tuple(split_list(methods) if isinstance(methods, str) else methods)
    if not names:
        raise DataError("no methods given")
    if measure is not None:
        names, mu_prior = _measure_defaults(names, mu_prior, measure)
    if len(set(names)) != len(names):
        raise DataError(f"methods listed twice: {names}")
    for name in names:  # fail early on a bad name or prior, before any work
        if method(name, mu_prior).counts_fn is not None and not design.binary:
            raise DataError(f"method {name!r} analyses 2x2 counts: it needs a binary design")
    tasks = list(design.chunks())
    start = time.perf_counter()
    bar = tqdm(total=len(tasks), disable=not progress, unit="chunk", desc="simulate")
    try:
        if dask_client is not None:
            results = _run_dask(dask_client, design, names, mu_prior, tasks, bar)
        elif workers or scheduler:
            with client(workers, scheduler, processes) as c:
                results = _run_dask(c, design, names, mu_prior, tasks, bar)
        else:
            results = []
            for task in tasks:
                results.append(_run_chunk(task, design, names, mu_prior))
                bar.update()
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    table, failures = _table(design, names, results)
    _warn_failures(failures)
    return Calibration(
        design,
        names,
        table,
        seconds,
        design.reps * len(names) * len(design.k) * len(design.taus),
        failures,
    )


def _failure_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """:attr:`Calibration.failures` from rows of :data:`FAILURE_COLUMNS`."""
    return pd.DataFrame(rows, columns=list(FAILURE_COLUMNS))


def _warn_failures(failures: pd.DataFrame) -> None:
    """One warning per method whose fits failed: how many, where, and the first error."""
    for name, rows in failures.groupby("method", sort=False):
        first = rows.iloc[0]
        cells = ", ".join(
            f"k = {k}, tau = {tau:g}: {len(part)}" for (k, tau), part in rows.groupby(["k", "tau"])
        )
        warnings.warn(
            f"method {name!r}: {len(rows)} replicate(s) failed and are left out of its "
            f"statistics ({cells}); first: replicate {first['replicate']} of k = {first['k']}, "
            f"tau = {first['tau']:g} ({first['data']}): {first['error']} "
            "(all of them: Calibration.failures, or 'failures' in --json)",
            RuntimeWarning,
            stacklevel=3,
        )


def _run_dask(
    c: Client,
    design: Design,
    names: tuple[str, ...],
    mu_prior: str | None,
    tasks: list[tuple[int, int, int, int]],
    bar: tqdm,
) -> list[dict[str, Any]]:
    from distributed import as_completed

    futures = c.map(_run_chunk, tasks, design=design, methods=names, mu_prior=mu_prior, pure=False)
    for _ in as_completed(futures):
        bar.update()
    return c.gather(futures)


def _table(
    design: Design, names: tuple[str, ...], results: list[dict[str, Any]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenate chunk results in task order; summarise each method × cell and list the
    failed fits (:attr:`Calibration.failures`)."""
    rows, failed = [], []
    by_cell: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for res in results:
        by_cell.setdefault(res["task"][:2], []).append(res)
    for (k, t), parts in by_cell.items():
        parts.sort(key=lambda r: r["task"][2])
        tau = design.taus[t]
        for name in names:
            intervals = np.concatenate([p["intervals"][name] for p in parts])
            cell_failed = [
                (name, k, tau, p["task"][2] * design.chunk_size + row, data, error)
                for p in parts
                for row, data, error in p["failures"][name]
            ]
            row = summarise(design.mu, name, k, tau, intervals, failed=len(cell_failed))
            row["seconds"] = sum(p["seconds"][name] for p in parts)
            row["cpu_seconds"] = sum(p["cpu_seconds"][name] for p in parts)
            rows.append(row)
            failed.extend(cell_failed)
    table = pd.DataFrame(rows).sort_values(["k", "tau"], kind="stable", ignore_index=True)
    return table, _failure_frame(failed)


# --------------------------------------------------------------------------- output


def plot(table: pd.DataFrame, path: str | os.PathLike[str] | None = None) -> Figure:
    """Coverage (top) and median interval width (bottom, log scale) against τ.

    One column of panels per k (y axes shared along each row), one line per method. The coverage panels mark the nominal
    95% and, shaded, the band 0.95 ± 1.96·√(0.95·0.05/R) within which a calibrated method's
    estimated coverage falls 95% of the time (R = replicates per cell); error bars are ±1.96
    Monte Carlo SE. Uses matplotlib's Agg backend; written atomically when ``path`` is given.
    """
    from matplotlib import ticker
    from matplotlib.figure import Figure

    ks = sorted(table["k"].unique())
    fig = Figure(figsize=(3.6 * len(ks) + 1.5, 6.4), layout="constrained")
    axes = fig.subplots(2, len(ks), squeeze=False, sharex=True, sharey="row")
    methods = list(dict.fromkeys(table["method"]))
    colours = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    for col, k in enumerate(ks):
        cell = table[table["k"] == k]
        cov_ax, wid_ax = axes[0, col], axes[1, col]
        reps = int(cell["reps"].max())
        band = 1.96 * math.sqrt(LEVEL * (1 - LEVEL) / reps)
        cov_ax.axhspan(LEVEL - band, LEVEL + band, color="0.85", zorder=0)
        cov_ax.axhline(LEVEL, color="0.3", lw=0.8, ls="--", zorder=1)
        for name in methods:
            rows = cell[cell["method"] == name].sort_values("tau")
            style = {"color": colours[name], "marker": "o", "ms": 3.5, "lw": 1.3, "label": name}
            cov_ax.errorbar(
                rows["tau"], rows["coverage"], yerr=1.96 * rows["coverage_se"], capsize=2, **style
            )
            wid_ax.plot(rows["tau"], rows["width_median"], **style)
        cov_ax.set_title(f"k = {k}")
        wid_ax.set_yscale("log")
        wid_ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        wid_ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        wid_ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        wid_ax.set_xlabel("true τ")
        if col == 0:
            cov_ax.set_ylabel(f"coverage of {LEVEL:.0%} interval")
            wid_ax.set_ylabel("median interval width")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", frameon=False)
    if path is not None:
        check_output_path(path, figure=True)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120)
    return fig
