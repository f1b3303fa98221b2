r"""Batch re-analysis of RevMan files: RevMan's own result and Bayesian re-analyses.

For every analysis (outcome) in every RevMan file given, :func:`reanalyse` recomputes
RevMan 5's frequentist result with the analysis's own settings
(:func:`sparsemeta.frequentist.revman`) and re-analyses the same per-study effects with the
Bayesian normal-normal model under each listed τ prior, by exact quadrature
(:func:`sparsemeta.bayes.exact.posterior`).

Output table (long in priors: one row per analysis level × prior)
-----------------------------------------------------------------

* ``file``, ``review``, ``review_id``: the file read, the review title and RevMan's ID;
* ``analysis_id``, ``comparison``, ``outcome``, ``subgroup``, ``level``: RevMan's analysis
  number and labels; ``subgroup`` is missing on the outcome's total line (``level`` =
  ``"overall"``) and set on subgroup lines (``level`` = ``"subgroup"``);
* ``data_type``, ``method``, ``measure``, ``random``, ``totals``: RevMan's settings
  (``method`` M-H, IV or Peto; ``random`` for DerSimonian-Laird random effects);
* ``ratio``: the measure is a ratio; then the estimates, CIs and μ/θ_new quantiles are on
  the ratio scale (RevMan's reporting scale), while τ and τ² stay on the log scale;
* ``k``: estimable studies in this level;
* ``stored_estimate``, ``stored_ci_low``, ``stored_ci_high``, ``stored_tau2``: RevMan's
  stored ``EFFECT_SIZE``, ``CI_START``, ``CI_END``, ``TAU2`` (NaN when not stored or marked
  ``ESTIMABLE="NO"``);
* ``estimate``, ``ci_low``, ``ci_high``, ``tau2``: the same recomputed by sparsemeta;
* ``prior``, ``mu_prior``: the τ prior (as given; the measure's default prior when given as
  ``"default"``) and the μ prior used (by default the measure's, :data:`sparsemeta.measures.TABLE`);
* ``mu_q025``, ``mu_q500``, ``mu_q975``, ``tau_…``, ``theta_new_…``: posterior quantiles
  (suffix = probability × 1000, three digits) of μ, τ and the effect θ_new in a new study;
* ``prob_mu_below_0``: posterior probability that μ < 0 on the analysis scale (ratio < 1
  for ratio measures).
* ``mu_scale``, ``tau_scale``: the scale of the ``mu_…``/``theta_new_…`` and of the
  ``tau_…`` quantiles: ``"ratio"`` and ``"log ratio"`` for ratio measures, else
  ``"difference"`` for both.

The Bayesian overall line pools every estimable study of the outcome in one random-effects
model, also when RevMan's ``TOTALS="SUB"`` pools subgroup estimates instead. Analyses with
``TOTALS="NO"`` have subgroup lines only; where RevMan pools nothing (``TOTALS="NO"``, or
``"SUB"`` without subgroups) the analysis is skipped with that reason. Per-study effects and standard errors are RevMan's
(zero-cell corrections included; Peto analyses use Peto's log odds ratios).

A file that cannot be read, an analysis that cannot be recomputed, and a level whose
posterior is improper under a prior are recorded in :attr:`BatchResult.skipped` with the
reason, and the run goes on.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from sparsemeta._parallel import client
from sparsemeta.bayes.priors import split_list
from sparsemeta.errors import DataError, SingleStudyWarning, SparsemetaError
from sparsemeta.io.output import atomic_path
from sparsemeta.results import json_safe
from sparsemeta.review.check import revman_settings

if TYPE_CHECKING:
    from distributed import Client

    from sparsemeta.bayes.priors import MuPriorLike, TauPriorLike
    from sparsemeta.io import RevManAnalysis

__all__ = [
    "QUANTILES",
    "BatchResult",
    "FileResult",
    "Skipped",
    "find_files",
    "reanalyse",
    "reanalyse_file",
]

#: Posterior quantiles reported for μ, τ and θ_new.
QUANTILES: tuple[float, ...] = (0.025, 0.5, 0.975)

#: File name patterns searched for in directories.
PATTERNS: tuple[str, ...] = ("*.rm5", "*.csv")


@dataclass(frozen=True)
class Skipped:
    """Something not analysed: a whole file, an analysis, or one level under one prior."""

    file: str
    reason: str
    analysis_id: str | None = None
    outcome: str | None = None
    subgroup: str | None = None
    prior: str | None = None


@dataclass(frozen=True)
class BatchResult:
    """Result of :func:`reanalyse`.

    Attributes
    ----------
    table
        The long table described in the module notes.
    files
        Files read (in order).
    analyses_done, analyses_skipped
        Analyses (outcomes) with at least one row, and without any.
    files_failed
        Files that could not be read.
    skipped
        What was left out and why (files, analyses, levels, level × prior).
    """

    table: pd.DataFrame
    files: tuple[str, ...]
    analyses_done: int
    analyses_skipped: int
    files_failed: int
    skipped: tuple[Skipped, ...]

    def summary(self) -> pd.DataFrame:
        """The long table described in the module notes (a copy)."""
        return self.table.copy()

    def __str__(self) -> str:
        head = (
            f"Batch re-analysis: {len(self.files)} files ({self.files_failed} failed), "
            f"{self.analyses_done} analyses done, {self.analyses_skipped} skipped, "
            f"{len(self.table)} rows"
        )
        shown = ["outcome", "subgroup", "prior", "k", "estimate", "mu_q500", "prob_mu_below_0"]
        frame = self.table[[c for c in shown if c in self.table.columns]]
        return head + "\n" + frame.to_string(index=False, float_format="%.4g")

    def to_dict(self) -> dict[str, Any]:
        """Counts and skip reasons, JSON-safe."""
        return json_safe(
            {
                "files": len(self.files),
                "files_failed": self.files_failed,
                "analyses_done": self.analyses_done,
                "analyses_skipped": self.analyses_skipped,
                "rows": len(self.table),
                "skipped": [asdict(s) for s in self.skipped],
            }
        )

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the table to Parquet, atomically (temporary file + rename)."""
        with atomic_path(path) as tmp:
            self.table.to_parquet(tmp, index=False)


def find_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """RevMan files among ``paths``: files as given, directories searched recursively for
    ``*.rm5`` and ``*.csv`` (RevMan CSV exports), in sorted order, without duplicates.

    Raises
    ------
    DataError
        A path does not exist.
    """
    found: dict[Path, None] = {}
    for p in map(Path, paths):
        if p.is_dir():
            hits = sorted({f for pattern in PATTERNS for f in p.rglob(pattern) if f.is_file()})
            found.update(dict.fromkeys(hits))
        elif p.exists():
            found[p] = None
        else:
            raise DataError(f"{p}: no such file or directory")
    return list(found)


def _quantile_column(param: str, p: float) -> str:
    return f"{param}_q{round(p * 1000):03d}"


def _stored(values: Any) -> dict[str, float]:
    get = values.get
    return {
        "stored_estimate": get("EFFECT_SIZE", math.nan),
        "stored_ci_low": get("CI_START", math.nan),
        "stored_ci_high": get("CI_END", math.nan),
        "stored_tau2": get("TAU2", math.nan),
    }


def _posterior_columns(
    y: np.ndarray,
    se: np.ndarray,
    tau_prior: TauPriorLike,
    mu_prior: MuPriorLike,
    ratio: bool,
    quantiles: Sequence[float],
) -> dict[str, float]:
    from sparsemeta.bayes import exact

    with warnings.catch_warnings():  # a single-study level is legitimate here
        warnings.simplefilter("ignore", SingleStudyWarning)
        post = exact.posterior(y, se, tau_prior, mu_prior)
    out: dict[str, float] = {}
    to_report = np.exp if ratio else np.asarray
    for param in ("mu", "tau", "theta_new"):
        q = np.asarray(post[param].quantile(np.asarray(quantiles)), dtype=float)
        if param != "tau":
            q = to_report(q)
        out.update(
            {_quantile_column(param, p): float(v) for p, v in zip(quantiles, q, strict=True)}
        )
    out["prob_mu_below_0"] = float(post.prob("mu", "<", 0.0))
    # the scale each column is on, in the table itself
    out["mu_scale"] = "ratio" if ratio else "difference"  # mu_q* and theta_new_q*
    out["tau_scale"] = "log ratio" if ratio else "difference"  # tau_q*
    return out


def _analysis_rows(
    file: str,
    review: Any,
    analysis: RevManAnalysis,
    priors: Sequence[tuple[str, Any]],
    mu_prior: tuple[str, Any],
    quantiles: Sequence[float],
    skipped: list[Skipped],
) -> list[dict[str, Any]]:
    from sparsemeta import frequentist, measures
    from sparsemeta.bayes import priors as pr

    ident = {"file": file, "analysis_id": analysis.analysis_id, "outcome": analysis.outcome}
    if analysis.unsupported or analysis.data_type is None:
        skipped.append(Skipped(reason=analysis.unsupported or "no study data", **ident))
        return []
    if analysis.studies.empty:
        skipped.append(Skipped(reason="no studies", **ident))
        return []
    try:
        settings = revman_settings(analysis)
        result = frequentist.revman(analysis.studies, settings)
    except SparsemetaError as exc:
        skipped.append(Skipped(reason=f"cannot recompute: {exc}", **ident))
        return []
    base = {
        "file": file,
        "review": review.title,
        "review_id": review.review_id,
        "analysis_id": analysis.analysis_id,
        "comparison": analysis.comparison,
        "outcome": analysis.outcome,
        "data_type": analysis.data_type,
        "method": analysis.method,
        "measure": analysis.measure,
        "random": analysis.random,
        "totals": analysis.totals,
        "ratio": settings.ratio,
    }
    yi, se = np.asarray(result.study_yi, float), np.asarray(result.study_se, float)
    groups = np.array([g if g is not None else "" for g in result.study_subgroups], dtype=object)
    estimable = np.isfinite(yi) & np.isfinite(se) & (se > 0)
    levels: list[tuple[str | None, Any, Any, np.ndarray]] = []
    if result.overall is not None:
        levels.append((None, result.overall, analysis.overall, estimable))
    stored_sub = {s.subgroup: s for s in analysis.stored_subgroups}
    for label, level in result.subgroups.items():
        levels.append((label, level, stored_sub.get(label), estimable & (groups == label)))
    rows = []
    if not levels:
        skipped.append(
            Skipped(
                reason=f"RevMan pools nothing here (TOTALS={analysis.totals}, no subgroups)",
                **ident,
            )
        )
    for label, level, stored, mask in levels:
        if not mask.any():
            skipped.append(
                Skipped(reason="no estimable studies", subgroup=label or "overall", **ident)
            )
            continue
        common = {
            **base,
            "subgroup": label,
            "level": "overall" if label is None else "subgroup",
            "k": int(mask.sum()),
            # ESTIMABLE="NO" levels hold placeholders, not results (REVMAN.md)
            **_stored(
                stored.values if stored is not None and stored.estimable is not False else {}
            ),
            "estimate": level.effect_size,
            "ci_low": level.ci_start,
            "ci_high": level.ci_end,
            "tau2": level.tau2,
        }
        code = analysis.measure if measures.get(analysis.measure) else "GENERIC"
        for prior_text, given in priors:
            try:
                tau_prior = pr.tau_prior(given, code)
                mu = pr.mu_prior(mu_prior[1], code)
                post = _posterior_columns(
                    yi[mask], se[mask], tau_prior, mu, settings.ratio, quantiles
                )
            except SparsemetaError as exc:
                skipped.append(
                    Skipped(reason=str(exc), subgroup=label or "overall", prior=prior_text, **ident)
                )
                continue
            shown = prior_text if given is not None else str(tau_prior)
            rows.append({**common, "prior": shown, "mu_prior": str(mu), **post})
    return rows


def _parse_priors(
    priors: Sequence[str] | str, mu_prior: str | None
) -> tuple[list[tuple[str, Any]], tuple[str, Any]]:
    from sparsemeta.bayes import priors as pr

    names = split_list(priors) if isinstance(priors, str) else [p.strip() for p in priors]
    if not names:
        raise DataError("no priors given")
    # "default" stays None: each analysis takes its measure's default (sparsemeta.measures)
    parsed = [(name, None if name == "default" else pr.parse(name)) for name in names]
    mu = None if mu_prior in (None, "default") else pr.parse_mu(mu_prior)
    return parsed, ("default" if mu is None else str(mu), mu)


@dataclass(frozen=True)
class FileResult:
    """Re-analysis of one file: table rows, analyses with and without rows, what was skipped
    (an unreadable file has ``readable=False`` and its reason in ``skipped``)."""

    rows: list[dict[str, Any]]
    analyses_done: int
    analyses_skipped: int
    skipped: list[Skipped]
    readable: bool = True


def reanalyse_file(
    path: str | os.PathLike[str],
    priors: Sequence[str] | str,
    mu_prior: str | None = None,
    quantiles: Sequence[float] = QUANTILES,
) -> FileResult:
    """Re-analyse every analysis of one RevMan file (never raises for bad file content).

    An analysis counts as done when it gives at least one row, as skipped otherwise.
    """
    from sparsemeta import io

    parsed, mu = _parse_priors(priors, mu_prior)
    file = str(path)
    try:
        review = io.read_revman(path)
    except (SparsemetaError, OSError, UnicodeDecodeError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
        return FileResult([], 0, 0, [Skipped(file=file, reason=reason)], readable=False)
    rows: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    done = 0
    for analysis in review.analyses:
        new = _analysis_rows(file, review, analysis, parsed, mu, quantiles, skipped)
        done += bool(new)
        rows.extend(new)
    return FileResult(rows, done, len(review.analyses) - done, skipped)


def reanalyse(
    paths: Iterable[str | os.PathLike[str]],
    priors: Sequence[str] | str = "default",
    *,
    mu_prior: str | None = None,
    quantiles: Sequence[float] = QUANTILES,
    workers: int | None = None,
    scheduler: str | None = None,
    dask_client: Client | None = None,
    processes: bool = True,
    progress: bool = False,
) -> BatchResult:
    """Re-analyse every RevMan file found in ``paths`` (see :func:`find_files`).

    Parameters
    ----------
    paths
        Files and directories.
    priors
        τ priors (strings for :func:`sparsemeta.bayes.priors.parse`), or one comma-separated
        string; ``"default"`` is each analysis's measure's default
        (:data:`sparsemeta.measures.TABLE`), and is the default.
    mu_prior
        Prior of μ (string for :func:`sparsemeta.bayes.priors.parse_mu`); ``None``: the
        measure's default.
    quantiles
        Posterior quantiles reported.
    workers, scheduler, dask_client, processes
        Where to compute, as in :func:`sparsemeta.simulate.simulate` (one task per file).
    progress
        Show a tqdm progress bar (one step per file).

    Raises
    ------
    DataError
        A path does not exist, or no RevMan file was found.
    PriorError
        A prior string does not parse.
    """
    _parse_priors(priors, mu_prior)  # fail early on bad priors
    files = find_files(paths)
    if not files:
        raise DataError("no RevMan files (*.rm5, *.csv) found")
    bar = tqdm(total=len(files), disable=not progress, unit="file", desc="batch")
    kwargs = {"priors": priors, "mu_prior": mu_prior, "quantiles": tuple(quantiles)}
    try:
        if dask_client is not None:
            results = _run_dask(dask_client, files, kwargs, bar)
        elif workers or scheduler:
            with client(workers, scheduler, processes) as c:
                results = _run_dask(c, files, kwargs, bar)
        else:
            results = []
            for f in files:
                results.append(reanalyse_file(f, **kwargs))
                bar.update()
    finally:
        bar.close()
    return BatchResult(
        table=pd.DataFrame([row for r in results for row in r.rows]),
        files=tuple(str(f) for f in files),
        analyses_done=sum(r.analyses_done for r in results),
        analyses_skipped=sum(r.analyses_skipped for r in results),
        files_failed=sum(not r.readable for r in results),
        skipped=tuple(s for r in results for s in r.skipped),
    )


def _run_dask(c: Client, files: list[Path], kwargs: dict[str, Any], bar: tqdm) -> list[FileResult]:
    from distributed import as_completed

    futures = c.map(reanalyse_file, [str(f) for f in files], pure=False, **kwargs)
    for _ in as_completed(futures):
        bar.update()
    return c.gather(futures)
