"""The skeleton decoder on scripted logits: labels, confidence, string rules, budget, stop.

A fake :class:`TokenSession` with a tiny vocabulary stands in for llama.cpp; its "model"
is a function from the text so far to the logits of a few pieces (every other piece gets
0). The real model's answers are tested in ``test_llm.py`` (slow).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from policy_desktop.engine.answer_parsing import parse_answer
from policy_desktop.engine.skeleton_decoder import (
    ANSWER_PRIMER,
    SKELETON,
    Cancelled,
    SkeletonDecoder,
    SkeletonField,
)
from policy_desktop.vocabulary import UNPARSEABLE

Scores = dict[bytes, float]
LanguageModel = Callable[[bytes], Scores]

PROMPT = b"Decide. "
WORDS = [b"allow", b"deny", b"require", b"_", b"attestation", b"mfa", b"low", b"medium",
         b"high", b"critical", b"routine", b" read", b'" and', b"\x01"]
VOCAB = [b""] + [bytes([c]) for c in range(0x20, 0x7F)] + WORDS


class FakeSession:
    """A KV cache of tokens over :data:`VOCAB`; logits come from a scripted model."""

    def __init__(self, model: LanguageModel) -> None:
        self.model = model
        self.index = {piece: token for token, piece in enumerate(VOCAB)}
        self._kv: list[int] = []
        self.decoded = 0

    @property
    def kv(self) -> Sequence[int]:
        return self._kv

    def piece(self, token: int) -> bytes:
        return VOCAB[token]

    def tokenize(self, text: bytes, *, add_bos: bool, special: bool) -> list[int]:
        tokens, at = [], 0
        while at < len(text):  # greedy longest match, like a BPE's merges would give
            piece = max((p for p in VOCAB if p and text.startswith(p, at)), key=len)
            tokens.append(self.index[piece])
            at += len(piece)
        return tokens

    def text(self) -> bytes:
        return b"".join(VOCAB[t] for t in self._kv)

    def _logits(self) -> np.ndarray:
        logits = np.zeros(len(VOCAB), dtype=np.float32)
        for piece, value in self.model(self.text()).items():
            logits[self.index[piece]] = value
        return logits

    def decode(self, tokens: Sequence[int], *, outputs: str = "last",
               before_chunk: Callable[[int], None] | None = None) -> list[np.ndarray]:
        if before_chunk is not None:
            before_chunk(0)
        rows = []
        for token in tokens:
            self._kv.append(token)
            self.decoded += 1
            if outputs == "all":
                rows.append(self._logits())
        return rows if outputs == "all" else [self._logits()]

    def truncate(self, length: int) -> None:
        del self._kv[length:]


def follow(target: str, overrides: Callable[[bytes], Scores | None] = lambda _: None
           ) -> LanguageModel:
    """A model that writes ``target`` after the prompt: logit 10 for the longest piece
    that continues it (after a deviation: a closing quote); ``overrides(answer_so_far)``
    replaces that where it returns scores."""
    wanted = target.encode()

    def model(text: bytes) -> Scores:
        written = text[len(PROMPT):]
        special = overrides(written)
        if special is not None:
            return special
        if not wanted.startswith(written):
            return {b'"': 10.0}  # lost the thread: close the string
        rest = wanted[len(written):]
        piece = max((p for p in VOCAB if p and rest.startswith(p)), key=len, default=b"x")
        return {piece: 10.0}

    return model


def answer(session: FakeSession, *, budget: int = 200, **options: object):
    """Prefill the prompt and primer, then let the decoder write."""
    logits = session.decode(session.tokenize(PROMPT + ANSWER_PRIMER.encode(), add_bos=False,
                                             special=False))[-1]
    return SkeletonDecoder(session).write(logits, budget=budget, **options)  # type: ignore[arg-type]


TARGET = {"decision": "require_mfa", "classification": "routine read",
          "risk_level": "high", "reasoning": "MFA first"}


def test_greedy_answer_follows_the_model_and_parses() -> None:
    session = FakeSession(follow(json.dumps(TARGET)))
    streamed: list[str] = []
    written = answer(session, on_text=streamed.append)
    assert json.loads(written.full_response) == TARGET
    assert "".join(streamed) == written.full_response
    parsed = parse_answer(written.full_response)
    assert (parsed.decision, parsed.risk_level) == ("require_mfa", "high")
    # The cache holds what was evaluated: always a prefix of the answer's text.
    assert written.full_response.encode().startswith(session.text()[len(PROMPT):])


def softmax_log(values: dict[bytes, float], piece: bytes) -> float:
    """log p(piece) under a softmax over the whole vocabulary (unlisted pieces: logit 0)."""
    logits = np.zeros(len(VOCAB))
    index = {p: t for t, p in enumerate(VOCAB)}
    for p, v in values.items():
        logits[index[p]] = v
    return float(logits[index[piece]] - np.log(np.exp(logits).sum()))


def test_confidence_is_the_decisions_probability_over_the_four_labels() -> None:
    first = {b"require": 3.0, b"allow": 2.0, b"deny": 1.0}
    after_require = {b"_": 4.0}
    after_underscore = {b"mfa": 2.0, b"attestation": 1.5}

    def scripted(written: bytes) -> Scores | None:
        return {b'{"decision": "': first, b'{"decision": "require': after_require,
                b'{"decision": "require_': after_underscore}.get(written)

    session = FakeSession(follow(json.dumps(TARGET), scripted))
    written = answer(session)
    assert parse_answer(written.full_response).decision == "require_mfa"
    shared = softmax_log(first, b"require") + softmax_log(after_require, b"_")
    scores = {"allow": softmax_log(first, b"allow"), "deny": softmax_log(first, b"deny"),
              "require_attestation": shared + softmax_log(after_underscore, b"attestation"),
              "require_mfa": shared + softmax_log(after_underscore, b"mfa")}
    expected = np.exp(scores["require_mfa"]) / sum(np.exp(v) for v in scores.values())
    assert written.confidence == pytest.approx(expected, rel=1e-5)


def test_labels_follow_the_logits_not_the_best_token_of_the_vocabulary() -> None:
    # "x" is the most likely next piece, but only a label may follow the primer.
    def scripted(written: bytes) -> Scores | None:
        return {b"x": 9.0, b"deny": 5.0, b"allow": 4.0} if written == ANSWER_PRIMER.encode() \
            else None

    session = FakeSession(follow(json.dumps(dict(TARGET, decision="deny")), scripted))
    assert parse_answer(answer(session).full_response).decision == "deny"


def test_invalid_string_content_is_skipped_for_the_next_best_token() -> None:
    reasoning_start = json.dumps(TARGET).split('"reasoning": "')[0] + '"reasoning": "'

    def scripted(written: bytes) -> Scores | None:
        if written == reasoning_start.encode():
            return {b"\x01": 12.0, b"M": 10.0}  # a raw control character is not JSON
        return None

    session = FakeSession(follow(json.dumps(TARGET), scripted))
    assert json.loads(answer(session).full_response) == TARGET


def test_a_token_that_closes_the_string_early_is_cut_at_its_quote() -> None:
    # The model writes `" and` right after "routine": the string ends at the quote and the
    # skeleton replaces what followed it inside the token.
    def scripted(written: bytes) -> Scores | None:
        if written.endswith(b'"classification": "routine'):
            return {b'" and': 10.0}
        return None

    session = FakeSession(follow(json.dumps(dict(TARGET, classification="routine")), scripted))
    result = json.loads(answer(session).full_response)
    assert result["classification"] == "routine"
    assert result["risk_level"] == "high" and result["reasoning"] == "MFA first"


def test_an_answer_cut_off_by_the_budget_is_unparseable_without_confidence() -> None:
    session = FakeSession(follow(json.dumps(dict(TARGET, reasoning="x" * 500))))
    written = answer(session, budget=40)
    assert written.confidence is None
    assert parse_answer(written.full_response).decision == UNPARSEABLE
    assert written.generated_tokens > 40


def test_confidence_off_costs_no_extra_evaluation() -> None:
    with_confidence = FakeSession(follow(json.dumps(dict(TARGET, decision="allow"))))
    answer(with_confidence)
    without = FakeSession(follow(json.dumps(dict(TARGET, decision="allow"))))
    assert answer(without, compute_confidence=False).confidence is None
    assert without.decoded < with_confidence.decoded


def test_sampling_is_reproducible_for_a_seed_and_always_valid() -> None:
    def uncertain(written: bytes) -> Scores | None:
        if written == ANSWER_PRIMER.encode():
            return {b"allow": 1.0, b"deny": 1.0, b"require": 1.0}
        return None

    results = {answer(FakeSession(follow(json.dumps(TARGET), uncertain)), temperature=1.0,
                      seed=seed).full_response for seed in (1, 1)}
    assert len(results) == 1
    decisions = {parse_answer(answer(FakeSession(follow(json.dumps(TARGET), uncertain)),
                                     temperature=1.0, seed=seed).full_response).decision
                 for seed in range(12)}
    assert len(decisions) > 1 and UNPARSEABLE not in decisions


def test_should_stop_cancels_between_evaluations() -> None:
    session = FakeSession(follow(json.dumps(TARGET)))
    calls = iter(range(1000))
    with pytest.raises(Cancelled):
        answer(session, should_stop=lambda: next(calls) > 5)


def test_labels_without_distinct_token_paths_are_refused() -> None:
    skeleton = (SkeletonField("decision", ("allow", "allow"), SKELETON[0].opening),)
    with pytest.raises(ValueError, match="distinct token path"):
        SkeletonDecoder(FakeSession(follow("")), skeleton)
