"""Decision replay: re-decide logged situations with a candidate prompt version or model.

Qt-free; the ``replay`` command calls it directly and the window on a worker thread.
:func:`plan_replay` selects the originals and records a replay run;
:func:`continue_replay` answers the originals still pending in it (all of them the
first time; after a cancel, crash or interruption only the rest), logging each answer
linked to its original as it arrives. Originals are only read.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from policy_desktop.engine.llm import Cancelled, ModelAnswer
from policy_desktop.engine.prompts import PromptVersion, build_prompt
from policy_desktop.engine.runner import Model
from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.store.replay import ReplaySelection, ReplayStore
from policy_desktop.store.run_owner import current_process

REPLAY_TAG = "replay"


class ReplayMismatch(ValueError):
    """Continuing a replay with another model, prompt version or policy than it began with."""


class ReplayListener(Protocol):
    """Receives a replay's progress."""

    def replay_started(self, run_id: str, total: int, done: int) -> None: ...
    def decision_replayed(self, done: int, total: int, original: PolicyDecision,
                          answer: PolicyDecision) -> None: ...


class _Silent:
    def replay_started(self, run_id: str, total: int, done: int) -> None: ...
    def decision_replayed(self, done: int, total: int, original: PolicyDecision,
                          answer: PolicyDecision) -> None: ...


@dataclass(frozen=True)
class Candidate:
    """What re-decides: a loaded model, a prompt version and the policy text."""

    model: Model
    prompt_version: PromptVersion
    policy: str

    @property
    def policy_sha256(self) -> str:
        return hashlib.sha256(self.policy.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ReplayOutcome:
    """How a (part of a) replay ended: ``completed`` or ``cancelled``; the counts."""

    run_id: str
    status: str
    total: int
    done: int
    answered_now: int
    seconds: float


def plan_replay(log: PolicyDecisionLog, selection: ReplaySelection,
                candidate: Candidate) -> tuple[str, int]:
    """Record a replay run of what ``selection`` chooses; return its id and size."""
    store = ReplayStore(log)
    originals = store.select_originals(selection)
    info = candidate.model.info
    settings = candidate.model.settings
    run_id = store.create(
        originals, selection, model_name=info.name, model_version=info.quantization,
        model_path=str(info.path), prompt_version=candidate.prompt_version.name,
        scenario_file=None, scenario_ids=[],
        settings={"replay": True, "policy_sha256": candidate.policy_sha256,
                  "temperature": settings.temperature, "max_tokens": settings.max_tokens,
                  "seed": settings.seed, "n_ctx": settings.n_ctx,
                  "lora_path": None if settings.lora_path is None else str(settings.lora_path)})
    return run_id, len(originals)


def check_candidate(log: PolicyDecisionLog, run_id: str, candidate: Candidate) -> None:
    """Refuse to continue ``run_id`` with anything but what it started with."""
    run = log.get_run(run_id)
    if run is None or not ReplayStore(log).is_replay(run_id):
        raise ReplayMismatch(f"{run_id} is not a replay run in {log.display_name}")
    if run.status == "running" and _owned_elsewhere(run.owner_host, run.owner_pid):
        raise ReplayMismatch(f"replay {run.run_id} is still running (process {run.owner_pid} "
                             f"on {run.owner_host}); continue it once it has stopped")
    info = candidate.model.info
    problems = []
    if run.model_name != info.name or run.model_version != info.quantization:
        problems.append(f"model {run.model_name} ({run.model_version}), "
                        f"not {info.name} ({info.quantization})")
    if run.prompt_version != candidate.prompt_version.name:
        problems.append(f"prompt version {run.prompt_version}, "
                        f"not {candidate.prompt_version.name}")
    if run.settings.get("policy_sha256") not in (None, candidate.policy_sha256):
        problems.append("another policy text")
    if problems:
        raise ReplayMismatch(f"replay {run.run_id} began with " + "; ".join(problems))


def _owned_elsewhere(host: str | None, pid: int | None) -> bool:
    here = current_process()
    return (host, pid) != (here.host, here.pid)


def continue_replay(log: PolicyDecisionLog, run_id: str, candidate: Candidate, *,
                    listener: ReplayListener | None = None,
                    should_stop: Callable[[], bool] | None = None,
                    parallel: int = 1) -> ReplayOutcome:
    """Answer every original still pending in ``run_id``; log each answer as it comes.

    The run ends ``completed`` or ``cancelled``; on a model failure it is ``failed``
    with the cause and the error is raised. Either way what was answered stays, and a
    later call continues with the rest. ``parallel`` > 1 asks that many answers at once
    (a server with several slots).
    """
    check_candidate(log, run_id, candidate)
    listener = listener or _Silent()
    stop = should_stop or (lambda: False)
    store = ReplayStore(log)
    links = store.links(run_id)
    pending = [link.original_id for link in links if link.replay_id is None]
    total, done = len(links), len(links) - len(pending)
    store.reopen(run_id)
    started = time.perf_counter()
    listener.replay_started(run_id, total, done)
    answered = 0

    def record(original: PolicyDecision, answer: ModelAnswer) -> None:
        nonlocal done, answered
        logged = _replay_decision(original, answer, candidate)
        store.record(run_id, original.decision_id or "", logged)
        done += 1
        answered += 1
        listener.decision_replayed(done, total, original, logged)

    status = "completed"
    try:
        _answer_all(log, pending, candidate, record, stop, parallel)
    except Cancelled:
        status = "cancelled"
    except BaseException as error:
        log.finish_run(run_id, "failed", _summary(total, done, time.perf_counter() - started),
                       error=str(error) or repr(error))
        raise
    seconds = time.perf_counter() - started
    log.finish_run(run_id, status, _summary(total, done, seconds))
    return ReplayOutcome(run_id, status, total, done, answered, seconds)


def _originals(log: PolicyDecisionLog, pending: list[str],
               chunk: int = 64) -> Iterator[PolicyDecision]:
    """The pending originals in plan order, read a chunk at a time."""
    for start in range(0, len(pending), chunk):
        ids = pending[start:start + chunk]
        found = log.get_decisions(ids)
        yield from (found[i] for i in ids if i in found)


def _answer_all(log: PolicyDecisionLog, pending: list[str], candidate: Candidate,
                record: Callable[[PolicyDecision, ModelAnswer], None],
                stop: Callable[[], bool], parallel: int) -> None:
    """Ask for the answers and record them in plan order; with ``parallel`` > 1 keep
    twice that many requests queued so no slot waits while one answer is recorded."""
    if parallel <= 1:
        for original in _originals(log, pending):
            if stop():
                raise Cancelled("stopped by request")
            record(original, _decide(candidate, original, stop))
        return
    in_flight: deque[tuple[PolicyDecision, Future[ModelAnswer]]] = deque()

    def record_oldest() -> None:
        original, future = in_flight.popleft()
        answer = future.result()
        if stop():
            raise Cancelled("stopped by request")
        record(original, answer)

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="replay") as pool:
        try:
            for original in _originals(log, pending):
                in_flight.append((original, pool.submit(_decide_unless_stopped, candidate,
                                                        original, stop)))
                if len(in_flight) >= 2 * parallel:
                    record_oldest()
            while in_flight:
                record_oldest()
        finally:
            for _, future in in_flight:
                future.cancel()


def _decide(candidate: Candidate, original: PolicyDecision,
            stop: Callable[[], bool]) -> ModelAnswer:
    parts = build_prompt(candidate.prompt_version, candidate.policy, dict(original.situation),
                         original.team_context)
    return candidate.model.decide(parts.system, parts.user, should_stop=stop)


def _decide_unless_stopped(candidate: Candidate, original: PolicyDecision,
                           stop: Callable[[], bool]) -> ModelAnswer:
    if stop():
        raise Cancelled("stopped by request")
    return _decide(candidate, original, stop)


def _replay_decision(original: PolicyDecision, answer: ModelAnswer,
                     candidate: Candidate) -> PolicyDecision:
    """The candidate's answer as a decision of its own (the original's situation)."""
    info = candidate.model.info
    expected = original.expected_decision
    return PolicyDecision(
        situation=dict(original.situation), team_context=original.team_context,
        model_name=info.name, model_version=info.quantization,
        prompt_version=candidate.prompt_version.name, decision=answer.decision,
        classification=answer.classification, risk_level=answer.risk_level,
        reasoning=answer.reasoning, full_response=answer.full_response,
        expected_decision=expected,
        decision_correct=None if expected is None else answer.decision == expected,
        confidence=answer.confidence, scenario_id=original.scenario_id,
        tags=[REPLAY_TAG], prompt_tokens=answer.prompt_tokens,
        generated_tokens=answer.generated_tokens, seconds=round(answer.seconds, 4))


def _summary(total: int, done: int, seconds: float) -> dict[str, object]:
    return {"replay": True, "planned": total, "replayed": done,
            "seconds_this_part": round(seconds, 3)}
