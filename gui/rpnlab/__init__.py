"""The RPN laboratory in the window: `install_rpn_lab(window)` adds "RPN laboratory…" to the Train
menu (Ctrl+Shift+L); the window (`window.rpn_lab`) is built when first opened."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QAction, QKeySequence


class _CloseWatcher(QObject):
    """Stops the lab's worker when the main window closes."""

    def __init__(self, window: Any):
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close and getattr(self.window, "rpn_lab", None) is not None:
            self.window.rpn_lab.shutdown()
        return False


def open_rpn_lab(window: Any, checkpoint: str | None = None):
    from .window import RpnLabWindow

    if getattr(window, "rpn_lab", None) is None:
        window.rpn_lab = RpnLabWindow(window)
    lab = window.rpn_lab
    if checkpoint:
        lab.set_checkpoint(checkpoint)
    lab.show()
    lab.raise_()
    return lab


def install_rpn_lab(window: Any) -> QAction:
    window.rpn_lab = None
    action = QAction("RPN laboratory…", window)
    action.setShortcut(QKeySequence("Ctrl+Shift+L"))
    action.setToolTip("Objectness maps, proposals before and after NMS, and decoding of a checkpoint's RPN")
    action.triggered.connect(lambda: open_rpn_lab(window))
    window.addAction(action)
    menu = getattr(window, "train_menu", None) or window.menuBar().addMenu("&RPN")
    menu.addAction(action)
    window.rpn_lab_action = action
    window.installEventFilter(_CloseWatcher(window))
    return action
