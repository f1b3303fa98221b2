"""The leave-one-out section of plan-driven reviews: computed by ``reproduce``, rendered by
the report. Expected values by hand: with k = 2, leaving one study out leaves the other
alone, whose risk ratio and CI are its own."""

from __future__ import annotations

import math

import pytest

from sparsemeta.present import report
from sparsemeta.review import plan as plan_module
from sparsemeta.review.reproduce import reproduce


@pytest.fixture(scope="module")
def secure():
    plan = plan_module.load(plan_module.packaged("pip_barlow2015"))
    result = reproduce(plan, mcmc=False)
    label = "PIP vs control | Infant attachment: secure | post"
    return result, next(a for a in result.analyses if a.analysis.label == label)


def test_reproduce_computes_leave_one_out(secure):
    _, a = secure
    table = a.leave_one_out.set_index("study")
    # without Cicchetti 1999a only Cicchetti 2006b remains: 8/14 vs 1/54 (no zero cell)
    log_rr = math.log((8 / 14) / (1 / 54))
    se = math.sqrt(1 / 8 - 1 / 14 + 1 / 1 - 1 / 54)
    row = table.loc["Cicchetti 1999a"]
    assert row["estimate"] == pytest.approx(log_rr, rel=1e-12)
    assert row["lower"] == pytest.approx(log_rr - 1.959963984540054 * se, rel=1e-12)
    assert row["tau2"] == 0.0
    # and the other way round: 31/46 vs 9/54
    other = table.loc["Cicchetti 2006b"]
    assert other["estimate"] == pytest.approx(math.log((31 / 46) / (9 / 54)), rel=1e-12)
    # the exact posterior without a study is drawn towards the remaining study
    assert row["mu_median"] > a.frequentist.estimate
    assert set(a.to_dict()["leave_one_out"][0]) >= {"study", "estimate", "mu_median"}


def test_report_renders_leave_one_out(secure):
    _, a = secure
    blocks = report._leave_one_out_blocks(a.leave_one_out, True, "HN(0.5)")
    text = report._to_markdown(blocks)
    assert "Leave-one-out: the analysis repeated without each study" in text
    # RR of Cicchetti 2006b alone, by hand: (8/14)/(1/54) = 30.857 -> "30.86"
    assert "| Cicchetti 1999a | 30.86 [" in text
    # ratio measure: the pooled column is on the ratio scale, and says so; tau2 on the log
    assert "Bayes exp(μ) (ratio) median [95% CrI], HN(0.5)" in text
    assert "τ² (log scale)" in text
