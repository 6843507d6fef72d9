"""Diverse, class-balanced few-shot selection over fake deterministic embeddings."""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from policy_desktop.export.fewshot_selection import (
    EMBED_CALL_SIZE,
    MAX_POOL_PER_TYPE,
    NEAR_DUPLICATE_COSINE,
    Candidate,
    Selection,
    select_diverse,
)
from policy_desktop.vocabulary import DECISIONS

REPO_ROOT = Path(__file__).resolve().parents[2]
DIM = 64


def _seeded_unit(seed_text: str, dim: int = DIM) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(seed_text.encode("utf-8")).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dim)
    return vector / np.linalg.norm(vector)


def hash_embed(texts: Sequence[str]) -> np.ndarray:
    """Deterministic fake: texts sharing the part before ``#`` are near-duplicates.

    ``"x#1"`` and ``"x#2"`` get cosine ~0.99; unrelated texts are nearly orthogonal in 64
    dimensions; identical texts get identical vectors.
    """
    rows = []
    for text in texts:
        base, _, variant = text.partition("#")
        vector = _seeded_unit(base)
        if variant:
            vector = vector + 0.1 * _seeded_unit(text)
        rows.append(vector / np.linalg.norm(vector))
    return np.array(rows, dtype=np.float32).reshape(len(texts), DIM)


class RecordingEmbed:
    """Wraps an embed function and records every call's texts."""

    def __init__(self, inner: Callable[[Sequence[str]], np.ndarray] = hash_embed) -> None:
        self.inner = inner
        self.calls: list[list[str]] = []

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner(texts)

    @property
    def embedded(self) -> int:
        return sum(len(call) for call in self.calls)


def table_embed(table: dict[str, Sequence[float]]) -> Callable[[Sequence[str]], np.ndarray]:
    """A fake that looks fixed vectors up by text."""

    def embed(texts: Sequence[str]) -> np.ndarray:
        return np.array([table[text] for text in texts], dtype=np.float32)

    return embed


def make(decision: str, n: int, prefix: str | None = None) -> list[Candidate]:
    prefix = prefix or decision
    return [Candidate(f"{prefix}-{i:03d}", decision, f"{prefix} situation {i}") for i in range(n)]


def decisions_of(selection: Selection) -> list[str]:
    return [candidate.decision for candidate in selection.chosen]


# --- edge cases and validation -----------------------------------------------------------


def test_empty_input_returns_empty_selection_without_embedding() -> None:
    embed = RecordingEmbed()
    selection = select_diverse([], 8, embed)
    assert selection == Selection(chosen=(), near_duplicates_skipped=0, per_type={}, examined=0)
    assert embed.calls == []


def test_count_zero_returns_nothing_and_embeds_nothing() -> None:
    embed = RecordingEmbed()
    selection = select_diverse(make("deny", 5) + make("allow", 2), 0, embed)
    assert selection.chosen == ()
    assert selection.per_type == {"allow": 0, "deny": 0}
    assert selection.near_duplicates_skipped == 0
    assert embed.calls == []


@pytest.mark.parametrize("count", [-1, 2.5, True])
def test_invalid_count_is_rejected(count: object) -> None:
    with pytest.raises(ValueError, match="count"):
        select_diverse(make("deny", 3), count, hash_embed)  # type: ignore[arg-type]


@pytest.mark.parametrize("threshold", [0.0, -0.5, 1.01, float("nan")])
def test_invalid_near_duplicate_threshold_is_rejected(threshold: float) -> None:
    with pytest.raises(ValueError, match="near_duplicate"):
        select_diverse(make("deny", 3), 2, hash_embed, near_duplicate=threshold)


def test_invalid_pool_cap_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_pool_per_type"):
        select_diverse(make("deny", 3), 2, hash_embed, max_pool_per_type=0)


def test_duplicate_keys_are_rejected() -> None:
    candidates = [Candidate("k", "deny", "one"), Candidate("k", "allow", "two")]
    with pytest.raises(ValueError, match="duplicate candidate key"):
        select_diverse(candidates, 2, hash_embed)


def test_malformed_embedding_is_rejected() -> None:
    def short_embed(texts: Sequence[str]) -> np.ndarray:
        return np.ones((max(len(texts) - 1, 0), 4), dtype=np.float32)

    with pytest.raises(ValueError, match="shape"):
        select_diverse(make("deny", 3), 2, short_embed)


def test_count_larger_than_candidates_returns_every_distinct_candidate() -> None:
    candidates = make("deny", 3) + make("allow", 2) + make("require_mfa", 1)
    selection = select_diverse(candidates, 50, hash_embed)
    assert sorted(c.key for c in selection.chosen) == sorted(c.key for c in candidates)
    assert selection.per_type == {"allow": 2, "deny": 3, "require_mfa": 1}
    assert selection.near_duplicates_skipped == 0
    assert selection.examined == 6


def test_defaults() -> None:
    assert NEAR_DUPLICATE_COSINE == 0.95
    assert MAX_POOL_PER_TYPE == 128


# --- class balance -----------------------------------------------------------------------


def test_skewed_input_is_balanced_round_robin() -> None:
    candidates = make("deny", 45) + make("allow", 3) + make("require_mfa", 2)
    random.Random(7).shuffle(candidates)
    selection = select_diverse(candidates, 8, hash_embed)

    assert decisions_of(selection) == [
        "allow", "deny", "require_mfa",
        "allow", "deny", "require_mfa",
        "allow", "deny",
    ]  # fmt: skip
    assert selection.per_type == {"allow": 3, "deny": 3, "require_mfa": 2}
    counts = Counter(decisions_of(selection))
    assert max(counts.values()) - min(counts.values()) <= 1
    assert len({c.key for c in selection.chosen}) == 8


def test_every_present_type_appears_before_any_repeats() -> None:
    candidates = (
        make("deny", 20)
        + make("allow", 20)
        + make("require_attestation", 20)
        + make("require_mfa", 20)
    )
    selection = select_diverse(candidates, 10, hash_embed)
    first_round = decisions_of(selection)[:4]
    assert first_round == list(DECISIONS)
    assert decisions_of(selection)[4:8] == list(DECISIONS)
    assert selection.per_type == {
        "allow": 3,
        "deny": 3,
        "require_attestation": 2,
        "require_mfa": 2,
    }


def test_exhausted_type_leaves_the_rotation() -> None:
    candidates = make("deny", 10) + make("allow", 1)
    selection = select_diverse(candidates, 5, hash_embed)
    assert decisions_of(selection) == ["allow", "deny", "deny", "deny", "deny"]


def test_custom_type_order_and_unlisted_types_follow_alphabetically() -> None:
    candidates = make("deny", 2) + make("allow", 2) + make("zeta", 2) + make("escalate", 2)
    selection = select_diverse(candidates, 4, hash_embed, type_order=("deny", "allow"))
    assert decisions_of(selection) == ["deny", "allow", "escalate", "zeta"]
    assert list(selection.per_type) == ["deny", "allow", "escalate", "zeta"]


def test_types_are_embedded_lazily() -> None:
    embed = RecordingEmbed()
    candidates = make("deny", 6) + make("allow", 4) + make("require_mfa", 3)
    selection = select_diverse(candidates, 2, embed)
    assert decisions_of(selection) == ["allow", "deny"]
    assert [len(call) for call in embed.calls] == [4, 6]  # require_mfa never embedded
    assert selection.per_type == {"allow": 1, "deny": 1, "require_mfa": 0}
    assert selection.examined == 10

    embed = RecordingEmbed()
    select_diverse(candidates, 9, embed)
    assert [len(call) for call in embed.calls] == [4, 6, 3]


# --- semantic diversity ------------------------------------------------------------------


def test_first_pick_is_the_most_typical_of_the_first_type() -> None:
    def at(degrees: float) -> list[float]:
        radians = np.radians(degrees)
        return [float(np.cos(radians)), float(np.sin(radians)), 0.0]

    table = {"a0": at(0), "a1": at(40), "a2": at(80)}
    candidates = [Candidate(k, "allow", k) for k in table]
    selection = select_diverse(candidates, 1, table_embed(table))
    assert [c.key for c in selection.chosen] == ["a1"]  # closest to the centroid at 40°


def test_later_picks_are_farthest_from_everything_chosen() -> None:
    table = {
        "allow": [1.0, 0.0, 0.0],
        "deny close to allow": [0.9, 0.3, 0.0],
        "deny far from allow": [0.0, 0.0, 1.0],
        "deny in between": [0.6, 0.0, 0.8],
    }
    candidates = [Candidate("a", "allow", "allow")] + [
        Candidate(f"d{i}", "deny", text) for i, text in enumerate(list(table)[1:])
    ]
    selection = select_diverse(candidates, 4, table_embed(table))
    assert [c.text for c in selection.chosen] == [
        "allow",
        "deny far from allow",  # farthest from the allow example
        "deny in between",  # max similarity to chosen 0.8, beats "close" (0.95 to allow)
        "deny close to allow",
    ]


def test_ties_go_to_the_smallest_key() -> None:
    keys = ["k3", "k1", "k4", "k2"]
    table = {f"text {k}": np.eye(4)[i].tolist() for i, k in enumerate(keys)}
    candidates = [Candidate(k, "deny", f"text {k}") for k in keys]
    selection = select_diverse(candidates, 4, table_embed(table))
    assert [c.key for c in selection.chosen] == ["k1", "k2", "k3", "k4"]


# --- near-duplicates ---------------------------------------------------------------------


def test_identical_texts_of_the_same_type_are_never_both_chosen() -> None:
    candidates = [Candidate(f"same-{i}", "deny", "VPN login from a new country") for i in range(5)]
    candidates += [Candidate("other-1", "deny", "Badge reuse"), Candidate("other-2", "deny", "Tor")]
    embed = RecordingEmbed()
    selection = select_diverse(candidates, 10, embed)

    texts = [c.text for c in selection.chosen]
    assert len(texts) == len(set(texts)) == 3
    assert "same-0" in {c.key for c in selection.chosen}  # the group's smallest key
    assert selection.near_duplicates_skipped == 4
    assert selection.examined == 7
    assert embed.embedded == 3  # each distinct text embedded once


def test_near_duplicate_variants_of_the_same_type_are_skipped_and_counted() -> None:
    candidates = [Candidate(f"v{i}", "deny", f"shared incident#{i}") for i in range(4)]
    candidates += make("deny", 2)
    similarity = float(hash_embed(["shared incident#0"])[0] @ hash_embed(["shared incident#1"])[0])
    assert similarity >= NEAR_DUPLICATE_COSINE

    selection = select_diverse(candidates, 10, hash_embed)
    chosen_variants = [c for c in selection.chosen if c.text.startswith("shared incident")]
    assert len(chosen_variants) == 1
    assert len(selection.chosen) == 3
    assert selection.near_duplicates_skipped == 3

    # With the threshold above their similarity, the variants are all eligible.
    relaxed = select_diverse(candidates, 10, hash_embed, near_duplicate=1.0)
    assert len(relaxed.chosen) == 6
    assert relaxed.near_duplicates_skipped == 0


def test_identical_texts_of_different_types_may_both_be_chosen() -> None:
    text = "Contractor asks for prod DB access at 3am"
    candidates = [Candidate("x1", "deny", text), Candidate("x2", "require_mfa", text)]
    selection = select_diverse(candidates, 2, hash_embed)
    assert {c.key for c in selection.chosen} == {"x1", "x2"}
    assert selection.near_duplicates_skipped == 0


def test_near_duplicates_count_only_examined_candidates() -> None:
    candidates = [Candidate(f"a{i}", "allow", "same allow") for i in range(3)]
    candidates += [Candidate(f"d{i}", "deny", "same deny") for i in range(3)]
    selection = select_diverse(candidates, 1, hash_embed)  # deny never reached
    assert selection.near_duplicates_skipped == 2
    assert selection.examined == 3


# --- determinism and scale ---------------------------------------------------------------


def test_result_is_deterministic_and_independent_of_input_order() -> None:
    candidates = make("deny", 30) + make("allow", 12) + make("require_attestation", 7)
    candidates += [Candidate(f"dup-{i}", "deny", f"dup#{i}") for i in range(5)]
    reference = select_diverse(candidates, 9, hash_embed)
    for seed in range(5):
        shuffled = list(candidates)
        random.Random(seed).shuffle(shuffled)
        assert select_diverse(shuffled, 9, hash_embed) == reference


def test_large_types_are_sampled_deterministically_to_the_pool_cap() -> None:
    candidates = make("deny", 2000) + make("allow", 30)
    embed = RecordingEmbed()
    selection = select_diverse(candidates, 6, embed, max_pool_per_type=100)
    assert EMBED_CALL_SIZE == 32
    assert [len(call) for call in embed.calls] == [30, 32, 32, 32, 4]  # allow, then deny
    assert selection.examined == 130
    assert selection.per_type == {"allow": 3, "deny": 3}

    shuffled = list(candidates)
    random.Random(3).shuffle(shuffled)
    embed_again = RecordingEmbed()
    assert select_diverse(shuffled, 6, embed_again, max_pool_per_type=100) == selection
    deny_texts = sorted(text for call in embed.calls[1:] for text in call)
    assert sorted(text for call in embed_again.calls[1:] for text in call) == deny_texts


def test_fifty_thousand_candidates_embed_only_the_capped_pools_quickly() -> None:
    rng = random.Random(11)
    weights = {"deny": 0.6, "allow": 0.25, "require_mfa": 0.1, "require_attestation": 0.05}
    candidates = []
    for i in range(50_000):
        decision = rng.choices(list(weights), weights=list(weights.values()))[0]
        scenario = rng.randrange(3_000)  # many exact repeats, as in re-run scenario suites
        candidates.append(Candidate(f"id-{i:05d}", decision, f"scenario {scenario} {decision}"))
    embed = RecordingEmbed()
    start = time.perf_counter()
    selection = select_diverse(candidates, 8, embed)
    elapsed = time.perf_counter() - start

    assert embed.embedded == 4 * MAX_POOL_PER_TYPE
    assert all(len(call) <= EMBED_CALL_SIZE for call in embed.calls)
    assert selection.per_type == {
        "allow": 2,
        "deny": 2,
        "require_attestation": 2,
        "require_mfa": 2,
    }
    assert elapsed < 10, f"selection over 50,000 candidates took {elapsed:.1f} s"


def test_importing_the_module_does_not_import_torch_or_qt() -> None:
    code = (
        "import sys\n"
        "import policy_desktop.export.fewshot_selection\n"
        "heavy = {'torch', 'sentence_transformers', 'transformers', 'PySide6', 'llama_cpp'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_token_budget_takes_only_what_fits() -> None:
    """Issue 12 item 9: the selection never exceeds the budget and skips what cannot fit."""
    from policy_desktop.export.fewshot_selection import Candidate as C
    from policy_desktop.export.fewshot_selection import select_diverse as pick

    rng = np.random.default_rng(3)
    candidates = [C(f"k{i:02d}", ("allow", "deny")[i % 2], f"text {i}") for i in range(20)]
    vectors = {c.text: rng.standard_normal(8) for c in candidates}

    def embed(texts: Sequence[str]) -> np.ndarray:
        return np.array([vectors[t] for t in texts])

    costs = {c.key: 100 for c in candidates}
    costs["k00"] = costs["k01"] = 900  # too long for what is left after any pick
    chosen = pick(candidates, 8, embed, costs=costs, budget=450).chosen
    assert sum(costs[c.key] for c in chosen) <= 450
    assert len(chosen) == 4 and not {"k00", "k01"} & {c.key for c in chosen}
    assert len(pick(candidates, 8, embed).chosen) == 8  # no budget: as before
