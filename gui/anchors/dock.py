"""The anchors dock: the RPN's target assignment of the open photo, live, as training the model
it names computes it (that model's anchors and input size, the training boxes).

The preview is `core.anchors.preview.preview_assignment`, computed on a worker thread 30 ms after
the last change (a polygon edit, even mid-drag, or a setting), newest result wins. Filters only
change what the overlay draws, without recomputing. The panels: editors.py (settings),
filters.py (what is drawn), summary.py (the numbers); this module ties them to the document.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QCheckBox, QDockWidget, QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from core.anchors.boxes import annotation_boxes
from core.anchors.config import IGNORE, NEGATIVE, POSITIVE, AnchorConfig, set_project_anchor_config
from core.models.specs import DEFAULT_MODEL, model_for_anchors, training_anchor_config
from core.torch_loader import load_torch

if TYPE_CHECKING:  # torch loads on the first preview, not when the window opens
    from core.anchors.preview import AnchorPreview
from core.annotation import Annotation, Shape

from .config_text import parse_ratios, parse_sizes, training_problem
from .editors import PRESETS, SettingsEditors
from .filters import OverlayFilters
from .layer import ANCHORS_Z, CLASS_NAMES, AnchorOverlayLayer
from .summary import AssignmentSummary
from .widgets import CUSTOM_ITEM, ERROR_STYLE, PROJECT_ITEM, WheelGuard, guard_wheel
from .worker import LatestRunner

MAX_MIN_WIDTH = 380  # px the dock may insist on: on a laptop screen the photo needs the width

MAX_DRAWN = 40_000  # above this the overlay draws an even subset (and says so)


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


def compute_preview(objects: PhotoObjects, config: AnchorConfig, model: str | None = None) -> PreviewResult:
    load_torch()  # on the worker thread: torch is imported once, under the loader's lock
    from core.anchors.preview import preview_assignment

    return PreviewResult(preview_assignment(objects.image_size, objects.boxes, config, model=model), objects)


# -- the dock ------------------------------------------------------------------------------------
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
        self.wheel_guard = WheelGuard(self)
        self._build()
        self.model, self.config = self._project_config()
        self.editors.show_config(self.config, self.model)
        self._connect()

    # -- building ---------------------------------------------------------------------------
    def _build(self) -> None:
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        self.overlay_check = QCheckBox("Show anchor overlay")
        self.overlay_check.setChecked(True)
        layout.addWidget(self.overlay_check)
        self.editors = SettingsEditors()
        self.filters = OverlayFilters()
        self.summary = AssignmentSummary()
        for panel in (self.editors, self.filters, self.summary):
            layout.addWidget(panel)
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
        guard_wheel(body, self.wheel_guard)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(body)
        self.setWidget(self.scroll)
        # on a laptop screen the photo needs the width more: a narrow dock scrolls sideways instead
        natural = body.minimumSizeHint().width() + self.scroll.verticalScrollBar().sizeHint().width() + 4
        self.setMinimumWidth(min(natural, MAX_MIN_WIDTH))

    def _connect(self) -> None:
        e = self.editors
        self.document.annotationChanged.connect(self.request_preview)
        self.document.imageChanged.connect(self._on_image_changed)
        self.document.selectionChanged.connect(self._on_selection)
        self.runner.finished.connect(self._on_result)
        self.runner.failed.connect(self._on_failure)
        self.runner.busyChanged.connect(lambda busy: busy and self._say("computing…"))
        self.visibilityChanged.connect(self._on_visibility)
        self.overlay_check.toggled.connect(self._sync_layer_visibility)
        e.preset_combo.activated.connect(self._on_preset)
        e.sizes_edit.editingFinished.connect(self._on_anchor_text)
        e.ratios_edit.editingFinished.connect(self._on_anchor_text)
        e.fg_slider.valueChanged.connect(lambda v: self._on_threshold("fg", v))
        e.bg_slider.valueChanged.connect(lambda v: self._on_threshold("bg", v))
        e.low_quality_check.toggled.connect(lambda on: self._set_config(allow_low_quality_matches=on))
        e.batch_spin.valueChanged.connect(lambda v: self._set_config(batch_size_per_image=v))
        e.positive_fraction_spin.valueChanged.connect(lambda v: self._set_config(positive_fraction=round(v, 4)))
        self.filters.changed.connect(self.refresh_overlay)
        self.stats_button.clicked.connect(self.open_statistics)
        self.apply_button.clicked.connect(self.apply_to_project)
        self.canvas.installEventFilter(self)
        self.window_.installEventFilter(self)

    # -- state ----------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """The anchors mode is on: the dock is shown."""
        return not self.isHidden()

    def _project_config(self) -> tuple[str, AnchorConfig]:
        """The project's training model and the anchors its training uses (the project's settings
        when they fit the model); the model's defaults (and a notice saying why) when unusable."""
        model = (self.project.settings.get("training") or {}).get("model") or DEFAULT_MODEL
        try:
            config = training_anchor_config(self.project)
            stored = self.project.settings.get("anchors")
            if stored and len(stored.get("sizes", ())) != len(config.sizes):
                self._set_notice(f"The project's anchor settings have {len(stored['sizes'])} level(s), but its "
                                 f"training model needs {len(config.sizes)}: showing what training will use.")
            return model, config
        except (ValueError, TypeError) as e:
            self._set_notice(f"{self.project.project_file}: the anchor settings are unusable ({e}); "
                             f"showing the model's default anchors", error=True)
            return model, training_anchor_config(self.project, project_anchors=False)

    def _set_notice(self, text: str, error: bool = False) -> None:
        self.notice, self.notice_is_error = text, error
        self._say(text, error)

    def _say(self, text: str, error: bool = False) -> None:
        """A passing message ("computing…", a failure); empty text shows the kept notice again."""
        if not text:
            text, error = self.notice, self.notice_is_error
        self.status_label.setStyleSheet(ERROR_STYLE if error else "")
        self.status_label.setText(text)

    def set_config(self, config: AnchorConfig, preset: str = CUSTOM_ITEM, model: str | None = None) -> None:
        """Preview `config` (from a preset, the statistics window or the editors) as training
        `model` would use it; without a model, the current one when the anchors fit it."""
        if model is None:
            try:
                model = model_for_anchors(config, self.model)
            except ValueError:
                model = None
        self.model, self.config = model, config
        self.editors.show_config(config, model)
        self.editors.preset_combo.setCurrentText(preset)
        self.configChanged.emit(config)
        self.request_preview()

    def _set_config(self, **changes) -> None:
        try:
            config = replace(self.config, **changes)
        except ValueError as e:
            self.editors.config_error.setText(str(e))
            return
        self.set_config(config, CUSTOM_ITEM)

    def _on_preset(self, index: int) -> None:
        name = self.editors.preset_combo.itemText(index)
        if name == PROJECT_ITEM:
            model, config = self._project_config()
            self.set_config(config, PROJECT_ITEM, model)
        elif name in PRESETS:  # the model's own anchors at the input size training it here uses
            model = PRESETS[name]
            self.set_config(training_anchor_config(self.project, model, project_anchors=False), name, model)

    def _on_anchor_text(self) -> None:
        e = self.editors
        try:
            sizes = parse_sizes(e.sizes_edit.text())
            ratios = parse_ratios(e.ratios_edit.text(), len(sizes))
        except ValueError as error:
            e.config_error.setText(str(error))
            return
        if sizes == self.config.sizes and ratios == self.config.aspect_ratios:
            return
        strides = self.config.strides
        if strides is not None and len(strides) != len(sizes):
            e.config_error.setText(f"the backbone has stride(s) {list(strides)}: give the sizes of each level, "
                                   f"several on one level separated by '/', e.g. 64/128")
            return
        self._set_config(sizes=sizes, aspect_ratios=ratios)

    def _on_threshold(self, which: str, value: int) -> None:
        fg, bg = self.editors.fg_slider.value(), self.editors.bg_slider.value()
        if which == "fg" and fg < bg:  # keep 0 <= bg <= fg <= 1 by pushing the other one along
            bg = fg
        elif which == "bg" and bg > fg:
            fg = bg
        self._set_config(fg_iou_thresh=fg / 100, bg_iou_thresh=bg / 100)

    # -- computing ------------------------------------------------------------------------------
    def follow_project(self) -> None:
        """The project's anchor or training settings changed: when the dock shows the project's
        settings, take them again (model, input size, mini-batch sampling)."""
        if self.editors.preset_combo.currentText() != PROJECT_ITEM:
            return
        model, config = self._project_config()
        if (model, config) != (self.model, self.config):
            self.set_config(config, PROJECT_ITEM, model)

    def _on_visibility(self, visible: bool) -> None:
        self._sync_layer_visibility()
        if visible:
            self.follow_project()
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
        self.runner.schedule(compute_preview, photo_objects(ann), self.config, self.model)

    def _on_result(self, _request: int, result: PreviewResult) -> None:
        self.result = result
        self.filters.rebuild_choices(result.preview)
        self.summary.show_counts(result.preview, len(result.objects.boxes) - result.preview.num_objects)
        self.refresh_overlay()
        self._say("")
        self.previewUpdated.emit()

    def _on_failure(self, _request: int, message: str) -> None:
        self._say(f"Preview failed: {message}", error=True)

    # -- drawing --------------------------------------------------------------------------------
    def visible_mask(self) -> np.ndarray:
        return self.filters.visible_mask(self.result.preview)

    def focus_object(self) -> int | None:
        """The picked object, as an index into the photo's objects."""
        if self.result is None or self.focus_shape is None:
            return None
        return self.result.objects.object_of(self.focus_shape)

    def _previewed(self, obj: int | None) -> int | None:
        """The preview's index of photo object `obj` (None when training drops it)."""
        if obj is None:
            return None
        found = np.flatnonzero(self.result.preview.object_ids == obj)
        return int(found[0]) if len(found) else None

    def refresh_overlay(self) -> None:
        if self.result is None:
            return
        p = self.result.preview
        shown = np.flatnonzero(self.visible_mask())
        note = ""
        if len(shown) > MAX_DRAWN:
            step = -(-len(shown) // MAX_DRAWN)
            note = f" (1 in {step} of {len(shown):,}; narrow the filters to see all)"
            shown = shown[::step]
        boxes = {c: p.anchors_photo[shown[p.labels[shown] == c]] for c in self.filters.shown_classes()}
        obj = self._previewed(self.focus_object())
        highlight = None
        if obj is not None:
            mine = (p.matched_idxs == obj) | ((p.best_object == obj) & (p.labels == IGNORE))
            mine |= (p.best_object == obj) & (p.iou == p.best_iou_per_object[obj])  # its best anchors, whatever their class
            highlight = {c: p.anchors_photo[mine & (p.labels == c)] for c in (POSITIVE, NEGATIVE, IGNORE)}
        self.layer.set_content(boxes, p.gt_boxes_photo, highlight, obj)
        drawn = ", ".join(f"{CLASS_NAMES[c]} {len(b):,}" for c, b in boxes.items())
        self.summary.drawn_label.setText(f"Drawn: {self.layer.drawn_anchors:,}{note}" + (f" — {drawn}" if drawn else ""))
        focus = self.focus_object()
        if focus is not None and obj is not None:
            self.summary.show_object(self.object_summary(focus), obj, p.num_objects)
        else:
            self.summary.show_object(None)
        self.canvas.update()

    def object_summary(self, obj: int) -> dict:
        """The numbers of photo object `obj` in the preview."""
        p = self.result.preview
        k = self._previewed(obj)
        row = p.counts_per_object()[k]
        positive = p.matched_idxs == k
        return {**row, "label": self.result.objects.labels[obj],
                "sampled_positive": int((positive & p.sampled).sum()),
                "rescued_only": bool(row["positive"] > 0 and row["positive"] == row["low_quality"])}

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
        self.editors.preset_combo.setCurrentText(PROJECT_ITEM)
        message = f"Anchor settings saved to {self.project.project_file.name}: training uses them from now on"
        self._set_notice(message)
        self.window_.notify(message)
        return True

    def open_statistics(self):
        load_torch()
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
