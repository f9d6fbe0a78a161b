"""What the anchor overlay draws: label classes, the sampled mini-batch, levels, sizes and
ratios. It opens on what training actually uses: the sampled positives (negatives and ignored
anchors off until asked for, they would hide the photo)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QGroupBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from core.anchors.config import IGNORE, NEGATIVE, POSITIVE

from .config_text import fmt_ratio
from .layer import CLASS_COLORS, CLASS_NAMES

if TYPE_CHECKING:
    from core.anchors.preview import AnchorPreview


class OverlayFilters(QGroupBox):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Show", parent)
        layout = QVBoxLayout(self)
        classes = QHBoxLayout()
        self.class_checks: dict[int, QCheckBox] = {}
        for value in (POSITIVE, NEGATIVE, IGNORE):
            check = QCheckBox(CLASS_NAMES[value])
            check.setChecked(value == POSITIVE)
            check.setStyleSheet(f"QCheckBox {{ color: {CLASS_COLORS[value]}; font-weight: bold; }}"
                                if value != POSITIVE else "QCheckBox { color: #b08d00; font-weight: bold; }")
            check.toggled.connect(self.changed)
            self.class_checks[value] = check
            classes.addWidget(check)
        layout.addLayout(classes)
        self.sampled_check = QCheckBox("Sampled only (the mini-batch the loss sees)")
        self.sampled_check.setChecked(True)
        self.sampled_check.toggled.connect(self.changed)
        layout.addWidget(self.sampled_check)
        self.level_row = QHBoxLayout()
        self.level_checks: list[QCheckBox] = []
        layout.addLayout(self.level_row)
        pick = QHBoxLayout()
        self.size_combo, self.ratio_combo = QComboBox(), QComboBox()
        pick.addWidget(QLabel("Size"))
        pick.addWidget(self.size_combo, 1)
        pick.addWidget(QLabel("Ratio"))
        pick.addWidget(self.ratio_combo, 1)
        layout.addLayout(pick)
        self.size_combo.currentIndexChanged.connect(self.changed)
        self.ratio_combo.currentIndexChanged.connect(self.changed)

    def shown_classes(self) -> list[int]:
        return [value for value, check in self.class_checks.items() if check.isChecked()]

    def rebuild_choices(self, preview: AnchorPreview) -> None:
        """One check box per level, and the sizes and ratios the preview has."""
        levels = len(preview.grid.grid_sizes)
        if len(self.level_checks) != levels:
            for check in self.level_checks:
                self.level_row.removeWidget(check)
                check.deleteLater()
            self.level_checks = []
            for k in range(levels):
                check = QCheckBox(f"L{k}")
                check.setChecked(True)
                check.toggled.connect(self.changed)
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

    def visible_mask(self, p: AnchorPreview) -> np.ndarray:
        """Anchors that pass the filters."""
        mask = np.zeros(len(p.labels), dtype=bool)
        for value in self.shown_classes():
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
