"""Choose a small, diverse, class-balanced set of few-shot examples from corrections.

Pure algorithm over embeddings: no store or database access, and the embedding function is
passed in (``Embedder().encode`` in the app, a fake in tests).

Algorithm (:func:`select_diverse`):

1. Candidates are grouped by ``decision`` (the type). Types are visited in ``type_order``;
   types present but not listed there follow in alphabetical order.
2. Within a type, candidates with exactly the same ``text`` form one group, represented by
   its smallest ``key``; only one text per group is embedded.
3. A type with more than ``max_pool_per_type`` distinct texts is sampled down to that many,
   deterministically: the texts with the smallest sha256 digests (a stable pseudo-random
   sample, independent of the input order). This bounds the cost of 50,000 candidates to at
   most ``types * max_pool_per_type`` embeddings.
4. A type's pool is embedded lazily, the first time its turn comes, in ``embed`` calls of
   at most :data:`EMBED_CALL_SIZE` texts.
5. Round-robin over the types: each round gives every remaining type one pick, so every
   type present is represented before any type repeats. A type with no eligible candidate
   left leaves the rotation.
6. The very first pick overall is the *most typical* candidate of the first type: the one
   closest to its pool's centroid (weighted by group size). Every later pick is the
   candidate farthest from everything chosen so far, of any type (max-min cosine distance),
   which also applies to the first pick of each further type.
7. After a pick, the other members of its exact-text group and every pooled candidate of the
   same type whose cosine similarity to it is ``>= near_duplicate`` become ineligible. They
   are counted in :attr:`Selection.near_duplicates_skipped` (each candidate at most once).
   Near-duplicates of a different type stay eligible: the same situation with a different
   corrected decision is a valuable contrast.
8. Ties (equal scores after rounding to 6 decimals) go to the smallest key, so the result
   depends only on the candidates and the embeddings, not on the input order.
9. With a token ``budget`` (and each candidate's ``costs``), a candidate is eligible only
   while it fits what the chosen ones leave of the budget; the selection ends when nothing
   fits any more (so a prompt version made from it fits the model's context).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from policy_desktop.vocabulary import DECISIONS

__all__ = [
    "EMBED_CALL_SIZE",
    "MAX_POOL_PER_TYPE",
    "NEAR_DUPLICATE_COSINE",
    "Candidate",
    "EmbedFn",
    "Selection",
    "select_diverse",
]

NEAR_DUPLICATE_COSINE = 0.95
"""Cosine similarity at or above which two candidates of one type are near-duplicates."""

MAX_POOL_PER_TYPE = 128
"""Distinct texts per type that are embedded and considered (a deterministic sample above).

MiniLM on 2 CPU cores embeds about 4,000 tokens/s (~40 texts/s of 80 tokens), so 4 types of
128 texts cost about 10-25 s: within the 60 s budget for exporting 50,000 corrections.
"""

EMBED_CALL_SIZE = 32
"""Most texts passed to ``embed`` in one call, so callers can report progress or cancel
between calls (32 MiniLM embeddings take about 1-3 s on 2 CPU cores)."""

_SCORE_DECIMALS = 6
_EPSILON = 1e-6

EmbedFn = Callable[[Sequence[str]], np.ndarray]
"""Texts -> ``(n, dim)`` array, e.g. ``Embedder().encode``; rows are re-normalised here."""


@dataclass(frozen=True)
class Candidate:
    """One human-corrected decision that may become a few-shot example.

    Attributes:
        key: unique identifier, e.g. the decision id; breaks ties.
        decision: the human-corrected decision, the type balanced over.
        text: what is embedded: situation plus reasoning text.
    """

    key: str
    decision: str
    text: str


@dataclass(frozen=True)
class Selection:
    """The outcome of :func:`select_diverse`.

    Attributes:
        chosen: the selected candidates, in selection order.
        near_duplicates_skipped: examined candidates made ineligible because they are exact
            or near-duplicates (cosine ``>= near_duplicate``) of a chosen candidate of the
            same type. Only candidates in the embedded pools count: those of types never
            reached and those left out by the per-type sample are not examined.
        per_type: number chosen per type, for every type present (0 when never reached),
            in rotation order.
        examined: candidates in the embedded pools (each text embedded once per group).
    """

    chosen: tuple[Candidate, ...]
    near_duplicates_skipped: int
    per_type: dict[str, int] = field(default_factory=dict)
    examined: int = 0


@dataclass
class _Group:
    text: str
    members: list[Candidate]  # sorted by key; members[0] represents the group


class _TypePool:
    """The sampled, lazily embedded candidates of one type and their selection state."""

    def __init__(self, candidates: list[Candidate], cap: int,
                 costs: Mapping[str, int] | None = None) -> None:
        by_text: dict[str, list[Candidate]] = {}
        for candidate in candidates:
            by_text.setdefault(candidate.text, []).append(candidate)
        groups = [
            _Group(text, sorted(members, key=lambda c: c.key)) for text, members in by_text.items()
        ]
        if len(groups) > cap:
            groups.sort(key=lambda g: hashlib.sha256(g.text.encode("utf-8")).digest())
            groups = groups[:cap]
        groups.sort(key=lambda g: g.members[0].key)
        self.groups = groups
        self.weights = np.array([len(g.members) for g in groups], dtype=np.float32)
        self.costs = np.array([(costs or {}).get(g.members[0].key, 0) for g in groups],
                              dtype=np.int64)
        self.alive = np.ones(len(groups), dtype=bool)
        self.vectors: np.ndarray | None = None
        self.max_similarity = np.full(len(groups), -np.inf, dtype=np.float32)

    @property
    def size(self) -> int:
        return int(self.weights.sum())

    def embed(self, embed: EmbedFn, chosen_vectors: list[np.ndarray]) -> None:
        texts = [group.text for group in self.groups]
        batches = [texts[i : i + EMBED_CALL_SIZE] for i in range(0, len(texts), EMBED_CALL_SIZE)]
        chunks = [_normalised(embed(batch), len(batch)) for batch in batches]
        if len({chunk.shape[1] for chunk in chunks}) != 1:
            raise ValueError("embed returned vectors of different dimensions")
        vectors = np.concatenate(chunks)
        if chosen_vectors:
            chosen = np.stack(chosen_vectors)
            if chosen.shape[1] != vectors.shape[1]:
                raise ValueError("embed returned vectors of different dimensions")
            self.max_similarity = (vectors @ chosen.T).max(axis=1)
        self.vectors = vectors

    def pick(self, *, first_overall: bool, room: int | None = None) -> int | None:
        """Index of the next group to choose, or ``None`` when none is eligible (or fits
        the ``room`` left of a token budget)."""
        assert self.vectors is not None
        usable = self.alive if room is None else self.alive & (self.costs <= room)
        eligible = np.flatnonzero(usable)
        if eligible.size == 0:
            return None
        if first_overall:
            centroid = self.weights[eligible] @ self.vectors[eligible]
            scores = -(self.vectors[eligible] @ centroid)  # closest to the centroid first
        else:
            scores = self.max_similarity[eligible]  # farthest from everything chosen first
        scores = np.round(scores.astype(np.float64), _SCORE_DECIMALS)
        return int(eligible[int(np.argmin(scores))])  # first minimum = smallest key

    def take(self, index: int, near_duplicate: float) -> int:
        """Mark ``index`` chosen, exclude its near-duplicates; return how many were skipped."""
        assert self.vectors is not None
        self.alive[index] = False
        skipped = len(self.groups[index].members) - 1
        similarities = self.vectors @ self.vectors[index]
        near = self.alive & (similarities >= near_duplicate - _EPSILON)
        skipped += int(self.weights[near].sum())
        self.alive[near] = False
        return skipped

    def update(self, vector: np.ndarray) -> None:
        """Account for a newly chosen vector (of any type)."""
        if self.vectors is not None:
            np.maximum(self.max_similarity, self.vectors @ vector, out=self.max_similarity)


def _normalised(vectors: np.ndarray, rows: int) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] != rows:
        raise ValueError(f"embed must return an array of shape ({rows}, dim), got {array.shape}")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms > 0, norms, 1.0)


def select_diverse(
    candidates: Sequence[Candidate],
    count: int,
    embed: EmbedFn,
    *,
    near_duplicate: float = NEAR_DUPLICATE_COSINE,
    type_order: Sequence[str] = DECISIONS,
    max_pool_per_type: int = MAX_POOL_PER_TYPE,
    costs: Mapping[str, int] | None = None,
    budget: int | None = None,
) -> Selection:
    """Pick up to ``count`` candidates, balanced over decision types and semantically diverse.

    See the module docstring for the exact algorithm. ``embed`` receives each type's pool
    (at most ``max_pool_per_type`` distinct texts) in calls of at most
    :data:`EMBED_CALL_SIZE` texts; it is never called for ``count == 0``, empty input or
    types the rotation does not reach. Fewer than ``count`` are returned when the
    eligible candidates run out.

    Raises:
        ValueError: a negative ``count``, ``near_duplicate`` outside (0, 1],
            ``max_pool_per_type < 1``, duplicate keys, or a malformed ``embed`` result.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative int, got {count!r}")
    if not 0.0 < near_duplicate <= 1.0:
        raise ValueError(f"near_duplicate must be in (0, 1], got {near_duplicate!r}")
    if max_pool_per_type < 1:
        raise ValueError(f"max_pool_per_type must be >= 1, got {max_pool_per_type!r}")

    by_type: dict[str, list[Candidate]] = {}
    keys: set[str] = set()
    for candidate in candidates:
        if candidate.key in keys:
            raise ValueError(f"duplicate candidate key {candidate.key!r}")
        keys.add(candidate.key)
        by_type.setdefault(candidate.decision, []).append(candidate)
    listed = [t for t in dict.fromkeys(type_order) if t in by_type]
    order = listed + sorted(t for t in by_type if t not in listed)
    per_type = dict.fromkeys(order, 0)
    if count == 0 or not order:
        return Selection(chosen=(), near_duplicates_skipped=0, per_type=per_type, examined=0)

    pools = {t: _TypePool(by_type[t], max_pool_per_type, costs) for t in order}
    spent = 0
    chosen: list[Candidate] = []
    chosen_vectors: list[np.ndarray] = []
    skipped = 0
    rotation = list(order)
    while rotation and len(chosen) < count:
        for decision in list(rotation):
            if len(chosen) >= count:
                break
            pool = pools[decision]
            if pool.vectors is None:
                pool.embed(embed, chosen_vectors)
            room = None if budget is None else budget - spent
            index = pool.pick(first_overall=not chosen, room=room)
            if index is None:
                rotation.remove(decision)
                continue
            assert pool.vectors is not None
            vector = pool.vectors[index]
            chosen.append(pool.groups[index].members[0])
            spent += int(pool.costs[index])
            chosen_vectors.append(vector)
            per_type[decision] += 1
            skipped += pool.take(index, near_duplicate)
            for other in pools.values():
                other.update(vector)

    examined = sum(pool.size for pool in pools.values() if pool.vectors is not None)
    return Selection(
        chosen=tuple(chosen),
        near_duplicates_skipped=skipped,
        per_type=per_type,
        examined=examined,
    )
