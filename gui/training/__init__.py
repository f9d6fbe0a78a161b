"""Training from the window: a dock with the training panel, a Train action and menu.

`install_training_tools(window)` is called once by the main window; the panel is
`window.training_panel`, its dock `window.training_dock`. The dock starts hidden (it needs torch
when first shown) and the Train action shows it.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QToolBar

from ..workers import CloseWatcher
from .panel import TrainingPanel


def install_training_tools(window: Any) -> TrainingPanel:
    panel = TrainingPanel(window)
    dock = QDockWidget("Training", window)
    dock.setObjectName("TrainingDock")
    dock.setWidget(panel)
    window.add_dock(dock, Qt.DockWidgetArea.BottomDockWidgetArea)
    # the right-hand docks keep the full height: with them and the training panel open together,
    # the window still fits a 1280x800 screen
    window.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
    dock.hide()
    window.training_panel = panel
    window.training_dock = dock

    def show_panel() -> None:
        dock.show()
        dock.raise_()
        panel.load_models()

    action = QAction("Train…", window)
    action.setShortcut(QKeySequence("Ctrl+T"))
    action.setToolTip("Show the training panel: settings, Start, progress, runs")
    action.triggered.connect(show_panel)
    window.addAction(action)
    menu = window.menuBar().addMenu("&Train")
    menu.addAction(action)
    menu.addAction(dock.toggleViewAction())
    window.train_action = action
    toolbar = window.findChild(QToolBar, "ToolsBar")
    if toolbar is not None:
        toolbar.addSeparator()
        toolbar.addAction(action)
    window.train_menu = menu
    window.installEventFilter(CloseWatcher(panel, panel.shutdown))  # no orphan training process
    return panel
