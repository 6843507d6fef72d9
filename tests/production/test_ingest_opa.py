"""OPA's own decision-log events through ``ingest``: translated, validated, stored."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from policy_desktop.commands.ingest import ingest_body
from policy_desktop.commands.opa_events import EventError, as_import_line, translate
from policy_desktop.store import PolicyDecisionLog


def opa_event(number: int, result: Any, **extra: Any) -> dict[str, Any]:
    """An event as OPA's decision-log plugin writes it (fields from OPA's documentation)."""
    return {
        "labels": {"app": "gateway", "id": "1780d507-aea2", "version": "v1.4.0"},
        "decision_id": f"4ca636c1-{number:04d}",
        "bundles": {"authz": {"revision": "r7"}},
        "path": "authz/decision",
        "input": {"actor": f"user{number}", "role": "developer", "action": "write",
                  "target": "docs", "trust_level": "high", "mfa": True},
        "result": result,
        "requested_by": "[::1]:59943",
        "timestamp": "2026-12-02T06:00:00.123456789Z",
        "metrics": {"timer_rego_query_eval_ns": 233},
        **extra,
    }


def test_an_opa_event_becomes_a_decision_with_its_situation_path_and_revision() -> None:
    record = translate(opa_event(1, {"decision": "require_mfa", "risk_level": "medium",
                                     "reasoning": "rule 4"}))
    assert record["situation"]["actor"] == "user1"
    assert (record["decision"], record["risk_level"], record["reasoning"]) == (
        "require_mfa", "medium", "rule 4")
    assert (record["model_name"], record["model_version"], record["prompt_version"]) == (
        "opa", "r7", "authz/decision")
    assert record["decision_id"] == "4ca636c1-0001"
    assert json.loads(record["full_response"])["decision"] == "require_mfa"


@pytest.mark.parametrize(("result", "decision"), [
    (True, "allow"), (False, "deny"), ("require_attestation", "require_attestation"),
    ({"allow": False, "reasons": ["x"]}, "deny"), ({"decision": "allow"}, "allow")])
def test_the_answer_shapes_opa_policies_return(result: Any, decision: str) -> None:
    assert translate(opa_event(1, result))["decision"] == decision


def test_the_version_falls_back_to_the_labels_then_unknown() -> None:
    assert translate(opa_event(1, True, bundles={}))["model_version"] == "v1.4.0"
    event = opa_event(1, True, bundles={})
    del event["labels"]
    assert translate(event)["model_version"] == "unknown"
    two = opa_event(1, True, bundles={"b": {"revision": "2"}, "a": {"revision": "1"}})
    assert translate(two)["model_version"] == "a@1,b@2"


@pytest.mark.parametrize(("event", "reason"), [
    (opa_event(1, 42), "result must be"),
    (opa_event(1, "maybe"), "'maybe' is not one of"),
    (opa_event(1, {"reasons": []}), "result must be"),
    ({**opa_event(1, True), "input": [1, 2]}, "input must be a JSON object"),
])
def test_unreadable_events_name_the_reason(event: dict[str, Any], reason: str) -> None:
    with pytest.raises(EventError, match=reason):
        translate(event)


def test_lines_in_the_import_format_pass_unchanged() -> None:
    line = json.dumps({"situation": {"a": 1}, "input": 1, "result": 2, "decision": "deny"})
    assert as_import_line(line) == line
    assert as_import_line("not json") == "not json"
    with pytest.raises(EventError, match="'path' appears twice"):
        as_import_line('{"input": {}, "result": true, "path": "a", "path": "b"}')


def test_a_batch_of_opa_events_is_stored_with_per_event_errors(db_path: Path) -> None:
    body = json.dumps([opa_event(1, True), opa_event(2, 42), opa_event(3, "deny"),
                       opa_event(4, {"decision": "nope"})]).encode()
    with PolicyDecisionLog(db_path) as log:
        reply = ingest_body(log, gzip.compress(body), gzipped=True, limit=1 << 20)
        stored = {d.decision_id: d for d in log.get_all_decisions()}
    assert (reply["received"], reply["stored"], reply["invalid"]) == (4, 2, 2)
    assert [error["index"] for error in reply["errors"]] == [1, 3]
    assert "result must be" in reply["errors"][0]["reason"]
    assert "'nope' is not one of" in reply["errors"][1]["reason"]
    assert stored.keys() == {"4ca636c1-0001", "4ca636c1-0003"}
    first = stored["4ca636c1-0001"]
    assert (first.decision, first.model_name, first.prompt_version) == (
        "allow", "opa", "authz/decision")
    assert first.timestamp == "2026-12-02T06:00:00.123456789Z"  # as given (stored UTC)
    assert first.situation["actor"] == "user1"


def test_resending_opa_events_adds_nothing(db_path: Path) -> None:
    body = json.dumps([opa_event(1, True), opa_event(2, False)]).encode()
    with PolicyDecisionLog(db_path) as log:
        ingest_body(log, body, gzipped=False, limit=1 << 20)
        again = ingest_body(log, body, gzipped=False, limit=1 << 20)
        assert len(log.get_all_decisions()) == 2
    assert (again["stored"], again["duplicates"]) == (0, 2)
