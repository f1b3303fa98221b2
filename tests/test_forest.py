"""``sm.forest`` draws every result type: rows, ratio axis, favours labels, footer."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

import sparsemeta as sm
from sparsemeta import datasets, effects
from sparsemeta.errors import DataError
from sparsemeta.frequentist import leave_one_out, meta_analysis


@pytest.fixture(scope="module")
def bcg():
    table = datasets.bcg_colditz1994()
    return table, effects.effect_sizes(table, "RR").to_frame()


def _texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]


def test_forest_frequentist(bcg):
    table, _ = bcg
    fig = sm.forest(meta_analysis(table, "RR"), favours=("favours BCG", "favours control"))
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[:2] == ["Aronson", "Ferguson & Simes"] and len(labels) == 13 + 2
    texts = _texts(fig)
    assert "favours BCG" in texts and "favours control" in texts
    # I² by hand from Q = 152.2330 on 12 df: (152.2330 − 12)/152.2330 = 92.1%
    assert any("I² = 92%" in t for t in texts)
    plt.close(fig)


def test_forest_exact_posterior_draws_shrunken_estimates(bcg):
    table, eff = bcg
    post = sm.posterior(
        eff.yi.to_numpy(), eff.sei.to_numpy(), "halfnormal(0.5)", None, table.study.tolist()
    )
    fig = sm.forest(post, measure="RR")
    texts = _texts(fig)
    assert sum("\nshrunken " in t for t in texts) == 13  # one per study row
    assert any(t.startswith("τ: median") for t in texts)
    assert fig.axes[0].get_xscale() == "log"
    plt.close(fig)


def test_forest_prior_comparison_and_leave_one_out(bcg):
    table, _ = bcg
    comp = sm.compare_priors(table, ["halfnormal(0.5)", "halfcauchy(0.5)"], "RR")
    fig = sm.forest(comp)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert sum(lab.startswith("μ, ") for lab in labels) == 2
    plt.close(fig)
    fig = sm.forest(leave_one_out(table, "RR", tau2_method="REML"))
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "omitting Aronson" and labels[-1] == "all studies"
    plt.close(fig)


def test_forest_exact_leave_one_out(bcg):
    from sparsemeta.bayes.leave_one_out import leave_one_out as exact_leave_one_out

    table, eff = bcg
    loo = exact_leave_one_out(
        eff.yi.to_numpy(), eff.sei.to_numpy(), "halfnormal(0.5)", None, table.study.tolist()
    )
    fig = sm.forest(loo, measure="RR")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "omitting Aronson" and labels[-1] == "μ, all studies"
    assert len(labels) == 14
    plt.close(fig)


def test_forest_refuses_unknown_result():
    with pytest.raises(DataError, match="cannot draw a dict"):
        sm.forest({"mu": 1})


def test_fit_cli_plot_option(tmp_path, capsys):
    from sparsemeta.cli import main

    data = tmp_path / "secure.csv"
    data.write_text(
        "study,events_t,n_t,events_c,n_c\nCicchetti 1999a,31,46,9,54\nCicchetti 2006b,8,14,1,54\n",
        encoding="utf-8",
    )
    target = tmp_path / "fit.png"
    argv = ["fit", str(data), "--measure", "RR", "--tau-prior", "halfnormal(0.5)"]
    assert main([*argv, "--plot", str(target)]) == 0
    assert target.read_bytes()[:4] == b"\x89PNG"
    assert main([*argv, "--plot", str(tmp_path / "fit.jpg")]) == 2
    assert "give a .png, .pdf or .svg" in capsys.readouterr().err
