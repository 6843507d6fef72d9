"""Production traffic in: the background logger and ``ingest`` against one-batch logging.

Run: ``.venv/bin/python benchmarks/bench_ingest.py [--decisions 100000] [--producers 4]``

Measured side by side in one run, each into a fresh SQLite file:

1. **one batch** — ``PolicyDecisionLog.log_decisions`` of all decisions at once: the
   store's best rate, the reference.
2. **background** — ``--producers`` threads call ``BackgroundLogger.log`` as fast as they
   can (no pacing: a burst far above the store's sustained rate, the worst case), each
   call timed on the caller's side; once with the default queue (50,000: the rest of the
   burst is spilled to the importable JSONL file) and once with a queue as large as the
   burst. Reported: p50, p99 and the slowest call (goal: p99 <= 1 ms), rows stored
   (goal: all), and the rate from the first call until ``close()`` returned with
   everything committed, as a ratio to the one batch (goal >= 0.5).
3. **ingest over HTTP** — ``policy-desktop ingest`` in its own process on 127.0.0.1;
   ``--producers`` client threads POST gzip JSON arrays of ``--events-per-post`` events.
   Reported: the rate until the last 200 came back, rows stored, ratio to the batch.
4. **llama-server** (with ``--completions``, when ``llama-server`` is built):
   ``policy-desktop serve-model --parallel 8`` answers 16 scenarios through
   :class:`~policy_desktop.engine.endpoint.EndpointModel`, one at a time and 8 at once;
   the ratio of the rates (the issue measured x5.0).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.store.background import BackgroundLogger
from policy_desktop.vocabulary import DECISIONS

ROOT = Path(__file__).resolve().parent.parent


def make_decisions(count: int, offset: int = 0) -> list[PolicyDecision]:
    """Realistic production decisions (no ids or timestamps: the logger fills them in)."""
    roles = ("admin", "maintainer", "member", "contractor", "guest")
    actions = ("read", "write", "deploy", "delete", "export")
    return [PolicyDecision(
        situation={"actor": f"user{(offset + i) % 997}", "role": roles[i % 5],
                   "action": actions[(i // 5) % 5], "target": f"services/api/{i % 113}.py",
                   "trust_score": round((i % 100) / 100, 2), "mfa_verified": i % 3 == 0,
                   "time": "2026-11-27T10:15:00Z"},
        team_context="Platform team", model_name="phi-4-mini-7b", model_version="Q4_K_M",
        prompt_version="v2_fewshot_8examples", decision=DECISIONS[i % 4],
        classification="routine_access", risk_level="low",
        reasoning="The member role may read service code during working hours.",
        confidence=0.5 + (i % 50) / 100, tags=["production"], seconds=0.4,
    ) for i in range(count)]


def bench_batch(folder: Path, decisions: list[PolicyDecision]) -> float:
    with PolicyDecisionLog(folder / "batch.db") as log:
        started = time.perf_counter()
        log.log_decisions(decisions)
        return time.perf_counter() - started


def bench_background(folder: Path, per_producer: list[list[PolicyDecision]],
                     queue_size: int | None) -> dict[str, Any]:
    path = folder / f"background-{queue_size}.db"
    PolicyDecisionLog(path).close()
    latencies: list[list[int]] = [[] for _ in per_producer]
    barrier = threading.Barrier(len(per_producer) + 1)

    def produce(index: int, logger: BackgroundLogger) -> None:
        clock = time.perf_counter_ns
        own = latencies[index]
        barrier.wait()
        for decision in per_producer[index]:
            started = clock()
            logger.log(decision)
            own.append(clock() - started)

    logger = BackgroundLogger(path, **({"queue_size": queue_size} if queue_size else {}))
    threads = [threading.Thread(target=produce, args=(i, logger))
               for i in range(len(per_producer))]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    logged = time.perf_counter() - started
    stats = logger.close()
    total = time.perf_counter() - started
    with PolicyDecisionLog(path) as log:
        rows = int(log.get_statistics()["total"])
    flat = sorted(value for own in latencies for value in own)
    return {
        "seconds": total, "logging_seconds": logged, "rows": rows, "spilled": stats.spilled,
        "p50_ms": flat[len(flat) // 2] / 1e6, "p99_ms": flat[int(len(flat) * 0.99)] / 1e6,
        "max_ms": flat[-1] / 1e6, "mean_us": statistics.fmean(flat) / 1e3,
    }


def bench_ingest(folder: Path, per_producer: list[list[PolicyDecision]],
                 events_per_post: int) -> dict[str, Any]:
    path = folder / "ingest.db"
    PolicyDecisionLog(path).close()
    bodies = []
    for own in per_producer:
        records = [d.to_dict() for d in own]
        for record in records:
            record["timestamp"] = "2026-11-27T10:15:00+00:00"
        bodies.append([gzip.compress(json.dumps(records[i:i + events_per_post]).encode(), 1)
                       for i in range(0, len(records), events_per_post)])
    server = subprocess.Popen(
        [sys.executable, "-m", "policy_desktop", "ingest", "--db", str(path), "--listen",
         "127.0.0.1:0"], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert server.stdout is not None
    url = server.stdout.readline().split("listening on ", 1)[1].split(" ", 1)[0]
    failures: list[str] = []
    retries: list[int] = []

    def send(own: list[bytes]) -> None:
        for body in own:
            request = urllib.request.Request(url, data=body, method="POST", headers={
                "Content-Encoding": "gzip", "Content-Type": "application/json"})
            while True:  # as OPA does: a 503 (database busy) is sent again
                try:
                    with urllib.request.urlopen(request, timeout=120) as reply:
                        answer = json.loads(reply.read())
                    break
                except urllib.error.HTTPError as error:
                    error.close()
                    if error.code != 503:
                        raise
                    retries.append(1)
                    time.sleep(1)
            if answer["invalid"] or answer["conflicts"]:
                failures.append(str(answer["errors"][:2]))

    threads = [threading.Thread(target=send, args=(own,)) for own in bodies]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    server.terminate()
    server.communicate(timeout=60)
    with PolicyDecisionLog(path) as log:
        rows = int(log.get_statistics()["total"])
    return {"seconds": seconds, "rows": rows, "failures": failures, "retries": len(retries)}


def bench_completions(count: int, parallel: int, model: Path | None) -> dict[str, Any] | None:
    """``count`` scenario prompts through llama-server: one at a time vs ``parallel`` at once."""
    from policy_desktop.commands.serve_model import find_server_binary, start_server
    from policy_desktop.engine.endpoint import EndpointModel
    from policy_desktop.engine.prompts import (
        DEFAULT_PROMPT_VERSION,
        PromptCatalog,
        build_prompt,
        load_policy,
    )
    from policy_desktop.engine.scenarios import load_suite

    if find_server_binary() is None:
        print("llama-server  : not built (python3 packaging/build_llama_server.py --python "
              ".venv/bin/python); skipped")
        return None
    scenarios = load_suite().select(full=True)
    version = PromptCatalog().get(DEFAULT_PROMPT_VERSION)
    policy = load_policy(None)
    prompts = []
    for index in range(count):
        scenario = scenarios[index % len(scenarios)]
        parts = build_prompt(version, policy, scenario.situation, scenario.team_context)
        prompts.append((parts.system, parts.user))
    with start_server(parallel=parallel, model=model) as server:
        engine = EndpointModel(server.url)
        # warm up every slot: each keeps the shared system prompt's KV cache, as the one
        # slot the sequential side uses does (the prompts are mostly that prefix)
        engine.decide_many([prompts[0]] * parallel, parallel=parallel)
        started = time.perf_counter()
        sequential = [engine.decide(system, user) for system, user in prompts]
        one_at_a_time = time.perf_counter() - started
        started = time.perf_counter()
        concurrent = engine.decide_many(prompts, parallel=parallel)
        at_once = time.perf_counter() - started
    agree = sum(a.decision == b.decision for a, b in zip(sequential, concurrent, strict=True))
    return {"sequential": one_at_a_time, "parallel": at_once, "agree": agree,
            "evaluated": statistics.fmean(a.evaluated_tokens for a in concurrent),
            "prompt": statistics.fmean(a.prompt_tokens for a in concurrent),
            "generated": statistics.fmean(a.generated_tokens for a in concurrent)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--events-per-post", type=int, default=1_000)
    parser.add_argument("--ingest-decisions", type=int,
                        help="decisions sent over HTTP (default: --decisions)")
    parser.add_argument("--completions", type=int, default=16,
                        help="llama-server completions per side (0: skip)")
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--model", type=Path, help="GGUF for llama-server (default: bundled)")
    args = parser.parse_args()
    count, producers = args.decisions, args.producers
    folder = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    try:
        share = count // producers
        batch_seconds = bench_batch(folder, make_decisions(share * producers))
        batch_rate = share * producers / batch_seconds
        print(f"one batch     : {share * producers} decisions in {batch_seconds:.2f} s "
              f"({batch_rate:,.0f}/s)")
        for queue_size in (None, count):
            background = bench_background(
                folder, [make_decisions(share, i * share) for i in range(producers)], queue_size)
            rate = share * producers / background["seconds"]
            queue = f"queue {queue_size:,}" if queue_size else "default queue"
            print(f"background    : {producers} producers, {queue}: {background['rows']} of "
                  f"{share * producers} stored, {background['spilled']} spilled (importable); "
                  f"log() p50 {background['p50_ms'] * 1000:.1f} µs, p99 "
                  f"{background['p99_ms']:.3f} ms (goal <= 1), max "
                  f"{background['max_ms']:.1f} ms; done after {background['seconds']:.2f} s "
                  f"({rate:,.0f}/s stored or spilled, x{rate / batch_rate:.2f} of one batch, "
                  f"goal >= 0.5; callers done after {background['logging_seconds']:.2f} s)")
        ingest_share = (args.ingest_decisions or count) // producers
        ingest = bench_ingest(folder, [make_decisions(ingest_share, i * ingest_share)
                                       for i in range(producers)], args.events_per_post)
        rate = ingest_share * producers / ingest["seconds"]
        print(f"ingest (HTTP) : {producers} clients, {args.events_per_post} events per gzip "
              f"POST: {ingest['rows']} of {ingest_share * producers} stored in "
              f"{ingest['seconds']:.2f} s ({rate:,.0f}/s, x{rate / batch_rate:.2f} of one "
              f"batch; {ingest['retries']} posts sent again after a 503)"
              f"{'; FAILURES ' + '; '.join(ingest['failures'][:3]) if ingest['failures'] else ''}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if args.completions:
        result = bench_completions(args.completions, args.parallel, args.model)
        if result is not None:
            n = args.completions
            print(f"llama-server  : {n} completions one at a time {result['sequential']:.1f} s "
                  f"({n / result['sequential']:.2f}/s), {args.parallel} at once "
                  f"{result['parallel']:.1f} s ({n / result['parallel']:.2f}/s): "
                  f"x{result['sequential'] / result['parallel']:.2f}; same decision "
                  f"{result['agree']}/{n}; per answer {result['prompt']:.0f} prompt tokens "
                  f"({result['evaluated']:.0f} evaluated, the rest cached), "
                  f"{result['generated']:.0f} generated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
