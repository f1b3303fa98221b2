"""``sparsemeta fit``: output contract, engines, exit statuses.

Reference values come from :mod:`sparsemeta.bayes.exact` called directly on effects computed by
hand here (log RR and its delta-method variance), not from the command's own output.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from sparsemeta.bayes import exact, priors
from sparsemeta.cli import main

SECURE = "study,events_t,n_t,events_c,n_c\nCicchetti 1999a,31,46,9,54\nCicchetti 2006b,8,14,1,54\n"
ZERO = "study,events_t,n_t,events_c,n_c\nCicchetti 1999a,0,46,6,54\nCicchetti 2006b,0,14,0,54\n"
KEYS = {"model", "engine", "measure", "tau_prior", "k", "mu", "tau", "theta_new", "p_mu_lt_0"}
KEYS |= {"diagnostics", "seconds"}


@pytest.fixture
def csv(tmp_path: Path):
    def write(text: str, name: str = "data.csv") -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


def _run_json(capsys, argv: list[str]) -> tuple[int, dict]:
    status = main(["fit", *argv, "--json"])
    out = capsys.readouterr().out
    return status, json.loads(out)


def _secure_log_rr() -> tuple[np.ndarray, np.ndarray]:
    a, n1, c, n2 = np.array([31, 8]), np.array([46, 14]), np.array([9, 1]), np.array([54, 54])
    y = np.log(a / n1) - np.log(c / n2)
    se = np.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n2)
    return y, se


def test_exact_engine_json(csv, capsys):
    status, out = _run_json(
        capsys,
        [csv(SECURE), "--measure", "RR", "--tau-prior", "halfnormal(0.5)", "--mu-prior", "flat"],
    )
    assert status == 0
    assert KEYS <= set(out)
    assert (out["model"], out["engine"], out["measure"], out["k"]) == (
        "normal-normal",
        "exact",
        "RR",
        2,
    )
    assert out["tau_prior"] == str(priors.HalfNormal(0.5))
    assert out["diagnostics"] is None
    y, se = _secure_log_rr()
    ref = exact.posterior(y, se, priors.HalfNormal(0.5), None)
    for var in ("mu", "tau", "theta_new"):
        assert set(out[var]) >= {"q025", "q50", "q975"}
        for key, p in (("q025", 0.025), ("q50", 0.5), ("q975", 0.975)):
            assert out[var][key] == pytest.approx(float(ref[var].quantile(p)), rel=1e-6)
    assert out["p_mu_lt_0"] == pytest.approx(float(ref.mu.cdf(0.0)), abs=1e-9)


def test_generic_effects_on_log_scale(csv, capsys):
    y, se = _secure_log_rr()
    text = "study,effect,se\n" + "".join(
        f"s{i},{float(y[i])!r},{float(se[i])!r}\n" for i in range(2)
    )
    status, out = _run_json(
        capsys,
        [
            csv(text),
            "--measure",
            "RR",
            "--tau-prior",
            "halfcauchy(0.5)",
            "--mu-prior",
            "normal(0, 10)",
        ],
    )
    assert status == 0
    ref = exact.posterior(y, se, priors.HalfCauchy(0.5), priors.Normal(0.0, 10.0))
    assert out["mu"]["q50"] == pytest.approx(float(ref.mu.quantile(0.5)), rel=1e-6)


def test_text_output_lists_excluded_double_zero_study(csv, capsys):
    status = main(["fit", csv(ZERO), "--measure", "RR", "--tau-prior", "halfnormal(0.5)"])
    captured = capsys.readouterr()
    assert status == 0
    assert "excluded: Cicchetti 2006b: no events in either arm" in captured.out
    # the single-study warning: one line, naming the study, no source path
    (line,) = captured.err.splitlines()
    assert line.startswith("sparsemeta fit: warning: only one study (k = 1, Cicchetti 1999a)")
    assert ".py" not in line


@pytest.mark.slow
def test_mcmc_binomial_rr_keeps_zero_study(csv, capsys):
    status, out = _run_json(
        capsys,
        [
            csv(ZERO),
            "--measure",
            "RR",
            "--tau-prior",
            "halfnormal(0.5)",
            "--model",
            "binomial-rr",
            "--seed",
            "3",
        ],
    )
    assert status == 0
    assert (out["model"], out["engine"], out["k"]) == ("binomial-rr", "mcmc", 2)
    assert out["excluded"] == []
    diag = out["diagnostics"]
    assert diag["divergences"] == 0 and diag["r_hat_max"] <= 1.01
    assert min(diag["ess_bulk_min"], diag["ess_tail_min"]) >= 400
    assert out["mu"]["q025"] < out["mu"]["q50"] < out["mu"]["q975"]
    assert 0.0 <= out["p_mu_lt_0"] <= 1.0


@pytest.mark.slow
def test_failed_gate_exits_1(csv, capsys):
    status = main(
        [
            "fit",
            csv(SECURE),
            "--measure",
            "RR",
            "--tau-prior",
            "halfnormal(0.5)",
            "--engine",
            "mcmc",
            "--draws",
            "20",
            "--tune",
            "50",
            "--chains",
            "2",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert status == 1
    assert "diagnostics gate FAILED" in captured.err
    out = json.loads(captured.out)
    assert out["diagnostics"]["passed"] is False
    assert not math.isnan(out["mu"]["q50"])


@pytest.mark.parametrize(
    ("text", "extra", "match"),
    [
        ("study,events_t,n_t,events_c,n_c\na,5,4,1,10\n", [], "exceed"),
        ("study,effect,se\na,0.1,0\nb,0.2,0.1\n", [], "se"),
        ("study,effect,se\na,0.1,nan\nb,0.2,0.1\n", [], "se"),
        ("effect,se\n0.1,0.2\n", [], "missing column(s) 'study'"),
        (SECURE, ["--model", "binomial-normal"], "OR scale"),
        (SECURE, ["--model", "arm-normal", "--engine", "exact"], "exact engine"),
        (SECURE, ["--tau-prior", "nonsense(1)"], "nonsense"),
    ],
)
def test_bad_input_exits_2_with_one_line(csv, capsys, text, extra, match):
    argv = ["fit", csv(text), "--measure", "RR", "--tau-prior", "halfnormal(0.5)", *extra]
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("sparsemeta fit: error:")
    assert match in err


def test_missing_file_exits_2(tmp_path, capsys):
    status = main(
        ["fit", str(tmp_path / "none.csv"), "--measure", "RR", "--tau-prior", "halfnormal(0.5)"]
    )
    assert status == 2
    assert "no such file" in capsys.readouterr().err.lower()


def test_several_outcomes_need_choice(csv, capsys):
    text = (
        "comparison,outcome,study,events_t,n_t,events_c,n_c\n"
        "PIP vs control,secure,a,31,46,9,54\nPIP vs control,secure,b,8,14,1,54\n"
        "PIP vs control,avoidant,a,8,46,19,54\nPIP vs control,avoidant,b,1,14,10,54\n"
    )
    path = csv(text)
    assert main(["fit", path, "--measure", "RR", "--tau-prior", "halfnormal(0.5)"]) == 2
    assert "--outcome" in capsys.readouterr().err
    status, out = _run_json(
        capsys, [path, "--measure", "RR", "--tau-prior", "halfnormal(0.5)", "--outcome", "avoidant"]
    )
    assert status == 0 and out["k"] == 2


ONE_ZERO = "study,events_t,n_t,events_c,n_c\nAlpha 2010,8,20,1,20\nBeta 2021,5,15,0,15\n"


def test_ratio_scale_and_corrections_in_text_and_json(csv, capsys):
    # log RR by hand; Beta 2021 has a zero cell: RevMan 5 adds 0.5 to all four cells
    a, b, c, d = np.array([8, 5.5]), np.array([12, 10.5]), np.array([1, 0.5]), np.array([19, 15.5])
    y = np.log(a / (a + b)) - np.log(c / (c + d))
    se = np.sqrt(1 / a - 1 / (a + b) + 1 / c - 1 / (c + d))
    ref = exact.posterior(y, se, priors.HalfNormal(0.5), priors.Normal(0.0, 2.82))
    argv = [csv(ONE_ZERO), "--measure", "RR", "--tau-prior", "halfnormal(0.5)"]
    status, out = _run_json(capsys, argv)
    assert status == 0
    assert out["ratio"]["mu"]["q50"] == pytest.approx(math.exp(ref.mu.quantile(0.5)), rel=1e-6)
    assert out["ratio"]["mu"]["q975"] == pytest.approx(math.exp(ref.mu.quantile(0.975)), rel=1e-6)
    assert out["p_ratio_lt_1"] == pytest.approx(ref.prob("mu", "<", 0.0), rel=1e-6)
    assert out["scale"] == "log RR"
    (corr,) = out["corrections"]
    assert corr["study"] == "Beta 2021" and corr["added"] == 0.5
    assert corr["text"] == "0.5 added to all cells of Beta 2021 (zero events in the control arm)"
    assert main(["fit", *argv]) == 0
    text = capsys.readouterr().out
    assert (
        "correction: 0.5 added to all cells of Beta 2021 (zero events in the control arm)" in text
    )
    assert f"P(RR < 1) = P(mu < 0) = {ref.prob('mu', '<', 0.0):.4f}" in text
    rr = [ln for ln in text.splitlines() if ln.startswith("RR = exp(mu)")]
    assert rr and f"{math.exp(ref.mu.quantile(0.5)):.4g}" in rr[0]


def test_exact_binomial_engine_json(csv, capsys):
    # reference: the exact binomial engine called directly on the same counts and priors
    from sparsemeta.bayes import exact_binomial

    argv = [csv(ZERO), "--measure", "OR", "--model", "binomial-normal", "--engine", "exact"]
    status, out = _run_json(capsys, [*argv, "--tau-prior", "halfnormal(0.5)"])
    assert status == 0
    assert (out["model"], out["engine"], out["measure"], out["k"]) == (
        "binomial-normal",
        "exact",
        "OR",
        2,
    )
    ref = exact_binomial.posterior([0, 0], [46, 14], [6, 0], [54, 54], "halfnormal(0.5)")
    assert out["mu"]["q50"] == pytest.approx(ref.mu.quantile(0.5), abs=1e-10)
    assert out["tau"]["q975"] == pytest.approx(ref.tau.quantile(0.975), abs=1e-10)
    # two studies, the data move the tau prior little: flagged with the KL rule
    assert isinstance(out["prior_dominated"], list)
    kl = ref.kl_tau()
    assert bool(out["prior_dominated"]) == (kl < 0.05)
