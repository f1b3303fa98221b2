"""Reproducing the PIP review: the eight recoverable PIP-vs-control analyses against the
published figures (published.csv, printed precision), the tau^2 typo, the no-data rows, the
Bayesian summaries and the JSON shape."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from sparsemeta import datasets
from sparsemeta.review import plan, reproduce

POST_CONTROL = [
    "Infant attachment: secure",
    "Infant attachment: avoidant",
    "Infant attachment: resistant",
    "Infant attachment: disorganised",
    "Attachment change: insecure to secure",
    "Attachment change: stable secure",
    "Attachment change: secure to insecure",
    "Attachment change: stable insecure",
]


@pytest.fixture(scope="module")
def pip() -> plan.Plan:
    return plan.load(plan.packaged("pip_barlow2015"))


@pytest.fixture(scope="module")
def result(pip: plan.Plan) -> reproduce.ReproduceResult:
    return reproduce.reproduce(pip, mcmc=False)


@pytest.fixture(scope="module")
def published() -> dict[tuple[str, str, str], dict[str, str]]:
    table = datasets.pip_barlow2015_published(printed=True)
    return {
        (r["comparison"], r["outcome"], r["timepoint"]): r for r in table.to_dict(orient="records")
    }


@pytest.mark.parametrize("outcome", POST_CONTROL)
def test_post_control_analysis_reproduces_published_row(
    result: reproduce.ReproduceResult, published: dict, outcome: str
) -> None:
    key = ("PIP vs control", outcome, "post")
    r = result[key]
    row = published[key]
    ours = r.reproduced_values()
    # every printed number, rounded as printed: estimate and CI on the ratio scale
    expected_fields = {"estimate", "ci_low", "ci_high", "k_studies", "n_participants"}
    expected_fields |= {f for f in ("chi2", "df", "p_het", "i2", "p_overall", "tau2") if row[f]}
    assert {c.field for c in r.checks} == expected_fields
    for field in ("estimate", "ci_low", "ci_high"):
        printed = row[field]
        decimals = len(printed.split(".")[1])
        assert abs(ours[field] - float(printed)) <= 0.5 * 10**-decimals, field
    for c in r.checks:
        if c.field != "tau2":
            assert c.status == "reproduced", (c.field, c.printed, c.value)


def test_heterogeneity_statistics_where_printed(result: reproduce.ReproduceResult) -> None:
    secure = result[("PIP vs control", "Infant attachment: secure", "post")].reproduced_values()
    # published: Chi2 = 3.71, df = 1, P = 0.054, I2 = 73%, P(overall) = 0.03;
    # R meta (metabin, MH, DL): Q = 3.713, I2 = 73.07%, tau2 = 1.544
    assert secure["chi2"] == pytest.approx(3.713, abs=5e-4)
    assert secure["i2"] == pytest.approx(73.07, abs=5e-3)
    assert secure["tau2"] == pytest.approx(1.544, abs=5e-4)
    assert round(secure["p_chi2"], 3) == 0.054
    assert round(secure["p"], 2) == 0.03
    change = result[("PIP vs control", "Attachment change: insecure to secure", "post")]
    values = change.reproduced_values()
    # published: Chi2 = 1.61, P = 0.205, I2 = 38%, P(overall) = 0.0002
    assert round(values["chi2"], 2) == 1.61
    assert round(values["p_chi2"], 3) == 0.205
    assert round(values["i2"]) == 38
    assert round(values["p"], 4) == 0.0002
    assert change.status == "reproduced"


def test_tau2_typo_flagged_with_dl_value(result: reproduce.ReproduceResult) -> None:
    """Secure: estimate, CI, Chi2, I2 and both P values reproduce; only the printed
    tau2 = 3.71 (the printed Chi2) is a typo; R meta (metabin, MH, DL) gives tau2 = 1.544.
    The analysis is reproduced, the typo flagged on its field and in ``typos``."""
    r = result[("PIP vs control", "Infant attachment: secure", "post")]
    assert r.status == "reproduced"
    statuses = {c.field: c.status for c in r.checks}
    assert statuses.pop("tau2") == "likely-typo"
    assert set(statuses.values()) == {"reproduced"}
    tau2 = next(c for c in r.checks if c.field == "tau2")
    assert (tau2.printed, tau2.rounded) == ("3.71", "1.54")
    assert any(f.kind == "likely-typo" and "1.54" in f.message for f in result.findings)
    (typo,) = r.to_dict()["typos"]
    assert (typo["field"], typo["printed"]) == ("tau2", 3.71)
    assert typo["computed"] == pytest.approx(1.544, abs=5e-4)
    assert "3.71" in typo["why"]
    assert [(a.key, f.details["field"]) for a, f in result.typos()] == [(r.key, "tau2")]
    headline = result.headline()
    assert headline.startswith("8 reproduced, 12 no-data, 8 not-published; ")
    assert "1 printed value flagged as a likely typo" in headline
    assert "tau2 printed 3.71, computed 1.54" in headline
    assert result.to_dict()["typos_flagged"] == 1


@pytest.mark.parametrize(
    ("typo_field", "expected"),
    [("estimate", "likely-typo"), ("ci_high", "likely-typo"), ("tau2", "reproduced")],
)
def test_only_a_typo_of_the_estimate_or_ci_makes_a_typo_analysis(
    typo_field: str, expected: str
) -> None:
    checks = [
        reproduce.FieldCheck(f, "1.00", 1.0, "1.00", "reproduced")
        for f in ("estimate", "ci_low", "ci_high", "tau2")
        if f != typo_field
    ]
    checks.append(reproduce.FieldCheck(typo_field, "3.71", 1.54, "1.54", "likely-typo"))
    assert reproduce._status({"estimate": "1.00"}, checks) == expected
    mismatch = reproduce.FieldCheck("chi2", "2.00", 1.0, "1.00", "mismatch")
    assert reproduce._status({"estimate": "1.00"}, [*checks, mismatch]) == "mismatch"
    assert reproduce._status({}, checks) == "not-published"


def test_progress_is_called_once_per_analysis(pip: plan.Plan) -> None:
    seen: list[str] = []
    reproduce.reproduce(pip, mcmc=False, progress=seen.append)
    assert seen == [a.label for a in pip.analyses]


def test_single_study_pool_is_hand_computed(result: reproduce.ReproduceResult) -> None:
    """Secure to insecure: Cicchetti 2006b (0/14 vs 0/54) is dropped; Cicchetti 1999a alone,
    0/46 vs 6/54 with 0.5 added to every cell: RR = (0.5/47)/(6.5/55),
    var(log RR) = 1/0.5 - 1/47 + 1/6.5 - 1/55."""
    r = result[("PIP vs control", "Attachment change: secure to insecure", "post")]
    rr = (0.5 / 47) / (6.5 / 55)
    se = math.sqrt(1 / 0.5 - 1 / 47 + 1 / 6.5 - 1 / 55)
    z = 1.959963984540054
    values = r.reproduced_values()
    assert values["estimate"] == pytest.approx(rr, rel=1e-12)
    assert values["ci_low"] == pytest.approx(rr * math.exp(-z * se), rel=1e-12)
    assert values["ci_high"] == pytest.approx(rr * math.exp(z * se), rel=1e-12)
    assert values["excluded"][0]["study"] == "Cicchetti 2006b"
    assert r.status == "reproduced"


def test_every_published_row_without_data_is_no_data(
    result: reproduce.ReproduceResult, published: dict
) -> None:
    studies = datasets.pip_barlow2015()
    with_data = set(
        zip(studies["comparison"], studies["outcome"], studies["timepoint"], strict=True)
    )
    without = [k for k in published if k not in with_data]
    assert len(without) == 12
    for key in without:
        r = result[key]
        assert r.status == "no-data"
        assert r.frequentist is None and not r.exact
    counts = result.counts()
    assert counts == {
        "reproduced": 8,
        "mismatch": 0,
        "likely-typo": 0,
        "no-data": 12,
        "not-published": 8,
    }


def test_mismatch_reported_with_both_values(pip: plan.Plan) -> None:
    """The trial-consistent 39/54 instead of the review's 22/54 does not reproduce the
    published stable-insecure row: a mismatch, with our value and the printed one."""
    studies = datasets.pip_barlow2015()
    mask = (studies["outcome"] == "Attachment change: stable insecure") & (
        studies["study"] == "Cicchetti 1999a"
    )
    studies.loc[mask, "events_c"] = 39
    r = reproduce.reproduce(pip, mcmc=False, studies=studies)[
        ("PIP vs control", "Attachment change: stable insecure", "post")
    ]
    assert r.status == "mismatch"
    estimate = next(c for c in r.checks if c.field == "estimate")
    assert estimate.status == "mismatch"
    assert estimate.printed == "0.56"
    assert estimate.rounded != "0.56"


def test_exact_fits_for_every_prior(pip: plan.Plan, result: reproduce.ReproduceResult) -> None:
    for r in result.analyses:
        if r.frequentist is None or r.frequentist.k == 0:
            assert not r.exact
            continue
        assert list(r.exact) == [p.label for p in pip.priors_for(r.analysis)]
        for s in r.exact.values():
            for q in (s.mu, s.tau, s.theta_new):
                assert q["q025"] < q["q50"] < q["q975"]
            assert 0 <= s.prob("mu", ">", 0.0) <= 1
            assert s.ratio("mu")["q50"] == pytest.approx(math.exp(s.mu["q50"]))
            assert set(s.theta) == {
                st
                for st, _ in zip(r.frequentist.studies, r.frequentist.weights, strict=True)
                if st not in dict(r.frequentist.excluded)
            }


def test_exact_k1_matches_normal_prior_algebra(result: reproduce.ReproduceResult) -> None:
    """With one study, mu | tau ~ N(m, v) with v = 1/(1/(se^2 + tau^2) + 1/s0^2): the
    posterior of mu lies between the study's estimate and the prior mean 0, and its
    median is shrunk toward 0 (prior N(0, 2.82^2))."""
    r = result[("PIP vs control", "Attachment change: secure to insecure", "post")]
    y = math.log((0.5 / 47) / (6.5 / 55))
    s = r.exact["halfnormal(scale=0.5)"]
    assert y < s.mu["q50"] < 0


def test_json_shape(result: reproduce.ReproduceResult) -> None:
    d = result.to_dict()
    json.dumps(d, allow_nan=False)
    assert set(d) >= {"analyses", "findings", "seconds"}
    assert {f["kind"] for f in d["findings"]} == {
        "likely-typo",
        "count-rounding",
        "entry-error",
        "dropped-study",
    }
    for a in d["analyses"]:
        assert set(a) >= {
            "comparison",
            "outcome",
            "timepoint",
            "status",
            "published",
            "reproduced",
            "bayes",
            "diagnostics",
        }
        assert a["status"] in reproduce.STATUSES
    secure = next(
        a
        for a in d["analyses"]
        if a["outcome"] == "Infant attachment: secure"
        and a["timepoint"] == "post"
        and a["comparison"] == "PIP vs control"
    )
    assert secure["published"]["estimate"] == 8.93
    assert round(secure["reproduced"]["estimate"], 2) == 8.93  # ratio scale
    for key in ("estimate", "ci_low", "ci_high", "chi2", "i2", "tau2"):
        assert secure["reproduced"][key] is not None
    hn = secure["bayes"]["halfnormal(scale=0.5)"]
    assert set(hn) >= {"mu", "tau", "theta_new"}
    assert set(hn["mu"]) == {"q025", "q50", "q975"}
    assert hn["mu_ratio"]["q50"] == pytest.approx(math.exp(hn["mu"]["q50"]))


def test_binomial_prior_comparison_uses_the_measures_binomial_model(
    result: reproduce.ReproduceResult,
) -> None:
    """Issue 11: an RR analysis's binomial prior comparison is the exact binomial-rr
    posterior (log RR), not the log OR model; checked against the brute-force integration
    of tests/test_exact_binomial_rr.py on secure to insecure (0/46 vs 6/54, 0/14 vs 0/54)."""
    from test_exact_binomial_rr import PROBS, _brute

    comparisons = [a for a in result.analyses if a.binomial_comparison is not None]
    assert len(comparisons) >= 10  # the RR analyses with 2x2 tables
    for a in comparisons:
        comp = a.binomial_comparison
        assert a.analysis.measure == "RR"
        assert (comp.model, comp.measure) == ("binomial-rr", "RR"), a.analysis.label
        assert all(p.model == "binomial-rr" for p in comp.posteriors.values())
    key = ("PIP vs control", "Attachment change: secure to insecure", "post")
    comp = result[key].binomial_comparison
    assert comp.labels == ("Cicchetti 1999a", "Cicchetti 2006b")  # the double-zero study kept
    assert (comp.mu_prior.mean, comp.mu_prior.sd) == (0.0, 2.82)
    ref = _brute(([0, 0], [46, 14], [6, 0], [54, 54]), 0.5, 2.82)
    post = comp.posteriors["halfnormal(scale=0.5)"]
    for name in ("mu", "tau", "theta_new"):
        got = post[name].quantile(PROBS)
        assert got == pytest.approx(ref[name], abs=1e-4, rel=0), name
    row = comp.table.loc["halfnormal(scale=0.5)"]
    assert row["mu_median"] == pytest.approx(ref["mu"][2], abs=1e-4, rel=0)


@pytest.mark.slow
def test_binomial_model_keeps_the_double_zero_study(pip: plan.Plan) -> None:
    """Secure to insecure: RevMan drops Cicchetti 2006b (0/14 vs 0/54); the binomial-RR
    model uses both 2x2 tables and says so."""
    key = ("PIP vs control", "Attachment change: secure to insecure", "post")
    sub = dataclasses.replace(pip, analyses=(pip.analysis(key),))
    r = reproduce.reproduce(sub)[key]
    assert list(r.mcmc) == ["halfnormal(scale=0.5)"]
    s = r.mcmc["halfnormal(scale=0.5)"]
    assert s.model == "binomial-rr"
    assert set(s.theta) == {"Cicchetti 1999a", "Cicchetti 2006b"}
    assert set(r.exact["halfnormal(scale=0.5)"].theta) == {"Cicchetti 1999a"}
    assert any("keeps Cicchetti 2006b" in n for n in r.notes)
    diagnostics = r.to_dict()["diagnostics"]["halfnormal(scale=0.5)"]
    assert diagnostics["passed"] and diagnostics["kept_by_binomial"] == ["Cicchetti 2006b"]
    # 0/46 vs 6/54 (and 0/14 vs 0/54): the data favour fewer transitions with PIP
    assert s.prob("mu", ">", 0.0) < 0.5
    assert s.mu["q025"] < s.mu["q50"] < s.mu["q975"]


def test_printed_value_we_cannot_compute_is_a_mismatch(tmp_path: Path) -> None:
    """A published estimate for an analysis whose only study has no events in either arm:
    nothing is estimable, so the printed estimate cannot be reproduced."""
    (tmp_path / "studies.csv").write_text(
        "comparison,outcome,study,events_t,n_t,events_c,n_c\nX vs Y,A,S1,0,10,0,12\n",
        encoding="utf-8",
    )
    (tmp_path / "published.csv").write_text(
        "comparison,outcome,timepoint,measure,estimate,n_participants\nX vs Y,A,,RR,0.50,22\n",
        encoding="utf-8",
    )
    (tmp_path / "plan.toml").write_text(
        'plan_version = 1\n[review]\nid = "toy"\ndata = "studies.csv"\n'
        'published = "published.csv"\n[bayes]\n[[bayes.tau_priors]]\n'
        'prior = "halfnormal(0.5)"\ndefault = true\nwhy = "default"\n'
        '[[analyses]]\ncomparison = "X vs Y"\noutcome = "A"\nmeasure = "RR"\nmethod = "MH"\n',
        encoding="utf-8",
    )
    r = reproduce.reproduce(plan.load(tmp_path / "plan.toml"), mcmc=False)[("X vs Y", "A", None)]
    assert r.status == "mismatch"
    checks = {c.field: c for c in r.checks}
    assert checks["estimate"].status == "mismatch" and math.isnan(checks["estimate"].value)
    assert checks["n_participants"].status == "reproduced"  # 10 + 12 = 22
    assert not r.exact
