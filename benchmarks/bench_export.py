"""Time the training export for 1,000, 10,000 and 50,000 corrections; report peak memory.

Run: ``.venv/bin/python benchmarks/bench_export.py [--sizes 1000 10000 50000] [--fake-embed]``

Each database is built with ``PolicyDecisionLog.import_decisions`` (decisions with their
review state and one history event each, in batches): the bulk path for reviews, since
``mark_reviewed`` does a read, an insert, a history scan and an update per decision (its
rate is measured and printed too). Each export then runs in a fresh child process so its
peak RSS (``resource.getrusage``) is its own. The export uses the real MiniLM embedder
unless ``--fake-embed`` is given; model loading is included in the time, as in the CLI.
Goal: 50,000 corrections in <= 60 s and <= 1 GB peak RSS on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from policy_desktop.engine.scenarios import load_suite
from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.vocabulary import DECISIONS

_ROLES = ["admin", "maintainer", "member", "contractor", "guest"]
_ACTIONS = ["read", "write", "deploy", "delete", "run_migration", "export", "rotate", "force_push"]
_TARGETS = ["docs/guide.md", "services/api/handlers.py", "production/db/orders",
            "secrets/deploy_token", "staging/config.yaml", "src/auth/login.py",
            "production/api", "audit/logs", "billing/invoices.csv"]
_TIMES = ["Monday 09:10", "Tuesday 14:30", "Wednesday 22:45", "Saturday 03:20", "Friday 18:55"]
_RULES = ["Rule 2: secrets never leave the vault.", "Rule 4: the role does not permit it.",
          "Rule 5: destructive actions are for admins.", "Rule 6: trust is too low for production.",
          "Rule 7: MFA is required for secrets and production.",
          "Rule 8: off-hours writes need MFA.", "Rule 9: production changes need attestation.",
          "Rule 10: the role permits it."]
_BATCH = 2_000


def _decision(index: int, rng: random.Random, suite: Sequence[dict[str, object]],
              review: str) -> PolicyDecision:
    """One reviewed decision: ``review`` is ``correction`` or ``accept``."""
    if suite and rng.random() < 0.005:
        situation = dict(rng.choice(suite))
    else:
        situation = {"actor": f"user{rng.randrange(5000)}", "role": rng.choice(_ROLES),
                     "action": rng.choice(_ACTIONS),
                     "target": f"{rng.choice(_TARGETS)}#{rng.randrange(200)}",
                     "environment": rng.choice(["development", "staging", "production"]),
                     "trust_score": round(rng.random(), 2), "mfa_verified": rng.random() < 0.7,
                     "time": rng.choice(_TIMES)}
    model = rng.choices(DECISIONS, weights=[0.45, 0.25, 0.15, 0.15])[0]
    human = model
    if review == "correction":
        human = rng.choices(DECISIONS, weights=[0.1, 0.5, 0.2, 0.2])[0]
    reasoning = f"{rng.choice(_RULES)} The actor is a {situation['role']}."
    review_reasoning = None
    if review == "correction":
        review_reasoning = (f"{rng.choice(_RULES)} {rng.choice(_RULES)} "
                            f"Reviewer note {index}: checked the team context.")
    timestamp = f"2026-02-{1 + index % 28:02d}T{index % 24:02d}:{index % 60:02d}:00+00:00"
    return PolicyDecision(
        situation=situation, team_context=f"Team {index % 40}: works on {rng.choice(_TARGETS)}.",
        model_name=rng.choice(["gemma-3-270m", "phi-4-mini"]), model_version="Q4_K_M",
        prompt_version=rng.choice(["v2_fewshot_8examples", "v3_custom"]), decision=model,
        classification=rng.choice(["routine_read_access", "production_change", "secret_access"]),
        risk_level=rng.choice(["low", "medium", "high", "critical"]), reasoning=reasoning,
        decision_id=f"dec_bench_{index:08d}", timestamp=timestamp, reviewed=True,
        review_decision=human, review_reasoning=review_reasoning, reviewer="bench",
        review_timestamp=timestamp,
    )


def _decisions(corrections: int, accepted: int, seed: int = 0) -> Iterator[PolicyDecision]:
    rng = random.Random(seed)
    suite = [dict(s.situation) for s in load_suite().scenarios]
    kinds = ["correction"] * corrections + ["accept"] * accepted
    rng.shuffle(kinds)
    for index, kind in enumerate(kinds):
        yield _decision(index, rng, suite, kind)


def build_database(path: Path, corrections: int) -> float:
    """Fill ``path`` with ``corrections`` corrections and 25% as many accepts; seconds taken."""
    start = time.perf_counter()
    with PolicyDecisionLog(path) as log:
        batch: list[PolicyDecision] = []
        for decision in _decisions(corrections, corrections // 4):
            batch.append(decision)
            if len(batch) == _BATCH:
                log.import_decisions(batch)
                batch = []
        log.import_decisions(batch)
        assert log.count_corrections() == corrections
    return time.perf_counter() - start


def mark_reviewed_rate(folder: Path, count: int = 300) -> float:
    """Seconds per ``mark_reviewed`` call on a fresh database."""
    rng = random.Random(1)
    with PolicyDecisionLog(folder / "mark.db") as log:
        decisions = [_decision(i, rng, [], "accept") for i in range(count)]
        for d in decisions:
            d.reviewed, d.review_decision, d.reviewer, d.review_timestamp = False, None, None, None
        log.log_decisions(decisions)
        start = time.perf_counter()
        for d in decisions:
            assert d.decision_id is not None
            log.mark_reviewed(d.decision_id, "deny", "Bench correction.", "bench")
        return (time.perf_counter() - start) / count


def _fake_embed(texts: Sequence[str]) -> np.ndarray:
    rows = [np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(64) for t in texts]
    return np.array(rows, dtype=np.float32).reshape(len(texts), 64)


def child(database: Path, output: Path, fake: bool) -> None:
    """Run one export and print its timing and peak memory as JSON."""
    from policy_desktop.engine.embeddings import Embedder
    from policy_desktop.export.training import ExportOptions, export_training_data

    embed_seconds = 0.0
    embedder = Embedder()
    inner = _fake_embed if fake else embedder.encode

    def timed_embed(texts: Sequence[str]) -> np.ndarray:
        nonlocal embed_seconds
        start = time.perf_counter()
        vectors = inner(texts)
        embed_seconds += time.perf_counter() - start
        return vectors

    start = time.perf_counter()
    with PolicyDecisionLog(database, create=False) as log:
        result = export_training_data(log, output, ExportOptions(embed=timed_embed))
    seconds = time.perf_counter() - start
    load_seconds = embedder.load_seconds or 0.0
    print(json.dumps({
        "seconds": seconds, "load_seconds": load_seconds,
        "embed_seconds": embed_seconds - load_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "output_mb": sum(info.bytes for info in result.files.values()) / 1e6,
        "chat_lines": result.files["finetuning_chat.jsonl"].records,
        "fewshot": result.files["fewshot_examples.txt"].records,
        "suite_excluded": result.preview.suite_examples_excluded,
    }))


def main() -> None:
    """Build the databases, export each in a child process, print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 50_000])
    parser.add_argument("--fake-embed", action="store_true", help="skip MiniLM (for a quick run)")
    parser.add_argument("--child", nargs=2, metavar=("DB", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), args.fake_embed)
        return

    folder = Path(tempfile.mkdtemp(prefix="bench_export_"))
    try:
        per_call = mark_reviewed_rate(folder)
        print(f"mark_reviewed: {per_call * 1000:.2f} ms per call "
              f"(50,000 reviews would take ~{per_call * 50_000:.0f} s; "
              "the benchmark uses import_decisions in batches instead)\n")
        header = (f"{'corrections':>11}  {'build s':>8}  {'export s':>8}  {'load s':>6}  "
                  f"{'embed s':>7}  "
                  f"{'peak RSS MB':>11}  {'output MB':>9}  {'chat lines':>10}  {'suite excl':>10}  "
                  f"{'few-shot':>8}")
        print(header)
        print("-" * len(header))
        for size in args.sizes:
            database = folder / f"bench_{size}.db"
            build = build_database(database, size)
            command = [sys.executable, __file__, "--child", str(database),
                       str(folder / f"out_{size}")]
            if args.fake_embed:
                command.append("--fake-embed")
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{size:>11,}  {build:>8.1f}  {row['seconds']:>8.1f}  "
                  f"{row['load_seconds']:>6.1f}  {row['embed_seconds']:>7.1f}  "
                  f"{row['peak_rss_mb']:>11.0f}  "
                  f"{row['output_mb']:>9.0f}  {row['chat_lines']:>10,}  "
                  f"{row['suite_excluded']:>10,}  {row['fewshot']:>8}", flush=True)
            shutil.rmtree(folder / f"out_{size}", ignore_errors=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print("\nexport s includes the embedder: load s (MiniLM import and load, paid once per "
          "process) and embed s (encoding the sampled few-shot candidates)"
          + (" -- here a fake embedder (--fake-embed)" if args.fake_embed else ""))


if __name__ == "__main__":
    main()
