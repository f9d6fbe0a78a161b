"""The anchors dock's settings editors: a preset (the project's training settings, or a model's
own anchors at its own input size), the anchor sizes and ratios, and the Matcher / sampler
settings. They only show a configuration and report edits; the dock owns the configuration."""
from __future__ import annotations

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QSpinBox, QVBoxLayout, QWidget)

from core.anchors.config import AnchorConfig, config_strides
from core.models.specs import MODEL_NAMES

from .config_text import format_ratios, format_sizes, training_problem
from .widgets import CUSTOM_ITEM, ERROR_STYLE, PROJECT_ITEM, make_slider

PRESETS = {  # preset name -> the model whose own anchors and input size it previews
    "mininet_r18_fpn (FPN 32–512 px, 256 px input)": "mininet_r18_fpn",
    "Classic single anchor (rpn_classic: 64 px, ratio 0.66, stride 16, 320 px input)": "rpn_classic",
    "maskrcnn_mobilenet_v3_fpn (strides 16, 16, 32; 320 px input)": "maskrcnn_mobilenet_v3_fpn",
    "maskrcnn_r50_fpn (FPN 32–512 px, 800 px input)": "maskrcnn_r50_fpn",
    "maskrcnn_r50_fpn_v2 (FPN 32–512 px, 800 px input)": "maskrcnn_r50_fpn_v2",
}
assert set(PRESETS.values()) == set(MODEL_NAMES)


class SettingsEditors(QWidget):
    """Two group boxes: "Anchors" (preset, sizes, ratios, levels) and "Assignment"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        anchors = QGroupBox("Anchors")
        form = QFormLayout(anchors)
        self.preset_combo = QComboBox()
        self.preset_combo.addItems([PROJECT_ITEM, *PRESETS, CUSTOM_ITEM])
        self.preset_combo.setToolTip("A model's own anchors at its own input size, or the project's training settings")
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
        self.fg_slider, self.bg_slider = make_slider(), make_slider()
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

    def show_config(self, config: AnchorConfig, model: str | None) -> None:
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
        self.strides_label.setText(f"{len(config.sizes)}: {strides} · {model or 'no model fits'} at input "
                                   f"{config.min_size}/{config.max_size}")
        problem = training_problem(config)
        self.config_error.setText(f"Training could not use this: {problem}" if problem else "")
