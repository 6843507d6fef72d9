"""Time the MiniLM embedder and few-shot selection over 50,000 synthetic corrections.

Run: ``.venv/bin/python benchmarks/bench_embeddings.py [--texts 1000] [--candidates 50000]``
"""

from __future__ import annotations

import argparse
import random
import resource
import time

from policy_desktop.engine.embeddings import Embedder
from policy_desktop.export.fewshot_selection import Candidate, select_diverse
from policy_desktop.vocabulary import DECISIONS

_SUBJECTS = [
    "A contractor",
    "An intern",
    "A site reliability engineer",
    "A finance analyst",
    "A departing employee",
    "A service account",
    "An external auditor",
    "A new hire",
]
_ACTIONS = [
    "requests write access to",
    "tries to download",
    "asks for admin rights on",
    "logs in to",
    "wants to share",
    "schedules a job against",
]
_TARGETS = [
    "the production database",
    "the payroll system",
    "customer support tickets",
    "the source code repository",
    "the HR records",
    "the billing dashboard",
]
_CONTEXTS = [
    "from a new device",
    "at 3am on a Sunday",
    "from an unfamiliar country",
    "with a ticket that was closed",
    "during an incident",
    "without manager approval",
    "over the corporate VPN",
    "from a shared kiosk",
]


def synthetic_text(rng: random.Random) -> str:
    """A situation plus reasoning of realistic length (~60 words)."""
    situation = " ".join(
        [rng.choice(_SUBJECTS), rng.choice(_ACTIONS), rng.choice(_TARGETS), rng.choice(_CONTEXTS)]
    )
    reasoning = (
        f"{situation}. The data is {rng.choice(['confidential', 'internal', 'restricted'])} "
        f"and the role normally has {rng.choice(['read-only', 'no', 'temporary'])} access. "
        f"Risk is {rng.choice(['low', 'medium', 'high', 'critical'])} because the request "
        f"happens {rng.choice(_CONTEXTS)} and {rng.choice(_CONTEXTS)}. "
        f"Reviewer note {rng.randrange(10_000)}: follow the team access policy section "
        f"{rng.randrange(1, 20)}."
    )
    return f"Situation: {situation}\nReasoning: {reasoning}"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Print load time, encode throughput and selection time and peak memory."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--candidates", type=int, default=50_000)
    parser.add_argument("--count", type=int, default=8)
    args = parser.parse_args()

    rng = random.Random(0)
    embedder = Embedder()
    start = time.perf_counter()
    embedder.load()
    print(
        f"model load (imports included): {time.perf_counter() - start:.2f} s, "
        f"RSS {_peak_rss_mb():.0f} MB"
    )

    texts = [synthetic_text(rng) for _ in range(args.texts)]
    start = time.perf_counter()
    embedder.encode(texts)
    elapsed = time.perf_counter() - start
    print(f"encode {len(texts)} texts: {elapsed:.2f} s ({len(texts) / elapsed:.0f} texts/s)")

    weights = [0.25, 0.55, 0.05, 0.15]
    candidates = [
        Candidate(f"id-{i:06d}", rng.choices(DECISIONS, weights=weights)[0], synthetic_text(rng))
        for i in range(args.candidates)
    ]
    start = time.perf_counter()
    selection = select_diverse(candidates, args.count, embedder.encode)
    elapsed = time.perf_counter() - start
    peak_mb = _peak_rss_mb()
    print(
        f"select_diverse({len(candidates)} candidates, count={args.count}): {elapsed:.2f} s, "
        f"examined {selection.examined}, per type {selection.per_type}, "
        f"near-duplicates skipped {selection.near_duplicates_skipped}, peak RSS {peak_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
