"""Writing a schema-valid JSON answer from a model's logits ("structure by construction").

Rather than masking the whole vocabulary with a grammar at every step, the
:class:`SkeletonDecoder` writes the fixed JSON skeleton itself (``{"decision": "``,
``", "classification": "``, ...) and lets the model choose only what the schema leaves
open:

* an ``enum`` value (decision, risk level) is chosen along the labels' token paths from
  the model's own logits, as grammar-constrained greedy decoding would: the best of the
  labels' first tokens, then (for labels sharing it, ``require`` ``_``) the best
  continuation, whose shared tokens are evaluated in one batch. The ``confidence`` is the
  chosen decision's probability normalised over the four labels: a label's probability is
  the product of the model's probabilities of its tokens up to the one that tells it apart
  from the others (the rest is forced), read from logits the decoder has anyway, plus at
  most one 2-token batch for a shared prefix the choice did not visit;
* a free ``string`` is generated token by token (greedy, or seeded sampling); the best
  token is checked first and a lower-ranked one is taken only when it is not valid JSON
  string content (a raw control character, a bad escape, an end-of-generation or special
  token). The string ends at the first unescaped ``"`` the model writes; what follows that
  quote inside the same token is replaced by the skeleton.

The answer therefore always parses unless the token budget runs out inside a free string.
The decoder sees the model only through :class:`TokenSession` — a KV cache that decodes
tokens into logits — so fast tests drive it with a scripted vocabulary and fake logits.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np

from policy_desktop.engine.answer_parsing import ANSWER_SCHEMA
from policy_desktop.engine.prompts import ANSWER_PRIMER

__all__ = [
    "ANSWER_CLOSING",
    "ANSWER_PRIMER",
    "SKELETON",
    "Cancelled",
    "DecodedAnswer",
    "SkeletonDecoder",
    "SkeletonField",
    "TokenSession",
    "answer_skeleton",
    "scan_string_piece",
    "tokenize_fragment",
]

TOP_CANDIDATES: Final = 40
"""Candidates considered per free-text step (greedy fallback order, sampling pool)."""


class Cancelled(Exception):
    """``should_stop`` asked for the answer to stop."""


class TokenSession(Protocol):
    """What the decoder needs of a model: a KV cache of tokens that yields logits."""

    @property
    def kv(self) -> Sequence[int]:
        """The tokens evaluated so far."""

    def decode(self, tokens: Sequence[int], *, outputs: str = "last",
               before_chunk: Callable[[int], None] | None = None) -> list[np.ndarray]:
        """Evaluate ``tokens`` after :attr:`kv`; logits after the last (or every) token."""

    def truncate(self, length: int) -> None:
        """Forget the cache from position ``length`` on."""

    def piece(self, token: int) -> bytes:
        """The bytes a token stands for (empty for special tokens)."""

    def tokenize(self, text: bytes, *, add_bos: bool, special: bool) -> list[int]:
        """The tokens of ``text``."""


# --- the answer skeleton, from the schema ------------------------------------------------


@dataclass(frozen=True)
class SkeletonField:
    """One string field of the answer as the decoder writes it.

    Attributes:
        name: the JSON key.
        labels: the allowed values of an ``enum`` field; ``None`` for a free string.
        opening: the fixed JSON text before the value's content (``{"decision": "`` for
            the first field, ``", "classification": "`` for the next ones).
    """

    name: str
    labels: tuple[str, ...] | None
    opening: str


def answer_skeleton(schema: dict[str, Any] = ANSWER_SCHEMA) -> tuple[SkeletonField, ...]:
    """The fields of ``schema`` (an object of string properties) in writing order."""
    fields: list[SkeletonField] = []
    for index, (name, spec) in enumerate(schema["properties"].items()):
        if spec.get("type") != "string":
            raise ValueError(f"answer field {name!r}: only string fields can be constrained")
        labels = tuple(spec["enum"]) if "enum" in spec else None
        opening = ("{" if index == 0 else '", ') + json.dumps(name) + ': "'
        fields.append(SkeletonField(name, labels, opening))
    return tuple(fields)


SKELETON: Final = answer_skeleton()
"""The answer's fields; the first one's ``opening`` is :data:`ANSWER_PRIMER` (the prompt
format's forced start of every answer, defined in :mod:`~policy_desktop.engine.prompts`)."""
ANSWER_CLOSING: Final = '"}'


def tokenize_fragment(session: TokenSession, text: str | bytes) -> list[int]:
    """Tokens that spell exactly ``text`` in the middle of a sequence (no BOS, no added
    leading space), as the model would write them."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if not data:
        return []
    tokens = session.tokenize(data, add_bos=False, special=False)
    if b"".join(session.piece(t) for t in tokens) == data:
        return tokens
    for lead in (b'"', b"\n", b"a"):  # tokenizers that prepend a space to a text
        lead_tokens = session.tokenize(lead, add_bos=False, special=False)
        joined = session.tokenize(lead + data, add_bos=False, special=False)
        rest = joined[len(lead_tokens) :]
        same_lead = joined[: len(lead_tokens)] == lead_tokens
        if same_lead and b"".join(session.piece(t) for t in rest) == data:
            return rest
    return tokens


# --- JSON string content ------------------------------------------------------------------

_HEX_DIGITS: Final = frozenset(b"0123456789abcdefABCDEF")
_SIMPLE_ESCAPES: Final = frozenset(b'"\\/bfnrt')
_AFTER_BACKSLASH: Final = -1


def scan_string_piece(piece: bytes, escape: int = 0) -> tuple[bool, int, bool, int]:
    """Check a token's bytes as the continuation of a JSON string's content.

    ``escape`` is the scanner state before the piece: 0 plain, -1 right after a backslash,
    ``n > 0`` with ``n`` hex digits of a ``\\uXXXX`` escape still due.

    Returns ``(valid, used, closed, escape)``: whether the piece may follow, how many of its
    bytes belong to the string, whether an unescaped ``"`` closed the string (the bytes
    after it are not used), and the state after the used bytes. An empty piece (special
    tokens), a raw control character (``< 0x20`` or DEL) or a bad escape is not valid.
    """
    if not piece:
        return False, 0, False, escape
    for index, byte in enumerate(piece):
        if escape == _AFTER_BACKSLASH:
            if byte == ord("u"):
                escape = 4
            elif byte in _SIMPLE_ESCAPES:
                escape = 0
            else:
                return False, index, False, escape
        elif escape > 0:
            if byte not in _HEX_DIGITS:
                return False, index, False, escape
            escape -= 1
        elif byte == ord('"'):
            return True, index, True, 0
        elif byte == ord("\\"):
            escape = _AFTER_BACKSLASH
        elif byte < 0x20 or byte == 0x7F:
            return False, index, False, escape
    return True, len(piece), False, escape


# --- label choice -------------------------------------------------------------------------


@dataclass(frozen=True)
class _LabelPaths:
    """The token paths of one enum field's labels."""

    labels: tuple[str, ...]
    paths: tuple[tuple[int, ...], ...]

    def children(self, prefix: tuple[int, ...]) -> dict[int, list[int]]:
        """Next token -> indices of the labels continuing ``prefix`` with it."""
        groups: dict[int, list[int]] = {}
        depth = len(prefix)
        for index, path in enumerate(self.paths):
            if path[:depth] == prefix and len(path) > depth:
                groups.setdefault(path[depth], []).append(index)
        return groups

    def shared_chain(self, prefix: tuple[int, ...]) -> tuple[int, ...]:
        """``prefix`` extended while one next token is shared by several labels."""
        while True:
            groups = self.children(prefix)
            if len(groups) != 1:
                return prefix
            ((token, members),) = groups.items()
            if len(members) < 2:
                return prefix
            prefix = (*prefix, token)


def log_softmax_at(logits: np.ndarray, tokens: Sequence[int]) -> list[float]:
    """Log-probabilities of ``tokens`` under the full-vocabulary softmax of ``logits``."""
    peak = float(logits.max())
    log_total = peak + float(np.log(np.exp(logits - peak, dtype=np.float64).sum()))
    return [float(logits[token]) - log_total for token in tokens]


def normalised_probability(scores: dict[int, float], chosen: int) -> float:
    """``exp(scores[chosen])`` over the sum of ``exp`` of every score."""
    values = np.array(list(scores.values()), dtype=np.float64)
    peak = values.max()
    return float(np.exp(scores[chosen] - peak) / np.exp(values - peak).sum())


# --- one answer ---------------------------------------------------------------------------


class _Transcript:
    """The answer text as it grows: decoded incrementally and streamed to ``on_text``."""

    def __init__(self, on_text: Callable[[str], None] | None) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pieces: list[str] = []
        self._on_text = on_text

    def add(self, data: bytes | str, *, final: bool = False) -> None:
        text = data if isinstance(data, str) else self._decoder.decode(data, final=final)
        if text:
            self._pieces.append(text)
            if self._on_text is not None:
                self._on_text(text)

    def finish(self) -> str:
        self.add(b"", final=True)
        return "".join(self._pieces)


class _Budget:
    """Answer tokens left before ``max_tokens`` or the end of the context."""

    def __init__(self, tokens: int) -> None:
        self.left = tokens
        self.used = 0

    def spend(self, count: int) -> bool:
        """Count ``count`` answer tokens; False when that exceeds the budget."""
        self.used += count
        self.left -= count
        return self.left >= 0


class _OutOfBudget(Exception):
    """Internal: the answer ran out of tokens inside a free string."""


@dataclass
class _Call:
    """State of one answer."""

    transcript: _Transcript
    budget: _Budget
    should_stop: Callable[[], bool] | None
    rng: np.random.Generator | None
    temperature: float
    pending: list[int]
    carry: bytes = b""

    def check_stop(self, _done: int = 0) -> None:
        if self.should_stop is not None and self.should_stop():
            raise Cancelled("stopped by request")


@dataclass(frozen=True)
class DecodedAnswer:
    """What the decoder wrote: the text from the primer on, the decision's probability
    (None when cut off or not computed) and the answer tokens it cost."""

    full_response: str
    confidence: float | None
    generated_tokens: int


class SkeletonDecoder:
    """Writes answers of :data:`SKELETON` on one :class:`TokenSession`."""

    def __init__(self, session: TokenSession, skeleton: tuple[SkeletonField, ...] = SKELETON):
        """Tokenise the labels and the skeleton's fixed text once.

        Raises:
            ValueError: a label has no token path distinct from the others'.
        """
        self._session = session
        self._skeleton = skeleton
        self._label_paths = {
            field.name: self._label_token_paths(field.labels)
            for field in skeleton if field.labels is not None
        }
        self._openings = [tokenize_fragment(session, field.opening) for field in skeleton]

    def _label_token_paths(self, labels: tuple[str, ...]) -> _LabelPaths:
        paths = tuple(tuple(tokenize_fragment(self._session, label)) for label in labels)
        for index, path in enumerate(paths):
            others = [other for i, other in enumerate(paths) if i != index]
            if not path or any(other[: len(path)] == path for other in others):
                raise ValueError(f"label {labels[index]!r} has no distinct token path")
        return _LabelPaths(labels, paths)

    def write(self, logits: np.ndarray, *, budget: int, temperature: float = 0.0,
              seed: int = 0, compute_confidence: bool = True,
              on_text: Callable[[str], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> DecodedAnswer:
        """Write an answer after a prompt ending with the primer; ``logits`` follow it.

        ``on_text`` hears the text as it grows, from the primer on. At ``temperature``
        above 0 choices are sampled with a generator seeded by ``seed``.

        Raises:
            Cancelled: ``should_stop`` returned True (polled before every evaluation).
        """
        call = _Call(
            transcript=_Transcript(on_text), budget=_Budget(budget), should_stop=should_stop,
            rng=np.random.default_rng(seed) if temperature > 0 else None,
            temperature=temperature, pending=[])
        call.transcript.add(self._skeleton[0].opening)
        confidence = self._write_fields(call, logits, compute_confidence)
        return DecodedAnswer(call.transcript.finish(), confidence, call.budget.used)

    def _write_fields(self, call: _Call, logits: np.ndarray,
                      compute_confidence: bool) -> float | None:
        confidence: float | None = None
        try:
            for index, field in enumerate(self._skeleton):
                if index > 0:
                    call.transcript.add(field.opening)
                    if call.carry:
                        fragment = call.carry + field.opening.encode()
                        call.pending.extend(tokenize_fragment(self._session, fragment))
                        call.carry = b""
                    else:
                        call.pending.extend(self._openings[index])
                    logits = self._flush(call)
                if field.labels is None:
                    self._free_string(call, logits)
                else:
                    label, probability = self._choose_label(
                        call, field.name, logits, compute_confidence)
                    call.transcript.add(label)
                    if field.name == "decision":
                        confidence = probability
        except _OutOfBudget:
            return None
        call.transcript.add(ANSWER_CLOSING)
        return confidence

    def _decode(self, call: _Call, tokens: Sequence[int], outputs: str = "last"
                ) -> list[np.ndarray]:
        return self._session.decode(tokens, outputs=outputs, before_chunk=call.check_stop)

    def _flush(self, call: _Call) -> np.ndarray:
        """Evaluate the pending forced tokens; the logits after them."""
        tokens, call.pending = call.pending, []
        if not call.budget.spend(len(tokens)):
            raise _OutOfBudget
        return self._decode(call, tokens)[-1]

    # --- enum fields ---

    def _choose_label(self, call: _Call, field: str, logits: np.ndarray,
                      compute_confidence: bool) -> tuple[str, float | None]:
        """Choose a label of ``field`` token by token; (label, probability or None).

        At each branching point of the labels' token paths the most likely continuation
        (sampled at ``temperature > 0``) among the labels' is taken. A prefix shared by
        several labels is evaluated in one batch that yields the logits after each of its
        tokens. With ``compute_confidence`` the labels off the chosen path are scored as
        well (for an unvisited shared prefix: one small batch, dropped afterwards).
        """
        paths = self._label_paths[field]
        base = len(self._session.kv)
        logits_at: dict[tuple[int, ...], np.ndarray] = {(): logits}
        prefix: tuple[int, ...] = ()
        while True:
            self._ensure_label_logits(call, base, paths, prefix, logits_at)
            groups = paths.children(prefix)
            token = self._pick_token(call, logits_at[prefix], list(groups))
            prefix = (*prefix, token)
            if len(groups[token]) == 1:
                chosen = groups[token][0]
                break
        probability = None
        if compute_confidence:
            scores = self._label_scores(call, base, paths, logits_at)
            probability = normalised_probability(scores, chosen)
        self._commit_label(call, base, paths.paths[chosen])
        return paths.labels[chosen], probability

    @staticmethod
    def _pick_token(call: _Call, logits: np.ndarray, candidates: list[int]) -> int:
        """The candidate with the highest logit, or one sampled at the temperature."""
        values = np.array([logits[token] for token in candidates], dtype=np.float64)
        if call.rng is None or len(candidates) == 1:
            return candidates[int(np.argmax(values))]
        scaled = values / call.temperature
        weights = np.exp(scaled - scaled.max())
        return candidates[int(call.rng.choice(len(candidates), p=weights / weights.sum()))]

    def _label_scores(self, call: _Call, base: int, paths: _LabelPaths,
                      logits_at: dict[tuple[int, ...], np.ndarray]) -> dict[int, float]:
        """Every label's log-probability: its tokens' up to the one that sets it apart."""
        scores: dict[int, float] = {}
        stack: list[tuple[tuple[int, ...], float]] = [((), 0.0)]
        while stack:
            prefix, score = stack.pop()
            self._ensure_label_logits(call, base, paths, prefix, logits_at)
            groups = paths.children(prefix)
            log_probs = log_softmax_at(logits_at[prefix], list(groups))
            for (token, members), log_p in zip(groups.items(), log_probs, strict=True):
                if len(members) == 1:
                    scores[members[0]] = score + log_p
                else:
                    stack.append(((*prefix, token), score + log_p))
        return scores

    def _ensure_label_logits(self, call: _Call, base: int, paths: _LabelPaths,
                             prefix: tuple[int, ...],
                             logits_at: dict[tuple[int, ...], np.ndarray]) -> None:
        """Make sure the logits after ``prefix`` (a label prefix following position ``base``)
        are known, evaluating it, and the shared tokens after it, in one batch if needed."""
        if prefix in logits_at:
            return
        chain = paths.shared_chain(prefix)
        evaluated = self._session.kv[base:]
        common = 0
        while common < min(len(evaluated), len(chain)) and evaluated[common] == chain[common]:
            common += 1
        self._session.truncate(base + common)
        rows = self._decode(call, chain[common:], outputs="all")
        for offset, row in enumerate(rows, start=common + 1):
            logits_at[chain[:offset]] = row

    def _commit_label(self, call: _Call, base: int, path: tuple[int, ...]) -> None:
        """Keep the label's evaluated tokens in the KV cache; queue the rest of its path."""
        evaluated = self._session.kv[base:]
        kept = 0
        while kept < min(len(evaluated), len(path)) and evaluated[kept] == path[kept]:
            kept += 1
        self._session.truncate(base + kept)
        if not call.budget.spend(kept):
            raise _OutOfBudget
        call.pending.extend(path[kept:])

    # --- free strings ---

    def _free_string(self, call: _Call, logits: np.ndarray) -> None:
        """Generate a JSON string's content until the model closes it with ``"``.

        The bytes before the quote in the closing token are left in ``call.carry`` (to be
        tokenised with the next skeleton text); that token itself is not evaluated.
        """
        escape = 0
        while True:
            token, used, closed, escape = self._next_string_token(call, logits, escape)
            content = self._session.piece(token)[:used]
            call.transcript.add(content)
            if closed:
                call.carry = content
                return
            if not call.budget.spend(1):
                raise _OutOfBudget
            logits = self._decode(call, [token])[-1]

    def _next_string_token(self, call: _Call, logits: np.ndarray,
                           escape: int) -> tuple[int, int, bool, int]:
        """The best (or a sampled) token that is valid string content: (token, used bytes,
        closed, escape state after it)."""
        for token in self._candidates(call, logits):
            valid, used, closed, after = scan_string_piece(self._session.piece(token), escape)
            if valid:
                return token, used, closed, after
        raise _OutOfBudget  # pragma: no cover - every vocabulary has a plain text token

    @staticmethod
    def _candidates(call: _Call, logits: np.ndarray) -> Iterator[int]:
        """Tokens in the order to try them: the best first (greedy) or a sample of the top
        candidates first (temperature), then the rest by decreasing logit."""
        best = int(np.argmax(logits))
        if call.rng is None:
            yield best
        count = min(TOP_CANDIDATES, len(logits))
        top = np.argpartition(logits, -count)[-count:]
        top = top[np.argsort(logits[top])[::-1]]
        if call.rng is not None:
            scaled = logits[top].astype(np.float64) / call.temperature
            weights = np.exp(scaled - scaled.max())
            order = call.rng.choice(len(top), size=len(top), replace=False,
                                    p=weights / weights.sum())
            yield from (int(top[i]) for i in order)
        else:
            yield from (int(t) for t in top if t != best)
        tried = set(top.tolist()) | {best}
        yield from (int(t) for t in np.argsort(logits)[::-1] if int(t) not in tried)
