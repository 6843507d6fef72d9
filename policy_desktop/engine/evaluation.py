"""Semantic scoring of a model answer against a scenario's expectation (Qt-free).

A scenario expects a decision and lists the *key points* a good reasoning should make. The
decision is compared exactly (after trimming and lower-casing); each key point is matched
by cosine similarity of sentence embeddings, against the whole reasoning and against each of
its sentences, so a point buried in a long reasoning is still found.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from policy_desktop.engine.embeddings import Embedder, TextEncoder
from policy_desktop.vocabulary import UNPARSEABLE

__all__ = [
    "DEFAULT_MATCH_THRESHOLD",
    "DEFAULT_PASS_COVERAGE",
    "Embedder",
    "Evaluation",
    "SemanticEvaluator",
    "split_sentences",
]

DEFAULT_MATCH_THRESHOLD = 0.5
"""Cosine similarity at or above which a key point counts as stated."""

DEFAULT_PASS_COVERAGE = 0.5
"""Share of key points a reasoning must state (with a correct decision) to pass."""

_BULLET_LINE = re.compile(r"^\s*(?:[-*+•‣◦▪·–—]+|\(?\d{1,3}[.)]|\(?[a-zA-Z][)])\s+")
_INLINE_BULLET = re.compile(r"\s*[•‣◦▪]\s*")
# A sentence ends at . ! ? (optionally followed by one closing quote or bracket) when
# whitespace follows, and at every semicolon.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"'”’)\]]))\s+|;\s*")
_ABBREVIATION_END = re.compile(r"\b(?:e\.g|i\.e|vs|cf|approx|incl|mr|mrs|ms|dr)\.$", re.IGNORECASE)
_HAS_WORD = re.compile(r"\w")


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into stripped, non-empty sentences.

    Boundaries are line breaks, bullet markers (``-``, ``*``, ``•``, ``1.``, ``2)``, ``a)``
    at the start of a line; ``•`` anywhere), ``;`` and ``.``/``!``/``?`` followed by
    whitespace. Decimals (``2.5``), dotted names (``prod.db``) and common abbreviations
    (``e.g.``, ``i.e.``, ``vs.``) do not end a sentence. Pieces without any letter or digit
    (``---``, ``...``) are dropped.
    """
    sentences: list[str] = []
    for raw_line in text.splitlines():
        line = _BULLET_LINE.sub("", raw_line, count=1)
        for chunk in _INLINE_BULLET.split(line):
            pending = ""
            for piece in _SENTENCE_END.split(chunk):
                pending = f"{pending} {piece}" if pending else piece
                if _ABBREVIATION_END.search(pending.rstrip()):
                    continue  # "e.g." is not the end of a sentence: glue the next piece on
                _append_sentence(sentences, pending)
                pending = ""
            _append_sentence(sentences, pending)
    return sentences


def _append_sentence(sentences: list[str], piece: str) -> None:
    piece = piece.strip().rstrip(";").strip()
    if _HAS_WORD.search(piece):
        sentences.append(piece)


@dataclass(frozen=True)
class Evaluation:
    """How one answer compares with its scenario's expectation.

    Attributes:
        decision_correct: the decision equals the expected one; ``None`` when the scenario
            has no expected decision. ``unparseable`` is never correct.
        reasoning_coverage: share (0..1) of key points the reasoning states; 1.0 when the
            scenario lists no key points.
        matched_points: per key point, whether it is stated.
        best_similarities: per key point, its best cosine similarity to the reasoning.
        passed: the decision is correct and coverage reaches the pass threshold; always
            ``False`` without an expected decision.
    """

    decision_correct: bool | None
    reasoning_coverage: float
    matched_points: tuple[bool, ...]
    best_similarities: tuple[float, ...]
    passed: bool


def _check_fraction(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    return float(value)


class SemanticEvaluator:
    """Scores decisions and reasoning coverage with sentence embeddings.

    The embedder is only used when there is something to compare (a non-empty reasoning and
    at least one key point), so evaluating decision-only scenarios never loads the model.

    Args:
        embedder: an :class:`Embedder` (or any object with a compatible ``encode``).
        match_threshold: cosine similarity (0..1) at which a key point counts as stated.
        pass_coverage: coverage (0..1) needed, with a correct decision, to pass.

    Raises:
        ValueError: a threshold outside 0..1.
    """

    def __init__(
        self,
        embedder: Embedder | TextEncoder,
        *,
        match_threshold: float = DEFAULT_MATCH_THRESHOLD,
        pass_coverage: float = DEFAULT_PASS_COVERAGE,
    ) -> None:
        self._embedder = embedder
        self._match_threshold = _check_fraction("match_threshold", match_threshold)
        self._pass_coverage = _check_fraction("pass_coverage", pass_coverage)

    @property
    def match_threshold(self) -> float:
        """Cosine similarity at which a key point counts as stated."""
        return self._match_threshold

    @property
    def pass_coverage(self) -> float:
        """Coverage needed (with a correct decision) to pass."""
        return self._pass_coverage

    def coverage(
        self, reasoning: str | None, key_points: Sequence[str]
    ) -> tuple[float, tuple[bool, ...], tuple[float, ...]]:
        """Share of ``key_points`` that ``reasoning`` states, per-point matches and similarities.

        A key point is stated when its cosine similarity to the whole reasoning, or to any
        one of its sentences (:func:`split_sentences`), is at least ``match_threshold``.
        With no key points the coverage is defined as 1.0 (nothing to cover); an empty or
        ``None`` reasoning covers nothing (0.0, every similarity 0.0).

        Raises:
            ValueError: a key point is blank (fix the scenario rather than score against it).
        """
        if isinstance(key_points, str):
            raise TypeError("key_points must be a sequence of strings, not a single str")
        points = [point.strip() for point in key_points]
        if any(not point for point in points):
            raise ValueError("key points must not be blank")
        if not points:
            return 1.0, (), ()
        text = (reasoning or "").strip()
        if not text:
            return 0.0, (False,) * len(points), (0.0,) * len(points)

        units = [text, *(s for s in split_sentences(text) if s != text)]
        vectors = np.asarray(self._embedder.encode([*units, *points]), dtype=np.float32)
        if vectors.shape[0] != len(units) + len(points):
            raise ValueError(
                f"embedder returned {vectors.shape[0]} rows for {len(units) + len(points)} texts"
            )
        unit_vectors, point_vectors = vectors[: len(units)], vectors[len(units) :]
        similarities = np.clip(point_vectors @ unit_vectors.T, -1.0, 1.0)
        best = similarities.max(axis=1)
        matched = tuple(bool(value >= self._match_threshold) for value in best)
        return sum(matched) / len(points), matched, tuple(float(value) for value in best)

    def evaluate(
        self,
        *,
        decision: str,
        reasoning: str | None,
        expected_decision: str | None,
        key_points: Sequence[str],
    ) -> Evaluation:
        """Score one answer: decision correctness, reasoning coverage and pass/fail.

        Decisions are compared after trimming and lower-casing. ``unparseable`` is never
        correct. Without an expected decision, ``decision_correct`` is ``None`` and the answer
        does not pass (coverage is still computed).
        """
        coverage, matched, best = self.coverage(reasoning, key_points)
        decision_correct: bool | None
        if expected_decision is None:
            decision_correct = None
        else:
            given = (decision or "").strip().lower()
            decision_correct = given != UNPARSEABLE and given == expected_decision.strip().lower()
        return Evaluation(
            decision_correct=decision_correct,
            reasoning_coverage=coverage,
            matched_points=matched,
            best_similarities=best,
            passed=decision_correct is True and coverage >= self._pass_coverage,
        )
