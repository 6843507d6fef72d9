"""The window's review writes: the guard, undo and what finished writes changed (no Qt)."""

from __future__ import annotations

from policy_desktop.ui.changes import Changes
from policy_desktop.ui.review_session import ReviewSession


def test_a_decision_is_written_once_until_its_write_returns() -> None:
    session = ReviewSession()
    assert session.begin(["d1", "d2"]) == ["d1", "d2"]
    assert session.begin(["d2", "d3"]) == ["d3"]  # d2 is still on its way
    assert session.busy and session.writing("d2")
    session.written(["d1", "d2", "d3"])
    assert not session.busy and not session.writing("d2")
    assert session.take_changes() == Changes.reviewed("d1", "d2", "d3")
    assert session.take_changes() == Changes.reviewed()  # taken: only "some review" is left


def test_a_failed_write_leaves_nothing_to_undo_for_it() -> None:
    session = ReviewSession()
    session.begin(["d1"])
    session.written(["d1"])
    session.begin(["d1"])  # reviewed again
    session.failed(["d1"])
    assert session.can_undo  # the first review of d1 can still be undone
    assert session.begin_undo() == "d1"
    assert not session.can_undo


def test_undo_takes_the_last_review_back_and_counts_as_busy_until_it_ends() -> None:
    session = ReviewSession()
    session.begin(["d1", "d2"])
    session.written(["d1", "d2"])
    session.take_changes()
    assert session.undo_stack == ("d1", "d2")
    assert session.begin_undo() == "d2"
    assert session.undo_stack == ("d1",)
    assert session.busy
    session.undo_ended("d2")
    assert not session.busy
    assert session.take_changes().decision_ids == {"d2"}
    session.clear()
    assert not session.can_undo
