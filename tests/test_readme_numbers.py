"""The numbers the README tour prints are the numbers the package and the report give.

The README's comment lines are parsed and recomputed (RevMan's M-H random-effects risk
ratio; the exact posterior with the risk ratio's default priors), and the report of the
packaged PIP plan must print the same posterior interval in its half-normal(1.0) row.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

import sparsemeta as sm
from sparsemeta import datasets, effects, frequentist
from sparsemeta.present import format as fmt
from sparsemeta.review import plan, reproduce

README = Path(__file__).resolve().parents[1] / "README.md"
NUM = r"([0-9.]+)"
FREQ = re.compile(
    rf"#   RR {NUM} \[95% CI {NUM}, {NUM}\]; Chi² = {NUM}, df = (\d+); I² = (\d+)%; τ² = {NUM}"
)
BAYES = re.compile(rf"#   RR {NUM} \[95% CrI {NUM}, {NUM}\]; P\(RR < 1\) = {NUM}")


def _secure():
    pip = datasets.pip_barlow2015()
    return pip[(pip.comparison == "PIP vs control") & (pip.outcome == "Infant attachment: secure")]


def _printed(pattern: re.Pattern[str]) -> tuple[str, ...]:
    (match,) = pattern.findall(README.read_text(encoding="utf-8"))
    return match


def _bayes_line() -> tuple[str, str, str, str]:
    post = sm.posterior(effects.effect_sizes(_secure(), "RR"))
    lo, mid, hi = (math.exp(float(post.mu.quantile(p))) for p in (0.025, 0.5, 0.975))
    return fmt.fmt(mid), fmt.fmt(lo), fmt.fmt(hi), f"{post.prob('mu', '<', 0.0):.3f}"


def test_readme_frequentist_line():
    r = frequentist.meta_analysis(_secure(), "RR", method="MH", random=True)
    est, lo, hi, chi2, df, i2, tau2 = _printed(FREQ)
    assert (est, lo, hi) == tuple(fmt.fmt(math.exp(x)) for x in (r.estimate, r.ci_low, r.ci_high))
    assert (chi2, int(df), int(i2), tau2) == (f"{r.chi2:.2f}", r.df, round(r.i2), f"{r.tau2:.3f}")


def test_readme_posterior_line_uses_the_default_priors():
    assert _printed(BAYES) == _bayes_line()


@pytest.mark.slow
def test_report_prints_the_readme_interval(tmp_path):
    from sparsemeta.present import report

    mid, lo, hi, _ = _printed(BAYES)
    result = reproduce.reproduce(plan.load(plan.packaged("pip_barlow2015")), mcmc=False)
    folder = report.write_report(result, tmp_path / "report")
    text = "\n".join(p.read_text(encoding="utf-8") for p in folder.rglob("*.md"))
    assert f"| HN(1) | {mid} [{lo}, {hi}] |" in text
