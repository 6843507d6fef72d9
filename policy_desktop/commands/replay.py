"""``policy-desktop replay``: re-decide logged decisions with a candidate, report the flips."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from typing import Any, TextIO

from policy_desktop.commands.common import error, guarded, open_log, percent

HELP = ("re-decide logged decisions with a candidate prompt version or model and report "
        "what would flip")
BAR_WIDTH = 24
FILTER_KEYS = ("view", "decision", "model", "prompt", "run", "since", "until", "text",
               "expected")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    choose = parser.add_argument_group("which logged decisions (the table's filters)")
    choose.add_argument(
        "--filter", action="append", default=[], metavar="KEY=VALUE",
        help="repeatable: view=reviewed|unreviewed|incorrect|corrections|all, decision=D, "
             "model=NAME, prompt=VERSION, run=RUN_ID, since=TIME, until=TIME (ISO-8601, "
             "inclusive), text=WORDS, expected=D")
    choose.add_argument("--reviewed", action="store_true", help="only reviewed decisions "
                        "(same as --filter view=reviewed)")
    choose.add_argument("--last", type=int, metavar="N",
                        help="only the newest N of them (e.g. --reviewed --last 500)")
    candidate = parser.add_argument_group("the candidate")
    candidate.add_argument("--prompt-version", metavar="NAME",
                           help="prompt version to re-decide with (default: the model's, "
                                "else the default version)")
    source = candidate.add_mutually_exclusive_group()
    source.add_argument("--model", metavar="PATH_OR_NAME",
                        help="GGUF file or fine-tuned model name (default: bundled Gemma)")
    source.add_argument("--endpoint", metavar="URL",
                        help="an OpenAI-compatible server (llama-server, vLLM)")
    candidate.add_argument("--parallel", type=int, default=1, metavar="N",
                           help="with --endpoint: requests at once (the server's slots)")
    candidate.add_argument("--policy", metavar="FILE", help="policy text (default: shipped)")
    candidate.add_argument("--threads", type=int, metavar="N", help="CPU threads for llama.cpp")
    candidate.add_argument("--ctx", type=int, metavar="N", help="context size in tokens")
    runs = parser.add_argument_group("an earlier replay")
    runs.add_argument("--resume", metavar="REPLAY_RUN",
                      help="continue a cancelled, failed or interrupted replay where it stopped")
    runs.add_argument("--report", metavar="REPLAY_RUN",
                      help="only print the report of a replay (no model is loaded)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--show", type=int, default=20, metavar="N",
                        help="dangerous flips listed in the text report (default 20)")


def parse_filters(items: list[str], reviewed: bool, last: int | None) -> Any:
    """``--filter KEY=VALUE`` items as a :class:`ReplaySelection` (ValueError if bad)."""
    from policy_desktop.store.queries import DecisionFilter
    from policy_desktop.store.replay import ReplaySelection, utc_instant

    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in FILTER_KEYS or not value.strip():
            raise ValueError(f"--filter {item!r}: expected KEY=VALUE with KEY one of "
                             f"{', '.join(FILTER_KEYS)}")
        values[key] = value.strip()
    if reviewed:
        values["view"] = "reviewed"
    for key in ("since", "until"):
        if key in values:
            try:
                utc_instant(values[key])
            except ValueError:
                raise ValueError(f"--filter {key}={values[key]!r} is not an ISO-8601 time"
                                 ) from None
    if last is not None and last < 1:
        raise ValueError("--last needs a number of at least 1")
    flt = DecisionFilter(view=values.get("view", "all"), text=values.get("text", ""),
                         decision=values.get("decision"), model_name=values.get("model"),
                         prompt_version=values.get("prompt"), run_id=values.get("run"),
                         expected=values.get("expected"))
    return ReplaySelection(flt, since=values.get("since"), until=values.get("until"),
                           limit=last)


class TerminalProgress:
    """A progress bar on a terminal; otherwise a line at every tenth."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._live = out.isatty()
        self._step = 1

    def replay_started(self, run_id: str, total: int, done: int) -> None:
        self._step = max(1, total // 10)
        more = f", {done} done before" if done else ""
        print(f"Replay {run_id}: {total} decision(s){more}", file=self._out, flush=True)

    def decision_replayed(self, done: int, total: int, original: Any, answer: Any) -> None:
        if self._live:
            filled = round(BAR_WIDTH * done / total) if total else BAR_WIDTH
            self._out.write(f"\r[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {done}/{total}")
            if done == total:
                self._out.write("\n")
            self._out.flush()
        elif done % self._step == 0 or done == total:
            print(f"  {done}/{total}", file=self._out, flush=True)


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:+.{digits}f}"


def format_report(report: Any, show: int = 20) -> str:
    """The report as text: flip matrix, accuracy, dangerous flips first, breakdowns."""
    run = report.run
    lines = [f"Replay {run.run_id} ({run.status}): {report.replayed} of {report.planned} "
             f"decision(s) re-decided by {run.model_name} ({run.model_version}) with prompt "
             f"{run.prompt_version}", ""]
    dangerous = report.dangerous
    lines.append(f"DANGEROUS FLIPS: {len(dangerous)} (the candidate allows where the human, "
                 "or without a review the original, said deny / attestation / MFA)")
    for pair in dangerous[:show]:
        situation = pair.original.situation
        who = " ".join(str(situation.get(k, "")) for k in ("actor", "role", "action", "target"))
        human = f"human {pair.human}" if pair.human else "not reviewed"
        lines.append(f"  {pair.original.decision_id} -> {pair.replay.decision_id}  "
                     f"{pair.original.decision} -> {pair.replay.decision} ({human})  {who}")
    if len(dangerous) > show:
        lines.append(f"  … {len(dangerous) - show} more (--show N, or --json)")
    labels = report.labels()
    lines += ["", f"Flip matrix (rows: original, columns: candidate; {report.flips} flipped)"]
    if labels:
        width = max(len(label) for label in labels) + 2
        lines.append(" " * width + "  ".join(labels))
        for original in labels:
            cells = "  ".join(f"{len(report.cell(original, k)) or '.':>{len(k)}}"
                              for k in labels)
            lines.append(f"{original:<{width}}{cells}")
    else:
        lines.append("  (nothing replayed)")
    c = report.comparison
    lines += ["", f"Against the human final decision ({c.n} reviewed):"]
    if c.n:
        lines += [f"  original  {percent(c.accuracy_a)}", f"  candidate {percent(c.accuracy_b)}",
                  f"  difference {_number(c.difference)} (95% CI {_number(c.ci_low)} to "
                  f"{_number(c.ci_high)}, Newcombe paired score interval)",
                  f"  McNemar exact p = {c.p_value:.4g} (original right/candidate wrong {c.b}, "
                  f"original wrong/candidate right {c.c})"]
    else:
        lines.append("  no reviewed decisions among them")
    for name, rows in report.breakdowns.items():
        lines += ["", f"By {name}:",
                  f"  {'value':<24} {'pairs':>6} {'flips':>6} {'danger':>7} {'reviewed':>9} "
                  f"{'orig ok':>8} {'cand ok':>8}"]
        for row in rows:
            lines.append(f"  {row.value[:24]:<24} {row.pairs:>6} {row.flips:>6} "
                         f"{row.dangerous:>7} {row.reviewed:>9} {row.original_right:>8} "
                         f"{row.candidate_right:>8}")
    return "\n".join(lines)


def _print_report(log: Any, run_id: str, args: argparse.Namespace) -> None:
    from policy_desktop.engine.replay_report import replay_report

    report = replay_report(log, run_id)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(format_report(report, args.show))


def _replay(args: argparse.Namespace) -> int:
    if args.report:
        with open_log(args.db, create=False) as log:
            try:
                _print_report(log, args.report, args)
            except ValueError as problem:
                error(str(problem))
                return 2
        return 0
    if args.parallel < 1 or (args.parallel > 1 and not args.endpoint):
        error("--parallel needs --endpoint and a number of at least 1")
        return 2
    try:
        selection = parse_filters(args.filter, args.reviewed, args.last)
    except ValueError as problem:
        error(str(problem))
        return 2
    if args.resume and (args.filter or args.reviewed or args.last):
        error("--resume continues the replay's own selection; leave out --filter/--last")
        return 2

    from policy_desktop.commands.run import _stop_on_interrupt, choose_model, open_model
    from policy_desktop.engine.endpoint import EndpointError
    from policy_desktop.engine.gguf import ModelFileError
    from policy_desktop.engine.llm import EngineSettings
    from policy_desktop.engine.model_process import ModelProcessError
    from policy_desktop.engine.prompts import (
        DEFAULT_PROMPT_VERSION,
        PromptCatalog,
        PromptError,
        load_policy,
    )
    from policy_desktop.engine.replay import (
        Candidate,
        ReplayMismatch,
        check_candidate,
        continue_replay,
        plan_replay,
    )

    try:
        model = choose_model(args.model)
    except (ModelFileError, ValueError) as problem:
        error(str(problem))
        return 2
    with open_log(args.db, create=False) as log:
        resumed = log.get_run(args.resume) if args.resume else None
        if args.resume and resumed is None:
            error(f"no run {args.resume!r} in {log.display_name}")
            return 2
        try:
            version = PromptCatalog().get(
                args.prompt_version or (resumed.prompt_version if resumed else None)
                or model.prompt_version or DEFAULT_PROMPT_VERSION)
            policy = load_policy(args.policy)
        except (PromptError, OSError) as problem:
            error(str(problem))
            return 2
        options = {key: value for key, value in (("n_threads", args.threads),
                                                 ("n_ctx", args.ctx)) if value is not None}
        settings = EngineSettings(model_path=model.path, lora_path=model.lora_path,
                                  label=model.label, **options)
        loaded = open_model(args.endpoint, settings)
        if isinstance(loaded, int):
            return loaded
        with contextlib.closing(loaded):
            candidate = Candidate(loaded, version, policy)
            info = loaded.info
            print(f"Candidate: {info.name} ({info.quantization}), prompt {version.name}",
                  file=sys.stderr, flush=True)
            if resumed is not None:
                run_id = resumed.run_id
                try:
                    check_candidate(log, run_id, candidate)
                except ReplayMismatch as problem:
                    error(str(problem))
                    return 2
            else:
                run_id, planned = plan_replay(log, selection, candidate)
                print(f"Selected {planned} logged decision(s)", file=sys.stderr, flush=True)
            stop, previous = _stop_on_interrupt()
            try:
                outcome = continue_replay(log, run_id, candidate,
                                          listener=TerminalProgress(sys.stderr),
                                          should_stop=stop.is_set, parallel=args.parallel)
            except (ModelProcessError, EndpointError) as problem:
                error(f"{problem}; replay {run_id} is marked failed, what finished is kept "
                      f"(continue it with --resume {run_id})")
                return 3
            finally:
                signal.signal(signal.SIGINT, previous)  # type: ignore[arg-type]
        if outcome.status == "cancelled":
            print(f"Stopped; continue with: policy-desktop replay --resume {run_id}",
                  file=sys.stderr, flush=True)
        print(f"Replayed {outcome.answered_now} now, {outcome.done} of {outcome.total} in all, "
              f"in {outcome.seconds:.1f}s", file=sys.stderr, flush=True)
        _print_report(log, run_id, args)
    return 130 if outcome.status == "cancelled" else 0


def run(args: argparse.Namespace) -> int:
    return guarded(lambda: _replay(args))
