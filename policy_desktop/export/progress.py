"""Progress reports and cancellation polls of an export (for the GUI wizard's worker)."""

from __future__ import annotations

from policy_desktop.export.options import ExportCancelled, ExportOptions

TICK = 500
"""Records between two progress reports and cancellation checks while reading."""
READ_START, READ_END = 0.02, 0.70
"""The share of the progress bar the reading pass covers."""


class Progress:
    """Reports stages to ``on_progress`` and polls ``should_stop``."""

    def __init__(self, options: ExportOptions) -> None:
        self._report = options.on_progress
        self._stop = options.should_stop
        self._fraction = 0.0

    def check(self) -> None:
        """Raise :class:`ExportCancelled` if ``should_stop`` says so."""
        if self._stop is not None and self._stop():
            raise ExportCancelled("the export was cancelled")

    def stage(self, text: str, fraction: float, *, cancellable: bool = True) -> None:
        """Report a stage (fractions never go backwards); poll for cancellation first."""
        if cancellable:
            self.check()
        self._fraction = max(self._fraction, min(1.0, fraction))
        if self._report is not None:
            self._report(text, self._fraction)

    def reading(self, done: int, total: int) -> None:
        """Report the reading pass every :data:`TICK` records."""
        if done % TICK == 0:
            share = done / total if total else 1.0
            self.stage(f"Reading reviewed decisions ({done:,} of {total:,})",
                       READ_START + (READ_END - READ_START) * min(1.0, share))
