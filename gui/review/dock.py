"""The review dock: predict with a run's checkpoint (or auto-label with COCO weights), show the
masks over the photo, and accept or reject them one by one or all those shown.

Predictions live in PROJECT/predictions/ (core.predictions) and never change the annotations;
accepting one pushes an undoable command that adds its polygons as ordinary shapes, simplified
at the project's tolerance (settings["review"]["polygon_tolerance_px"], set here)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QDockWidget, QListWidgetItem

from core.errors import MasklabError
from core.geometry import polygon_tolerance
from core.predictions import (Prediction, accepted_prediction_ids, prediction_path, read_predictions,
                              remove_predictions, threshold_to_show)
from core.training.auto_label import coco_weights_path, unlabelled_images

from ..style import color_swatch
from .commands import AcceptPredictions, RejectPredictions
from .layer import PREDICTIONS_Z, PredictionsLayer
from .ui import setup_review_ui
from .worker import PredictionWorker

SCORE_FLOOR = 0.05  # what is stored; the slider filters above it
DEFAULT_THRESHOLD = 0.5
SHOW_BEST = 10  # "show them" lowers the threshold to show this many of the best hidden ones
SAVE_DELAY_MS = 400  # the tolerance is written to the project file once the spin box settles
LIST_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Delete, Qt.Key.Key_Backspace)
LIST_HINTS = (("Enter", "accept the selected predictions"),
              ("Delete or Backspace", "reject the selected predictions"),
              ("Click a prediction on the photo", "accept it (with \"Click to accept\" on)"))


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
        self.layer.tolerance = polygon_tolerance(self.project.settings)
        self.predictions: list[Prediction] = []
        self._press_consumed = False
        self._save_timer = QTimer(self, singleShot=True, interval=SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self._save_tolerance)
        self._build()
        window.canvas.add_layer(self.layer, PREDICTIONS_Z)
        window.canvas.installEventFilter(self)
        self.document.imageChanged.connect(lambda _image: self.load_current())
        self.document.annotationChanged.connect(self.refresh)
        labels = getattr(window, "labels", None)
        if labels is not None and hasattr(labels, "labelsChanged"):
            labels.labelsChanged.connect(self._fill_label_choice)

    # -- building ---------------------------------------------------------------------------
    def _build(self) -> None:
        setup_review_ui(self, DEFAULT_THRESHOLD, SCORE_FLOOR, self.layer.tolerance)
        self._fill_label_choice()
        self.predict_current_button.clicked.connect(self.predict_current)
        self.predict_all_button.clicked.connect(self.predict_all)
        self.cancel_button.clicked.connect(self.cancel)
        self.threshold_slider.valueChanged.connect(self._on_threshold)
        self.show_hidden_button.clicked.connect(self.show_hidden)
        self.show_check.toggled.connect(self._on_show)
        self.list.itemSelectionChanged.connect(self._on_list_selection)
        self.accept_button.clicked.connect(self.accept_selected)
        self.accept_all_button.clicked.connect(self.accept_all)
        self.reject_button.clicked.connect(self.reject_selected)
        self.tolerance_spin.valueChanged.connect(self._on_tolerance)
        self.auto_box.auto_label_button.clicked.connect(self.auto_label)
        self.list.installEventFilter(self)  # Enter accepts, Delete rejects
        self.label_choice.installEventFilter(self)  # typing picks a label
        self._on_threshold(self.threshold_slider.value())
        self._set_busy(False)

    def _fill_label_choice(self) -> None:
        current = self.label_choice.currentData()
        self.label_choice.blockSignals(True)
        self.label_choice.clear()
        self.label_choice.addItem("the predicted label", None)
        for name in self.project.label_names():
            self.label_choice.addItem(color_swatch(self.project.color_of(name)), name, name)
        index = self.label_choice.findData(current)
        self.label_choice.setCurrentIndex(max(index, 0))
        self.label_choice.blockSignals(False)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.auto_box.update_weights_note()

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
        self.auto_box.auto_label_button.setEnabled(not busy)
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
        if not self.auto_box.update_weights_note():
            path = coco_weights_path()
            self.status.setText(f"Auto-label needs torchvision's COCO Mask R-CNN weights: put {path.name} into "
                                f"{path.parent} (torchvision downloads it there when online).")
            return
        images = unlabelled_images(self.project)
        mapping = self.auto_box.mapping()
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
        self.status.setText(f"Predictions written for {len(written)} image(s)" + (" (cancelled)." if cancelled else "."))
        self.status.setToolTip(f"in {self.project.root / 'predictions'}")
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
        self.predictions = []
        image = self.document.image
        if image is not None and prediction_path(self.project, image).exists():
            try:
                self.predictions = read_predictions(self.project, image)
            except MasklabError as e:
                self.status.setText(f"Predictions unreadable: {e}")
        self.layer.set_predictions(self.predictions)
        self._set_busy(self.worker is not None)
        self.refresh()
        self.window.canvas.update()

    def refresh(self) -> None:
        """Hide predictions whose accepted shapes are in the annotation; redraw the list."""
        if not self.predictions:  # nothing drawn: leave the canvas's partial repaints alone while editing
            self.list.clear()
            self._update_summary()
            return
        ann = self.document.annotation
        self.layer.hidden = accepted_prediction_ids(ann)
        if ann is not None:
            self.layer.set_ground_truth(np.array([s.bbox() for s in ann.region_shapes()]).reshape(-1, 4))
        selected = set(self.selected_ids())
        self.list.blockSignals(True)
        self.list.clear()
        for it in self.layer.shown():
            p = it.prediction
            item = QListWidgetItem(color_swatch(self.document.color_of(p.label)),
                                   f"{p.label}  {p.score:.2f}" + ("" if p.mask is not None else "  (box)"))
            item.setData(Qt.ItemDataRole.UserRole, p.id)
            self.list.addItem(item)
            item.setSelected(p.id in selected)
        self.list.blockSignals(False)
        self._update_summary()
        self._on_list_selection()

    def _update_summary(self) -> None:
        """How many there are, how many the threshold hides and the best score; "show them"
        when nothing is shown although predictions exist (a weak model under 0.50)."""
        pending = [p for p in self.predictions if p.id not in self.layer.hidden]
        threshold = self.layer.threshold
        below = [p.score for p in pending if p.score < threshold]
        shown = len(pending) - len(below)
        if not self.predictions:
            text = "No predictions for this image." if self.document.image is not None else ""
        elif not pending:
            text = f"All {len(self.predictions)} predictions accepted."
        elif not shown:
            best = math.floor(max(below) * 100) / 100  # rounded down: 0.499 must not read "best 0.50"
            text = f"{len(below)} prediction{'s' if len(below) != 1 else ''} below {threshold:.2f}, best {best:.2f}"
        else:
            text = f"{shown} shown" + (f", {len(below)} below {threshold:.2f}" if below else "")
        self.summary_label.setText(text)
        self.show_hidden_button.setVisible(bool(below) and not shown)
        if below:
            to = threshold_to_show(below, SHOW_BEST, SCORE_FLOOR)
            self.show_hidden_button.setText("Show them" if len(below) <= SHOW_BEST else f"Show the best {SHOW_BEST}")
            self.show_hidden_button.setToolTip(f"Lower the score threshold to {to:.2f}")

    def show_hidden(self) -> None:
        """Lower the threshold so the best hidden predictions (up to SHOW_BEST) are shown."""
        below = [p.score for p in self.predictions if p.id not in self.layer.hidden and p.score < self.layer.threshold]
        if below:
            self.threshold_slider.setValue(round(threshold_to_show(below, SHOW_BEST, SCORE_FLOOR) * 100))

    def _on_threshold(self, value: int) -> None:
        self.layer.threshold = value / 100
        self.threshold_label.setText(f"{value / 100:.2f}")
        self.refresh()

    def _on_show(self, shown: bool) -> None:
        self.layer.visible = shown
        self.window.canvas.update()

    def _on_tolerance(self, value: float) -> None:
        self.layer.tolerance = float(value)
        # in memory at once (the assisted-polygon tool reads the same setting), on disk once it settles
        self.project.settings.setdefault("review", {})["polygon_tolerance_px"] = self.layer.tolerance
        self._save_timer.start()
        self._on_list_selection()

    def _save_tolerance(self) -> None:
        if not self.project.save():
            self.status.setText(f"The polygon tolerance is used but not saved: {self.project.save_error}")

    def _on_list_selection(self) -> None:
        ids = self.selected_ids()
        self.layer.selected = ids[0] if ids else None
        item = self.layer.item(self.layer.selected)
        if item is None:
            self.selection_label.setText("")
        elif item.prediction.mask is None:
            self.selection_label.setText(f"Selected: {item.prediction.label} {item.prediction.score:.2f}, a box")
        else:
            vertices = sum(poly.size() for poly in self.layer.outlines(item))
            self.selection_label.setText(f"Selected: {item.prediction.label} {item.prediction.score:.2f}, "
                                         f"{vertices} vertices at {self.layer.tolerance:.1f} px")
        self.window.canvas.update()

    def selected_ids(self) -> list[str]:
        return [item.data(Qt.ItemDataRole.UserRole) for item in self.list.selectedItems()]

    # -- accepting and rejecting --------------------------------------------------------------
    def accept(self, ids: list[str]) -> bool:
        if not ids:
            return False
        if not self.document.can_edit():
            self.status.setText(f"Cannot accept: {self.document.read_only_reason}")
            return False
        chosen = [p for p in self.predictions if p.id in set(ids)]
        label = self.label_choice.currentData()
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)  # a weak model's ragged masks take a while
        try:
            command = AcceptPredictions(self.document, chosen, self.layer.tolerance, label)
        finally:
            QApplication.restoreOverrideCursor()
        if command.is_empty():
            self.status.setText("The mask is too small to become a polygon.")
            return False
        self._ensure_labels({s.label for s in command.shapes})
        row = self._first_selected_row()
        self.document.push(command)  # annotationChanged -> refresh hides them
        self._select_row_if_none(row)
        vertices = sum(len(s.points) for s in command.shapes)
        as_label = f" as {label}" if label else ""
        self.status.setText(f"Accepted {len(command.accepted)} prediction(s){as_label}: {len(command.shapes)} "
                            f"polygon(s), {vertices} vertices (Ctrl+Z undoes).")
        return True

    def _ensure_labels(self, names: set[str]) -> None:
        if self.project.ensure_labels(names) and hasattr(self.window, "labels"):
            self.window.labels.refresh()
            self._fill_label_choice()

    def accept_selected(self) -> None:
        self.accept(self.selected_ids())

    def accept_all(self) -> None:
        self.accept([it.prediction.id for it in self.layer.shown()])

    def reject_selected(self) -> None:
        """Take the selected predictions out of the image's predictions file (Ctrl+Z puts them back)."""
        ids = self.selected_ids()
        image = self.document.image
        if not ids or image is None:
            return
        try:
            removed = remove_predictions(self.project, image, ids)
        except (MasklabError, OSError) as e:
            self.status.setText(f"Could not update {prediction_path(self.project, image)}: {e}")
            return
        row = self._first_selected_row()
        command = RejectPredictions(self.project, image, removed, self._reload_if_showing(image), self.status.setText)
        undoable = self.document.push(command)  # a read-only image keeps its annotation: no undo step then
        self.status.setText(f"Rejected {len(removed)} prediction(s)" + (" (Ctrl+Z undoes)." if undoable else "."))
        self.load_current()
        self._select_row_if_none(row)

    def _reload_if_showing(self, image: Path) -> Callable[[], None]:
        """After an undo or redo of a rejection: show the file again if its image is the open one."""
        def reload() -> None:
            if self.document.image == image:
                self.load_current()
        return reload

    def _first_selected_row(self) -> int | None:
        rows = [self.list.row(item) for item in self.list.selectedItems()]
        return min(rows) if rows else None

    def _select_row_if_none(self, row: int | None) -> None:
        """After accepting or rejecting from the list, the next prediction is selected: Enter and
        Delete can go on through the list."""
        if row is not None and not self.list.selectedItems() and self.list.count():
            self.list.setCurrentRow(min(row, self.list.count() - 1))

    # -- keys in the list, clicks on the canvas -----------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.list and event.type() == QEvent.Type.ShortcutOverride and event.key() in LIST_KEYS:
            event.accept()  # these keys act on the list, not through the window's shortcuts (Del deletes shapes)
            return True
        if obj is self.label_choice and event.type() == QEvent.Type.ShortcutOverride and event.text().isprintable() \
                and event.text() and not event.modifiers() & ~Qt.KeyboardModifier.ShiftModifier:
            event.accept()  # typing picks a label here, not the window's one-letter shortcuts (N: next image)
            return True
        if obj is self.list and event.type() == QEvent.Type.KeyPress:
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.accept_selected()
                return True
            if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
                self.reject_selected()
                return True
            return False
        if event.type() == QEvent.Type.MouseButtonPress and event.button() == Qt.MouseButton.LeftButton \
                and self.pick_check.isChecked() and self.layer.visible and self.isVisible():
            pos = self.window.canvas.to_image(event.position())
            prediction_id = self.layer.prediction_at(pos.x(), pos.y())
            if prediction_id is not None:
                self._press_consumed = True
                self.accept([prediction_id])
                return True
        if event.type() == QEvent.Type.MouseButtonRelease and self._press_consumed:
            self._press_consumed = False
            return True
        return False

    def shutdown(self) -> None:
        if self._save_timer.isActive():
            self._save_timer.stop()
            self._save_tolerance()
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait(30000)
