"""Review progress for the status bar: "Reviewed N of M", reviews this session, pace."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

PACE_WINDOW_S = 600.0
"""The pace counts the reviews of the last ten minutes."""


class SessionProgress:
    """Counts the reviews made in this window and their pace (no Qt).

    Args:
        clock: seconds, monotonic (injectable for tests).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()
        self._times: deque[float] = deque()

    @property
    def count(self) -> int:
        """Reviews made since the window opened (undone ones subtracted)."""
        return len(self._times)

    def record_review(self) -> None:
        """Count one review."""
        self._times.append(self._clock())

    def record_undo(self) -> None:
        """Take back the latest review."""
        if self._times:
            self._times.pop()

    def pace(self) -> float | None:
        """Reviews per minute over the last ten minutes (None before the first review)."""
        if not self._times:
            return None
        now = self._clock()
        since = max(self._started, now - PACE_WINDOW_S)
        recent = sum(1 for moment in self._times if moment >= since)
        minutes = max(1.0, (now - since) / 60.0)
        return recent / minutes


def progress_text(reviewed: int | None, total: int | None) -> str:
    """``Reviewed 1,204 of 5,000 (24%)``."""
    if reviewed is None or total is None:
        return "Reviewed –"
    share = f" ({reviewed / total:.0%})" if total else ""
    return f"Reviewed {reviewed:,} of {total:,}{share}"


def session_text(progress: SessionProgress) -> str:
    """``12 reviews this session · 2.4/min``."""
    count = progress.count
    noun = "review" if count == 1 else "reviews"
    pace = progress.pace()
    if pace is None:
        return f"{count} {noun} this session"
    return f"{count} {noun} this session · {pace:.1f}/min"
