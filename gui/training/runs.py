"""The project's training runs (PROJECT/runs/<name>/): settings, best AP, checkpoints; delete.

A run folder is read from what the engine writes: settings.json (at start), events.jsonl (every
event) and last.pt / best.pt. Reading needs no torch, so listing runs is instant.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QMessageBox, QPushButton,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from core.errors import ProjectError

RUNS_DIR = "runs"
COLUMNS = ("Run", "Model", "Status", "Best score")


@dataclass
class RunInfo:
    path: Path
    model: str = "?"
    settings: dict[str, Any] = field(default_factory=dict)
    device: str = ""
    status: str = "incomplete"  # the done event's status, else "incomplete" (stopped, killed, running)
    epochs_done: int = 0
    best_score: float | None = None
    best_score_name: str = ""  # "mask AP", "box AP" or "recall@100"
    best_epoch: int | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def best_checkpoint(self) -> Path | None:
        p = self.path / "best.pt"
        return p if p.is_file() else None

    @property
    def last_checkpoint(self) -> Path | None:
        p = self.path / "last.pt"
        return p if p.is_file() else None

    def checkpoint_for_review(self) -> Path | None:
        return self.best_checkpoint or self.last_checkpoint

    @property
    def kind(self) -> str:
        return "rpn" if self.model == "rpn_classic" else "mask"

    def settings_text(self) -> str:
        s = self.settings
        parts = [f"{s.get('epochs', '?')} ep", f"batch {s.get('batch_size', '?')}", f"lr {s.get('lr', 0):.3g}",
                 f"{s.get('image_size', '?')} px", f"weights {s.get('weights', '?')}"]
        if s.get("max_iters"):
            parts.append(f"max {s['max_iters']} it")
        return ", ".join(parts) + (f" on {self.device}" if self.device else "")

    def score_text(self) -> str:
        if self.best_score is None:
            return "—"
        return f"{self.best_score_name} {self.best_score:.3f} (epoch {self.best_epoch})"


def _score_name(metrics: dict[str, Any]) -> str:
    if (metrics.get("segm") or {}).get("AP") is not None:
        return "mask AP"
    if (metrics.get("bbox") or {}).get("AP") is not None:
        return "box AP"
    return "recall@100" if "recall" in metrics else ""


def read_run(path: Path) -> RunInfo | None:
    """The run in `path`, or None when it is not a run folder (no settings.json)."""
    settings_file = path / "settings.json"
    if not settings_file.is_file():
        return None
    info = RunInfo(path)
    try:
        data = json.loads(settings_file.read_text(encoding="utf-8"))
        info.settings = dict(data.get("settings") or {})
        info.model = str(info.settings.get("model", "?"))
        info.device = str(data.get("device", ""))
    except (OSError, ValueError, AttributeError):
        info.status = "unreadable settings.json"
        return info
    events = path / "events.jsonl"
    try:
        lines = events.read_text(encoding="utf-8").splitlines() if events.is_file() else []
    except OSError:
        lines = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill
        kind = event.get("type")
        if kind == "start":
            info.status = "incomplete"
        elif kind == "epoch":
            info.epochs_done = int(event.get("epoch", info.epochs_done))
            metrics = event.get("metrics") or {}
            score = event.get("score")
            name = _score_name(metrics)
            # `score` is the engine's headline metric when there are metrics, else minus a loss
            if name and isinstance(score, (int, float)) and (info.best_score is None or score > info.best_score):
                info.best_score, info.best_score_name, info.best_epoch = float(score), name, info.epochs_done
        elif kind == "done":
            info.status = str(event.get("status", "finished"))
        elif kind == "error":
            info.status = "failed"
    return info


def list_runs(project_root: Path) -> list[RunInfo]:
    """Runs of the project, newest first (folder names start with the start time)."""
    root = Path(project_root) / RUNS_DIR
    if not root.is_dir():
        return []
    runs = [read_run(p) for p in sorted(root.iterdir(), reverse=True) if p.is_dir()]
    return [r for r in runs if r is not None]


def delete_run(project_root: Path, run: RunInfo) -> None:
    """Remove the run folder; refuses anything that is not directly inside PROJECT/runs."""
    runs_root = (Path(project_root) / RUNS_DIR).resolve()
    target = run.path.resolve()
    if target.parent != runs_root or not (target / "settings.json").exists():
        raise ProjectError(target, "not a run folder of this project; nothing was deleted")
    try:
        shutil.rmtree(target)
    except OSError as e:
        raise ProjectError(target, f"cannot delete the run: {e.strerror or e}") from e


class RunsWidget(QWidget):
    """A table of runs with Review / Resume / Delete; the selection is the run to review."""

    runSelected = Signal(object)  # RunInfo or None
    reviewRequested = Signal(object)  # RunInfo
    resumeRequested = Signal(object)  # RunInfo

    def __init__(self, project_root: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.project_root = Path(project_root)
        self.runs: list[RunInfo] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.details)
        buttons = QHBoxLayout()
        self.review_button = QPushButton("Review with this run")
        self.resume_button = QPushButton("Resume")
        self.delete_button = QPushButton("Delete…")
        self.refresh_button = QPushButton("Refresh")
        for b in (self.review_button, self.resume_button, self.delete_button, self.refresh_button):
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

    def selected(self) -> RunInfo | None:
        rows = self.table.selectionModel().selectedRows()
        return self.runs[rows[0].row()] if rows and rows[0].row() < len(self.runs) else None

    def select_path(self, path: Path) -> None:
        for row, run in enumerate(self.runs):
            if run.path.resolve() == Path(path).resolve():
                self.table.selectRow(row)
                return

    def refresh(self) -> None:
        keep = self.selected()
        self.runs = list_runs(self.project_root)
        self.table.setRowCount(len(self.runs))
        for row, run in enumerate(self.runs):
            checkpoint = run.checkpoint_for_review()
            values = (run.name, run.model, run.status, run.score_text())
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{run.path}\ncheckpoint: {checkpoint or 'none yet'}")
                self.table.setItem(row, col, item)
        if keep is not None:
            self.select_path(keep.path)
        self._on_selection()

    def _on_selection(self) -> None:
        run = self.selected()
        busy = run is not None and self.busy_run is not None and run.path.resolve() == self.busy_run.resolve()
        self.review_button.setEnabled(run is not None and run.checkpoint_for_review() is not None)
        self.resume_button.setEnabled(run is not None and run.last_checkpoint is not None and not busy
                                      and run.status != "finished")
        self.delete_button.setEnabled(run is not None and not busy)
        if run is None:
            self.details.setText("No run selected." if self.runs else "No runs yet: press Train.")
        else:
            checkpoint = run.checkpoint_for_review()
            self.details.setText(f"<b>{run.name}</b>: {run.epochs_done} epoch(s) done, {run.status}<br>"
                                 f"{run.settings_text()}<br>checkpoint: {checkpoint or 'none yet'}")
        self.runSelected.emit(run)

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
            delete_run(self.project_root, run)
        except ProjectError as e:
            QMessageBox.warning(self, "Delete run", str(e))
        self.refresh()

    def set_busy_run(self, path: str | Path | None) -> None:
        self.busy_run = Path(path) if path else None
        self._on_selection()
