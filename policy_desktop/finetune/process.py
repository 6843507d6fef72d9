"""Training in a spawned child process: events through a queue, cancel through an event.

The GUI and the CLI never import torch: :class:`TrainingProcess` starts
:func:`~policy_desktop.finetune.training.train` in a ``spawn`` child and relays its events.
A child that dies without a result (killed, out of memory, a native crash) becomes a
:class:`TrainingFailed` naming its exit code.
"""

from __future__ import annotations

import multiprocessing
import queue
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from policy_desktop.finetune.settings import Event
from policy_desktop.finetune.training import TrainJob, TrainOutcome


class TrainingFailed(RuntimeError):
    """The training child raised an error or died."""


def _child_main(job: TrainJob, events: Any, stop: Any) -> None:
    import os
    import signal

    # Ctrl+C in a terminal reaches the whole process group: the parent turns it into a
    # cancel (checkpoint saved), so the child must not die of it mid-step.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # OpenMP threads that spin while waiting stall each other on a shared, busy machine
    # (measured here at load 9: a forward pass 4x slower on 2 threads than on 1); passive
    # waiting keeps 2 threads as fast as 1 there, and costs little on an idle machine.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parent = multiprocessing.parent_process()

    def should_stop() -> bool:
        # an orphaned child (parent killed) stops at its next step, keeping a checkpoint
        return stop.is_set() or (parent is not None and not parent.is_alive())

    try:
        from policy_desktop.finetune.training import train

        outcome = train(job, events.put, should_stop)
        events.put(("done", outcome))
    except BaseException as error:  # report everything; the parent decides
        events.put(("error", f"{type(error).__name__}: {error}\n{traceback.format_exc()}"))
    if parent is not None and not parent.is_alive():
        events.cancel_join_thread()  # nobody reads the queue: do not wait to flush it


class TrainingProcess:
    """One training run in a child process."""

    def __init__(self, job: TrainJob) -> None:
        context = multiprocessing.get_context("spawn")
        self._events = context.Queue()
        self._stop = context.Event()
        self._process = context.Process(target=_child_main, args=(job, self._events, self._stop),
                                        name="policy-desktop-finetune", daemon=True)
        self.outcome: TrainOutcome | None = None

    def start(self) -> None:
        """Start the child."""
        self._process.start()

    @property
    def pid(self) -> int | None:
        """The child's process id once started."""
        return self._process.pid

    def cancel(self) -> None:
        """Ask the child to stop after its current step (it saves a checkpoint)."""
        self._stop.set()

    def kill(self) -> None:
        """End the child now (the last checkpoint stays)."""
        if self._process.is_alive():
            self._process.kill()
        self._process.join(5)

    def events(self, should_cancel: Callable[[], bool] | None = None,
               poll_seconds: float = 0.2) -> Iterator[Event]:
        """Relay the child's events until it finishes; then :attr:`outcome` is set.

        ``should_cancel`` is polled every ``poll_seconds``; once true the child is asked
        to stop.

        Raises:
            TrainingFailed: the child raised, or exited without a result.
        """
        while True:
            if should_cancel is not None and not self._stop.is_set() and should_cancel():
                self.cancel()
            try:
                item = self._events.get(timeout=poll_seconds)
            except queue.Empty:
                if not self._process.is_alive():
                    self._drain_or_fail()
                    return
                continue
            if isinstance(item, tuple):
                self._finish(item)
                return
            yield item

    def _drain_or_fail(self) -> None:
        try:
            item = self._events.get(timeout=1.0)
        except queue.Empty:
            code = self._process.exitcode
            hint = " (killed: out of memory?)" if code is not None and code < 0 else ""
            raise TrainingFailed(f"the training process ended without a result, "
                                 f"exit code {code}{hint}") from None
        if isinstance(item, tuple):
            self._finish(item)

    def _finish(self, item: tuple[str, Any]) -> None:
        kind, value = item
        self._process.join(30)
        if kind == "error":
            raise TrainingFailed(value)
        self.outcome = value


def run_training(job: TrainJob, on_event: Callable[[Event], None],
                 should_cancel: Callable[[], bool] | None = None) -> TrainOutcome:
    """Train ``job`` in a child process, calling ``on_event`` for each event (blocking).

    Once ``should_cancel`` says yes (or on the first Ctrl+C) the child stops after its
    step, saves a checkpoint and the outcome's status is ``"cancelled"``; a second Ctrl+C
    ends the child at once.
    """
    process = TrainingProcess(job)
    process.start()
    interrupted = False
    while True:
        try:
            for event in process.events(should_cancel):
                on_event(event)
            break
        except KeyboardInterrupt:
            if interrupted:
                process.kill()
                raise
            interrupted = True
            process.cancel()
        except BaseException:
            process.kill()
            raise
    assert process.outcome is not None
    return process.outcome
