"""The RPN laboratory window: a checkpoint's objectness maps, proposals before and after NMS, and
the decoding of its regression output, for the image open in the main window.

Everything that needs torch runs on a worker thread (gui.rpnlab.compute, newest request wins);
this module imports no torch. The objectness map is also drawn over the photo on the main
canvas (ObjectnessLayer), with its own opacity."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QImage, QMouseEvent, QPixmap, QResizeEvent
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QPushButton, QSizePolicy, QSlider, QSpinBox,
                               QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from core.geometry import box_at

from ..anchors.worker import LatestRunner
from .compute import LabRequest, LabViews, compute_views
from .layer import OBJECTNESS_Z, ObjectnessLayer

DECODING_COLUMNS = ("anchor", "level", "anchor box", "target dx dy dw dh", "predicted", "decoded box",
                    "IoU anchor", "IoU decoded", "score")


class Picture(QLabel):
    """A picture scaled to fit, keeping its aspect ratio; `clicked(x, y)` in the picture's pixels."""

    clicked = Signal(float, float)

    def __init__(self) -> None:
        super().__init__()
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(200, 150)
        self._pixmap: QPixmap | None = None

    def set_array(self, rgb: np.ndarray | None) -> None:
        if rgb is None:
            self._pixmap = None
            self.clear()
            return
        rgb = np.ascontiguousarray(rgb[..., :3])
        h, w = rgb.shape[:2]
        self._pixmap = QPixmap.fromImage(QImage(rgb.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888).copy())
        self._fit()

    def _fit(self) -> None:
        if self._pixmap is not None:
            self.setPixmap(self._pixmap.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                               Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _shown_at(self) -> tuple[float, float, float] | None:
        """(left, top, picture pixels per widget pixel) of the scaled picture in the label."""
        shown = self.pixmap()
        if self._pixmap is None or shown is None or shown.isNull():
            return None
        return ((self.width() - shown.width()) / 2, (self.height() - shown.height()) / 2,
                self._pixmap.width() / shown.width())

    def to_widget(self, x: float, y: float) -> QPointF | None:
        """The picture's pixels -> widget point."""
        at = self._shown_at()
        return None if at is None else QPointF(at[0] + x / at[2], at[1] + y / at[2])

    def to_picture(self, pos: QPointF) -> tuple[float, float] | None:
        """Widget point -> the picture's pixels; None outside the picture."""
        at = self._shown_at()
        if at is None:
            return None
        x, y = (pos.x() - at[0]) * at[2], (pos.y() - at[1]) * at[2]
        inside = 0 <= x < self._pixmap.width() and 0 <= y < self._pixmap.height()
        return (x, y) if inside else None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        point = self.to_picture(event.position()) if event.button() == Qt.MouseButton.LeftButton else None
        if point is not None:
            self.clicked.emit(*point)
        super().mousePressEvent(event)


def _spin(value: float, low: float, high: float, step: float, tip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(2)
    box.setValue(value)
    box.setToolTip(tip)
    return box


def _int_spin(tip: str) -> QSpinBox:
    box = QSpinBox()
    box.setRange(0, 100000)
    box.setSpecialValueText("model's")
    box.setToolTip(tip)
    return box


def _row(*widgets: QWidget | str) -> QHBoxLayout:
    row = QHBoxLayout()
    for w in widgets:
        row.addWidget(QLabel(w) if isinstance(w, str) else w)
    row.addStretch(1)
    return row


def parse_weights(text: str) -> tuple[float, float, float, float] | None:
    """"" -> None (the model's), "2" -> (2, 2, 2, 2), "10, 10, 5, 5" -> those four; ValueError else."""
    parts = [p for p in text.replace(",", " ").split() if p]
    if not parts:
        return None
    values = [float(p) for p in parts]
    if len(values) == 1:
        values *= 4
    if len(values) != 4 or min(values) <= 0:
        raise ValueError("give one or four positive numbers")
    return tuple(values)  # type: ignore[return-value]


class RpnLabWindow(QWidget):
    def __init__(self, main_window: Any) -> None:
        super().__init__(main_window, Qt.WindowType.Window)
        self.main = main_window
        self.project = main_window.project
        self.setWindowTitle("RPN laboratory")
        self.resize(1280, 800)
        self.views: LabViews | None = None
        self.layer = ObjectnessLayer()
        main_window.canvas.add_layer(self.layer, OBJECTNESS_Z)
        self.runner = LatestRunner(self, debounce_ms=60)
        self.runner.finished.connect(self._on_views)
        self.runner.failed.connect(lambda _id, message: self.status.setText(f"Failed: {message}"))
        self.runner.busyChanged.connect(lambda busy: busy and self.status.setText("Computing…"))

        self.checkpoints = QComboBox()
        self.checkpoints.setMinimumWidth(420)
        self.checkpoints.setToolTip("best.pt / last.pt of the project's runs (PROJECT/runs/...)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh_checkpoints)
        self.status = QLabel()
        self.status.setWordWrap(True)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._objectness_tab(), "Objectness")
        self.tabs.addTab(self._proposals_tab(), "Proposals")
        self.tabs.addTab(self._decoding_tab(), "Decoding")

        layout = QVBoxLayout(self)
        top = _row("Checkpoint", self.checkpoints, browse, refresh)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(self.tabs, 1)
        self.checkpoints.currentIndexChanged.connect(lambda _i: self.request())
        main_window.document.imageChanged.connect(self._on_image_changed)
        self.refresh_checkpoints()

    # -- tabs ------------------------------------------------------------------------------------
    def _objectness_tab(self) -> QWidget:
        tab = QWidget()
        self.level = QComboBox()
        self.level.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.anchor = QComboBox()
        self.anchor.addItem("all (max)", None)
        self.on_canvas = QCheckBox("Show on the photo")
        self.canvas_map = QComboBox()
        self.canvas_map.addItem("predicted", "predicted")
        self.canvas_map.addItem("ground truth", "gt")
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(round(self.layer.opacity * 100))
        self.opacity.setFixedWidth(140)
        self.opacity.setToolTip("Opacity of the map drawn over the photo")
        self.objectness_picture = Picture()
        layout = QVBoxLayout(tab)
        layout.addLayout(_row("Level", self.level, "Cell anchor", self.anchor, self.on_canvas, self.canvas_map,
                              "Opacity", self.opacity))
        layout.addWidget(self.objectness_picture, 1)
        self.level.currentIndexChanged.connect(lambda _i: self.request())
        self.anchor.currentIndexChanged.connect(lambda _i: self.request())
        self.on_canvas.toggled.connect(self._update_layer)
        self.canvas_map.currentIndexChanged.connect(lambda _i: self._update_layer())
        self.opacity.valueChanged.connect(self._update_layer)
        return tab

    def _proposals_tab(self) -> QWidget:
        tab = QWidget()
        self.nms = _spin(0.7, 0.0, 1.0, 0.05, "NMS IoU threshold (the model's is 0.7)")
        self.score = _spin(0.5, 0.0, 1.0, 0.05, "objectness from which a proposal is positive (yellow)")
        self.pre_top = _int_spin("proposals kept per level before NMS (0: the model's)")
        self.post_top = _int_spin("proposals kept after NMS (0: the model's)")
        self.recall = QLabel()
        self.proposals_picture = Picture()
        layout = QVBoxLayout(tab)
        layout.addLayout(_row("NMS IoU", self.nms, "Score ≥", self.score, "Pre-NMS top-n", self.pre_top,
                              "Post-NMS top-n", self.post_top))
        layout.addWidget(self.recall)
        layout.addWidget(self.proposals_picture, 1)
        for box in (self.nms, self.score, self.pre_top, self.post_top):
            box.valueChanged.connect(lambda _v: self.request())
        return tab

    def _decoding_tab(self) -> QWidget:
        tab = QWidget()
        self.weights = QLineEdit()
        self.weights.setPlaceholderText("the model's (1, 1, 1, 1)")
        self.weights.setToolTip("BoxCoder weights wx, wy, ww, wh, or one number for all four (the study uses 2)")
        self.weights.setFixedWidth(200)
        self.weights.editingFinished.connect(self.request)
        self.table = QTableWidget(0, len(DECODING_COLUMNS))
        self.table.setHorizontalHeaderLabels(DECODING_COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMaximumHeight(190)
        self.table.currentCellChanged.connect(lambda row, *_: row >= 0 and self._pick(row))
        self.decoding_picture = Picture()
        self.decoding_picture.clicked.connect(self._pick_at)
        self.decoding_picture.setToolTip("Click an anchor on the left to pick it")
        layout = QVBoxLayout(tab)
        layout.addLayout(_row("Box coder weights", self.weights,
                              "positive anchors of the training assignment; pick a row, or click an anchor "
                              "in the left picture, to see it decoded"))
        layout.addWidget(self.table)
        layout.addWidget(self.decoding_picture, 1)
        self.picked = 0
        return tab

    # -- checkpoints -------------------------------------------------------------------------------
    def refresh_checkpoints(self) -> None:
        current = self.checkpoints.currentData()
        found = sorted((self.project.root / "runs").glob("*/best.pt"), reverse=True)
        found += sorted((self.project.root / "runs").glob("*/last.pt"), reverse=True)
        self.checkpoints.blockSignals(True)
        self.checkpoints.clear()
        for path in found:
            self.checkpoints.addItem(path.relative_to(self.project.root).as_posix(), str(path))
        if current and self.checkpoints.findData(current) < 0:
            self.checkpoints.addItem(current, current)
        if current:
            self.checkpoints.setCurrentIndex(self.checkpoints.findData(current))
        self.checkpoints.blockSignals(False)
        if not self.checkpoints.count():
            self.status.setText("No checkpoint: train a model (Train menu) or browse for a .pt file")

    def set_checkpoint(self, path: str | Path) -> None:
        path = str(Path(path))
        if self.checkpoints.findData(path) < 0:
            self.checkpoints.addItem(path, path)
        self.checkpoints.setCurrentIndex(self.checkpoints.findData(path))

    def browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Checkpoint", str(self.project.root), "Checkpoints (*.pt)")
        if path:
            self.set_checkpoint(path)

    # -- requests ----------------------------------------------------------------------------------
    def current_request(self) -> LabRequest | None:
        checkpoint = self.checkpoints.currentData()
        image = self.main.document.image
        if not checkpoint or image is None:
            return None
        try:
            weights = parse_weights(self.weights.text())
            self.weights.setStyleSheet("")
        except ValueError as e:
            self.weights.setStyleSheet("border: 1px solid #d33;")
            self.status.setText(f"Box coder weights: {e}")
            return None
        return LabRequest(Path(checkpoint), Path(image).as_posix(), level=max(0, self.level.currentIndex()),
                          anchor=self.anchor.currentData(), nms=self.nms.value(), score=self.score.value(),
                          pre_nms_top_n=self.pre_top.value() or None, post_nms_top_n=self.post_top.value() or None,
                          weights=weights, picked=self.picked)

    def request(self) -> None:
        req = self.current_request()
        if req is not None:
            self.runner.schedule(compute_views, self.project, req)

    def _pick_at(self, x: float, y: float) -> None:
        """A click on the decoding picture picks the anchor under it (its table row)."""
        boxes = self.views.decoding_boxes if self.views is not None else None
        row = box_at(boxes, x, y) if boxes is not None else None
        if row is not None:
            self.table.selectRow(row)

    def _pick(self, row: int) -> None:
        if row != self.picked:
            self.picked = row
            self.request()

    def _on_image_changed(self, _image: str) -> None:
        self._update_layer()
        if self.isVisible():
            self.request()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh_checkpoints()
        self.request()

    # -- results -----------------------------------------------------------------------------------
    def _on_views(self, _request: int, views: LabViews) -> None:
        self.views = views
        req = views.request
        self._fill_combo(self.level, [f"{lvl}: stride {stride}, {cells} cells, {a} anchor{'s' if a > 1 else ''}" for lvl, stride, a, cells
                                      in views.levels], req.level)
        anchors = views.levels[min(req.level, len(views.levels) - 1)][2]
        self._fill_combo(self.anchor, ["all (max)"] + [str(a) for a in range(anchors)],
                         0 if req.anchor is None else req.anchor + 1, [None, *range(anchors)])
        self.objectness_picture.set_array(views.objectness)
        self.proposals_picture.set_array(views.proposals)
        self.decoding_picture.set_array(views.decoding)
        r = views.recall
        fmt = lambda d: ", ".join(f"IoU {k[3:]}: " + ("n/a" if v is None else f"{v:.2f}") for k, v in d.items())  # noqa: E731
        c = views.counts
        self.recall.setText(f"Recall of the positive proposals after NMS — {fmt(r['after_nms_positive'])};  "
                            f"of all {c['after_nms']} kept — {fmt(r['after_nms_all'])}")
        self._fill_table(views.decoding_rows, req.picked)
        s = views.summary
        d = views.defaults
        self.status.setText(
            f"{views.model_name} on {req.image}: {s['positive_predicted_above_0.5']} of {s['positive_cells']} "
            f"positive cells predicted above 0.5, {s['negative_predicted_above_0.5']} of {s['negative_cells']} "
            f"negative cells; {c['before_nms']} proposals before NMS, {c['after_nms']} after (model: "
            f"NMS {d['nms']:g}, top-n {d['pre_nms_top_n']}/{d['post_nms_top_n']}, box weights "
            + ",".join(f"{x:g}" for x in d["weights"]) + ")")
        self._update_layer()

    def _fill_combo(self, combo: QComboBox, texts: list[str], index: int, data: list | None = None) -> None:
        if [combo.itemText(i) for i in range(combo.count())] != texts:
            combo.blockSignals(True)
            combo.clear()
            for k, t in enumerate(texts):
                combo.addItem(t, data[k] if data else None)
            combo.blockSignals(False)
        combo.blockSignals(True)
        combo.setCurrentIndex(min(index, combo.count() - 1))
        combo.blockSignals(False)

    def _fill_table(self, rows: list[list[str]], picked: int | None) -> None:
        self.table.blockSignals(True)
        if self.table.rowCount() != len(rows) or any(
                self.table.item(r, 3) is None or self.table.item(r, 3).text() != rows[r][3] for r in range(len(rows))):
            self.table.setRowCount(len(rows))
            for r, values in enumerate(rows):
                for c, text in enumerate(values):
                    self.table.setItem(r, c, QTableWidgetItem(text))
        if rows:
            self.table.selectRow(min(picked or 0, len(rows) - 1))
        self.table.blockSignals(False)

    def _update_layer(self) -> None:
        v = self.views
        self.layer.opacity = self.opacity.value() / 100
        current = self.main.document.image
        # a result for another image (the user moved on) is not drawn over this one
        self.layer.visible = (self.on_canvas.isChecked() and v is not None and current is not None
                              and Path(current).as_posix() == v.request.image)
        if v is not None:
            kind = self.canvas_map.currentData()
            values = v.cells_gt if kind == "gt" else v.cells_predicted
            self.layer.set_cells(values, kind, *v.cell_size, v.photo_size)
        self.main.canvas.request_repaint()

    def shutdown(self) -> None:
        self.runner.cancel()
        self.runner.wait()
