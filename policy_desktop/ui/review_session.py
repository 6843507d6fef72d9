"""The window's review writes: undo, the guard against writing one decision twice, and
what the finished writes changed (no Qt).

Reviews are queued on the database thread and finish later; this keeps what the window
needs to know meanwhile, so the window's handlers only say what happened.
"""

from __future__ import annotations

from collections.abc import Iterable

from policy_desktop.ui.changes import Changes


class ReviewSession:
    """Reviews made in this window: the undo stack, writes in flight, pending changes."""

    def __init__(self) -> None:
        self._undo: list[str] = []
        self._writing: set[str] = set()
        self._undoing = 0
        self._changes = Changes()

    def clear(self) -> None:
        """Another database: nothing of the old one can be undone."""
        self._undo.clear()

    def writing(self, decision_id: str) -> bool:
        """Whether a review of ``decision_id`` is queued and not yet written."""
        return decision_id in self._writing

    @property
    def busy(self) -> bool:
        """Whether a review or an undo is still on its way to the database."""
        return bool(self._writing) or self._undoing > 0

    @property
    def can_undo(self) -> bool:
        """Whether there is a review of this window to take back."""
        return bool(self._undo)

    @property
    def undo_stack(self) -> tuple[str, ...]:
        """The decisions this window reviewed, oldest first (what undo takes back)."""
        return tuple(self._undo)

    def begin(self, decision_ids: Iterable[str]) -> list[str]:
        """Queue reviews of ``decision_ids``; return those not already in flight."""
        ids = [i for i in decision_ids if i not in self._writing]
        self._writing.update(ids)
        self._undo.extend(ids)
        return ids

    def written(self, decision_ids: Iterable[str]) -> None:
        """These reviews are in the database."""
        ids = list(decision_ids)
        self._writing.difference_update(ids)
        self._changes |= Changes.reviewed(*ids)

    def failed(self, decision_ids: Iterable[str]) -> None:
        """These reviews were not written: nothing to undo for them (re-read what is stored)."""
        ids = list(decision_ids)
        self._writing.difference_update(ids)
        for decision_id in ids:
            if decision_id in self._undo:
                del self._undo[len(self._undo) - 1 - self._undo[::-1].index(decision_id)]
        self._changes |= Changes.reviewed(*ids)

    def begin_undo(self) -> str:
        """Take the last review off the stack to undo it; return its decision id."""
        self._undoing += 1
        return self._undo.pop()

    def undo_ended(self, decision_id: str) -> None:
        """The undo of ``decision_id`` finished, done or not (re-read it either way)."""
        self._undoing -= 1
        self._changes |= Changes.reviewed(decision_id)

    def take_changes(self) -> Changes:
        """What the finished writes changed since the last call (reviews, at least)."""
        changes, self._changes = self._changes | Changes.reviewed(), Changes()
        return changes
