"""Reviewing logged decisions in a terminal (SSH sessions): the seed's review loop, Qt-free.

One decision at a time is shown in the seed's display format, then the reviewer
chooses ``[a]ccept [d]ecision [r]easoning [b]oth [s]kip [q]uit``. A review is
written (through :meth:`PolicyDecisionLog.mark_reviewed`, like the GUI) only
once its input is complete, so Ctrl+C or the end of input at any prompt leaves
every earlier review saved and nothing half-written; the summary is printed
either way. After a decision correction the reviewer is asked for the classification
and risk level (Enter skips, ``=`` keeps the model's): the model's labels were chosen
for its own decision, so training data leaves them out unless confirmed.
:func:`run_review` returns 0 after the last decision, ``q`` or the end of input, and
130 after Ctrl+C.

Everything taken from the log is passed through :func:`clean_text` before it
is printed, so a hostile reasoning cannot send terminal escape sequences.
"""

from __future__ import annotations

import json
import os
import re
import signal
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from policy_desktop.paths import config_dir
from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.store.decision import CORRECTION_ACTIONS
from policy_desktop.store.errors import ClaimLostError, StoreError
from policy_desktop.store.review_queue import Claim, ReviewQueue
from policy_desktop.vocabulary import DECISIONS, RISK_LEVELS

RULE = "=" * 70
MENU = "[a]ccept  [d]ecision  [r]easoning  [b]oth  [s]kip  [q]uit"
CHOICES = {"a": "accept", "d": "decision", "r": "reasoning", "b": "both", "s": "skip", "q": "quit"}
INTERRUPTED_STATUS = 130
QUEUE_BATCH = 5
"""Decisions claimed at a time from the team's queue (small: a leaving reviewer holds few)."""

# --- untrusted text ---------------------------------------------------------------------

# Every C0/C1 control except tab and newline (ESC included, so no escape sequence can start),
# DEL, and the bidirectional overrides that could make text read differently from what is stored.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Escape sequences a terminal sends for special keys (arrows, function keys), for typed input.
_KEY_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]?|\x1b[ -~]?")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean_text(text: str) -> str:
    """``text`` safe for a terminal: every control character shown as ``\\xNN`` instead.

    Newlines and tabs are kept (``\\r\\n`` becomes ``\\n``). Nothing is dropped, so the
    reviewer sees all of a hostile text, e.g. ``\\x1b[2J`` rather than a cleared screen.
    """
    return _CONTROL.sub(_visible, text.replace("\r\n", "\n"))


def _clean_typed(text: str) -> str:
    """A typed line without key escape sequences or control characters, stripped."""
    return _CONTROL.sub("", _KEY_SEQUENCE.sub("", text)).strip()


# --- display ----------------------------------------------------------------------------


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _key_title(key: str) -> str:
    """``trust_score`` -> ``Trust Score`` (the seed's situation labels)."""
    return key.replace("_", " ").strip().title()


def _marks(stream: TextIO) -> tuple[str, str]:
    """Check and cross marks the stream can encode (ASCII fallback)."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        "✓✗".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return "OK", "X"
    return "✓", "✗"


def format_decision(decision: PolicyDecision, position: int, total: int,
                    marks: tuple[str, str] = ("✓", "✗")) -> str:
    """One decision in the seed's display format (not yet cleaned for the terminal)."""
    lines = [RULE, f"Decision {position}/{total}: {decision.decision_id}", RULE, "",
             f"Timestamp: {decision.timestamp}"]
    if decision.scenario_id:
        lines.append(f"Scenario: {decision.scenario_id}")
    lines.append(f"Model: {decision.model_name} {decision.model_version}".rstrip())
    lines.append(f"Prompt: {decision.prompt_version}")
    if decision.tags:
        lines.append(f"Tags: {', '.join(decision.tags)}")
    lines += ["", "--- SITUATION ---"]
    lines += [f"{_key_title(str(key))}: {_value_text(value)}"
              for key, value in decision.situation.items()] or ["(empty)"]
    if decision.team_context:
        lines += ["", "--- TEAM CONTEXT ---", decision.team_context.strip()]
    lines += ["", "--- MODEL DECISION ---", f"Decision: {decision.decision}"]
    if decision.classification:
        lines.append(f"Classification: {decision.classification}")
    if decision.risk_level:
        lines.append(f"Risk Level: {decision.risk_level}")
    if decision.confidence is not None:
        lines.append(f"Confidence: {decision.confidence:.2f}")
    lines += ["", "--- MODEL REASONING ---", (decision.reasoning or "").strip() or "(none)"]
    if decision.expected_decision:
        correct = decision.decision_correct
        if correct is None:
            correct = decision.decision == decision.expected_decision
        status = f"{marks[0]} CORRECT" if correct else f"{marks[1]} INCORRECT"
        lines += ["", "--- EXPECTED ---", f"Decision: {decision.expected_decision}",
                  f"Status: {status}"]
        if decision.reasoning_coverage is not None:
            lines.append(f"Reasoning Coverage: {decision.reasoning_coverage * 100:.1f}%")
    if decision.reviewed:
        lines += ["", "--- CURRENT REVIEW ---",
                  f"Action: {decision.review_action or 'reviewed'}",
                  f"Reviewer: {decision.reviewer or 'unknown'}",
                  f"Reviewed: {decision.review_timestamp or 'unknown'}",
                  f"Decision: {decision.final_decision}"]
        if decision.review_classification is not None:
            lines.append(f"Classification: {decision.review_classification}")
        if decision.review_risk_level is not None:
            lines.append(f"Risk Level: {decision.review_risk_level}")
        if decision.review_reasoning is not None:
            lines += ["Reasoning:", decision.review_reasoning.strip()]
    return "\n".join(lines)


# --- input ------------------------------------------------------------------------------


class EndOfInput(Exception):
    """Standard input ended (Ctrl+D, or the end of a pipe)."""


class Terminal:
    """Prompting and printing on a pair of text streams.

    Args:
        stdin: where answers are read from, one line each.
        stdout: where everything is printed.
        use_input: read with :func:`input` (line editing) instead of ``stdin.readline``;
            only sensible when the streams are the process's own terminal.
        echo: print each answer after its prompt (for input piped from a file, so the
            transcript reads like a terminal session).
    """

    def __init__(self, stdin: TextIO, stdout: TextIO, *, use_input: bool = False,
                 echo: bool = False) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.use_input = use_input
        self.echo = echo
        self.marks = _marks(stdout)

    def say(self, text: str = "") -> None:
        """Print ``text`` (cleaned of control characters) and a newline."""
        self.stdout.write(clean_text(text) + "\n")
        self.stdout.flush()

    def ask(self, prompt: str) -> str:
        """One line of input, stripped; raises :class:`EndOfInput` at the end of input."""
        if self.use_input:
            try:
                return _clean_typed(input(prompt))
            except EOFError:
                raise EndOfInput from None
        self.stdout.write(prompt)
        self.stdout.flush()
        line = self.stdin.readline()
        if not line:
            if self.echo:
                self.say()
            raise EndOfInput
        answer = _clean_typed(line)
        if self.echo:
            self.say(answer)
        return answer


# --- the review loop --------------------------------------------------------------------


@dataclass
class ReviewSummary:
    """What a review session did."""

    total: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    gone: int = 0
    """Decisions someone else reviewed while this session was running."""

    @property
    def reviewed(self) -> int:
        return sum(self.actions.values())

    @property
    def accepted(self) -> int:
        return self.actions["accept"]

    @property
    def corrected(self) -> int:
        return sum(self.actions[action] for action in CORRECTION_ACTIONS)

    @property
    def not_reached(self) -> int:
        return self.total - self.reviewed - self.skipped - self.gone

    def progress(self) -> str:
        """The running line shown after each decision."""
        return (f"Reviewed {self.reviewed}, skipped {self.skipped}; "
                f"{self.not_reached} of {self.total} left")


def format_summary(summary: ReviewSummary, readiness: str) -> str:
    """The end-of-session summary with the training readiness line."""
    lines = [RULE, "REVIEW SUMMARY", RULE,
             f"Reviewed: {summary.reviewed}",
             f"  Accepted: {summary.accepted}",
             f"  Corrected: {summary.corrected}"]
    labels = {"correct_decision": "decision", "correct_reasoning": "reasoning",
              "correct_both": "both"}
    lines += [f"    {label}: {summary.actions[action]}" for action, label in labels.items()]
    lines.append(f"Skipped: {summary.skipped}")
    if summary.gone:
        lines.append(f"Reviewed meanwhile by someone else: {summary.gone}")
    if summary.not_reached:
        lines.append(f"Not reached: {summary.not_reached}")
    lines += ["", f"Training readiness: {readiness}", RULE]
    return "\n".join(lines)


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl+C back until the block ends, so a write is never cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    if previous is None:  # installed outside Python: leave it alone
        yield
        return
    signal.signal(signal.SIGINT, lambda number, _frame: received.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


class ReviewSession:
    """The interactive loop over a list of decisions.

    Args:
        log: the decision database reviews are written to.
        terminal: where prompts go and answers come from.
        reviewer: the name recorded with each review.
        only_unreviewed: skip decisions someone else reviewed since the list was loaded.
    """

    def __init__(self, log: PolicyDecisionLog, terminal: Terminal, reviewer: str, *,
                 only_unreviewed: bool = False) -> None:
        self.log = log
        self.term = terminal
        self.reviewer = reviewer
        self.only_unreviewed = only_unreviewed
        self.summary = ReviewSummary()

    def review(self, decisions: list[PolicyDecision]) -> None:
        """Go through ``decisions``; returns on quit, raises EndOfInput / KeyboardInterrupt."""
        self.summary.total = len(decisions)
        for position, decision in enumerate(decisions, start=1):
            if self.only_unreviewed:
                current = self.log.get_decision(decision.decision_id or "")
                if current is None or current.reviewed:
                    self.summary.gone += 1
                    continue
                decision = current
            self.term.say()
            self.term.say(format_decision(decision, position, len(decisions), self.term.marks))
            if not self._review_one(decision):
                return
            self.term.say(self.summary.progress())

    def _review_one(self, decision: PolicyDecision) -> bool:
        """Ask until one choice is complete; False when the reviewer quits."""
        while True:
            self.term.say()
            choice = self._choice()
            if choice == "quit":
                return False
            if choice == "skip":
                self.summary.skipped += 1
                self.term.say("Skipped.")
                return True
            new_decision: str | None = None
            new_reasoning: str | None = None
            if choice in ("decision", "both"):
                new_decision = self._ask_decision(decision)
                if new_decision is None:
                    self.term.say("Back to the menu; nothing saved.")
                    continue
            if choice in ("reasoning", "both"):
                new_reasoning = self._ask_reasoning(decision)
                if new_reasoning is None:
                    self.term.say("Back to the menu; nothing saved.")
                    continue
            labels = self._ask_labels(decision) if new_decision is not None else {}
            self._save(decision, new_decision, new_reasoning, labels)
            return True

    def _choice(self) -> str:
        while True:
            answer = self.term.ask(f"{MENU}: ").lower()
            if answer in CHOICES:
                return CHOICES[answer]
            if answer in CHOICES.values():
                return answer
            self.term.say("Please type a, d, r, b, s or q.")

    def _ask_decision(self, decision: PolicyDecision) -> str | None:
        """The corrected decision, or None to go back to the menu."""
        self.term.say("Correct decision (empty line = back to the menu):")
        for number, name in enumerate(DECISIONS, start=1):
            self.term.say(f"  {number}) {name}")
        while True:
            answer = self.term.ask(f"Decision [1-{len(DECISIONS)} or name]: ").lower()
            if not answer:
                return None
            name = answer.replace("-", "_").replace(" ", "_")
            if answer.isdigit() and 1 <= int(answer) <= len(DECISIONS):
                name = DECISIONS[int(answer) - 1]
            if name not in DECISIONS:
                self.term.say(f"Please type 1-{len(DECISIONS)} or one of: {', '.join(DECISIONS)}.")
            elif name == decision.decision:
                self.term.say(f"{name} is the model's own decision: choose another, "
                              "or go back and accept.")
            else:
                return name

    def _ask_reasoning(self, decision: PolicyDecision) -> str | None:
        """The corrected reasoning (one or more lines), or None to go back to the menu."""
        self.term.say("Corrected reasoning: one or more lines, finished by an empty line "
                      "(an empty first line = back to the menu).")
        while True:
            lines: list[str] = []
            while True:
                line = self.term.ask("> ")
                if not line:
                    break
                lines.append(line)
            if not lines:
                return None
            text = "\n".join(lines)
            if text.strip() != (decision.reasoning or "").strip():
                return text
            self.term.say("That is the model's reasoning unchanged: type a corrected one, "
                          "or an empty line to go back.")

    def _ask_labels(self, decision: PolicyDecision) -> dict[str, str]:
        """The reviewer's classification and risk level after a decision correction
        (each skipped with Enter; ``=`` keeps the model's value, re-confirming it)."""
        model = (f"classification {decision.classification or '(none)'}, "
                 f"risk {decision.risk_level or '(none)'}")
        self.term.say(f"The model's labels ({model}) were for its decision: training data "
                      "leaves them out unless you confirm them.")
        labels: dict[str, str] = {}
        answer = self.term.ask("Classification (Enter = not given, = keeps the model's): ")
        classification = decision.classification if answer == "=" else answer
        if classification:
            labels["review_classification"] = classification
        letters = {level[0]: level for level in RISK_LEVELS}
        while True:
            answer = self.term.ask(
                "Risk level [l]ow [m]edium [h]igh [c]ritical (Enter = not given, = keeps "
                "the model's): ").lower()
            level = decision.risk_level if answer == "=" else letters.get(answer, answer)
            if not level:
                break
            if level in RISK_LEVELS:
                labels["review_risk_level"] = level
                break
            self.term.say("Please type l, m, h, c, =, or an empty line.")
        return labels

    def _save(self, decision: PolicyDecision, new_decision: str | None,
              new_reasoning: str | None, labels: dict[str, str]) -> None:
        assert decision.decision_id is not None
        with _interrupts_deferred():
            action = self.log.mark_reviewed(decision.decision_id, new_decision, new_reasoning,
                                            self.reviewer, **labels)
            self.summary.actions[action] += 1
        self.term.say(f"Saved: {action.replace('_', ' ')}.")


class QueueReviewSession(ReviewSession):
    """The review loop on the team's shared queue: small claimed batches, never a
    decision another reviewer holds; a second opinion is shown without the first review.

    The claims are renewed after every decision and given back when the session ends
    (quit, end of input, Ctrl+C), so a reviewer who leaves frees their batch at once.
    """

    def __init__(self, log: PolicyDecisionLog, terminal: Terminal, reviewer: str,
                 queue: ReviewQueue) -> None:
        super().__init__(log, terminal, reviewer)
        self.queue = queue
        self._claim: Claim | None = None

    def review_queue(self) -> None:
        """Claim, review, repeat until the queue has nothing for this reviewer."""
        left = self.queue.pending()
        self.summary.total = left["unreviewed"] + left["second_opinions"]
        passed: set[str] = set()
        position = 0
        try:
            while claims := self.queue.claim(self.reviewer, QUEUE_BATCH, skip=passed):
                for claim in claims:
                    position += 1
                    self.summary.total = max(self.summary.total, position)
                    self._claim = claim
                    self.term.say()
                    if claim.second_opinion:
                        self.term.say("Second opinion (the overlap sample): the first "
                                      "review is not shown.")
                    self.term.say(format_decision(claim.decision, position,
                                                  self.summary.total, self.term.marks))
                    skipped = self.summary.skipped
                    if not self._review_one(claim.decision):
                        return
                    if self.summary.skipped > skipped:
                        passed.add(claim.decision_id)
                        self.queue.release(self.reviewer, [claim.decision_id])
                    self.queue.renew(self.reviewer)
                    self.term.say(self.summary.progress())
        finally:
            self._claim = None
            with suppress(StoreError):  # unreachable database: the leases lapse by themselves
                self.queue.release(self.reviewer)

    def _save(self, decision: PolicyDecision, new_decision: str | None,
              new_reasoning: str | None, labels: dict[str, str]) -> None:
        assert self._claim is not None
        with _interrupts_deferred():
            try:
                action = self.queue.submit(self._claim, new_decision, new_reasoning, **labels)
            except ClaimLostError as error:
                self.summary.gone += 1
                self.term.say(f"Not saved: {clean_text(str(error))}.")
                return
            self.summary.actions[action] += 1
        self.term.say(f"Saved: {action.replace('_', ' ')}.")


# --- the reviewer's name, shared with the desktop app -------------------------------------

DESKTOP_SETTINGS_FILE = "policy-desktop.ini"
"""The desktop's settings file (``policy_desktop.ui.settings.SETTINGS_FILE``; Qt-free here)."""
REVIEWER_SECTION, REVIEWER_KEY = "review", "reviewer"
_INI_ESCAPES = {"\\": "\\", '"': '"', "a": "\a", "b": "\b", "f": "\f", "n": "\n",
                "r": "\r", "t": "\t", "v": "\v"}
_PLAIN_INI_VALUE = re.compile(r"[A-Za-z0-9_. -]*")


def desktop_settings_path() -> Path:
    """The desktop app's settings (QSettings' INI format) in the XDG config folder."""
    return config_dir() / DESKTOP_SETTINGS_FILE


def _ini_value(raw: str) -> str:
    """A QSettings INI string value as written (quoted with backslash escapes, or bare)."""
    raw = raw.strip()
    if not raw.startswith('"'):
        return raw
    text, index = [], 1
    while index < len(raw) and raw[index] != '"':
        char = raw[index]
        if char == "\\" and index + 1 < len(raw):
            code = raw[index + 1]
            if code == "x":
                digits = re.match(r"[0-9a-fA-F]{1,4}", raw[index + 2:])
                if digits:
                    text.append(chr(int(digits.group(), 16)))
                    index += 2 + len(digits.group())
                    continue
            text.append(_INI_ESCAPES.get(code, code))
            index += 2
            continue
        text.append(char)
        index += 1
    return "".join(text)


def _section_lines(lines: list[str], section: str) -> tuple[int, int] | None:
    """The first and past-the-last line index of ``[section]``'s body, or None."""
    start = None
    for number, line in enumerate(lines):
        stripped = line.strip()
        if start is None and stripped == f"[{section}]":
            start = number + 1
        elif start is not None and stripped.startswith("["):
            return start, number
    return (start, len(lines)) if start is not None else None


def stored_reviewer(path: Path | None = None) -> str | None:
    """The reviewer name the desktop app remembers (None when none or unreadable)."""
    try:
        lines = (path or desktop_settings_path()).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    span = _section_lines(lines, REVIEWER_SECTION)
    if span is None:
        return None
    for line in lines[span[0]:span[1]]:
        key, sep, value = line.partition("=")
        if sep and key.strip() == REVIEWER_KEY:
            return _clean_typed(_ini_value(value)) or None
    return None


def remember_reviewer(name: str, path: Path | None = None) -> None:
    """Store ``name`` where the desktop app reads it; every other setting is kept as is.

    Best effort: a settings file that cannot be written leaves the review going.
    """
    target = path or desktop_settings_path()
    value = name if _PLAIN_INI_VALUE.fullmatch(name) and name == name.strip() else (
        '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"')
    entry = f"{REVIEWER_KEY}={value}"
    try:
        lines = target.read_text(encoding="utf-8").splitlines() if target.exists() else []
    except (OSError, UnicodeDecodeError):
        return
    span = _section_lines(lines, REVIEWER_SECTION)
    if span is None:
        lines += ([""] if lines else []) + [f"[{REVIEWER_SECTION}]", entry]
    else:
        body = [i for i in range(*span) if lines[i].partition("=")[0].strip() == REVIEWER_KEY]
        if body:
            lines[body[0]] = entry
        else:
            lines.insert(span[0], entry)
    with suppress(OSError):
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".settings-")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write("\n".join(lines) + "\n")
            os.replace(temporary, target)
        finally:
            with suppress(FileNotFoundError):
                os.unlink(temporary)


def resolve_reviewer(given: str | None, environment_user: str | None, terminal: Terminal,
                     *, settings_path: Path | None = None) -> str:
    """``--reviewer``, else the name the desktop app stored, else ``$USER``, else asked
    once and stored for both (raises EndOfInput)."""
    for name in (given, stored_reviewer(settings_path), environment_user):
        if name and _clean_typed(name):
            return _clean_typed(name)
    while True:
        name = terminal.ask("Your name (recorded with each review): ")
        if name:
            remember_reviewer(name, settings_path)
            return name


def select_decisions(log: PolicyDecisionLog, mode: str) -> list[PolicyDecision]:
    """The decisions of a review mode (``unreviewed``, ``incorrect`` or ``all``), newest first."""
    selections = {"unreviewed": log.get_unreviewed_decisions,
                  "incorrect": log.get_incorrect_decisions, "all": log.get_all_decisions}
    return selections[mode]()


NOTHING_TO_REVIEW = {
    "unreviewed": "Nothing to review: every decision has been reviewed. "
                  "(Use --all to look again, or `policy-desktop run` to log new decisions.)",
    "incorrect": "No incorrect decisions: every decision with an expected outcome matched it.",
    "all": "The log has no decisions yet. (`policy-desktop run` logs some.)",
}


def run_review(log: PolicyDecisionLog, terminal: Terminal, *, mode: str,
               reviewer: str | None, environment_user: str | None,
               readiness: Callable[[], str]) -> int:
    """The whole terminal review; returns the exit status (0, or 130 after Ctrl+C).

    ``unreviewed`` (on a writable log) works the team's shared queue, so reviewers
    in other terminals or the desktop app are never handed the same decision;
    ``incorrect`` and ``all`` go through a list loaded once (looking again).
    ``readiness`` is a callable giving the training readiness line at the end.
    """
    queue = ReviewQueue(log) if mode == "unreviewed" and not log.read_only else None
    if queue is not None:
        left = queue.pending()
        total = left["unreviewed"] + left["second_opinions"]
        decisions: list[PolicyDecision] = []
    else:
        decisions = select_decisions(log, mode)
        total = len(decisions)
    if not total:
        terminal.say(NOTHING_TO_REVIEW[mode])
        return 0
    status = 0
    session: ReviewSession | None = None
    try:
        name = resolve_reviewer(reviewer, environment_user, terminal)
        count = f"{total} decision{'s' if total != 1 else ''}"
        terminal.say(f"{count} to review ({mode}) as {name}; database {log.display_name}")
        if queue is not None:
            session = QueueReviewSession(log, terminal, name, queue)
            session.review_queue()
        else:
            session = ReviewSession(log, terminal, name)
            session.review(decisions)
    except EndOfInput:
        terminal.say("\nEnd of input: stopping. Every completed review is saved.")
    except KeyboardInterrupt:
        terminal.say("\nInterrupted: stopping. Every completed review is saved.")
        status = INTERRUPTED_STATUS
    summary = session.summary if session else ReviewSummary(total=total)
    terminal.say()
    terminal.say(format_summary(summary, readiness()))
    return status


# --- adjudication of the overlap sample's disagreements ---------------------------------


def run_adjudication(log: PolicyDecisionLog, terminal: Terminal, adjudicator: str) -> int:
    """Go through the disagreement queue: show each decision with every reviewer's answer
    and record the adjudicated one (``s`` skips, ``q`` or the end of input stops)."""
    from policy_desktop.store.team import ReviewTeam

    team = ReviewTeam(log)
    pending = team.disagreements()
    if not pending:
        terminal.say("No disagreements await adjudication.")
        return 0
    settled = 0
    try:
        for position, decision in enumerate(pending, start=1):
            assert decision.decision_id is not None
            terminal.say()
            terminal.say(format_decision(replace(decision, reviewed=False), position, len(pending),
                                         terminal.marks))
            terminal.say("")
            terminal.say("--- REVIEWERS' ANSWERS ---")
            for name, answer in sorted(team.answers_of(decision.decision_id).items()):
                terminal.say(f"{name}: {answer}")
            for number, name in enumerate(DECISIONS, start=1):
                terminal.say(f"  {number}) {name}")
            while True:
                answer = terminal.ask(f"Final decision [1-{len(DECISIONS)}], s(kip), q(uit): ")
                answer = answer.lower()
                if answer in ("q", "quit"):
                    raise EndOfInput
                if answer in ("s", "skip"):
                    break
                name = answer.replace("-", "_").replace(" ", "_")
                if answer.isdigit() and 1 <= int(answer) <= len(DECISIONS):
                    name = DECISIONS[int(answer) - 1]
                if name in DECISIONS:
                    with _interrupts_deferred():
                        team.adjudicate(decision.decision_id, adjudicator, name)
                    settled += 1
                    terminal.say(f"Adjudicated: {name}.")
                    break
                terminal.say(f"Please type 1-{len(DECISIONS)}, s or q.")
    except EndOfInput:
        pass
    except KeyboardInterrupt:
        terminal.say(f"\nInterrupted. Adjudicated {settled} of {len(pending)}.")
        return INTERRUPTED_STATUS
    terminal.say(f"Adjudicated {settled} of {len(pending)}.")
    return 0
