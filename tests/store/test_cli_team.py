"""``policy-desktop team assign``, ``assignments``, ``unassign`` and ``list``."""

from __future__ import annotations

import re

import pytest
from store_helpers import make_decision, timestamp

from policy_desktop.cli import main
from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.assignments import Assignments
from policy_desktop.store.review_queue import MINE, ReviewQueue


def _logged(location: str, count: int = 12) -> dict[str, str]:
    with PolicyDecisionLog(location) as log:
        decisions = [make_decision(i, timestamp=timestamp(i), run_id=f"run-{i % 2}")
                     for i in range(count)]
        log.log_decisions(decisions)
    return {d.decision_id: d.decision for d in decisions if d.decision_id}


def test_team_assign_delegates_a_filter_and_lists_it(
        store_location: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    decisions = _logged(store_location)
    monkeypatch.setenv("USER", "lead")
    assert main(["team", "--db", store_location, "assign", "--reviewer", "ann",
                 "--decision", "deny", "--run", "run-1"]) == 0
    out = capsys.readouterr().out
    assert re.match(r"Assigned 3 decisions \(decision=deny, run_id=run-1\) to ann: "
                    r"assignment [0-9a-f]{8}\n", out)
    with PolicyDecisionLog(store_location, create=False) as log:
        mine = Assignments(log).my_queue("ann")
        assert len(mine) == 3 and {decisions[d] for d in mine} == {"deny"}
        assert all(log.get_decision(d).run_id == "run-1" for d in mine)
    assert main(["team", "--db", store_location, "assign", "--reviewer", "bob",
                 "--decision", "deny", "--by", "carol"]) == 0
    out = capsys.readouterr().out
    assert "Assigned 0 decisions" in out and "3 already in ann's queue (left there)" in out
    assert main(["team", "--db", store_location, "assignments"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].split()[:4] == ["ID", "Reviewer", "open", "done"]
    assert re.match(r"[0-9a-f]{8}  ann +3 +0  decision=deny, run_id=run-1  \(lead, ", rows[1])
    assert re.match(r"[0-9a-f]{8}  bob +0 +0  decision=deny  \(carol, ", rows[2])


def test_team_unassign_by_id_and_by_reviewer(
        store_location: str, capsys: pytest.CaptureFixture[str]) -> None:
    _logged(store_location)
    assert main(["team", "--db", store_location, "assign", "--reviewer", "ann",
                 "--decision", "allow", "--by", "lead"]) == 0
    assignment_id = re.search(r"assignment ([0-9a-f]{8})", capsys.readouterr().out)[1]
    assert main(["team", "--db", store_location, "assign", "--reviewer", "ann",
                 "--decision", "deny", "--by", "lead", "--limit", "2"]) == 0
    capsys.readouterr()
    with PolicyDecisionLog(store_location, create=False) as log:
        queue = ReviewQueue(log)
        queue.set_overlap_percent(0)
        [claim] = queue.claim("ann", 1, pool=MINE)
        queue.submit(claim)
    assert main(["team", "--db", store_location, "unassign", assignment_id]) == 0
    assert capsys.readouterr().out.strip() in (
        "2 unreviewed decisions back in the unassigned pool",
        "3 unreviewed decisions back in the unassigned pool")
    assert main(["team", "--db", store_location, "unassign", "--reviewer", "ann"]) == 0
    assert "back in the unassigned pool" in capsys.readouterr().out
    assert main(["team", "--db", store_location, "assignments"]) == 0
    assert capsys.readouterr().out.startswith("No assignments")
    assert main(["team", "--db", store_location, "assignments", "--all"]) == 0
    assert capsys.readouterr().out.count("withdrawn") == 2
    assert main(["team", "--db", store_location, "unassign", assignment_id]) == 1
    assert f"no active assignment {assignment_id}" in capsys.readouterr().err


def test_team_assign_refuses_an_unknown_view(
        store_location: str, capsys: pytest.CaptureFixture[str]) -> None:
    _logged(store_location, 2)
    assert main(["team", "--db", store_location, "assign", "--reviewer", "ann",
                 "--view", "everything", "--by", "lead"]) == 1
    assert "unknown view 'everything'" in capsys.readouterr().err


def test_team_list_shows_work_and_open_assignments_alphabetically(
        store_location: str, capsys: pytest.CaptureFixture[str]) -> None:
    _logged(store_location, 8)
    assert main(["team", "--db", store_location, "assign", "--reviewer", "zed",
                 "--decision", "deny", "--by", "lead"]) == 0
    with PolicyDecisionLog(store_location, create=False) as log:
        queue = ReviewQueue(log)
        queue.set_overlap_percent(0)
        for claim in queue.claim("Amy", 3, pool="unassigned"):
            queue.submit(claim, "deny")
    capsys.readouterr()
    assert main(["team", "--db", store_location, "list"]) == 0
    rows = capsys.readouterr().out.splitlines()
    names = [row.split()[0] for row in rows[1:] if row.split()]
    assert names[:2] == ["Amy", "zed"]  # the lead who assigned is not a reviewer by that
    amy = rows[1].split()
    assert amy[1] == "3" and amy[3] == "0"
    zed = rows[2].split()
    assert zed[1:4] == ["0", "0", "2"]
    assert "not a ranking" in rows[-1]


def test_team_list_name_shows_what_that_reviewer_reviewed(
        store_location: str, capsys: pytest.CaptureFixture[str]) -> None:
    decisions = _logged(store_location, 4)
    with PolicyDecisionLog(store_location, create=False) as log:
        queue = ReviewQueue(log)
        queue.set_overlap_percent(0)
        claims = queue.claim("ann", 3)
        for claim in claims:
            queue.submit(claim, "deny")
        log.undo_review(claims[0].decision_id, "ann")
    assert main(["team", "--db", store_location, "list", "ann", "--limit", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Latest reviews by ann (newest first):"
    shown = {line.split()[1]: line for line in lines[1:]}
    assert set(shown) == {c.decision_id for c in claims} and set(shown) <= set(decisions)
    assert shown[claims[0].decision_id].endswith("(undone)")
    assert not shown[claims[1].decision_id].endswith("(undone)")
    assert main(["team", "--db", store_location, "list", "nobody"]) == 0
    assert capsys.readouterr().out.strip() == "nobody has not reviewed anything."
