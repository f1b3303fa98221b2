"""``sparsemeta pool``: JSON contract, values against metafor on dat.bcg, bad input, plots.

Expected values are metafor's printed output (cited per test); the CSV is the packaged
dat.bcg (counts checked against metafor in test_datasets).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sparsemeta import datasets
from sparsemeta.cli import main

CONTRACT = {"estimate", "lower", "upper", "tau2", "i2", "q", "leave_one_out", "coefficients"}


@pytest.fixture(scope="module")
def bcg_csv(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("pool") / "bcg.csv"
    datasets.bcg_colditz1994().drop(columns=["provenance"]).to_csv(path, index=False)
    return str(path)


def _json(capsys, argv: list[str]) -> dict:
    assert main(["pool", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_pool_json_contract_and_metafor_values(bcg_csv, capsys):
    # metafor README: rma(yi, vi, data=dat) REML: tau^2 0.3132, Q(12) = 152.2330,
    # estimate -0.7145; test_misc_influence.r: leave1out(res) study 1 estimate -0.7071,
    # ci -1.0794, -0.3348, tau2 0.3362
    out = _json(capsys, [bcg_csv, "--measure", "RR", "--tau2", "REML", "--leave-one-out"])
    assert CONTRACT <= set(out)
    assert out["scale"] == "log" and out["k"] == 13
    assert out["estimate"] == pytest.approx(-0.7145, abs=1e-4)
    assert out["tau2"] == pytest.approx(0.3132, abs=1e-4)
    assert out["q"] == pytest.approx(152.2330, abs=1e-4)
    first = out["leave_one_out"][0]
    assert {"study", "estimate", "lower", "upper", "tau2", "i2"} <= set(first)
    assert first["study"] == "Aronson"
    assert (first["estimate"], first["lower"], first["upper"]) == pytest.approx(
        (-0.7071, -1.0794, -0.3348), abs=1e-4
    )
    assert first["tau2"] == pytest.approx(0.3362, abs=1e-4)
    assert out["coefficients"]["intercept"]["estimate"] == out["estimate"]


def test_pool_covariate_matches_metafor(bcg_csv, capsys):
    # metafor README: rma(yi, vi, mods = ~ ablat, data=dat, test="knha"):
    # ablat -0.0291 (se 0.0082, CI -0.0472, -0.0111); intrcpt 0.2515 (se 0.2839)
    out = _json(
        capsys,
        [bcg_csv, "--measure", "RR", "--tau2", "REML", "--ci", "hksj", "--covariate", "ablat"],
    )
    ablat = out["coefficients"]["ablat"]
    assert set(ablat) >= {"estimate", "se", "lower", "upper"}
    assert (ablat["estimate"], ablat["se"]) == pytest.approx((-0.0291, 0.0082), abs=1e-4)
    assert (ablat["lower"], ablat["upper"]) == pytest.approx((-0.0472, -0.0111), abs=1e-4)
    assert out["coefficients"]["intercept"]["se"] == pytest.approx(0.2839, abs=1e-4)
    assert out["regression"]["tau2"] == pytest.approx(0.0764, abs=1e-4)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--covariate", "latitude"], "'latitude'"),
        (["--method", "MH", "--covariate", "ablat"], "inverse-variance"),
        (["--plot", "forest.txt"], ".png"),
        (["--fixed", "--ci", "hksj"], "--fixed"),
    ],
)
def test_pool_bad_input_exits_2(bcg_csv, capsys, extra, message):
    assert main(["pool", bcg_csv, "--measure", "RR", *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert err.startswith("sparsemeta pool: error:") and "\n" not in err and message in err


def test_pool_plot_writes_forest_files(bcg_csv, tmp_path: Path, capsys):
    target = tmp_path / "forest.png"
    argv = [bcg_csv, "--measure", "RR", "--method", "MH", "--fixed", "--leave-one-out"]
    assert main(["pool", *argv, "--plot", str(target)]) == 0
    assert "Fixed-effect" in capsys.readouterr().out
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "forest-leave-one-out.png").stat().st_size > 0


def test_pool_generic_effects_by_hand(tmp_path: Path, capsys):
    data = tmp_path / "effects.csv"
    data.write_text("study,effect,se\nA,-0.5,0.3\nB,-0.2,0.25\nC,0.1,0.4\n", encoding="utf-8")
    out = _json(capsys, [str(data), "--measure", "RR", "--fixed", "--leave-one-out"])
    # inverse-variance fixed effect by hand: w = 1/se², estimate = Σwy/Σw
    w = {"A": 1 / 0.3**2, "B": 1 / 0.25**2, "C": 1 / 0.4**2}
    y = {"A": -0.5, "B": -0.2, "C": 0.1}
    assert out["measure"] == "RR" and out["scale"] == "log"
    assert out["estimate"] == pytest.approx(sum(w[s] * y[s] for s in w) / sum(w.values()))
    without_a = (w["B"] * y["B"] + w["C"] * y["C"]) / (w["B"] + w["C"])
    assert out["leave_one_out"][0]["estimate"] == pytest.approx(without_a)
    assert main(["pool", str(data), "--measure", "RR", "--method", "MH"]) == 2
    assert "needs 2x2 counts" in capsys.readouterr().err
