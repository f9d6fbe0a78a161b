"""The training panel: settings, Start / Cancel / Resume, progress with ETA, live loss and AP
curves (pyqtgraph), device and images/s, readable errors, and the runs list.

Events from the engine are queued and drawn by a timer a few times a second, so a fast stream of
iterations never floods the event loop. The model registry (torch) is imported the first time the
panel is shown, not when the window opens.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QApplication, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QProgressBar, QPushButton, QSpinBox, QSplitter, QVBoxLayout,
                               QWidget)

from .process import CANCELLED, EARLY_STOPPED, FINISHED, TrainingProcess, TrainRequest
from .runs import RunInfo, RunsWidget

WEIGHT_CHOICES = ("default", "imagenet", "none")
FILE_CHOICE = "file…"
FLUSH_MS = 250
LOSS_COLORS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324")
ERROR_STYLE = "QLabel { background: #f8d7da; color: #721c24; padding: 6px; }"
INFO_STYLE = "QLabel { background: #e2f0d9; color: #1d4d12; padding: 6px; }"


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


def weights_origin(model: str, choice: str) -> str:
    """Where the starting weights of `model` would come from, for the settings form."""
    from core.models.registry import pretrained_choices
    from core.models.weights import cached_weights_path

    if choice == "none":
        return "random initialisation"
    if choice not in WEIGHT_CHOICES:
        return f"file {choice}" + ("" if Path(choice).is_file() else " (missing!)")
    coco, imagenet = pretrained_choices(model)
    steps = ([("COCO", coco)] if choice == "default" and coco is not None else []) + \
        ([("ImageNet backbone", imagenet)] if imagenet is not None else [])
    for name, weights in steps:
        path = cached_weights_path(weights)
        if path.is_file():
            return f"{name}: {path}"
    if not steps:
        return "none exist for this model: random initialisation"
    wanted = ", ".join(str(cached_weights_path(w)) for _, w in steps)
    return f"not on this computer (downloaded when online, or put {wanted} there); else random initialisation"


class LiveCurves(QWidget):
    """Loss terms per iteration and the validation score per epoch."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        pg.setConfigOptions(antialias=False, background="w", foreground="#333")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.loss_plot = pg.PlotWidget(title="Training losses")
        self.loss_plot.setLabel("bottom", "iteration")
        self.loss_plot.addLegend(offset=(-5, 5))
        self.loss_plot.showGrid(x=True, y=True, alpha=0.2)
        self.ap_plot = pg.PlotWidget(title="Validation score per epoch")
        self.ap_plot.setLabel("bottom", "epoch")
        self.ap_plot.showGrid(x=True, y=True, alpha=0.2)
        layout.addWidget(self.loss_plot, 3)
        layout.addWidget(self.ap_plot, 2)
        self.loss_data: dict[str, tuple[list[float], list[float]]] = {}
        self.loss_curves: dict[str, pg.PlotDataItem] = {}
        self.ap_data: tuple[list[float], list[float]] = ([], [])
        self.ap_curve = self.ap_plot.plot([], [], pen=pg.mkPen("#4363d8", width=2), symbol="o", symbolSize=7,
                                          symbolBrush="#4363d8")

    def clear(self) -> None:
        for curve in self.loss_curves.values():
            self.loss_plot.removeItem(curve)
        self.loss_plot.plotItem.legend.clear()
        self.loss_data.clear()
        self.loss_curves.clear()
        self.ap_data = ([], [])
        self.ap_curve.setData([], [])
        self.ap_plot.setTitle("Validation score per epoch")

    def add_iteration(self, x: float, losses: dict[str, float], total: float) -> None:
        for name, value in {"total": total, **losses}.items():
            if not isinstance(value, (int, float)):
                continue  # "nan" / "inf" arrive as strings
            xs, ys = self.loss_data.setdefault(name, ([], []))
            xs.append(x)
            ys.append(float(value))

    def add_epoch(self, epoch: int, score: float | None, name: str) -> None:
        if score is None:
            return
        self.ap_data[0].append(epoch)
        self.ap_data[1].append(score)
        self.ap_plot.setTitle(f"Validation {name} per epoch")

    def redraw(self) -> None:
        for i, (name, (xs, ys)) in enumerate(self.loss_data.items()):
            curve = self.loss_curves.get(name)
            if curve is None:
                color = "#000000" if name == "total" else LOSS_COLORS[i % len(LOSS_COLORS)]
                curve = self.loss_plot.plot([], [], name=name, pen=pg.mkPen(color, width=2 if name == "total" else 1),
                                            symbol="o", symbolSize=4, symbolPen=None, symbolBrush=color)
                self.loss_curves[name] = curve
            curve.setData(xs, ys)
        self.ap_curve.setData(*self.ap_data)


def epoch_score(event: dict[str, Any]) -> tuple[float | None, str]:
    """The headline validation metric of an epoch event: mask AP, box AP or proposal recall."""
    metrics = event.get("metrics") or {}
    for key, name in (("segm", "mask AP"), ("bbox", "box AP")):
        value = (metrics.get(key) or {}).get("AP")
        if isinstance(value, (int, float)):
            return float(value), name
    recall = (metrics.get("recall") or {}).get("R@100_IoU0.5")
    if isinstance(recall, (int, float)):
        return float(recall), "recall@100 (IoU 0.5)"
    return None, ""


class TrainingPanel(QWidget):
    finished = Signal(str, str)  # outcome, message (after the process ended and the UI updated)
    reviewRequested = Signal(object)  # RunInfo

    def __init__(self, window: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.window = window
        self.project = window.project
        self.process = TrainingProcess(self)
        self._pending: list[dict[str, Any]] = []
        self._iter_times: list[float] = []
        self._models_loaded = False
        self._weights_file: str | None = None
        self._build()
        self.process.started.connect(self._on_started)
        self.process.event.connect(self._queue)
        self.process.finished.connect(self._on_finished)
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self.flush)

    # -- building ---------------------------------------------------------------------------
    def _build(self) -> None:
        settings = QGroupBox("Settings")
        form = QFormLayout(settings)
        self.model_combo = QComboBox()
        self.weights_combo = QComboBox()
        self.weights_combo.addItems([*WEIGHT_CHOICES, FILE_CHOICE])
        self.weights_origin = QLabel()
        self.weights_origin.setWordWrap(True)
        self.weights_origin.setStyleSheet("color: #555;")
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 1000)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(0, 256)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(5)
        self.lr_spin.setRange(0.0, 1.0)
        self.lr_spin.setSingleStep(0.001)
        self.lr_spin.setSpecialValueText("model default")
        self.size_spin = QSpinBox()
        self.size_spin.setRange(0, 4096)
        self.size_spin.setSingleStep(32)
        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", "cpu", "cuda"])
        self.max_iters_spin = QSpinBox()
        self.max_iters_spin.setRange(0, 10_000_000)
        self.max_iters_spin.setSpecialValueText("no limit")
        form.addRow("Model", self.model_combo)
        form.addRow("Weights", self.weights_combo)
        form.addRow("", self.weights_origin)
        form.addRow("Epochs", self.epochs_spin)
        form.addRow("Batch size", self.batch_spin)
        form.addRow("Learning rate", self.lr_spin)
        form.addRow("Image size", self.size_spin)
        form.addRow("Device", self.device_combo)
        form.addRow("Stop after iterations", self.max_iters_spin)
        form.addRow("Split", self._split_row())

        self.start_button = QPushButton("Train")
        self.cancel_button = QPushButton("Cancel")
        self.resume_button = QPushButton("Resume selected run")
        self.cancel_button.setEnabled(False)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.cancel_button, self.resume_button):
            buttons.addWidget(b)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.device_label = QLabel("Device: —")
        self.speed_label = QLabel("Speed: —")
        self.epoch_time_label = QLabel("Time per epoch: estimated after the first iterations")
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(4, 4, 4, 4)
        left_layout.addWidget(settings)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.progress)
        for w in (self.device_label, self.speed_label, self.epoch_time_label, self.message):
            left_layout.addWidget(w)
        left_layout.addStretch(1)

        self.curves = LiveCurves()
        self.runs = RunsWidget(self.project.root)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.curves)
        splitter.addWidget(self.runs)
        splitter.setSizes([330, 520, 450])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button.clicked.connect(lambda: self._emit_resume())
        self.runs.resumeRequested.connect(self.resume)
        self.runs.reviewRequested.connect(self.reviewRequested)
        self.runs.runSelected.connect(lambda run: self.resume_button.setEnabled(self.runs.resume_button.isEnabled()))
        self.model_combo.currentTextChanged.connect(self._on_model_changed)
        self.weights_combo.activated.connect(self._on_weights_chosen)
        self.resume_button.setEnabled(self.runs.resume_button.isEnabled())

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.load_models()

    def load_models(self) -> None:
        """Fill the model list and defaults (imports the registry, and so torch, once)."""
        if self._models_loaded:
            return
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)  # the first torch import takes seconds
        try:
            from core.models.specs import MODEL_NAMES
        finally:
            QApplication.restoreOverrideCursor()
        self._models_loaded = True
        stored = self.project.settings.get("training") or {}
        self.model_combo.addItems(list(MODEL_NAMES))
        self.model_combo.setCurrentText(str(stored.get("model") or "mininet_r18_fpn"))
        self._on_model_changed(self.model_combo.currentText())

    def _on_model_changed(self, model: str) -> None:
        from core.models.specs import model_spec
        from core.training.trainer import TrainSettings

        if not model:
            return
        spec = model_spec(model)
        resolved = TrainSettings.resolve(self.project, model=model)
        self.epochs_spin.setValue(resolved.epochs)
        self.batch_spin.setSpecialValueText(f"model default ({spec.default_batch_size})")
        self.batch_spin.setValue(resolved.batch_size or 0)
        self.lr_spin.setSpecialValueText(f"model default ({spec.default_lr:g} per {spec.default_batch_size} images)")
        self.lr_spin.setValue(resolved.lr or 0.0)
        self.size_spin.setSpecialValueText(f"model default ({spec.default_min_size} px)")
        self.size_spin.setValue(resolved.image_size or 0)
        self.model_combo.setToolTip(spec.description)
        self._show_weights_origin()

    def _on_weights_chosen(self, index: int) -> None:
        if self.weights_combo.itemText(index) == FILE_CHOICE:
            path, _ = QFileDialog.getOpenFileName(self, "Starting weights", str(self.project.root),
                                                  "PyTorch weights (*.pth *.pt);;All files (*)")
            if path:
                self._weights_file = path
                self.weights_combo.setItemText(index, path)
            else:
                self.weights_combo.setCurrentIndex(0)
        self._show_weights_origin()

    def weights_choice(self) -> str:
        text = self.weights_combo.currentText()
        return text if text != FILE_CHOICE else "default"

    # -- the train / val / test split -------------------------------------------------------
    def _split_row(self) -> QWidget:
        self.val_spin = QSpinBox()
        self.test_spin = QSpinBox()
        for spin, value, name in ((self.val_spin, 20, "val"), (self.test_spin, 0, "test")):
            spin.setRange(0, 50)
            spin.setValue(value)
            spin.setSuffix(f" % {name}")
        self.split_button = QPushButton("New split")
        self.split_button.setToolTip("Draw a new train / val / test split of the labelled images (seed 0). "
                                     "The split is kept in the project; images labelled later go to train.")
        self.split_button.clicked.connect(self.redraw_split)
        self.split_label = QLabel()
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.split_label, self.val_spin, self.test_spin, self.split_button):
            layout.addWidget(w)
        self._show_split()
        return row

    def _show_split(self) -> None:
        from core.training.split import labelled_images, split_counts

        images, _ = labelled_images(self.project)
        counts = split_counts(self.project, images)
        self.split_label.setText("made at the first run" if counts is None else
                                 f"{counts['train']} train · {counts['val']} val · {counts['test']} test")

    def redraw_split(self) -> None:
        from core.training.split import redraw_split

        val, test = self.val_spin.value() / 100, self.test_spin.value() / 100
        if val + test >= 1:
            self._show_message("Leave some images for training: val + test must stay below 100 %.", error=True)
            return
        redraw_split(self.project, val, test)
        self._show_split()

    def _show_weights_origin(self) -> None:
        model = self.model_combo.currentText()
        if model:
            self.weights_origin.setText("from: " + weights_origin(model, self.weights_choice()))

    # -- running ----------------------------------------------------------------------------
    def request(self, resume_dir: Path | None = None) -> TrainRequest:
        self.load_models()
        return TrainRequest(
            project=self.project.root, model=self.model_combo.currentText(), weights=self.weights_choice(),
            epochs=self.epochs_spin.value(), batch_size=self.batch_spin.value() or None,
            lr=self.lr_spin.value() or None, image_size=self.size_spin.value() or None,
            device=self.device_combo.currentText(), max_iters=self.max_iters_spin.value() or None,
            resume_dir=resume_dir)

    def start(self) -> None:
        request = self.request()
        self._remember(request)
        self._launch(request)

    def _remember(self, request: TrainRequest) -> None:
        """The project keeps the last settings as its defaults; the anchor preview follows its
        model and image size (core.models.specs.training_anchor_config)."""
        chosen = {"model": request.model, "epochs": request.epochs, "batch_size": request.batch_size,
                  "lr": request.lr, "image_size": request.image_size}
        training = self.project.settings.setdefault("training", {})
        for key, value in chosen.items():
            if value is None:
                training.pop(key, None)
            else:
                training[key] = value
        self.project.save()

    def _emit_resume(self) -> None:
        run = self.runs.selected()
        if run is not None:
            self.resume(run)

    def resume(self, run: RunInfo) -> None:
        """Continue `run` from its last.pt with the settings it was started with."""
        s = run.settings
        self.load_models()
        self.model_combo.setCurrentText(run.model)
        request = TrainRequest(project=self.project.root, model=run.model, epochs=s.get("epochs"),
                               batch_size=s.get("batch_size"), lr=s.get("lr"), image_size=s.get("image_size"),
                               device=self.device_combo.currentText(),
                               max_iters=self.max_iters_spin.value() or s.get("max_iters"), resume_dir=run.path)
        self._launch(request)

    def _launch(self, request: TrainRequest) -> None:
        if self.process.is_running():
            return
        if not self.window.document.save_all():  # train on what the user sees
            self._show_message(f"Edits not saved ({self.window.document.save_error}); the run uses the files on "
                               "disk.", error=True)
        else:
            self.message.hide()
        self.curves.clear()
        self._pending.clear()
        self._iter_times.clear()
        self.progress.setRange(0, 0)  # busy until the first iteration
        self.progress.setFormat("starting…")
        self.epoch_time_label.setText("Time per epoch: estimated after the first iterations")
        self.start_button.setEnabled(False)
        self.resume_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.process.start(request)
        self._flush_timer.start()

    def cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.progress.setFormat("cancelling…")
        self.process.cancel()

    def _on_started(self, pid: int) -> None:
        self.device_label.setText(f"Device: starting (process {pid})")

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
        if kind == "start":
            s = event.get("settings") or {}
            self.device_label.setText(f"Device: {event.get('device')} — {event.get('num_train')} train / "
                                      f"{event.get('num_val')} val images — weights: {event.get('weights_source')}")
            self.runs.set_busy_run(event.get("run_dir"))
            self.runs.refresh()
            self.runs.select_path(Path(event.get("run_dir", "")))
            self.progress.setFormat(f"{s.get('model')}: loading data…")
        elif kind == "iter":
            self._iter_times.append(float(event.get("time", time.time())))
            total = int(event.get("total_iterations") or 1)
            self.progress.setRange(0, total)
            self.progress.setValue(int(event.get("global_iteration", 0)))
            self.progress.setFormat(f"epoch {event.get('epoch')}/{event.get('epochs')} — %p% — "
                                    f"ETA {format_duration(event.get('eta_s'))}")
            self.speed_label.setText(f"Speed: {event.get('images_per_s', 0):.2f} images/s, "
                                     f"memory {event.get('memory_mb', 0):.0f} MB, lr {event.get('lr', 0):.3g}")
            self.curves.add_iteration(float(event.get("global_iteration", 0)), event.get("losses") or {},
                                      event.get("loss"))
            if len(self._iter_times) >= 2:  # stamps are taken as iterations end: no start-up included
                per_iter = (self._iter_times[-1] - self._iter_times[0]) / (len(self._iter_times) - 1)
                self.epoch_time_label.setText(
                    f"Time per epoch: about {format_duration(per_iter * int(event.get('iters_per_epoch', 1)))}"
                    " (training only; validation adds a little)")
        elif kind == "epoch":
            score, name = epoch_score(event)
            self.curves.add_epoch(int(event.get("epoch", 0)), score, name)
        elif kind == "checkpoint":
            self.runs.refresh()
        elif kind == "warning":
            self.window.notify(f"Training: {event.get('message')}")

    def _on_finished(self, outcome: str, message: str) -> None:
        self.project.refresh()  # the run stored its split in the project file
        self._show_split()
        self.flush()
        self._flush_timer.stop()
        self.runs.set_busy_run(None)
        self.runs.refresh()
        if self.process.run_dir:
            self.runs.select_path(Path(self.process.run_dir))
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.resume_button.setEnabled(self.runs.resume_button.isEnabled())
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self.progress.setFormat({FINISHED: "finished", EARLY_STOPPED: "stopped early", CANCELLED: "cancelled"}
                                .get(outcome, "failed"))
        self._show_message(message, error=outcome not in (FINISHED, EARLY_STOPPED, CANCELLED))
        self.window.notify(message.splitlines()[0])
        self.finished.emit(outcome, message)

    def _show_message(self, text: str, error: bool) -> None:
        self.message.setStyleSheet(ERROR_STYLE if error else INFO_STYLE)
        self.message.setText(text)
        self.message.show()

    def shutdown(self) -> None:
        self._flush_timer.stop()
        self.process.stop_and_wait()
