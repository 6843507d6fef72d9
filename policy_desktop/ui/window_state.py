"""The window's geometry, splitter and column widths, kept between sessions."""

from __future__ import annotations

from PySide6.QtWidgets import QHeaderView, QMainWindow, QSplitter

from policy_desktop.ui.settings import Settings

HEADER_STATE = "table_header_v2"  # bump when the columns change: old widths would not fit


def restore_window_state(settings: Settings, window: QMainWindow, splitter: QSplitter,
                         header: QHeaderView) -> None:
    """Give the window, its splitter and the table's header their saved state."""
    geometry = settings.window_state("geometry")
    if geometry is not None:
        window.restoreGeometry(geometry)
    sizes = settings.window_state("splitter")
    if sizes is not None:
        splitter.restoreState(sizes)
    columns = settings.window_state(HEADER_STATE)
    if columns is not None:
        header.restoreState(columns)


def save_window_state(settings: Settings, window: QMainWindow, splitter: QSplitter,
                      header: QHeaderView) -> None:
    """Remember the window's geometry, the splitter and the column widths."""
    settings.set_window_state("geometry", window.saveGeometry())
    settings.set_window_state("splitter", splitter.saveState())
    settings.set_window_state(HEADER_STATE, header.saveState())
    settings.sync()
