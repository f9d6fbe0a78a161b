"""The anchors mode of the annotation window: the anchors dock with its canvas overlay, and the
statistics window. `install_anchor_tools(window)` adds them to a MainWindow."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

from .dock import AnchorsDock


def install_anchor_tools(window) -> AnchorsDock:
    """Add the Anchors dock (hidden until asked for: computing previews costs CPU), its overlay
    layer on the canvas, and an "Anchors" menu with the dock's toggle and "Statistics…"."""
    dock = AnchorsDock(window)
    window.add_dock(dock, Qt.DockWidgetArea.RightDockWidgetArea)
    props = getattr(window, "props", None)
    if props is not None:  # a tab beside the shape properties: the dock needs the height
        window.tabifyDockWidget(props, dock)
    dock.hide()
    menu = window.menuBar().addMenu("&Anchors")
    toggle = dock.toggleViewAction()
    toggle.setText("Anchor preview")
    toggle.setShortcut(QKeySequence("Ctrl+Shift+A"))
    toggle.triggered.connect(lambda checked: checked and _bring_forward(window, dock))
    window.addAction(toggle)
    menu.addAction(toggle)
    stats = QAction("Statistics…", window)
    stats.setShortcut(QKeySequence("Ctrl+Shift+T"))
    stats.triggered.connect(dock.open_statistics)
    window.addAction(stats)
    menu.addAction(stats)
    panel = getattr(window, "training_panel", None)
    if panel is not None:  # the preview shows what the next run trains with
        panel.settingsRemembered.connect(dock.follow_project)
    window.anchors_dock = dock
    window.anchor_stats_action = stats
    return dock


def _bring_forward(window, dock: AnchorsDock) -> None:
    dock.raise_()
    window.resizeDocks([dock], [max(dock.height(), int(window.height() * 0.7))], Qt.Orientation.Vertical)
    if hasattr(window, "fit_right_column"):
        window.fit_right_column()
