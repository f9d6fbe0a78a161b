"""The training panel: settings, Train / Cancel / Resume, progress with ETA, the curves of the run
in progress and of the runs selected in the table (several are overlaid), and the runs list.

Events from the engine are queued and drawn by a timer a few times a second, so a fast stream of
iterations never floods the event loop. The settings need the model registry (torch): it is
imported through core.torch_loader the first time the panel is shown, not when the window opens.
Every text can wrap or be clipped: a long path or message never widens the window.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QSplitter, QTabWidget, QVBoxLayout, QWidget

from core.training.runs import RunCurves

from .curves import CurvesView, ShownRun
from .process import CANCELLED, EARLY_STOPPED, FINISHED, TrainingProcess, TrainRequest
from .runs import RunInfo, RunsWidget, compare_labels, run_label
from .settings import SettingsForm, home_as_tilde, wrapping_label

FLUSH_MS = 250
ERROR_STYLE = "QLabel { background: #f8d7da; color: #721c24; padding: 4px; }"
INFO_STYLE = "QLabel { background: #e2f0d9; color: #1d4d12; padding: 4px; }"
SETTINGS_SHARE, SETTINGS_MIN_WIDTH, SETTINGS_MAX_WIDTH = 0.3, 200, 300  # the curves get the rest of the width
LIVE = "this run"
WINDOW_SHARE, MIN_OPEN_HEIGHT = 0.4, 260  # the panel opens at 40 % of the window's height


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    if seconds < 10:
        return f"{seconds:.1f} s"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


class TrainingPanel(QWidget):
    finished = Signal(str, str)  # outcome, message (after the process ended and the UI updated)
    reviewRequested = Signal(object)  # RunInfo
    settingsRemembered = Signal()  # the project's training settings (model, size, sampling) changed

    def __init__(self, window: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.window = window
        self.project = window.project
        self.process = TrainingProcess(self)
        self._pending: list[dict[str, Any]] = []
        self._iter_times: list[float] = []
        self.live: RunCurves | None = None  # the run in progress
        self.live_dir: Path | None = None
        self._read_cache: dict[Path, tuple[tuple[int, int], RunCurves]] = {}
        self._build()
        self.process.started.connect(self._on_started)
        self.process.event.connect(self._queue)
        self.process.finished.connect(self._on_finished)
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self.flush)

    # -- building ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.curves = CurvesView()
        self.runs = RunsWidget(self.project.root)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._settings_column())
        splitter.addWidget(self._progress_column())
        splitter.setStretchFactor(0, 0)  # a wider panel widens the curves
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        splitter.splitterMoved.connect(lambda *_: setattr(self, "_user_sized", True))
        self._user_sized = False  # until the user drags the splitter, the settings column follows the width
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button.clicked.connect(self._emit_resume)
        self.runs.resumeRequested.connect(self.resume)
        self.runs.reviewRequested.connect(self.reviewRequested)
        self.runs.selectionChanged.connect(lambda _runs: self.show_curves())
        self.runs.listChanged.connect(self._name_runs_tab)
        self.runs.runSelected.connect(lambda _run: self.resume_button.setEnabled(
            self.runs.resume_button.isEnabled() and not self.process.is_running()))
        self.resume_button.setEnabled(self.runs.resume_button.isEnabled())

    def _settings_column(self) -> QWidget:
        self.settings = SettingsForm(self.project)
        self.settings.message.connect(self._show_message)
        self.start_button = QPushButton("Train")
        self.cancel_button = QPushButton("Cancel")
        self.resume_button = QPushButton("Resume run")
        self.resume_button.setToolTip("Continue the selected run from its last checkpoint")
        self.cancel_button.setEnabled(False)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.cancel_button, self.resume_button):
            b.setMinimumWidth(10)
            buttons.addWidget(b)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.settings, "Settings")
        self.tabs.addTab(self.runs, "Runs")
        self._name_runs_tab()
        self.device_label = wrapping_label("Device: —")
        self.speed_label = wrapping_label("Speed: —", max_lines=2)
        column = QWidget()
        layout = QVBoxLayout(column)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.tabs, 1)
        for label in (self.device_label, self.speed_label):
            label.setStyleSheet("color: #333;")
            layout.addWidget(label)
        layout.addLayout(buttons)
        column.setMinimumWidth(SETTINGS_MIN_WIDTH)
        return column

    def _name_runs_tab(self) -> None:
        self.tabs.setTabText(1, f"Runs ({len(self.runs.runs)})")
        self.tabs.setTabToolTip(1, "The project's runs: select one to see its curves, Ctrl+click more to compare")

    def _progress_column(self) -> QWidget:
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.message = wrapping_label(max_lines=6)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        column = QWidget()
        layout = QVBoxLayout(column)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.setSpacing(2)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.curves, 1)
        column.setMinimumWidth(300)
        return column

    def sizeHint(self) -> QSize:
        """The height the dock opens with: a share of the window's, so the photo keeps room."""
        hint = super().sizeHint()
        return QSize(hint.width(), max(MIN_OPEN_HEIGHT, int(self.window.height() * WINDOW_SHARE)))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if not self._user_sized:
            width = self.splitter.width()
            left = int(min(SETTINGS_MAX_WIDTH, max(SETTINGS_MIN_WIDTH, SETTINGS_SHARE * width)))
            self.splitter.setSizes([left, max(1, width - left - self.splitter.handleWidth())])

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.load_models()

    def load_models(self) -> None:
        """Fill the settings' model list and defaults (the first time: imports torch)."""
        self.settings.load_models()

    # -- running ----------------------------------------------------------------------------
    def start(self) -> None:
        try:
            request = self.settings.request()
        except ValueError as e:
            self._show_message(f"Not started: {e}.", True)
            return
        self.settings.remember(request)
        self.settingsRemembered.emit()
        self._launch(request)

    def _emit_resume(self) -> None:
        run = self.runs.selected()
        if run is not None:
            self.resume(run)

    def resume(self, run: RunInfo) -> None:
        """Continue `run` from its last.pt with the settings it was started with."""
        s, form = run.settings, self.settings
        form.load_models()
        form.model_combo.setCurrentText(run.model)
        request = TrainRequest(project=self.project.root, model=run.model, epochs=s.get("epochs"),
                               batch_size=s.get("batch_size"), lr=s.get("lr"), image_size=s.get("image_size"),
                               device=form.device_combo.currentText(),
                               max_iters=form.max_iters_spin.value() or s.get("max_iters"), resume_dir=run.path)
        self._launch(request)

    def _launch(self, request: TrainRequest) -> None:
        if self.process.is_running():
            return
        if not self.window.document.save_all():  # train on what the user sees
            self._show_message(f"Edits not saved ({self.window.document.save_error}); the run uses the files on "
                               "disk.", True)
        else:
            self.message.hide()
        self.live = RunCurves.read(request.resume_dir) if request.resume_dir else RunCurves()
        self.live_dir = request.resume_dir
        self._pending.clear()
        self._iter_times.clear()
        self.progress.setRange(0, 0)  # busy until the first iteration
        self.progress.setFormat("starting…")
        self.speed_label.setText("Speed: measured from the first iterations")
        self.start_button.setEnabled(False)
        self.resume_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.process.start(request)
        self._flush_timer.start()
        self.show_curves()

    def cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.progress.setFormat("cancelling…")
        self.process.cancel()

    def _on_started(self, pid: int) -> None:
        self.device_label.setText(f"Device: starting (process {pid})")

    # -- curves -----------------------------------------------------------------------------
    def _read_curves(self, run: RunInfo) -> RunCurves:
        """A run's curves from its events.jsonl, read again only when the file changed."""
        events = run.path / "events.jsonl"
        try:
            stat = events.stat()
            key = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            key = (0, 0)
        cached = self._read_cache.get(run.path)
        if cached is None or cached[0] != key:
            cached = (key, RunCurves.read(run.path))
            self._read_cache[run.path] = cached
        return cached[1]

    def show_curves(self) -> None:
        """The run in progress (if any) and every run selected in the table, overlaid; in the
        legend each is named by what sets it apart from the others."""
        live_dir = self.live_dir.resolve() if self.live is not None and self.live_dir else None
        live_run = next((r for r in self.runs.runs if live_dir and r.path.resolve() == live_dir), None)
        others = [r for r in self.runs.selected_runs() if live_dir is None or r.path.resolve() != live_dir]
        runs = ([live_run] if live_run is not None else []) + others
        names = compare_labels(runs) if len(runs) > 1 else [run_label(r) for r in runs]
        shown = [ShownRun(name + (" (running)" if run is live_run else ""),
                          self.live if run is live_run else self._read_curves(run)) for run, name in zip(runs, names)]
        if self.live is not None and live_run is None:  # before the run folder exists
            shown.insert(0, ShownRun(LIVE, self.live))
        self.curves.show_runs(shown)

    # -- events -----------------------------------------------------------------------------
    def _queue(self, event: dict[str, Any]) -> None:
        self._pending.append(event)

    def flush(self) -> None:
        """Apply the queued events: one redraw per batch, whatever their number."""
        events, self._pending = self._pending, []
        if not events:
            return
        for event in events:
            self._apply(event)
        self.curves.redraw()

    def _apply(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if self.live is not None:
            self.live.add(event)
        if kind == "start":
            s = event.get("settings") or {}
            weights = home_as_tilde(str(event.get("weights_source")))
            self.device_label.setText(f"Device: {event.get('device')} · {event.get('num_train')} train / "
                                      f"{event.get('num_val')} val images · weights: {weights}")
            self.device_label.setToolTip(self.device_label.text())
            self.live_dir = Path(event.get("run_dir", ""))
            self.runs.set_busy_run(event.get("run_dir"))
            self.runs.refresh()
            self.runs.select_path(self.live_dir)
            self.progress.setFormat(f"{s.get('model')}: loading data…")
        elif kind == "iter":
            self._iter_times.append(float(event.get("time", time.time())))
            total = int(event.get("total_iterations") or 1)
            self.progress.setRange(0, total)
            self.progress.setValue(int(event.get("global_iteration", 0)))
            self.progress.setFormat(f"epoch {event.get('epoch')}/{event.get('epochs')} — %p% — "
                                    f"ETA {format_duration(event.get('eta_s'))}")
            per_epoch = ""
            if len(self._iter_times) >= 2:  # stamps are taken as iterations end: no start-up included
                per_iter = (self._iter_times[-1] - self._iter_times[0]) / (len(self._iter_times) - 1)
                per_epoch = f" · {format_duration(per_iter * int(event.get('iters_per_epoch', 1)))} per epoch"
            self.speed_label.setText(f"Speed: {event.get('images_per_s', 0):.2f} images/s{per_epoch} · "
                                     f"{event.get('memory_mb', 0):.0f} MB · lr {event.get('lr', 0):.3g}")
            self.speed_label.setToolTip("Images per second, the time an epoch takes without validation, the "
                                        "memory the training process uses, and the learning rate now")
        elif kind == "overfitting":
            self.window.notify(f"Training: overfitting since epoch {event.get('since_epoch')}")
        elif kind == "checkpoint":
            self.runs.refresh()
        elif kind == "warning":
            self.window.notify(f"Training: {event.get('message')}")

    def _on_finished(self, outcome: str, message: str) -> None:
        self.project.refresh()  # the run stored its split in the project file
        self.settings.show_split()
        self.flush()
        self._flush_timer.stop()
        self.live, self.live_dir = None, None  # from now on its curves are read from its events.jsonl like any run's
        self.runs.set_busy_run(None)
        self.runs.refresh()
        if self.process.run_dir:
            self.runs.select_path(Path(self.process.run_dir))
        self.show_curves()
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.resume_button.setEnabled(self.runs.resume_button.isEnabled())
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self.progress.setFormat({FINISHED: "finished", EARLY_STOPPED: "stopped early", CANCELLED: "cancelled"}
                                .get(outcome, "failed"))
        self._show_message(message, outcome not in (FINISHED, EARLY_STOPPED, CANCELLED))
        self.window.notify(message.splitlines()[0])
        self.finished.emit(outcome, message)

    def _show_message(self, text: str, error: bool) -> None:
        self.message.setStyleSheet(ERROR_STYLE if error else INFO_STYLE)
        self.message.setText(text)
        self.message.setToolTip(text)
        self.message.show()

    def shutdown(self) -> None:
        self._flush_timer.stop()
        self.process.stop_and_wait()
