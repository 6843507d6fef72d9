"""Compare two runs side by side: per scenario decision, correctness and coverage, totals.

The data comes from :func:`policy_desktop.store.run_comparison.compare_runs`, run on the
window's database thread; this dialog only shows it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from policy_desktop.store import PolicyDecisionLog, RunRecord
from policy_desktop.store.run_comparison import (
    ORIGINALS,
    ComparedScenario,
    RunComparison,
    RunTotals,
    ScenarioOutcome,
    compare_runs,
)
from policy_desktop.ui.tasks import DbExecutor

COLUMNS = ("Scenario", "Expected", "A decision", "A ✓/✗", "A coverage",
           "B decision", "B ✓/✗", "B coverage", "Change")
CHANGE_TEXT = {"fixed": "▲ fixed", "regressed": "▼ regressed", "changed": "≠ changed",
               "same": "= same", "only in A": "only in A", "only in B": "only in B"}
CHANGE_TINT = {"fixed": "#2e7d32", "regressed": "#c62828", "changed": "#8d6e00"}


def run_label(run: RunRecord) -> str:
    """``2026-11-27 03:40 · v2_fewshot_8examples · Gemma 3 270m · completed``"""
    started = run.started[:16].replace("T", " ")
    if run.settings.get("replay"):
        planned = run.summary.get("planned")
        size = f"replay of {planned} decisions" if planned is not None else "replay"
    else:
        count = len(run.scenario_ids)
        size = f"{count} scenario{'s' if count != 1 else ''}"
    return (f"{started} · {run.prompt_version} · {run.model_name} ({run.model_version}) · "
            f"{size} · {run.status}")


ORIGINALS_LABEL = "The decisions replay run B re-decided, as logged"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _mark(outcome: ScenarioOutcome | None) -> str:
    if outcome is None or outcome.correct is None:
        return "—"
    return "✓" if outcome.correct else "✗"


def _totals_text(name: str, totals: RunTotals) -> str:
    return (f"{name}: accuracy {_percent(totals.accuracy)} ({totals.correct}/{totals.judged}), "
            f"mean coverage {_percent(totals.mean_coverage)}, {totals.scenarios} scenarios")


class CompareDialog(QDialog):
    """Pick two runs (default: the two newest) and see them scenario by scenario."""

    def __init__(self, executor: DbExecutor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare runs")
        self.setObjectName("compareDialog")
        self._executor = executor
        self.comparison: RunComparison | None = None
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.run_a = QComboBox()
        self.run_b = QComboBox()
        for combo in (self.run_a, self.run_b):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.currentIndexChanged.connect(self._compare)
        form.addRow("Run A (before):", self.run_a)
        form.addRow("Run B (after):", self.run_b)
        layout.addLayout(form)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table, 1)
        # The selected scenario's reasoning in both runs, side by side (plain text).
        reasons = QGridLayout()
        self.reasoning_a = self._reasoning_box("reasoningA")
        self.reasoning_b = self._reasoning_box("reasoningB")
        for column, (title, box) in enumerate((("Reasoning in A", self.reasoning_a),
                                                ("Reasoning in B", self.reasoning_b))):
            caption = QLabel(title)
            caption.setTextFormat(Qt.TextFormat.PlainText)
            reasons.addWidget(caption, 0, column)
            reasons.addWidget(box, 1, column)
        layout.addLayout(reasons)
        self.table.currentCellChanged.connect(lambda row, *_: self._show_reasoning(row))
        self.totals = QLabel("")
        self.totals.setTextFormat(Qt.TextFormat.PlainText)
        self.totals.setWordWrap(True)
        layout.addWidget(self.totals)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(980, 520)
        self._loading = True
        executor.submit(lambda log: log.list_runs(), self._fill_runs, self._show_error)

    def _fill_runs(self, runs: list[RunRecord]) -> None:
        self._loading = True
        for combo in (self.run_a, self.run_b):
            combo.clear()
            for run in runs:
                combo.addItem(run_label(run), run.run_id)
        if any(run.settings.get("replay") for run in runs):
            self.run_a.addItem(ORIGINALS_LABEL, ORIGINALS)
        if len(runs) < 2 and self.run_a.findData(ORIGINALS) < 0:
            self.totals.setText("Compare needs two runs; run the suite again (for example "
                                "with a new prompt version) to compare.")
        elif runs[0].settings.get("replay"):  # the newest is a replay: against its originals
            self.run_a.setCurrentIndex(self.run_a.findData(ORIGINALS))
            self.run_b.setCurrentIndex(0)
        else:
            self.run_a.setCurrentIndex(1)  # the older of the two newest runs
            self.run_b.setCurrentIndex(0)
        self._loading = False
        self._compare()

    def select_runs(self, run_a: str, run_b: str) -> None:
        """Compare these two runs (ids as stored)."""
        self._loading = True
        self.run_a.setCurrentIndex(self.run_a.findData(run_a))
        self.run_b.setCurrentIndex(self.run_b.findData(run_b))
        self._loading = False
        self._compare()

    def _compare(self) -> None:
        run_a, run_b = self.run_a.currentData(), self.run_b.currentData()
        if self._loading or not run_a or not run_b:
            return

        def job(log: PolicyDecisionLog) -> RunComparison:
            return compare_runs(log, run_a, run_b)

        self._executor.submit(job, self._show, self._show_error)

    def _show(self, comparison: RunComparison) -> None:
        previous, self.comparison = self.comparison, comparison
        current = self.table.currentRow()
        self.table.setRowCount(0)
        for row in comparison.rows:
            self._add_row(row)
        same_runs = previous is not None and (previous.run_a.run_id, previous.run_b.run_id) \
            == (comparison.run_a.run_id, comparison.run_b.run_id)
        if same_runs and 0 <= current < self.table.rowCount():
            self.table.setCurrentCell(current, 0)  # the same scenario stays selected
        else:
            self.reasoning_a.clear()
            self.reasoning_b.clear()
        changes = [row.change for row in comparison.rows]
        self.totals.setText(
            f"{_totals_text('A', comparison.totals_a)}\n{_totals_text('B', comparison.totals_b)}\n"
            f"Fixed {changes.count('fixed')}, regressed {changes.count('regressed')}, "
            f"changed {changes.count('changed')}, same {changes.count('same')}.")

    def _add_row(self, row: ComparedScenario) -> None:
        index = self.table.rowCount()
        self.table.insertRow(index)
        cells = (row.scenario_id, row.expected or "—",
                 row.a.decision if row.a else "—", _mark(row.a),
                 _percent(row.a.coverage) if row.a else "—",
                 row.b.decision if row.b else "—", _mark(row.b),
                 _percent(row.b.coverage) if row.b else "—", CHANGE_TEXT[row.change])
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if column == len(cells) - 1 and row.change in CHANGE_TINT:
                item.setForeground(QBrush(QColor(CHANGE_TINT[row.change])))
            self.table.setItem(index, column, item)

    @staticmethod
    def _reasoning_box(name: str) -> QPlainTextEdit:
        box = QPlainTextEdit()
        box.setObjectName(name)
        box.setReadOnly(True)
        box.setMaximumHeight(110)
        box.setPlaceholderText("Select a scenario to read both answers' reasoning")
        return box

    def _show_reasoning(self, row: int) -> None:
        comparison = self.comparison
        if comparison is None or not 0 <= row < len(comparison.rows):
            return
        compared = comparison.rows[row]
        ids = [side.decision_id for side in (compared.a, compared.b) if side is not None]

        def job(log: PolicyDecisionLog) -> dict[str, str]:
            return {key: d.reasoning or "" for key, d in log.get_decisions(ids).items()}

        def show(reasonings: dict[str, str]) -> None:
            shown = self.comparison
            if shown is None or (shown.run_a.run_id, shown.run_b.run_id) != (
                    comparison.run_a.run_id, comparison.run_b.run_id):
                return  # other runs are on show now
            for side, box in ((compared.a, self.reasoning_a), (compared.b, self.reasoning_b)):
                box.setPlainText("(not in this run)" if side is None
                                 else reasonings.get(side.decision_id) or "(no reasoning)")

        self._executor.submit(job, show, self._show_error)

    def _show_error(self, error: BaseException) -> None:
        self.totals.setText(f"Could not compare: {error}")
