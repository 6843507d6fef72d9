"""Review keys pressed while the panel still reads the selected decision wait for it.

A fast reviewer's ``A`` may arrive before the decision they moved to is drawn; the key
is kept in order and applied to that decision once it is on show, never dropped and
never applied to the decision that happens to be drawn meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from policy_desktop.ui.panel_feed import PanelFeed


class WaitingKeys(QObject):
    """Keys waiting for :class:`PanelFeed` to show the selected decision.

    Signals:
        drained(): no key waits any more (after a decision was shown).
        dropped(str): the waiting keys were dropped (the decision could not be read);
            what to tell the reviewer.
    """

    drained = Signal()
    dropped = Signal(str)

    def __init__(self, feed: PanelFeed, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._feed = feed
        self._keys: list[Callable[[], object]] = []
        self._draining = False
        feed.displayed.connect(self.run)
        feed.display_failed.connect(self.drop)

    @property
    def waiting(self) -> bool:
        """Whether a key waits for its decision."""
        return bool(self._keys)

    def when_shown(self, action: Callable[[], object]) -> Callable[[], None]:
        """A review key's handler: act now, or once the selected decision is on show."""
        def handler() -> None:
            if self._keys or self._feed.loading:
                self._keys.append(action)
            else:
                action()

        return handler

    def run(self) -> None:
        """Apply the waiting keys in order while the panel shows their decision."""
        if self._draining:
            return
        self._draining = True
        try:
            while self._keys and not self._feed.loading:
                self._keys.pop(0)()
        finally:
            self._draining = False
        if not self._keys:
            self.drained.emit()

    def drop(self, reason: str) -> None:
        """Forget the waiting keys: their decision could not be read."""
        if self._keys:
            count = len(self._keys)
            self._keys.clear()
            self.dropped.emit(f"{count} key press{'es' if count > 1 else ''} not applied: "
                              f"{reason}")
