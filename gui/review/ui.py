"""The review dock's widgets, made as attributes of the dock (Qt's setupUi pattern); the dock
connects them and holds the logic."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDockWidget, QDoubleSpinBox, QFrame,
                               QHBoxLayout, QLabel, QListWidget, QProgressBar, QPushButton, QScrollArea, QSlider,
                               QVBoxLayout, QWidget)

from .auto_label import AutoLabelBox

LIST_STYLE = ("QListWidget::item:selected { background: #1f6fd1; color: white; font-weight: bold; }"
              "QListWidget::item:selected:!active { background: #1f6fd1; color: white; }")
MAX_TOLERANCE_PX = 10.0


def setup_review_ui(dock: QDockWidget, threshold: float, score_floor: float, tolerance: float) -> None:
    """Model line, predict buttons, progress and status; the score threshold with the summary and
    its "show them" button; the predictions list; accept-as label, accept / accept all / reject;
    the polygon tolerance; the auto-label box. All in a scroll area: a short window scrolls."""
    body = QWidget()
    layout = QVBoxLayout(body)
    layout.setContentsMargins(4, 4, 4, 4)
    dock.run_label = QLabel("Model: none chosen — pick a run in the Training panel (Review with this run)")
    dock.run_label.setWordWrap(True)
    layout.addWidget(dock.run_label)
    row = QHBoxLayout()
    dock.predict_current_button = QPushButton("Predict image")
    dock.predict_all_button = QPushButton("Predict all")
    dock.cancel_button = QPushButton("Cancel")
    for b in (dock.predict_current_button, dock.predict_all_button, dock.cancel_button):
        row.addWidget(b)
    layout.addLayout(row)
    dock.progress = QProgressBar()
    dock.progress.setRange(0, 1)
    dock.progress.setValue(0)
    dock.progress.setFormat("")
    layout.addWidget(dock.progress)
    dock.status = QLabel()
    dock.status.setWordWrap(True)
    dock.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    layout.addWidget(dock.status)

    threshold_row = QHBoxLayout()
    dock.threshold_slider = QSlider(Qt.Orientation.Horizontal)
    dock.threshold_slider.setRange(int(score_floor * 100), 100)
    dock.threshold_slider.setValue(int(threshold * 100))
    dock.threshold_label = QLabel()
    threshold_row.addWidget(QLabel("Score ≥"))
    threshold_row.addWidget(dock.threshold_slider, 1)
    threshold_row.addWidget(dock.threshold_label)
    layout.addLayout(threshold_row)
    hint_row = QHBoxLayout()
    dock.summary_label = QLabel()
    dock.summary_label.setWordWrap(True)
    dock.show_hidden_button = QPushButton()
    dock.show_hidden_button.hide()
    hint_row.addWidget(dock.summary_label, 1)
    hint_row.addWidget(dock.show_hidden_button)
    layout.addLayout(hint_row)
    dock.show_check = QCheckBox("Show predictions")
    dock.show_check.setChecked(True)
    dock.pick_check = QCheckBox("Click on the photo accepts")
    dock.pick_check.setToolTip("Click a prediction on the photo to accept it")
    check_row = QHBoxLayout()
    check_row.addWidget(dock.show_check)
    check_row.addWidget(dock.pick_check)
    check_row.addStretch(1)
    layout.addLayout(check_row)
    dock.list = QListWidget()
    dock.list.setMinimumHeight(90)
    dock.list.setMaximumHeight(200)
    dock.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    dock.list.setStyleSheet(LIST_STYLE)
    dock.list.setToolTip("Enter accepts the selected predictions, Delete rejects them")
    layout.addWidget(dock.list)
    dock.selection_label = QLabel()
    dock.selection_label.setWordWrap(True)
    layout.addWidget(dock.selection_label)
    label_row = QHBoxLayout()
    dock.label_choice = QComboBox()
    label_row.addWidget(QLabel("Accept as"))
    label_row.addWidget(dock.label_choice, 1)
    layout.addLayout(label_row)
    row = QHBoxLayout()
    dock.accept_button = QPushButton("Accept")
    dock.accept_all_button = QPushButton("Accept all shown")
    dock.reject_button = QPushButton("Reject")
    for b in (dock.accept_button, dock.accept_all_button, dock.reject_button):
        row.addWidget(b)
    layout.addLayout(row)
    tolerance_row = QHBoxLayout()
    dock.tolerance_spin = QDoubleSpinBox()
    dock.tolerance_spin.setRange(0.0, MAX_TOLERANCE_PX)
    dock.tolerance_spin.setSingleStep(0.5)
    dock.tolerance_spin.setDecimals(1)
    dock.tolerance_spin.setSuffix(" px")
    dock.tolerance_spin.setValue(tolerance)
    dock.tolerance_spin.setToolTip("How far an accepted polygon may stray from the mask's outline: larger "
                                   "gives fewer vertices. Saved in the project; assisted polygons use it too.")
    tolerance_row.addWidget(QLabel("Polygon tolerance"))
    tolerance_row.addWidget(dock.tolerance_spin)
    tolerance_row.addStretch(1)
    layout.addLayout(tolerance_row)

    dock.auto_box = AutoLabelBox()
    layout.addWidget(dock.auto_box)
    layout.addStretch(1)
    scroll = QScrollArea()  # a short window scrolls the dock instead of squeezing its parts together
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(body)
    dock.setWidget(scroll)
