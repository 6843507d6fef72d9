"""Token sequences for training and label scoring, as the engine tokenises a base model's
prompt: ``[BOS] + tok(system + "\\n\\n") + tok(situation block + '{"decision": "')``, and
the answer's rest as mid-sequence fragments (no BOS, no added leading space)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from policy_desktop.engine.prompts import (
    ANSWER_HEADER,
    ANSWER_PRIMER,
    PROMPT_SEPARATOR,
    SITUATION_HEADER,
)
from policy_desktop.finetune.dataset import TrainingExample
from policy_desktop.vocabulary import DECISIONS


@dataclass(frozen=True)
class Encoded:
    """One example as tokens: the prompt (up to and with the primer) and the answer's rest."""

    prompt: tuple[int, ...]
    answer: tuple[int, ...]
    decision: str
    label_tokens: int = 1
    """How many leading answer tokens spell the decision (weighted in the loss)."""


def fragment_tokens(tokenizer: Any, text: str) -> list[int]:
    """Tokens spelling ``text`` in the middle of a sequence."""
    tokens = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    if tokenizer.decode(tokens) == text:
        return tokens
    lead = list(tokenizer('"', add_special_tokens=False)["input_ids"])
    joined = list(tokenizer('"' + text, add_special_tokens=False)["input_ids"])
    if joined[:len(lead)] == lead:
        return joined[len(lead):]
    return tokens


class Encoder:
    """Encodes examples for one tokenizer and system prompt (the shared part cached).

    With ``decision_only`` the answer is cut after the decision's closing quote.
    """

    def __init__(self, tokenizer: Any, system: str, max_length: int, *,
                 decision_only: bool = False) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.decision_only = decision_only
        bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
        shared = system + PROMPT_SEPARATOR if system else ""
        self.shared = bos + (fragment_tokens(tokenizer, shared) if shared else [])

    def prompt(self, situation: str) -> list[int]:
        """The prompt tokens for a situation block, ending with the answer primer."""
        own = f"{SITUATION_HEADER}\n{situation}\n{ANSWER_HEADER}\n{ANSWER_PRIMER}"
        return self.shared + fragment_tokens(self.tokenizer, own)

    def encode(self, example: TrainingExample) -> Encoded:
        """Prompt and answer tokens; an over-long prompt loses its start (after BOS)."""
        prompt = self.prompt(example.situation)
        answer = fragment_tokens(self.tokenizer, example.answer.removeprefix(ANSWER_PRIMER))
        label_tokens = self._label_tokens(answer, example.decision)
        if self.decision_only:  # the decision and the token closing it, as in the full line
            answer = answer[:label_tokens + 1]
        excess = len(prompt) + len(answer) - self.max_length
        if excess > 0:
            keep = 1 if self.shared[:1] == prompt[:1] and self.tokenizer.bos_token_id is not None \
                else 0
            prompt = prompt[:keep] + prompt[keep + excess:]
        return Encoded(prompt=tuple(prompt), answer=tuple(answer), decision=example.decision,
                       label_tokens=label_tokens)

    def _label_tokens(self, answer: list[int], decision: str) -> int:
        for count in range(1, len(answer) + 1):
            if len(self.tokenizer.decode(answer[:count])) >= len(decision):
                return count
        return len(answer)


@dataclass(frozen=True)
class LabelPaths:
    """Each decision's tokens after the primer and how many of them tell it apart.

    A label's score is the sum of its tokens' log-probabilities up to the first one no
    other label shares (the rest are forced), as the engine scores its confidence.
    ``feeds`` are the token runs to append to a prompt so every needed logit is computed.
    """

    tokens: dict[str, tuple[int, ...]]
    depth: dict[str, int]
    feeds: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, tokenizer: Any, labels: Sequence[str] = DECISIONS) -> LabelPaths:
        """Paths for ``labels`` spelled as the answer continues after the primer."""
        tokens = {label: tuple(fragment_tokens(tokenizer, label + '"')) for label in labels}
        depth = {}
        for label, path in tokens.items():
            others = [p for other, p in tokens.items() if other != label]
            d = 1
            while d < len(path) and any(p[:d] == path[:d] for p in others):
                d += 1
            depth[label] = d
        needed = {tokens[label][:depth[label] - 1] for label in labels}
        maximal = tuple(sorted(f for f in needed
                               if not any(g != f and g[:len(f)] == f for g in needed)))
        return cls(tokens=tokens, depth=depth, feeds=maximal)

    def choose(self, logp: Callable[[str, int], Callable[[int], float]]) -> str:
        """The label the engine's skeleton decoder picks: greedily, token by token.

        ``logp(label, j)`` gives the log-probability function of the ``j``-th token after
        the primer given ``label``'s first ``j`` tokens. As grammar-constrained greedy
        decoding (``engine.skeleton_decoder``): the best first token among the labels',
        then among the labels sharing it the best next token, until one label is left —
        not the label with the best summed score, which can differ when a shared first
        token (``require``) splits its probability between two labels.
        """
        candidates = list(self.tokens)
        position = 0
        while len(candidates) > 1:
            def score(label: str, j: int = position) -> float:
                return logp(label, j)(self.tokens[label][j])

            best = self.tokens[max(candidates, key=score)][position]
            candidates = [c for c in candidates if self.tokens[c][position] == best]
            position += 1
        return candidates[0]

    def feed_for(self, label: str) -> int:
        """Index in :attr:`feeds` of a run that contains this label's needed prefix."""
        prefix = self.tokens[label][:self.depth[label] - 1]
        return next(i for i, f in enumerate(self.feeds) if f[:len(prefix)] == prefix)
