"""Runs → Replay…: re-decide logged decisions with a candidate and see what would flip.

Choose the decisions by the table's filters (view, decision, model, prompt, time range,
the newest N), the candidate (prompt version; the bundled model, a GGUF file, a
fine-tuned model or a server), start, watch, cancel and continue. The results: the
flip matrix (a click lists that cell's decisions and can show them in the table),
accuracy of both against the human decisions with McNemar's p and the 95 % interval,
dangerous flips first, and a breakdown by rule, role or action. Everything slow runs on
the :class:`ReplayController`'s thread. Text from the log is shown as plain text only.
"""

from __future__ import annotations

from PySide6.QtCore import QDateTime, Qt, QTimeZone, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from policy_desktop.engine.prompts import DEFAULT_PROMPT_VERSION, PromptCatalog, PromptError
from policy_desktop.engine.replay_report import ReplayPair, ReplayReport
from policy_desktop.store.queries import DecisionFilter
from policy_desktop.store.replay import ReplaySelection
from policy_desktop.ui.detail_view import plain_label
from policy_desktop.ui.replay_worker import (
    ModelFactory,
    ReplayChoices,
    ReplayController,
    ReplayJob,
    start_candidate,
)
from policy_desktop.vocabulary import LOGGED_DECISIONS

VIEW_CHOICES = (("All decisions", "all"), ("Reviewed only", "reviewed"),
                ("Unreviewed", "unreviewed"), ("Corrections", "corrections"),
                ("Incorrect", "incorrect"))
DEFAULT_NEWEST = 500
SHORT_LABELS = {"require_attestation": "attestation", "require_mfa": "MFA"}
PAIR_COLUMNS = ("Original", "Candidate", "Human", "Actor", "Role", "Action", "Target",
                "Original id")
BREAKDOWN_COLUMNS = ("Value", "Pairs", "Flips", "Dangerous", "Reviewed", "Original right",
                     "Candidate right")


def _item(text: object, *, align_right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem("" if text is None else str(text))
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _table(columns: tuple[str, ...], name: str) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(list(columns))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:+.1f} pts"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def summary_text(report: ReplayReport) -> str:
    """The result's headline in plain words."""
    run = report.run
    c = report.comparison
    lines = [f"{report.replayed} of {report.planned} decisions re-decided by "
             f"{run.model_name} ({run.model_version}) with {run.prompt_version} "
             f"— {report.flips} flipped, {len(report.dangerous)} dangerous."]
    if c.n:
        lines.append(f"Against the human decision ({c.n} reviewed): original "
                     f"{_percent(c.accuracy_a)}, candidate {_percent(c.accuracy_b)}; "
                     f"difference {_signed(c.difference)} (95% CI {_signed(c.ci_low)} to "
                     f"{_signed(c.ci_high)}); McNemar exact p = {c.p_value:.3g} "
                     f"({c.b} got worse, {c.c} got better).")
    else:
        lines.append("None of them has a human decision yet: no accuracy to compare.")
    return "\n".join(lines)


class ReplayDialog(QDialog):
    """Set up a replay, follow it, read its results.

    Signals:
        cell_chosen(run_id, original, candidate, original_ids, replay_ids): a flip-matrix
            cell was clicked (the window may filter its table to these decisions).
        show_in_table_requested(run_id, original_ids, replay_ids): "Show in table".
    """

    cell_chosen = Signal(str, str, str, list, list)
    show_in_table_requested = Signal(str, list, list)

    def __init__(self, controller: ReplayController, database: str, *,
                 table_filter: DecisionFilter | None = None,
                 catalog: PromptCatalog | None = None, candidate_prompt: str | None = None,
                 newest: int = DEFAULT_NEWEST, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("replayDialog")
        self.setWindowTitle("Replay decisions")
        self.database = database
        self._controller = controller
        self._catalog = catalog or PromptCatalog()
        self.report: ReplayReport | None = None
        self.choices: ReplayChoices | None = None
        self.run_id: str | None = None
        self._pairs: list[ReplayPair] = []
        self.owns_controller = False
        self._closing = False
        self._build(newest)
        self._fill_prompts(candidate_prompt)
        self._apply_filter(table_filter or DecisionFilter(view="reviewed"))
        self._connect()
        self._set_running(False)
        self.resize(1280, 800)
        controller.load_choices(database)

    # --- layout -------------------------------------------------------------------------

    def _build(self, newest: int) -> None:
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(self._selection_box(newest), 1)
        top.addWidget(self._candidate_box(), 1)
        layout.addLayout(top)

        controls = QHBoxLayout()
        self.start_button = QPushButton("Start replay")
        self.start_button.setObjectName("replayStart")
        self.start_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("replayCancel")
        self.continue_button = QPushButton("Continue")
        self.continue_button.setObjectName("replayContinue")
        self.continue_button.setToolTip("Carry on with a cancelled or failed replay where it "
                                        "stopped (the same candidate)")
        self.earlier = QComboBox()
        self.earlier.setObjectName("replayRuns")
        self.earlier.setToolTip("Earlier replays: choose one to see its results")
        self.earlier.setMinimumWidth(360)
        self.progress = QProgressBar()
        self.progress.setObjectName("replayProgress")
        self.status = plain_label("", wrap=False, object_name="replayStatus")
        for widget in (self.start_button, self.cancel_button, self.continue_button):
            controls.addWidget(widget)
        controls.addWidget(self.progress, 1)
        controls.addWidget(QLabel("Earlier:"))
        controls.addWidget(self.earlier)
        layout.addLayout(controls)
        layout.addWidget(self.status)

        self.summary = plain_label("Choose the decisions and the candidate, then start.",
                                   object_name="replaySummary")
        layout.addWidget(self.summary)

        results = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(QLabel("Dangerous flips (the candidate allows what was denied or "
                              "asked attestation/MFA for)"))
        self.dangerous = _table(PAIR_COLUMNS, "replayDangerous")
        left.addWidget(self.dangerous, 1)
        breakdown_row = QHBoxLayout()
        breakdown_row.addWidget(QLabel("Breakdown by"))
        self.breakdown_field = QComboBox()
        self.breakdown_field.setObjectName("replayBreakdownField")
        breakdown_row.addWidget(self.breakdown_field)
        breakdown_row.addStretch(1)
        left.addLayout(breakdown_row)
        self.breakdown = _table(BREAKDOWN_COLUMNS, "replayBreakdown")
        left.addWidget(self.breakdown, 1)
        results.addLayout(left, 1)

        right = QVBoxLayout()
        right.addWidget(QLabel("Flip matrix: rows original, columns candidate (click a cell)"))
        self.matrix = QTableWidget(0, 0)
        self.matrix.setObjectName("replayMatrix")
        self.matrix.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.matrix.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.matrix.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        right.addWidget(self.matrix, 1)
        cell_row = QHBoxLayout()
        self.cell_label = plain_label("", wrap=False, object_name="replayCellLabel")
        cell_row.addWidget(self.cell_label, 1)
        self.show_in_table = QPushButton("Show in table")
        self.show_in_table.setObjectName("replayShowInTable")
        self.show_in_table.setEnabled(False)
        cell_row.addWidget(self.show_in_table)
        right.addLayout(cell_row)
        self.cell_table = _table(PAIR_COLUMNS, "replayCell")
        right.addWidget(self.cell_table, 1)
        results.addLayout(right, 1)
        layout.addLayout(results, 1)

    def _selection_box(self, newest: int) -> QGroupBox:
        box = QGroupBox("Which logged decisions")
        form = QFormLayout(box)
        self.view = QComboBox()
        self.view.setObjectName("replayView")
        for label, value in VIEW_CHOICES:
            self.view.addItem(label, value)
        self.decision = QComboBox()
        self.decision.setObjectName("replayDecision")
        self.decision.addItem("Any decision", None)
        for name in LOGGED_DECISIONS:
            self.decision.addItem(name, name)
        self.model_filter = QComboBox()
        self.model_filter.setObjectName("replayModelFilter")
        self.prompt_filter = QComboBox()
        self.prompt_filter.setObjectName("replayPromptFilter")
        for combo, label in ((self.model_filter, "Any model"),
                             (self.prompt_filter, "Any prompt")):
            combo.addItem(label, None)
        self.since_on = QCheckBox("From")
        self.since = self._moment(-30)
        self.until_on = QCheckBox("To")
        self.until = self._moment(0)
        times = QHBoxLayout()
        for widget in (self.since_on, self.since, self.until_on, self.until):
            times.addWidget(widget)
        self.newest = QSpinBox()
        self.newest.setObjectName("replayNewest")
        self.newest.setRange(0, 1_000_000)
        self.newest.setSpecialValueText("all")
        self.newest.setValue(newest)
        form.addRow("View", self.view)
        form.addRow("Decision", self.decision)
        form.addRow("Model", self.model_filter)
        form.addRow("Prompt", self.prompt_filter)
        form.addRow("Time", times)
        form.addRow("Newest", self.newest)
        return box

    @staticmethod
    def _moment(days: int) -> QDateTimeEdit:
        edit = QDateTimeEdit(QDateTime.currentDateTimeUtc().addDays(days))
        edit.setTimeZone(QTimeZone.utc())
        edit.setDisplayFormat("yyyy-MM-dd HH:mm 'UTC'")
        edit.setCalendarPopup(True)
        return edit

    def _candidate_box(self) -> QGroupBox:
        box = QGroupBox("Candidate")
        form = QFormLayout(box)
        self.prompt = QComboBox()
        self.prompt.setObjectName("replayPrompt")
        self.model = QLineEdit()
        self.model.setObjectName("replayModel")
        self.model.setPlaceholderText("bundled Gemma — or a GGUF file, or a fine-tuned name")
        self.endpoint = QLineEdit()
        self.endpoint.setObjectName("replayEndpoint")
        self.endpoint.setPlaceholderText("none — or e.g. http://127.0.0.1:8080 (llama-server)")
        self.parallel = QSpinBox()
        self.parallel.setObjectName("replayParallel")
        self.parallel.setRange(1, 64)
        self.parallel.setToolTip("With a server: requests at once (its slots)")
        form.addRow("Prompt version", self.prompt)
        form.addRow("Model", self.model)
        form.addRow("Server", self.endpoint)
        form.addRow("Parallel", self.parallel)
        form.addRow(plain_label("The originals are never changed; the answers are logged as "
                                "a replay run of their own."))
        return box

    def _fill_prompts(self, select: str | None) -> None:
        try:
            names = self._catalog.names()
        except PromptError:
            names = [DEFAULT_PROMPT_VERSION]
        self.prompt.clear()
        self.prompt.addItems(names)
        wanted = select or DEFAULT_PROMPT_VERSION
        if wanted in names:
            self.prompt.setCurrentText(wanted)

    def _apply_filter(self, flt: DecisionFilter) -> None:
        view = flt.view if flt.view in dict((v, v) for _, v in VIEW_CHOICES) else "all"
        self.view.setCurrentIndex(self.view.findData(view))
        self.decision.setCurrentIndex(max(0, self.decision.findData(flt.decision)))
        self._wanted = (flt.model_name, flt.prompt_version)

    def _connect(self) -> None:
        worker = self._controller.worker
        worker.choices_loaded.connect(self._show_choices)
        worker.status.connect(self.status.setText)
        worker.started.connect(self._started)
        worker.progress.connect(self._progress)
        worker.finished.connect(self._finished)
        worker.cancelled.connect(self._cancelled)
        worker.failed.connect(self._failed)
        worker.load_failed.connect(self.status.setText)
        worker.report_loaded.connect(self.show_report)
        for signal in (worker.finished, worker.cancelled, worker.failed):
            signal.connect(self._idle_after_close)
        self.start_button.clicked.connect(self.start_replay)
        self.cancel_button.clicked.connect(self.cancel_replay)
        self.continue_button.clicked.connect(self.continue_replay)
        self.earlier.activated.connect(self._earlier_chosen)
        self.matrix.cellClicked.connect(self._cell_clicked)
        self.breakdown_field.currentIndexChanged.connect(self._show_breakdown)
        self.show_in_table.clicked.connect(self._show_in_table)

    # --- choices ------------------------------------------------------------------------

    def _show_choices(self, choices: ReplayChoices) -> None:
        self.choices = choices
        for combo, key, wanted in ((self.model_filter, "model_name", self._wanted[0]),
                                   (self.prompt_filter, "prompt_version", self._wanted[1])):
            current = combo.currentData() or wanted
            combo.blockSignals(True)
            while combo.count() > 1:
                combo.removeItem(1)
            for value in choices.facets.get(key, []):
                combo.addItem(value, value)
            combo.setCurrentIndex(max(0, combo.findData(current)))
            combo.blockSignals(False)
        self.earlier.blockSignals(True)
        self.earlier.clear()
        self.earlier.addItem("—", None)
        for run_id, status, label, done, planned in choices.replays:
            self.earlier.addItem(f"{run_id} · {label} · {done}/{planned} · {status}", run_id)
        if self.run_id is not None:
            self.earlier.setCurrentIndex(max(0, self.earlier.findData(self.run_id)))
        self.earlier.blockSignals(False)
        self._update_continue()

    def _earlier_chosen(self, index: int) -> None:
        run_id = self.earlier.itemData(index)
        if run_id:
            self.run_id = run_id
            self._controller.load_report(self.database, run_id)
        self._update_continue()

    def _unfinished(self, run_id: str | None) -> bool:
        if run_id is None or self.choices is None:
            return False
        return any(r[0] == run_id and r[1] != "running" and r[3] < r[4]
                   for r in self.choices.replays)

    def _update_continue(self) -> None:
        self.continue_button.setEnabled(not self._controller.running
                                        and self._unfinished(self.run_id))

    # --- starting -----------------------------------------------------------------------

    def selection(self) -> ReplaySelection:
        """The selection the form describes."""
        flt = DecisionFilter(view=self.view.currentData(), decision=self.decision.currentData(),
                             model_name=self.model_filter.currentData(),
                             prompt_version=self.prompt_filter.currentData())
        since = self.since.dateTime().toString(Qt.DateFormat.ISODate) \
            if self.since_on.isChecked() else None
        until = self.until.dateTime().toString(Qt.DateFormat.ISODate) \
            if self.until_on.isChecked() else None
        return ReplaySelection(flt, since=since, until=until,
                               limit=self.newest.value() or None)

    def _job(self, *, resume: str | None = None) -> ReplayJob:
        from pathlib import Path

        model = self.model.text().strip()
        is_file = bool(model) and (model.endswith(".gguf") or "/" in model)
        endpoint = self.endpoint.text().strip() or None
        return ReplayJob(
            database=self.database, prompt_version=self.prompt.currentText(),
            selection=None if resume else self.selection(), resume_run=resume,
            model_path=Path(model).expanduser() if is_file and not endpoint else None,
            tuned_model=model if model and not is_file and not endpoint else None,
            endpoint=endpoint, parallel=self.parallel.value())

    def start_replay(self) -> None:
        """Start a new replay of the selection with the candidate."""
        if self._controller.running:
            return
        self._begin(self._job())

    def continue_replay(self) -> None:
        """Continue the chosen unfinished replay where it stopped."""
        if self._controller.running or not self._unfinished(self.run_id):
            return
        assert self.run_id is not None
        run = next(r for r in (self.choices.replays if self.choices else []) if r[0] == self.run_id)
        prompt = run[2].rsplit(" · ", 1)[-1]
        if self.prompt.findText(prompt) >= 0:
            self.prompt.setCurrentText(prompt)
        self._begin(self._job(resume=self.run_id))

    def _begin(self, job: ReplayJob) -> None:
        self.status.setText("Starting…")
        self.progress.setRange(0, 0)
        self._set_running(True)
        self._controller.start(job)

    def cancel_replay(self) -> None:
        if self._controller.running:
            self.status.setText("Stopping after the current decision…")
            self._controller.cancel()

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.earlier.setEnabled(not running)
        for widget in (self.view, self.decision, self.model_filter, self.prompt_filter,
                       self.prompt, self.model, self.endpoint, self.parallel, self.newest):
            widget.setEnabled(not running)
        self._update_continue()

    # --- progress -----------------------------------------------------------------------

    def _started(self, run_id: str, total: int, done: int) -> None:
        self.run_id = run_id
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        before = f" ({done} done before)" if done else ""
        self.status.setText(f"Replay {run_id}: {total} decisions{before}")

    def _progress(self, done: int, total: int) -> None:
        self.progress.setValue(done)
        self.progress.setFormat(f"{done} / {total}")

    def _finished(self, report: ReplayReport) -> None:
        self._set_running(False)
        self.status.setText(f"Replay {report.run.run_id} completed.")
        self.show_report(report)
        self._controller.load_choices(self.database)

    def _cancelled(self, report: ReplayReport) -> None:
        self._set_running(False)
        self.status.setText(f"Cancelled after {report.replayed} of {report.planned}; "
                            "Continue carries on where it stopped.")
        self.show_report(report)
        self._controller.load_choices(self.database)

    def _failed(self, message: str) -> None:
        self._set_running(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status.setText(message)
        self._controller.load_choices(self.database)

    # --- results ------------------------------------------------------------------------

    def show_report(self, report: ReplayReport) -> None:
        """Fill the result views from ``report``."""
        self.report = report
        self.run_id = report.run.run_id
        self.summary.setText(summary_text(report))
        self._fill_pairs(self.dangerous, report.dangerous)
        labels = report.labels()
        self.matrix.clear()
        self.matrix.setRowCount(len(labels))
        self.matrix.setColumnCount(len(labels))
        self.matrix.setHorizontalHeaderLabels([SHORT_LABELS.get(k, k) for k in labels])
        self.matrix.setVerticalHeaderLabels(labels)
        for row, original in enumerate(labels):
            for column, candidate in enumerate(labels):
                count = len(report.cell(original, candidate))
                item = _item(count or "", align_right=True)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if count and original != candidate:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                item.setToolTip(f"{original} → {candidate}: {count}")
                self.matrix.setItem(row, column, item)
        self.breakdown_field.blockSignals(True)
        self.breakdown_field.clear()
        self.breakdown_field.addItems(list(report.breakdowns))
        self.breakdown_field.blockSignals(False)
        self._show_breakdown()
        self.cell_label.setText("")
        self.cell_table.setRowCount(0)
        self.show_in_table.setEnabled(False)
        self._pairs = []

    def _fill_pairs(self, table: QTableWidget, pairs: list[ReplayPair]) -> None:
        table.setRowCount(len(pairs))
        for row, pair in enumerate(pairs):
            situation = pair.original.situation
            values = (pair.original.decision, pair.replay.decision, pair.human or "—",
                      situation.get("actor"), situation.get("role"), situation.get("action"),
                      situation.get("target"), pair.original.decision_id)
            for column, value in enumerate(values):
                table.setItem(row, column, _item(value))
        table.resizeColumnsToContents()

    def _show_breakdown(self, *_args: object) -> None:
        rows = self.report.breakdowns.get(self.breakdown_field.currentText(), []) \
            if self.report else []
        self.breakdown.setRowCount(len(rows))
        for index, row in enumerate(rows):
            values = (row.value, row.pairs, row.flips, row.dangerous, row.reviewed,
                      row.original_right, row.candidate_right)
            for column, value in enumerate(values):
                self.breakdown.setItem(index, column, _item(value, align_right=column > 0))
        self.breakdown.resizeColumnsToContents()

    def _cell_clicked(self, row: int, column: int) -> None:
        if self.report is None:
            return
        labels = self.report.labels()
        original, candidate = labels[row], labels[column]
        self._pairs = self.report.cell(original, candidate)
        self.cell_label.setText(f"{original} → {candidate}: {len(self._pairs)} decision(s)")
        self._fill_pairs(self.cell_table, self._pairs)
        self.show_in_table.setEnabled(bool(self._pairs))
        self.cell_chosen.emit(self.report.run.run_id, original, candidate,
                              [p.original.decision_id for p in self._pairs],
                              [p.replay.decision_id for p in self._pairs])

    def _show_in_table(self) -> None:
        if self.report is not None and self._pairs:
            self.show_in_table_requested.emit(
                self.report.run.run_id, [p.original.decision_id for p in self._pairs],
                [p.replay.decision_id for p in self._pairs])

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing cancels a replay in progress (what finished stays); a dialog that owns
        its thread ends it once the worker is idle, then deletes itself."""
        if self._controller.running:
            self._controller.cancel()
        if self.owns_controller:
            self._closing = True
            if not self._controller.running:
                self._end_thread()
        super().closeEvent(event)

    def _end_thread(self) -> None:
        self._controller.shutdown()
        self.deleteLater()

    def _idle_after_close(self, *_args: object) -> None:
        if self._closing:
            self._end_thread()


def open_replay_dialog(parent: QWidget | None, database: str, *,
                       table_filter: DecisionFilter | None = None,
                       candidate_prompt: str | None = None,
                       newest: int = DEFAULT_NEWEST,
                       controller: ReplayController | None = None,
                       model_factory: ModelFactory | None = None) -> ReplayDialog:
    """Runs → Replay…: a replay dialog for ``database``, starting from the table's filter.

    Without ``controller`` the dialog starts its own replay thread (loading candidates
    with ``model_factory``, default: a child process or the server) and ends it (and
    itself) when closed, after a replay in progress has stopped.
    """
    if controller is None:
        controller = ReplayController(model_factory=model_factory or start_candidate)
        owned = True
    else:
        owned = False
    dialog = ReplayDialog(controller, database,
                          table_filter=table_filter, candidate_prompt=candidate_prompt,
                          newest=newest, parent=parent)
    dialog.owns_controller = owned
    dialog.setWindowFlag(Qt.WindowType.Window, True)
    dialog.show()
    return dialog
