"""Replay throughput: the bundled model in its child process vs llama-server with N slots.

What it measures (issue #15's replay benchmark), all in one run on the same logged set:

* ``--count`` logged situations (made-up production traffic, ``tools/demo_data.py``;
  30 % reviewed) are replayed with the candidate prompt version through
  :func:`policy_desktop.engine.replay.continue_replay`, each path into its own replay
  run of the same originals:

  - **sequential**: the bundled model in its child process (``ModelProcess``), one
    answer at a time — what ``policy-desktop replay`` does without ``--endpoint``;
  - **llama-server -np N** for each N of ``--slots`` (default 1, 4, 8): the same GGUF
    through :class:`EndpointModel`, N requests at once (``replay --endpoint --parallel N``);

* the rate of each path (replayed decisions per second of wall time, model load
  excluded; the load is printed apart), the ratio to sequential (goal: 8 slots >= 4x
  sequential), and the decision agreement of each server path with sequential (greedy
  decoding, the same answer grammar: ideally identical; near-ties can flip when a
  server batches several slots).

Each llama-server slot keeps its own KV cache; the shared system part of the prompt (the
policy and the examples) is evaluated in one slot and restored into the others from a
saved file (the counts are printed). On each multi-slot server the benchmark also measures
the server's batching alone (plain greedy completions, no constraint, N one after another
vs N at once): the ceiling of what parallel slots can gain on this machine.

The machine may be shared: the load average before and after is printed, and the
ratios measured side by side are what matter. Paths run in the order given by
``--order`` (default: sequential first, then the slots ascending).

Run: ``.venv/bin/python benchmarks/bench_replay.py [--count 500] [--slots 1,4,8]
[--prompt-version NAME] [--threads N] [--ctx-per-slot N] [--json]``
(needs ``llama-server``: ``python3 packaging/build_llama_server.py --python .venv/bin/python``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from policy_desktop.engine.llm import EngineSettings  # noqa: E402
from policy_desktop.engine.prompts import DEFAULT_PROMPT_VERSION, PromptCatalog, load_policy  # noqa: E402
from policy_desktop.engine.replay import Candidate, continue_replay, plan_replay  # noqa: E402
from policy_desktop.engine.replay_report import replay_report  # noqa: E402
from policy_desktop.store import PolicyDecisionLog  # noqa: E402
from policy_desktop.store.queries import DecisionFilter  # noqa: E402
from policy_desktop.store.replay import ReplaySelection, ReplayStore  # noqa: E402
from tools.demo_data import demo_decisions  # noqa: E402

REVIEWED_SHARE = 0.3


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def fill(log: PolicyDecisionLog, count: int) -> None:
    """``count`` made-up decisions, every third-or-so reviewed with its expected answer."""
    decisions = list(demo_decisions(count, seed=15))
    for decision in decisions:
        decision.run_id = None
    log.log_decisions(decisions)
    for index, decision in enumerate(decisions):
        if index % round(1 / REVIEWED_SHARE) == 0 and decision.decision_id:
            human = decision.expected_decision or decision.decision
            if human == "unparseable":
                human = "deny"
            log.mark_reviewed(decision.decision_id,
                              None if human == decision.decision else human, reviewer="bench")


class Progress:
    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.perf_counter()

    def replay_started(self, run_id: str, total: int, done: int) -> None:
        self.started = time.perf_counter()
        self.step = max(1, total // 5)

    def decision_replayed(self, done: int, total: int, original: Any, answer: Any) -> None:
        if done % self.step == 0 or done == total:
            rate = done / (time.perf_counter() - self.started)
            note(f"  {self.label}: {done}/{total} ({rate:.2f}/s)")


def replay_path(log: PolicyDecisionLog, label: str, model: Any, prompt: str,
                parallel: int) -> dict[str, Any]:
    candidate = Candidate(model, PromptCatalog().get(prompt), load_policy())
    run_id, planned = plan_replay(log, ReplaySelection(DecisionFilter(view="all")), candidate)
    outcome = continue_replay(log, run_id, candidate, listener=Progress(label),
                              parallel=parallel)
    store = ReplayStore(log)
    decisions = {original.decision_id: answer.decision
                 for original, answer in store.pairs(run_id)}
    report = replay_report(log, run_id)
    return {"label": label, "run_id": run_id, "parallel": parallel, "planned": planned,
            "replayed": outcome.done, "seconds": round(outcome.seconds, 2),
            "rate": outcome.done / outcome.seconds if outcome.seconds else None,
            "load_seconds": round(model.load_seconds, 2), "flips": report.flips,
            "dangerous": len(report.dangerous),
            "accuracy_original": report.comparison.accuracy_a,
            "accuracy_candidate": report.comparison.accuracy_b,
            "mcnemar_p": report.comparison.p_value, "decisions": decisions}


def sequential(log: PolicyDecisionLog, args: argparse.Namespace) -> dict[str, Any]:
    from policy_desktop.engine.model_process import ModelProcess

    settings = EngineSettings(n_threads=args.threads)
    with contextlib.closing(ModelProcess(settings, on_status=note)) as model:
        return replay_path(log, "sequential (child process)", model, args.prompt_version, 1)


def served(log: PolicyDecisionLog, args: argparse.Namespace, slots: int) -> dict[str, Any]:
    from policy_desktop.commands.serve_model import start_server
    from policy_desktop.engine.endpoint import EndpointModel

    started = time.perf_counter()
    with start_server(parallel=slots, ctx_per_slot=args.ctx_per_slot,
                      threads=args.threads) as server:
        model = EndpointModel(server.url, EngineSettings())
        model.load_seconds = time.perf_counter() - started
        result = replay_path(log, f"llama-server -np {slots}", model, args.prompt_version,
                             slots)
        counts = model.prefixes.counts
        result.update(prefix_evaluated=counts.evaluated, prefix_restored=counts.restored)
        if slots > 1 and not args.no_ceiling:
            result["ceiling"] = batching_ceiling(server.url, slots)
        return result


def _post(url: str, payload: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(url + "/completion", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as reply:
        data: dict[str, Any] = json.loads(reply.read())
        return data


def batching_ceiling(url: str, slots: int, tokens: int = 32) -> dict[str, float]:
    """What the server's batching alone gains on this machine: plain greedy completions
    (no grammar, no probabilities, a short prompt), ``slots`` one after another vs all at
    once. No replay path can beat this ratio by more than its own savings."""
    def complete(index: int) -> None:
        _post(url, {"prompt": f"Access review note {index}: the engineer asked for",
                    "n_predict": tokens, "temperature": 0, "ignore_eos": True,
                    "cache_prompt": False, "id_slot": index % slots})

    complete(0)  # warm
    started = time.perf_counter()
    for index in range(slots):
        complete(index)
    one_at_a_time = slots * tokens / (time.perf_counter() - started)
    started = time.perf_counter()
    with ThreadPoolExecutor(slots) as pool:
        list(pool.map(complete, range(slots)))
    at_once = slots * tokens / (time.perf_counter() - started)
    return {"tokens_per_second_one_at_a_time": round(one_at_a_time, 1),
            "tokens_per_second_at_once": round(at_once, 1),
            "ratio": round(at_once / one_at_a_time, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=500, help="logged situations (500)")
    parser.add_argument("--slots", default="1,4,8", help="llama-server slot counts (1,4,8)")
    parser.add_argument("--prompt-version", default=DEFAULT_PROMPT_VERSION)
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for both engines (default: llama.cpp's choice)")
    parser.add_argument("--ctx-per-slot", type=int, default=4096)
    parser.add_argument("--order", default="sequential-first",
                        choices=("sequential-first", "sequential-last"))
    parser.add_argument("--no-ceiling", action="store_true",
                        help="skip the plain batching measurement on the multi-slot servers")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    slots = [int(part) for part in args.slots.split(",") if part.strip()]

    load_before = os.getloadavg()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder, \
            PolicyDecisionLog(Path(folder) / "replay.db") as log:
        fill(log, args.count)
        note(f"{args.count} logged situations; prompt {args.prompt_version}; load "
             f"{load_before[0]:.1f}")
        paths: list[Any] = [lambda: sequential(log, args)]
        paths += [lambda n=n: served(log, args, n) for n in slots]
        if args.order == "sequential-last":
            paths = paths[1:] + paths[:1]
        for path in paths:
            results.append(path())
    load_after = os.getloadavg()

    base = next(r for r in results if r["parallel"] == 1 and r["label"].startswith("seq"))
    for result in results:
        result["ratio"] = (result["rate"] / base["rate"]) if base["rate"] else None
        same = sum(base["decisions"].get(key) == value
                   for key, value in result["decisions"].items())
        result["agreement"] = same / len(result["decisions"]) if result["decisions"] else None
    summary = {"count": args.count, "prompt_version": args.prompt_version,
               "threads": args.threads, "cpus": os.cpu_count(),
               "load_before": [round(x, 2) for x in load_before],
               "load_after": [round(x, 2) for x in load_after],
               "paths": [{k: v for k, v in r.items() if k != "decisions"} for r in results]}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"Replay of {args.count} logged situations, prompt {args.prompt_version}, "
          f"{os.cpu_count()} CPUs, load {load_before[0]:.1f} -> {load_after[0]:.1f}")
    print(f"{'path':<28} {'rate/s':>7} {'x seq':>6} {'agree':>6} {'seconds':>8} "
          f"{'load s':>7} {'flips':>6}")
    for r in results:
        print(f"{r['label']:<28} {r['rate']:>7.3f} {r['ratio']:>6.2f} "
              f"{r['agreement'] * 100:>5.1f}% {r['seconds']:>8.1f} {r['load_seconds']:>7.1f} "
              f"{r['flips']:>6}")
    for r in results:
        if "prefix_restored" in r:
            print(f"{r['label']}: shared prompt part evaluated {r['prefix_evaluated']}x, "
                  f"restored into {r['prefix_restored']} slot(s)")
        if "ceiling" in r:
            c = r["ceiling"]
            print(f"{r['label']}: plain greedy decoding (no constraint), {r['parallel']} at "
                  f"once {c['tokens_per_second_at_once']} tok/s vs one at a time "
                  f"{c['tokens_per_second_one_at_a_time']} tok/s = x{c['ratio']} "
                  "(the machine's batching ceiling)")
    eight = next((r for r in results if r["parallel"] == 8), None)
    if eight is not None:
        verdict = "met" if eight["ratio"] >= 4 else "not met"
        print(f"Goal 8 slots >= 4x sequential: {eight['ratio']:.2f}x ({verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
