"""Batch re-analysis of RevMan files (sparsemeta.review.batch and ``sparsemeta batch``).

Synthetic reviews are written by the test with :func:`sparsemeta.io.write_revman`; expected
values are derived here from the formulas (DerSimonian-Laird pool of log risk ratios, Deeks &
Higgins 2010) or from known properties of the posterior, not from earlier output.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from sparsemeta.bayes import exact
from sparsemeta.cli import main
from sparsemeta.errors import DataError, PriorError
from sparsemeta.io import write_revman
from sparsemeta.review import batch

Z975 = 1.959963984540054
PRIORS = "halfnormal(0.5),halfnormal(1.0)"

# Three studies without zero cells (no continuity correction needed), one outcome in two
# subgroups, and a generic (log hazard ratio) outcome of two studies.
BINARY = [
    ("A", 4, 40, 10, 41, "early"),
    ("B", 7, 52, 9, 50, "early"),
    ("C", 12, 60, 11, 58, "late"),
]
GENERIC = [("D", -0.4, 0.3), ("E", 0.1, 0.25)]


def _table() -> pd.DataFrame:
    rows = [
        {"comparison": "Drug vs placebo", "outcome": "Death", "study": s, "events_t": a,
         "n_t": n1, "events_c": c, "n_c": n2}
        for s, a, n1, c, n2, _ in BINARY
    ]  # fmt: skip
    rows += [
        {"comparison": "Drug vs placebo", "outcome": "Relapse", "subgroup": g, "study": s,
         "events_t": a, "n_t": n1, "events_c": c, "n_c": n2}
        for s, a, n1, c, n2, g in BINARY
    ]  # fmt: skip
    rows += [
        {"comparison": "Drug vs placebo", "outcome": "Time to relapse", "study": s,
         "effect": e, "se": se, "log_scale": True}
        for s, e, se in GENERIC
    ]  # fmt: skip
    return pd.DataFrame(rows)


def _dl_pool(y: np.ndarray, v: np.ndarray) -> tuple[float, float, float]:
    """DerSimonian-Laird random-effects pool: (estimate, se, tau2)."""
    w = 1 / v
    fe = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - fe) ** 2)
    tau2 = max(0.0, (q - (len(y) - 1)) / (w.sum() - (w**2).sum() / w.sum()))
    ws = 1 / (v + tau2)
    return float(np.sum(ws * y) / ws.sum()), float(ws.sum() ** -0.5), tau2


def _log_rr() -> tuple[np.ndarray, np.ndarray]:
    a, n1, c, n2 = (np.array([r[i] for r in BINARY], float) for i in (1, 2, 3, 4))
    return np.log(a / n1) - np.log(c / n2), 1 / a - 1 / n1 + 1 / c - 1 / n2


@pytest.fixture
def review_dir(tmp_path):
    folder = tmp_path / "reviews"
    (folder / "sub").mkdir(parents=True)
    attributes = {
        ("Drug vs placebo", "Death"): {"METHOD": "IV", "EFFECT_MEASURE": "RR", "RANDOM": True,
                                       "EFFECT_SIZE": 0.8125, "TAU2": 0.0123},
        ("Drug vs placebo", "Relapse"): {"METHOD": "IV", "EFFECT_MEASURE": "RR", "RANDOM": True},
        ("Drug vs placebo", "Time to relapse"): {"RANDOM": True, "LOG_DATA": True,
                                                 "EFFECT_MEASURE": "HR"},
    }  # fmt: skip
    write_revman(_table(), folder / "sub" / "good.rm5", title="Synthetic", attributes=attributes)
    (folder / "broken.rm5").write_text("<COCHRANE_REVIEW><ANALYSES_AND_DATA>")
    (folder / "notes.csv").write_text("just,some\nunrelated,table\n")
    (folder / "ignored.txt").write_text("not searched")
    return folder


def test_find_files(review_dir) -> None:
    files = batch.find_files([review_dir, review_dir / "sub" / "good.rm5"])
    assert sorted(f.name for f in files) == ["broken.rm5", "good.rm5", "notes.csv"]
    with pytest.raises(DataError):
        batch.find_files([review_dir / "missing.rm5"])


def test_reanalyse_synthetic_review(review_dir) -> None:
    result = batch.reanalyse([review_dir], PRIORS)
    assert len(result.files) == 3
    assert result.files_failed == 2  # broken XML and a CSV that is not a RevMan export
    assert {s.file.rsplit("/", 1)[-1] for s in result.skipped if s.analysis_id is None} == {
        "broken.rm5",
        "notes.csv",
    }
    assert result.analyses_done == 3 and result.analyses_skipped == 0
    t = result.table
    # levels: Death overall; Relapse overall + 2 subgroups; Time to relapse overall = 5
    assert len(t) == 5 * 2
    assert set(t["prior"]) == {"halfnormal(0.5)", "halfnormal(1.0)"}

    death = t[(t["outcome"] == "Death")].set_index("prior")
    y, v = _log_rr()
    est, se, tau2 = _dl_pool(y, v)
    row = death.loc["halfnormal(0.5)"]
    assert row["k"] == 3 and row["ratio"] and row["level"] == "overall"
    assert row["estimate"] == pytest.approx(math.exp(est), rel=1e-12)
    assert row["ci_low"] == pytest.approx(math.exp(est - Z975 * se), rel=1e-12)
    assert row["tau2"] == pytest.approx(tau2, rel=1e-12, abs=1e-15)
    assert row["stored_estimate"] == 0.8125 and row["stored_tau2"] == 0.0123
    assert math.isnan(row["stored_ci_low"])
    # Bayesian columns: the exact posterior of the same log risk ratios, reported as ratios,
    # with the risk ratio's default mu prior N(0, 2.82^2) (sparsemeta.measures)
    assert row["mu_prior"] == "normal(mean=0.0, sd=2.82)"
    post = exact.posterior(y, np.sqrt(v), "halfnormal(0.5)", "normal(0, 2.82)")
    assert row["mu_q500"] == pytest.approx(math.exp(post["mu"].quantile(0.5)), rel=1e-9)
    assert row["tau_q975"] == pytest.approx(post["tau"].quantile(0.975), rel=1e-9)
    assert row["mu_q025"] < row["mu_q500"] < row["mu_q975"]
    assert (row["mu_scale"], row["tau_scale"]) == ("ratio", "log ratio")
    assert row["theta_new_q025"] <= row["mu_q025"] and row["theta_new_q975"] >= row["mu_q975"]
    # HN(1.0)/HN(0.5) density ratio increases in tau: the posterior of tau is stochastically
    # larger under HN(1.0) (monotone likelihood ratio), so every tau quantile is larger.
    for q in ("tau_q025", "tau_q500", "tau_q975"):
        assert death.loc["halfnormal(1.0)", q] > death.loc["halfnormal(0.5)", q]

    relapse = t[(t["outcome"] == "Relapse") & (t["prior"] == "halfnormal(0.5)")]
    assert list(relapse["level"]) == ["overall", "subgroup", "subgroup"]
    assert list(relapse["k"]) == [3, 2, 1]
    late = relapse[relapse["subgroup"] == "late"].iloc[0]
    assert late["estimate"] == pytest.approx(math.exp(y[2]), rel=1e-12)  # one study: itself

    hr = t[(t["outcome"] == "Time to relapse") & (t["prior"] == "halfnormal(0.5)")].iloc[0]
    yg, sg = np.array([e for _, e, _ in GENERIC]), np.array([s for _, _, s in GENERIC])
    assert hr["ratio"] and hr["measure"] == "HR"
    assert hr["estimate"] == pytest.approx(math.exp(_dl_pool(yg, sg**2)[0]), rel=1e-12)


def test_improper_posterior_is_skipped_not_fatal(review_dir) -> None:
    # With one study and a flat mu prior, the likelihood of tau tends to a positive constant
    # as tau grows, so the improper Jeffreys prior (Bodnar et al. 2017) gives an improper
    # posterior: that level is skipped with the reason, the others are analysed.
    result = batch.reanalyse(
        [review_dir / "sub" / "good.rm5"], "halfnormal(0.5),jeffreys", mu_prior="flat"
    )
    jeffreys = result.table[result.table["prior"] == "jeffreys"]
    assert sorted(jeffreys["k"]) == [2, 2, 3, 3]
    assert len(result.table) == 5 + 4
    (skip,) = [s for s in result.skipped if s.prior == "jeffreys"]
    assert skip.subgroup == "late" and "improper" in skip.reason


def test_write_parquet_atomically(review_dir, tmp_path) -> None:
    result = batch.reanalyse([review_dir / "sub" / "good.rm5"], "halfnormal(0.5)")
    out = tmp_path / "out" / "res.parquet"
    out.parent.mkdir()
    result.write(out)
    assert [p.name for p in out.parent.iterdir()] == ["res.parquet"]
    pd.testing.assert_frame_equal(pd.read_parquet(out), result.table)


def test_dask_gives_the_same_table(review_dir) -> None:
    from distributed import Client, LocalCluster

    serial = batch.reanalyse([review_dir], PRIORS).table
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        parallel = batch.reanalyse([review_dir], PRIORS, dask_client=client).table
    pd.testing.assert_frame_equal(serial, parallel, check_exact=True)


def test_cli(review_dir, tmp_path, capsys) -> None:
    out = tmp_path / "r.parquet"
    assert main(["batch", str(review_dir), "--priors", PRIORS, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "3 files (2 unreadable), 3 analyses done, 0 skipped; 10 rows" in captured.out
    assert "broken.rm5" in captured.err and "notes.csv" in captured.err
    assert len(pd.read_parquet(out)) == 10

    assert main(["batch", str(review_dir), "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    # without --priors: each measure's default tau prior alone, so one row per level
    assert doc["analyses_done"] == 3 and doc["files_failed"] == 2 and doc["rows"] == 5


@pytest.mark.parametrize(
    ("extra", "exc"),
    [(["--priors", "halfnormal(0.5"], DataError), (["--priors", "nonsense(1)"], PriorError)],
)
def test_cli_bad_input_exits_2(review_dir, tmp_path, capsys, extra, exc) -> None:
    out = tmp_path / "r.parquet"
    assert main(["batch", str(review_dir), "--out", str(out), *extra]) == 2
    assert capsys.readouterr().err.startswith("sparsemeta batch: error:")
    assert not out.exists()
    with pytest.raises(exc):
        batch.reanalyse([review_dir], extra[1])
    assert main(["batch", str(tmp_path / "nowhere"), "--out", str(out)]) == 2


@pytest.mark.fixtures
def test_real_revman_files(revman_fixtures) -> None:
    files = [revman_fixtures / "Fleiss1993.rm5", revman_fixtures / "Fleiss1993_CR.csv"]
    result = batch.reanalyse(files, "halfnormal(0.5)")
    assert result.files_failed == 0 and result.analyses_done == 4
    t = result.table
    rm5, csv = t[t["file"].str.endswith(".rm5")], t[t["file"].str.endswith(".csv")]
    # the continuous outcome of Fleiss1993.rm5 has empty stored results (fixtures README)
    assert rm5["stored_estimate"].isna().sum() == 1
    rm5 = rm5[rm5["stored_estimate"].notna()]
    # .rm5 stores full precision (match to 1e-9 relative, REVMAN.md); the CSV export rounds
    # to 8 decimals
    np.testing.assert_allclose(rm5["estimate"], rm5["stored_estimate"], rtol=1e-9)
    np.testing.assert_allclose(rm5["ci_high"], rm5["stored_ci_high"], rtol=1e-9)
    np.testing.assert_allclose(csv["estimate"], csv["stored_estimate"], atol=5.1e-9, rtol=0)
    # the aspirin analysis (OR, 7 trials) holds the same data in both files
    aspirin = [part[part["k"] == 7] for part in (rm5, csv)]
    assert all(len(a) == 1 for a in aspirin)
    np.testing.assert_allclose(aspirin[0]["mu_q500"], aspirin[1]["mu_q500"], rtol=1e-9)
