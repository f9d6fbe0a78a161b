"""The review dock: predict with a run's checkpoint (or auto-label with COCO weights), show the
masks over the photo, and accept or reject them one by one or all above a score threshold.

Predictions live in PROJECT/predictions/ and never change the annotations; accepting one pushes
an undoable command that adds its polygons as ordinary shapes."""
from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QDockWidget, QFrame, QGroupBox, QHBoxLayout, QHeaderView,
                               QLabel, QListWidget, QListWidgetItem, QProgressBar, QPushButton, QScrollArea, QSlider,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from core.errors import MasklabError

from .commands import AcceptPredictions
from .layer import PREDICTIONS_Z, PredictionsLayer
from .worker import DEFAULT_COCO_MAPPING, PredictionWorker, coco_weights_path, unlabelled_images

SCORE_FLOOR = 0.05  # what is stored; the slider filters above it
DEFAULT_THRESHOLD = 0.5


class ReviewDock(QDockWidget):
    def __init__(self, window: Any):
        super().__init__("Review predictions", window)
        self.setObjectName("ReviewDock")
        self.window = window
        self.project = window.project
        self.document = window.document
        self.run = None  # gui.training.runs.RunInfo
        self.worker: PredictionWorker | None = None
        self.auto_label_sizes = (800, 1333)  # model input for auto-label; tests use a tiny one
        self.layer = PredictionsLayer(self.document.color_of)
        self.layer.threshold = DEFAULT_THRESHOLD
        self.predictions: list[Any] = []
        self.accepted: list[tuple[Any, list]] = []  # (prediction, shapes) of accept commands
        self._press_consumed = False
        self._build()
        window.canvas.add_layer(self.layer, PREDICTIONS_Z)
        window.canvas.installEventFilter(self)
        self.document.imageChanged.connect(lambda _image: self.load_current())
        self.document.annotationChanged.connect(self.refresh)

    # -- building ---------------------------------------------------------------------------
    def _build(self) -> None:
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.run_label = QLabel("Model: none chosen — pick a run in the Training panel (Review with this run)")
        self.run_label.setWordWrap(True)
        layout.addWidget(self.run_label)
        row = QHBoxLayout()
        self.predict_current_button = QPushButton("Predict image")
        self.predict_all_button = QPushButton("Predict all")
        self.cancel_button = QPushButton("Cancel")
        for b in (self.predict_current_button, self.predict_all_button, self.cancel_button):
            row.addWidget(b)
        layout.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")
        layout.addWidget(self.progress)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)

        threshold_row = QHBoxLayout()
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(int(SCORE_FLOOR * 100), 100)
        self.threshold_slider.setValue(int(DEFAULT_THRESHOLD * 100))
        self.threshold_label = QLabel()
        threshold_row.addWidget(QLabel("Score ≥"))
        threshold_row.addWidget(self.threshold_slider, 1)
        threshold_row.addWidget(self.threshold_label)
        layout.addLayout(threshold_row)
        self.show_check = QCheckBox("Show predictions")
        self.show_check.setChecked(True)
        self.pick_check = QCheckBox("Click a prediction on the photo to accept it")
        layout.addWidget(self.show_check)
        layout.addWidget(self.pick_check)
        self.list = QListWidget()
        self.list.setMinimumHeight(90)
        self.list.setMaximumHeight(200)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        layout.addWidget(self.list)
        row = QHBoxLayout()
        self.accept_button = QPushButton("Accept")
        self.accept_all_button = QPushButton("Accept all ≥ score")
        self.reject_button = QPushButton("Reject")
        for b in (self.accept_button, self.accept_all_button, self.reject_button):
            row.addWidget(b)
        layout.addLayout(row)

        auto = QGroupBox("Auto-label with COCO Mask R-CNN")
        auto_layout = QVBoxLayout(auto)
        self.mapping_table = QTableWidget(0, 2)
        self.mapping_table.setHorizontalHeaderLabels(["COCO class", "label (empty: ignore)"])
        self.mapping_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.mapping_table.verticalHeader().hide()
        for coco, label in DEFAULT_COCO_MAPPING.items():
            self._add_mapping_row(coco, label)
        self.mapping_table.verticalHeader().setDefaultSectionSize(22)
        self.mapping_table.setMinimumHeight(22 * 5 + 4)
        self.mapping_table.setMaximumHeight(22 * 7)
        mapping_buttons = QHBoxLayout()
        self.add_mapping_button = QPushButton("Add row")
        self.auto_label_button = QPushButton("Auto-label unlabelled")
        mapping_buttons.addWidget(self.add_mapping_button)
        mapping_buttons.addWidget(self.auto_label_button)
        self.weights_label = QLabel()
        self.weights_label.setWordWrap(True)
        self.weights_label.setStyleSheet("color: #555;")
        auto_layout.addWidget(self.mapping_table)
        auto_layout.addLayout(mapping_buttons)
        auto_layout.addWidget(self.weights_label)
        layout.addWidget(auto)
        layout.addStretch(1)
        scroll = QScrollArea()  # a short window scrolls the dock instead of squeezing its parts together
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        self.setWidget(scroll)

        self.predict_current_button.clicked.connect(self.predict_current)
        self.predict_all_button.clicked.connect(self.predict_all)
        self.cancel_button.clicked.connect(self.cancel)
        self.threshold_slider.valueChanged.connect(self._on_threshold)
        self.show_check.toggled.connect(self._on_show)
        self.list.itemSelectionChanged.connect(self._on_list_selection)
        self.accept_button.clicked.connect(self.accept_selected)
        self.accept_all_button.clicked.connect(self.accept_all)
        self.reject_button.clicked.connect(self.reject_selected)
        self.add_mapping_button.clicked.connect(lambda: self._add_mapping_row("", ""))
        self.auto_label_button.clicked.connect(self.auto_label)
        self._on_threshold(self.threshold_slider.value())
        self._set_busy(False)

    def _add_mapping_row(self, coco: str, label: str) -> None:
        row = self.mapping_table.rowCount()
        self.mapping_table.insertRow(row)
        self.mapping_table.setItem(row, 0, QTableWidgetItem(coco))
        self.mapping_table.setItem(row, 1, QTableWidgetItem(label))

    def mapping(self) -> dict[str, str]:
        result = {}
        for row in range(self.mapping_table.rowCount()):
            coco, label = (self.mapping_table.item(row, c) for c in (0, 1))
            if coco and label and coco.text().strip() and label.text().strip():
                result[coco.text().strip()] = label.text().strip()
        return result

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.update_weights_note()

    def update_weights_note(self) -> None:
        path = coco_weights_path()
        self.weights_label.setText(f"COCO weights: {path}" if path.is_file() else
                                   f"COCO weights not found: put torchvision's file {path.name} into {path.parent}")

    # -- choosing the model -----------------------------------------------------------------
    def set_run(self, run: Any) -> None:
        self.run = run
        if run is None:
            self.run_label.setText("Model: none chosen")
        else:
            checkpoint = run.checkpoint_for_review()
            what = ("proposals (boxes after NMS; green: IoU ≥ 0.5 with a ground-truth box, red: below)"
                    if run.kind == "rpn" else "masks")
            self.run_label.setText(f"Model: {run.name} ({run.model}), "
                                   f"{checkpoint.name if checkpoint else 'no checkpoint'}; shows {what}")
        self._set_busy(self.worker is not None)

    # -- predicting -------------------------------------------------------------------------
    def _set_busy(self, busy: bool) -> None:
        has_checkpoint = self.run is not None and self.run.checkpoint_for_review() is not None
        has_image = self.document.image is not None
        self.predict_current_button.setEnabled(not busy and has_checkpoint and has_image)
        self.predict_all_button.setEnabled(not busy and has_checkpoint)
        self.auto_label_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def predict_current(self) -> None:
        if self.document.image is not None:
            self._predict([self.document.image.as_posix()])

    def predict_all(self) -> None:
        self._predict(None)

    def _predict(self, images: list[str] | None) -> None:
        checkpoint = self.run.checkpoint_for_review() if self.run is not None else None
        if checkpoint is None:
            self.status.setText("Choose a run with a checkpoint first (Training panel → Review with this run).")
            return
        self._start(PredictionWorker.for_checkpoint(checkpoint, self.project, images, SCORE_FLOOR, self),
                    f"predicting with {self.run.name}")

    def auto_label(self) -> None:
        path = coco_weights_path()
        if not path.is_file():
            self.update_weights_note()
            self.status.setText(f"Auto-label needs torchvision's COCO Mask R-CNN weights: put {path.name} into "
                                f"{path.parent} (torchvision downloads it there when online).")
            return
        images = unlabelled_images(self.project)
        mapping = self.mapping()
        if not images or not mapping:
            self.status.setText("Every image already has shapes." if not images else "The class mapping is empty.")
            return
        self._ensure_labels(set(mapping.values()))
        self._start(PredictionWorker.for_auto_label(self.project, images, mapping, SCORE_FLOOR,
                                                    *self.auto_label_sizes, parent=self),
                    f"auto-labelling {len(images)} unlabelled images")

    def _start(self, worker: PredictionWorker, what: str) -> None:
        if self.worker is not None:
            return
        self.document.save_all()
        self.worker = worker
        worker.progress.connect(self._on_progress)
        worker.succeeded.connect(self._on_succeeded)
        worker.failed.connect(self._on_failed)
        worker.finished.connect(self._on_worker_finished)
        self.progress.setRange(0, 0)
        self.progress.setFormat(what + "…")
        self.status.setText(what + "…")
        self._set_busy(True)
        worker.start()

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.status.setText("cancelling after the image under way…")

    def _on_progress(self, done: int, total: int, image: str) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"%v / %m — {image}")

    def _on_succeeded(self, written: dict) -> None:
        cancelled = self.worker is not None and self.worker.cancel_event.is_set()
        self.status.setText(f"Predictions written for {len(written)} image(s)" + (" (cancelled)" if cancelled else "")
                            + f" under {self.project.root / 'predictions'}.")
        self.load_current()

    def _on_failed(self, message: str) -> None:
        self.status.setText(message)
        self.window.notify(message.splitlines()[0])

    def _on_worker_finished(self) -> None:
        self.worker.deleteLater()
        self.worker = None
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self.progress.setFormat("done")
        self._set_busy(False)

    # -- the current image's predictions ------------------------------------------------------
    def load_current(self) -> None:
        self.predictions, self.accepted = [], []
        image = self.document.image
        if image is not None and (self.project.root / "predictions").is_dir():
            from core.training.predict import prediction_path, read_predictions

            if prediction_path(self.project, image).exists():
                try:
                    self.predictions = read_predictions(self.project, image)
                except MasklabError as e:
                    self.status.setText(f"Predictions unreadable: {e}")
        self.layer.set_predictions(self.predictions)
        self._set_busy(self.worker is not None)
        self.refresh()

    def refresh(self) -> None:
        """Hide predictions whose accepted shapes are in the annotation; redraw the list."""
        if not self.predictions and self.list.count() == 0:
            return  # nothing shown: leave the canvas's partial repaints alone while editing
        ann = self.document.annotation
        present = {id(s) for s in ann.shapes} if ann is not None else set()
        accepted_ids = {id(p) for p, shapes in self.accepted if any(id(s) in present for s in shapes)}
        self.layer.hidden = {i for i, p in enumerate(self.predictions) if id(p) in accepted_ids}
        if ann is not None:
            self.layer.set_ground_truth(np.array([s.bbox() for s in ann.region_shapes()]).reshape(-1, 4))
        self.list.blockSignals(True)
        self.list.clear()
        for i in self.layer.shown_indices():
            p = self.predictions[i]
            item = QListWidgetItem(f"{p.label}  {p.score:.2f}" + ("" if p.mask is not None else "  (box)"))
            item.setData(Qt.ItemDataRole.UserRole, i)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.layer.selected = None
        self.window.canvas.update()

    def _on_threshold(self, value: int) -> None:
        self.layer.threshold = value / 100
        self.threshold_label.setText(f"{value / 100:.2f}")
        self.refresh()

    def _on_show(self, shown: bool) -> None:
        self.layer.visible = shown
        self.window.canvas.update()

    def _on_list_selection(self) -> None:
        rows = self.selected_indices()
        self.layer.selected = rows[0] if rows else None
        self.window.canvas.update()

    def selected_indices(self) -> list[int]:
        return [item.data(Qt.ItemDataRole.UserRole) for item in self.list.selectedItems()]

    # -- accepting and rejecting --------------------------------------------------------------
    def accept(self, indices: list[int]) -> bool:
        if not indices:
            return False
        if not self.document.can_edit():
            self.status.setText(f"Cannot accept: {self.document.read_only_reason}")
            return False
        command = AcceptPredictions(self.document, [self.predictions[i] for i in indices])
        if command.is_empty():
            self.status.setText("The mask is too small to become a polygon.")
            return False
        self._ensure_labels({p.label for p, _ in command.accepted})
        self.accepted.extend(command.accepted)
        self.document.push(command)  # annotationChanged -> refresh hides them
        self.status.setText(f"Accepted {len(command.accepted)} prediction(s) as polygons (Ctrl+Z undoes).")
        return True

    def _ensure_labels(self, names: set[str]) -> None:
        if self.project.ensure_labels(names) and hasattr(self.window, "labels"):
            self.window.labels.refresh()

    def accept_selected(self) -> None:
        self.accept(self.selected_indices())

    def accept_all(self) -> None:
        self.accept(self.layer.shown_indices())

    def reject_selected(self) -> None:
        """Remove the selected predictions from the image's predictions file."""
        indices = set(self.selected_indices())
        if not indices or self.document.image is None:
            return
        from core.labelme_json import read_annotation, write_annotation
        from core.training.predict import prediction_path

        path = prediction_path(self.project, self.document.image)
        rejected = [self.predictions[i] for i in indices]
        try:
            stored = read_annotation(path)
            stored.shapes = [s for s in stored.shapes if not any(_same_prediction(s, p) for p in rejected)]
            write_annotation(path, stored)
        except (MasklabError, OSError) as e:
            self.status.setText(f"Could not update {path}: {e}")
            return
        self.status.setText(f"Rejected {len(rejected)} prediction(s).")
        self.load_current()

    # -- clicks on the canvas ------------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseButtonPress and event.button() == Qt.MouseButton.LeftButton \
                and self.pick_check.isChecked() and self.layer.visible and self.isVisible():
            pos = self.window.canvas.to_image(event.position())
            index = self.layer.prediction_at(pos.x(), pos.y())
            if index is not None:
                self._press_consumed = True
                self.accept([index])
                return True
        if event.type() == QEvent.Type.MouseButtonRelease and self._press_consumed:
            self._press_consumed = False
            return True
        return False

    def shutdown(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait(30000)


def _same_prediction(shape: Any, prediction: Any) -> bool:
    """Whether a stored predictions-file shape is this prediction (label, score and box agree)."""
    if shape.label != prediction.label or abs(float(shape.extra.get("score", 1.0)) - prediction.score) > 1e-6:
        return False
    x1, y1, x2, y2 = shape.bbox()
    if prediction.mask is not None:
        x2, y2 = x2 + 1, y2 + 1  # read_predictions' box of a mask is exclusive
    return bool(np.allclose((x1, y1, x2, y2), prediction.box, atol=1e-3))
