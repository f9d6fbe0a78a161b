"""The project's training runs as a table: select one to see its curves, several to compare them;
Review / Resume / Delete act on the current one. The run folders are read by core.training.runs
(no torch), so listing is instant."""
from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QMessageBox, QPushButton,
                               QSizePolicy, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from core.errors import ProjectError
from core.training.runs import RunInfo, delete_run, list_runs, read_run  # noqa: F401 (read_run: for callers)

COLUMNS = ("Run", "Model", "Status", "Best (epoch)")
_STARTED = re.compile(r"^(\d{8})-(\d{2})(\d{2})(\d{2})-")


def _label_parts(run: RunInfo) -> list[str]:
    """Start time, model, and the settings people compare."""
    m = _STARTED.match(run.name)
    s = run.settings
    return [f"{m.group(2)}:{m.group(3)}:{m.group(4)}" if m else run.name, run.model,
            f"lr {s['lr']:.2g}" if isinstance(s.get("lr"), (int, float)) else "",
            f"batch {s['batch_size']}" if s.get("batch_size") else "",
            f"{s['image_size']} px" if s.get("image_size") else "",
            f"loss {s['rpn_loss']}" if s.get("rpn_loss") not in (None, "both") else ""]


def run_label(run: RunInfo) -> str:
    """A short name for a run: "10:00:00 rpn_classic (lr 0.02, batch 2, 64 px)"."""
    when, model, *extra = _label_parts(run)
    settings = ", ".join(p for p in extra if p)
    return f"{when} {model}" + (f" ({settings})" if settings else "")


def compare_labels(runs: list[RunInfo]) -> list[str]:
    """Legend names for runs shown together: only what differs between them ("lr 0.02" against
    "lr 0.002"), with the start time when that alone tells them apart."""
    parts = [_label_parts(run) for run in runs]
    differing = [k for k in range(1, len(parts[0])) if len({p[k] for p in parts}) > 1] if parts else []
    labels = [", ".join(p[k] for k in differing if p[k]) for p in parts]
    if len(set(labels)) < len(labels) or not all(labels):
        labels = [f"{p[0]} {label}".strip() for p, label in zip(parts, labels)]
    return labels


class RunsWidget(QWidget):
    """A table of runs with Review / Resume / Delete. Ctrl- or Shift-click selects several runs,
    whose curves the panel overlays."""

    runSelected = Signal(object)  # the current RunInfo or None
    selectionChanged = Signal(list)  # every selected RunInfo, in table order
    reviewRequested = Signal(object)  # RunInfo
    resumeRequested = Signal(object)  # RunInfo
    listChanged = Signal()  # runs appeared or went

    def __init__(self, project_root: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.project_root = Path(project_root)
        self.runs: list[RunInfo] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setToolTip("Select a run to see its curves; Ctrl+click or Shift+click more runs to compare them")
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.setMinimumWidth(120)
        layout.addWidget(self.table, 1)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setMinimumWidth(1)  # long paths are clipped, never widen the window
        self.details.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.details)
        buttons = QHBoxLayout()
        self.review_button = QPushButton("Review")
        self.review_button.setToolTip("Review predictions of this run's best checkpoint")
        self.resume_button = QPushButton("Resume")
        self.delete_button = QPushButton("Delete…")
        self.refresh_button = QPushButton("Refresh")
        for b in (self.review_button, self.resume_button, self.delete_button, self.refresh_button):
            b.setMinimumWidth(10)
            buttons.addWidget(b)
        layout.addLayout(buttons)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.table.itemDoubleClicked.connect(lambda _item: self._emit_for_selected(self.reviewRequested))
        self.review_button.clicked.connect(lambda: self._emit_for_selected(self.reviewRequested))
        self.resume_button.clicked.connect(lambda: self._emit_for_selected(self.resumeRequested))
        self.delete_button.clicked.connect(self.ask_delete)
        self.refresh_button.clicked.connect(self.refresh)
        self.busy_run: Path | None = None  # the folder of a run in progress: not deletable
        self.refresh()

    def selected_runs(self) -> list[RunInfo]:
        rows = sorted(r.row() for r in self.table.selectionModel().selectedRows())
        return [self.runs[r] for r in rows if r < len(self.runs)]

    def selected(self) -> RunInfo | None:
        """The current run: the one Review / Resume / Delete act on (the only one selected, or the
        one last clicked among several)."""
        chosen = self.selected_runs()
        if not chosen:
            return None
        current = self.table.currentRow()
        return next((r for r in chosen if self.runs.index(r) == current), chosen[0])

    def select_path(self, path: Path) -> None:
        self.select_paths([path])

    def select_paths(self, paths: list[Path]) -> None:
        wanted = {Path(p).resolve() for p in paths}
        self.table.clearSelection()
        model = self.table.selectionModel()
        for row, run in enumerate(self.runs):
            if run.path.resolve() in wanted:
                index = self.table.model().index(row, 0)
                model.select(index, model.SelectionFlag.Select | model.SelectionFlag.Rows)
                self.table.setCurrentCell(row, 0, model.SelectionFlag.NoUpdate)

    def refresh(self) -> None:
        keep = [r.path for r in self.selected_runs()]
        self.runs = list_runs(self.project_root)
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.runs))
        for row, run in enumerate(self.runs):
            checkpoint = run.checkpoint_for_review()
            values = (run.name, run.model, run.status, run.score_text())
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{run.path}\n{run.settings_text()}\ncheckpoint: {checkpoint or 'none yet'}")
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        self.table.blockSignals(False)
        if keep:
            self.select_paths(keep)
        self._on_selection()
        self.listChanged.emit()

    def _on_selection(self) -> None:
        runs = self.selected_runs()
        run = self.selected()
        single = len(runs) == 1
        busy = run is not None and self.busy_run is not None and run.path.resolve() == self.busy_run.resolve()
        self.review_button.setEnabled(single and run.checkpoint_for_review() is not None)
        self.resume_button.setEnabled(single and run.last_checkpoint is not None and not busy
                                      and run.status != "finished")
        self.delete_button.setEnabled(single and not busy)
        if run is None:
            self.details.setText("No run selected." if self.runs else "No runs yet: press Train.")
        elif not single:
            self.details.setText(f"Comparing {len(runs)} runs: their curves are overlaid, one colour each.")
        else:
            checkpoint = run.checkpoint_for_review()
            self.details.setText(f"<b>{run.name}</b>: {run.epochs_done} epoch(s) done, {run.status}<br>"
                                 f"{run.settings_text()}<br>checkpoint: {checkpoint or 'none yet'}")
        self.details.setToolTip(self.details.text().replace("<br>", "\n").replace("<b>", "").replace("</b>", ""))
        self.runSelected.emit(run)
        self.selectionChanged.emit(runs)

    def _emit_for_selected(self, signal) -> None:
        run = self.selected()
        if run is not None:
            signal.emit(run)

    def ask_delete(self) -> None:
        run = self.selected()
        if run is None:
            return
        answer = QMessageBox.question(self, "Delete run",
                                      f"Delete the run {run.name} and its checkpoints?\n{run.path}",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            delete_run(self.project_root, run.path)
        except ProjectError as e:
            QMessageBox.warning(self, "Delete run", str(e))
        self.refresh()

    def set_busy_run(self, path: str | Path | None) -> None:
        self.busy_run = Path(path) if path else None
        self._on_selection()
