"""Calibration studies (sparsemeta.simulate and ``sparsemeta simulate``).

Expected values come from theory, not from earlier runs:

* with τ = 0 the common-effect z interval is exact, so its coverage is 95% up to Monte Carlo
  error (3 MC SE, sqrt(0.95·0.05/R));
* with equal standard errors the DL estimate equals the common-effect one and its interval is
  at least as wide, so DL-z covers whenever the common-effect interval does;
* at k = 2 the HKSJ interval is μ̂ ± t(1, 0.975)·SE_HK, SE_HK computed here from its
  definition (Hartung & Knapp 2001);
* at k = 2, τ = 1 the z interval ignores the uncertainty in τ̂² and under-covers badly,
  while HKSJ keeps close to 95% (IntHout et al. 2014; Friede et al. 2017);
* with a flat prior on μ (a location parameter) and τ drawn from the τ prior itself, Bayesian
  95% credible intervals cover μ in exactly 95% of replicates (posterior calibration).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sparsemeta import simulate as sim
from sparsemeta.bayes.priors import split_list
from sparsemeta.cli import main
from sparsemeta.errors import DataError, PriorError
from sparsemeta.io.output import atomic_path, check_output_path


def within_mc(coverage: float, nominal: float, reps: int, z: float = 3.0) -> bool:
    return abs(coverage - nominal) <= z * math.sqrt(nominal * (1 - nominal) / reps)


# --------------------------------------------------------------------------- parsing


def test_split_list_keeps_commas_inside_brackets_and_quotes() -> None:
    text = "dl, halfnormal(0.5),turner2015(outcome=\"pain, other\", comparison='a,b'), hksj"
    assert split_list(text) == [
        "dl",
        "halfnormal(0.5)",
        "turner2015(outcome=\"pain, other\", comparison='a,b')",
        "hksj",
    ]
    assert split_list("a,,b, ") == ["a", "b"]


@pytest.mark.parametrize("text", ["halfnormal(0.5", "dl)", 'x("a)', "f(]"])
def test_split_list_rejects_unbalanced(text: str) -> None:
    with pytest.raises(DataError):
        split_list(text)


def test_parse_se() -> None:
    assert sim.parse_se("0.3:0.8") == ((), (0.3, 0.8))
    assert sim.parse_se("0.2,0.4") == ((0.2, 0.4), None)
    for bad in ("a:b", "0.3:", "1:2:3", "x"):
        with pytest.raises(DataError):
            sim.parse_se(bad)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"k": (0,), "taus": (0,), "reps": 10, "se": (0.5,)},
        {"k": (2,), "taus": (-1,), "reps": 10, "se": (0.5,)},
        {"k": (2,), "taus": (0,), "reps": 0, "se": (0.5,)},
        {"k": (2,), "taus": (0,), "reps": 10},
        {"k": (2,), "taus": (0,), "reps": 10, "se": (0.5,), "se_range": (0.1, 0.2)},
        {"k": (2,), "taus": (0,), "reps": 10, "se_range": (0.8, 0.3)},
        {"k": (2, 3), "taus": (0,), "reps": 10, "se": (0.5, 0.6)},
        {"k": (2,), "taus": (0,), "reps": 10, "n_per_arm": (20,)},
        {"k": (2,), "taus": (0,), "reps": 10, "n_per_arm": (20,), "baseline_risk": 1.5},
    ],
)
def test_design_rejects_bad_input(kwargs: dict) -> None:
    with pytest.raises(DataError):
        sim.Design(**kwargs)


def test_unknown_method_is_a_prior_error() -> None:
    with pytest.raises(PriorError):
        sim.method("nonsense(1)")
    with pytest.raises(DataError):
        sim.simulate(sim.Design(k=2, taus=0, reps=5, se=0.5), "dl,dl")


# --------------------------------------------------------------------------- drawing


def test_draw_is_reproducible_and_streams_differ() -> None:
    design = sim.Design(k=3, taus=(0.0, 0.5), reps=400, se_range=(0.3, 0.8), seed=7, chunk_size=200)
    a = sim.draw(design, 3, 1, 1)
    b = sim.draw(design, 3, 1, 1)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.se, b.se)
    assert not np.allclose(sim.draw(design, 3, 1, 0).y, a.y)
    assert not np.allclose(sim.draw(design, 3, 0, 1).y, a.y)
    assert a.se.min() >= 0.3 and a.se.max() <= 0.8


def test_draw_has_the_model_variance() -> None:
    # y_i - mu ~ N(0, tau^2 + s^2): the sample variance over 3000 x 2 draws is within
    # 4 of its standard errors (sqrt(2/(n-1)) relative) of tau^2 + s^2 = 0.25 + 0.16.
    design = sim.Design(k=2, taus=(0.5,), reps=3000, se=(0.4,), mu=1.0, chunk_size=3000)
    reps = sim.draw(design, 2, 0, 0)
    var = reps.y.var(ddof=1)
    n = reps.y.size
    assert abs(var / 0.41 - 1) < 4 * math.sqrt(2 / (n - 1))
    assert abs(reps.y.mean() - 1.0) < 4 * math.sqrt(0.41 / n) * math.sqrt(1 + 0.25 / 0.41)


def test_binary_draw_rates_and_non_estimable_studies() -> None:
    design = sim.Design(
        k=3, taus=(0.0,), reps=2000, n_per_arm=(30,), baseline_risk=0.05, chunk_size=2000
    )
    reps = sim.draw(design, 3, 0, 0)
    # control events ~ Bin(30, 0.05): mean 1.5 per study
    assert abs(reps.events_c.mean() - 1.5) < 4 * math.sqrt(30 * 0.05 * 0.95 / reps.events_c.size)
    double_zero = (reps.events_t == 0) & (reps.events_c == 0)
    np.testing.assert_array_equal(np.isnan(reps.y), double_zero)
    assert double_zero.any()


def test_evaluate_with_missing_studies_matches_one_by_one() -> None:
    design = sim.Design(k=3, taus=(0.5,), reps=300, n_per_arm=(15,), baseline_risk=0.05, seed=3)
    reps = sim.draw(design, 3, 0, 0)
    assert np.isnan(reps.y).any(axis=1).any()
    for name in ("dl", "hksj"):
        m = sim.method(name)
        res = sim.evaluate(m, reps)
        for i in range(reps.y.shape[0]):
            keep = np.isfinite(reps.y[i])
            if keep.sum() < m.min_k:
                assert np.isnan(res.low[i])
                continue
            one = m(reps.y[i, keep][None, :], reps.se[i, keep][None, :])
            assert res.estimate[i] == pytest.approx(one.estimate[0], rel=1e-12)
            assert res.low[i] == pytest.approx(one.low[0], rel=1e-12)


# --------------------------------------------------------------------------- summaries


def test_summarise_counts() -> None:
    intervals = np.array(
        [[0.1, -1, 1], [0.3, 0.2, 0.5], [-0.2, -0.5, 0.5], [0.0, -2, 2], [np.nan] * 3]
    )
    row = sim.summarise(0.0, "x", 2, 0.0, intervals)
    assert row["reps"] == 5 and row["n"] == 4
    assert row["replicates_analysed"] == 4  # the count under its own name
    assert row["coverage"] == 0.75
    assert row["coverage_se"] == pytest.approx(math.sqrt(0.75 * 0.25 / 4))
    assert row["width_median"] == pytest.approx(1.5)
    assert row["width_mean"] == pytest.approx((2 + 0.3 + 1 + 4) / 4)
    assert row["bias"] == pytest.approx(0.05)
    assert row["rmse"] == pytest.approx(math.sqrt((0.01 + 0.09 + 0.04) / 4))


# --------------------------------------------------------------------------- calibration


def test_tau_zero_common_effect_is_exact_and_dl_covers_more() -> None:
    reps = 4000
    design = sim.Design(k=(2, 3), taus=(0.0,), reps=reps, se=(0.5,), seed=11)
    table = sim.simulate(design, "fe,dl").table.set_index(["method", "k"])
    for k in (2, 3):
        assert within_mc(table.loc[("fe", k), "coverage"], 0.95, reps)
        assert table.loc[("dl", k), "coverage"] >= table.loc[("fe", k), "coverage"]
        assert abs(table.loc[("fe", k), "bias"]) < 4 * table.loc[("fe", k), "bias_se"]
    # per replicate, with equal SEs: same estimate, DL interval contains the FE interval
    chunk = sim.draw(design, 2, 0, 0)
    fe, dl = (sim.evaluate(sim.method(m), chunk) for m in ("fe", "dl"))
    np.testing.assert_allclose(dl.estimate, fe.estimate, rtol=0, atol=1e-12)
    assert np.all(dl.low <= fe.low + 1e-12) and np.all(dl.high >= fe.high - 1e-12)


def test_hksj_width_at_k2_is_t1_quantile_times_se_hk() -> None:
    design = sim.Design(k=2, taus=(0.5,), reps=500, se_range=(0.3, 0.8), seed=5)
    chunk = sim.draw(design, 2, 0, 0)
    res = sim.evaluate(sim.method("hksj"), chunk)
    y, v = chunk.y, chunk.se**2
    # DL tau^2 and the HK standard error, from their definitions
    w = 1 / v
    mu_fe = (w * y).sum(1) / w.sum(1)
    q = (w * (y - mu_fe[:, None]) ** 2).sum(1)
    tau2 = np.maximum(0, (q - 1) / (w.sum(1) - (w**2).sum(1) / w.sum(1)))
    ws = 1 / (v + tau2[:, None])
    mu = (ws * y).sum(1) / ws.sum(1)
    se_hk = np.sqrt((ws * (y - mu[:, None]) ** 2).sum(1) / 1 / ws.sum(1))
    t1 = stats.t.ppf(0.975, 1)
    assert t1 == pytest.approx(12.706204736174707)
    np.testing.assert_allclose(res.high - res.low, 2 * t1 * se_hk, rtol=1e-10)
    np.testing.assert_allclose(res.estimate, mu, rtol=1e-10, atol=1e-12)


def test_k2_large_tau_z_undercovers_hksj_nominal() -> None:
    reps = 2000
    design = sim.Design(k=2, taus=(1.0,), reps=reps, se_range=(0.3, 0.8), seed=2)
    table = sim.simulate(design, ["dl", "hksj", "mkh"]).table.set_index("method")
    assert table.loc["dl", "coverage"] < 0.90
    assert within_mc(table.loc["hksj", "coverage"], 0.95, reps)
    # modified HK is never narrower than HKSJ (q floored at 1)
    assert table.loc["mkh", "coverage"] >= table.loc["hksj", "coverage"]
    assert table.loc["mkh", "width_median"] >= table.loc["hksj", "width_median"]


def test_bayes_is_calibrated_when_tau_comes_from_its_prior() -> None:
    # tau ~ HN(0.5) per replicate, flat prior on mu: 95% credible intervals cover mu in 95%
    # of replicates (posterior calibration of a location parameter under a flat prior).
    n, k = 3000, 3
    rng = np.random.default_rng(np.random.SeedSequence(2024))
    tau = np.abs(rng.normal(0, 0.5, n))
    se = rng.uniform(0.3, 0.8, (n, k))
    y = 0.3 + tau[:, None] * rng.standard_normal((n, k)) + se * rng.standard_normal((n, k))
    res = sim.method("halfnormal(0.5)")(y, se)
    cover = np.mean((res.low <= 0.3) & (0.3 <= res.high))
    assert within_mc(cover, 0.95, n)


# --------------------------------------------------------------------------- dask


def test_same_table_on_one_and_two_dask_workers() -> None:
    from distributed import Client, LocalCluster

    design = sim.Design(
        k=(2, 3), taus=(0.0, 1.0), reps=300, se_range=(0.3, 0.8), seed=9, chunk_size=100
    )
    methods = "dl,hksj,halfnormal(0.5)"
    tables = [sim.simulate(design, methods).table]
    for workers in (1, 2):
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=False, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            assert len(client.scheduler_info()["workers"]) == workers
            tables.append(sim.simulate(design, methods, dask_client=client).table)
            # the same cluster reached through its scheduler address (--scheduler)
            by_address = sim.simulate(design, methods, scheduler=cluster.scheduler_address)
            tables.append(by_address.table)
    cols = [c for c in tables[0].columns if c not in ("seconds", "cpu_seconds")]
    for other in tables[1:]:
        pd.testing.assert_frame_equal(tables[0][cols], other[cols], check_exact=True)


# --------------------------------------------------------------------------- figure and CLI


def test_plot_has_a_column_per_k(tmp_path) -> None:
    design = sim.Design(k=(2, 3), taus=(0.0, 0.5), reps=50, se=(0.5,))
    result = sim.simulate(design, "dl,hksj")
    path = tmp_path / "fig.png"
    fig = result.plot(path)
    assert len(fig.axes) == 4
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]


def test_plot_refuses_a_bad_figure_path_and_writes_nothing(tmp_path) -> None:
    result = sim.simulate(sim.Design(k=(2,), taus=(0.0,), reps=20, se=(0.5,)), "dl")
    with pytest.raises(DataError, match=r"fig\.xyz'?: extension 'xyz' is not a figure format"):
        result.plot(tmp_path / "fig.xyz")
    with pytest.raises(DataError, match="no extension"):
        result.plot(tmp_path / "fig")
    assert list(tmp_path.iterdir()) == []


def test_output_paths_are_checked_and_named(tmp_path) -> None:
    check_output_path(tmp_path / "table.csv")
    check_output_path(tmp_path / "figure.PDF", figure=True)  # case does not matter
    missing = tmp_path / "nowhere" / "table.csv"
    with pytest.raises(DataError, match=r"nowhere/table\.csv'.*folder .*nowhere' does not exist"):
        check_output_path(missing)
    with pytest.raises(DataError, match=r"nowhere/table\.csv"), atomic_path(missing):
        pass  # pragma: no cover - atomic_path raises before the block runs
    assert not (tmp_path / "nowhere").exists()


def test_cli_json(tmp_path, capsys) -> None:
    out, fig = tmp_path / "t.csv", tmp_path / "f.png"
    argv = [
        "simulate", "--k", "2", "--tau", "0,1", "--se", "0.3:0.8", "--reps", "200",
        "--methods", "dl,hksj,halfnormal(0.5)", "--seed", "1", "--json",
        "--out", str(out), "--figure", str(fig),
    ]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"results", "fits_per_second", "seconds"} <= doc.keys()
    assert len(doc["results"]) == 6
    required = {
        "method",
        "k",
        "tau",
        "coverage",
        "coverage_se",
        "width_median",
        "width_mean",
        "bias",
        "rmse",
    }
    assert all(required <= row.keys() for row in doc["results"])
    assert {r["method"] for r in doc["results"]} == {"dl", "hksj", "halfnormal(0.5)"}
    assert len(pd.read_csv(out)) == 6 and fig.exists()


@pytest.mark.parametrize(
    "extra",
    [
        ["--se", "0.8:0.3"],
        ["--methods", "dl,nonsense(2)"],
        ["--methods", "dl,halfnormal(0.5"],
        ["--tau", "0,a"],
        ["--k", "2.5"],
        ["--n", "20"],
        ["--workers", "0"],
    ],
)
def test_cli_bad_input_exits_2(extra: list[str], capsys) -> None:
    assert main(["simulate", "--reps", "10", "--json", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sparsemeta simulate: error:") and "\n" not in err


def test_binary_design_runs_and_counts_unanalysable() -> None:
    design = sim.Design(k=2, taus=(0.0,), reps=500, n_per_arm=(10,), baseline_risk=0.03, seed=4)
    table = sim.simulate(design, "dl,hksj,halfnormal(0.5)").table.set_index("method")
    chunk = sim.draw(design, 2, 0, 0)
    estimable = np.isfinite(chunk.y).sum(1)
    assert table.loc["dl", "n"] == np.sum(estimable >= 1)
    assert table.loc["hksj", "n"] == np.sum(estimable >= 2)
    assert table.loc["halfnormal(0.5)", "n"] == np.sum(estimable >= 1)


def test_mcmc_needs_a_binary_design() -> None:
    design = sim.Design(k=2, taus=(0.0,), reps=5, se=(0.5,))
    with pytest.raises(DataError, match="binary design"):
        sim.simulate(design, "dl,bnhm:halfnormal(0.5)")


@pytest.mark.slow
def test_mcmc_binomial_normal_replicates_are_seeded_fits() -> None:
    from sparsemeta.bayes import sample

    design = sim.Design(k=2, taus=(0.5,), reps=2, n_per_arm=(25,), baseline_risk=0.1, seed=8)
    name = "bnhm:halfnormal(0.5)"
    chunk = sim.draw(design, 2, 0, 0)
    res = sim.evaluate(sim.method(name), chunk)
    # replicate 0 again, by hand: the binomial-normal fit of its counts with its seed
    table = pd.DataFrame(
        {
            "study": ["study 1", "study 2"],
            "events_t": chunk.events_t[0],
            "n_t": chunk.n_t[0],
            "events_c": chunk.events_c[0],
            "n_c": chunk.n_c[0],
        }
    )
    again = sample.sample(
        table, model="binomial-normal", tau_prior="halfnormal(0.5)", seed=int(chunk.seeds[0])
    )
    mu = again.summary().set_index("param").loc["mu"]
    assert res.estimate[0] == mu["median"] and res.low[0] == mu["lower"]
    assert np.all(res.low <= res.estimate) and np.all(res.estimate <= res.high)


def test_measure_supplies_the_measure_tables_default_priors() -> None:
    """ROM (a log ratio): the documented defaults are HN(1.0) for tau (docs/calibration.md:
    coverage >= 0.93 in every cell) and N(0, 2.82^2) for mu (Günhan et al. 2020). Naming the
    measure must give the same table, to the digit, as naming those priors by hand."""
    design = sim.Design(k=2, taus=(0.0, 0.5), reps=40, se=0.3, seed=7)
    by_measure = sim.simulate(design, "default,dl", measure="ROM")
    by_hand = sim.simulate(design, "halfnormal(1.0),dl", mu_prior="normal(0, 2.82)")
    keep = ["tau", "coverage", "width_median", "width_mean", "bias", "rmse"]
    a = by_measure.table[keep].to_numpy(float)
    np.testing.assert_array_equal(a, by_hand.table[keep].to_numpy(float))
    flat = sim.simulate(design, "halfnormal(1.0),dl")  # flat mu: a different answer
    assert not np.array_equal(flat.table[keep].to_numpy(float), a)


def test_measure_without_a_tau_default_refuses_the_default_method() -> None:
    design = sim.Design(k=2, taus=0.0, reps=5, se=0.3)
    with pytest.raises(DataError, match="MD has no default tau prior"):
        sim.simulate(design, "default", measure="MD")
    with pytest.raises(DataError, match="unknown measure 'XYZ'"):
        sim.simulate(design, "dl", measure="XYZ")
