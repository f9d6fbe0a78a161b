"""The guard that turns a forgotten dialog into a failing test instead of a suite that never ends."""
from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

from tests.modal_guard import ModalGuard


def test_a_dialog_nobody_answers_is_closed_and_named(qtbot):
    guard = ModalGuard(limit_s=0.3, poll_ms=50)
    answer = QMessageBox.question(None, "Unsaved changes", "Close and lose those edits?",
                                  QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel)
    guard.stop()
    assert answer == QMessageBox.StandardButton.Cancel  # rejected: the safe answer
    assert guard.closed == ["QMessageBox 'Unsaved changes': Close and lose those edits?"]
