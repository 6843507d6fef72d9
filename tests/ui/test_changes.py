"""The change vocabulary: what each kind of change makes the window re-read (no Qt)."""

from __future__ import annotations

from policy_desktop.ui.changes import Changes


def test_nothing_changed_refreshes_nothing() -> None:
    none = Changes()
    assert none.empty and not none.rows and not none.facets


def test_a_review_rereads_rows_and_counts_but_not_the_filter_menus() -> None:
    review = Changes.reviewed("d1")
    assert not review.empty and review.rows and not review.facets
    assert review.decision_ids == {"d1"}


def test_new_decisions_runs_and_outside_changes_reread_the_menus_too() -> None:
    assert Changes(decisions=True).rows and Changes(decisions=True).facets
    run = Changes(runs=True)
    assert run.facets and not run.rows
    outside = Changes.everything()
    assert outside.rows and outside.facets and not outside.decision_ids


def test_changes_combine() -> None:
    both = Changes.reviewed("d1") | Changes.reviewed("d2") | Changes(runs=True)
    assert both == Changes(reviews=True, runs=True, decision_ids=frozenset({"d1", "d2"}))
    assert Changes() | Changes() == Changes()
