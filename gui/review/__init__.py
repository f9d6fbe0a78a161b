"""Reviewing predicted masks in the window: the review dock and its canvas layer.

`install_review_tools(window)` is called once by the main window, after the training tools; the
dock is `window.review_dock`. Choosing "Review with this run" in the training panel shows the
dock with that run's checkpoint.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction

from .dock import ReviewDock

REVIEW_DOCK_HEIGHT, REVIEW_DOCK_WIDTH = 600, 400


class _CloseWatcher(QObject):
    """Cancels and waits for a prediction thread when the window closes."""

    def __init__(self, dock: ReviewDock):
        super().__init__(dock)
        self.dock = dock

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close:
            self.dock.shutdown()
        return False


def install_review_tools(window: Any) -> ReviewDock:
    dock = ReviewDock(window)
    window.add_dock(dock, Qt.DockWidgetArea.RightDockWidgetArea)
    dock.hide()
    window.review_dock = dock

    def show_dock() -> None:
        first_time = not dock.isVisible()
        dock.show()
        dock.raise_()
        if first_time:  # room for the list and the mapping table next to the other right-hand docks
            window.resizeDocks([dock], [REVIEW_DOCK_HEIGHT], Qt.Orientation.Vertical)
            window.resizeDocks([dock], [REVIEW_DOCK_WIDTH], Qt.Orientation.Horizontal)

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
    window.installEventFilter(_CloseWatcher(dock))
    return dock
