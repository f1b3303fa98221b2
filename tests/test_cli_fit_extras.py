"""``sparsemeta fit --covariate / --leave-one-out / --model-average``: the JSON contract.

The numbers are compared with the library functions called directly on the same effects
(sparsemeta.bayes.regression, leave_one_out, averaging; each tested against independent
references in its own test file); here the contract (field names, shapes, exit statuses) is
what is checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sparsemeta import datasets, effects
from sparsemeta.bayes import averaging, leave_one_out, priors, regression
from sparsemeta.cli import main


@pytest.fixture
def bcg_csv(tmp_path: Path) -> str:
    table = datasets.bcg_colditz1994()
    cols = ["study", "events_t", "n_t", "events_c", "n_c", "ablat", "alloc"]
    path = tmp_path / "bcg.csv"
    table[cols].to_csv(path, index=False)
    return str(path)


def _effects() -> tuple[np.ndarray, np.ndarray, list[str]]:
    t = datasets.bcg_colditz1994()
    yi, vi = effects.log_rr(*(t[c].to_numpy(float) for c in ("events_t", "n_t", "events_c", "n_c")))
    return np.asarray(yi), np.sqrt(np.asarray(vi)), t["study"].astype(str).tolist()


def _json(capsys, argv: list[str]) -> tuple[int, dict]:
    status = main(["fit", *argv, "--json"])
    return status, json.loads(capsys.readouterr().out)


BASE = ["--measure", "RR", "--tau-prior", "halfnormal(0.5)"]


def test_covariate_adds_coefficients(bcg_csv, capsys):
    status, out = _json(capsys, [bcg_csv, *BASE, "--covariate", "ablat"])
    assert status == 0
    assert set(out["coefficients"]) == {"intercept", "ablat"}
    for entry in out["coefficients"].values():
        assert set(entry) >= {"mean", "median", "lower", "upper"}
    y, se, labels = _effects()
    mu = priors.mu_prior_default("RR")
    X = np.column_stack([np.ones(13), datasets.bcg_colditz1994()["ablat"]])
    ref = regression.regression(
        y,
        se,
        X,
        "halfnormal(0.5)",
        ((mu.mean, 0.0), (mu.sd, np.inf)),
        labels,
        ["intercept", "ablat"],
    )
    assert out["coefficients"]["ablat"]["median"] == pytest.approx(
        ref.coef["ablat"].median, abs=1e-9
    )


def test_categorical_covariate_is_subgroup_dummies(bcg_csv, capsys):
    status, out = _json(capsys, [bcg_csv, *BASE, "--covariate", "alloc"])
    assert status == 0
    assert set(out["coefficients"]) == {"intercept", "alloc[random]", "alloc[systematic]"}


def test_leave_one_out_field(bcg_csv, capsys):
    status, out = _json(capsys, [bcg_csv, *BASE, "--leave-one-out", "--mu-prior", "normal(0, 2)"])
    assert status == 0
    rows = out["leave_one_out"]
    y, se, labels = _effects()
    assert [r["study"] for r in rows] == labels
    assert set(rows[0]["mu"]) >= {"median", "lower", "upper"} and "median" in rows[0]["tau"]
    ref = leave_one_out.leave_one_out(y, se, "halfnormal(0.5)", "normal(0, 2)", labels)
    assert rows[2]["mu"]["median"] == pytest.approx(ref.table["mu_median"][3], abs=1e-12)


def test_model_average_field(bcg_csv, capsys):
    status, out = _json(capsys, [bcg_csv, *BASE, "--model-average", "--mu-prior", "normal(0, 2)"])
    assert status == 0
    bma = out["model_average"]
    assert [m["name"] for m in bma["models"]] == list(averaging.MODELS)
    for m in bma["models"]:
        assert set(m) >= {"name", "prior_prob", "posterior_prob", "log_marginal_likelihood"}
    assert set(bma["inclusion_bf"]) == {"effect", "heterogeneity"}
    assert set(bma["mu"]) >= {"median", "lower", "upper"}
    y, se, labels = _effects()
    ref = averaging.model_average(y, se, "halfnormal(0.5)", "normal(0, 2)", labels)
    probs = [m["posterior_prob"] for m in bma["models"]]
    assert probs == pytest.approx(ref.models["posterior_prob"].tolist(), abs=1e-12)


def test_text_output_and_refusals(bcg_csv, capsys):
    assert main(["fit", bcg_csv, *BASE, "--leave-one-out", "--model-average"]) == 0
    text = capsys.readouterr().out
    assert "leave-one-out" in text and "model averaging" in text
    argv = ["fit", bcg_csv, *BASE, "--model", "binomial-rr", "--leave-one-out"]
    assert main(argv) == 2
    assert "normal-normal" in capsys.readouterr().err
    assert main(["fit", bcg_csv, *BASE, "--covariate", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.slow
def test_mcmc_covariate_coefficients(bcg_csv, capsys):
    argv = [bcg_csv, *BASE, "--mu-prior", "flat", "--engine", "mcmc", "--covariate", "ablat"]
    status, out = _json(capsys, argv)
    assert status == 0
    assert set(out["coefficients"]) == {"intercept", "ablat"}
    y, se, labels = _effects()
    X = np.column_stack([np.ones(13), datasets.bcg_colditz1994()["ablat"]])
    ref = regression.regression(y, se, X, "halfnormal(0.5)", None, labels, ["intercept", "ablat"])
    # the posterior sd of the slope is about 0.008; 4,000 draws put the median within 0.002
    assert out["coefficients"]["ablat"]["median"] == pytest.approx(
        ref.coef["ablat"].median, abs=2e-3
    )
