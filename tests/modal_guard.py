"""A dialog left open would stop a window test forever: a modal dialog runs its own event loop,
nobody clicks in a headless run, and pytest-timeout's alarm is swallowed by the slot it lands in.
The guard closes a modal dialog that stays open past its limit and says which one it was, so the
test fails with that name instead of hanging the suite."""
from __future__ import annotations

import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox, QWidget


def describe(widget: QWidget) -> str:
    text = widget.text() if isinstance(widget, QMessageBox) else ""
    return f"{type(widget).__name__} {widget.windowTitle()!r}" + (f": {text[:300]}" if text else "")


class ModalGuard:
    def __init__(self, limit_s: float = 20.0, poll_ms: int = 500):
        self.limit_s = limit_s
        self.closed: list[str] = []
        self._seen: QWidget | None = None
        self._since = 0.0
        self._timer = QTimer()
        self._timer.timeout.connect(self._check)
        self._timer.start(poll_ms)

    def _check(self) -> None:
        modal = QApplication.activeModalWidget()
        if modal is None or modal is not self._seen:
            self._seen, self._since = modal, time.monotonic()
            return
        if time.monotonic() - self._since < self.limit_s:
            return
        self.closed.append(describe(modal))
        self._seen = None
        cancel = _reject_button(modal) if isinstance(modal, QMessageBox) else None
        if cancel is not None:
            cancel.click()  # the safe answer: Cancel, No or Close
        elif isinstance(modal, QDialog):
            modal.reject()
        else:
            modal.close()

    def stop(self) -> None:
        self._timer.stop()


def _reject_button(box: QMessageBox):
    for button in box.buttons():
        if box.buttonRole(button) in (QMessageBox.ButtonRole.RejectRole, QMessageBox.ButtonRole.NoRole):
            return button
    return None
