"""``analysis_report.json``: what reviewers corrected, counted while the export streams.

The analysis covers every correction in the database (the set the training gate counts).
``classification_distribution`` and ``risk_level_distribution`` count the model's labels;
``review_labels`` counts, over decision corrections, the labels reviewers gave and those
left out of the training files (a corrected decision drops the model's labels unless the
reviewer re-confirmed them).
Exclusions (suite situations, empty reasonings) apply to the training files only; the
report's ``quality`` and ``exported`` sections say how many records each file received.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from policy_desktop.store.decision import PolicyDecision
from policy_desktop.store.review_tallies import ReviewCount

REPORT_VERSION = 1

DANGEROUS_TARGETS: frozenset[str] = frozenset({"deny", "require_attestation", "require_mfa"})
"""A flip from ``allow`` to one of these: the model let through what a human stopped."""

CHANGE_PATTERNS: dict[str, str] = {
    "correct_decision": "decision_only",
    "correct_reasoning": "reasoning_only",
    "correct_both": "both",
}
REVIEW_LABEL_KEYS: tuple[str, ...] = (
    "decision_corrections", "classification_given", "risk_level_given",
    "classification_left_out", "risk_level_left_out",
)  # fmt: skip
NONE_KEY = "none"
"""Distribution key for a missing classification or risk level."""


def rate_row(count: ReviewCount) -> dict[str, Any]:
    """One group's labels, reviewed and corrected counts and correction rate."""
    return {**count.labels, "reviewed": count.reviewed, "corrections": count.corrections,
            "correction_rate": _share(count.corrections, count.reviewed)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _share(part: int, whole: int) -> float | None:
    return _round(part / whole) if whole else None


def _sorted_counts(counter: Counter[str]) -> dict[str, int]:
    """Most frequent first, ties by name."""
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


class CorrectionAnalysis:
    """Streaming counters over corrections; :meth:`to_dict` gives the report."""

    def __init__(self) -> None:
        self.total = 0
        self.final_decisions: Counter[str] = Counter()
        self.model_decisions: Counter[str] = Counter()
        self.classifications: Counter[str] = Counter()
        self.risk_levels: Counter[str] = Counter()
        self.patterns: Counter[str] = Counter(dict.fromkeys(CHANGE_PATTERNS.values(), 0))
        self.flips: dict[str, Counter[str]] = {}
        self.decision_changes = 0
        self.dangerous = 0
        self.empty_reasonings = 0
        self.review_labels: Counter[str] = Counter(dict.fromkeys(REVIEW_LABEL_KEYS, 0))

    def add(self, decision: PolicyDecision) -> None:
        """Count one correction (accepted decisions are not corrections: skip them)."""
        if decision.review_action not in CHANGE_PATTERNS:
            return
        self.total += 1
        final = decision.final_decision
        self.final_decisions[final] += 1
        self.model_decisions[decision.decision] += 1
        self.classifications[decision.classification or NONE_KEY] += 1
        self.risk_levels[decision.risk_level or NONE_KEY] += 1
        self.patterns[CHANGE_PATTERNS[decision.review_action]] += 1
        if final != decision.decision:
            self.decision_changes += 1
            self.flips.setdefault(decision.decision, Counter())[final] += 1
            if decision.decision == "allow" and final in DANGEROUS_TARGETS:
                self.dangerous += 1
        if not (decision.final_reasoning or "").strip():
            self.empty_reasonings += 1
        if decision.decision_corrected:
            labels = self.review_labels
            labels["decision_corrections"] += 1
            labels["classification_given"] += decision.review_classification is not None
            labels["risk_level_given"] += decision.review_risk_level is not None
            labels["classification_left_out"] += decision.final_classification is None
            labels["risk_level_left_out"] += decision.final_risk_level is None

    def flip_matrix(self) -> dict[str, dict[str, int]]:
        """Model decision -> human decision -> count, for corrections that changed it."""
        return {model: _sorted_counts(targets) for model, targets in sorted(self.flips.items())}

    def to_dict(self, *, by_model: Sequence[ReviewCount],
                by_prompt: Sequence[ReviewCount],
                quality: dict[str, Any], exported: dict[str, int]) -> dict[str, Any]:
        """The whole report (``quality`` and ``exported`` come from the export)."""
        return {
            "report_version": REPORT_VERSION,
            "scope": "every correction in the database (the training gate's count); "
                     "exclusions apply to the training files only",
            "total_corrections": self.total,
            "decision_distribution": _sorted_counts(self.final_decisions),
            "model_decision_distribution": _sorted_counts(self.model_decisions),
            "classification_distribution": _sorted_counts(self.classifications),
            "risk_level_distribution": _sorted_counts(self.risk_levels),
            "review_labels": dict(self.review_labels),
            "change_patterns": dict(self.patterns),
            "decision_flips": self.flip_matrix(),
            "dangerous_flips": {
                "definition": "model answered allow, the reviewer chose deny, "
                              "require_attestation or require_mfa",
                "count": self.dangerous,
                "share_of_corrections": _share(self.dangerous, self.total),
                "share_of_decision_changes": _share(self.dangerous, self.decision_changes),
            },
            "correction_rates": {
                "definition": "corrections / reviewed decisions",
                "by_model": [rate_row(row) for row in by_model],
                "by_prompt_version": [rate_row(row) for row in by_prompt],
            },
            "quality": {"empty_reasonings": self.empty_reasonings, **quality},
            "exported": exported,
        }
