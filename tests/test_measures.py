"""The measure table: every row is usable everywhere that looks measures up."""

from __future__ import annotations

import pytest

from sparsemeta import effects, measures
from sparsemeta.bayes import priors
from sparsemeta.errors import DataError
from sparsemeta.frequentist import RevManSettings
from sparsemeta.io import rm5
from sparsemeta.review import plan


@pytest.mark.parametrize("row", measures.TABLE, ids=lambda r: r.code)
def test_every_row_is_complete_and_its_priors_parse(row):
    if row.computable:
        assert callable(getattr(effects, row.effect))
    assert row.data_type in ("binary", "continuous", "generic")
    assert row.methods and set(row.methods) <= {"MH", "IV", "Peto"}
    assert isinstance(priors.parse_mu(row.mu_prior), priors.MuPrior)
    assert priors.mu_prior_default(row.code) == priors.parse_mu(row.mu_prior)
    assert len(row.mu_reason) > 40 and len(row.tau_reason) > 40
    if row.tau_prior is not None:
        tau = priors.parse(row.tau_prior)
        assert str(tau) == row.tau_prior  # stored in canonical form
        assert priors.describe(tau, scale=row.scale).ratio_factor is not None or not row.log_scale
    for name in row.revman_names:
        assert measures.revman_code(name.upper()) == row.code


def test_lookup_is_case_insensitive_and_names_the_choices():
    assert measures.lookup(" rr ").code == "RR"
    assert measures.lookup("logOR").code == "OR"
    with pytest.raises(DataError, match=r"fit: unknown measure 'XX'; use one of RR, OR"):
        measures.lookup("XX", where="fit")


def test_lists_elsewhere_are_the_tables():
    assert set(plan.MEASURES) == set(measures.codes(computable=True))
    assert plan.METHODS["OR"] == ("MH", "IV", "Peto")
    assert rm5._MEASURES["DICH"] == set(measures.codes("binary", computable=True))
    assert set(priors.SCALES) == {r.scale for r in measures.TABLE}
    assert RevManSettings("binary", "PETO", "OR").ratio
    assert not RevManSettings("continuous", "IV", "MD").ratio
    assert measures.for_method("MH") == ("RR", "OR", "RD")
    assert set(measures.ratio_codes()) >= {"RR", "OR", "PETO_OR", "HR"}


def test_calibrated_default_tau_prior_for_log_ratios():
    # docs/calibration.md: HN(1.0) is the recommended primary prior for k = 2-3 on log ratios
    for code in ("RR", "OR", "PETO_OR", "HR"):
        assert measures.lookup(code).tau_prior == "halfnormal(scale=1.0)"
    assert measures.lookup("MD").tau_prior is None
