"""How decisions and risk levels look: a shape, a word and a tint (never colour alone)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QWidget

from policy_desktop.vocabulary import RISK_LEVELS, UNPARSEABLE

DECISION_LABELS: dict[str, str] = {
    "allow": "Allow",
    "deny": "Deny",
    "require_attestation": "Require attestation",
    "require_mfa": "Require MFA",
    UNPARSEABLE: "Unparseable",
}
DECISION_SHORT_LABELS: dict[str, str] = {
    "allow": "Allow",
    "deny": "Deny",
    "require_attestation": "Attestation",
    "require_mfa": "MFA",
    UNPARSEABLE: "Unparseable",
}
DECISION_GLYPHS: dict[str, str] = {
    "allow": "✓",
    "deny": "✕",
    "require_attestation": "✎",
    "require_mfa": "◆",
    UNPARSEABLE: "?",
}
# Muted hues that read on light and dark backgrounds; the glyph carries the meaning.
DECISION_COLORS: dict[str, str] = {
    "allow": "#3b8a4a",
    "deny": "#c0453a",
    "require_attestation": "#b07d12",
    "require_mfa": "#3a6fb0",
    UNPARSEABLE: "#7a7a7a",
}
REVIEW_ACTION_LABELS: dict[str, str] = {
    "accept": "accepted as correct",
    "correct_decision": "corrected decision",
    "correct_reasoning": "corrected reasoning",
    "correct_both": "corrected decision and reasoning",
    "undo": "undid the previous review",
}


def decision_label(value: str | None) -> str:
    """A readable name for a decision value (unknown values are shown as they are)."""
    if value is None:
        return "—"
    return DECISION_LABELS.get(value, value)


def decision_short_label(value: str) -> str:
    """A compact name (for buttons and chart axes)."""
    return DECISION_SHORT_LABELS.get(value, value)


def decision_text(value: str | None) -> str:
    """Glyph and name, e.g. ``✕ Deny``: distinguishable without colour."""
    if value is None:
        return "—"
    return f"{DECISION_GLYPHS.get(value, '?')} {decision_label(value)}"


def decision_color(value: str | None) -> QColor:
    """The tint of a decision (grey for unknown values)."""
    return QColor(DECISION_COLORS.get(value or "", DECISION_COLORS[UNPARSEABLE]))


def risk_text(level: str | None) -> str:
    """``●●○○ medium``: the level as filled dots and its word."""
    if not level:
        return "—"
    if level not in RISK_LEVELS:
        return level
    filled = RISK_LEVELS.index(level) + 1
    return "●" * filled + "○" * (len(RISK_LEVELS) - filled) + "  " + level


def badge_style(value: str | None) -> str:
    """A style sheet for a decision badge: tinted fill, coloured border, normal text."""
    color = decision_color(value)
    r, g, b = color.red(), color.green(), color.blue()
    return (f"QLabel {{ background: rgba({r}, {g}, {b}, 40); border: 1px solid rgb({r}, {g}, {b});"
            " border-radius: 4px; padding: 2px 8px; font-weight: 600; }")


class DecisionBadge(QLabel):
    """A small tinted label showing one decision as glyph and word (plain text only)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.set_decision(None)

    def set_decision(self, value: str | None) -> None:
        """Show ``value`` (None shows a dash without a tint)."""
        self.setText(decision_text(value))
        self.setStyleSheet(badge_style(value) if value is not None else "")
        # Apply the padding now so layouts size the badge right before it is shown.
        self.ensurePolished()
        self.updateGeometry()
