"""Named PyMC models: builders called inside ``with pm.Model(name=...)`` and the names
:mod:`sparsemeta.bayes.sample` looks up."""

import pymc as pm

from sparsemeta.bayes import models


def test_builder_inside_a_named_model_fills_that_model():
    with pm.Model(name="m") as m:
        built = models.normal_normal([1.4, 3.4], [0.32, 1.02], ["a", "b"], "halfnormal(1.0)")
    assert built is m
    assert {"m::mu", "m::tau", "m::y"} <= set(m.named_vars)
    info = models.model_info(m)
    assert info is not None and info.name == "m"
    assert not models.is_extended(m)
    with m:
        pm.Normal("bias", 0.0, 1.0)
    assert models.is_extended(m)


def test_var_names_add_and_strip_the_model_name():
    names = models.VarNames("m")
    assert names.full("mu") == "m::mu"
    assert names.plain("m::mu") == "mu"
    assert names.plain("other::mu") == "other::mu"
    assert models.VarNames("").full("mu") == "mu"


def test_model_name_survives_pm_do():
    with pm.Model(name="m") as m:
        models.normal_normal([1.4, 3.4], [0.32, 1.02], ["a", "b"], "halfnormal(1.0)")
        beta = pm.Normal("beta", 0.0, 1.0)
    done = pm.do(m, {m["location"]: m["mu"] + beta + 0.0 * m["y"]})
    assert done.prefix == ""  # pm.do drops the name, the variables keep it
    assert models.model_name(done) == "m"
