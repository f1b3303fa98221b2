"""Analysis plans: which analyses of a review to run, and how (``models/<review>.toml``).

A plan names the review's data and published results, lists every analysis (comparison x
outcome x timepoint) with its effect measure and RevMan method, the Bayesian models to fit,
the set of tau priors to compare (each with the reason it is in the set), and optional
consistency relations between outcomes (categories that partition an arm). The format is
documented in ``docs/plan-format.md``; :func:`load` reads and validates a plan and raises
:class:`~sparsemeta.errors.PlanError` naming the file, the entry and the problem.

Packaged plans (``sparsemeta/plans/*.toml``) are found by name with :func:`packaged`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sparsemeta import data as data_mod
from sparsemeta import datasets, frequentist, measures
from sparsemeta.bayes import priors
from sparsemeta.bayes.sample import MIN_SETTINGS
from sparsemeta.data import AnalysisKey
from sparsemeta.errors import DataError, PlanError, PriorError
from sparsemeta.io import RevManReview, read_revman, read_table
from sparsemeta.io.files import decode_text, read_input
from sparsemeta.io.table import read_text_table

__all__ = [
    "CI_METHODS",
    "MEASURES",
    "METHODS",
    "MODELS",
    "PLAN_VERSION",
    "TAU2_METHODS",
    "Analysis",
    "McmcSettings",
    "Plan",
    "Relation",
    "TauPriorChoice",
    "load",
    "packaged",
    "published_row",
]

PLAN_VERSION = 1

#: effect measure -> the pooling methods allowed for it (the measure table's)
METHODS: dict[str, tuple[str, ...]] = {
    row.code: row.methods for row in measures.rows() if row.computable
}
MEASURES: tuple[str, ...] = tuple(METHODS)
TAU2_METHODS: tuple[str, ...] = frequentist.TAU2_METHODS
CI_METHODS: tuple[str, ...] = frequentist.CI_METHODS
#: ``exact``: normal-normal model by quadrature, every prior of the set;
#: ``binomial``: binomial-likelihood model by MCMC with the default prior (binary data)
MODELS: tuple[str, ...] = ("exact", "binomial")
#: measures a binomial-likelihood model is available for
BINOMIAL_MEASURES: tuple[str, ...] = ("RR", "OR")  # binomial-rr, binomial-normal
_DATASET_PREFIX = "dataset:"
#: largest plan file read (bytes); a plan is a few KiB
MAX_PLAN_BYTES = 2**20
_PUBLISHED_COLUMNS = ("comparison", "outcome", "timepoint")

_TOP_KEYS = {"plan_version", "review", "defaults", "bayes", "relations", "analyses"}
_REVIEW_KEYS = {"id", "title", "citation", "also", "data", "published"}
_SETTING_KEYS = {"method", "random", "tau2_method", "ci_method", "level", "models"}
_ANALYSIS_KEYS = {
    "comparison",
    "outcome",
    "timepoint",
    "measure",
    "study_data",
    "note",
    "analysis",
}
#: Data sources read with :func:`sparsemeta.io.read_revman` (a folder is a data package).
_REVMAN_SUFFIXES = (".rm5", ".zip")
_BAYES_KEYS = {"mu_prior", "mcmc", "tau_priors"}
_MCMC_DEFAULTS = {"draws": 2000, "tune": 1000, "chains": 4, "seed": 0}
_MCMC_KEYS = set(_MCMC_DEFAULTS)
_PRIOR_KEYS = {"prior", "why", "default", "measures", "comparisons", "uisd_from_data"}
_RELATION_KEYS = {"name", "sum", "equals", "comparisons", "timepoint"}


# ----------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Analysis:
    """One analysis of the plan (comparison x outcome x timepoint) and how to run it.

    Attributes
    ----------
    comparison, outcome, timepoint
        Labels, as in the study table and the published table.
    measure : str or None
        ``"RR"``, ``"OR"``, ``"RD"``, ``"MD"``, ``"SMD"`` or ``"GENERIC"``; ``None`` only for
        an analysis without study data whose measure the sources do not give.
    method : str or None
        RevMan pooling method: ``"MH"``, ``"IV"`` or ``"Peto"``.
    random, tau2_method, ci_method, level
        RevMan settings (random effects, tau^2 estimator, CI method, CI level).
    models : tuple[str, ...]
        Bayesian models to fit (:data:`MODELS`).
    study_data : bool
        Whether the data hold this analysis's studies (``False``: reported as no-data).
    note : str or None
        Free text carried into reports.
    """

    comparison: str
    outcome: str
    timepoint: str | None
    measure: str | None
    method: str | None
    random: bool
    tau2_method: str
    ci_method: str
    level: float
    models: tuple[str, ...]
    study_data: bool
    note: str | None = None

    @property
    def key(self) -> AnalysisKey:
        """The study-table key of this analysis."""
        return AnalysisKey(self.comparison, self.outcome, self.timepoint)

    @property
    def label(self) -> str:
        """``"comparison | outcome | timepoint"``, for messages and reports."""
        return analysis_label(self.key)

    def meta_analysis(self, rows: pd.DataFrame, **overrides: Any) -> frequentist.MetaResult:
        """Pool ``rows`` (this analysis's studies) with the plan's RevMan settings.

        ``overrides`` replace settings (e.g. ``tau2_method="REML"``); see
        :func:`sparsemeta.frequentist.meta_analysis`.

        Raises
        ------
        PlanError
            If the analysis has no measure (an analysis without study data).
        """
        return frequentist.meta_analysis(rows, self._measure(), **self._settings(overrides))

    def leave_one_out(self, rows: pd.DataFrame) -> frequentist.LeaveOneOut:
        """:meth:`meta_analysis` repeated without each estimable study
        (:func:`sparsemeta.frequentist.leave_one_out`; needs two estimable studies)."""
        return frequentist.leave_one_out(rows, self._measure(), **self._settings({}))

    def _measure(self) -> str:
        if self.measure is None or self.method is None:
            raise PlanError(f"analysis {self.label!r} has no measure/method to pool with")
        return self.measure

    def _settings(self, overrides: dict[str, Any]) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "method": self.method,
            "random": self.random,
            "tau2_method": self.tau2_method,
            "ci_method": self.ci_method,
            "level": self.level,
        }
        settings.update(overrides)
        return settings


def analysis_label(key: AnalysisKey) -> str:
    """Human-readable label of an analysis key: ``"comparison | outcome | timepoint"``."""
    parts = [key.comparison, key.outcome] + ([key.timepoint] if key.timepoint else [])
    return " | ".join(parts)


@dataclass(frozen=True)
class TauPriorChoice:
    """One tau prior of the plan's comparison set.

    Attributes
    ----------
    text : str
        The prior string as written in the plan.
    prior : TauPrior
        The parsed prior. For ``uisd_from_data`` priors a placeholder with ``uisd=1``:
        use :meth:`build` to get the prior of one analysis.
    why : str
        The role of this prior in the comparison.
    default : bool
        The default prior (also the one used for MCMC fits).
    measures, comparisons : tuple[str, ...] or None
        Restrict the prior to these measures / comparisons (``None``: all).
    uisd_from_data : bool
        Scale a ``uisd_halfnormal`` prior to each analysis's unit-information SD.
    """

    text: str
    prior: priors.TauPrior
    why: str
    default: bool = False
    measures: tuple[str, ...] | None = None
    comparisons: tuple[str, ...] | None = None
    uisd_from_data: bool = False

    @property
    def label(self) -> str:
        """Key of this prior in results: the canonical prior string.

        For a data-scaled prior, the canonical string without the ``uisd`` argument
        (e.g. ``"uisd_halfnormal(fraction=0.25)"``), since its value differs per analysis.
        """
        if not self.uisd_from_data:
            return str(self.prior)
        return f"{self.prior.name}(fraction={self.prior.params['fraction']!r})"

    def applies(self, analysis: Analysis) -> bool:
        """Whether this prior is in the set for ``analysis``."""
        if self.measures is not None and analysis.measure not in self.measures:
            return False
        return self.comparisons is None or analysis.comparison in self.comparisons

    def build(
        self, n: Sequence[float] | np.ndarray, se: Sequence[float] | np.ndarray
    ) -> priors.TauPrior:
        """The prior for one analysis with per-study total sizes ``n`` and SEs ``se``.

        Returns :attr:`prior` itself unless :attr:`uisd_from_data`, in which case the
        unit-information SD ``sqrt(sum n_i / sum se_i^-2)`` (Röver et al. 2021) sets the
        scale.
        """
        if not self.uisd_from_data:
            return self.prior
        return priors.UisdHalfNormal.from_data(
            np.asarray(n, float), np.asarray(se, float), fraction=self.prior.params["fraction"]
        )


@dataclass(frozen=True)
class Relation:
    """A consistency relation between outcome counts, checked per study arm.

    ``sum(events of outcomes in sum) == sum(events of outcomes in equals)`` in each arm, or
    ``== n`` (the arm size) when ``equals`` is ``None`` (the outcomes partition the arm).
    """

    name: str
    sum: tuple[str, ...]
    equals: tuple[str, ...] | None
    comparisons: tuple[str, ...] | None = None
    timepoint: str | None = None

    def applies(self, comparison: str) -> bool:
        """Whether the relation is checked in ``comparison``."""
        return self.comparisons is None or comparison in self.comparisons


@dataclass(frozen=True)
class McmcSettings:
    """Sampler settings of the binomial-likelihood fits."""

    draws: int = 2000
    tune: int = 1000
    chains: int = 4
    seed: int = 0


@dataclass(frozen=True)
class Plan:
    """A validated analysis plan (see :func:`load`).

    Attributes
    ----------
    path : pathlib.Path
        The plan file (relative data paths are resolved against its folder).
    id, title, citation, also
        The review.
    data : str
        ``"dataset:<name>"`` (a packaged data set) or a CSV study-table path.
    published : str or None
        ``"dataset:<name>"`` or a CSV path of published results; ``None`` if none.
    analyses : tuple[Analysis, ...]
    tau_priors : tuple[TauPriorChoice, ...]
    mu_prior : str
        ``"default"`` (:func:`sparsemeta.bayes.priors.mu_prior_default` per measure) or a
        mu-prior string.
    mcmc : McmcSettings
    relations : tuple[Relation, ...]
    """

    path: Path
    id: str
    title: str
    citation: str
    also: tuple[str, ...]
    data: str
    published: str | None
    analyses: tuple[Analysis, ...]
    tau_priors: tuple[TauPriorChoice, ...]
    mu_prior: str
    mcmc: McmcSettings
    relations: tuple[Relation, ...]

    @property
    def default_prior(self) -> TauPriorChoice:
        """The default tau prior."""
        return next(p for p in self.tau_priors if p.default)

    def priors_for(self, analysis: Analysis) -> tuple[TauPriorChoice, ...]:
        """The tau priors compared for ``analysis`` (the default first)."""
        chosen = [p for p in self.tau_priors if p.applies(analysis)]
        return tuple(sorted(chosen, key=lambda p: not p.default))

    def mu_prior_for(self, measure: str) -> priors.MuPrior:
        """The mu prior of an analysis with this measure (``"default"``: the measure's)."""
        return priors.mu_prior(self.mu_prior, measure)

    def analysis(self, key: AnalysisKey) -> Analysis:
        """The analysis with this key; :class:`PlanError` if the plan has none."""
        for a in self.analyses:
            if a.key == key:
                return a
        raise PlanError(f"{self.path}: no analysis {analysis_label(key)!r} in the plan")

    def studies(self) -> pd.DataFrame:
        """The plan's study table (validated by :func:`sparsemeta.data.study_table`)."""
        return _read_studies(self.path, self.data)

    def published_table(self, *, printed: bool = True) -> pd.DataFrame | None:
        """The published results (printed strings by default), or ``None`` if the plan has none."""
        if self.published is None:
            return None
        return _read_published(self.path, self.published, printed=printed)


# ----------------------------------------------------------------------------- reading


def packaged(name: str) -> Path:
    """Path of a plan shipped with the package, e.g. ``packaged("pip_barlow2015")``.

    Raises
    ------
    PlanError
        If no packaged plan has that name.
    """
    folder = resources.files("sparsemeta").joinpath("plans")
    candidate = folder.joinpath(f"{name}.toml")
    if not candidate.is_file():
        known = sorted(
            p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
        )
        raise PlanError(f"no packaged plan {name!r}; packaged plans: {', '.join(known)}")
    return Path(str(candidate))


def load(path: str | Path, *, check_data: bool = True) -> Plan:
    """Read and validate an analysis plan.

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML file.
    check_data : bool, default True
        Also read the data and published tables and check them against the plan: every
        analysis marked ``study_data = true`` (the default) has studies and every other has
        none, every analysis in the data and every published row is in the plan, each
        measure fits its data type and the published measure.

    Returns
    -------
    Plan

    Raises
    ------
    PlanError
        Naming the file, the entry and the problem: unreadable file or bad TOML; unknown or
        missing keys; wrong value types; unknown measure, method, tau^2 or CI method, or
        model; a method not available for the measure; a prior string that does not parse
        (with the prior's own error); no or several default priors; duplicate analyses or
        priors; a relation naming an outcome no analysis has; a referenced data file or
        data set that does not exist; data inconsistent with the plan.
    """
    path = Path(path)
    if not os.path.lexists(path):
        raise PlanError(f"plan file {str(path)!r} does not exist")
    name, content, _ = read_input(path, "plan", PlanError, limit=MAX_PLAN_BYTES)
    text = decode_text(content, name, PlanError, "save the plan as UTF-8 text")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{path}: not valid TOML: {exc}") from None
    plan = _build(path, raw)
    if check_data:
        _check_data(plan)
    return plan


def _fail(path: Path, where: str, problem: str) -> PlanError:
    return PlanError(f"{path}: {where}: {problem}")


def _check_keys(
    path: Path, where: str, table: Any, allowed: set[str], required: Sequence[str] = ()
) -> Mapping[str, Any]:
    if not isinstance(table, Mapping):
        raise _fail(path, where, f"expected a table, got {type(table).__name__}")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise _fail(
            path, where, f"unknown key {unknown[0]!r}; allowed keys: {', '.join(sorted(allowed))}"
        )
    for key in required:
        if key not in table:
            raise _fail(path, where, f"required key {key!r} is missing")
    return table


def _string(path: Path, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, where, f"expected a non-empty string, got {value!r}")
    return value


def _strings(path: Path, where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _fail(path, where, f"expected a non-empty list of strings, got {value!r}")
    return tuple(_string(path, f"{where}[{i}]", v) for i, v in enumerate(value))


def _bool(path: Path, where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, where, f"expected true or false, got {value!r}")
    return value


def _int(path: Path, where: str, value: Any, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _fail(path, where, f"expected an integer >= {minimum}, got {value!r}")
    return value


def _choice(path: Path, where: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise _fail(path, where, f"unknown value {value!r}; expected one of {', '.join(choices)}")
    return str(value)


def _settings(
    path: Path, where: str, table: Mapping[str, Any], base: Mapping[str, Any]
) -> dict[str, Any]:
    out = dict(base)
    if "method" in table:
        out["method"] = _choice(path, f"{where}.method", table["method"], ("MH", "IV", "Peto"))
    if "random" in table:
        out["random"] = _bool(path, f"{where}.random", table["random"])
    if "tau2_method" in table:
        out["tau2_method"] = _choice(
            path, f"{where}.tau2_method", table["tau2_method"], TAU2_METHODS
        )
    if "ci_method" in table:
        out["ci_method"] = _choice(path, f"{where}.ci_method", table["ci_method"], CI_METHODS)
    if "level" in table:
        level = table["level"]
        if isinstance(level, bool) or not isinstance(level, int | float) or not 0 < level < 1:
            raise _fail(path, f"{where}.level", f"expected a number in (0, 1), got {level!r}")
        out["level"] = float(level)
    if "models" in table:
        models = _strings(path, f"{where}.models", table["models"])
        for i, m in enumerate(models):
            _choice(path, f"{where}.models[{i}]", m, MODELS)
        out["models"] = models
    return out


def _build(path: Path, raw: Mapping[str, Any]) -> Plan:
    _check_keys(path, "top level", raw, _TOP_KEYS, ("plan_version", "review", "analyses"))
    if raw["plan_version"] != PLAN_VERSION:
        raise _fail(
            path,
            "plan_version",
            f"unsupported version {raw['plan_version']!r}; "
            f"this sparsemeta reads version {PLAN_VERSION}",
        )
    review = _check_keys(path, "[review]", raw["review"], _REVIEW_KEYS, ("id", "data"))
    base = {
        "method": None,
        "random": True,
        "tau2_method": "DL",
        "ci_method": "z",
        "level": 0.95,
        "models": ("exact",),
    }
    defaults = _settings(
        path,
        "[defaults]",
        _check_keys(path, "[defaults]", raw.get("defaults", {}), _SETTING_KEYS),
        base,
    )
    data_source = _string(path, "[review].data", review["data"])
    ids = None
    if _is_revman(path, data_source):
        _check_source(path, "[review].data", data_source)
        ids = _revman_ids(path, data_source)
    analyses = _analyses(path, raw["analyses"], defaults, ids)
    mu_prior, mcmc, tau_priors = _bayes(
        path, raw.get("bayes", {}), tuple(dict.fromkeys(a.measure for a in analyses if a.measure))
    )
    relations = _relations(path, raw.get("relations", []), analyses)
    published = review.get("published")
    plan = Plan(
        path=path,
        id=_string(path, "[review].id", review["id"]),
        title=_string(path, "[review].title", review.get("title", review["id"])),
        citation=_string(path, "[review].citation", review.get("citation", review["id"])),
        also=_strings(path, "[review].also", review["also"]) if "also" in review else (),
        data=_string(path, "[review].data", review["data"]),
        published=None if published is None else _string(path, "[review].published", published),
        analyses=analyses,
        tau_priors=tau_priors,
        mu_prior=mu_prior,
        mcmc=mcmc,
        relations=relations,
    )
    _check_source(path, "[review].data", plan.data)
    if plan.published is not None:
        _check_source(path, "[review].published", plan.published)
    return plan


def _resolve_id(
    path: Path, where: str, entry: Any, ids: Mapping[str, tuple[str, str]] | None
) -> Any:
    """An ``[[analyses]]`` table naming ``analysis = "1.2"`` (an id of the RevMan data
    source) gets the comparison and outcome labels of that analysis in the file."""
    if not isinstance(entry, Mapping) or "analysis" not in entry:
        return entry
    ident = entry["analysis"]
    if ids is None:
        raise _fail(
            path,
            f"{where}.analysis",
            "analysis ids need a RevMan data source ([review].data = an .rm5 file or a "
            "Cochrane data package)",
        )
    if not isinstance(ident, str) or ident not in ids:
        known = ", ".join(sorted(ids)) or "none"
        raise _fail(
            path, f"{where}.analysis", f"no analysis {ident!r} in the data source (ids: {known})"
        )
    comparison, outcome = ids[ident]
    for key, value in (("comparison", comparison), ("outcome", outcome)):
        if key in entry and entry[key] != value:
            raise _fail(
                path,
                f"{where}.{key}",
                f"{entry[key]!r} differs from analysis {ident}'s {key} {value!r} in the file",
            )
    return {**entry, "comparison": comparison, "outcome": outcome}


def _analyses(
    path: Path,
    raw: Any,
    defaults: Mapping[str, Any],
    ids: Mapping[str, tuple[str, str]] | None = None,
) -> tuple[Analysis, ...]:
    if not isinstance(raw, list) or not raw:
        raise _fail(path, "[[analyses]]", "expected at least one [[analyses]] table")
    out: list[Analysis] = []
    seen: dict[AnalysisKey, int] = {}
    for i, entry in enumerate(raw):
        where = f"[[analyses]] #{i + 1}"
        entry = _resolve_id(path, where, entry, ids)
        if isinstance(entry, Mapping) and all(
            isinstance(entry.get(k), str) for k in ("comparison", "outcome")
        ):
            named = AnalysisKey(entry["comparison"], entry["outcome"], entry.get("timepoint"))
            where = f"{where} ({analysis_label(named)})"
        table = _check_keys(
            path, where, entry, _ANALYSIS_KEYS | _SETTING_KEYS, ("comparison", "outcome")
        )
        comparison = _string(path, f"{where}.comparison", table["comparison"])
        outcome = _string(path, f"{where}.outcome", table["outcome"])
        timepoint = table.get("timepoint")
        if timepoint is not None:
            timepoint = _string(path, f"{where}.timepoint", timepoint)
        study_data = _bool(path, f"{where}.study_data", table.get("study_data", True))
        settings = _settings(path, where, table, defaults)
        measure = table.get("measure")
        if measure is None:
            if study_data:
                raise _fail(
                    path,
                    where,
                    "required key 'measure' is missing (it may be left "
                    "out only for an analysis with study_data = false)",
                )
            method = settings["method"]
        else:
            measure = _choice(path, f"{where}.measure", measure, MEASURES)
            method = settings["method"] or METHODS[measure][0]
            if method not in METHODS[measure]:
                raise _fail(
                    path,
                    f"{where}.method",
                    f"method {method!r} is not available for "
                    f"{measure}; use one of {', '.join(METHODS[measure])}",
                )
            if "binomial" in settings["models"] and measure not in BINOMIAL_MEASURES:
                raise _fail(
                    path,
                    f"{where}.models",
                    f"the binomial model needs a binary "
                    f"ratio measure ({', '.join(BINOMIAL_MEASURES)}), not {measure}; "
                    'set models = ["exact"]',
                )
        note = table.get("note")
        key = AnalysisKey(comparison, outcome, timepoint)
        if key in seen:
            raise _fail(
                path,
                where,
                f"duplicate analysis: same comparison, outcome and "
                f"timepoint as [[analyses]] #{seen[key] + 1}",
            )
        seen[key] = i
        out.append(
            Analysis(
                comparison=comparison,
                outcome=outcome,
                timepoint=timepoint,
                measure=measure,
                method=method,
                random=settings["random"],
                tau2_method=settings["tau2_method"],
                ci_method=settings["ci_method"],
                level=settings["level"],
                models=tuple(settings["models"]),
                study_data=study_data,
                note=None if note is None else _string(path, f"{where}.note", note),
            )
        )
    return tuple(out)


def _parse_prior(path: Path, where: str, text: str, from_data: bool) -> priors.TauPrior:
    probe = text
    if from_data:
        name, _, rest = text.strip().partition("(")
        if name.strip() != priors.UisdHalfNormal.name:
            raise _fail(
                path,
                where,
                f"uisd_from_data needs a {priors.UisdHalfNormal.name}(...) prior, not {text!r}",
            )
        inner = rest.rstrip().removesuffix(")").strip()
        if "uisd" in inner.replace(priors.UisdHalfNormal.name, ""):
            raise _fail(
                path,
                where,
                "with uisd_from_data = true leave out the uisd argument: "
                "it is computed from each analysis's studies",
            )
        probe = f"{name.strip()}(uisd=1.0{', ' if inner else ''}{inner})"
    try:
        return priors.parse(probe)
    except PriorError as exc:
        raise _fail(path, where, f"prior {text!r} does not parse: {exc}") from None


def _bayes(
    path: Path, raw: Any, plan_measures: tuple[str, ...]
) -> tuple[str, McmcSettings, tuple[TauPriorChoice, ...]]:
    table = _check_keys(path, "[bayes]", raw, _BAYES_KEYS)
    mu_prior = _string(path, "[bayes].mu_prior", table.get("mu_prior", "default"))
    if mu_prior != "default":
        try:
            priors.parse_mu(mu_prior)
        except PriorError as exc:
            raise _fail(
                path, "[bayes].mu_prior", f"prior {mu_prior!r} does not parse: {exc}"
            ) from None
    mc = _check_keys(path, "[bayes.mcmc]", table.get("mcmc", {}), _MCMC_KEYS)
    mcmc = McmcSettings(
        **{
            name: _int(path, f"[bayes.mcmc].{name}", mc.get(name, default), MIN_SETTINGS[name])
            for name, default in _MCMC_DEFAULTS.items()
        }
    )
    entries = table.get("tau_priors", [])
    if not isinstance(entries, list):
        raise _fail(path, "[[bayes.tau_priors]]", "expected at least one [[bayes.tau_priors]]")
    choices: list[TauPriorChoice] = []
    for i, entry in enumerate(entries):
        where = f"[[bayes.tau_priors]] #{i + 1}"
        t = _check_keys(path, where, entry, _PRIOR_KEYS, ("prior", "why"))
        text = _string(path, f"{where}.prior", t["prior"])
        from_data = _bool(path, f"{where}.uisd_from_data", t.get("uisd_from_data", False))
        measures = _strings(path, f"{where}.measures", t["measures"]) if "measures" in t else None
        for j, m in enumerate(measures or ()):
            _choice(path, f"{where}.measures[{j}]", m, MEASURES)
        choice = TauPriorChoice(
            text=text,
            prior=_parse_prior(path, f"{where}.prior", text, from_data),
            why=_string(path, f"{where}.why", t["why"]),
            default=_bool(path, f"{where}.default", t.get("default", False)),
            measures=measures,
            comparisons=(
                _strings(path, f"{where}.comparisons", t["comparisons"])
                if "comparisons" in t
                else None
            ),
            uisd_from_data=from_data,
        )
        for j, other in enumerate(choices):
            if (
                other.label == choice.label
                and other.measures == choice.measures
                and other.comparisons == choice.comparisons
            ):
                raise _fail(
                    path,
                    where,
                    f"duplicate prior {choice.label!r} (same as [[bayes.tau_priors]] #{j + 1})",
                )
        choices.append(choice)
    defaults = [c for c in choices if c.default]
    if not defaults:
        choices = _measure_default(path, choices, plan_measures)
        defaults = [c for c in choices if c.default]
    if len(defaults) != 1:
        raise _fail(
            path,
            "[[bayes.tau_priors]]",
            f"exactly one prior must have default = true; found {len(defaults)}",
        )
    if defaults[0].measures is not None or defaults[0].comparisons is not None:
        raise _fail(
            path,
            "[[bayes.tau_priors]]",
            "the default prior must apply to every "
            "analysis (no measures or comparisons restriction)",
        )
    return mu_prior, mcmc, tuple(choices)


def _measure_default(
    path: Path, choices: list[TauPriorChoice], plan_measures: tuple[str, ...]
) -> list[TauPriorChoice]:
    """No prior marked ``default = true``: the default is the measures' default tau prior
    (:data:`sparsemeta.measures.TABLE`), when every analysis's measure has the same one;
    listed already (unrestricted) it is marked default, else it is added with its reason."""
    rows = [measures.lookup(m) for m in plan_measures]
    texts = {r.tau_prior for r in rows}
    if len(texts) != 1 or None in texts:
        named = ", ".join(f"{r.code}: {r.tau_prior or 'none'}" for r in rows)
        raise _fail(
            path,
            "[[bayes.tau_priors]]",
            "exactly one prior must have default = true, or none when every analysis's "
            f"measure has the same default tau prior; the measures' defaults are {named}",
        )
    row = rows[0]
    prior = priors.parse(row.tau_prior)
    for i, c in enumerate(choices):
        if c.label == str(prior) and c.measures is None and c.comparisons is None:
            return [*choices[:i], replace(c, default=True), *choices[i + 1 :]]
    why = f"The default tau prior of {', '.join(plan_measures)} (sparsemeta.measures): "
    added = TauPriorChoice(row.tau_prior, prior, why + row.tau_reason, default=True)
    return [added, *choices]


def _relations(path: Path, raw: Any, analyses: Sequence[Analysis]) -> tuple[Relation, ...]:
    if not isinstance(raw, list):
        raise _fail(path, "[[relations]]", "expected an array of [[relations]] tables")
    outcomes = {a.outcome for a in analyses}
    out: list[Relation] = []
    for i, entry in enumerate(raw):
        where = f"[[relations]] #{i + 1}"
        t = _check_keys(path, where, entry, _RELATION_KEYS, ("name", "sum", "equals"))
        total = _strings(path, f"{where}.sum", t["sum"])
        equals_raw = t["equals"]
        equals = None if equals_raw == "n" else _strings(path, f"{where}.equals", equals_raw)
        for name in total + (equals or ()):
            if name not in outcomes:
                raise _fail(path, where, f"outcome {name!r} is not the outcome of any analysis")
        timepoint = t.get("timepoint")
        out.append(
            Relation(
                name=_string(path, f"{where}.name", t["name"]),
                sum=total,
                equals=equals,
                comparisons=(
                    _strings(path, f"{where}.comparisons", t["comparisons"])
                    if "comparisons" in t
                    else None
                ),
                timepoint=None
                if timepoint is None
                else _string(path, f"{where}.timepoint", timepoint),
            )
        )
    return tuple(out)


# ----------------------------------------------------------------------------- data


def _dataset_name(source: str) -> str | None:
    return source.removeprefix(_DATASET_PREFIX) if source.startswith(_DATASET_PREFIX) else None


def _is_revman(path: Path, source: str) -> bool:
    """Whether a data source is read by ``read_revman``: ``.rm5``, ``.zip`` or a folder."""
    if _dataset_name(source) is not None:
        return False
    return source.lower().endswith(_REVMAN_SUFFIXES) or (path.parent / source).is_dir()


def _read_revman(path: Path, source: str) -> RevManReview:
    try:
        return read_revman(path.parent / source)
    except DataError as exc:
        raise PlanError(f"{path}: [review].data {source!r}: {exc}") from None


def _revman_ids(path: Path, source: str) -> dict[str, tuple[str, str]]:
    """Analysis ids of a RevMan data source → (comparison, outcome) labels: ``"1.2"``
    (comparison and outcome numbers) and RevMan's own id (e.g. ``"CMP-001.02"``)."""
    ids: dict[str, tuple[str, str]] = {}
    for a in _read_revman(path, source).analyses:
        labels = (a.comparison, a.outcome)
        ids[f"{a.comparison_no}.{a.outcome_no}"] = labels
        ids[a.analysis_id] = labels
    return ids


def _check_source(path: Path, where: str, source: str) -> None:
    name = _dataset_name(source)
    if name is not None:
        if name not in datasets.DATASETS:
            raise _fail(
                path,
                where,
                f"unknown data set {name!r}; packaged data sets: "
                f"{', '.join(sorted(datasets.DATASETS))}",
            )
        return
    file = path.parent / source
    if not os.path.lexists(file):  # other problems (a FIFO, a device) are named on reading
        raise _fail(path, where, f"data file {str(file)!r} does not exist")


def _read_studies(path: Path, source: str) -> pd.DataFrame:
    """The plan's study table: a packaged data set, a RevMan data source (``.rm5``, a
    Cochrane data package ``.zip`` or an extracted package folder; read by
    ``io.read_revman``) or a CSV file read by ``io.read_table``.

    ``read_table``'s DataError (which names the data file, the line, the study and the
    column; e.g. a wrong delimiter or bytes that are not UTF-8) becomes a PlanError that
    also names the plan file.
    """
    name = _dataset_name(source)
    if name is None and _is_revman(path, source):
        return _read_revman(path, source).studies
    try:
        if name is not None:
            return datasets.load(name, "studies")
        return read_table(path.parent / source)
    except DataError as exc:
        raise PlanError(f"{path}: [review].data {source!r}: {exc}") from None


def _read_published(path: Path, source: str, *, printed: bool) -> pd.DataFrame:
    """The published table: a packaged data set's, or a CSV file of text cells read by
    ``io.table.read_text_table`` (its DataError, naming the file, line and column, becomes a
    PlanError that also names the plan file)."""
    name = _dataset_name(source)
    if name is not None:
        return datasets.load(name, "published", printed=printed)
    numeric = () if printed else datasets.PUBLISHED_NUMERIC
    try:
        return read_text_table(
            path.parent / source, _PUBLISHED_COLUMNS, numeric=numeric, caller="published"
        )
    except DataError as exc:
        raise PlanError(f"{path}: [review].published {source!r}: {exc}") from None


def _check_data(plan: Plan) -> None:
    studies = plan.studies()
    by_key = {a.key: a for a in plan.analyses}
    present: set[AnalysisKey] = set()
    for key, rows in data_mod.analyses(studies):
        present.add(key)
        if key not in by_key:
            raise PlanError(
                f"{plan.path}: the data hold analysis {analysis_label(key)!r} "
                f"({len(rows)} rows), which no [[analyses]] entry lists"
            )
        analysis = by_key[key]
        if not analysis.study_data:
            raise PlanError(
                f"{plan.path}: analysis {analysis.label!r} is marked "
                f"study_data = false but the data hold {len(rows)} rows for it"
            )
        kind = data_mod.data_type(rows)
        assert analysis.measure is not None  # guaranteed by _analyses for study_data
        if kind != (need := measures.lookup(analysis.measure).data_type):
            raise PlanError(
                f"{plan.path}: analysis {analysis.label!r}: measure "
                f"{analysis.measure} needs {need}"
                f" data, the data are {kind}"
            )
    for a in plan.analyses:
        if a.study_data and a.key not in present:
            raise PlanError(
                f"{plan.path}: analysis {a.label!r} has study_data = true (the "
                f"default) but the data hold no rows for it; mark it "
                "study_data = false if its study data are not available"
            )
    published = plan.published_table()
    if published is None:
        return
    for i, row in published.iterrows():
        key = AnalysisKey(row["comparison"], row["outcome"], row["timepoint"] or None)
        if key not in by_key:
            raise PlanError(
                f"{plan.path}: published row {i + 1} ({analysis_label(key)!r}) is "
                "not an analysis of the plan"
            )
        measure = row.get("measure", "")
        planned = by_key[key].measure
        if measure and planned is not None and measure != planned:
            raise PlanError(
                f"{plan.path}: analysis {analysis_label(key)!r}: the plan's measure "
                f"{planned} differs from the published measure {measure}"
            )


def published_row(published: pd.DataFrame | None, key: AnalysisKey) -> dict[str, str]:
    """The published row of one analysis as ``{column: printed text}``.

    Parameters
    ----------
    published : pandas.DataFrame or None
        A published table read with ``printed=True`` (see :meth:`Plan.published_table`).
    key : AnalysisKey
        The analysis; a missing timepoint matches an empty one.

    Returns
    -------
    dict[str, str]
        Only the columns printed for this analysis (non-empty text); empty when the
        analysis has no published row.
    """
    if published is None:
        return {}
    timepoint = published["timepoint"].replace("", None)
    mask = (
        (published["comparison"] == key.comparison)
        & (published["outcome"] == key.outcome)
        & (timepoint.isna() if key.timepoint is None else timepoint == key.timepoint)
    )
    hits = published[mask]
    if hits.empty:
        return {}
    return {
        k: v.strip() for k, v in hits.iloc[0].to_dict().items() if isinstance(v, str) and v.strip()
    }
