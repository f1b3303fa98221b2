"""One analysis, every entry point, the same priors and the same exact posterior.

A binary (risk ratio) and a continuous (standardised mean difference) analysis go through the
Python API, ``sparsemeta fit --json`` (a subprocess), ``compare_priors``, a plan through
``reproduce`` and ``batch`` on a RevMan ``.rm5`` file written here. Every entry point must
use the measure's default priors (:data:`sparsemeta.measures.TABLE`) and give the same 2.5%,
50% and 97.5% posterior quantiles of mu to 1e-12: they share one Effects value, one prior
coercion and one exact engine, so anything else is a second code path.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sparsemeta as sm
from sparsemeta import effects, measures
from sparsemeta.io import write_revman
from sparsemeta.review import batch, plan, reproduce

PROBS = (0.025, 0.5, 0.975)
COMPARISON = "Drug vs placebo"
BINARY = pd.DataFrame(
    {
        "study": ["A", "B", "C"],
        "events_t": [2, 7, 0],
        "n_t": [40, 52, 30],
        "events_c": [9, 9, 4],
        "n_c": [41, 50, 31],
    }
)
CONTINUOUS = pd.DataFrame(
    {
        "study": ["D", "E", "F"],
        "mean_t": [3.1, 2.4, 5.0],
        "sd_t": [1.2, 1.1, 2.0],
        "n_t": [20, 35, 12],
        "mean_c": [4.0, 2.9, 5.2],
        "sd_c": [1.5, 1.0, 2.2],
        "n_c": [21, 33, 13],
    }
)
CASES = {"RR": ("Serious adverse events", BINARY), "SMD": ("Pain", CONTINUOUS)}


def sm_priors():
    from sparsemeta.bayes import priors

    return priors


def _defaults(measure: str) -> tuple[str, str]:
    row = measures.lookup(measure)
    return str(sm_priors().parse(row.tau_prior)), str(sm_priors().parse_mu(row.mu_prior))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("consistency")
    rows = [t.assign(comparison=COMPARISON, outcome=o) for o, t in CASES.values()]
    studies = pd.concat(rows, ignore_index=True)
    studies.to_csv(path / "studies.csv", index=False)
    for measure, (_, table) in CASES.items():
        table.to_csv(path / f"{measure}.csv", index=False)
    attributes = {
        (COMPARISON, o): {"METHOD": "IV", "EFFECT_MEASURE": m, "RANDOM": True}
        for m, (o, _) in CASES.items()
    }
    write_revman(studies, path / "review.rm5", title="Consistency", attributes=attributes)
    tau = {m: _defaults(m)[0] for m in CASES}
    assert len(set(tau.values())) == 2  # RR and SMD have different default tau priors
    priors_toml = "".join(
        f'[[bayes.tau_priors]]\nprior = "{p}"\nmeasures = ["{m}"]\nwhy = "the default"\n'
        for m, p in tau.items()
    )
    analyses = "".join(
        f'[[analyses]]\ncomparison = "{COMPARISON}"\noutcome = "{o}"\nmeasure = "{m}"\n'
        'method = "IV"\nmodels = ["exact"]\n'
        for m, (o, _) in CASES.items()
    )
    (path / "plan.toml").write_text(
        'plan_version = 1\n[review]\nid = "consistency"\ndata = "studies.csv"\n'
        '[bayes]\nmu_prior = "default"\n'
        '[[bayes.tau_priors]]\nprior = "halfcauchy(0.5)"\ndefault = true\nwhy = "other"\n'
        + priors_toml
        + analyses,
        encoding="utf-8",
    )
    return path


def _api(measure: str) -> tuple[tuple[str, str], list[float]]:
    post = sm.posterior(effects.effect_sizes(CASES[measure][1], measure))
    mu = post.mu_prior  # what the quadrature used: None (flat) or its mean and sd
    mu_text = "flat" if mu is None else str(sm_priors().Normal(mu.mean, mu.sd))
    return (str(post.tau_prior), mu_text), [float(post.mu.quantile(p)) for p in PROBS]


def _fit(folder: Path, measure: str) -> tuple[tuple[str, str], list[float]]:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from sparsemeta.cli import main; sys.exit(main())",
            "fit",
            str(folder / f"{measure}.csv"),
            "--measure",
            measure,
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rec = json.loads(out.stdout)
    assert rec["tau_prior_default"] and rec["mu_prior_default"]
    return (rec["tau_prior"], rec["mu_prior"]), [rec["mu"][k] for k in ("q025", "q50", "q975")]


def _compare(measure: str) -> tuple[tuple[str, str], list[float]]:
    c = sm.compare_priors(CASES[measure][1], measure=measure)
    row = c.table.iloc[0]
    return (row["prior"], str(c.mu_prior)), [row["mu_low"], row["mu_median"], row["mu_high"]]


def _reproduce(folder: Path, measure: str) -> tuple[tuple[str, str], list[float]]:
    p = plan.load(folder / "plan.toml")
    outcome = CASES[measure][0]
    r = reproduce.reproduce(p, mcmc=False)[(COMPARISON, outcome, None)]
    tau = _defaults(measure)[0]
    s = r.exact[tau]
    return (s.prior, str(p.mu_prior_for(measure))), [s.mu[k] for k in ("q025", "q50", "q975")]


def _batch(folder: Path, measure: str) -> tuple[tuple[str, str], list[float]]:
    t = batch.reanalyse([folder / "review.rm5"], quantiles=PROBS).table
    row = t[(t["outcome"] == CASES[measure][0]) & (t["level"] == "overall")].iloc[0]
    q = [row[f"mu_q{round(p * 1000):03d}"] for p in PROBS]
    if row["ratio"]:
        q = [math.log(x) for x in q]
    return (row["prior"], row["mu_prior"]), q


@pytest.mark.parametrize("measure", list(CASES))
def test_every_entry_point_gives_the_same_priors_and_quantiles(folder, measure):
    expected_priors = _defaults(measure)
    priors, reference = _api(measure)
    assert priors == expected_priors
    for name, (got_priors, got) in {
        "fit --json": _fit(folder, measure),
        "compare_priors": _compare(measure),
        "reproduce": _reproduce(folder, measure),
        "batch": _batch(folder, measure),
    }.items():
        assert got_priors == expected_priors, name
        # batch reports ratios: its log loses at most a few ulps of the log scale
        tol = 1e-12 if name != "batch" else 1e-12 + 4 * np.finfo(float).eps * max(map(abs, got))
        assert got == pytest.approx(reference, abs=tol, rel=0), name


def test_plan_without_a_default_prior_takes_the_measure_default(folder):
    BINARY.assign(comparison=COMPARISON, outcome=CASES["RR"][0]).to_csv(
        folder / "rr_studies.csv", index=False
    )
    (folder / "rr_only.toml").write_text(
        'plan_version = 1\n[review]\nid = "rr"\ndata = "rr_studies.csv"\n[bayes]\n'
        f'[[analyses]]\ncomparison = "{COMPARISON}"\noutcome = "{CASES["RR"][0]}"\n'
        'measure = "RR"\nmodels = ["exact"]\n',
        encoding="utf-8",
    )
    p = plan.load(folder / "rr_only.toml")
    assert p.default_prior.label == _defaults("RR")[0]
    assert "calibration" in p.default_prior.why
    (folder / "both.toml").write_text(
        (folder / "rr_only.toml").read_text(encoding="utf-8").replace("rr_studies", "studies")
        + f'[[analyses]]\ncomparison = "{COMPARISON}"\noutcome = "{CASES["SMD"][0]}"\n'
        'measure = "SMD"\nmodels = ["exact"]\n',
        encoding="utf-8",
    )
    with pytest.raises(sm.errors.PlanError, match=r"RR: halfnormal.*SMD: halfnormal"):
        plan.load(folder / "both.toml")
