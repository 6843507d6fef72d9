"""Prompt versions, few-shot examples and prompt building for plain-completion models.

The example text format (the content of ``examples.txt`` and of an exported
``fewshot_examples.txt``) is a sequence of blocks separated by one blank line::

    ### Situation
    actor: alice
    role: member
    trust_score: 0.85
    team_context: Platform team.
    ### Answer
    {"decision": "allow", "classification": "...", "risk_level": "low", "reasoning": "..."}

Situation lines are ``key: value`` in the situation's own order, then an optional
``team_context:`` line. The value rule, which makes :func:`parse_examples` the exact
inverse of :func:`format_examples`:

* a string is written plain when that is unambiguous: not empty, no leading or trailing
  whitespace, no control or line-separator characters, and not itself valid JSON;
* every other value (numbers, booleans, ``None``, lists, dicts, and strings such as
  ``"42"``, ``"true"`` or ``"a\\nb"``) is written as one line of JSON;
* when reading, a value that parses as JSON is that JSON value, otherwise the plain string.

Keys are written plain when they look like identifiers (``[A-Za-z_][A-Za-z0-9_.-]*``),
otherwise as a JSON string; a situation key named ``team_context`` is always quoted so it
cannot be mistaken for the team-context line. The answer is one line of JSON with the
keys ``decision``, ``classification``, ``risk_level``, ``reasoning`` in that order.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from policy_desktop.atomic_files import replace_folder, staging_folder
from policy_desktop.paths import custom_prompts_dir
from policy_desktop.resources import read_text, resource_path
from policy_desktop.vocabulary import DECISIONS, RISK_LEVELS

DEFAULT_PROMPT_VERSION = "v2_fewshot_8examples"

SITUATION_HEADER = "### Situation"
"""First line of every situation block (examples and the ``user`` part)."""
ANSWER_HEADER = "### Answer"
"""Line preceding every answer; the ``user`` part ends with it and a newline."""
ANSWER_KEYS: tuple[str, ...] = ("decision", "classification", "risk_level", "reasoning")
ANSWER_PRIMER: Final = '{"decision": "'
"""What every answer starts with (the schema's first key): the engines append it to the
prompt and write the rest; the skeleton decoder's first field opens with it. The one
definition (``engine.skeleton_decoder`` and ``engine.llm`` re-export it)."""
PROMPT_SEPARATOR: Final = "\n\n"
"""Joins :attr:`PromptParts.system` and :attr:`PromptParts.user` into the full prompt."""
TEAM_CONTEXT_KEY = "team_context"

PROMPT_FILE = "prompt.toml"
INSTRUCTIONS_FILE = "instructions.txt"
EXAMPLES_FILE = "examples.txt"

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_PLAIN_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_BREAKING_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
# json.dumps(ensure_ascii=False) leaves these raw; escape them so every JSON text is one tidy line.
_JSON_LINE_ESCAPES = {code: f"\\u{code:04x}" for code in (0x7F, *range(0x80, 0xA0), 0x2028, 0x2029)}


class PromptError(ValueError):
    """A prompt version, policy or examples text is missing or invalid."""


class UnknownPromptVersion(PromptError):
    """No prompt version has the requested name; the message lists the known ones."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known: list[str] = list(known)
        listed = ", ".join(self.known) or "none"
        super().__init__(f"Unknown prompt version {name!r}; known versions: {listed}")


@dataclass(frozen=True)
class FewShotExample:
    """One worked example: a situation and the answer the model should give."""

    situation: dict[str, Any]
    team_context: str | None
    decision: str
    classification: str | None
    risk_level: str | None
    reasoning: str


@dataclass(frozen=True)
class PromptVersion:
    """A named prompt: task instructions and few-shot examples (policy comes separately)."""

    name: str
    description: str
    instructions: str
    examples: tuple[FewShotExample, ...]
    base: str | None
    folder: Path
    builtin: bool
    include_policy: bool = True
    """False for a short prompt meant for a fine-tuned model (the policy is in its weights)."""


@dataclass(frozen=True)
class PromptParts:
    """A prompt split into the part shared by every scenario and the per-decision part."""

    system: str
    user: str

    @property
    def text(self) -> str:
        """The full completion prompt: ``system + PROMPT_SEPARATOR + user``."""
        return self.system + PROMPT_SEPARATOR + self.user


# --- formatting -------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """One situation value as written after ``key: `` (see the module docstring)."""
    if isinstance(value, str) and _is_plain(value):
        return value
    try:
        return _json_line(value)
    except (TypeError, ValueError) as exc:
        raise PromptError(f"value {value!r} cannot be written as JSON: {exc}") from None


def _json_line(value: Any) -> str:
    """``value`` as one line of JSON (non-ASCII kept, line/paragraph separators escaped)."""
    return json.dumps(value, ensure_ascii=False).translate(_JSON_LINE_ESCAPES)


def _is_plain(text: str) -> bool:
    if not text or text != text.strip():
        return False
    if any(unicodedata.category(ch) in _BREAKING_CATEGORIES for ch in text):
        return False
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


def _format_key(key: str) -> str:
    if not isinstance(key, str):
        raise PromptError(f"situation key {key!r} is not a string")
    if _PLAIN_KEY_RE.fullmatch(key) and key != TEAM_CONTEXT_KEY:
        return key
    return _json_line(key)


def format_situation(situation: dict[str, Any], team_context: str | None) -> str:
    """Readable ``key: value`` lines, every key in the given order, then the team context."""
    lines = [f"{_format_key(key)}: {format_value(value)}" for key, value in situation.items()]
    if team_context is not None:
        lines.append(f"{TEAM_CONTEXT_KEY}: {format_value(team_context)}")
    return "\n".join(lines)


def format_answer(
    decision: str, classification: str | None, risk_level: str | None, reasoning: str | None
) -> str:
    """One line of JSON with the keys decision, classification, risk_level, reasoning."""
    answer = {
        "decision": decision,
        "classification": classification,
        "risk_level": risk_level,
        "reasoning": reasoning,
    }
    return _json_line(answer)


def format_example(example: FewShotExample) -> str:
    """One example block (no trailing newline); the situation must not be empty."""
    if not example.situation:
        raise PromptError("an example needs a non-empty situation")
    return "\n".join(
        [
            SITUATION_HEADER,
            format_situation(example.situation, example.team_context),
            ANSWER_HEADER,
            format_answer(
                example.decision, example.classification, example.risk_level, example.reasoning
            ),
        ]
    )


def format_examples(examples: Sequence[FewShotExample]) -> str:
    """The whole examples block: blocks separated by a blank line, ending with a newline."""
    if not examples:
        return ""
    return "\n\n".join(format_example(example) for example in examples) + "\n"


# --- parsing ----------------------------------------------------------------------------


def parse_examples(text: str, source: str = "<text>") -> list[FewShotExample]:
    """Read an examples block written by :func:`format_examples` (its exact inverse).

    Raises :class:`PromptError` naming ``source`` and the line of the first problem.
    """
    return _ExamplesParser(text, source).parse()


class _ExamplesParser:
    """Line-based reader of the examples format."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.lines = [line.rstrip(" \t\r") for line in text.removeprefix("\ufeff").split("\n")]
        while self.lines and not self.lines[-1]:
            self.lines.pop()
        self.pos = 0

    def error(self, message: str, line_index: int | None = None) -> PromptError:
        number = (self.pos if line_index is None else line_index) + 1
        return PromptError(f"{self.source}: line {number}: {message}")

    def parse(self) -> list[FewShotExample]:
        examples: list[FewShotExample] = []
        while self.skip_blank():
            examples.append(self.example())
        return examples

    def skip_blank(self) -> bool:
        """Skip blank lines; True if a line remains."""
        while self.pos < len(self.lines) and not self.lines[self.pos]:
            self.pos += 1
        return self.pos < len(self.lines)

    def example(self) -> FewShotExample:
        line = self.lines[self.pos]
        if line != SITUATION_HEADER:
            raise self.error(f"expected {SITUATION_HEADER!r}, found {_clip(line)!r}")
        self.pos += 1
        situation, team_context = self.situation()
        answer = self.answer()
        return FewShotExample(situation=situation, team_context=team_context, **answer)

    def situation(self) -> tuple[dict[str, Any], str | None]:
        start = self.pos
        situation: dict[str, Any] = {}
        team_context: str | None = None
        seen_context = False
        while True:
            if self.pos >= len(self.lines):
                raise self.error(f"missing {ANSWER_HEADER!r} after the situation", start - 1)
            line = self.lines[self.pos]
            if line == ANSWER_HEADER:
                break
            if not line:
                raise self.error(f"blank line inside a situation (expected {ANSWER_HEADER!r})")
            if seen_context:
                raise self.error("team_context must be the last line of a situation")
            quoted, key, value = self.key_value(line)
            if key == TEAM_CONTEXT_KEY and not quoted:
                team_context, seen_context = self.team_context(value), True
            elif key in situation:
                raise self.error(f"duplicate situation key {key!r}")
            else:
                situation[key] = value
            self.pos += 1
        if not situation:
            raise self.error("the situation has no keys", start - 1)
        self.pos += 1
        return situation, team_context

    def key_value(self, line: str) -> tuple[bool, str, Any]:
        quoted = line.startswith('"')
        if quoted:
            try:
                key, end = json.JSONDecoder().raw_decode(line)
            except ValueError:
                raise self.error(f"bad quoted key in {_clip(line)!r}") from None
            if not isinstance(key, str):
                raise self.error(f"bad quoted key in {_clip(line)!r}")
        else:
            end = line.find(":")
            key = line[:end]
            if end < 0 or not _PLAIN_KEY_RE.fullmatch(key):
                raise self.error(f"expected 'key: value', found {_clip(line)!r}")
        rest = line[end:]
        if not rest.startswith(": ") or len(rest) == 2:
            raise self.error(f"expected 'key: value', found {_clip(line)!r}")
        return quoted, key, _parse_value(rest[2:])

    def team_context(self, value: Any) -> str | None:
        if value is not None and not isinstance(value, str):
            raise self.error("team_context must be text")
        return value

    def answer(self) -> dict[str, Any]:
        if self.pos >= len(self.lines) or not self.lines[self.pos]:
            raise self.error(f"missing the JSON answer after {ANSWER_HEADER!r}")
        line = self.lines[self.pos]
        try:
            answer = json.loads(line)
        except ValueError as exc:
            raise self.error(f"the answer is not valid JSON ({exc})") from None
        if not isinstance(answer, dict):
            raise self.error("the answer must be a JSON object")
        fields = self.answer_fields(answer)
        self.pos += 1
        return fields

    def answer_fields(self, answer: dict[str, Any]) -> dict[str, Any]:
        unknown = [key for key in answer if key not in ANSWER_KEYS]
        if unknown:
            raise self.error(f"unknown answer keys: {', '.join(unknown)}")
        decision = answer.get("decision")
        if decision not in DECISIONS:
            raise self.error(f"decision {decision!r} is not one of {', '.join(DECISIONS)}")
        risk_level = answer.get("risk_level")
        if risk_level is not None and risk_level not in RISK_LEVELS:
            raise self.error(f"risk_level {risk_level!r} is not one of {', '.join(RISK_LEVELS)}")
        classification = answer.get("classification")
        if classification is not None and not isinstance(classification, str):
            raise self.error("classification must be a string or null")
        reasoning = answer.get("reasoning")
        if not isinstance(reasoning, str):
            raise self.error("reasoning must be a string")
        return {
            "decision": decision,
            "classification": classification,
            "risk_level": risk_level,
            "reasoning": reasoning,
        }


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _clip(line: str, width: int = 60) -> str:
    return line if len(line) <= width else line[: width - 1] + "…"


# --- prompts ----------------------------------------------------------------------------


def build_prompt(
    version: PromptVersion, policy: str, situation: dict[str, Any], team_context: str | None
) -> PromptParts:
    """The prompt for one decision: a shared ``system`` prefix and a per-situation ``user``.

    ``user`` ends with ``ANSWER_HEADER + "\\n"``, so the completion is the JSON answer.
    """
    return PromptParts(
        system=build_system(version, policy), user=build_user(situation, team_context)
    )


def build_system(version: PromptVersion, policy: str) -> str:
    """Policy, instructions and examples: the same for every scenario of a run.

    A short version (``include_policy = false``, no examples) leaves out what it lacks.
    """
    parts = [policy.strip()] if version.include_policy else []
    parts.append(f"## Instructions\n{version.instructions.strip()}")
    if version.examples:
        parts.append(f"## Examples\n\n{format_examples(version.examples).rstrip()}")
    return "\n\n".join(parts)


def build_user(situation: dict[str, Any], team_context: str | None) -> str:
    """The situation block of one decision, ending with the answer header."""
    return f"{SITUATION_HEADER}\n{format_situation(situation, team_context)}\n{ANSWER_HEADER}\n"


def load_policy(path: Path | str | None = None) -> str:
    """The policy text (``None``: the shipped ``resources/policy/default_policy.md``)."""
    try:
        if path is None:
            text = read_text("policy", "default_policy.md")
        else:
            text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptError(f"cannot read the policy {path or 'default_policy.md'}: {exc}") from None
    if not text.strip():
        raise PromptError(f"the policy {path or 'default_policy.md'} is empty")
    return text


# --- prompt versions on disk ------------------------------------------------------------


def load_prompt_version(folder: Path, *, builtin: bool) -> PromptVersion:
    """Read a prompt version folder (``prompt.toml``, ``instructions.txt``, ``examples.txt``).

    ``prompt.toml`` may say ``include_policy = false`` and ``include_examples = false``
    (then ``examples.txt`` is not read): the short prompt of a fine-tuned model.
    """
    meta = _read_meta(folder / PROMPT_FILE)
    instructions = _read_file(folder / INSTRUCTIONS_FILE)
    if not instructions.strip():
        raise PromptError(f"{folder / INSTRUCTIONS_FILE}: is empty")
    examples: list[FewShotExample] = []
    if meta.get("include_examples", True):
        examples_path = folder / EXAMPLES_FILE
        examples = parse_examples(_read_file(examples_path), source=str(examples_path))
        if not examples:
            raise PromptError(f"{examples_path}: has no examples")
    return PromptVersion(
        name=folder.name,
        description=meta.get("description", ""),
        instructions=instructions,
        examples=tuple(examples),
        base=meta.get("base"),
        folder=folder,
        builtin=builtin,
        include_policy=meta.get("include_policy", True),
    )


def _read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptError(f"{path}: cannot be read ({exc})") from None


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = tomllib.loads(_read_file(path))
    except tomllib.TOMLDecodeError as exc:
        raise PromptError(f"{path}: not valid TOML: {exc}") from None
    for key in ("description", "base"):
        if key in meta and not isinstance(meta[key], str):
            raise PromptError(f"{path}: {key} must be a string")
    for key in ("include_policy", "include_examples"):
        if key in meta and not isinstance(meta[key], bool):
            raise PromptError(f"{path}: {key} must be true or false")
    return meta


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string (quotes, backslashes and control characters escaped)."""
    escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f"}
    escapes["\r"] = "\\r"
    out = []
    for ch in text:
        if ch in escapes:
            out.append(escapes[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _meta_text(description: str, base: str | None) -> str:
    lines = [f"description = {toml_string(description)}"]
    if base is not None:
        lines.append(f"base = {toml_string(base)}")
    return "\n".join(lines) + "\n"


class PromptCatalog:
    """The builtin prompt versions (``resources/prompts/``) and the user's custom ones."""

    def __init__(self, custom_dir: Path | None = None) -> None:
        self.custom_dir = custom_prompts_dir() if custom_dir is None else Path(custom_dir)
        self.builtin_dir = resource_path("prompts")

    def builtin_names(self) -> list[str]:
        """Names of the shipped versions, sorted."""
        return _version_names(self.builtin_dir)

    def custom_names(self) -> list[str]:
        """Names of the user's versions, sorted (a folder named like a builtin is ignored)."""
        builtin = set(self.builtin_names())
        return [name for name in _version_names(self.custom_dir) if name not in builtin]

    def names(self) -> list[str]:
        """Builtin names first, then custom names, each sorted."""
        return self.builtin_names() + self.custom_names()

    def versions(self) -> list[PromptVersion]:
        """Every version, in :meth:`names` order (raises :class:`PromptError` if one is broken)."""
        return [self.get(name) for name in self.names()]

    def get(self, name: str) -> PromptVersion:
        """The version called ``name``; :class:`UnknownPromptVersion` if there is none."""
        if name in self.builtin_names():
            return load_prompt_version(self.builtin_dir / name, builtin=True)
        if name in self.custom_names():
            return load_prompt_version(self.custom_dir / name, builtin=False)
        raise UnknownPromptVersion(name, self.names())

    def create(
        self,
        name: str,
        examples_file: Path,
        *,
        base: str = DEFAULT_PROMPT_VERSION,
        description: str | None = None,
        overwrite: bool = False,
    ) -> PromptVersion:
        """Create (or with ``overwrite`` replace) a custom version from an examples file.

        The instructions are copied from ``base``. The folder is written under a temporary
        name and renamed into place, so a failure leaves nothing behind.
        """
        self._check_new_name(name, overwrite=overwrite)
        base_version = self.get(base)
        examples_path = Path(examples_file)
        examples = parse_examples(_read_file(examples_path), source=str(examples_path))
        if not examples:
            raise PromptError(f"{examples_path}: has no examples")
        if description is None:
            description = f"{len(examples)} examples from {examples_path.name} (base {base})"
        files = {
            PROMPT_FILE: _meta_text(description, base),
            INSTRUCTIONS_FILE: base_version.instructions,
            EXAMPLES_FILE: format_examples(examples),
        }
        self._write_atomically(name, files)
        return self.get(name)

    def _check_new_name(self, name: str, *, overwrite: bool) -> None:
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise PromptError(
                f"invalid prompt version name {name!r}: use letters, digits, '_', '.', '-', "
                "starting with a letter or digit"
            )
        if name in self.builtin_names():
            raise PromptError(f"{name!r} is a builtin prompt version; choose another name")
        if (self.custom_dir / name).exists() and not overwrite:
            raise PromptError(
                f"prompt version {name!r} already exists in {self.custom_dir}; "
                "pass overwrite=True to replace it"
            )

    def _write_atomically(self, name: str, files: dict[str, str]) -> None:
        self.custom_dir.mkdir(parents=True, exist_ok=True)
        staging = staging_folder(self.custom_dir / name, suffix=".tmp")
        try:
            for filename, content in files.items():
                (staging / filename).write_text(content, encoding="utf-8")
            load_prompt_version(staging, builtin=False)
            replace_folder(staging, self.custom_dir / name)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def _version_names(root: Path) -> list[str]:
    """Sorted names of the version folders (with a prompt.toml) under ``root``."""
    if not root.is_dir():
        return []
    return sorted(
        child.name
        for child in root.iterdir()
        if _NAME_RE.fullmatch(child.name) and (child / PROMPT_FILE).is_file()
    )
