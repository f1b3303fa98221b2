"""The normal-normal model samples without divergences under plain ``pm.sample`` defaults
(PyMC's own NUTS) on a sparse two-study analysis with a large between-study difference."""

from __future__ import annotations

import pymc as pm
import pytest

import sparsemeta as sm
from sparsemeta.bayes import models


@pytest.mark.slow
def test_normal_normal_pip_secure_has_no_divergences_under_pm_sample_defaults():
    data = sm.datasets.pip_barlow2015()
    table = data[
        (data["comparison"] == "PIP vs control") & (data["outcome"] == "Infant attachment: secure")
    ]
    assert len(table) == 2  # Cicchetti 1999a, Cicchetti 2006b (log RR 1.40, 3.43)
    model = models.normal_normal(sm.effect_sizes(table, "RR"))
    with model:
        idata = pm.sample(draws=500, chains=2, cores=1, random_seed=1, progressbar=False)
    assert int(idata.sample_stats["diverging"].sum()) == 0
