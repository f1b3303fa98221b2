"""Tests of the reproduction report (``sparsemeta.present.report.write_report``)."""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import os
import re
import stat
import sys
from pathlib import Path

import arviz as az
import matplotlib
import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from sparsemeta.errors import DataError
from sparsemeta.present import report
from sparsemeta.review import plan as plan_mod
from sparsemeta.review.reproduce import BayesSummary, reproduce

matplotlib.use("Agg")

PNG = b"\x89PNG\r\n\x1a\n"
#: no-data; secure (reproduced, tau2 typo flagged); secure to insecure (a study dropped); two PPI analyses
#: with one study, the second with no estimable study
PICK = (0, 2, 8, 21, 22)


@pytest.fixture(scope="module")
def result():
    plan = plan_mod.load(plan_mod.packaged("pip_barlow2015"))
    small = dataclasses.replace(plan, analyses=tuple(plan.analyses[i] for i in PICK))
    return reproduce(small, mcmc=False)


@pytest.fixture(scope="module")
def folder(result, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reports") / "report"
    assert report.write_report(result, out) == out
    return out


def test_every_file_is_written(result, folder):
    for name in report.REPORT_FILES:
        assert (folder / name).is_file(), name
    figures = {p.name for p in (folder / "figures").iterdir()}
    with_data = [a for a in result.analyses if a.frequentist is not None]
    assert len(with_data) == 4
    assert sum(n.endswith("-forest.png") for n in figures) == 4
    assert sum(n.endswith("-tau.png") for n in figures) == 3  # no exact fit without data
    assert "prior-sensitivity.png" in figures
    for name in figures:
        assert (folder / "figures" / name).read_bytes().startswith(PNG)
    assert not (folder / "idata").exists()  # no MCMC fits in this result
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask  # not a private temp folder


@pytest.mark.skipif(
    (os.cpu_count() or 1) < 2 or sys.platform != "linux", reason="workers: Linux, 2+ cores"
)
def test_figures_drawn_by_worker_processes_are_those_drawn_in_process(
    result, tmp_path, monkeypatch
):
    """The 8 figures of ``result`` drawn by forked workers and in this process: the same
    pixels, the same progress steps, and the workers (not this process) saved them."""
    real_save = report._save

    def save(fig, path):  # forked workers inherit this patch: each notes its process id
        (tmp_path / f"pid-{os.getpid()}").touch()
        real_save(fig, path)

    monkeypatch.setattr(report, "_save", save)
    steps, pids = {}, {}
    for how, least in (("workers", 1), ("here", 10**6)):
        monkeypatch.setattr(report, "PARALLEL_FIGURES", least)
        calls: list[str] = []
        report.write_report(result, tmp_path / how, progress=calls.append)
        steps[how] = calls
        pids[how] = {int(p.name[4:]) for p in tmp_path.glob("pid-*")}
        for p in tmp_path.glob("pid-*"):
            p.unlink()
    assert pids["here"] == {os.getpid()} and os.getpid() not in pids["workers"]
    assert steps["workers"] == steps["here"] and len(steps["here"]) == report.report_steps(result)
    names = sorted(p.name for p in (tmp_path / "here" / "figures").iterdir())
    assert len(names) == 8
    assert names == sorted(p.name for p in (tmp_path / "workers" / "figures").iterdir())
    for name in names:
        here = matplotlib.image.imread(tmp_path / "here" / "figures" / name)
        there = matplotlib.image.imread(tmp_path / "workers" / "figures" / name)
        np.testing.assert_array_equal(here, there)


def test_html_is_self_contained(folder):
    page = (folder / "report.html").read_text(encoding="utf-8")
    sources = re.findall(r'<img[^>]*\bsrc="([^"]*)"', page)
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    assert len(sources) == markdown.count("![") == 4 + 3 + 1
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    assert "<link" not in page and "<script" not in page and "http" not in page.split("<body>")[0]


def test_markdown_names_each_analysis_with_its_status(result, folder):
    text = (folder / "report.md").read_text(encoding="utf-8")
    for a in result.analyses:
        label = a.analysis.label.replace("|", "\\|")
        assert re.search(re.escape(label) + r" \| [-\d]+ \| \*\*" + a.status + r"\*\*", text)
    assert [a.status for a in result.analyses] == [
        "no-data",
        "reproduced",
        "reproduced",
        "not-published",
        "not-published",
    ]
    for f in result.findings:
        assert f.message in text
    assert "## Analyses without study-level data" in text
    # 2 reproduced, the secure tau2 (printed 3.71 = the Chi2; DL gives 1.544) flagged
    assert "**Result: 2 reproduced, 1 no-data, 2 not-published; 1 printed value flagged" in text
    assert "(likely typo: printed tau2 3.71, computed 1.54)" in text


def test_summary_csv(folder):
    s = pd.read_csv(folder / "summary.csv")
    assert len(s) == len(PICK)
    secure = s[s["outcome"] == "Infant attachment: secure"].iloc[0]
    # the data README: RevMan 5 MH random-effects RR 8.93 [1.25, 63.70]; R meta: tau^2 1.544
    assert round(secure["reproduced_estimate"], 2) == 8.93
    assert (round(secure["reproduced_ci_low"], 2), round(secure["reproduced_ci_high"], 2)) == (
        1.25,
        63.70,
    )
    assert round(secure["reproduced_tau2"], 3) == 1.544
    assert secure["published_estimate"] == pytest.approx(8.93)
    assert secure["status"] == "reproduced"
    # Bayes quantiles on the ratio scale, inside each other
    assert secure["bayes_pred_low"] < secure["bayes_mu_low"] < secure["bayes_mu_median"]
    assert s["bayes_mu_median"].isna().sum() == 2  # no data; no estimable study


def test_prior_comparison_csv_agrees_with_the_result(result, folder):
    t = pd.read_csv(folder / "prior_comparison.csv")
    for a in result.analyses:
        rows = t[t["outcome"].eq(a.analysis.outcome) & t["comparison"].eq(a.analysis.comparison)]
        assert len(rows) == len(a.exact)
        for s in a.exact.values():
            (row,) = rows[rows["prior"] == s.prior].itertuples()
            assert row.mu_median == pytest.approx(s.mu["q50"], rel=1e-9)
            assert row.tau_high == pytest.approx(s.tau["q975"], rel=1e-9)


def test_studies_csv(folder):
    st = pd.read_csv(folder / "studies.csv")
    drop = st[st["outcome"].eq("Attachment change: secure to insecure")]
    gone = drop[drop["study"] == "Cicchetti 2006b"].iloc[0]
    assert (gone.events_t, gone.events_c) == (0, 0)
    assert "no events" in gone.excluded_reason and math.isnan(gone.yi)
    kept = drop[drop["study"] == "Cicchetti 1999a"].iloc[0]
    assert kept.weight_percent == pytest.approx(100.0)
    # log RR of 0/46 vs 6/54 with RevMan's 0.5 correction, by hand
    assert kept.yi == pytest.approx(math.log((0.5 / 47) / (6.5 / 55)))
    assert kept.theta_q025 < kept.theta_q50 < kept.theta_q975


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _boom(*args, **kwargs):
    raise RuntimeError("interrupted")


def test_interrupted_write_leaves_nothing(result, tmp_path, monkeypatch):
    monkeypatch.setattr(report.plots, "sensitivity_overview", _boom)
    out = tmp_path / "new-report"
    with pytest.raises(RuntimeError, match="interrupted"):
        report.write_report(result, out)
    assert list(tmp_path.iterdir()) == []  # neither the report nor the temporary folder


def test_interrupted_rewrite_keeps_the_old_report(result, folder, tmp_path, monkeypatch):
    out = tmp_path / "old"
    out.mkdir()
    for name, content in _snapshot(folder).items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(content)
    before = _snapshot(out)
    monkeypatch.setattr(report, "_to_html", _boom)  # fails after every figure was drawn
    with pytest.raises(RuntimeError):
        report.write_report(result, out)
    assert _snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["old"]


def test_rewrite_replaces_the_old_report_whole(result, tmp_path):
    out = tmp_path / "r"
    report.write_report(result, out)
    before = _snapshot(out)
    (out / "figures" / "a99-old-analysis-forest.png").write_bytes(b"figure of an old report")
    (out / "summary.csv").write_text("stale")
    # a figure the old report listed but the new one does not write
    manifest = json.loads((out / report.MANIFEST).read_text())
    manifest["files"].append("figures/a99-old-analysis-forest.png")
    (out / report.MANIFEST).write_text(json.dumps(manifest))
    report.write_report(result, out)
    assert set(_snapshot(out)) == set(before)  # nothing of the old report is left
    assert (out / "summary.csv").read_bytes() == before["summary.csv"]
    assert [p.name for p in tmp_path.iterdir()] == ["r"]  # no temporary or old folder


def test_rewrite_refuses_a_folder_with_user_files_unless_forced(result, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "summary.csv").write_text("stale")
    with pytest.raises(DataError, match=r"not part of a sparsemeta report \(notes.txt\)"):
        report.write_report(result, out)
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "summary.csv").read_text() == "stale"
    report.write_report(result, out, force=True)
    assert not (out / "notes.txt").exists()
    assert (out / "summary.csv").read_text().startswith("comparison,")


def test_mcmc_fits_are_saved_as_netcdf_and_gate_failures_reported(result, tmp_path):
    rng = np.random.default_rng(7)
    idata = az.from_dict(posterior={"mu": rng.normal(size=(2, 50))})
    secure = result.analyses[1]
    fit = BayesSummary(
        model="binomial-normal",
        prior="halfnormal(scale=0.5)",
        why="default",
        mu={"q025": 0.5, "q50": 1.5, "q975": 2.5},
        tau={"q025": 0.02, "q50": 0.4, "q975": 1.1},
        theta_new={"q025": 0.1, "q50": 1.5, "q975": 3.0},
        theta={},
        log_scale=True,
        idata=idata,
        extra={
            "diagnostics": {
                "passed": False,
                "failures": ["R-hat 1.08 > 1.01"],
                "r_hat_max": 1.08,
                "ess_bulk_min": 120.0,
                "ess_tail_min": 90.0,
                "divergences": 3,
                "engine": "nutpie",
                "from_disk": True,
                "settings": {"chains": 2, "draws": 50, "tune": 50},
            },
        },
    )
    analyses = list(result.analyses)
    analyses[1] = dataclasses.replace(secure, mcmc={"halfnormal(scale=0.5)": fit})
    with_fit = dataclasses.replace(result, analyses=tuple(analyses))
    assert report.failed(result) == []
    assert report.failed(with_fit) == [
        f"{secure.analysis.label}: MCMC fit (halfnormal(scale=0.5)) failed the diagnostics gate"
    ]
    out = report.write_report(with_fit, tmp_path / "r")
    (nc,) = (out / "idata").iterdir()
    back = az.from_netcdf(nc)
    np.testing.assert_allclose(back.posterior["mu"].values, idata.posterior["mu"].values)
    summary = pd.read_csv(out / "summary.csv")
    assert summary.loc[1, "mcmc_mu_median"] == pytest.approx(math.exp(1.5))
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "Binomial model pooled ratio (MCMC) [95% CrI]" in text
    assert "3 divergences — **failed the diagnostics gate**: R-hat 1.08 > 1.01" in text
    assert "draws loaded from the on-disk cache of an identical earlier fit" in text


@pytest.mark.slow
def test_mcmc_fit_of_reproduce_is_written_as_netcdf_and_loads_back_identical(tmp_path):
    plan = plan_mod.load(plan_mod.packaged("pip_barlow2015"))
    key = ("PIP vs control", "Attachment change: secure to insecure", "post")
    sub = dataclasses.replace(plan, analyses=(plan.analysis(key),))
    result = reproduce(sub)
    (s,) = result.analyses[0].mcmc.values()
    assert s.idata is not None and "idata" not in s.to_dict()
    out = report.write_report(result, tmp_path / "r")
    (nc,) = (out / "idata").iterdir()
    assert nc.name == "a01-attachment-change-secure-to-insecure-post-halfnormal-scale-0-5.nc"
    back = az.from_netcdf(nc)
    assert set(back.groups()) == set(s.idata.groups())
    for group in s.idata.groups():
        assert back[group].equals(s.idata[group]), group
    assert f"`idata/` — InferenceData of each MCMC fit (NetCDF): idata/{nc.name}" in (
        out / "report.md"
    ).read_text(encoding="utf-8")


@pytest.mark.slow
def test_netcdf_of_a_cached_fit_is_the_fit_caches_file_and_loads_back_identical(
    tmp_path, monkeypatch
):
    """A fit stored in, then loaded from, the fit cache: the report's .nc file is the
    NetCDF kept in the cache entry, and it loads back equal to the draws in memory."""
    monkeypatch.setenv("SPARSEMETA_CACHE_DIR", str(tmp_path / "cache"))
    plan = plan_mod.load(plan_mod.packaged("pip_barlow2015"))
    key = ("PIP vs control", "Attachment change: secure to insecure", "post")
    sub = dataclasses.replace(plan, analyses=(plan.analysis(key),))
    stored = reproduce(sub, cache=True)
    loaded = reproduce(sub, cache=True)
    for result, from_disk in ((stored, False), (loaded, True)):
        (s,) = result.analyses[0].mcmc.values()
        assert s.extra["diagnostics"]["from_disk"] is from_disk and s.netcdf is not None
        out = report.write_report(result, tmp_path / f"r-{from_disk}")
        (nc,) = (out / "idata").iterdir()
        assert nc.read_bytes() == s.netcdf
        back = az.from_netcdf(nc)
        assert set(back.groups()) == set(s.idata.groups())
        for group in s.idata.groups():
            assert back[group].equals(s.idata[group]), group


# --------------------------------------------------------------------------- data provenance
# Expected sources, read by hand from the `provenance` column of the bundled PIP data
# (src/sparsemeta/datasets_files/pip_barlow2015/studies.csv, the same text as the shared
# data's studies.csv; its README: "study-level data for the analyses we could recover ...
# with provenance"): every PIP-vs-control row begins "reconstructed: ..." except Cicchetti
# 2006b in "Attachment change: secure to insecure", which begins "trial report (AHRQ ...";
# every PIP-vs-alternative (PPI) row begins "inferred, unverified: ...".
CONSISTENT = "consistent: study data reconstructed from the published estimate"
NOT_CHECKABLE = "not checkable: inferred study data, no published estimate"


def test_first_page_shows_data_provenance(folder):
    text = (folder / "report.md").read_text(encoding="utf-8")
    assert text.index("## Data provenance") < text.index("## Summary")
    section = text[text.index("## Data provenance") : text.index("## Summary")]
    # PICK: secure (2 reconstructed), secure to insecure (1 trial report + 1 reconstructed),
    # two PPI analyses (1 inferred row each)
    assert (
        "1 from a published table, 3 reconstructed from the review's published estimates, "
        "2 inferred and unverified" in section
    )
    rows = [ln for ln in section.splitlines() if ln.startswith("| PIP")]
    assert len(rows) == 4
    assert rows[0].endswith(f"| 2 | 0 | 2 | 0 | 0 | {CONSISTENT} |")
    assert rows[1].endswith(f"| 2 | 1 | 1 | 0 | 0 | {CONSISTENT} |")
    for row in rows[2:]:
        assert "**[inferred data]**" in row
        assert row.endswith(f"| 1 | 0 | 0 | 1 | 0 | {NOT_CHECKABLE} |")
    html_page = (folder / "report.html").read_text(encoding="utf-8")
    assert html_page.index("Data provenance") < html_page.index(">Summary<")


def test_summary_and_studies_csv_carry_the_provenance(folder):
    s = pd.read_csv(folder / "summary.csv").set_index("outcome")
    assert s.loc["Infant attachment: secure", "reproduction"] == CONSISTENT
    assert s.loc["Infant attachment: secure", "rows_reconstructed"] == 2
    assert s.loc["Attachment change: secure to insecure", "rows_published"] == 1
    # the Bayes columns say their scale; tau of a one-study analysis is its prior
    assert s.loc["Infant attachment: secure", "bayes_scale"] == "ratio"
    assert not s.loc["Infant attachment: secure", "bayes_tau_prior_only"]
    ppi = s[s["comparison"] == "PIP vs alternative treatment (PPI)"]
    assert (ppi["reproduction"] == NOT_CHECKABLE).all()
    st = pd.read_csv(folder / "studies.csv")
    assert set(st.loc[st["comparison"] == "PIP vs control", "data_source"]) == {
        "reconstructed",
        "published",
    }
    assert set(st.loc[st["comparison"] != "PIP vs control", "data_source"]) == {"inferred"}


def test_statuses_on_the_bundled_plan():
    # every analysis of the bundled plan: what its status means given its study rows
    from sparsemeta import data
    from sparsemeta.review import provenance

    plan = plan_mod.load(plan_mod.packaged("pip_barlow2015"))
    full = reproduce(plan, mcmc=False)
    by_key = dict(data.analyses(plan.studies()))
    meaning = {}
    for a in full.analyses:
        rows = by_key.get(a.key)
        counts = provenance.count_sources([] if rows is None else rows["provenance"])
        meaning[a.analysis.label] = provenance.reproduction(a.status, counts)
    control = [v for k, v in meaning.items() if k.startswith("PIP vs control") and v != "no-data"]
    ppi = [v for k, v in meaning.items() if k.startswith("PIP vs alternative") and v != "no-data"]
    # the 8 PIP-vs-control analyses with data rest on reconstructed rows: consistency checks
    assert control == [CONSISTENT] * 8
    assert ppi == [NOT_CHECKABLE] * 8
    assert "reproduced from independent study data" not in meaning.values()
    assert list(meaning.values()).count("no-data") == 12


def test_binomial_prior_comparison_and_prior_dominated_rows(result, folder):
    """Issue 11: the report shows the exact comparison of the measure's binomial model for
    binary analyses (binomial-rr on the log RR scale for these RR analyses) and flags
    prior-dominated rows; the flagged rows are those the documented rule picks (k = 1, only
    double-zero studies, or KL(tau prior -> posterior) < 0.05 nats)."""
    from sparsemeta.bayes import dominance

    text = (folder / "report.md").read_text(encoding="utf-8")
    assert "Exact binomial-rr posterior (log RR, arm-symmetric risk-ratio model" in text
    assert "Exact binomial-normal posterior" not in text  # no OR analysis in the report
    flagged = 0
    for a in result.analyses:
        comp = a.binomial_comparison
        if comp is None:
            continue
        assert comp.model == "binomial-rr" and comp.log_scale
        for label, row in comp.table.iterrows():
            why = dominance.reasons(comp.k, None, row["kl_tau"])
            if why:
                assert row["prior_dominated"], (a.analysis.label, label)
                flagged += 1
    assert flagged > 0  # the one-study PPI analysis at least
    assert "**prior-dominated** under" in text
    # and right under a binomial-rr table (the one-study PPI analysis: k = 1)
    under_rr = (
        r"Exact binomial-rr posterior [^\n]*\n\n(\|[^\n]*\n)+\n- \*\*prior-dominated\*\* under"
    )
    assert re.search(under_rr + r"[^\n]*k = 1: the tau posterior is its prior", text)
