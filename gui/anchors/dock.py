"""The anchors dock: the RPN's target assignment of the open photo, live.

The preview is `core.anchors.preview.preview_assignment` (the same assignment training uses),
computed on a worker thread 30 ms after the last change (a polygon edit, even mid-drag, or a
setting), newest result wins. Filters only change what the overlay draws, without recomputing.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDockWidget, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout,
                               QLabel, QLineEdit, QPushButton, QScrollArea, QSlider, QSpinBox, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from core.anchors.boxes import annotation_boxes
from core.anchors.config import (IGNORE, NEGATIVE, POSITIVE, AnchorConfig, config_strides,
                                 set_project_anchor_config)
from core.models.specs import training_anchor_config

if TYPE_CHECKING:  # torch loads on the first preview, not when the window opens
    from core.anchors.preview import AnchorPreview
from core.annotation import Annotation, Shape

from .config_text import fmt_ratio, format_ratios, format_sizes, parse_ratios, parse_sizes, training_problem
from .layer import ANCHORS_Z, CLASS_COLORS, CLASS_NAMES, AnchorOverlayLayer
from .worker import LatestRunner

MAX_DRAWN = 40_000  # above this the overlay draws an even subset (and says so)
PRESETS = {
    "FPN default (32–512 px, ratios 0.5, 1, 2)": AnchorConfig.fpn_default(),
    "Classic single anchor (64 px, ratio 0.66, stride 16)": AnchorConfig.classic_single(),
}
PROJECT_ITEM, CUSTOM_ITEM = "Project settings", "Custom"
ERROR_STYLE = "color: #c62828;"


# -- the open photo's objects ----------------------------------------------------------------------
@dataclass
class PhotoObjects:
    """The annotation's objects as the preview sees them (core.anchors.boxes), with the shapes
    that make each one, captured at request time."""

    image_size: tuple[int, int]
    boxes: np.ndarray
    labels: list[str]
    parts: list[list[Shape]]  # each object's shapes

    def object_of(self, shape: Shape) -> int | None:
        return next((k for k, parts in enumerate(self.parts) if any(p is shape for p in parts)), None)


def photo_objects(annotation: Annotation) -> PhotoObjects:
    """One box per instance, exactly the boxes of `annotation_boxes(annotation)`, in its order."""
    boxes, labels, members = [], [], []
    for _label, parts in annotation.instances():
        found = annotation_boxes(Annotation(annotation.image_path, annotation.image_height, annotation.image_width, parts))
        if len(found):
            boxes.append(found.boxes[0])
            labels.append(found.labels[0])
            members.append(list(parts))
    return PhotoObjects((int(annotation.image_width), int(annotation.image_height)),
                        np.array(boxes, dtype=np.float64).reshape(-1, 4), labels, members)


@dataclass
class PreviewResult:
    preview: AnchorPreview
    objects: PhotoObjects


def compute_preview(objects: PhotoObjects, config: AnchorConfig) -> PreviewResult:
    from core.anchors.preview import preview_assignment

    return PreviewResult(preview_assignment(objects.image_size, objects.boxes, config), objects)


# -- the dock ------------------------------------------------------------------------------------
class KeySlider(QSlider):
    """A slider that keeps its keys: the window binds Left / Right to previous / next image, and a
    window shortcut would otherwise take the arrow keys from a focused slider."""

    KEYS = (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp,
            Qt.Key.Key_PageDown, Qt.Key.Key_Home, Qt.Key.Key_End)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and event.key() in self.KEYS:
            event.accept()
            return True
        return super().event(event)


def _slider(maximum: int = 100) -> QSlider:
    s = KeySlider(Qt.Orientation.Horizontal)
    s.setRange(0, maximum)
    s.setSingleStep(1)
    s.setPageStep(5)
    return s


class AnchorsDock(QDockWidget):
    configChanged = Signal(object)  # the AnchorConfig now previewed
    previewUpdated = Signal()

    def __init__(self, window) -> None:
        super().__init__("Anchors", window)
        self.setObjectName("AnchorsDock")
        self.window_ = window
        self.document = window.document
        self.canvas = window.canvas
        self.project = window.project
        self.result: PreviewResult | None = None
        self.focus_shape: Shape | None = None
        self.stats_window = None
        self.notice = ""  # the last outcome worth keeping on screen (saved, a settings problem)
        self.notice_is_error = False
        self.layer = AnchorOverlayLayer(self.canvas)
        self.layer.visible = False
        self.canvas.add_layer(self.layer, ANCHORS_Z)
        self.runner = LatestRunner(self)
        self._build()
        self.config = self._project_config()
        self._show_config(self.config)
        self._connect()

    # -- building ---------------------------------------------------------------------------
    def _build(self) -> None:
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        self.overlay_check = QCheckBox("Show anchor overlay")
        self.overlay_check.setChecked(True)
        layout.addWidget(self.overlay_check)

        anchors = QGroupBox("Anchors")
        form = QFormLayout(anchors)
        self.preset_combo = QComboBox()
        self.preset_combo.addItems([PROJECT_ITEM, *PRESETS, CUSTOM_ITEM])
        self.sizes_edit = QLineEdit()
        self.sizes_edit.setToolTip("One size (px, square root of the anchor area) per feature level, "
                                   "comma separated; several sizes on a level: 32/48, 64/96")
        self.ratios_edit = QLineEdit()
        self.ratios_edit.setToolTip("Aspect ratios height / width, used on every level; per level: 0.5, 1; 1, 2")
        self.strides_label = QLabel()
        self.config_error = QLabel()
        self.config_error.setStyleSheet(ERROR_STYLE)
        self.config_error.setWordWrap(True)
        form.addRow("Preset", self.preset_combo)
        form.addRow("Sizes per level", self.sizes_edit)
        form.addRow("Ratios (h/w)", self.ratios_edit)
        form.addRow("Levels", self.strides_label)
        form.addRow(self.config_error)
        layout.addWidget(anchors)

        matcher = QGroupBox("Assignment (Matcher, sampler)")
        mform = QFormLayout(matcher)
        self.fg_slider, self.bg_slider = _slider(), _slider()
        self.fg_value, self.bg_value = QLabel(), QLabel()
        for text, slider, value in (("Foreground IoU ≥", self.fg_slider, self.fg_value),
                                    ("Background IoU <", self.bg_slider, self.bg_value)):
            row = QHBoxLayout()
            row.addWidget(slider, 1)
            value.setMinimumWidth(34)
            row.addWidget(value)
            mform.addRow(text, row)
        self.low_quality_check = QCheckBox("Keep low-quality matches (each object's best anchors)")
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 100_000)
        self.positive_fraction_spin = QDoubleSpinBox()
        self.positive_fraction_spin.setRange(0.01, 1.0)
        self.positive_fraction_spin.setSingleStep(0.05)
        self.positive_fraction_spin.setDecimals(2)
        mform.addRow(self.low_quality_check)
        mform.addRow("Sampled per image", self.batch_spin)
        mform.addRow("Positive fraction", self.positive_fraction_spin)
        layout.addWidget(matcher)

        filters = QGroupBox("Show")
        fl = QVBoxLayout(filters)
        classes = QHBoxLayout()
        self.class_checks: dict[int, QCheckBox] = {}
        for value in (POSITIVE, NEGATIVE, IGNORE):
            check = QCheckBox(CLASS_NAMES[value])
            check.setChecked(value != NEGATIVE)  # negatives are nearly every anchor: off at first
            check.setStyleSheet(f"QCheckBox {{ color: {CLASS_COLORS[value]}; font-weight: bold; }}"
                                if value != POSITIVE else "QCheckBox { color: #b08d00; font-weight: bold; }")
            self.class_checks[value] = check
            classes.addWidget(check)
        fl.addLayout(classes)
        self.sampled_check = QCheckBox("Sampled only (the mini-batch the loss sees)")
        fl.addWidget(self.sampled_check)
        self.level_row = QHBoxLayout()
        self.level_checks: list[QCheckBox] = []
        fl.addLayout(self.level_row)
        pick = QHBoxLayout()
        self.size_combo, self.ratio_combo = QComboBox(), QComboBox()
        pick.addWidget(QLabel("Size"))
        pick.addWidget(self.size_combo, 1)
        pick.addWidget(QLabel("Ratio"))
        pick.addWidget(self.ratio_combo, 1)
        fl.addLayout(pick)
        layout.addWidget(filters)

        result = QGroupBox("Assignment on this photo")
        rl = QVBoxLayout(result)
        self.input_label = QLabel()
        self.counts_label = QLabel()
        self.sampled_label = QLabel()
        self.drawn_label = QLabel()
        for label in (self.input_label, self.counts_label, self.sampled_label, self.drawn_label):
            label.setWordWrap(True)
            rl.addWidget(label)
        self.level_table = QTableWidget(0, 6)
        self.level_table.setHorizontalHeaderLabels(["level", "stride", "anchors", "positive", "negative", "ignore"])
        self.level_table.verticalHeader().hide()
        self.level_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        rl.addWidget(self.level_table)
        self.object_label = QLabel("Click an object on the photo to see its anchors.")
        self.object_label.setWordWrap(True)
        rl.addWidget(self.object_label)
        layout.addWidget(result)

        buttons = QHBoxLayout()
        self.stats_button = QPushButton("Statistics…")
        self.apply_button = QPushButton("Apply to training settings")
        buttons.addWidget(self.stats_button)
        buttons.addWidget(self.apply_button)
        layout.addLayout(buttons)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # only scroll down
        scroll.setWidget(body)
        self.setWidget(scroll)
        self.setMinimumWidth(body.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 4)

    def _connect(self) -> None:
        self.document.annotationChanged.connect(self.request_preview)
        self.document.imageChanged.connect(self._on_image_changed)
        self.document.selectionChanged.connect(self._on_selection)
        self.runner.finished.connect(self._on_result)
        self.runner.failed.connect(self._on_failure)
        self.runner.busyChanged.connect(lambda busy: busy and self._say("computing…"))
        self.visibilityChanged.connect(self._on_visibility)
        self.overlay_check.toggled.connect(self._sync_layer_visibility)
        self.preset_combo.activated.connect(self._on_preset)
        self.sizes_edit.editingFinished.connect(self._on_anchor_text)
        self.ratios_edit.editingFinished.connect(self._on_anchor_text)
        self.fg_slider.valueChanged.connect(lambda v: self._on_threshold("fg", v))
        self.bg_slider.valueChanged.connect(lambda v: self._on_threshold("bg", v))
        self.low_quality_check.toggled.connect(lambda on: self._set_config(allow_low_quality_matches=on))
        self.batch_spin.valueChanged.connect(lambda v: self._set_config(batch_size_per_image=v))
        self.positive_fraction_spin.valueChanged.connect(lambda v: self._set_config(positive_fraction=round(v, 4)))
        for check in (*self.class_checks.values(), self.sampled_check):
            check.toggled.connect(self.refresh_overlay)
        self.size_combo.currentIndexChanged.connect(self.refresh_overlay)
        self.ratio_combo.currentIndexChanged.connect(self.refresh_overlay)
        self.stats_button.clicked.connect(self.open_statistics)
        self.apply_button.clicked.connect(self.apply_to_project)
        self.canvas.installEventFilter(self)
        self.window_.installEventFilter(self)

    # -- state ----------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """The anchors mode is on: the dock is shown."""
        return not self.isHidden()

    def _project_config(self) -> AnchorConfig:
        """The anchors training will use (the project's settings when they fit its model); the FPN
        default (and a notice saying why) when unusable."""
        try:
            config = training_anchor_config(self.project)
            stored = self.project.settings.get("anchors")
            if stored and len(stored.get("sizes", ())) != len(config.sizes):
                self._set_notice(f"The project's anchor settings have {len(stored['sizes'])} level(s), but its "
                                 f"training model needs {len(config.sizes)}: showing what training will use.")
            return config
        except (ValueError, TypeError) as e:
            self._set_notice(f"{self.project.project_file}: the anchor settings are unusable ({e}); "
                             f"showing the model's default anchors", error=True)
            return training_anchor_config(self.project, project_anchors=False)

    def _set_notice(self, text: str, error: bool = False) -> None:
        self.notice, self.notice_is_error = text, error
        self._say(text, error)

    def _say(self, text: str, error: bool = False) -> None:
        """A passing message ("computing…", a failure); empty text shows the kept notice again."""
        if not text:
            text, error = self.notice, self.notice_is_error
        self.status_label.setStyleSheet(ERROR_STYLE if error else "")
        self.status_label.setText(text)

    def _show_config(self, config: AnchorConfig) -> None:
        """Put `config` into the editors without triggering edits."""
        widgets = (self.sizes_edit, self.ratios_edit, self.fg_slider, self.bg_slider, self.low_quality_check,
                   self.batch_spin, self.positive_fraction_spin)
        for w in widgets:
            w.blockSignals(True)
        self.sizes_edit.setText(format_sizes(config.sizes))
        self.ratios_edit.setText(format_ratios(config.aspect_ratios))
        self.fg_slider.setValue(round(config.fg_iou_thresh * 100))
        self.bg_slider.setValue(round(config.bg_iou_thresh * 100))
        self.low_quality_check.setChecked(config.allow_low_quality_matches)
        self.batch_spin.setValue(config.batch_size_per_image)
        self.positive_fraction_spin.setValue(config.positive_fraction)
        for w in widgets:
            w.blockSignals(False)
        self.fg_value.setText(f"{config.fg_iou_thresh:.2f}")
        self.bg_value.setText(f"{config.bg_iou_thresh:.2f}")
        strides = ", ".join(str(s) for s in config_strides(config))
        strides = f"stride {strides} (single-level backbone)" if config.strides else f"FPN, strides {strides}"
        self.strides_label.setText(f"{len(config.sizes)}: {strides}")
        problem = training_problem(config)
        self.config_error.setText(f"Training could not use this: {problem}" if problem else "")

    def set_config(self, config: AnchorConfig, preset: str = CUSTOM_ITEM) -> None:
        """Preview `config` (from a preset, the statistics window or the editors)."""
        self.config = config
        self._show_config(config)
        self.preset_combo.setCurrentText(preset)
        self.configChanged.emit(config)
        self.request_preview()

    def _set_config(self, **changes) -> None:
        try:
            config = replace(self.config, **changes)
        except ValueError as e:
            self.config_error.setText(str(e))
            return
        self.set_config(config, CUSTOM_ITEM)

    def _on_preset(self, index: int) -> None:
        name = self.preset_combo.itemText(index)
        if name == PROJECT_ITEM:
            self.set_config(self._project_config(), PROJECT_ITEM)
        elif name in PRESETS:
            p = PRESETS[name]
            self.set_config(replace(self.config, sizes=p.sizes, aspect_ratios=p.aspect_ratios, strides=p.strides), name)

    def _on_anchor_text(self) -> None:
        try:
            sizes = parse_sizes(self.sizes_edit.text())
            ratios = parse_ratios(self.ratios_edit.text(), len(sizes))
        except ValueError as e:
            self.config_error.setText(str(e))
            return
        if sizes == self.config.sizes and ratios == self.config.aspect_ratios:
            return
        strides = self.config.strides
        if strides is not None and len(strides) != len(sizes):
            self.config_error.setText(f"the single-level backbone has stride {list(strides)}: give the sizes of one "
                                      f"level separated by '/', e.g. 64/128")
            return
        self._set_config(sizes=sizes, aspect_ratios=ratios)

    def _on_threshold(self, which: str, value: int) -> None:
        fg, bg = self.fg_slider.value(), self.bg_slider.value()
        if which == "fg" and fg < bg:  # keep 0 <= bg <= fg <= 1 by pushing the other one along
            bg = fg
        elif which == "bg" and bg > fg:
            fg = bg
        self._set_config(fg_iou_thresh=fg / 100, bg_iou_thresh=bg / 100)

    # -- computing ------------------------------------------------------------------------------
    def _on_visibility(self, visible: bool) -> None:
        self._sync_layer_visibility()
        if visible:
            self.request_preview()
        else:
            self.runner.cancel()

    def _sync_layer_visibility(self) -> None:
        self.layer.visible = self.active and self.overlay_check.isChecked()
        self.canvas.update()

    def _on_image_changed(self, _image: str) -> None:
        self.focus_shape = None
        self.result = None
        self.layer.clear()
        self.request_preview()

    def request_preview(self) -> None:
        """Recompute soon (debounced) for the open photo and the current settings."""
        if not self.active:
            return
        ann = self.document.annotation
        if ann is None or self.document.image_error or not ann.image_width or not ann.image_height:
            self.runner.cancel()
            self.result = None
            self.layer.clear()
            self.canvas.update()
            self._say(f"No preview: {self.document.image_error or 'no photo is open'}")
            return
        self.runner.schedule(compute_preview, photo_objects(ann), self.config)

    def _on_result(self, _request: int, result: PreviewResult) -> None:
        self.result = result
        self._rebuild_filter_choices(result.preview)
        self._show_counts(result.preview)
        self.refresh_overlay()
        self._say("")
        self.previewUpdated.emit()

    def _on_failure(self, _request: int, message: str) -> None:
        self._say(f"Preview failed: {message}", error=True)

    # -- filters and drawing ----------------------------------------------------------------------
    def _rebuild_filter_choices(self, preview: AnchorPreview) -> None:
        levels = len(preview.grid.grid_sizes)
        if len(self.level_checks) != levels:
            for check in self.level_checks:
                self.level_row.removeWidget(check)
                check.deleteLater()
            self.level_checks = []
            for k in range(levels):
                check = QCheckBox(f"L{k}")
                check.setChecked(True)
                check.toggled.connect(self.refresh_overlay)
                self.level_row.addWidget(check)
                self.level_checks.append(check)
        for k, check in enumerate(self.level_checks):
            check.setToolTip(f"stride {preview.grid.strides[k][0]}, grid {preview.grid.grid_sizes[k][1]}x"
                             f"{preview.grid.grid_sizes[k][0]}")
        for combo, values, fmt in ((self.size_combo, np.unique(preview.size), lambda v: f"{int(v)} px"),
                                   (self.ratio_combo, np.unique(preview.ratio), lambda v: fmt_ratio(float(v)))):
            items = ["all"] + [fmt(v) for v in values]
            if [combo.itemText(i) for i in range(combo.count())] != items:
                keep = combo.currentText()
                combo.blockSignals(True)
                combo.clear()
                combo.addItems(items)
                combo.setCurrentText(keep if keep in items else "all")
                combo.blockSignals(False)

    def visible_mask(self) -> np.ndarray:
        """Anchors that pass the filters."""
        p = self.result.preview
        mask = np.zeros(len(p.labels), dtype=bool)
        for value, check in self.class_checks.items():
            if check.isChecked():
                mask |= p.labels == value
        if self.sampled_check.isChecked():
            mask &= p.sampled
        levels = [k for k, check in enumerate(self.level_checks) if check.isChecked()]
        if len(levels) != len(self.level_checks):
            mask &= np.isin(p.level, levels)
        if self.size_combo.currentIndex() > 0:
            mask &= p.size == int(self.size_combo.currentText().split()[0])
        if self.ratio_combo.currentIndex() > 0:
            mask &= np.isclose(p.ratio, float(self.ratio_combo.currentText()))
        return mask

    def focus_object(self) -> int | None:
        if self.result is None or self.focus_shape is None:
            return None
        return self.result.objects.object_of(self.focus_shape)

    def refresh_overlay(self) -> None:
        if self.result is None:
            return
        p = self.result.preview
        mask = self.visible_mask()
        shown = np.flatnonzero(mask)
        note = ""
        if len(shown) > MAX_DRAWN:
            step = -(-len(shown) // MAX_DRAWN)
            note = f" (1 in {step} of {len(shown):,}; narrow the filters to see all)"
            shown = shown[::step]
        boxes = {c: p.anchors_photo[shown[p.labels[shown] == c]] for c in (POSITIVE, NEGATIVE, IGNORE)
                 if self.class_checks[c].isChecked()}
        obj = self.focus_object()
        highlight = None
        if obj is not None:
            mine = (p.matched_idxs == obj) | ((p.best_object == obj) & (p.labels == IGNORE))
            mine |= (p.best_object == obj) & (p.iou == p.best_iou_per_object[obj])  # its best anchors, whatever their class
            highlight = {c: p.anchors_photo[mine & (p.labels == c)] for c in (POSITIVE, NEGATIVE, IGNORE)}
        self.layer.set_content(boxes, p.gt_boxes_photo, highlight, obj)
        drawn = ", ".join(f"{CLASS_NAMES[c]} {len(b):,}" for c, b in boxes.items())
        self.drawn_label.setText(f"Drawn: {self.layer.drawn_anchors:,}{note}" + (f" — {drawn}" if drawn else ""))
        self._show_object(obj)
        self.canvas.update()

    def _show_counts(self, p: AnchorPreview) -> None:
        g = p.geometry
        self.input_label.setText(f"Photo {g.photo_size[0]}×{g.photo_size[1]} → model input {g.resized_hw[1]}×"
                                 f"{g.resized_hw[0]} (padded {g.padded_hw[1]}×{g.padded_hw[0]}), "
                                 f"{p.num_objects} object(s)")
        c, s = p.counts(), p.sampled_counts()
        self.counts_label.setText(f"Anchors {len(p.labels):,}: positive {c['positive']:,} · negative "
                                  f"{c['negative']:,} · ignore {c['ignore']:,}")
        self.sampled_label.setText(f"Sampled {s['positive'] + s['negative']:,} of {p.config.batch_size_per_image}: "
                                   f"positive {s['positive']:,} · negative {s['negative']:,}")
        rows = p.counts_per_level()
        self.level_table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            sh, sw = row["stride"]  # torchvision's own: padded size // grid size, per axis
            values = [f"L{row['level']}", str(sh) if sh == sw else f"{sh}×{sw}", f"{row['anchors']:,}", f"{row['positive']:,}",
                      f"{row['negative']:,}", f"{row['ignore']:,}"]
            for col, text in enumerate(values):
                self.level_table.setItem(r, col, QTableWidgetItem(text))
        self.level_table.resizeColumnsToContents()
        header = self.level_table.horizontalHeader().height()
        self.level_table.setFixedHeight(header + sum(self.level_table.rowHeight(r) for r in range(len(rows))) + 4)

    def object_summary(self, obj: int) -> dict:
        p = self.result.preview
        row = p.counts_per_object()[obj]
        positive = p.matched_idxs == obj
        return {**row, "label": self.result.objects.labels[obj],
                "sampled_positive": int((positive & p.sampled).sum()),
                "rescued_only": bool(row["positive"] > 0 and row["positive"] == row["low_quality"])}

    def _show_object(self, obj: int | None) -> None:
        if obj is None:
            self.object_label.setText("Click an object on the photo to see its anchors.")
            return
        s = self.object_summary(obj)
        if s["positive"] == 0:
            verdict = "<b>no positive anchor</b>: the RPN gets no foreground target for it"
        elif s["rescued_only"]:
            verdict = "<b>positive only through the low-quality rule</b> (no anchor reaches the foreground IoU)"
        else:
            verdict = f"{s['positive'] - s['low_quality']} anchor(s) reach the foreground IoU"
        self.object_label.setText(
            f"<b>{s['label']}</b> (object {obj + 1} of {self.result.preview.num_objects}): best IoU "
            f"<b>{s['best_iou']:.3f}</b> · {s['positive']} positive ({s['sampled_positive']} sampled) · "
            f"{s['ignore']} ignored<br>{verdict}")

    # -- picking an object ----------------------------------------------------------------------
    def pick_at(self, x: float, y: float) -> bool:
        """Focus the object whose shape is under the image point (x, y); True when one is."""
        ann = self.canvas.annotation
        if ann is None:
            return False
        geometry = self.canvas.geometry
        index = geometry.shape_at(ann, x, y, self.canvas.tolerance())
        if index is None:
            hit = geometry.vertex_at(ann, x, y, self.canvas.tolerance()) or geometry.edge_at(ann, x, y, self.canvas.tolerance())
            index = hit[0] if hit else None
        if index is None:
            return False
        self.focus_shape = ann.shapes[index]
        self.refresh_overlay()
        return True

    def _on_selection(self) -> None:
        shapes = self.document.selected_shapes()
        if self.active and len(shapes) == 1 and shapes[0] is not self.focus_shape:
            self.focus_shape = shapes[0]
            self.refresh_overlay()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (watched is self.canvas and event.type() == QEvent.Type.MouseButtonPress and self.active
                and isinstance(event, QMouseEvent) and event.button() == Qt.MouseButton.LeftButton):
            pos = self.canvas.to_image(event.position())
            self.pick_at(pos.x(), pos.y())  # observe only: the active tool still gets the click
        elif watched is self.window_ and event.type() == QEvent.Type.Close:
            self.shutdown()
        return False

    # -- saving and the statistics window ----------------------------------------------------------
    def apply_to_project(self) -> bool:
        problem = training_problem(self.config)
        if problem:
            self._set_notice(f"Not applied: {problem}", error=True)
            return False
        set_project_anchor_config(self.project, self.config)
        if self.project.save_error:
            self._set_notice(f"Not saved: {self.project.save_error}", error=True)
            return False
        self.preset_combo.setCurrentText(PROJECT_ITEM)
        message = f"Anchor settings saved to {self.project.project_file.name}: training uses them from now on"
        self._set_notice(message)
        self.window_.notify(message)
        return True

    def open_statistics(self):
        from .stats_window import StatsWindow

        if self.stats_window is None:
            self.stats_window = StatsWindow(self.project, self, self.window_)
        self.stats_window.show()
        self.stats_window.raise_()
        self.stats_window.refresh()
        return self.stats_window

    def shutdown(self) -> None:
        self.runner.cancel()
        self.runner.wait(5000)
        self.layer.shutdown()
        if self.stats_window is not None:
            self.stats_window.shutdown()
