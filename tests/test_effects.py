"""Per-study effect sizes: hand calculations and values RevMan 5 stored in real reviews.

Stored RevMan values are quoted from the review files in ``../shared/fixtures/revman``
(attributes of the study's ``*_DATA`` element); they are typed in here so these tests run
without the files.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sparsemeta import effects
from sparsemeta.data import study_table
from sparsemeta.errors import DataError


def table(rows: list[tuple[str, int, int, int, int]]) -> pd.DataFrame:
    return study_table(
        pd.DataFrame(
            [
                dict(comparison="c", outcome="o", study=s, events_t=a, n_t=n1, events_c=c, n_c=n2)
                for s, a, n1, c, n2 in rows
            ]
        )
    )


def test_log_rr_without_zero_cells():
    # RR = (10/100)/(20/100) = 0.5; var = 1/10 - 1/100 + 1/20 - 1/100 = 0.13
    yi, vi = effects.log_rr(10, 100, 20, 100)
    assert yi == pytest.approx(math.log(0.5), rel=1e-15)
    assert vi == pytest.approx(0.13, rel=1e-14)


def test_log_rr_zero_cell_adds_half_to_all_four_cells():
    # 0/10 vs 5/10 -> cells 0.5, 10.5, 5.5, 5.5; arms 11 and 11
    # RR = (0.5/11)/(5.5/11) = 1/11; var = 1/0.5 - 1/11 + 1/5.5 - 1/11 = 2
    yi, vi = effects.log_rr(0, 10, 5, 10)
    assert yi == pytest.approx(math.log(1 / 11), rel=1e-14)
    assert vi == pytest.approx(2.0, rel=1e-14)


def test_all_events_in_one_arm_also_triggers_the_correction():
    # 10/10 vs 5/10: b = 0 -> cells 10.5, 0.5, 5.5, 5.5 (Deeks & Higgins 2010)
    cells = effects.corrected_cells(10, 10, 5, 10)
    assert (cells.a, cells.b, cells.c, cells.d, cells.added) == (10.5, 0.5, 5.5, 5.5, 0.5)
    yi, vi = effects.log_or(10, 10, 5, 10)
    assert yi == pytest.approx(math.log(10.5 * 5.5 / (0.5 * 5.5)), rel=1e-14)
    assert vi == pytest.approx(1 / 10.5 + 1 / 0.5 + 2 / 5.5, rel=1e-14)


def test_log_rr_matches_revman_for_a_zero_event_arm():
    # CD000023 (antibiotics for sore throat), analysis CMP-001.05, Bennike 1951:
    # 0/100 vs 7/99; RevMan stored EFFECT_SIZE=0.066006600660066, SE=1.453764885816934
    yi, vi = effects.log_rr(0, 100, 7, 99)
    assert math.exp(yi) == pytest.approx(0.066006600660066, rel=1e-12)
    assert math.sqrt(vi) == pytest.approx(1.453764885816934, rel=1e-12)


def test_log_or_matches_revman():
    # Fleiss1993.rm5, CMP-001.01, MRC-1: 49/615 vs 67/624;
    # RevMan stored EFFECT_SIZE=0.7197141500975687, VAR=0.038895652988376536
    yi, vi = effects.log_or(49, 615, 67, 624)
    assert math.exp(yi) == pytest.approx(0.7197141500975687, rel=1e-12)
    assert vi == pytest.approx(0.038895652988376536, rel=1e-12)


def test_log_or_by_hand():
    # cells 10, 90, 20, 80: OR = 800/1800; var = 1/10 + 1/90 + 1/20 + 1/80
    yi, vi = effects.log_or(10, 100, 20, 100)
    assert yi == pytest.approx(math.log(800 / 1800), rel=1e-14)
    assert vi == pytest.approx(1 / 10 + 1 / 90 + 1 / 20 + 1 / 80, rel=1e-14)


def test_risk_difference_by_hand():
    # 0.1 - 0.2; var = 0.1*0.9/100 + 0.2*0.8/100 = 0.0025
    yi, vi = effects.risk_difference(10, 100, 20, 100)
    assert yi == pytest.approx(-0.1, rel=1e-14)
    assert vi == pytest.approx(0.0025, rel=1e-13)


def test_risk_difference_keeps_double_zero_with_corrected_variance():
    # 0/10 vs 0/20: RD = 0; variance on cells 0.5, 10.5, 0.5, 20.5 (arms 11, 21)
    yi, vi = effects.risk_difference(0, 10, 0, 20)
    assert yi == 0.0
    assert vi == pytest.approx(0.5 * 10.5 / 11**3 + 0.5 * 20.5 / 21**3, rel=1e-14)


def test_peto_by_hand():
    # 10/100 vs 20/100: E = 100*30/200 = 15, O - E = -5,
    # V = 100*100*30*170/(200^2 * 199)
    v = 100 * 100 * 30 * 170 / (200**2 * 199)
    yi, vi = effects.peto_log_or(10, 100, 20, 100)
    assert yi == pytest.approx(-5 / v, rel=1e-14)
    assert vi == pytest.approx(1 / v, rel=1e-14)
    assert np.isnan(effects.peto_log_or(0, 10, 0, 12)[0])


def test_mean_difference_by_hand():
    yi, vi = effects.mean_difference(10.0, 2.0, 10, 8.0, 3.0, 12)
    assert yi == 2.0
    assert vi == pytest.approx(4 / 10 + 9 / 12, rel=1e-15)


def test_hedges_g_by_hand():
    # s = sqrt((9*4 + 11*9)/20), J = 1 - 3/(4*22 - 9), g = 2/s * J,
    # var = 22/(10*12) + g^2/(2*(22 - 3.94))
    g = 2 / math.sqrt((9 * 4 + 11 * 9) / 20) * (1 - 3 / 79)
    yi, vi = effects.hedges_g(10.0, 2.0, 10, 8.0, 3.0, 12)
    assert yi == pytest.approx(g, rel=1e-14)
    assert vi == pytest.approx(22 / 120 + g**2 / (2 * 18.06), rel=1e-14)


def test_hedges_g_matches_revman():
    # CD007868, CMP-011.02, Reed 1973: 2.16 (2.52) n=387 vs 2.14 (2.55) n=379;
    # RevMan stored EFFECT_SIZE=0.007882149238500691, SE=0.07226716072312513
    yi, vi = effects.hedges_g(2.16, 2.52, 387, 2.14, 2.55, 379)
    assert yi == pytest.approx(0.007882149238500691, rel=1e-12)
    assert math.sqrt(vi) == pytest.approx(0.07226716072312513, rel=1e-12)


def test_vectorised_over_studies():
    yi, vi = effects.log_rr(
        np.array([10, 0]), np.array([100, 10]), np.array([20, 5]), 10 * np.array([10, 1])
    )
    assert yi.shape == (2,)
    assert yi[1] == pytest.approx(math.log(1 / 11))
    assert vi == pytest.approx([0.13, 2.0], rel=1e-13)


@pytest.mark.parametrize("measure", ["RR", "OR"])
def test_double_zero_and_double_all_are_not_estimable_for_ratios(measure):
    df = table([("both zero", 0, 10, 0, 12), ("both all", 8, 8, 9, 9), ("fine", 1, 10, 3, 12)])
    out = effects.effect_sizes(df, measure).to_frame()
    assert list(out["estimable"]) == [False, False, True]
    assert out["reason"].iloc[0] == effects.DOUBLE_ZERO
    assert out["reason"].iloc[1] == effects.DOUBLE_ALL
    assert out["reason"].iloc[2] is None
    assert out[["yi", "vi", "sei"]].iloc[:2].isna().all().all()


def test_effect_sizes_frame():
    df = table([("A", 0, 10, 5, 10), ("B", 10, 100, 20, 100)])
    df.index = [7, 9]
    out = effects.effect_sizes(df, "RD").to_frame()
    assert list(out.index) == [7, 9]
    assert list(out.columns[:6]) == ["study", "yi", "vi", "sei", "estimable", "reason"]
    assert list(out["cc_added"]) == [0.5, 0.0]
    assert list(out.loc[7, ["a_cc", "b_cc", "c_cc", "d_cc"]]) == [0.5, 10.5, 5.5, 5.5]
    assert out["sei"].to_numpy() == pytest.approx(np.sqrt(out["vi"].to_numpy()))
    assert out.loc[9, "yi"] == pytest.approx(-0.1)


def test_generic_and_continuous_frames():
    gen = study_table(pd.DataFrame(dict(comparison="c", outcome="o", study=["a", "b"],
                                        effect=[0.2, -0.1], se=[0.5, 0.25], log_scale=True)))  # fmt: skip
    out = effects.effect_sizes(gen, "GENERIC").to_frame()
    assert list(out["vi"]) == [0.25, 0.0625]
    assert "a_cc" not in out.columns


def test_measure_must_fit_the_data_type():
    df = table([("A", 1, 10, 2, 10)])
    with pytest.raises(
        DataError, match=r"study 'A', field 'measure': measure SMD needs continuous"
    ):
        effects.effect_sizes(df, "SMD")
    with pytest.raises(DataError, match=r"field 'measure': unknown measure 'HR'"):
        effects.effect_sizes(df, "HR")


def test_smd_needs_four_participants():
    df = study_table(pd.DataFrame([dict(comparison="c", outcome="o", study="tiny", mean_t=1.0,
                                        sd_t=1.0, n_t=1, mean_c=0.0, sd_c=1.0, n_c=2)]))  # fmt: skip
    out = effects.effect_sizes(df, "SMD").to_frame()
    assert not out["estimable"].iloc[0] and out["reason"].iloc[0] == effects.SMD_SMALL
