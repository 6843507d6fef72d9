"""The scenario suite: situations with the decision the policy expects (TOML files).

The file format is documented in ``resources/scenarios/README.md``. :func:`load_suite`
validates a whole file and reports every problem at once in a :class:`ScenarioFileError`.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policy_desktop.resources import resource_path
from policy_desktop.vocabulary import DECISIONS, RISK_LEVELS, situation_fingerprint

DIFFICULTIES: tuple[str, ...] = ("easy", "medium", "hard")
REQUIRED_SITUATION_KEYS: tuple[str, ...] = ("actor", "role", "action", "target")
MIN_REASONING_POINTS = 1
MAX_REASONING_POINTS = 6

_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_LABEL_RE = re.compile(r"[a-z][a-z0-9_]*")
_TOP_LEVEL_KEYS = frozenset({"quick", "scenario"})
_SCENARIO_KEYS = frozenset(
    {
        "id",
        "difficulty",
        "description",
        "situation",
        "team_context",
        "expected_decision",
        "expected_classification",
        "expected_risk_level",
        "expected_reasoning",
        "tags",
    }
)


class ScenarioFileError(ValueError):
    """A scenario file (or a selection from it) is invalid; lists every problem found."""

    def __init__(self, path: Path | str, problems: Sequence[str]) -> None:
        self.path = Path(path)
        self.problems: list[str] = list(problems)
        super().__init__(f"{self.path}:\n" + "\n".join(self.problems))


@dataclass(frozen=True)
class Scenario:
    """One situation of the suite with the answer the policy expects."""

    scenario_id: str
    difficulty: str
    description: str
    situation: dict[str, Any]
    team_context: str | None
    expected_decision: str
    expected_classification: str | None
    expected_risk_level: str | None
    expected_reasoning: tuple[str, ...]
    tags: tuple[str, ...]

    @property
    def fingerprint(self) -> str:
        """:func:`situation_fingerprint` of this scenario's situation."""
        return situation_fingerprint(self.situation)


@dataclass(frozen=True)
class ScenarioSuite:
    """The scenarios of one file, in file order, and the ids of its quick set."""

    path: Path
    scenarios: tuple[Scenario, ...]
    quick_ids: tuple[str, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        """Every scenario id, in file order."""
        return tuple(s.scenario_id for s in self.scenarios)

    def get(self, scenario_id: str) -> Scenario:
        """The scenario with this id; :class:`ScenarioFileError` lists known ids if absent."""
        for scenario in self.scenarios:
            if scenario.scenario_id == scenario_id:
                return scenario
        raise ScenarioFileError(self.path, [self._unknown_id_problem("id", scenario_id)])

    def select(self, *, full: bool = False, only: Sequence[str] | None = None) -> list[Scenario]:
        """Scenarios to run: ``only`` (in its order) if given, else all if ``full``, else quick."""
        if only is not None:
            return self._select_only(only)
        if full:
            return list(self.scenarios)
        return [self.get(scenario_id) for scenario_id in self.quick_ids]

    def fingerprints(self) -> frozenset[str]:
        """Fingerprints of every scenario's situation (to keep the suite out of exports)."""
        return frozenset(s.fingerprint for s in self.scenarios)

    def _select_only(self, only: Sequence[str]) -> list[Scenario]:
        if isinstance(only, str):
            only = [only]
        known = set(self.ids)
        unknown = [i for i in only if i not in known]
        if unknown:
            problems = [self._unknown_id_problem("only", i) for i in unknown]
            raise ScenarioFileError(self.path, problems)
        return [self.get(i) for i in dict.fromkeys(only)]

    def _unknown_id_problem(self, field: str, scenario_id: str) -> str:
        return f"{field}: unknown scenario id {scenario_id!r} (known: {', '.join(self.ids)})"


def default_suite_path() -> Path:
    """The shipped suite, ``resources/scenarios/default.toml``."""
    return resource_path("scenarios", "default.toml")


def load_suite(path: Path | str | None = None) -> ScenarioSuite:
    """Read and validate a suite file (``None``: the shipped default).

    Raises :class:`ScenarioFileError` listing every problem: unreadable or non-TOML file,
    missing or wrongly typed fields, duplicate ids, unknown decisions or risk levels,
    bad quick ids, an empty suite.
    """
    suite_path = default_suite_path() if path is None else Path(path)
    data = _read_toml(suite_path)
    problems: list[str] = []
    problems += [f"{key}: unknown top-level key" for key in data if key not in _TOP_LEVEL_KEYS]
    scenarios = _parse_scenarios(data.get("scenario"), problems)
    quick_ids = _parse_quick(data, _raw_ids(data.get("scenario")), problems)
    if problems:
        raise ScenarioFileError(suite_path, problems)
    return ScenarioSuite(path=suite_path, scenarios=tuple(scenarios), quick_ids=quick_ids)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioFileError(path, ["file: not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioFileError(path, [f"file: cannot be read ({exc})"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioFileError(path, [f"file: not valid TOML: {exc}"]) from None


def _parse_scenarios(raw: Any, problems: list[str]) -> list[Scenario]:
    if raw is None:
        problems.append("scenario: the suite has no scenarios (add [[scenario]] tables)")
        return []
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        problems.append("scenario: must be an array of tables ([[scenario]])")
        return []
    if not raw:
        problems.append("scenario: the suite has no scenarios (add [[scenario]] tables)")
    scenarios: list[Scenario] = []
    first_index: dict[str, int] = {}
    for index, table in enumerate(raw, start=1):
        scenario = _ScenarioReader(table, index, problems).read()
        scenario_id = table.get("id")
        if isinstance(scenario_id, str) and scenario_id:
            if scenario_id in first_index:
                problems.append(
                    f"{scenario_id}.id: duplicate id (scenarios #{first_index[scenario_id]} "
                    f"and #{index})"
                )
            first_index.setdefault(scenario_id, index)
        if scenario is not None:
            scenarios.append(scenario)
    return scenarios


def _raw_ids(raw: Any) -> list[str]:
    """The string ids of the scenario tables, valid or not (so quick ids are not misreported)."""
    if not isinstance(raw, list):
        return []
    ids = [table.get("id") for table in raw if isinstance(table, dict)]
    return list(dict.fromkeys(i for i in ids if isinstance(i, str) and i))


def _parse_quick(data: dict[str, Any], known: list[str], problems: list[str]) -> tuple[str, ...]:
    if "quick" not in data:
        return tuple(known)
    quick = data["quick"]
    if not isinstance(quick, list) or not all(isinstance(i, str) for i in quick):
        problems.append("quick: must be a list of scenario ids (strings)")
        return ()
    if not quick:
        problems.append("quick: must name at least one scenario id")
    for dup in sorted({i for i in quick if quick.count(i) > 1}):
        problems.append(f"quick: scenario id {dup!r} is listed more than once")
    for scenario_id in quick:
        if scenario_id not in known:
            problems.append(
                f"quick: unknown scenario id {scenario_id!r} (known: {', '.join(known)})"
            )
    return tuple(dict.fromkeys(quick))


class _ScenarioReader:
    """Validates one ``[[scenario]]`` table, appending problems prefixed with its id."""

    def __init__(self, table: dict[str, Any], index: int, problems: list[str]) -> None:
        self.table = table
        self.problems = problems
        self.start = len(problems)
        raw_id = table.get("id")
        self.label = raw_id if isinstance(raw_id, str) and raw_id else f"scenario #{index}"

    def problem(self, field: str, message: str) -> None:
        self.problems.append(f"{self.label}.{field}: {message}")

    def read(self) -> Scenario | None:
        for key in self.table:
            if key not in _SCENARIO_KEYS:
                self.problem(key, "unknown key")
        scenario = Scenario(
            scenario_id=self.identifier(),
            difficulty=self.choice("difficulty", DIFFICULTIES, required=True) or "",
            description=self.text("description", required=True) or "",
            situation=self.situation(),
            team_context=self.text("team_context", required=False),
            expected_decision=self.choice("expected_decision", DECISIONS, required=True) or "",
            expected_classification=self.label_field("expected_classification"),
            expected_risk_level=self.choice("expected_risk_level", RISK_LEVELS, required=False),
            expected_reasoning=self.reasoning(),
            tags=self.tags(),
        )
        return scenario if len(self.problems) == self.start else None

    def identifier(self) -> str:
        value = self.text("id", required=True)
        if value is not None and not _ID_RE.fullmatch(value):
            self.problem("id", f"{value!r} must match {_ID_RE.pattern}")
        return value or ""

    def text(self, field: str, *, required: bool) -> str | None:
        if field not in self.table:
            if required:
                self.problem(field, "missing")
            return None
        value = self.table[field]
        if not isinstance(value, str):
            self.problem(field, f"must be a string, not {_toml_type(value)}")
            return None
        if not value.strip():
            self.problem(field, "must not be empty")
            return None
        return value

    def choice(self, field: str, allowed: Sequence[str], *, required: bool) -> str | None:
        value = self.text(field, required=required)
        if value is not None and value not in allowed:
            self.problem(field, f"{value!r} is not one of {', '.join(allowed)}")
            return None
        return value

    def label_field(self, field: str) -> str | None:
        value = self.text(field, required=False)
        if value is not None and not _LABEL_RE.fullmatch(value):
            self.problem(field, f"{value!r} is not a snake_case label like 'routine_read_access'")
            return None
        return value

    def string_list(self, field: str) -> list[str] | None:
        value = self.table.get(field, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(field, "must be a list of strings")
            return None
        if any(not v.strip() for v in value):
            self.problem(field, "must not contain empty strings")
            return None
        return value

    def reasoning(self) -> tuple[str, ...]:
        field = "expected_reasoning"
        if field not in self.table:
            self.problem(field, "missing")
            return ()
        points = self.string_list(field)
        if points is None:
            return ()
        if not MIN_REASONING_POINTS <= len(points) <= MAX_REASONING_POINTS:
            self.problem(
                field,
                f"has {len(points)} key points; "
                f"{MIN_REASONING_POINTS} to {MAX_REASONING_POINTS} are allowed",
            )
        return tuple(points)

    def tags(self) -> tuple[str, ...]:
        return tuple(self.string_list("tags") or ())

    def situation(self) -> dict[str, Any]:
        field = "situation"
        value = self.table.get(field)
        if value is None:
            self.problem(field, "missing (add a [scenario.situation] table)")
            return {}
        if not isinstance(value, dict):
            self.problem(field, f"must be a table, not {_toml_type(value)}")
            return {}
        for key in REQUIRED_SITUATION_KEYS:
            item = value.get(key)
            if item is None:
                self.problem(f"{field}.{key}", "missing")
            elif not isinstance(item, str) or not item.strip():
                self.problem(f"{field}.{key}", "must be a non-empty string")
        self.check_json_values(field, value)
        return dict(value)

    def check_json_values(self, field: str, value: Any) -> None:
        """TOML dates/times and non-finite floats have no JSON form: report them."""
        if isinstance(value, dict):
            for key, item in value.items():
                self.check_json_values(f"{field}.{key}", item)
        elif isinstance(value, list):
            for position, item in enumerate(value):
                self.check_json_values(f"{field}[{position}]", item)
        elif isinstance(value, float) and not math.isfinite(value):
            self.problem(field, f"{value} is not a finite number")
        elif not isinstance(value, str | int | float | bool):
            self.problem(field, f"TOML {_toml_type(value)} values are not supported; quote it")


def _toml_type(value: Any) -> str:
    names = {
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        list: "an array",
        dict: "a table",
    }
    return names.get(type(value), type(value).__name__)
