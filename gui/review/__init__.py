"""Reviewing predicted masks in the window: the review dock and its canvas layer.

`install_review_tools(window)` is called once by the main window, after the training tools; the
dock is `window.review_dock`. Choosing "Review with this run" in the training panel shows the
dock with that run's checkpoint.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction

from ..workers import CloseWatcher
from .dock import ReviewDock

REVIEW_DOCK_SHARE = 0.7  # of the window's height


def install_review_tools(window: Any) -> ReviewDock:
    dock = ReviewDock(window)
    window.add_dock(dock, Qt.DockWidgetArea.RightDockWidgetArea)
    props = getattr(window, "props", None)
    if props is not None:  # a tab beside the shape properties (as the anchors dock): the list needs the height
        window.tabifyDockWidget(props, dock)
    dock.hide()
    window.review_dock = dock

    def show_dock() -> None:
        first_time = not dock.isVisible()
        dock.show()
        dock.raise_()
        if first_time:  # most of the right-hand column, and room for the list's text
            window.resizeDocks([dock], [max(dock.height(), int(window.height() * REVIEW_DOCK_SHARE))],
                               Qt.Orientation.Vertical)
            window.fit_right_column()

    def review(run: Any) -> None:
        dock.set_run(run)
        show_dock()

    panel = getattr(window, "training_panel", None)
    if panel is not None:
        panel.reviewRequested.connect(review)
        # a finished run becomes the review model unless the user already chose one
        panel.finished.connect(lambda *_: dock.set_run(panel.runs.selected()) if dock.run is None else None)
    action = QAction("Review predictions…", window)
    action.triggered.connect(show_dock)
    window.addAction(action)
    menu = getattr(window, "train_menu", None)
    if menu is not None:
        menu.addAction(action)
    window.review_action = action
    window.installEventFilter(CloseWatcher(dock, dock.shutdown))  # cancels and waits for a prediction thread
    return dock
