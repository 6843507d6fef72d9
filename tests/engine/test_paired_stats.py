"""McNemar's exact test and Newcombe's paired interval against hand and published values."""

import math

import pytest

from policy_desktop.engine.paired_stats import (
    Z_95,
    compare_counts,
    mcnemar_exact,
    paired_accuracy,
    wilson_interval,
)


def test_mcnemar_exact_hand_computed_tails():
    # b=1, c=5: n=6, P(X<=1) = (1 + 6) / 64, two-sided = 14/64.
    assert mcnemar_exact(1, 5) == pytest.approx(14 / 64)
    assert mcnemar_exact(5, 1) == pytest.approx(14 / 64)
    # b=0, c=5: 2 * 1/32.
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    # b=0, c=1: 2 * 1/2 = 1, the smallest sample says nothing.
    assert mcnemar_exact(0, 1) == 1.0
    # Balanced: 2 * P(X<=3 | n=6) = 2 * 42/64 > 1, capped at 1.
    assert mcnemar_exact(3, 3) == 1.0


def test_mcnemar_without_discordant_pairs_is_one():
    assert mcnemar_exact(0, 0) == 1.0


def test_mcnemar_rejects_negative_counts():
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def test_cavo_2012_matches_the_published_values():
    # Fagerland, Lydersen & Laake, Statistical Analysis of Contingency Tables, ch. 8:
    # table (59, 6 / 16, 80); McNemar exact conditional P = 0.052479; Newcombe
    # square-and-add for pi_1+ - pi_+1: -0.0621 (-0.1186 to -0.0046). Ours is B - A.
    result = compare_counts(59, 6, 16, 80)
    assert result.n == 161
    assert result.b == 6 and result.c == 16
    assert result.p_value == pytest.approx(0.052479, abs=5e-7)
    assert result.difference == pytest.approx(10 / 161)
    assert result.ci_low == pytest.approx(0.0046, abs=5e-5)
    assert result.ci_high == pytest.approx(0.1186, abs=5e-5)


def test_all_concordant_still_has_an_interval():
    # b = c = 0 and every answer right: phi = 0 (empty margins), Wilson lower bound for
    # 10/10 is 1 / (1 + z^2/10), so the interval is +-(1 - that) around 0.
    result = compare_counts(10, 0, 0, 0)
    half = 1 - 1 / (1 + Z_95**2 / 10)
    assert result.p_value == 1.0
    assert result.difference == 0.0
    assert result.ci_low == pytest.approx(-half)
    assert result.ci_high == pytest.approx(half)
    assert half == pytest.approx(0.27753, abs=1e-5)


def test_no_cases_gives_no_numbers():
    result = paired_accuracy([], [])
    assert result.n == 0
    assert result.accuracy_a is None and result.accuracy_b is None
    assert result.difference is None and result.ci_low is None and result.ci_high is None
    assert result.p_value == 1.0


def test_outcomes_are_tallied_into_the_table():
    a = [True, True, False, False, True, False]
    b = [True, False, True, True, True, False]
    result = paired_accuracy(a, b)
    assert (result.both_right, result.b, result.c, result.both_wrong) == (2, 1, 2, 1)
    assert result.accuracy_a == pytest.approx(3 / 6)
    assert result.accuracy_b == pytest.approx(4 / 6)
    assert result.difference == pytest.approx(1 / 6)
    assert result.ci_low < result.difference < result.ci_high
    assert result.p_value == 1.0  # 2 * P(X<=1 | n=3) = 2 * 4/8


def test_unequal_lengths_are_refused():
    with pytest.raises(ValueError):
        paired_accuracy([True], [True, False])


def test_wilson_interval_hand_computed():
    # 0 of 10: the upper bound is (z^2/10) / (1 + z^2/10).
    low, high = wilson_interval(0, 10)
    z2 = Z_95**2
    assert low == 0.0
    assert high == pytest.approx((z2 / 10) / (1 + z2 / 10))
    # 5 of 10: centred on 0.5, half-width z*sqrt(0.025 + z^2/400)/(1 + z^2/10).
    low, high = wilson_interval(5, 10)
    half = Z_95 * math.sqrt(0.025 + z2 / 400) / (1 + z2 / 10)
    assert (low, high) == (pytest.approx(0.5 - half), pytest.approx(0.5 + half))


def test_interval_stays_inside_minus_one_one():
    result = compare_counts(0, 0, 30, 0)  # A always wrong, B always right
    assert result.difference == 1.0
    assert -1.0 <= result.ci_low <= result.ci_high <= 1.0
    assert result.p_value == pytest.approx(2 / 2**30)
