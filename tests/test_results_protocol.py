"""Every result type follows one protocol (sparsemeta.results): summary() frame, to_dict()
JSON round trip with NaN/inf written explicitly, __str__, and prob() where it is a posterior.

The expected values here are definitions, not numbers: the column vocabulary, the JSON
convention of sparsemeta.results (NaN -> "NaN", inf -> "Infinity"), and probabilities
checked against the cdf or the draws they are defined by.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections.abc import Callable
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sparsemeta import frequentist
from sparsemeta import simulate as sim
from sparsemeta.bayes import (
    averaging,
    exact,
    exact_extras,
    predictive,
    regression,
    sample,
    sensitivity,
    subgroups,
)
from sparsemeta.bayes import leave_one_out as bayes_loo
from sparsemeta.errors import DataError, DiagnosticsWarning, SingleStudyWarning
from sparsemeta.frequentist.influence import Influence, LeaveOneOut, influence, leave_one_out
from sparsemeta.io import read_revman
from sparsemeta.results import SUMMARY_COLUMNS, Result, from_json_safe, json_safe
from sparsemeta.review import batch, check
from sparsemeta.review import plan as plan_mod
from sparsemeta.review.reproduce import reproduce

EXAMPLE_RM5 = resources.files("sparsemeta") / "examples_data" / "synthetic_sparse.rm5"
TABLE = pd.DataFrame(
    {
        "comparison": "x vs y",
        "outcome": "event",
        "study": ["a", "b", "c"],
        "events_t": [3, 1, 5],
        "n_t": [20, 15, 30],
        "events_c": [1, 0, 2],
        "n_c": [21, 14, 31],
    }
)
Y, SE = np.array([0.3, -0.1, 0.8]), np.array([0.4, 0.5, 0.6])


def _meta() -> frequentist.MetaResult:
    return frequentist.meta_analysis(TABLE, "RR", method="MH")


def _revman() -> frequentist.RevManResult:
    settings = frequentist.RevManSettings("binary", "MH", "RR", random=True)
    return frequentist.revman(TABLE, settings)


def _exact() -> exact.ExactPosterior:
    return exact.posterior(Y, SE, "halfnormal(0.5)", labels=["a", "b", "c"])


def _fit() -> sample.FitResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiagnosticsWarning)
        return sample.sample(
            TABLE, "RR", tau_prior="halfnormal(0.5)", draws=200, tune=200, chains=2, seed=1
        )


def _comparison() -> sensitivity.PriorComparison:
    return sensitivity.compare_priors(
        Y, ["halfnormal(0.5)", "halfcauchy(1.0)"], measure="RR", se=SE, labels=["a", "b", "c"]
    )


def _check() -> check.CheckReport:
    return check.revman_check(read_revman(EXAMPLE_RM5))


def _reproduce():
    full = plan_mod.load(plan_mod.packaged("pip_barlow2015"))
    small = dataclasses.replace(full, analyses=full.analyses[:3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingleStudyWarning)
        return reproduce(small, mcmc=False)


def _calibration() -> sim.Calibration:
    design = sim.Design(k=(2,), taus=(0.0,), reps=20, se_range=(0.3, 0.8), seed=7)
    return sim.simulate(design, "dl,halfnormal(0.5)", progress=False)


def _batch() -> batch.BatchResult:
    return batch.reanalyse([EXAMPLE_RM5], "halfnormal(0.5)", progress=False)


Y5, SE5 = np.array([0.3, -0.1, 0.8, 0.2, 0.5]), np.array([0.4, 0.5, 0.6, 0.3, 0.45])
LABELS5 = ["a", "b", "c", "d", "e"]
X5 = np.column_stack([np.ones(5), [1.0, 2.0, 3.0, 4.0, 5.0]])


def _meta_regression() -> frequentist.MetaRegression:
    return frequentist.meta_regression(Y5, SE5**2, X5, names=["intercept", "x"], studies=LABELS5)


def _leave_one_out() -> LeaveOneOut:
    return leave_one_out(TABLE, "RR", method="MH")


def _influence() -> Influence:
    return influence(y=Y5, v=SE5**2, studies=LABELS5)


def _bayes_leave_one_out() -> bayes_loo.LeaveOneOut:
    return bayes_loo.leave_one_out(Y5, SE5, "halfnormal(0.5)", "normal(0, 4)", LABELS5)


def _bayes_regression() -> regression.RegressionPosterior:
    return regression.regression(Y5, SE5, X5, "halfnormal(0.5)", names=["intercept", "x"])


def _model_average() -> averaging.ModelAverage:
    return averaging.model_average(Y5, SE5, "halfnormal(0.5)", "normal(0, 1)")


def _pppvalue() -> predictive.PPPValue:
    return predictive.pppvalue(_exact(), "tau", 0.0, "greater", "Q", n=50, seed=3)


def _i2() -> exact_extras.I2Posterior:
    return exact_extras.i2_posterior(_exact())


def _subgroups() -> subgroups.SubgroupPosterior:
    return subgroups.subgroups(
        Y5, SE5, ["x", "x", "y", "y", "y"], "halfnormal(0.5)", "normal(0, 4)"
    )


MAKERS: dict[str, Callable[[], Any]] = {
    "SubgroupPosterior": _subgroups,
    "MetaRegression": _meta_regression,
    "LeaveOneOut": _leave_one_out,
    "Influence": _influence,
    "BayesLeaveOneOut": _bayes_leave_one_out,
    "RegressionPosterior": _bayes_regression,
    "ModelAverage": _model_average,
    "PPPValue": _pppvalue,
    "I2Posterior": _i2,
    "MetaResult": _meta,
    "RevManResult": _revman,
    "ExactPosterior": _exact,
    "FitResult": _fit,
    "PriorComparison": _comparison,
    "CheckReport": _check,
    "ReproduceResult": _reproduce,
    "Calibration": _calibration,
    "BatchResult": _batch,
}
#: result types that estimate parameters: their summary() uses SUMMARY_COLUMNS
ESTIMATES = {
    "MetaResult",
    "RevManResult",
    "ExactPosterior",
    "FitResult",
    "PriorComparison",
    "MetaRegression",
    "LeaveOneOut",
    "BayesLeaveOneOut",
    "RegressionPosterior",
    "I2Posterior",
    "SubgroupPosterior",
}


@pytest.fixture(scope="module", params=sorted(MAKERS))
def named_result(request: pytest.FixtureRequest) -> tuple[str, Any]:
    return request.param, MAKERS[request.param]()


def _no_bare_nonfinite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_no_bare_nonfinite(v) for v in value.values())
    if isinstance(value, list):
        return all(_no_bare_nonfinite(v) for v in value)
    return value is None or isinstance(value, bool | int | str)


def test_result_follows_the_protocol(named_result):
    name, result = named_result
    assert isinstance(result, Result), name
    frame = result.summary()
    assert isinstance(frame, pd.DataFrame) and len(frame) > 0, name
    if name in ESTIMATES:
        assert tuple(frame.columns[: len(SUMMARY_COLUMNS)]) == SUMMARY_COLUMNS, name
        assert frame["level"].between(0, 1, inclusive="neither").all(), name
        assert (frame["lower"].fillna(-np.inf) <= frame["upper"].fillna(np.inf)).all(), name
    record = result.to_dict()
    assert _no_bare_nonfinite(record), name  # only plain JSON values, non-finite as strings
    text = json.dumps(record, allow_nan=False)
    assert json.loads(text) == record, name
    shown = str(result)
    assert isinstance(shown, str) and len(shown) > 20 and "object at 0x" not in shown, name


def test_to_frame_has_one_row_per_study():
    for result, k in ((_meta(), 3), (_revman(), 3), (_exact(), 3), (_fit(), 3)):
        frame = result.to_frame()
        assert list(frame["study"]) == ["a", "b", "c"][:k], type(result).__name__


def test_json_convention_writes_nonfinite_numbers_as_strings():
    raw = {"a": math.nan, "b": [np.inf, -np.inf, np.float64(1.5)], "c": np.int64(3), "d": None}
    safe = json_safe(raw)
    assert safe == {"a": "NaN", "b": ["Infinity", "-Infinity", 1.5], "c": 3, "d": None}
    back = from_json_safe(json.loads(json.dumps(safe, allow_nan=False)))
    assert math.isnan(back["a"]) and back["b"] == [math.inf, -math.inf, 1.5] and back["d"] is None


def test_nonfinite_values_of_results_survive_the_json_round_trip():
    # one study: Cochran's Q has df = 0, so its p-value is undefined (NaN)
    one = frequentist.meta_analysis(TABLE.iloc[:1], "RR", method="MH")
    assert math.isnan(one.p_chi2)
    record = json.loads(json.dumps(one.to_dict(), allow_nan=False))
    assert record["p_chi2"] == "NaN" and math.isnan(from_json_safe(record)["p_chi2"])
    # a flat mu prior and two studies: the heavy tails leave theta_new without a variance
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = exact.posterior([0.1, 0.5], [0.3, 0.4], "halfcauchy(1.0)", labels=["a", "b"])
    sd = post.theta_new.sd
    assert not math.isfinite(sd)
    row = next(r for r in post.to_dict()["summary"] if r["param"] == "theta_new")
    assert row["sd"] == json_safe(sd) and isinstance(row["sd"], str)


def test_prob_is_the_one_name_for_posterior_probabilities():
    post, fit, comp = _exact(), _fit(), _comparison()
    assert post.prob("mu", "<", 0.0) == pytest.approx(float(post.mu.cdf(0.0)), abs=1e-15)
    assert post.prob("mu", ">=", 0.2) == pytest.approx(1 - float(post.mu.cdf(0.2)), abs=1e-15)
    mu = fit.idata.posterior["mu"].values.ravel()
    assert fit.prob("mu", "<", 0.0) == np.mean(mu < 0.0)
    assert fit.prob("b", ">", 0.1) == np.mean(
        fit.idata.posterior["theta"].sel(study="b").values.ravel() > 0.1
    )
    series = comp.prob("mu", "<", 0.0)
    for label, p in series.items():
        assert p == comp.posteriors[label].prob("mu", "<", 0.0)
    for result in (post, fit, comp):
        with pytest.raises(DataError, match="operator"):
            result.prob("mu", "=", 0.0)


def test_exact_posterior_as_inference_data_matches_its_margins():
    post = _exact()
    idata = post.to_inference_data(draws=20_000, seed=3)
    again = post.to_inference_data(draws=20_000, seed=3)
    assert idata.posterior["mu"].equals(again.posterior["mu"])
    assert list(idata.posterior["theta"]["study"].values) == ["a", "b", "c"]
    # independent draws: each quantile within ~5 Monte Carlo standard errors of the exact one
    for var, dist in (("mu", post.mu), ("tau", post.tau), ("theta_new", post.theta_new)):
        draws = idata.posterior[var].values.ravel()
        for p in (0.1, 0.5, 0.9):
            q = float(dist.quantile(p))
            assert abs(np.mean(draws <= q) - p) < 5 * math.sqrt(p * (1 - p) / draws.size), var
    theta_b = idata.posterior["theta"].sel(study="b").values.ravel()
    q = float(post.theta["b"].quantile(0.5))
    assert abs(np.mean(theta_b <= q) - 0.5) < 5 * math.sqrt(0.25 / theta_b.size)
