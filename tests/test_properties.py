"""Property tests (hypothesis) of the effect sizes and the pooling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsemeta import effects
from sparsemeta import frequentist as fq
from sparsemeta.data import study_table

FAST = settings(max_examples=60, deadline=None)


@st.composite
def arm_counts(draw):
    n1 = draw(st.integers(1, 300))
    n2 = draw(st.integers(1, 300))
    return draw(st.integers(0, n1)), n1, draw(st.integers(0, n2)), n2


@st.composite
def continuous_arms(draw):
    mean = st.floats(-50, 50, allow_nan=False)
    sd = st.floats(0.1, 20)
    return (draw(mean), draw(sd), draw(st.integers(2, 200)),
            draw(mean), draw(sd), draw(st.integers(2, 200)))  # fmt: skip


@st.composite
def binary_tables(draw, min_k=2, max_k=6):
    rows = draw(st.lists(arm_counts(), min_size=min_k, max_size=max_k))
    frame = pd.DataFrame(
        [
            dict(comparison="c", outcome="o", study=f"s{i}", events_t=a, n_t=n1, events_c=c, n_c=n2)
            for i, (a, n1, c, n2) in enumerate(rows)
        ]
    )
    return study_table(frame)


@FAST
@given(arm_counts(), st.sampled_from([effects.log_rr, effects.log_or, effects.risk_difference]))
def test_swapping_arms_negates_binary_effects(counts, fn):
    a, n1, c, n2 = counts
    y, v = fn(a, n1, c, n2)
    y_swap, v_swap = fn(c, n2, a, n1)
    if np.isnan(y):
        assert np.isnan(y_swap)
    else:
        assert y_swap == pytest.approx(-y, rel=1e-12, abs=1e-12)
        assert v_swap == pytest.approx(v, rel=1e-12)


@FAST
@given(continuous_arms(), st.sampled_from([effects.mean_difference, effects.hedges_g]))
def test_swapping_arms_negates_continuous_effects(arms, fn):
    m1, s1, n1, m2, s2, n2 = arms
    y, v = fn(m1, s1, n1, m2, s2, n2)
    y_swap, v_swap = fn(m2, s2, n2, m1, s1, n1)
    assert y_swap == pytest.approx(-y, rel=1e-12, abs=1e-12)
    assert v_swap == pytest.approx(v, rel=1e-12)


@FAST
@given(continuous_arms(), st.floats(-100, 100), st.floats(0.01, 100))
def test_shift_and_scale_of_continuous_outcomes(arms, shift, scale):
    m1, s1, n1, m2, s2, n2 = arms
    md, md_v = effects.mean_difference(m1, s1, n1, m2, s2, n2)
    g, g_v = effects.hedges_g(m1, s1, n1, m2, s2, n2)
    # shifting both means leaves MD and SMD unchanged
    md_s, md_sv = effects.mean_difference(m1 + shift, s1, n1, m2 + shift, s2, n2)
    g_s, g_sv = effects.hedges_g(m1 + shift, s1, n1, m2 + shift, s2, n2)
    assert md_s == pytest.approx(md, abs=1e-9 * (1 + abs(shift)))
    assert md_sv == pytest.approx(md_v, rel=1e-12)
    assert g_s == pytest.approx(g, rel=1e-9, abs=1e-9 * (1 + abs(shift)))
    assert g_sv == pytest.approx(g_v, rel=1e-9, abs=1e-12)
    # scaling means and SDs scales MD (variance by scale²) and leaves SMD unchanged
    md_c, md_cv = effects.mean_difference(m1 * scale, s1 * scale, n1, m2 * scale, s2 * scale, n2)
    g_c, g_cv = effects.hedges_g(m1 * scale, s1 * scale, n1, m2 * scale, s2 * scale, n2)
    assert md_c == pytest.approx(md * scale, rel=1e-12, abs=1e-12)
    assert md_cv == pytest.approx(md_v * scale**2, rel=1e-12)
    assert g_c == pytest.approx(g, rel=1e-12, abs=1e-12)
    assert g_cv == pytest.approx(g_v, rel=1e-12)


def _pooled(result: fq.MetaResult) -> tuple[float, ...]:
    return (result.estimate, result.se, result.tau2, result.chi2, result.df, result.i2)


@settings(max_examples=40, deadline=None)
@given(binary_tables(min_k=2, max_k=6), st.randoms(use_true_random=False),
       st.sampled_from([("MH", "RR"), ("MH", "OR"), ("MH", "RD"), ("IV", "RR"), ("PETO", "OR")]),
       st.sampled_from(["DL", "REML", "PM"]))  # fmt: skip
def test_study_order_does_not_change_pooled_results(table, rnd, method_measure, tau2_method):
    method, measure = method_measure
    order = list(range(len(table)))
    rnd.shuffle(order)
    shuffled = table.iloc[order]
    a = fq.meta_analysis(table, measure, method=method, tau2_method=tau2_method, tau2_ci=False)
    b = fq.meta_analysis(shuffled, measure, method=method, tau2_method=tau2_method, tau2_ci=False)
    assert a.k == b.k
    if a.k:
        assert _pooled(b) == pytest.approx(_pooled(a), rel=1e-8, abs=1e-10)
        weights = dict(zip(b.studies, b.weights, strict=True))
        assert [weights[s] for s in a.studies] == pytest.approx(
            list(a.weights), rel=1e-8, abs=1e-10
        )
    settings_ = fq.RevManSettings("binary", method, "PETO_OR" if method == "PETO" else measure,
                                  random=True)  # fmt: skip
    ra, rb = fq.revman(table, settings_).overall, fq.revman(shuffled, settings_).overall
    if ra.estimable:
        assert rb.effect_size == pytest.approx(ra.effect_size, rel=1e-9)
        assert rb.chi2 == pytest.approx(ra.chi2, rel=1e-8, abs=1e-10)


@FAST
@given(st.lists(st.tuples(st.floats(-3, 3), st.floats(0.01, 2)), min_size=2, max_size=8),
       st.sampled_from(["DL", "REML", "PM"]))  # fmt: skip
def test_fixed_and_random_coincide_when_tau2_is_zero(studies, tau2_method):
    yi = np.array([y for y, _ in studies])
    vi = np.array([v for _, v in studies])
    for y in (yi, np.full_like(yi, yi[0])):  # identical effects force tau² = 0
        data = pd.DataFrame(dict(study=[f"s{i}" for i in range(len(y))], yi=y, vi=vi))
        fixed = fq.meta_analysis(data, "MD", random=False)
        rand = fq.meta_analysis(data, "MD", tau2_method=tau2_method, tau2_ci=False)
        if rand.tau2 == 0:
            assert rand.estimate == pytest.approx(fixed.estimate, rel=1e-12, abs=1e-12)
            assert rand.se == pytest.approx(fixed.se, rel=1e-12)
            assert rand.ci_low == pytest.approx(fixed.ci_low, rel=1e-12, abs=1e-12)
            assert rand.weights == pytest.approx(fixed.weights, rel=1e-12)
        else:
            assert y is yi  # only the unconstrained draw can be heterogeneous
