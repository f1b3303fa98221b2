"""Exact binomial methods of calibration studies (``bnhm-exact:<tau prior>``).

Expected values come from theory or are written out here, not from earlier runs:

* posterior calibration: when (mu, tau, baselines, effects) are drawn from the model's own
  priors and the data from its likelihood, a 95% equal-tailed credible interval of mu covers
  the drawn mu in 95% of replicates (averaged over the prior), whatever the data; the model
  is the arm-symmetric binomial-normal one, logit p = alpha_i +- theta_i / 2 with
  alpha_i ~ N(0, 10) (sd sqrt(10)), theta_i ~ N(mu, tau^2), and the odds ratio's default
  mu prior N(0, 2.82^2) (Günhan, Röver & Friede 2020; docs/formulas.md);
* failure accounting: with an engine replaced by a stub whose failures and intervals are
  fixed functions of the counts, the failed replicates, the analysed count and the coverage
  are counted here from the drawn counts.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

from sparsemeta import simulate as sim
from sparsemeta.cli import main
from sparsemeta.errors import DataError, DiagnosticsWarning, PriorError

NAME = "bnhm-exact:halfnormal(0.5)"


def _binary(**kwargs) -> sim.Design:
    base = {"k": (2,), "taus": (0.5,), "reps": 12, "n_per_arm": (30,), "baseline_risk": 0.1}
    return sim.Design(**{**base, **kwargs})


def test_exact_binomial_method_is_in_the_method_table() -> None:
    assert sim.calibration.COUNT_METHODS["bnhm-exact"][0] == "exact-binomial"
    m = sim.method(" BNHM-exact:halfnormal(0.5) ")
    assert (m.name, m.kind, m.min_k) == ("BNHM-exact:halfnormal(0.5)", "exact-binomial", 1)
    assert m.counts_fn is not None
    assert sim.method("bnhm:halfnormal(0.5)").kind == "mcmc"  # the MCMC one is unchanged
    with pytest.raises(PriorError):
        sim.method("bnhm-exact:nonsense(1)")
    with pytest.raises(DataError, match="needs a binary design"):
        sim.simulate(sim.Design(k=2, taus=0.0, reps=3, se=0.5), f"dl,{NAME}")


def test_mu_prior_is_the_odds_ratios_default_and_flat_is_refused() -> None:
    from sparsemeta.bayes import exact_binomial

    # one replicate by hand: the engine with the priors written out (measures table: OR's
    # mu prior normal(0, 2.82)); the method reports (median, 2.5%, 97.5%) of mu
    counts = ([3, 0], [30, 30], [1, 0], [30, 30])
    post = exact_binomial.posterior(*counts, "halfnormal(0.5)", "normal(0, 2.82)")
    low, med, high = post.mu.quantile([0.025, 0.5, 0.975])
    est = sim.method(NAME).counts_fn(*counts, 0)
    assert est == pytest.approx((med, low, high), abs=1e-12)
    # another normal prior is passed through (a narrower prior gives a narrower interval)
    narrow = sim.method(NAME, "normal(0, 0.5)").counts_fn(*counts, 0)
    assert narrow[2] - narrow[1] < (high - low) * 0.8
    for flat in ("flat", "FLAT"):
        with pytest.raises(PriorError, match=r"bnhm-exact:halfnormal\(0.5\)'.*normal mu prior"):
            sim.method(NAME, flat)
    with pytest.raises(PriorError, match="standard errors"):
        sim.method("bnhm-exact:jeffreys")


def test_same_seed_same_table_in_process_and_on_dask() -> None:
    from distributed import Client, LocalCluster

    design = _binary(taus=(0.0, 0.5), reps=8, chunk_size=4, seed=3)
    cols = ["method", "k", "tau", "replicates_analysed", "failed", "coverage", "width_mean"]
    cols += ["bias", "rmse"]
    first = sim.simulate(design, f"dl,{NAME}").table[cols]
    again = sim.simulate(design, f"dl,{NAME}").table[cols]
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        on_dask = sim.simulate(design, f"dl,{NAME}", dask_client=client).table[cols]
    pd.testing.assert_frame_equal(first, on_dask, check_exact=True)
    other = sim.simulate(_binary(taus=(0.0, 0.5), reps=8, chunk_size=4, seed=4), NAME)
    exact_rows = first[first["method"] == NAME]
    assert not np.array_equal(exact_rows["width_mean"], other.table["width_mean"])


def test_calibrated_when_data_come_from_its_own_prior() -> None:
    n, k, arm = 150, 2, 20
    rng = np.random.default_rng(np.random.SeedSequence(20261205))
    mu = rng.normal(0.0, 2.82, n)
    tau = np.abs(rng.normal(0.0, 0.5, n))
    theta = mu[:, None] + tau[:, None] * rng.standard_normal((n, k))
    alpha = rng.normal(0.0, math.sqrt(10.0), (n, k))
    size = np.full((n, k), arm)
    events_t = rng.binomial(size, special.expit(alpha + theta / 2))
    events_c = rng.binomial(size, special.expit(alpha - theta / 2))
    nan = np.full((n, k), np.nan)
    reps = sim.Replicates(nan, nan, theta, events_t, size, events_c, size, np.arange(n))
    res = sim.evaluate(sim.method(NAME), reps)
    assert res.failures == ()
    cover = np.mean((res.low <= mu) & (mu <= res.high))
    assert abs(cover - 0.95) <= 3.5 * math.sqrt(0.95 * 0.05 / n)
    assert np.all((res.low < res.estimate) & (res.estimate < res.high))


def _stub_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Engine stub: fails when study 1 has an odd number of treatment events; otherwise the
    interval of mu is [-1, 1] (covers mu = 0) when study 2's are even, else [1, 3]."""
    from sparsemeta.bayes import exact_binomial

    class Margin:
        def __init__(self, low: float) -> None:
            self.low = low

        def quantile(self, p):
            return np.array([self.low, self.low + 1, self.low + 2])

    class Post:
        def __init__(self, low: float) -> None:
            self.mu = Margin(low)

    def posterior(events_t, n_t, events_c, n_c, tau_prior, mu_prior):
        if events_t[0] % 2:
            raise FloatingPointError("stub: odd events")
        return Post(-1.0 if events_t[1] % 2 == 0 else 1.0)

    monkeypatch.setattr(exact_binomial, "posterior", posterior)


def test_failed_replicates_are_counted_listed_and_warned(monkeypatch) -> None:
    _stub_engine(monkeypatch)
    design = _binary(reps=30, chunk_size=20, seed=5)  # chunks of 20 and 10 replicates
    with pytest.warns(RuntimeWarning, match=r"bnhm-exact:halfnormal\(0.5\)': (\d+) replicate"):
        result = sim.simulate(design, f"dl,{NAME}")
    chunks = [sim.draw(design, 2, 0, j) for j in (0, 1)]
    events_t = np.concatenate([c.events_t for c in chunks])
    events_c = np.concatenate([c.events_c for c in chunks])
    fails = np.flatnonzero(events_t[:, 0] % 2 == 1)
    ok = events_t[:, 0] % 2 == 0
    assert 0 < len(fails) < 30
    row = result.table.set_index("method").loc[NAME]
    assert row["failed"] == len(fails)
    assert row["replicates_analysed"] == 30 - len(fails)
    assert row["coverage"] == pytest.approx(np.mean(events_t[ok, 1] % 2 == 0))
    assert result.table.set_index("method").loc["dl", "failed"] == 0
    f = result.failures
    assert list(f["replicate"]) == list(fails)
    assert set(f["method"]) == {NAME} and set(f["k"]) == {2} and set(f["tau"]) == {0.5}
    assert set(f["error"]) == {"FloatingPointError: stub: odd events"}
    i = fails[0]
    assert f["data"].iloc[0] == (
        f"{events_t[i, 0]}/30 v {events_c[i, 0]}/30; {events_t[i, 1]}/30 v {events_c[i, 1]}/30"
    )
    doc = result.to_dict()
    assert [r["replicate"] for r in doc["failures"]] == list(fails)
    assert "failed" in str(result)


def test_non_finite_result_and_mcmc_gate_failure_are_failures(monkeypatch) -> None:
    design = _binary(reps=3, seed=2)
    chunk = sim.draw(design, 2, 0, 0)
    nan_fit = sim.Method("x", "exact-binomial", sim.calibration._no_vectorised, 1,
                         lambda *a: (0.0, math.nan, 1.0))  # fmt: skip
    res = sim.evaluate(nan_fit, chunk)
    assert [r for r, _ in res.failures] == [0, 1, 2]
    assert "non-finite" in res.failures[0][1] and np.all(np.isnan(res.low))

    from sparsemeta.bayes import sample

    def gate_fails(*args, **kwargs):
        warnings.warn("max R-hat 1.05 > 1.01", DiagnosticsWarning, stacklevel=2)
        raise AssertionError("unreachable: the warning is an error here")

    monkeypatch.setattr(sample, "sample", gate_fails)
    res = sim.evaluate(sim.method("bnhm:halfnormal(0.5)"), chunk)
    assert len(res.failures) == 3
    assert res.failures[0][1] == "DiagnosticsError: diagnostics gate failed: max R-hat 1.05 > 1.01"


def test_cli_runs_the_exact_binomial_method(capsys) -> None:
    argv = [
        "simulate", "--k", "2", "--n", "30", "--risk", "0.1", "--tau", "0.5", "--reps", "6",
        "--methods", f"dl,{NAME}", "--seed", "1", "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {r["method"]: r for r in doc["results"]}
    assert rows[NAME]["failed"] == 0 and rows[NAME]["replicates_analysed"] == 6
    assert 0 <= rows[NAME]["coverage"] <= 1 and doc["failures"] == []
    assert main(argv[:-1]) == 0  # the text table has the method and the failed column
    text = capsys.readouterr().out
    assert NAME in text and "failed" in text.splitlines()[0]
    assert main([*argv, "--mu-prior", "flat"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sparsemeta simulate: error:") and "normal mu prior" in err
