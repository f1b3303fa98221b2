"""Write a reproduction report: Markdown, self-contained HTML, figures, CSV tables, NetCDF.

:func:`write_report` renders a :class:`sparsemeta.review.reproduce.ReproduceResult` into a folder::

    report.md                  the report (figures linked from figures/)
    report.html                the same report in one file, figures embedded as data URIs
    result.json                ReproduceResult.to_dict()
    summary.csv                one row per analysis: published, reproduced, Bayesian
    prior_comparison.csv       one row per analysis x tau prior (sparsemeta.compare_priors)
    studies.csv                one row per study x analysis: data, effect, weight, shrinkage
    figures/*.png              forest plot and tau prior/posterior plot per analysis with
                               data, and one prior-sensitivity figure across analyses
    idata/*.nc                 InferenceData of each MCMC fit the result carries (ArviZ
                               NetCDF; a BayesSummary with an ``idata`` attribute or
                               ``extra["idata"]``)

Everything is built in a temporary folder next to the output folder, which then replaces
the output folder whole (old and new reports never mix); a hidden manifest lists the files
a report wrote, and a folder holding anything else is only replaced when forced. An
interrupted or failed run leaves the previous report, or no folder, and no temporary
folder.

The report is assembled as a list of blocks (headings, paragraphs, lists, tables,
images) that are rendered twice: as Markdown and as HTML.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import math
import os
import re
import shutil
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sparsemeta import __version__, data, measures
from sparsemeta.errors import DataError
from sparsemeta.present import escape, plots
from sparsemeta.present.format import (
    fixed,
    fmt,
    interval,
    short_prior_label,
    short_prior_label_from_string,
)
from sparsemeta.review import provenance

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sparsemeta.bayes.sensitivity import PriorComparison
    from sparsemeta.review.reproduce import AnalysisResult, BayesSummary, ReproduceResult

__all__ = [
    "MANIFEST",
    "REPORT_FILES",
    "bayes_quantiles",
    "check_destination",
    "failed",
    "prior_comparison_of",
    "report_steps",
    "write_report",
]

#: files every report has (figures and NetCDF files depend on the analyses)
REPORT_FILES: tuple[str, ...] = (
    "report.md",
    "report.html",
    "result.json",
    "summary.csv",
    "prior_comparison.csv",
    "studies.csv",
)
_DPI = 100
#: KL divergence (nats) of the tau posterior from its prior below which the report says
#: that the data barely moved tau
_KL_LITTLE = 0.25
#: how each exact binomial model of the prior comparison treats the arms and the baseline
_BINOMIAL_FORM = {
    "binomial-normal": "arm-symmetric logit model, normal baselines",
    "binomial-rr": "arm-symmetric risk-ratio model of Warn et al. 2002, uniform baseline risk",
}
_STATUS_TEXT = {
    "reproduced": "every printed value is what our recomputation rounds to, except any "
    "secondary statistic flagged as a likely typo (listed with both values)",
    "mismatch": "some printed value differs from our recomputation and is no recognised typo",
    "likely-typo": "the printed estimate or a confidence limit equals another printed "
    "statistic and no estimator gives it (a typo)",
    "no-data": "no study-level data: nothing to recompute",
    "not-published": "study data but no published pooled result to compare with",
}


# ----------------------------------------------------------------------------- document model


@dataclass(frozen=True)
class _Heading:
    level: int
    text: str


@dataclass(frozen=True)
class _Para:
    text: str


@dataclass(frozen=True)
class _List:
    items: tuple[str, ...]


@dataclass(frozen=True)
class _Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class _Image:
    path: str  # relative to the report folder
    alt: str


_Block = _Heading | _Para | _List | _Table | _Image


def _md_cell(text: str) -> str:
    return escape.markdown(text).replace("|", "\\|").replace("\n", " ")


def _to_markdown(blocks: Iterable[_Block]) -> str:
    """Render blocks as GitHub-flavoured Markdown."""
    out: list[str] = []
    for b in blocks:
        if isinstance(b, _Heading):
            out.append(f"{'#' * b.level} {escape.markdown(b.text)}")
        elif isinstance(b, _Para):
            out.append(escape.markdown(b.text))
        elif isinstance(b, _List):
            out.append("\n".join(f"- {escape.markdown(item)}" for item in b.items))
        elif isinstance(b, _Table):
            lines = [
                "| " + " | ".join(_md_cell(h) for h in b.header) + " |",
                "|" + "|".join("---" for _ in b.header) + "|",
            ]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            out.append("\n".join(lines))
        else:
            out.append(f"![{escape.markdown(b.alt)}]({b.path})")
    return "\n\n".join(out) + "\n"


def _inline_html(text: str) -> str:
    """Escape ``text`` and turn ``**bold**`` and ```code``` into HTML."""
    escaped = html.escape(text, quote=False)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:0.85em}
th,td{border:1px solid #ccc;padding:0.25em 0.5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}
img{max-width:100%;height:auto;border:1px solid #eee;margin:0.5em 0}
code{background:#f5f5f5;padding:0 0.2em}
h2{border-bottom:1px solid #ddd;padding-bottom:0.2em;margin-top:2em}
"""


def _to_html(blocks: Iterable[_Block], title: str, root: Path) -> str:
    """Render blocks as one self-contained HTML page; images are read from ``root``
    and embedded as base64 ``data:`` URIs."""
    body: list[str] = []
    for b in blocks:
        if isinstance(b, _Heading):
            body.append(f"<h{b.level}>{_inline_html(b.text)}</h{b.level}>")
        elif isinstance(b, _Para):
            body.append(f"<p>{_inline_html(b.text)}</p>")
        elif isinstance(b, _List):
            items = "".join(f"<li>{_inline_html(i)}</li>" for i in b.items)
            body.append(f"<ul>{items}</ul>")
        elif isinstance(b, _Table):
            head = "".join(f"<th>{_inline_html(h)}</th>" for h in b.header)
            rows = "".join(
                "<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>"
                for row in b.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        else:
            encoded = base64.b64encode((root / b.path).read_bytes()).decode("ascii")
            body.append(
                f'<p><img alt="{html.escape(b.alt)}" src="data:image/png;base64,{encoded}"></p>'
            )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


# ----------------------------------------------------------------------------- numbers


def bayes_quantiles(s: BayesSummary, param: str) -> tuple[float, float, float]:
    """Median and 95% interval of ``mu`` or ``theta_new``, on the ratio scale for ratios."""
    q = getattr(s, param)
    f = math.exp if s.log_scale else float
    return f(q["q50"]), f(q["q025"]), f(q["q975"])


def _gate_failed(s: BayesSummary) -> bool:
    """Whether an MCMC fit failed the diagnostics gate (``diagnostics["passed"]`` false)."""
    diag = s.extra.get("diagnostics") or {}
    return diag.get("passed") is False


def failed(result: ReproduceResult) -> list[str]:
    """Why a run fails: analyses that do not reproduce, MCMC fits that fail the gate.

    Returns
    -------
    list of str
        One line per problem; empty when everything with data reproduces (``reproduced``,
        ``likely-typo`` or ``not-published``) and every MCMC fit passed its gate.
    """
    out = [f"{a.analysis.label}: mismatch" for a in result.analyses if a.status == "mismatch"]
    for a in result.analyses:
        out += [
            f"{a.analysis.label}: MCMC fit ({label}) failed the diagnostics gate"
            for label, s in a.mcmc.items()
            if _gate_failed(s)
        ]
    return out


# ----------------------------------------------------------------------------- content


def _slug(index: int, text: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return f"a{index:02d}-{words[:48].rstrip('-')}"


def _with_data(result: ReproduceResult) -> list[tuple[int, AnalysisResult]]:
    return [(i, a) for i, a in enumerate(result.analyses, 1) if a.frequentist is not None]


def _rows_of(a: AnalysisResult, by_key: dict[Any, pd.DataFrame]) -> pd.DataFrame | None:
    """The study rows of one analysis in the study table, if any."""
    rows = by_key.get(a.key)
    return None if rows is None or rows.empty else rows


def _sources(rows: pd.DataFrame | None) -> dict[str, int]:
    """:func:`provenance.count_sources` of an analysis's rows (zeros when there are none)."""
    if rows is None:
        return provenance.count_sources(())
    texts = rows["provenance"] if "provenance" in rows.columns else [None] * len(rows)
    return provenance.count_sources(texts)


def _inferred(rows: pd.DataFrame | None) -> list[str]:
    """Studies of an analysis whose rows are inferred and unverified."""
    if rows is None or "provenance" not in rows.columns:
        return []
    return [
        str(study)
        for study, text in zip(rows["study"], rows["provenance"], strict=True)
        if provenance.source_of(text) == "inferred"
    ]


def _scale_text(a: AnalysisResult) -> str:
    """``"RR"`` style prefix naming the scale of a pooled-effect cell."""
    return a.analysis.measure or ""


def _prior_only(a: AnalysisResult) -> bool:
    """Whether tau's posterior is its prior: one estimable study (k = 1)."""
    return a.frequentist is not None and a.frequentist.k == 1


def prior_comparison_of(result: ReproduceResult, a: AnalysisResult) -> PriorComparison | None:
    """The prior comparison :func:`~sparsemeta.review.reproduce.reproduce` kept for one
    analysis, its priors labelled by their short names (full names where two coincide).

    ``None`` when the analysis has no exact fits. Nothing is recomputed.
    """
    comp = a.prior_comparison
    if comp is None:
        return None
    short = {
        label: short_prior_label(prior, with_scale=False) for label, prior in comp.priors.items()
    }
    if len(set(short.values())) < len(short):  # two priors with one short name
        short = {label: str(prior) for label, prior in comp.priors.items()}
    return dataclasses.replace(
        comp,
        priors={short[k]: v for k, v in comp.priors.items()},
        posteriors={short[k]: v for k, v in comp.posteriors.items()},
        table=comp.table.rename(index=short),
    )


def _summary_frame(result: ReproduceResult, studies: pd.DataFrame) -> pd.DataFrame:
    rows = []
    default = result.plan.default_prior.label
    by_key = dict(data.analyses(studies))
    for a in result.analyses:
        an, r, pub = a.analysis, a.frequentist, a.published
        rec = a.reproduced_values()
        counts = _sources(_rows_of(a, by_key))
        row: dict[str, Any] = {
            "comparison": an.comparison,
            "outcome": an.outcome,
            "timepoint": an.timepoint,
            "measure": an.measure,
            "method": an.method,
            "status": a.status,
            "reproduction": provenance.reproduction(a.status, counts),
            **{f"rows_{source}": n for source, n in counts.items()},
            "k_studies": None if r is None else len(r.studies),
            "k_estimable": None if r is None else r.k,
            "published_estimate": pub.get("estimate"),
            "published_ci_low": pub.get("ci_low"),
            "published_ci_high": pub.get("ci_high"),
            "reproduced_estimate": rec.get("estimate"),
            "reproduced_ci_low": rec.get("ci_low"),
            "reproduced_ci_high": rec.get("ci_high"),
            "reproduced_tau2": rec.get("tau2"),
            "reproduced_i2": rec.get("i2"),
        }
        b = a.exact.get(default)
        row["bayes_prior"] = None if b is None else b.prior
        # bayes_mu_* and bayes_pred_* are on bayes_scale (the ratio for ratio measures),
        # bayes_tau_* on the analysis scale (log ratio for ratio measures)
        row["bayes_scale"] = None if b is None else ("ratio" if b.log_scale else "difference")
        row["bayes_tau_prior_only"] = None if b is None else _prior_only(a)
        for name, param in (("mu", "mu"), ("pred", "theta_new"), ("tau", "tau")):
            if b is None:
                vals: tuple[float | None, ...] = (None, None, None)
            elif param == "tau":
                vals = (b.tau["q50"], b.tau["q025"], b.tau["q975"])
            else:
                vals = bayes_quantiles(b, param)
            row.update(
                {
                    f"bayes_{name}_median": vals[0],
                    f"bayes_{name}_low": vals[1],
                    f"bayes_{name}_high": vals[2],
                }
            )
        row["bayes_p_positive"] = None if b is None else b.prob("mu", ">", 0.0)
        for label, s in a.mcmc.items():
            mid, lo, hi = bayes_quantiles(s, "mu")
            row.update(
                mcmc_prior=label,
                mcmc_model=s.model,
                mcmc_mu_median=mid,
                mcmc_mu_low=lo,
                mcmc_mu_high=hi,
            )
        row["notes"] = "; ".join(a.notes)
        rows.append(row)
    return pd.DataFrame(rows)


def _prior_frame(items: Sequence[tuple[AnalysisResult, PriorComparison]]) -> pd.DataFrame:
    frames = []
    for a, comp in items:
        t = comp.table.reset_index()
        below = comp.prob("mu", "<", 0.0)
        t.insert(t.columns.get_loc("pred_high") + 1, "p_mu_below_0", below.to_numpy())
        if comp.log_scale:
            at = t.columns.get_loc("pred_ratio_high") + 1
            t.insert(at, "p_ratio_above_1", comp.prob("mu", ">", 0.0).to_numpy())
        t.insert(0, "timepoint", a.analysis.timepoint)
        t.insert(0, "outcome", a.analysis.outcome)
        t.insert(0, "comparison", a.analysis.comparison)
        t.insert(3, "k", comp.k)
        frames.append(t)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _study_frame(result: ReproduceResult, studies: pd.DataFrame) -> pd.DataFrame:
    by_key = dict(data.analyses(studies))
    default = result.plan.default_prior.label
    frames = []
    for a in result.analyses:
        r = a.frequentist
        rows = by_key.get(a.key)
        if r is None or rows is None:
            continue
        rows = rows.reset_index(drop=True).copy()
        weights = dict(zip(r.studies, r.weights, strict=True))
        effects = {s: (yi, vi) for s, yi, vi in zip(r.studies, r.yi, r.vi, strict=True)}
        rows["yi"] = [effects.get(s, (math.nan, math.nan))[0] for s in rows["study"]]
        rows["sei"] = [math.sqrt(effects.get(s, (math.nan, math.nan))[1]) for s in rows["study"]]
        rows["weight_percent"] = [weights.get(s, math.nan) for s in rows["study"]]
        rows["excluded_reason"] = [dict(r.excluded).get(s) for s in rows["study"]]
        texts = rows["provenance"] if "provenance" in rows.columns else [None] * len(rows)
        rows["data_source"] = [provenance.source_of(t) for t in texts]
        b = a.exact.get(default)
        for q in ("q025", "q50", "q975"):
            rows[f"theta_{q}"] = [
                b.theta[s][q] if b is not None and s in b.theta else math.nan for s in rows["study"]
            ]
        frames.append(rows)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _arm_text(rows: pd.DataFrame | None, study: str) -> str:
    if rows is None or "events_t" not in rows.columns:
        return ""
    r = rows[rows["study"] == study]
    if r.empty:
        return ""
    r = r.iloc[0]
    return f" ({int(r.events_t)}/{int(r.n_t)} vs {int(r.events_c)}/{int(r.n_c)})"


# ----------------------------------------------------------------------------- figures


def _save(fig: Figure, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=_DPI)
    plt.close(fig)


#: a figure of the report: the function that draws it, its arguments, the file to save it to
_FigureTask = tuple[Callable[..., "Figure"], tuple[Any, ...], Path]
#: reports with at least this many figures draw them in parallel processes
PARALLEL_FIGURES = 8
#: the figures being drawn; forked worker processes inherit the list and are sent only
#: indices into it (the results they draw from hold closures, which cannot be pickled)
_FIGURES: list[_FigureTask] = []


def _draw_figure(index: int) -> None:
    make, args, path = _FIGURES[index]
    _save(make(*args), path)


def _draw_figures(figures: Sequence[_FigureTask], done: Callable[[int], object]) -> None:
    """Draw and save ``figures``, calling ``done(i)`` once figures 0..i are saved.

    With :data:`PARALLEL_FIGURES` figures or more, on Linux with several cores, the figures
    are drawn by forked worker processes, one per core (at most 4): matplotlib draws in one
    thread, and forking shares the finished results without pickling them (macOS, where
    forking is unsafe with some system libraries, and Windows cannot fork). Otherwise, and
    for fewer figures, they are drawn here.
    An error in a worker is raised here; figures not yet started are then cancelled and
    those being drawn are waited for, so nothing is written after this returns or raises.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    workers = min(os.cpu_count() or 1, 4)
    parallel = workers > 1 and len(figures) >= PARALLEL_FIGURES and sys.platform == "linux"
    _FIGURES[:] = figures
    try:
        if not parallel:
            for i in range(len(figures)):
                _draw_figure(i)
                done(i)
            return
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = [pool.submit(_draw_figure, i) for i in range(len(figures))]
            try:
                for i, future in enumerate(futures):
                    future.result()
                    done(i)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    finally:
        _FIGURES.clear()


def _tau_figure(comp: PriorComparison, title: str) -> Figure:
    return plots.tau_densities(comp, title=title)


def _forest_figure(a: AnalysisResult, default: str, rows: pd.DataFrame | None) -> Figure:
    r = a.frequentist
    assert r is not None
    frows = plots.forest_rows(a, default)
    inferred = set(_inferred(rows))
    frows = [
        plots.ForestRow(
            fr.label + _arm_text(rows, fr.label) + (" [inferred]" if fr.label in inferred else ""),
            fr.kind,
            fr.est,
            fr.low,
            fr.high,
            fr.note,
            fr.weight,
            fr.color,
        )
        if fr.label in r.studies
        else fr
        for fr in frows
    ]
    what = measures.plain_name(r.measure)
    arms = a.analysis.comparison.split(" vs ")
    direction = f" ({arms[0]} vs {arms[1]})" if len(arms) == 2 else ""
    xlabel = f"{what}{direction}" + (", log scale" if r.log_scale else "")
    header = f"{r.measure} [95% CI or CrI]"
    return plots.forest(
        frows, log_scale=r.log_scale, xlabel=xlabel, title=a.analysis.label, value_header=header
    )


# ----------------------------------------------------------------------------- the report


def report_steps(result: ReproduceResult) -> int:
    """Number of progress steps :func:`write_report` reports (one per analysis with data,
    one for the overview figure, one for the files)."""
    return len(_with_data(result)) + 2


#: hidden file of every report: which files the report wrote (JSON); a folder holding
#: anything else is not replaced without ``force``
MANIFEST = ".sparsemeta-report"


def _foreign_files(out: Path) -> list[str]:
    """Files in ``out`` that no report wrote: not in its manifest (for a report written
    before manifests existed, not in the report layout)."""
    present = {p.relative_to(out).as_posix() for p in out.rglob("*") if not p.is_dir()}
    try:
        listed = set(json.loads((out / MANIFEST).read_text(encoding="utf-8"))["files"])
    except (OSError, ValueError, KeyError, TypeError):
        listed = {
            name
            for name in present
            if name in REPORT_FILES
            or re.fullmatch(r"figures/[^/]+\.png|idata/[^/]+\.nc", name) is not None
        }
    return sorted(present - listed - {MANIFEST})


def check_destination(out: str | os.PathLike[str], *, force: bool = False) -> None:
    """Refuse an output folder :func:`write_report` must not replace, before any work.

    Raises
    ------
    DataError
        ``out`` exists and is not a folder; its parent folder does not exist or cannot be
        written; or ``out`` holds files that no sparsemeta report wrote (named) and
        ``force`` is false (with ``force`` they are deleted with the old report).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a directory")
    parent = out.absolute().parent
    if not parent.is_dir():
        raise DataError(f"{out}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DataError(f"{out}: the folder {parent} is not writable")
    foreign = _foreign_files(out) if out.is_dir() and not force else []
    if foreign:
        listed = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise DataError(
            f"{out}: holds files that are not part of a sparsemeta report ({listed}); the "
            "report replaces the whole folder: choose another folder, or force it (--force) "
            "to delete them"
        )


def write_report(
    result: ReproduceResult,
    out_dir: str | os.PathLike[str],
    *,
    studies: pd.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
    force: bool = False,
    on_published: Callable[[Path], None] | None = None,
) -> Path:
    """Write the report of a reproduction into ``out_dir`` (created if needed).

    The report is built in a temporary folder next to ``out_dir`` and replaces ``out_dir``
    whole (an earlier report's files never mix with the new ones); SIGINT and SIGTERM are
    held back while the folders are swapped, so an interrupted or failed run leaves the
    previous report complete, or no folder, and no temporary folder.

    Parameters
    ----------
    result : ReproduceResult
        From :func:`sparsemeta.review.reproduce.reproduce`.
    out_dir : path
        Output folder: new, empty, or holding an earlier report (else see ``force``).
    studies : pandas.DataFrame, optional
        The study table the result was computed from, if not the plan's own (for the
        study-level table and the arm counts in the forest plots).
    progress : callable, optional
        Called with a short description after each of :func:`report_steps` steps.
    force : bool, default False
        Replace ``out_dir`` even when it holds files no report wrote (they are deleted).
    on_published : callable, optional
        Called with the folder once the new report is in place (before any held-back
        signal is delivered).

    Returns
    -------
    pathlib.Path
        The output folder.

    Raises
    ------
    DataError
        ``out_dir`` is refused (:func:`check_destination`), or a file cannot be written
        (disk full, read-only file system, ...): one line naming the folder and the error;
        the earlier report, if any, is unchanged.
    """
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    check_destination(out, force=force)
    table = result.plan.studies() if studies is None else data.study_table(studies)
    step = progress or (lambda _text: None)
    # mkdir (not tempfile.mkdtemp, which makes the folder private): the folder becomes the
    # report folder itself, so it gets the user's usual permissions
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex}"
    kept = "the earlier report is unchanged" if out.exists() else "nothing was written"
    try:
        tmp.mkdir()
        _build(result, table, tmp, step)
        _publish(tmp, out, on_published or (lambda _out: None))
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise DataError(
            f"cannot write the report to {out}: {exc.strerror or exc}{where}; {kept}"
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _build(
    result: ReproduceResult, studies: pd.DataFrame, root: Path, step: Callable[[str], None]
) -> None:
    (root / "figures").mkdir()
    plan = result.plan
    default = plan.default_prior.label
    by_key = dict(data.analyses(studies))
    compared: list[tuple[AnalysisResult, PriorComparison]] = []
    sections: list[_Block] = []
    figures: list[_FigureTask] = []
    steps: list[str] = []  # the progress step after each figure ("": none)
    for index, a in _with_data(result):
        slug = _slug(index, f"{a.analysis.outcome} {a.analysis.timepoint or ''}")
        comp = prior_comparison_of(result, a)
        forest = root / "figures" / f"{slug}-forest.png"
        figures.append((_forest_figure, (a, default, by_key.get(a.key)), forest))
        steps.append("")
        if comp is not None:
            compared.append((a, comp))
            title = f"{a.analysis.label}: tau prior vs posterior"
            figures.append((_tau_figure, (comp, title), root / "figures" / f"{slug}-tau.png"))
            steps.append("")
        steps[-1] = a.analysis.label
        sections += _analysis_section(a, comp, slug, default, by_key.get(a.key))
    overview: list[_Block] = []
    if compared:
        items = [
            (
                f"{a.analysis.comparison}: {a.analysis.outcome}"
                + (f" ({a.analysis.timepoint})" if a.analysis.timepoint else ""),
                c,
            )
            for a, c in compared
        ]
        figures.append(
            (plots.sensitivity_overview, (items,), root / "figures" / "prior-sensitivity.png")
        )
        steps.append("")
        overview = _overview_section(compared)
    _draw_figures(figures, lambda i: steps[i] and step(steps[i]))
    step("prior sensitivity figure")
    escape.csv_frame(_prior_frame(compared)).to_csv(root / "prior_comparison.csv", index=False)
    escape.csv_frame(_summary_frame(result, studies)).to_csv(root / "summary.csv", index=False)
    escape.csv_frame(_study_frame(result, studies)).to_csv(root / "studies.csv", index=False)
    nc = _write_idata(result, root)
    (root / "result.json").write_text(
        json.dumps(result.to_dict(), indent=2, allow_nan=False), encoding="utf-8"
    )
    blocks = [
        *_intro(result),
        *_provenance_section(result, by_key),
        *_summary_section(result, by_key),
        *_findings_section(result),
        *_priors_section(result),
        *overview,
        _Heading(2, "Analyses"),
        *sections,
        *_no_data_section(result),
        *_files_section(nc),
    ]
    title = f"Reproduction report: {plan.title}"
    (root / "report.md").write_text(_to_markdown(blocks), encoding="utf-8")
    (root / "report.html").write_text(_to_html(blocks, title, root), encoding="utf-8")
    step("files")


def _write_idata(result: ReproduceResult, root: Path) -> list[str]:
    written = []
    for index, a in enumerate(result.analyses, 1):
        for label, s in a.mcmc.items():
            idata = s.idata
            if idata is None:
                continue
            (root / "idata").mkdir(exist_ok=True)
            slug = _slug(index, f"{a.analysis.outcome} {a.analysis.timepoint or ''}")
            name = f"idata/{slug}-{_slug(0, label)[4:]}.nc"
            if s.netcdf is not None:  # encoded once already, by the fit cache
                (root / name).write_bytes(s.netcdf)
            else:
                idata.to_netcdf(str(root / name))
            written.append(name)
    return written


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back until the block is done, then deliver them.

    Python runs signal handlers in the main thread only, so swapping the handlers (not
    the thread's signal mask, which another thread could bypass) defers them reliably.
    Outside the main thread nothing is held.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    signals = (signal.SIGINT, signal.SIGTERM)
    handlers = {s: signal.signal(s, lambda signum, _frame: pending.append(signum)) for s in signals}
    try:
        yield
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
        for signum in dict.fromkeys(pending):
            signal.raise_signal(signum)


def _publish(tmp: Path, out: Path, on_published: Callable[[Path], None]) -> None:
    """Put the finished report ``tmp`` in the place of ``out`` (rename; the old folder, if
    any, is renamed aside first and deleted after), with SIGINT and SIGTERM held back."""
    files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
    (tmp / MANIFEST).write_text(
        json.dumps({"sparsemeta": __version__, "files": files}, indent=1), encoding="utf-8"
    )
    old = out.parent / f".{out.name}.old-{uuid.uuid4().hex}"
    with _signals_held():
        if out.exists():
            os.rename(out, old)
            try:
                os.rename(tmp, out)
            except OSError:
                os.rename(old, out)
                raise
        else:
            os.rename(tmp, out)
        on_published(out)
        shutil.rmtree(old, ignore_errors=True)


# ----------------------------------------------------------------------------- sections


def _intro(result: ReproduceResult) -> list[_Block]:
    p = result.plan
    return [
        _Heading(1, f"Reproduction report: {p.title}"),
        _Para(f"Review: {p.citation}." + (f" Also: {'; '.join(p.also)}." if p.also else "")),
        _Para(f"**Result: {result.headline()}.**"),
        _Para(
            f"Plan `{p.path.name}` ({len(p.analyses)} analyses). Computed by "
            f"sparsemeta {__version__} in {result.seconds:.1f} s. Ratios are risk or odds "
            "ratios of the experimental arm against the comparator; Bayesian results are "
            "posterior medians with 95% equal-tailed credible intervals (CrI)."
        ),
    ]


def _provenance_section(result: ReproduceResult, by_key: dict[Any, pd.DataFrame]) -> list[_Block]:
    """First-page table: where each analysis's study rows came from, what its status means."""
    header = (
        "Analysis",
        "Study rows",
        *(provenance.SOURCE_TEXT[s].capitalize() for s in provenance.SOURCES),
        "What the status means",
    )
    rows = []
    totals = dict.fromkeys(provenance.SOURCES, 0)
    for a in result.analyses:
        frame = _rows_of(a, by_key)
        if frame is None:
            continue
        counts = _sources(frame)
        for source, n in counts.items():
            totals[source] += n
        label = a.analysis.label + (" **[inferred data]**" if counts["inferred"] else "")
        rows.append(
            (
                label,
                str(len(frame)),
                *(str(counts[s]) for s in provenance.SOURCES),
                provenance.reproduction(a.status, counts),
            )
        )
    if not rows:
        return []
    text = (
        f"Study rows behind the analyses with data: {totals['published']} from a published "
        f"table, {totals['reconstructed']} reconstructed from the review's published "
        f"estimates, {totals['inferred']} inferred and unverified"
        + (f", {totals['unstated']} without a stated source" if totals["unstated"] else "")
        + ". Recomputing a published estimate from rows reconstructed from it cannot fail by "
        "construction: such an analysis is **consistent** with the review, not reproduced "
        "from independent data. Inferred rows were never checked against a published result."
    )
    return [_Heading(2, "Data provenance"), _Para(text), _Table(header, tuple(rows))]


def _summary_section(result: ReproduceResult, by_key: dict[Any, pd.DataFrame]) -> list[_Block]:
    default = result.plan.default_prior
    name = short_prior_label(default.prior, with_scale=False)
    has_mcmc = any(a.mcmc for a in result.analyses)
    header = [
        "Analysis",
        "k",
        "Status",
        "Published [95% CI]",
        "Reproduced [95% CI]",
        f"Bayes pooled effect (ratio scale for RR/OR), {name} [95% CrI]",
        "Bayes 95% prediction (same scale)",
        "Bayes tau (log-ratio scale for RR/OR) [95% CrI]",
    ]
    if has_mcmc:
        header.append("Binomial model pooled ratio (MCMC) [95% CrI]")
    rows = []
    for a in result.analyses:
        pub, rec, r = a.published, a.reproduced_values(), a.frequentist
        published = (
            f"{pub['estimate']} [{pub['ci_low']}, {pub['ci_high']}]" if "estimate" in pub else "-"
        )
        reproduced = (
            interval(rec["estimate"], rec["ci_low"], rec["ci_high"])
            if rec.get("estimate") is not None
            else "-"
        )
        b = a.exact.get(default.label)
        scale = _scale_text(a)
        mu = f"{scale} {interval(*bayes_quantiles(b, 'mu'))}".strip() if b else "-"
        pred = "[{1}, {2}]".format(*map(fmt, bayes_quantiles(b, "theta_new"))) if b else "-"
        tau = interval(b.tau["q50"], b.tau["q025"], b.tau["q975"]) if b else "-"
        if b and _prior_only(a):
            tau += " (prior only: k = 1)"
        k = "-" if r is None else str(len(r.studies))
        counts = _sources(_rows_of(a, by_key))
        meaning = provenance.reproduction(a.status, counts)
        status = f"**{a.status}**" + (f" ({meaning})" if meaning != a.status else "")
        status += "".join(
            f" (likely typo: printed {f.details['field']} {f.details['printed']}, "
            f"computed {f.details['computed']:.2f})"
            for f in a.typos
        )
        if counts["inferred"]:
            status += " **[inferred data]**"
        row = [a.analysis.label, k, status, published, reproduced, mu, pred, tau]
        if has_mcmc:
            row.append(
                "; ".join(interval(*bayes_quantiles(s, "mu")) for s in a.mcmc.values()) or "-"
            )
        rows.append(tuple(row))
    legend = tuple(f"**{s}**: {t}" for s, t in _STATUS_TEXT.items())
    return [
        _Heading(2, "Summary"),
        _Para(
            "Published: the review's printed pooled estimate. Reproduced: our recomputation "
            "with the review's RevMan 5 settings. Bayes: exact normal-normal posterior under "
            f"the default tau prior {name} (`{default.label}`); the prediction interval is "
            "for the effect in a new study (theta_new)."
        ),
        _Table(tuple(header), tuple(rows)),
        _List(legend),
    ]


def _findings_section(result: ReproduceResult) -> list[_Block]:
    if not result.findings:
        return [_Heading(2, "Data findings"), _Para("No data findings.")]
    items = tuple(f"**{f.kind}** — {f.message}" for f in result.findings)
    return [_Heading(2, "Data findings"), _List(items)]


def _priors_section(result: ReproduceResult) -> list[_Block]:
    items = []
    for c in result.plan.tau_priors:
        name = short_prior_label(c.prior, with_scale=False)
        mark = " (default)" if c.default else ""
        items.append(f"**{name}**{mark} `{c.label}`: {c.why}")
    return [
        _Heading(2, "Tau priors compared"),
        _List(tuple(items)),
    ]


def _overview_section(compared: Sequence[tuple[AnalysisResult, PriorComparison]]) -> list[_Block]:
    kl = [float(v) for _, c in compared for v in c.table["kl_tau"] if math.isfinite(v)]
    text = (
        "How the pooled effect, the prediction interval and tau move with the tau prior, for "
        "every analysis with an exact fit."
    )
    if kl:
        most = max(kl)
        text += f" The KL divergence of the tau posterior from its prior is at most {most:.3f} nats"
        text += (
            ": the data barely update tau, so the width of the credible and prediction "
            "intervals is set by the prior."
            if most < _KL_LITTLE
            else "."
        )
    return [
        _Heading(2, "Prior sensitivity across analyses"),
        _Para(text),
        _Image("figures/prior-sensitivity.png", "prior sensitivity across analyses"),
    ]


def _prior_table(comp: PriorComparison) -> _Table:
    ratio = comp.log_scale
    header = (
        "tau prior",
        ("ratio" if ratio else "mu") + " [95% CrI]",
        "95% prediction",
        "P(ratio > 1)" if ratio else "P(mu < 0)",
        "tau [95% CrI]",
        "KL tau",
        "prior tau median / 95% q.",
        "prior P(tau > 0.5) / P(tau > 1)",
    )
    rows = []
    prob_of = comp.prob("mu", ">", 0.0) if ratio else comp.prob("mu", "<", 0.0)
    for label, r in comp.table.iterrows():
        if ratio:
            mu = interval(r.ratio_median, r.ratio_low, r.ratio_high)
            pred = f"[{fmt(r.pred_ratio_low)}, {fmt(r.pred_ratio_high)}]"
            prob = prob_of[label]
        else:
            mu = interval(r.mu_median, r.mu_low, r.mu_high)
            pred = f"[{fmt(r.pred_low)}, {fmt(r.pred_high)}]"
            prob = prob_of[label]
        rows.append(
            (
                short_prior_label(comp.priors[str(label)]),
                mu,
                pred,
                f"{prob:.3f}",
                f"{r.tau_median:.2f} [{r.tau_low:.2f}, {r.tau_high:.2f}]",
                fixed(r.kl_tau, 3),
                f"{fixed(r.prior_tau_median, 2)} / {fixed(r.prior_tau_q95, 2)}",
                f"{fixed(r.prior_p_tau_gt_0_5, 2)} / {fixed(r.prior_p_tau_gt_1, 2)}",
            )
        )
    return _Table(header, tuple(rows))


def _analysis_section(
    a: AnalysisResult,
    comp: PriorComparison | None,
    slug: str,
    default: str,
    rows: pd.DataFrame | None = None,
) -> list[_Block]:
    r = a.frequentist
    assert r is not None
    blocks: list[_Block] = [
        _Heading(3, a.analysis.label),
        _Para(
            f"Status: **{a.status}** — {_STATUS_TEXT[a.status]}. {r.measure}, "
            f"{r.method} {'random' if r.random else 'fixed'} effects, k = {r.k} estimable of "
            f"{len(r.studies)} studies."
        ),
    ]
    counts = _sources(rows)
    meaning = provenance.reproduction(a.status, counts)
    if meaning != a.status:
        blocks.append(_Para(f"Data provenance: {meaning}."))
    inferred = _inferred(rows)
    notes = [
        *(
            [
                f"**inferred data** — the rows of {', '.join(inferred)} are inferred and "
                "unverified (marked [inferred] in the forest plot)"
            ]
            if inferred
            else []
        ),
        *(
            ["**tau is prior only** — one estimable study (k = 1): its tau posterior is its prior"]
            if _prior_only(a)
            else []
        ),
        *(f"**likely typo** — {f.message}" for f in a.typos),
        *a.notes,
        *([a.analysis.note] if a.analysis.note else []),
    ]
    if notes:
        blocks.append(_List(tuple(notes)))
    if a.checks:
        blocks.append(
            _Table(
                ("printed value", "printed", "ours (full precision)", "ours (rounded)", "status"),
                tuple(
                    (c.field, c.printed, f"{c.value:.6g}", c.rounded, c.status) for c in a.checks
                ),
            )
        )
    blocks += [_Para(_mcmc_text(s)) for s in a.mcmc.values()]
    blocks.append(_Image(f"figures/{slug}-forest.png", f"forest plot: {a.analysis.label}"))
    if a.leave_one_out is not None:
        blocks += _leave_one_out_blocks(a.leave_one_out, r.log_scale, default)
    if comp is not None:
        blocks += [
            _Para(
                f"Exact normal-normal posterior under each tau prior (mu prior `{comp.mu_prior}`):"
            ),
            _prior_table(comp),
            *_dominated(comp),
            _Image(f"figures/{slug}-tau.png", f"tau prior vs posterior: {a.analysis.label}"),
        ]
    binomial = a.binomial_comparison
    if binomial is not None:
        blocks += [
            _Para(
                f"Exact {binomial.model} posterior (log {binomial.measure}, "
                f"{_BINOMIAL_FORM[binomial.model]}, every study kept, no continuity "
                f"correction; mu prior `{binomial.mu_prior}`) under each tau prior:"
            ),
            _prior_table(binomial),
            *_dominated(binomial),
        ]
    return blocks


def _dominated(comp: PriorComparison) -> list[_Block]:
    """The rows of a prior comparison flagged as prior-dominated, with the reasons."""
    flagged = [
        f"**prior-dominated** under {plots.short_prior_label(comp.priors[str(label)])}: {why}"
        for label, why in comp.table["prior_dominated"].items()
        if why
    ]
    return [_List(tuple(flagged))] if flagged else []


def _leave_one_out_blocks(table: pd.DataFrame, log_scale: bool, default: str) -> list[_Block]:
    """The leave-one-out table computed by ``reproduce`` (ratio scale for ratio measures)."""
    f = np.exp if log_scale else np.asarray
    bayes = "mu_median" in table.columns
    head = ["omitted study", "estimate [95% CI]", "τ² (log scale)" if log_scale else "τ²", "I²"]
    if bayes:
        pooled = "exp(μ) (ratio)" if log_scale else "μ"
        head += [f"Bayes {pooled} median [95% CrI], {default}", "shift of μ (sd)"]
    rows = []
    for r in table.itertuples(index=False):
        row = [
            str(r.study),
            interval(float(f(r.estimate)), float(f(r.lower)), float(f(r.upper))),
            f"{r.tau2:.3g}",
            f"{r.i2:.0f}%",
        ]
        if bayes:
            row += [
                interval(float(f(r.mu_median)), float(f(r.mu_lower)), float(f(r.mu_upper))),
                f"{r.mu_shift:+.2f}",
            ]
        rows.append(tuple(row))
    text = "Leave-one-out: the analysis repeated without each study (the review's settings" + (
        "; exact normal-normal posterior under the default prior, with the shift of the"
        " posterior median of μ in full-data posterior standard deviations)."
        if bayes
        else ")."
    )
    return [_Para(text), _Table(tuple(head), tuple(rows))]


def _mcmc_text(s: BayesSummary) -> str:
    """One sentence on an MCMC fit: model, prior, sampler and its diagnostics gate."""
    d = s.extra.get("diagnostics") or {}
    settings = d.get("settings") or {}
    name = short_prior_label_from_string(s.prior)
    text = f"MCMC fit, {s.model} model, tau prior {name}"
    if settings:
        text += (
            f" ({d.get('engine', 'sampler')}: {settings.get('chains')} chains × "
            f"{settings.get('draws')} draws after {settings.get('tune')} tuning steps)"
        )
    if d.get("from_disk"):
        text += ", draws loaded from the on-disk cache of an identical earlier fit"
    if "r_hat_max" in d:
        text += (
            f": R-hat max {d['r_hat_max']:.3f}, bulk ESS min {d.get('ess_bulk_min', math.nan):.0f}, "
            f"tail ESS min {d.get('ess_tail_min', math.nan):.0f}, "
            f"{d.get('divergences', 0)} divergences"
        )
    if d.get("passed") is False:
        return text + " — **failed the diagnostics gate**: " + "; ".join(d.get("failures", []))
    return text + (" — diagnostics gate passed." if d.get("passed") else ".")


def _no_data_section(result: ReproduceResult) -> list[_Block]:
    missing = [a for a in result.analyses if a.status == "no-data"]
    if not missing:
        return []
    items = []
    for a in missing:
        pub = a.published
        text = a.analysis.label
        if "estimate" in pub:
            text += f" — published {pub.get('measure', '')} {pub['estimate']} "
            text += f"[{pub.get('ci_low', '?')}, {pub.get('ci_high', '?')}]"
        items.append(text)
    return [
        _Heading(2, "Analyses without study-level data"),
        _Para(
            "The data hold no study-level rows for these analyses, so nothing is recomputed "
            "or filled in; their published figures are listed as printed."
        ),
        _List(tuple(items)),
    ]


def _files_section(nc: Sequence[str]) -> list[_Block]:
    items = [
        "`summary.csv` — one row per analysis: published, reproduced, Bayesian (default prior)",
        "`prior_comparison.csv` — one row per analysis and tau prior",
        "`studies.csv` — study-level data, effects, RevMan weights, shrunken effects",
        "`result.json` — the complete result (`sparsemeta reproduce --json`)",
        "`figures/` — the figures of this report as PNG",
    ]
    if nc:
        items.append(f"`idata/` — InferenceData of each MCMC fit (NetCDF): {', '.join(nc)}")
    return [_Heading(2, "Files"), _List(tuple(items))]
