"""How the photo and the annotations are shown: brightness, contrast and gamma for dark photos
(display only, never written to the image) and the show-annotations switch (H)."""
from __future__ import annotations

import math

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QCheckBox, QDockWidget, QFormLayout, QLabel, QPushButton, QSlider, QWidget

from ..canvas.adjust import PhotoAdjustment
from ..canvas.view import CanvasView

# slider positions: brightness -100..100 (% of full scale), contrast and gamma -100..100 on a
# log scale (0 is 1.0, +-100 is x4 or /4)
SLIDER_RANGE = 100
LOG_SPAN = math.log(4.0)


def _ratio(position: int) -> float:
    return math.exp(position / SLIDER_RANGE * LOG_SPAN)


def _position(ratio: float) -> int:
    return round(math.log(ratio) / LOG_SPAN * SLIDER_RANGE)


class DisplayDock(QDockWidget):
    def __init__(self, canvas: CanvasView, parent: QWidget | None = None):
        super().__init__("Display", parent)
        self.setObjectName("DisplayDock")
        self.canvas = canvas
        body = QWidget()
        form = QFormLayout(body)
        self.show_annotations = QCheckBox("show annotations  (H)")
        self.show_annotations.setChecked(canvas.annotations_visible)
        form.addRow(self.show_annotations)
        self.sliders: dict[str, QSlider] = {}
        self.values: dict[str, QLabel] = {}
        for name in ("brightness", "contrast", "gamma"):
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(-SLIDER_RANGE, SLIDER_RANGE)
            slider.setPageStep(10)
            slider.setObjectName(name)
            slider.setToolTip(f"{name.capitalize()} of the photo on screen; the image file is never changed")
            value = QLabel()
            value.setMinimumWidth(36)
            self.sliders[name], self.values[name] = slider, value
            form.addRow(name.capitalize(), slider)
            form.addRow("", value)
            slider.valueChanged.connect(self._schedule)
        self.reset_button = QPushButton("Reset photo")
        form.addRow(self.reset_button)
        self.setWidget(body)
        self._timer = QTimer(self)  # a dragged slider applies at most once per 40 ms
        self._timer.setSingleShot(True)
        self._timer.setInterval(40)
        self._timer.timeout.connect(self.apply)
        self.reset_button.clicked.connect(self.reset)
        self.show_annotations.toggled.connect(canvas.set_annotations_visible)
        canvas.visibilityChanged.connect(lambda: self.show_annotations.setChecked(canvas.annotations_visible))
        self._show_values()

    def adjustment(self) -> PhotoAdjustment:
        s = self.sliders
        return PhotoAdjustment(s["brightness"].value() / SLIDER_RANGE, _ratio(s["contrast"].value()),
                               _ratio(s["gamma"].value()))

    def set_adjustment(self, adjustment: PhotoAdjustment) -> None:
        a = adjustment.clamped()
        for name, position in (("brightness", round(a.brightness * SLIDER_RANGE)),
                               ("contrast", _position(a.contrast)), ("gamma", _position(a.gamma))):
            self.sliders[name].blockSignals(True)
            self.sliders[name].setValue(position)
            self.sliders[name].blockSignals(False)
        self.apply()

    def reset(self) -> None:
        self.set_adjustment(PhotoAdjustment())

    def _schedule(self) -> None:
        self._show_values()
        if not self._timer.isActive():
            self._timer.start()

    def _show_values(self) -> None:
        a = self.adjustment()
        self.values["brightness"].setText(f"{a.brightness:+.2f}")
        self.values["contrast"].setText(f"×{a.contrast:.2f}")
        self.values["gamma"].setText(f"{a.gamma:.2f}")

    def apply(self) -> None:
        self._timer.stop()
        self._show_values()
        self.canvas.set_photo_adjustment(self.adjustment())
