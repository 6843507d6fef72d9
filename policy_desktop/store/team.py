"""The review team: who reviews, how well reviewers agree, adjudication, per-reviewer figures.

Agreement is measured on the overlap sample only: decisions whose blind second opinion
(slot 1 of :mod:`~policy_desktop.store.review_queue`) was given, so neither answer was
made knowing the other; later reviews by others (who saw the earlier ones) do not count.
Each reviewer's answer is their latest review still in effect.
"""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import combinations, pairwise

from policy_desktop.store.agreement import AgreementFigures, figures
from policy_desktop.store.decision import (
    CORRECTION_ACTIONS,
    UNDO_ACTION,
    PolicyDecision,
    derive_review_action,
    now_iso,
    parse_timestamp,
)
from policy_desktop.store.errors import DecisionNotFoundError, InvalidRecordError, StoreError
from policy_desktop.store.failures import guarded_method
from policy_desktop.store.log import PolicyDecisionLog
from policy_desktop.store.team_tables import CORE_TABLES, create_team_tables, has_team_tables
from policy_desktop.vocabulary import DECISIONS

SESSION_GAP_SECONDS = 600.0
"""Longer pauses between two reviews are breaks, not review time (for the pace)."""
_CHUNK = 500
PACE_REVIEWS = 2000
"""The pace is measured over each reviewer's latest this many reviews (a recent pace)."""


@dataclass(frozen=True)
class AgreementReport:
    """Inter-rater agreement over the overlap sample."""

    overall: AgreementFigures
    by_type: dict[str, AgreementFigures]
    """By the model's decision (the kind of case the reviewers judged)."""
    pairs: dict[tuple[str, str], AgreementFigures]
    """Cohen's κ of each pair of reviewers on the decisions both answered."""
    reviewers: list[str]
    by_month: dict[str, AgreementFigures] = field(default_factory=dict)
    """Over time: by the month (UTC, ``YYYY-MM``) each pair of answers was completed."""


@dataclass(frozen=True)
class ReviewerFigures:
    """One reviewer's work, for the team's own view (not a ranking)."""

    name: str
    reviews: int
    corrections: int
    shared: int
    """Overlap decisions this reviewer answered along with someone else."""
    agreement: float | None
    """Share of those answers that matched the other reviewer's."""
    median_seconds: float | None
    """Median time between consecutive reviews (breaks over 10 minutes left out)."""
    first: str | None = None
    last: str | None = None

    @property
    def per_hour(self) -> float | None:
        return 3600 / self.median_seconds if self.median_seconds else None


@dataclass(frozen=True)
class ReviewedBy:
    """One review a reviewer gave (for "who reviewed what")."""

    decision_id: str
    action: str
    review_decision: str | None
    timestamp: str
    in_effect: bool
    """False once undone."""


@dataclass
class _Answers:
    """Each overlap decision's answers by reviewer, and the model's decision."""

    by_decision: dict[str, dict[str, str]] = field(default_factory=dict)
    model: dict[str, str] = field(default_factory=dict)
    month: dict[str, str] = field(default_factory=dict)
    """``YYYY-MM`` of the later of the two answers (when the pair was complete)."""


class ReviewTeam:
    """Team-level views of one decision log."""

    def __init__(self, log: PolicyDecisionLog) -> None:
        self.log = log
        self._db = log.database
        self._p = self._db.param

    @property
    def display_name(self) -> str:
        """The log's name with any password masked (for failure messages)."""
        return self.log.display_name

    def _has_tables(self) -> bool:
        return has_team_tables(self._db, CORE_TABLES)

    # --- who -----------------------------------------------------------------------------

    @guarded_method
    def reviewers(self) -> list[str]:
        """Everyone who claimed or reviewed something, alphabetically."""
        names = {row[0] for row in self._db.execute_sql(
            "SELECT DISTINCT reviewer FROM reviews WHERE reviewer IS NOT NULL")}
        return _alphabetical(names | self._listed())

    def _listed(self) -> set[str]:
        """The names on the team's list (claimed, assigned or added)."""
        if not self._has_tables():
            return set()
        return {row[0] for row in self._db.execute_sql("SELECT name FROM reviewers")}

    @guarded_method
    def add_reviewer(self, name: str) -> None:
        """Put a reviewer on the list before their first claim (a second add is a no-op)."""
        if not name.strip():
            raise StoreError("a reviewer needs a name")
        with self.log.write_transaction():
            create_team_tables(self._db)
            self._db.execute_sql(
                f"INSERT INTO reviewers (name, added) VALUES ({self._p}, {self._p}) "
                "ON CONFLICT (name) DO NOTHING", (name, now_iso()))

    @guarded_method
    def reviews_by(self, name: str, limit: int = 20) -> list[ReviewedBy]:
        """What ``name`` reviewed: their latest ``limit`` review events, newest first,
        each marked whether it is still in effect (not undone)."""
        p = self._p
        rows = self._db.execute_sql(
            "SELECT id, decision_id, action, review_decision, timestamp FROM reviews "
            f"WHERE reviewer = {p} AND action <> {p} ORDER BY id DESC LIMIT {p}",
            (name, UNDO_ACTION, limit)).fetchall()
        ids = sorted({row[1] for row in rows})
        in_effect: set[int] = set()
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            stacks: dict[str, list[int]] = defaultdict(list)
            for event_id, decision_id, action in self._db.execute_sql(
                    "SELECT id, decision_id, action FROM reviews WHERE decision_id IN "
                    f"({', '.join([p] * len(chunk))}) ORDER BY decision_id, id", tuple(chunk)):
                stack = stacks[decision_id]
                if action == UNDO_ACTION:
                    if stack:
                        stack.pop()
                else:
                    stack.append(event_id)
            in_effect |= {event_id for stack in stacks.values() for event_id in stack}
        return [ReviewedBy(decision_id, action, answer, timestamp, event_id in in_effect)
                for event_id, decision_id, action, answer, timestamp in rows]

    # --- answers -------------------------------------------------------------------------

    def _effective(self, where: str = "", params: tuple[object, ...] = ()) -> dict[
            str, list[tuple[str | None, str, str | None, str]]]:
        """Review events still in effect per decision: (reviewer, action, answer, time)."""
        stacks: dict[str, list[tuple[str | None, str, str | None, str]]] = defaultdict(list)
        cursor = self._db.execute_sql(
            "SELECT decision_id, reviewer, action, review_decision, timestamp FROM reviews"
            + where + " ORDER BY decision_id, id", params)
        for decision_id, reviewer, action, answer, timestamp in cursor:
            stack = stacks[decision_id]
            if action == UNDO_ACTION:
                if stack:
                    stack.pop()
            else:
                stack.append((reviewer, action, answer, timestamp))
        return stacks

    def _overlap_answers(self) -> _Answers:
        """The two blind answers of each decision of the overlap sample (a tenth of the
        log or so: its review events are read; measured faster than a join in SQL)."""
        answers = _Answers()
        if not self._has_tables():
            return answers
        sample = "SELECT decision_id FROM review_claims WHERE slot = 1 AND done = 1"
        blind: dict[str, set[str]] = defaultdict(set)  # the two who answered unseen
        for decision_id, reviewer in self._db.execute_sql(
                "SELECT decision_id, reviewer FROM review_claims WHERE done = 1 "
                f"AND decision_id IN ({sample})"):
            blind[decision_id].add(reviewer)
        for decision_id, stack in self._effective(
                f" WHERE decision_id IN ({sample})").items():
            by_reviewer: dict[str, str] = {}
            latest = ""
            for reviewer, _, answer, timestamp in stack:
                if reviewer in blind[decision_id] and answer is not None:
                    by_reviewer[reviewer] = answer  # the latest one in effect
                    latest = max(latest, timestamp or "")
            if len(by_reviewer) >= 2:
                answers.by_decision[decision_id] = by_reviewer
                answers.month[decision_id] = latest[:7]
        for decision_id, model in self._db.execute_sql(
                f"SELECT decision_id, decision FROM decisions WHERE decision_id IN ({sample})"):
            answers.model[decision_id] = model
        return answers

    # --- agreement -----------------------------------------------------------------------

    @guarded_method
    def agreement(self) -> AgreementReport:
        """κ/α overall, by the model's decision, by month, and for each pair of reviewers."""
        return self._agreement_of(self._overlap_answers())

    @guarded_method
    def overview(self) -> tuple[AgreementReport, int, list[ReviewerFigures]]:
        """:meth:`agreement`, the size of the adjudication queue and
        :meth:`reviewer_figures` from one reading of the overlap sample (the Statistics tab)."""
        answers = self._overlap_answers()
        return (self._agreement_of(answers), len(self._awaiting(answers)),
                self._figures_of(answers))

    def _agreement_of(self, answers: _Answers) -> AgreementReport:
        units = {d: [by[r] for r in sorted(by)] for d, by in answers.by_decision.items()}
        by_type: dict[str, list[list[str]]] = defaultdict(list)
        by_month: dict[str, list[list[str]]] = defaultdict(list)
        for decision_id, unit in units.items():
            by_type[answers.model.get(decision_id, "?")].append(unit)
            by_month[answers.month.get(decision_id, "?")].append(unit)
        pair_units: dict[tuple[str, str], list[list[str]]] = defaultdict(list)
        for by in answers.by_decision.values():
            for a, b in combinations(sorted(by), 2):
                pair_units[a, b].append([by[a], by[b]])
        names = sorted({r for by in answers.by_decision.values() for r in by})
        return AgreementReport(
            overall=figures(list(units.values())),
            by_type={kind: figures(u) for kind, u in sorted(by_type.items())},
            pairs={pair: figures(u) for pair, u in sorted(pair_units.items())},
            reviewers=names,
            by_month={month: figures(u) for month, u in sorted(by_month.items())})

    # --- adjudication --------------------------------------------------------------------

    @guarded_method
    def disagreements(self) -> list[PolicyDecision]:
        """Overlap decisions whose reviewers answered differently, not yet adjudicated
        (the adjudication queue), newest first."""
        found = self.log.get_decisions(self._awaiting(self._overlap_answers()))
        return sorted(found.values(), key=lambda d: (d.timestamp or "", d.decision_id or ""),
                      reverse=True)

    def _awaiting(self, answers: _Answers) -> list[str]:
        """Ids of the split answers nobody adjudicated yet."""
        split = [d for d, by in answers.by_decision.items() if len(set(by.values())) > 1]
        settled = self._adjudicated(split)
        return [d for d in split if d not in settled]

    @guarded_method
    def answers_of(self, decision_id: str) -> dict[str, str]:
        """The reviewers' answers in effect for one decision (for the adjudicator)."""
        by_reviewer: dict[str, str] = {}
        for reviewer, _, answer, _ in self._effective(
                f" WHERE decision_id = {self._p}", (decision_id,)).get(decision_id, []):
            if reviewer is not None and answer is not None:
                by_reviewer[reviewer] = answer
        return by_reviewer

    @guarded_method
    def adjudicate(self, decision_id: str, adjudicator: str, decision: str) -> None:
        """Record the final answer of a disagreement (appended; the newest one counts)."""
        if decision not in DECISIONS:
            raise InvalidRecordError(f"{decision!r} is not one of {', '.join(DECISIONS)}")
        if not adjudicator.strip():
            raise StoreError("an adjudication needs the adjudicator's name")
        p = self._p
        with self.log.write_transaction():
            if self.log.get_decision(decision_id) is None:
                raise DecisionNotFoundError(decision_id)
            create_team_tables(self._db)
            self._db.execute_sql(
                "INSERT INTO adjudications (id, decision_id, adjudicator, review_decision, "
                f"timestamp) VALUES ({p}, {p}, {p}, {p}, {p})",
                (uuid.uuid4().hex, decision_id, adjudicator, decision, now_iso()))

    def _adjudicated(self, decision_ids: Iterable[str]) -> dict[str, str]:
        """The newest adjudicated answer of each of ``decision_ids`` that has one."""
        ids = list(decision_ids)
        found: dict[str, str] = {}
        if not ids or not self._has_tables():
            return found
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            marks = ", ".join([self._p] * len(chunk))
            for decision_id, answer in self._db.execute_sql(
                    "SELECT decision_id, review_decision FROM adjudications "
                    f"WHERE decision_id IN ({marks}) ORDER BY timestamp, id", tuple(chunk)):
                found[decision_id] = answer
        return found

    @guarded_method
    def final_human_decisions(self, decision_ids: Iterable[str]) -> dict[str, str | None]:
        """The human decision that counts, by id: the adjudicated answer; for an overlap
        decision whose reviewers disagree and that nobody adjudicated yet, ``None``
        (not settled); otherwise the review in effect (``None`` when unreviewed)."""
        ids = list(decision_ids)
        decisions = self.log.get_decisions(ids)
        adjudicated = self._adjudicated(ids)
        answers = self._overlap_answers().by_decision
        final: dict[str, str | None] = {}
        for decision_id in ids:
            decision = decisions.get(decision_id)
            if decision is None:
                continue
            if decision_id in adjudicated:
                final[decision_id] = adjudicated[decision_id]
            elif len(set(answers.get(decision_id, {}).values())) > 1:
                final[decision_id] = None
            else:
                final[decision_id] = decision.final_decision if decision.reviewed else None
        return final

    def resolved(self, decisions: Iterable[PolicyDecision]) -> Iterator[PolicyDecision]:
        """``decisions`` (e.g. :meth:`PolicyDecisionLog.iter_corrections`) as training data
        should see them: an adjudicated one carries the adjudicated decision (its action
        derived again; the reasoning and labels kept only when the latest review chose that
        decision); an overlap decision still awaiting adjudication is left out; others
        unchanged."""
        answers = self._overlap_answers().by_decision
        batch: list[PolicyDecision] = []
        for decision in decisions:
            batch.append(decision)
            if len(batch) >= _CHUNK:
                yield from self._resolve_batch(batch, answers)
                batch = []
        yield from self._resolve_batch(batch, answers)

    def _resolve_batch(self, batch: list[PolicyDecision],
                       answers: dict[str, dict[str, str]]) -> Iterator[PolicyDecision]:
        adjudicated = self._adjudicated(d.decision_id for d in batch if d.decision_id)
        for decision in batch:
            decision_id = decision.decision_id or ""
            final = adjudicated.get(decision_id)
            if final is None:
                if len(set(answers.get(decision_id, {}).values())) <= 1:
                    yield decision
                continue
            # The latest review's reasoning and labels were chosen for its own answer:
            # they travel only when the adjudication agrees with it.
            same = decision.review_decision == final
            reasoning = decision.review_reasoning if same else None
            yield replace(decision, review_decision=final, review_reasoning=reasoning,
                          review_classification=decision.review_classification if same else None,
                          review_risk_level=decision.review_risk_level if same else None,
                          review_action=derive_review_action(
                              decision.decision, decision.reasoning, final, reasoning))

    def final_human_decision(self, decision_id: str) -> str | None:
        """:meth:`final_human_decisions` for one decision."""
        return self.final_human_decisions([decision_id]).get(decision_id)

    # --- per reviewer --------------------------------------------------------------------

    @guarded_method
    def reviewer_figures(self) -> list[ReviewerFigures]:
        """Reviews, corrections, agreement with others and pace, alphabetically by name.

        Counted in SQL for decisions whose history has no undo (nearly all); those with
        one go through the review stack. The pace is the median time between the
        reviewer's latest :data:`PACE_REVIEWS` reviews given (undone ones included: the
        time was spent), breaks over :data:`SESSION_GAP_SECONDS` left out.
        """
        return self._figures_of(self._overlap_answers())

    def _figures_of(self, answers: _Answers) -> list[ReviewerFigures]:
        undone = f"SELECT decision_id FROM reviews WHERE action = '{UNDO_ACTION}'"
        corrections_sql = ", ".join(f"'{action}'" for action in sorted(CORRECTION_ACTIONS))
        reviews: dict[str, int] = defaultdict(int)
        corrections: dict[str, int] = defaultdict(int)
        first: dict[str, str] = {}
        last: dict[str, str] = {}

        def seen(name: str, stamps: Iterable[str | None]) -> None:
            for stamp in stamps:
                if stamp:
                    first[name] = min(first.get(name, stamp), stamp)
                    last[name] = max(last.get(name, stamp), stamp)

        for name, count, corrected, earliest, latest in self._db.execute_sql(
                "SELECT reviewer, COUNT(*), "
                f"SUM(CASE WHEN action IN ({corrections_sql}) THEN 1 ELSE 0 END), "
                "MIN(timestamp), MAX(timestamp) FROM reviews WHERE reviewer IS NOT NULL "
                f"AND decision_id NOT IN ({undone}) GROUP BY reviewer"):
            reviews[name] += int(count)
            corrections[name] += int(corrected or 0)
            seen(name, (earliest, latest))
        for stack in self._effective(f" WHERE decision_id IN ({undone})").values():
            for name, action, _, timestamp in stack:
                if name is not None:
                    reviews[name] += 1
                    corrections[name] += action in CORRECTION_ACTIONS
                    seen(name, (timestamp,))
        shared: dict[str, int] = defaultdict(int)
        agreeing: dict[str, float] = defaultdict(float)
        for by in answers.by_decision.values():
            for reviewer, answer in by.items():
                others = [a for r, a in by.items() if r != reviewer]
                shared[reviewer] += 1
                agreeing[reviewer] += sum(a == answer for a in others) / len(others)
        names = set(reviews) | self._listed() | {row[0] for row in self._db.execute_sql(
            f"SELECT DISTINCT reviewer FROM reviews WHERE decision_id IN ({undone}) "
            "AND reviewer IS NOT NULL")}
        paces = self._recent_stamps(names)
        return [ReviewerFigures(
            name=name, reviews=reviews.get(name, 0), corrections=corrections.get(name, 0),
            shared=shared.get(name, 0),
            agreement=agreeing[name] / shared[name] if shared.get(name) else None,
            median_seconds=_median_gap(paces.get(name, [])) if reviews.get(name) else None,
            first=first.get(name), last=last.get(name)) for name in _alphabetical(names)]

    def _recent_stamps(self, names: Iterable[str]) -> dict[str, list[str]]:
        """Each reviewer's latest :data:`PACE_REVIEWS` review times, oldest first (read
        backwards along the append-only ids: no sort of the whole history)."""
        p = self._p
        return {name: sorted(row[0] for row in self._db.execute_sql(
            f"SELECT timestamp FROM reviews WHERE reviewer = {p} AND action <> {p} "
            f"ORDER BY id DESC LIMIT {p}", (name, UNDO_ACTION, PACE_REVIEWS + 1)))
            for name in names}


def _alphabetical(names: Iterable[str]) -> list[str]:
    return sorted(names, key=lambda name: (name.casefold(), name))


def _median_gap(stamps: list[str]) -> float | None:
    """Median seconds between consecutive reviews, pauses over the session gap left out."""
    moments = []
    for stamp in stamps:
        try:
            moments.append(parse_timestamp(stamp))
        except ValueError:
            continue
    gaps = [(b - a).total_seconds() for a, b in pairwise(moments)]
    working = [gap for gap in gaps if 0 <= gap <= SESSION_GAP_SECONDS]
    return statistics.median(working) if working else None
