"""Inter-rater agreement on nominal answers: Cohen's κ and Krippendorff's α.

Both are ``None`` when undefined: no unit rated twice, or only one category used
anywhere (then chance agreement is certain, and κ and α are 0/0; the observed
agreement still says how often the reviewers matched).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import permutations


@dataclass(frozen=True)
class AgreementFigures:
    """Agreement over some units (decisions rated by two or more reviewers)."""

    units: int
    observed: float | None
    """Share of agreeing pairs of answers within a unit."""
    kappa: float | None
    """Cohen's κ; only where every unit has exactly two answers."""
    alpha: float | None
    """Krippendorff's α (nominal), any number of answers per unit."""


def observed_agreement(units: Sequence[Sequence[str]]) -> float | None:
    """Share of agreeing (unordered) pairs of answers inside units with two or more."""
    agree = total = 0
    for answers in units:
        count = Counter(answers)
        n = len(answers)
        if n < 2:
            continue
        total += n * (n - 1) // 2
        agree += sum(c * (c - 1) // 2 for c in count.values())
    return agree / total if total else None


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's κ of two raters: ``pairs`` holds (first rater's, second rater's) answers."""
    if not pairs:
        return None
    n = len(pairs)
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    observed = sum(a == b for a, b in pairs) / n
    expected = sum(first[c] * second[c] for c in first) / (n * n)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


def krippendorff_alpha(units: Sequence[Sequence[str]]) -> float | None:
    """Krippendorff's α for nominal data (units with fewer than two answers are skipped).

    From the coincidence matrix: each ordered pair of answers in a unit of ``m``
    answers counts ``1 / (m - 1)``; α = 1 - (n - 1) · Σ_{c≠k} o_ck / Σ_{c≠k} n_c n_k.
    """
    coincidences: defaultdict[tuple[str, str], float] = defaultdict(float)
    for answers in units:
        m = len(answers)
        if m < 2:
            continue
        for a, b in permutations(answers, 2):
            coincidences[a, b] += 1 / (m - 1)
    totals: defaultdict[str, float] = defaultdict(float)
    for (a, _), weight in coincidences.items():
        totals[a] += weight
    n = sum(totals.values())
    if n == 0:
        return None
    disagreeing = sum(w for (a, b), w in coincidences.items() if a != b)
    expected = sum(totals[a] * totals[b] for a in totals for b in totals if a != b)
    if expected == 0:
        return None
    return 1 - (n - 1) * disagreeing / expected


def figures(units: Sequence[Sequence[str]]) -> AgreementFigures:
    """Observed agreement, κ (when every unit has exactly two answers) and α."""
    rated = [list(answers) for answers in units if len(answers) >= 2]
    two = all(len(answers) == 2 for answers in rated)
    pairs = [(answers[0], answers[1]) for answers in rated]
    return AgreementFigures(
        units=len(rated), observed=observed_agreement(rated),
        kappa=cohen_kappa(pairs) if two else None, alpha=krippendorff_alpha(rated))
