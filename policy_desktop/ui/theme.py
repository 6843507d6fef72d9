"""Light and dark themes: a Qt palette, a style sheet and tinted icons.

Files come only through :func:`policy_desktop.resources.resource_path`:
``resources/styles/base.qss`` (``@name`` tokens filled from the palette below)
and ``resources/icons/NAME.svg``. The monochrome icons draw in ``currentColor``
and are tinted for the theme when loaded, so one file serves light and dark;
``NAME-dark.svg``, when present, replaces ``NAME.svg`` in the dark theme.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

from policy_desktop.resources import resource_path
from policy_desktop.ui.decisions_model import RowStyle

APP_ICON = "policy-desktop"
ICON_SIZES = (16, 20, 24, 32, 48)


@dataclass(frozen=True)
class Palette:
    """The colours of one theme (hex strings; the field names are the style sheet's ``@tokens``)."""

    window: str
    base: str
    alternate: str
    text: str
    muted: str
    border: str
    toolbar: str
    header: str
    hover: str
    pressed: str
    accent: str
    accentHover: str
    accentText: str
    selection: str
    selectionText: str
    icon: str
    good: str
    bad: str
    changed: str


LIGHT = Palette(
    window="#f4f5f7", base="#ffffff", alternate="#f7f8fa", text="#1f2328", muted="#5f6873",
    border="#d8dce1", toolbar="#fbfbfc", header="#f4f5f7", hover="#eaedf1", pressed="#e1e5ea",
    accent="#2f62c8", accentHover="#2754b0", accentText="#ffffff", selection="#dce7fb",
    selectionText="#102a5c", icon="#4a525c", good="#1d7a36", bad="#c0392b", changed="#9a5b00",
)
DARK = Palette(
    window="#1d1f22", base="#24272b", alternate="#282b30", text="#e3e5e8", muted="#9ba3ad",
    border="#373b41", toolbar="#212327", header="#2a2d32", hover="#30343a", pressed="#393e45",
    accent="#5b8def", accentHover="#6e9bf2", accentText="#0d1117", selection="#2d4470",
    selectionText="#e8efff", icon="#c3c8cf", good="#57b56d", bad="#ef6b5b", changed="#e0a542",
)
PALETTES: dict[str, Palette] = {"light": LIGHT, "dark": DARK}

# Icons whose tint means something (correctness, review state).
_STATE_TINTS: dict[str, str] = {
    "correct": "good", "incorrect": "bad", "unknown": "muted",
    "unreviewed": "muted", "accepted": "good", "corrected": "changed",
}  # fmt: skip


class Theme:
    """One theme: ``apply`` it to the app, then ask it for icons and table colours.

    Args:
        name: ``light`` or ``dark``.
    """

    def __init__(self, name: str = "light") -> None:
        if name not in PALETTES:
            raise ValueError(f"unknown theme {name!r}; choose one of {', '.join(PALETTES)}")
        self.name = name
        self.palette = PALETTES[name]
        self._icons: dict[tuple[str, str], QIcon] = {}

    # --- icons -------------------------------------------------------------------------

    def icon(self, name: str, tint: str | None = None) -> QIcon:
        """The icon ``resources/icons/NAME.svg`` tinted with ``tint`` (default: icon colour)."""
        colour = tint or self.palette.icon
        key = (name, colour)
        if key not in self._icons:
            self._icons[key] = _load_icon(self._icon_file(name), colour)
        return self._icons[key]

    def _icon_file(self, name: str) -> str:
        if self.name == "dark":
            dark = resource_path("icons", f"{name}-dark.svg")
            if dark.is_file():
                return str(dark)
        return str(resource_path("icons", f"{name}.svg"))

    def row_style(self) -> RowStyle:
        """Colours and icons for the decisions table."""
        p = self.palette
        icons = {name: self.icon(name, getattr(p, role)) for name, role in _STATE_TINTS.items()}
        return RowStyle(good=QColor(p.good), bad=QColor(p.bad), changed=QColor(p.changed),
                        muted=QColor(p.muted), icons=icons)

    # --- style -------------------------------------------------------------------------

    def stylesheet(self) -> str:
        """``base.qss`` with the palette's colours filled in."""
        text = resource_path("styles", "base.qss").read_text(encoding="utf-8")
        extra = resource_path("styles", f"{self.name}.qss")
        if extra.is_file():
            text += "\n" + extra.read_text(encoding="utf-8")
        colours = asdict(self.palette)

        def fill(match: re.Match[str]) -> str:
            return colours.get(match.group(1), match.group(0))

        return re.sub(r"@([A-Za-z]+)", fill, text)

    def qpalette(self) -> QPalette:
        """A Qt palette matching the style sheet (for widgets it does not cover)."""
        p = self.palette
        pal = QPalette()
        role = QPalette.ColorRole
        group = QPalette.ColorGroup
        for colour_role, value in (
            (role.Window, p.window), (role.WindowText, p.text), (role.Base, p.base),
            (role.AlternateBase, p.alternate), (role.Text, p.text), (role.Button, p.toolbar),
            (role.ButtonText, p.text), (role.ToolTipBase, p.base), (role.ToolTipText, p.text),
            (role.PlaceholderText, p.muted), (role.Highlight, p.accent),
            (role.HighlightedText, p.accentText), (role.Link, p.accent), (role.Mid, p.border),
            (role.Midlight, p.hover), (role.Light, p.base), (role.Dark, p.pressed),
            (role.Shadow, p.border), (role.BrightText, p.bad),
        ):
            pal.setColor(colour_role, QColor(value))
        for colour_role in (role.WindowText, role.Text, role.ButtonText):
            pal.setColor(group.Disabled, colour_role, QColor(p.muted))
        return pal

    def apply(self, app: QApplication) -> None:
        """Give ``app`` this theme's style, palette, style sheet and window icon."""
        app.setStyle("Fusion")
        app.setPalette(self.qpalette())
        app.setStyleSheet(self.stylesheet())
        app.setWindowIcon(app_icon())


def app_icon() -> QIcon:
    """The application icon (full colour, the same in both themes)."""
    return QIcon(str(resource_path("icons", f"{APP_ICON}.svg")))


def _load_icon(path: str, colour: str) -> QIcon:
    with open(path, encoding="utf-8") as handle:
        svg = handle.read().replace("currentColor", colour)
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    icon = QIcon()
    ratio = 2.0
    screen = QGuiApplication.primaryScreen()
    if screen is not None:
        ratio = max(ratio, screen.devicePixelRatio())
    for size in ICON_SIZES:
        pixmap = QPixmap(int(size * ratio), int(size * ratio))
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        renderer.render(painter, QRectF(0, 0, pixmap.width(), pixmap.height()))
        painter.end()
        pixmap.setDevicePixelRatio(ratio)
        icon.addPixmap(pixmap)
    return icon
