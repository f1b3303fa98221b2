"""Compiled models persist across processes (sparsemeta.bayes.compiled).

The reference for every draw is nutpie's own compilation in this process
(``nutpie.compile_pymc_model``): a model loaded from the disk cache must give bitwise the
same draws for the same seed, in another process and after a broken entry is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from sparsemeta.bayes import compiled, disk_cache, models, sample
from sparsemeta.bayes.priors import parse
from sparsemeta.errors import CacheWarning, DiagnosticsWarning

TINY = {"draws": 100, "tune": 100, "chains": 2, "seed": 5}

#: fits the model of _model() in a fresh process; prints what the test compares
_CHILD = """
import hashlib, json, warnings
import numpy as np
from sparsemeta.bayes import models, sample
from sparsemeta.bayes.priors import parse
model = models.normal_normal(np.array({y}), np.array({se}), {labels}, parse("halfnormal(0.5)"), None)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    fit = sample.sample(model, **{tiny})
draws = np.ascontiguousarray(fit.idata.posterior[["mu", "tau"]].to_array().values)
print(json.dumps({{"disk": fit.compiled_from_disk, "sha": hashlib.sha256(draws).hexdigest()}}))
"""


def _model(k: int = 3, prior: str = "halfnormal(0.5)"):
    y, se = np.linspace(-0.9, 0.1, k), np.linspace(0.3, 0.6, k)
    return models.normal_normal(y, se, [f"S{i}" for i in range(k)], parse(prior), None)


def _draws_sha(fit) -> str:
    draws = np.ascontiguousarray(fit.idata.posterior[["mu", "tau"]].to_array().values)
    return hashlib.sha256(draws).hexdigest()


def _fit():
    sample.clear_cache()  # no compiled model in this process: disk or compiler
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", DiagnosticsWarning)  # tiny runs fail the gate
        fit = sample.sample(_model(), **TINY)
    notices = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    return fit, notices


def test_key_follows_the_model_structure_not_the_data():
    """The normal-normal model's compiled form serves every k (only mu and tau are
    sampled); another prior is another structure."""
    names = sample._stored_vars(_model(), models.model_info(_model()))
    key = compiled._record(_model(3), names)
    assert compiled._record(_model(7), names) == key
    assert compiled._record(_model(3, "halfcauchy(0.5)"), names)["graph"] != key["graph"]


def _binomial(k: int):
    labels = [f"S{i}" for i in range(k)]
    return models.binomial_rr(
        [3] * k, [20] * k, [1] * k, [20] * k, labels, parse("halfnormal(0.5)")
    )


def test_key_holds_the_number_of_study_parameters():
    """The binomial models print alike for every k but sample one baseline and one effect
    per study: an entry compiled for k = 2 must not serve k = 1 (nutpie then refused the
    model and every fit fell back to PyMC's NUTS)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # k = 1: the single-study warning
        records = {}
        for k in (1, 2):
            model = _binomial(k)
            names = sample._stored_vars(model, models.model_info(model))
            records[k] = compiled._record(model, names)
    assert records[1]["graph"] == records[2]["graph"]  # the reason the layout is needed
    assert records[1]["layout"]["z"] == [1] and records[2]["layout"]["z"] == [2]
    assert compiled._path(records[1]) != compiled._path(records[2])


@pytest.mark.slow
def test_entry_for_two_studies_does_not_serve_one(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSEMETA_CACHE_DIR", str(tmp_path / "cache"))
    fits = []
    for k in (2, 1):
        sample.clear_cache()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.simplefilter("ignore", DiagnosticsWarning)
            fits.append(sample.sample(_binomial(k), **TINY))
        assert not [w for w in caught if "nutpie failed" in str(w.message)]
    assert [f.engine for f in fits] == ["nutpie", "nutpie"]
    assert len(list((tmp_path / "cache" / "compiled").iterdir())) == 2


@pytest.mark.slow
def test_compiled_model_persists_across_processes_and_a_broken_entry_is_rebuilt(
    tmp_path, monkeypatch
):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SPARSEMETA_CACHE_DIR", str(folder))
    disk_cache.REPORTED.clear()
    first, notices = _fit()  # compiled by nutpie here: the reference draws
    assert not first.compiled_from_disk and notices == []
    (entry,) = (folder / "compiled").iterdir()

    model = _model()
    info = models.model_info(model)
    y, se = info.data["y"].tolist(), info.data["se"].tolist()
    code = _CHILD.format(y=y, se=se, labels=list(first.labels), tiny=TINY)
    env = {**os.environ, "PYTHONPATH": str(Path(sample.__file__).parents[2])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    child = json.loads(out.stdout.strip().splitlines()[-1])
    assert child == {"disk": True, "sha": _draws_sha(first)}

    raw = bytearray(entry.read_bytes())
    raw[-100] ^= 0xFF  # one flipped bit pattern in the machine code
    entry.write_bytes(bytes(raw))
    rebuilt, notices = _fit()
    assert not rebuilt.compiled_from_disk and _draws_sha(rebuilt) == _draws_sha(first)
    assert len(notices) == 1 and "checksum" in notices[0] and str(entry) in notices[0]
    again, notices = _fit()  # the rebuilt entry is whole again
    assert again.compiled_from_disk and notices == []
    assert _draws_sha(again) == _draws_sha(first)
