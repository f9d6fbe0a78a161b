"""The review dock's auto-label box: the COCO class -> project label mapping table, the button,
and where torchvision's COCO weights file is (or must be put)."""
from __future__ import annotations

from PySide6.QtWidgets import (QGroupBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout)

from core.training.auto_label import DEFAULT_COCO_MAPPING, coco_weights_path

ROW_HEIGHT = 22


class AutoLabelBox(QGroupBox):
    def __init__(self) -> None:
        super().__init__("Auto-label with COCO Mask R-CNN")
        layout = QVBoxLayout(self)
        self.mapping_table = QTableWidget(0, 2)
        self.mapping_table.setHorizontalHeaderLabels(["COCO class", "label (empty: ignore)"])
        self.mapping_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.mapping_table.verticalHeader().hide()
        for coco, label in DEFAULT_COCO_MAPPING.items():
            self.add_mapping_row(coco, label)
        self.mapping_table.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
        self.mapping_table.setMinimumHeight(ROW_HEIGHT * 5 + 4)
        self.mapping_table.setMaximumHeight(ROW_HEIGHT * 7)
        buttons = QHBoxLayout()
        self.add_mapping_button = QPushButton("Add row")
        self.auto_label_button = QPushButton("Auto-label unlabelled")
        buttons.addWidget(self.add_mapping_button)
        buttons.addWidget(self.auto_label_button)
        self.weights_label = QLabel()
        self.weights_label.setWordWrap(True)
        self.weights_label.setStyleSheet("color: #555;")
        layout.addWidget(self.mapping_table)
        layout.addLayout(buttons)
        layout.addWidget(self.weights_label)
        self.add_mapping_button.clicked.connect(lambda: self.add_mapping_row("", ""))

    def add_mapping_row(self, coco: str, label: str) -> None:
        row = self.mapping_table.rowCount()
        self.mapping_table.insertRow(row)
        self.mapping_table.setItem(row, 0, QTableWidgetItem(coco))
        self.mapping_table.setItem(row, 1, QTableWidgetItem(label))

    def mapping(self) -> dict[str, str]:
        """COCO class name -> project label, for the rows with both filled in."""
        result = {}
        for row in range(self.mapping_table.rowCount()):
            coco, label = (self.mapping_table.item(row, c) for c in (0, 1))
            if coco and label and coco.text().strip() and label.text().strip():
                result[coco.text().strip()] = label.text().strip()
        return result

    def update_weights_note(self) -> bool:
        """Say where the weights file is or must go; whether it is there."""
        path = coco_weights_path()
        present = path.is_file()
        self.weights_label.setText(f"COCO weights: {path}" if present else
                                   f"COCO weights not found: put torchvision's file {path.name} into {path.parent}")
        return present
