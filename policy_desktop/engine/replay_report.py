"""What a replay found: the flip matrix, accuracy against the humans, dangerous flips.

* **Flip matrix** — original decision → candidate decision, with the pairs in each cell.
* **Accuracy** — on the originals that have a final human decision (reviewed; for a
  team, the adjudicated answer; an open disagreement counts as not reviewed): how
  often the original and the candidate agree with it, McNemar's exact test on the
  paired outcomes and Newcombe's 95 % interval for candidate − original
  (:mod:`policy_desktop.engine.paired_stats`).
* **Dangerous flips** — the candidate allows where the reference asked for more: the
  human's final decision when there is one, else the original decision, is ``deny``,
  ``require_attestation`` or ``require_mfa``. Reviewed ones come first.
* **Breakdowns** — the same counts per value of the situation's ``rule``, ``role`` and
  ``action`` fields, where situations have them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from policy_desktop.engine.paired_stats import PairedComparison, paired_accuracy
from policy_desktop.store import PolicyDecision, PolicyDecisionLog, RunRecord
from policy_desktop.store.replay import ReplayStore
from policy_desktop.store.team import ReviewTeam
from policy_desktop.vocabulary import LOGGED_DECISIONS

ALLOW = "allow"
RESTRICTIVE: tuple[str, ...] = ("deny", "require_attestation", "require_mfa")
BREAKDOWN_FIELDS: tuple[str, ...] = ("rule", "role", "action")


@dataclass(frozen=True)
class ReplayPair:
    """One original, the candidate's answer to the same situation, and the human's."""

    original: PolicyDecision
    replay: PolicyDecision
    human: str | None

    @property
    def flipped(self) -> bool:
        return self.original.decision != self.replay.decision

    @property
    def reference(self) -> str:
        """What the candidate is held to: the human's decision, else the original's."""
        return self.human or self.original.decision

    @property
    def dangerous(self) -> bool:
        return self.replay.decision == ALLOW and self.reference in RESTRICTIVE

    def to_dict(self) -> dict[str, Any]:
        return {"original_id": self.original.decision_id, "replay_id": self.replay.decision_id,
                "original": self.original.decision, "candidate": self.replay.decision,
                "human": self.human, "situation": self.original.situation}


@dataclass
class BreakdownRow:
    """The replay's counts among the situations with one value of a field."""

    value: str
    pairs: int = 0
    flips: int = 0
    dangerous: int = 0
    reviewed: int = 0
    original_right: int = 0
    candidate_right: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ReplayReport:
    """Everything the terminal and the window show about one replay run."""

    run: RunRecord
    planned: int
    pairs: list[ReplayPair]
    matrix: dict[tuple[str, str], list[ReplayPair]]
    comparison: PairedComparison
    dangerous: list[ReplayPair]
    breakdowns: dict[str, list[BreakdownRow]] = field(default_factory=dict)
    selection: dict[str, Any] = field(default_factory=dict)

    @property
    def replayed(self) -> int:
        return len(self.pairs)

    @property
    def flips(self) -> int:
        return sum(pair.flipped for pair in self.pairs)

    def labels(self) -> list[str]:
        """The decisions that occur on either side, in the vocabulary's order."""
        used = {label for key in self.matrix for label in key}
        ordered = [label for label in LOGGED_DECISIONS if label in used]
        return ordered + sorted(used - set(ordered))

    def cell(self, original: str, candidate: str) -> list[ReplayPair]:
        return self.matrix.get((original, candidate), [])

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (``replay --json``)."""
        c = self.comparison
        return {
            "replay_run": self.run.run_id, "status": self.run.status,
            "model": self.run.model_name, "model_version": self.run.model_version,
            "prompt_version": self.run.prompt_version, "selection": self.selection,
            "planned": self.planned, "replayed": self.replayed, "flips": self.flips,
            "flip_matrix": [{"original": o, "candidate": k, "count": len(pairs),
                             "original_ids": [p.original.decision_id for p in pairs],
                             "replay_ids": [p.replay.decision_id for p in pairs]}
                            for (o, k), pairs in sorted(self.matrix.items())],
            "accuracy": {"reviewed": c.n, "original": c.accuracy_a, "candidate": c.accuracy_b,
                         "original_right_candidate_wrong": c.b,
                         "original_wrong_candidate_right": c.c,
                         "mcnemar_exact_p": c.p_value, "difference": c.difference,
                         "ci95_low": c.ci_low, "ci95_high": c.ci_high,
                         "interval": "Newcombe hybrid score (paired), 95%"},
            "dangerous_flips": [pair.to_dict() for pair in self.dangerous],
            "breakdowns": {name: [row.to_dict() for row in rows]
                           for name, rows in self.breakdowns.items()},
        }


def _field_value(situation: dict[str, Any], name: str) -> str | None:
    value = situation.get(name)
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def breakdowns(pairs: Iterable[ReplayPair],
               fields: tuple[str, ...] = BREAKDOWN_FIELDS) -> dict[str, list[BreakdownRow]]:
    """Per value of each field (only fields some situation has), most pairs first."""
    tables: dict[str, dict[str, BreakdownRow]] = defaultdict(dict)
    for pair in pairs:
        for name in fields:
            value = _field_value(pair.original.situation, name)
            if value is None:
                continue
            row = tables[name].setdefault(value, BreakdownRow(value))
            row.pairs += 1
            row.flips += pair.flipped
            row.dangerous += pair.dangerous
            if pair.human is not None:
                row.reviewed += 1
                row.original_right += pair.original.decision == pair.human
                row.candidate_right += pair.replay.decision == pair.human
    return {name: sorted(tables[name].values(), key=lambda r: (-r.pairs, r.value))
            for name in fields if name in tables}


def build_report(pairs: list[ReplayPair], run: RunRecord, planned: int,
                 selection: dict[str, Any] | None = None) -> ReplayReport:
    """The report of these pairs (no database needed: the tests build pairs by hand)."""
    matrix: dict[tuple[str, str], list[ReplayPair]] = defaultdict(list)
    for pair in pairs:
        matrix[(pair.original.decision, pair.replay.decision)].append(pair)
    judged = [pair for pair in pairs if pair.human is not None]
    comparison = paired_accuracy([p.original.decision == p.human for p in judged],
                                 [p.replay.decision == p.human for p in judged])
    dangerous = sorted((pair for pair in pairs if pair.dangerous),
                       key=lambda p: (p.human is None, not p.flipped))
    return ReplayReport(run=run, planned=planned, pairs=pairs, matrix=dict(matrix),
                        comparison=comparison, dangerous=dangerous,
                        breakdowns=breakdowns(pairs), selection=selection or {})


def replay_report(log: PolicyDecisionLog, run_id: str) -> ReplayReport:
    """The report of a replay run (a unique prefix of its id is enough)."""
    store = ReplayStore(log)
    run = log.get_run(run_id)
    if run is None or not store.is_replay(run.run_id):
        raise ValueError(f"no replay run {run_id!r} in {log.display_name}")
    found = list(store.pairs(run.run_id))
    humans = ReviewTeam(log).final_human_decisions(
        [original.decision_id or "" for original, _ in found])
    pairs = [ReplayPair(original, answer, humans.get(original.decision_id or ""))
             for original, answer in found]
    return build_report(pairs, run, len(store.links(run.run_id)), store.selection(run.run_id))
