"""Cohen's κ and Krippendorff's α against values worked out by hand."""

from __future__ import annotations

import pytest

from policy_desktop.store.agreement import (
    cohen_kappa,
    figures,
    krippendorff_alpha,
    observed_agreement,
)

A, D, M = "allow", "deny", "require_mfa"
# Ten decisions, two reviewers: both allow 4, allow/deny 2, deny/allow 1, both deny 3.
TABLE = [(A, A)] * 4 + [(A, D)] * 2 + [(D, A)] + [(D, D)] * 3


def test_kappa_of_a_two_by_two_table() -> None:
    # p_o = 7/10; first rater allow 6 deny 4, second allow 5 deny 5: p_e = .6·.5 + .4·.5 = .5
    # κ = (.7 - .5) / (1 - .5) = 0.4
    assert cohen_kappa(TABLE) == pytest.approx(0.4)


def test_alpha_of_the_same_table() -> None:
    # Coincidences: o_AA = 8, o_DD = 6, o_AD = o_DA = 3; n_A = 11, n_D = 9, n = 20.
    # α = 1 - 19 · 6 / (2 · 11 · 9) = 1 - 114/198 = 14/33
    assert krippendorff_alpha(TABLE) == pytest.approx(14 / 33)


def test_alpha_with_three_reviewers() -> None:
    # Units (A,A,A), (A,A,D), (D,D,D): each ordered pair weighs 1/2.
    # o_AA = 3 + 1 = 4, o_AD = o_DA = 1, o_DD = 3; n_A = 5, n_D = 4, n = 9.
    # α = 1 - 8 · 2 / (2 · 5 · 4) = 0.6
    assert krippendorff_alpha([(A, A, A), (A, A, D), (D, D, D)]) == pytest.approx(0.6)


def test_alpha_skips_units_with_one_answer_and_allows_missing_ones() -> None:
    units = [(A, A, A), (A, A, D), (D, D, D), (M,), (A, D)]
    # Adds a two-answer unit (weight 1): o_AD, o_DA += 1 → o_AA 4, o_AD 2, o_DA 2, o_DD 3,
    # n_A = 6, n_D = 5, n = 11: α = 1 - 10 · 4 / (2 · 6 · 5) = 1/3
    assert krippendorff_alpha(units) == pytest.approx(1 / 3)


def test_perfect_agreement_is_one() -> None:
    table = [(A, A), (D, D), (M, M), (A, A)]
    assert cohen_kappa(table) == pytest.approx(1.0)
    assert krippendorff_alpha(table) == pytest.approx(1.0)
    assert observed_agreement(table) == 1.0


def test_one_category_only_is_undefined_not_a_number() -> None:
    table = [(A, A)] * 5
    assert cohen_kappa(table) is None
    assert krippendorff_alpha(table) is None
    assert observed_agreement(table) == 1.0


def test_agreement_no_better_than_chance() -> None:
    # Each rater half allow, half deny, agreeing half the time: p_o = p_e = .5, κ = 0.
    # α corrects for the small sample: o_AA = o_DD = o_AD = o_DA = 2, n_A = n_D = 4, n = 8;
    # α = 1 - 7 · 4 / (2 · 4 · 4) = 1/8
    table = [(A, A), (A, D), (D, A), (D, D)]
    assert cohen_kappa(table) == pytest.approx(0.0)
    assert krippendorff_alpha(table) == pytest.approx(0.125)


def test_nothing_rated_twice() -> None:
    assert cohen_kappa([]) is None and krippendorff_alpha([(A,), (D,)]) is None
    assert figures([(A,)]) == figures([])


def test_figures_give_kappa_only_for_pairs() -> None:
    pairs = figures(TABLE)
    assert (pairs.units, pairs.observed) == (10, 0.7)
    assert pairs.kappa == pytest.approx(0.4) and pairs.alpha == pytest.approx(14 / 33)
    three = figures([(A, A, A), (A, A, D), (D, D, D)])
    assert three.kappa is None and three.alpha == pytest.approx(0.6)
