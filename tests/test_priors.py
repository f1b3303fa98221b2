"""Tests of sparsemeta.bayes.priors: densities, literature tables, strings, PyMC forms, describe().

Expected values come from closed forms written out here, from the side-by-side table of
PRIORS.md section 9 (computed independently from the published parameters), from the
published tables (Turner 2015 Table IV, Rhodes 2015 Table 3, gemtc/Turner 2012) and from
the statements of Röver (2020, bayesmeta JSS paper, Sec. 3.4).
"""

from __future__ import annotations

import itertools
import json
import math
import tomllib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from sparsemeta.bayes import priors
from sparsemeta.bayes.priors import (
    Bartos,
    Exponential,
    Flat,
    HalfCauchy,
    HalfNormal,
    HalfT,
    InvGamma,
    Jeffreys,
    LogNormalTau2,
    LogTTau2,
    Lomax,
    Normal,
    Rhodes2015,
    Turner2012,
    Turner2015,
    UisdHalfNormal,
    Uniform,
    UniformShrinkage,
)
from sparsemeta.cli import main
from sparsemeta.errors import PriorError

SE = np.array([0.2, 0.4, 0.3])

PROPER = [
    HalfNormal(0.5),
    HalfCauchy(0.5),
    HalfT(3.0, 0.5),
    Exponential(0.4),
    Lomax(2.0, 0.5),
    Uniform(lower=0.1, upper=2.0),
    InvGamma(1.77, 0.55),
    LogNormalTau2(-2.56, 1.74),
    LogTTau2(-3.44, 2.59),
    Turner2015("pain", "pharm vs pharm"),
    Rhodes2015(),
    Bartos("RD"),
    UisdHalfNormal(2.0),
]


# ----------------------------------------------------------------------------- densities
@pytest.mark.parametrize("prior", PROPER, ids=str)
def test_pdf_integrates_to_one(prior):
    # split at quantiles so quad sees the mass of heavy-tailed priors; the pieces are
    # integrals of the density only, so the check is independent of cdf/ppf accuracy
    q = prior.ppf([0.0, 0.5, 0.99, 1.0])
    cuts = sorted({0.0, *q[np.isfinite(q)].tolist()}) + ([] if np.isfinite(q[-1]) else [np.inf])
    total = sum(integrate.quad(prior.pdf, a, b, limit=200)[0] for a, b in itertools.pairwise(cuts))
    assert total == pytest.approx(1.0, abs=1e-6)


def test_uniform_shrinkage_pdf_integrates_to_one_given_se():
    p = UniformShrinkage()
    total = integrate.quad(lambda t: p.pdf(t, se=SE), 0, np.inf, limit=200)[0]
    assert total == pytest.approx(1.0, abs=1e-7)


@pytest.mark.parametrize("prior", PROPER, ids=str)
def test_cdf_ppf_inverse_and_cdf_is_integral_of_pdf(prior):
    q = np.array([0.01, 0.1, 0.5, 0.9, 0.99])
    np.testing.assert_allclose(prior.cdf(prior.ppf(q)), q, atol=1e-10)
    t = prior.ppf(0.7)
    lower = float(prior.ppf(0.0))  # 0, or the lower end of a bounded support
    assert integrate.quad(prior.pdf, lower, t, limit=200)[0] == pytest.approx(0.7, abs=1e-6)


@pytest.mark.parametrize("prior", PROPER, ids=str)
def test_support_and_vectorisation(prior):
    tau = np.array([[-1.0, 0.3], [0.7, 2.0]])
    lp = prior.logpdf(tau)
    assert lp.shape == (2, 2)
    assert lp[0, 0] == -np.inf
    assert prior.cdf(-1.0) == 0.0
    np.testing.assert_allclose(prior.pdf(tau), np.exp(lp))


def test_closed_form_values():
    # half-normal: median = s * Phi^-1(0.75), mean = s * sqrt(2/pi), pdf(0) = 2/(s sqrt(2 pi))
    assert HalfNormal(0.5).median() == pytest.approx(0.5 * 0.6744897501960817)
    assert HalfNormal(0.5).median() == pytest.approx(0.337, abs=5e-4)
    assert HalfNormal(0.5).mean() == pytest.approx(0.5 * math.sqrt(2 / math.pi))
    assert HalfNormal(0.5).pdf(0.0) == pytest.approx(2 / (0.5 * math.sqrt(2 * math.pi)))
    # half-Cauchy: median = scale, 95% quantile = scale * tan(0.95 pi / 2), no mean
    assert HalfCauchy(0.5).median() == pytest.approx(0.5)
    assert float(HalfCauchy(0.5).ppf(0.95)) == pytest.approx(0.5 * math.tan(0.475 * math.pi))
    assert HalfCauchy(0.5).mean() == math.inf
    # half-t with df = 1 is the half-Cauchy; mean for df = 3, scale 1 is 2 sqrt(3) / pi
    t = np.linspace(0, 5, 11)
    np.testing.assert_allclose(HalfT(1.0, 0.7).pdf(t), HalfCauchy(0.7).pdf(t))
    assert HalfT(3.0, 1.0).mean() == pytest.approx(2 * math.sqrt(3) / math.pi)
    # exponential: median = scale ln 2; Lomax: median = scale (2^(1/shape) - 1)
    assert Exponential(0.4).median() == pytest.approx(0.4 * math.log(2))
    assert Lomax(2.0, 0.5).median() == pytest.approx(0.5 * (math.sqrt(2) - 1))
    assert Lomax(2.0, 0.5).mean() == pytest.approx(0.5)
    assert Uniform(lower=0.1, upper=2.0).median() == pytest.approx(1.05)
    # inverse gamma on tau: mean = scale / (shape - 1)
    assert InvGamma(1.77, 0.55).mean() == pytest.approx(0.55 / 0.77)
    # log-normal on tau^2: median tau = exp(m / 2); log-t: median tau = exp(location / 2)
    assert LogNormalTau2(-2.56, 1.74).median() == pytest.approx(math.exp(-1.28))
    assert LogTTau2(-3.44, 2.59).median() == pytest.approx(math.exp(-1.72))
    assert LogTTau2(-3.44, 2.59).mean() == math.inf


def test_tau2_parameterisation_is_halved():
    # log(tau^2) ~ N(m, s^2)  <=>  P(tau <= t) = Phi((2 log t - m) / s)
    p = LogNormalTau2(-3.95, 1.34)
    for t in (0.05, 0.2, 0.6):
        assert float(p.cdf(t)) == pytest.approx(stats.norm.cdf((2 * math.log(t) + 3.95) / 1.34))
    # log(tau^2) ~ t5(l, s)  <=>  P(tau <= t) = T5((2 log t - l) / s)
    r = LogTTau2(-2.99, 2.16)
    for t in (0.05, 0.2, 0.6):
        assert float(r.cdf(t)) == pytest.approx(stats.t.cdf((2 * math.log(t) + 2.99) / 2.16, 5))


TAU = np.array([0.0, 1e-6, 0.05, 0.3, 1.0, 4.0, 50.0])

# The same distributions built directly in scipy (log-t: tau = exp(X), X ~ t_df(l/2, s/2),
# so log p(tau) = log f_t(log tau) - log tau; half-t: 2 f_t(tau)).
SCIPY_LOGPDF = [
    (HalfNormal(0.7), stats.halfnorm(scale=0.7).logpdf),
    (HalfCauchy(0.4), stats.halfcauchy(scale=0.4).logpdf),
    (HalfT(3.0, 0.5), lambda t: math.log(2) + stats.t(3.0, scale=0.5).logpdf(t)),
    (Exponential(0.4), stats.expon(scale=0.4).logpdf),
    (InvGamma(1.77, 0.55), stats.invgamma(1.77, scale=0.55).logpdf),
    (LogNormalTau2(-2.56, 1.74), stats.lognorm(0.87, scale=math.exp(-1.28)).logpdf),
    (
        LogTTau2(-3.44, 2.59),
        lambda t: np.where(
            t > 0, stats.t(5.0, loc=-1.72, scale=1.295).logpdf(np.log(t)) - np.log(t), -np.inf
        ),
    ),
    # Turner et al. (2015) Table IV, pain, non-pharm vs pharm: log(tau^2) ~ N(-0.80, 1.25^2)
    (
        Turner2015("pain", "non-pharm vs pharm"),
        stats.lognorm(1.25 / 2, scale=math.exp(-0.80 / 2)).logpdf,
    ),
]


@pytest.mark.parametrize("prior, reference", SCIPY_LOGPDF, ids=[p.name for p, _ in SCIPY_LOGPDF])
def test_logpdf_matches_scipy(prior, reference):
    """The numpy log densities agree with scipy's (-inf at tau = 0 where scipy has it)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = reference(TAU)
    np.testing.assert_allclose(prior.logpdf(TAU), expected, rtol=1e-12, atol=1e-12)
    assert prior.logpdf(-0.1) == -np.inf


def test_distributions_are_not_shared_between_different_priors():
    """Equal parameters in different families, or different parameters, give different priors."""
    assert HalfNormal(0.5).median() == pytest.approx(0.5 * 0.6744897501960817)
    assert Exponential(0.5).median() == pytest.approx(0.5 * math.log(2))
    assert HalfCauchy(0.5).median() == pytest.approx(0.5)
    assert HalfNormal(1.0).median() == pytest.approx(0.6744897501960817)
    # the SE-dependent uniform-shrinkage prior follows se from call to call
    other = np.array([0.5, 1.0])
    s02 = 2 / (4 + 1)
    p = UniformShrinkage()
    assert float(p.cdf(0.5, se=SE)) != pytest.approx(float(p.cdf(0.5, se=other)))
    assert float(p.cdf(0.5, se=other)) == pytest.approx(0.25 / (s02 + 0.25))
    assert float(p.pdf(0.5, se=other)) == pytest.approx(2 * 0.5 * s02 / (s02 + 0.25) ** 2)


def test_uniform_shrinkage_closed_form():
    # s0^2 = k / sum(se^-2) = 3 / (25 + 6.25 + 11.111...) ; cdf(t) = t^2 / (s0^2 + t^2)
    s02 = 3 / (25 + 6.25 + 1 / 0.09)
    p = UniformShrinkage()
    assert p.median(se=SE) == pytest.approx(math.sqrt(s02))
    assert float(p.cdf(0.5, se=SE)) == pytest.approx(0.25 / (s02 + 0.25))
    assert float(p.pdf(0.5, se=SE)) == pytest.approx(2 * 0.5 * s02 / (s02 + 0.25) ** 2)
    assert p.requires_se and p.proper


def test_jeffreys_formula():
    p = Jeffreys()
    assert not p.proper and p.requires_se
    # equal se = 1, k = 2, tau = 1: sqrt(2 * (1 / 2)^2) = sqrt(0.5)
    assert float(p.logpdf(1.0, se=[1.0, 1.0])) == pytest.approx(0.5 * math.log(0.5))
    # se = (1, 2), tau = 2: sqrt((2/5)^2 + (2/8)^2)
    assert float(p.logpdf(2.0, se=[1.0, 2.0])) == pytest.approx(
        math.log(math.sqrt(0.4**2 + 0.25**2))
    )
    assert p.logpdf(np.array([-1.0, 0.0]), se=[1.0]).tolist() == [-np.inf, -np.inf]


def test_random_draws_follow_cdf():
    rng = np.random.default_rng(20260101)
    for prior in (HalfNormal(0.5), Rhodes2015(), Lomax(2.0, 0.5)):
        draws = prior.random(rng, 3000)
        assert stats.kstest(draws, prior.cdf).pvalue > 1e-3
    draws = UniformShrinkage().random(rng, 3000, se=SE)
    assert stats.kstest(draws, lambda t: UniformShrinkage().cdf(t, se=SE)).pvalue > 1e-3


# ------------------------------------------------------------------- published settings
def test_turner2015_cells_and_comparator_mapping():
    # Table IV cells (PRIORS.md section 1)
    assert Turner2015("all-cause mortality", "pharm vs placebo/control").base == LogNormalTau2(
        -3.95, 1.34
    )
    assert Turner2015("pain", "non-pharm vs pharm").base == LogNormalTau2(-0.80, 1.25)
    assert Turner2015("subjective outcomes", "non-pharm vs non-pharm").base == LogNormalTau2(
        -2.26, 1.45
    )
    assert Turner2015().base == LogNormalTau2(-2.56, 1.74)
    # order of the two comparators does not matter; bayesmeta's long labels are accepted
    assert Turner2015("mental health indicators", "placebo vs non-pharmacological") == Turner2015(
        "mental health indicators", "non-pharm vs placebo/control"
    )
    assert Turner2015("subjective outcomes (various)", "pharm vs non-pharm").base == LogNormalTau2(
        -1.67, 1.25
    )
    assert Turner2015().derived_for == "logOR"


def test_turner2015_marginal_implied_tau():
    # PRIORS.md: implied tau median 0.28, 95% prior interval 0.05-1.53
    p = Turner2015()
    assert p.median() == pytest.approx(0.28, abs=0.005)
    assert float(p.ppf(0.025)) == pytest.approx(0.05, abs=0.005)
    assert float(p.ppf(0.975)) == pytest.approx(1.53, abs=0.005)


def test_turner2012_cells():
    assert Turner2012("all-cause mortality", "pharm vs placebo/control").base == LogNormalTau2(
        -4.06, 1.45
    )
    assert Turner2012("semi-objective", "pharm vs pharm").base == LogNormalTau2(-3.23, 1.88)
    assert Turner2012("subjective", "non-pharm vs placebo").base == LogNormalTau2(-2.01, 1.64)
    # gemtc's spelling
    assert Turner2012("mortality", "pharma-control") == Turner2012(
        "all-cause mortality", "pharm vs placebo/control"
    )


def test_rhodes2015_cells_and_flags():
    assert Rhodes2015().base == LogTTau2(-3.44, 2.59)
    assert Rhodes2015("obstetric outcome", "pharm vs placebo/control").base == LogTTau2(-4.13, 2.34)
    assert Rhodes2015("mental health outcome", "pharm vs pharm", "respiratory").base == LogTTau2(
        -5.17, 2.14
    )
    assert Rhodes2015(
        "resource use / hospital stay / process", "non-pharm", "cancer"
    ).base == LogTTau2(0.15, 2.68)
    # default area is "other"; any non-pharm arm maps to the "non-pharm" column
    p = Rhodes2015("mental health outcome", "non-pharm vs pharm")
    assert p.area == "other" and p.base == LogTTau2(-3.85, 1.93)
    assert not p.verified and "not verified" in p.source
    q = Rhodes2015("internal and external structure-related outcome", "pharm vs pharm", "cancer")
    assert q.base == LogTTau2(-0.14, 2.56) and not q.verified
    assert Rhodes2015("biological marker", "pharm vs pharm").verified
    # PRIORS.md section 3: marginal implied tau median 0.18, 95% quantile 2.43
    assert Rhodes2015().median() == pytest.approx(0.18, abs=0.005)
    assert float(Rhodes2015().ppf(0.95)) == pytest.approx(2.43, abs=0.005)


def test_bartos_priors():
    assert Bartos("logOR").base == InvGamma(1.77, 0.55)
    assert Bartos("OR") == Bartos("logOR")
    assert Bartos("SMD").base == InvGamma(1.71, 0.40)
    assert Bartos("logRR").base == InvGamma(1.51, 0.23)
    assert Bartos("logHR").base == InvGamma(2.42, 0.30)
    assert Bartos("RD").base == HalfNormal(0.099)
    assert Bartos("SMD", "Oral Health").base == InvGamma(1.79, 0.28)
    assert Bartos("logRR").derived_for == "logRR"


def test_uisd_prior():
    # s_u = sqrt(sum n / sum se^-2) = sqrt(200 / (25 + 11.111...))
    su = math.sqrt(200 / (25 + 1 / 0.09))
    assert priors.uisd([100, 100], [0.2, 0.3]) == pytest.approx(su)
    p = UisdHalfNormal.from_data([100, 100], [0.2, 0.3])
    assert p.base == HalfNormal(su * 0.25)
    # RoBMA's default for log OR: UISD 2, UISD/4 -> HN(0.5)
    assert UisdHalfNormal(2.0).median() == pytest.approx(HalfNormal(0.5).median())


# ----------------------------------------------------------- PRIORS.md section 9 table
SECTION9 = [
    ("halfnormal(0.5)", 0.337, 0.980, 0.317, 0.046),
    ("halfnormal(1.0)", 0.674, 1.960, 0.617, 0.317),
    ("halfcauchy(0.5)", 0.500, 6.353, 0.500, 0.295),
    ("halfcauchy(1.0)", 1.000, 12.706, 0.705, 0.500),
    ("turner2015()", 0.278, 1.163, 0.250, 0.071),
    ('turner2015("all-cause mortality", "pharm vs placebo/control")', 0.139, 0.418, 0.028, 0.002),
    ('turner2015("subjective outcomes", "pharm vs placebo/control")', 0.259, 0.905, 0.194, 0.038),
    ('turner2012("all-cause mortality", "pharm vs placebo/control")', 0.131, 0.433, 0.033, 0.003),
    ('turner2012("subjective", "non-pharm")', 0.366, 1.410, 0.352, 0.110),
    ("rhodes2015()", 0.179, 2.434, 0.232, 0.121),
    ('bartos("logOR")', 0.379, 2.058, 0.373, 0.151),
    ('bartos("SMD")', 0.288, 1.628, 0.270, 0.105),
    ("invgamma(1, 0.15)", 0.216, 2.924, 0.259, 0.139),
]


@pytest.mark.parametrize(("text", "median", "q95", "p05", "p1"), SECTION9)
def test_section9_table(text, median, q95, p05, p1):
    s = priors.describe(priors.parse(text))
    assert s.median == pytest.approx(median, abs=6e-4)
    assert s.q95 == pytest.approx(q95, abs=6e-4)
    assert s.p_tau_gt_0_5 == pytest.approx(p05, abs=6e-4)
    assert s.p_tau_gt_1 == pytest.approx(p1, abs=6e-4)


@pytest.mark.parametrize(
    ("text", "q975", "factor"),
    [
        ("halfnormal(0.5)", 1.09, 2.98),
        ("halfnormal(1.0)", 2.18, 8.9),
        ("halfcauchy(0.5)", 5.05, 156),
    ],
)
def test_roever2020_prior_predictive_quantiles(text, q975, factor):
    s = priors.describe(priors.parse(text), scale="logOR")
    assert s.theta_q975 == pytest.approx(q975, abs=0.006)
    assert s.ratio_factor == pytest.approx(factor, rel=0.01)


def test_describe_result():
    s = priors.describe(HalfNormal(0.5), scale="SMD")
    assert s.ratio_factor is None
    d = s.to_dict()
    assert set(d) == {
        "prior",
        "scale",
        "median",
        "q95",
        "p_tau_gt_0_5",
        "p_tau_gt_1",
        "theta_q975",
        "ratio_factor",
    }
    assert json.loads(json.dumps(d)) == d
    assert "0.337" in str(s) and "halfnormal(scale=0.5)" in str(s)
    # SE-dependent prior: P(tau > 1) = s0^2 / (s0^2 + 1)
    s02 = 3 / (25 + 6.25 + 1 / 0.09)
    u = priors.describe(UniformShrinkage(), se=SE)
    assert u.p_tau_gt_1 == pytest.approx(s02 / (s02 + 1))


def test_describe_accepts_a_prior_string():
    # HN(0.5): median 0.5 * Phi^-1(0.75); Röver (2020) quotes the 97.5% quantile 1.09
    s = priors.describe("halfnormal(0.5)")
    assert s.prior == "halfnormal(scale=0.5)"
    assert s.median == pytest.approx(0.5 * stats.norm.ppf(0.75), rel=1e-9)
    assert s.theta_q975 == pytest.approx(1.09, abs=0.006)
    with pytest.raises(PriorError, match="unknown tau prior 'halfnorml'"):
        priors.describe("halfnorml(0.5)")
    for value in (None, 0.5, priors.Normal(0.0, 1.0)):
        with pytest.raises(PriorError, match="expected a tau prior or its string"):
            priors.describe(value)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ strings
def test_canonical_strings_and_both_argument_forms():
    assert str(HalfNormal(0.5)) == "halfnormal(scale=0.5)"
    assert priors.parse("halfnormal(0.5)") == priors.parse("halfnormal(scale=0.5)")
    assert priors.parse("halft(3, 0.5)") == HalfT(df=3.0, scale=0.5)
    assert priors.parse("uniform(0, 2)") == priors.parse("uniform(2)") == Uniform(upper=2.0)
    assert priors.parse(" jeffreys ") == Jeffreys()
    assert str(Turner2015("mental health indicators", "non-pharm vs placebo/control")) == (
        'turner2015(outcome="mental health indicators", comparison="non-pharm vs placebo/control")'
    )
    assert str(Rhodes2015("mental health outcome", "pharm vs pharm")) == (
        'rhodes2015(outcome="mental health outcome", comparison="pharm vs pharm", area="other")'
    )
    assert priors.parse("lognormal_tau2(-2.56, 1.74)") == LogNormalTau2(-2.56, 1.74)


def test_every_library_string_round_trips_through_parse_and_toml():
    table = priors.library()
    for text in table["string"]:
        prior = priors.parse(text)
        assert str(prior) == text
        doc = tomllib.loads(f"[model]\ntau_prior = {json.dumps(text)}\n")
        assert priors.parse(doc["model"]["tau_prior"]) == prior


positive = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)
real = st.floats(min_value=-50, max_value=50, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(a=positive, b=positive, m=real)
def test_round_trip_property(a, b, m):
    for prior in (
        HalfNormal(a),
        HalfCauchy(a),
        HalfT(a, b),
        Exponential(a),
        Lomax(a, b),
        Uniform(upper=a + b, lower=a),
        InvGamma(a, b),
        LogNormalTau2(m, a),
        LogTTau2(m, a, b),
        UisdHalfNormal(a, b),
    ):
        text = str(prior)
        assert priors.parse(text) == prior
        doc = tomllib.loads(f"p = {json.dumps(text)}\n")
        assert priors.parse(doc["p"]) == prior


def test_mu_priors():
    assert priors.parse_mu("normal(0, 10)") == Normal(0.0, 10.0)
    assert str(Normal(0.0, 2.82)) == "normal(mean=0.0, sd=2.82)"
    assert priors.parse_mu(str(Normal(-1.5, 2.0))) == Normal(-1.5, 2.0)
    assert priors.parse_mu("flat") == priors.parse_mu("flat()") == Flat()
    assert str(Flat()) == "flat"
    assert priors.mu_prior_default("logOR") == priors.mu_prior_default("OR") == Normal(0.0, 2.82)
    # Günhan et al. 2020: N(0, 2.82^2) gives OR within 1/250..250 with about 95% probability
    p = priors.mu_prior_default("OR")
    assert p.cdf(math.log(250)) - p.cdf(-math.log(250)) == pytest.approx(0.95, abs=0.001)
    for measure in ("OR", "RR", "HR", "RD", "MD", "SMD", "GENERIC"):
        assert isinstance(priors.mu_prior_default(measure), priors.MuPrior)
        assert len(priors.mu_prior_reason(measure)) > 40
    assert not priors.mu_prior_default("MD").proper


# -------------------------------------------------------------------------------- PyMC
PYMC_PRIORS = {
    "hn": HalfNormal(0.5),
    "hc": HalfCauchy(0.5),
    "ht": HalfT(3.0, 0.5),
    "ex": Exponential(0.4),
    "lx": Lomax(2.0, 0.5),
    "un": Uniform(lower=0.1, upper=2.0),
    "ig": Bartos("logOR"),
    "ln": Turner2015("pain", "pharm vs pharm"),
    "lt": Rhodes2015(),
}


@pytest.mark.slow
def test_pymc_forms_match_density_and_cdf():
    pm = pytest.importorskip("pymc")
    pytensor = pytest.importorskip("pytensor")
    with pm.Model() as model:
        rvs = {k: p.to_pymc(k) for k, p in PYMC_PRIORS.items()}
        rvs["us"] = UniformShrinkage().to_pymc("us", se=SE)
    # log density of each PyMC variable (on the tau scale) equals ours (one compilation)
    points = [(key, t) for key in rvs for t in (0.15, 0.8)]
    logps = pytensor.function([], [pm.logp(rvs[key], t) for key, t in points])()
    for (key, t), value in zip(points, logps, strict=True):
        prior = PYMC_PRIORS.get(key, UniformShrinkage())
        se = SE if key == "us" else None
        assert float(value) == pytest.approx(float(prior.logpdf(t, se=se)), rel=1e-6, abs=1e-8), key
    draws = pm.sample_prior_predictive(draws=2000, model=model, random_seed=7).prior
    for key in rvs:
        x = draws[key].values.ravel()
        assert np.all(x > 0)
        prior = PYMC_PRIORS.get(key, UniformShrinkage())
        se = SE if key == "us" else None
        assert stats.kstest(x, lambda t, p=prior, s=se: p.cdf(t, se=s)).pvalue > 1e-3, key


def test_jeffreys_has_no_pymc_form():
    pm = pytest.importorskip("pymc")
    with pm.Model(), pytest.raises(PriorError, match="exact"):
        Jeffreys().to_pymc("tau")


# ----------------------------------------------------------------------------- library
def test_library_table():
    table = priors.library()
    assert list(table.columns[:6]) == ["name", "string", "family", "parameters", "scale", "source"]
    assert (table["name"] == "turner2015").sum() == 16 * 5 + 1
    assert (table["name"] == "turner2012").sum() == 9
    assert (table["name"] == "rhodes2015").sum() == 3 * 8 * 3 + 1
    assert (table["name"] == "bartos").sum() == 5 + 46
    assert table["source"].str.len().min() > 20
    assert table["string"].is_unique
    flagged = table[table["source"].str.contains("not verified")]
    assert len(flagged) == 2


def test_cli_priors(capsys):
    assert main(["priors", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(priors.library())
    assert main(["priors", "halfnormal(0.5)", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["theta_q975"] == pytest.approx(1.09, abs=0.006)
    assert main(["priors", "--family", "turner2012"]) == 0
    out = capsys.readouterr().out
    assert "turner2012" in out and "Int J Epidemiol" in out
    assert main(["priors", "halfnormal(-1)"]) == 2
    assert "scale" in capsys.readouterr().err
    assert main(["priors", "--family", "turner"]) == 2
    assert "turner2015" in capsys.readouterr().err


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("halfnorm(0.5)", "unknown tau prior 'halfnorm'; valid names"),
        ("halfnormal(sigma=0.5)", "unknown parameter 'sigma'"),
        ("halfnormal()", "missing parameter(s) 'scale'"),
        ("halfnormal(0.5, 1)", "too many positional"),
        ("halfnormal(0.5, scale=1)", "given more than once"),
        ("halfnormal(0)", "'scale' must be positive"),
        ("halfnormal(-0.5)", "'scale' must be positive"),
        ("halfnormal(1e999)", "must be finite"),
        ("halfnormal(True)", "number or a string literal"),
        ('halfnormal("0.5")', "must be a number"),
        ("halfnormal(1+1)", "number or a string literal"),
        ("halfnormal(-'a')", "number or a string literal"),
        ("__import__('os').system('true')", "expected name(arguments)"),
        ("os.system('true')", "expected name(arguments)"),
        ("halfnormal(**{'scale': 1})", "'**'"),
        ("halfnormal(0.5", "cannot parse"),
        ("lomax(1, 0)", "'scale' must be positive"),
        ("uniform(2, 1)", "0 <= lower < upper"),
        ("uniform(1, 2, 3)", "too many positional"),
        ('turner2015(outcome="death")', "valid choices"),
        ('turner2015(outcome="pain")', "missing parameter 'comparison'"),
        ('turner2015(comparison="pharm vs pharm")', "needs an 'outcome'"),
        ('turner2015("pain", "placebo vs control")', "not defined"),
        ('turner2015("pain", "surgery vs placebo")', "valid choices"),
        ('rhodes2015("pain", "pharm vs pharm")', "unknown outcome 'pain'"),
        ('rhodes2015("biological marker", "pharm vs pharm", area="heart")', "unknown area"),
        ('rhodes2015(area="cancer")', "need an 'outcome'"),
        ('bartos("MD")', "unknown measure"),
        ('bartos("logOR", "Oral Health")', "subfields are tabulated for SMD only"),
        ('bartos("SMD", "Dentistry")', "unknown field"),
        ("jeffreys(1)", "too many positional"),
        ("", "cannot parse"),
    ],
)
def test_bad_prior_strings(text, fragment):
    with pytest.raises(PriorError) as err:
        priors.parse(text)
    assert fragment in str(err.value)


def test_unknown_turner_category_lists_choices():
    with pytest.raises(PriorError) as err:
        priors.parse('turner2015(outcome="death", comparison="pharm vs pharm")')
    assert "all-cause mortality" in str(err.value) and "subjective outcomes" in str(err.value)


def test_other_bad_input():
    with pytest.raises(PriorError, match="must be given as a string"):
        priors.parse(0.5)  # type: ignore[arg-type]
    with pytest.raises(PriorError, match="pass se="):
        UniformShrinkage().logpdf(0.3)
    with pytest.raises(PriorError, match="positive finite"):
        Jeffreys().logpdf(0.3, se=[0.2, -1.0])
    with pytest.raises(PriorError, match="improper"):
        Jeffreys().cdf(0.3, se=SE)
    with pytest.raises(PriorError, match="improper"):
        priors.describe(Jeffreys(), se=SE)
    with pytest.raises(PriorError, match="unknown scale"):
        priors.describe(HalfNormal(0.5), scale="OR")
    with pytest.raises(PriorError, match="pass se="):
        priors.describe(UniformShrinkage())
    with pytest.raises(PriorError, match="one per standard error"):
        priors.uisd([100], [0.2, 0.3])
    with pytest.raises(PriorError, match="one per standard error"):
        priors.uisd(["a", "b"], [0.2, 0.3])
    with pytest.raises(PriorError, match="positive finite"):
        UniformShrinkage().cdf(0.3, se=["x"])
    with pytest.raises(PriorError, match="'sd' must be positive"):
        priors.parse_mu("normal(0, 0)")
    with pytest.raises(PriorError, match="unknown mu prior"):
        priors.parse_mu("cauchy(0, 1)")
    with pytest.raises(PriorError, match="a mu prior: use parse_mu"):
        priors.parse("normal(0, 10)")
    with pytest.raises(PriorError, match="a tau prior: use parse"):
        priors.parse_mu("halfnormal(0.5)")
    with pytest.raises(PriorError, match="unknown measure"):
        priors.mu_prior_default("logit")
