"""One reviewer process on the shared queue (run by the team tests as a subprocess).

Usage: ``python team_worker.py LOCATION REVIEWER SEED [POOL]`` — claims batches (from
``POOL``, default ``next``) until every decision has the reviews it needs, answers each
with a seeded random choice, and prints one JSON object: the reviews saved (decision id,
slot, answer), the claims lost and every claim handed over (decision id, slot).
"""

from __future__ import annotations

import json
import random
import sys
import time

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.errors import ClaimLostError
from policy_desktop.store.review_queue import ReviewQueue
from policy_desktop.vocabulary import DECISIONS


def main(location: str, reviewer: str, seed: int, pool: str = "next") -> None:
    chooser = random.Random(seed)
    saved: list[list[object]] = []
    lost: list[str] = []
    handed: list[list[object]] = []
    with PolicyDecisionLog(location, create=False) as log:
        queue = ReviewQueue(log)
        while True:
            claims = queue.claim(reviewer, 3, pool=pool)
            handed += [[claim.decision_id, claim.slot] for claim in claims]
            if not claims:
                if queue.finished():
                    break
                time.sleep(0.05)  # others hold the rest; a second opinion may follow
                continue
            for claim in claims:
                answer = chooser.choice(DECISIONS)
                try:
                    queue.submit(claim, answer)
                except ClaimLostError:
                    lost.append(claim.decision_id)
                    continue
                saved.append([claim.decision_id, claim.slot, answer])
        queue.release(reviewer)
    print(json.dumps({"reviewer": reviewer, "saved": saved, "lost": lost, "handed": handed}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), *sys.argv[4:5])
