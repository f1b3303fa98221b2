"""Ratio of means (ROM): added as one measure-table row and one effect function, it works in
effect sizes, frequentist pooling, ``sparsemeta fit``, ``compare_priors``, plans through
``reproduce`` and the report.

Hand calculation (Friedrich, Adhikari & Beyene 2008, J Clin Epidemiol 61(1):41-51:
``y = ln(mean_t/mean_c)``, ``v = sd_t²/(n_t·mean_t²) + sd_c²/(n_c·mean_c²)``):

* A: 12 (sd 3, n 20) vs 10 (sd 2.5, n 25): y = ln 1.2;
  v = 9/(20·144) + 6.25/(25·100) = 0.003125 + 0.0025 = 0.005625
* B: 8 (sd 2, n 16) vs 10 (sd 4, n 16): y = ln 0.8;
  v = 4/(16·64) + 16/(16·100) = 0.00390625 + 0.01 = 0.01390625
* C: mean_c = 0: no ratio (excluded, with the reason).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import sparsemeta as sm
from sparsemeta import effects
from sparsemeta.bayes import exact
from sparsemeta.present import report
from sparsemeta.review import plan, reproduce

CSV = (
    "study,mean_t,sd_t,n_t,mean_c,sd_c,n_c\n"
    "A,12,3,20,10,2.5,25\n"
    "B,8,2,16,10,4,16\n"
    "C,5,1,10,0,1,10\n"
)
Y = np.array([math.log(1.2), math.log(0.8)])
V = np.array([0.005625, 0.01390625])


def _table() -> pd.DataFrame:
    from io import StringIO

    return pd.read_csv(StringIO(CSV))


def test_effect_sizes_by_hand():
    eff = effects.effect_sizes(_table(), "ROM")
    assert eff.studies == ("A", "B")
    assert eff.y == pytest.approx(Y, rel=1e-14)
    assert eff.v == pytest.approx(V, rel=1e-14)
    assert eff.log_scale and eff.measure.name == "ratio of means"
    assert eff.excluded == (("C", effects.ROM_NONPOSITIVE),)


def test_fixed_and_dersimonian_laird_pool_by_hand():
    w = 1 / V  # 177.777..., 71.9101...
    fixed = (w @ Y) / w.sum()
    q = w @ (Y - fixed) ** 2
    tau2 = max(0.0, (q - 1) / (w.sum() - (w**2).sum() / w.sum()))
    ws = 1 / (V + tau2)
    random = (ws @ Y) / ws.sum()
    table = _table().assign(comparison="X vs Y", outcome="O")
    fe = sm.meta_analysis(table, "ROM", random=False)
    re = sm.meta_analysis(table, "ROM")
    assert fe.estimate == pytest.approx(fixed, rel=1e-12)
    assert fe.se == pytest.approx(math.sqrt(1 / w.sum()), rel=1e-12)
    assert re.tau2 == pytest.approx(tau2, rel=1e-10)
    assert re.estimate == pytest.approx(random, rel=1e-12)
    assert re.log_scale and re.excluded == (("C", effects.ROM_NONPOSITIVE),)


def _exact_by_hand() -> exact.ExactPosterior:
    # the table's defaults for ROM: tau ~ HN(1.0), mu ~ N(0, 2.82^2)
    return exact.posterior(Y, np.sqrt(V), "halfnormal(1.0)", "normal(0, 2.82)", ["A", "B"])


def test_fit_cli_uses_the_table_defaults(tmp_path):
    path = tmp_path / "rom.csv"
    path.write_text(CSV, encoding="utf-8")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from sparsemeta.cli import main; sys.exit(main())",
            "fit",
            str(path),
            "--measure",
            "ROM",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    record = json.loads(out.stdout)
    assert record["tau_prior"] == "halfnormal(scale=1.0)" and record["tau_prior_default"]
    assert record["mu_prior"] == "normal(mean=0.0, sd=2.82)"
    assert record["studies"] == ["A", "B"] and record["excluded"][0]["study"] == "C"
    ref = _exact_by_hand()
    assert record["mu"]["q50"] == pytest.approx(float(ref.mu.quantile(0.5)), abs=1e-12)
    assert record["mu"]["q975"] == pytest.approx(float(ref.mu.quantile(0.975)), abs=1e-12)


def test_compare_priors_on_the_log_ratio_scale():
    c = sm.compare_priors(_table(), ["halfnormal(1.0)"], measure="ROM")
    assert c.y == pytest.approx(Y, rel=1e-14) and c.log_scale
    row = c.table.iloc[0]
    ref = _exact_by_hand()
    assert row["mu_median"] == pytest.approx(float(ref.mu.quantile(0.5)), abs=1e-12)
    assert row["ratio_median"] == pytest.approx(math.exp(row["mu_median"]), rel=1e-15)
    assert not math.isnan(row["prior_tau_median"])  # describe() knows the logROM scale


def test_plan_reproduce_and_report(tmp_path):
    studies = _table().assign(comparison="X vs Y", outcome="O")
    studies.to_csv(tmp_path / "studies.csv", index=False)
    (tmp_path / "plan.toml").write_text(
        'plan_version = 1\n[review]\nid = "rom"\ndata = "studies.csv"\n[bayes]\n'
        '[[bayes.tau_priors]]\nprior = "halfnormal(1.0)"\ndefault = true\nwhy = "default"\n'
        '[[analyses]]\ncomparison = "X vs Y"\noutcome = "O"\nmeasure = "ROM"\n'
        'models = ["exact"]\n',
        encoding="utf-8",
    )
    result = reproduce.reproduce(plan.load(tmp_path / "plan.toml"), mcmc=False)
    r = result[("X vs Y", "O", None)]
    assert r.frequentist.estimate == pytest.approx(
        sm.meta_analysis(studies, "ROM").estimate, rel=1e-14
    )
    s = r.exact["halfnormal(scale=1.0)"]
    assert s.mu["q50"] == pytest.approx(float(_exact_by_hand().mu.quantile(0.5)), abs=1e-12)
    folder = report.write_report(result, tmp_path / "report")
    text = "\n".join(p.read_text(encoding="utf-8") for p in folder.rglob("*.md"))
    assert "ratio of means" in text.lower()
