"""Paired comparison of two deciders on the same cases: McNemar and a 95 % interval.

Both deciders (A = the original, B = the candidate) answered the same n cases and each
answer is right or wrong against the human final decision. Only the discordant pairs
carry information about which is better:

    b = A right, B wrong        c = A wrong, B right

* ``mcnemar_exact(b, c)`` — McNemar's exact test: under "equally good" each discordant
  pair is a fair coin, so the two-sided p-value is
  ``min(1, 2 * P(X <= min(b, c)))`` for X ~ Binomial(b + c, 1/2); 1.0 when b + c = 0.
* ``paired_accuracy(outcomes_a, outcomes_b)`` — both accuracies, the difference
  ``accuracy_b - accuracy_a`` (= (c - b) / n) and its 95 % interval by **Newcombe's
  hybrid score method for paired data** (Newcombe 1998, "Improved confidence intervals
  for the difference between binomial proportions based on paired data", method 10,
  the square-and-add form of Fagerland, Lydersen & Laake's "Statistical Analysis of
  Contingency Tables", ch. 8): Wilson score intervals for each accuracy combined with the
  correlation phi of the 2x2 table, where Newcombe's correction shrinks a positive
  ad - bc by n/2 (to no less than 0) and phi = 0 when a margin is empty. Unlike the Wald
  interval it stays inside [-1, 1] and does not collapse to a point when b = c = 0.

With n = 0 there is nothing to compare: the accuracies, the difference and the interval
are None and the p-value is 1.0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z_95 = 1.959963984540054  # the 97.5 % point of the standard normal


@dataclass(frozen=True)
class PairedComparison:
    """A's and B's accuracy on the same n cases, McNemar's p and the difference's interval."""

    n: int
    accuracy_a: float | None
    accuracy_b: float | None
    b: int  # A right, B wrong
    c: int  # A wrong, B right
    p_value: float
    difference: float | None  # accuracy_b - accuracy_a
    ci_low: float | None
    ci_high: float | None
    both_right: int = 0
    both_wrong: int = 0


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs."""
    if b < 0 or c < 0:
        raise ValueError("discordant counts cannot be negative")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    # Exact integer arithmetic: the tail's numerator over 2**n, no rounding until the end.
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / 2**n)


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion (n > 0)."""
    if n <= 0:
        raise ValueError("the Wilson interval needs n > 0")
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def compare_counts(
    both_right: int, only_a: int, only_b: int, both_wrong: int, z: float = Z_95
) -> PairedComparison:
    """The paired comparison from the 2x2 table's four cells."""
    cells = (both_right, only_a, only_b, both_wrong)
    if any(cell < 0 for cell in cells):
        raise ValueError("counts cannot be negative")
    n = sum(cells)
    p_value = mcnemar_exact(only_a, only_b)
    if n == 0:
        return PairedComparison(0, None, None, 0, 0, p_value, None, None, None, 0, 0)
    a, b, c, d = cells
    right_a, right_b = a + b, a + c
    p_a, p_b = right_a / n, right_b / n
    low_a, high_a = wilson_interval(right_a, n, z)
    low_b, high_b = wilson_interval(right_b, n, z)
    phi = _corrected_phi(a, b, c, d)
    difference = p_b - p_a
    # Newcombe's method 10 for theta = p_b - p_a (B in the role of his p1).
    below_b, above_a = p_b - low_b, high_a - p_a
    above_b, below_a = high_b - p_b, p_a - low_a
    delta = math.sqrt(max(0.0, below_b**2 - 2 * phi * below_b * above_a + above_a**2))
    epsilon = math.sqrt(max(0.0, above_b**2 - 2 * phi * above_b * below_a + below_a**2))
    return PairedComparison(
        n=n,
        accuracy_a=p_a,
        accuracy_b=p_b,
        b=b,
        c=c,
        p_value=p_value,
        difference=difference,
        ci_low=max(-1.0, difference - delta),
        ci_high=min(1.0, difference + epsilon),
        both_right=a,
        both_wrong=d,
    )


def _corrected_phi(a: int, b: int, c: int, d: int) -> float:
    """Newcombe's phi: ad - bc shrunk toward 0 by n/2 when positive; 0 on an empty margin."""
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    if margins == 0:
        return 0.0
    cross = a * d - b * c
    n = a + b + c + d
    if cross > n / 2:
        cross_used = cross - n / 2
    elif cross >= 0:
        cross_used = 0.0
    else:
        cross_used = float(cross)
    return cross_used / math.sqrt(margins)


def paired_accuracy(
    outcomes_a: Sequence[bool], outcomes_b: Sequence[bool], z: float = Z_95
) -> PairedComparison:
    """Compare two deciders from their per-case right/wrong outcomes (same cases, same order)."""
    if len(outcomes_a) != len(outcomes_b):
        raise ValueError(
            f"paired outcomes need the same cases: {len(outcomes_a)} and {len(outcomes_b)}"
        )
    both_right = only_a = only_b = both_wrong = 0
    for right_a, right_b in zip(outcomes_a, outcomes_b, strict=True):
        if right_a and right_b:
            both_right += 1
        elif right_a:
            only_a += 1
        elif right_b:
            only_b += 1
        else:
            both_wrong += 1
    return compare_counts(both_right, only_a, only_b, both_wrong, z=z)
