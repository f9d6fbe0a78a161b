"""Autosave writes on a worker thread: a slow disk never stalls the window, and "saved" means the
newest content is on disk."""
from __future__ import annotations

import json
import threading
import time

from PySide6.QtCore import Qt

from core.annotation import FLAG_NEEDS_WORK, FLAG_REVIEWED

from tests.gui.helpers import key


def _flags(project, image: str) -> dict:
    return json.loads((project / image).with_suffix(".json").read_text(encoding="utf-8"))["flags"]


def test_a_slow_disk_does_not_stall_the_window_and_saved_state_is_exact(window, demo_project, qtbot, monkeypatch):
    doc = window.document
    image = str(doc.image)
    real_write = doc.project.write_annotation_text
    writing = threading.Event()

    def slow_write(img, text):  # a disk that takes 0.8 s per save
        writing.set()
        time.sleep(0.8)
        real_write(img, text)

    monkeypatch.setattr(doc.project, "write_annotation_text", slow_write)
    started = time.perf_counter()
    key(qtbot, window.canvas, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)  # reviewed
    assert time.perf_counter() - started < 0.4, "the key press waited for the disk"
    assert writing.wait(2)
    assert doc.dirty and doc.is_writing(image), "not saved until the write is done"
    # a second edit while the first write is still under way
    key(qtbot, window.canvas, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.wait(900)  # the first write is done by now, the second is not
    assert doc.dirty, "an older version on disk must not count as saved"
    first = _flags(demo_project, image)
    assert first[FLAG_REVIEWED] and not first.get(FLAG_NEEDS_WORK)
    assert "saving" in window.status.saved.text()
    qtbot.waitUntil(lambda: not doc.dirty, timeout=5000)
    flags = _flags(demo_project, image)
    assert flags[FLAG_NEEDS_WORK] and not flags.get(FLAG_REVIEWED)
    assert window.status.saved.text() == "✔ saved"


def test_a_failed_background_write_keeps_the_image_dirty_and_says_why(window, demo_project, qtbot, monkeypatch):
    doc = window.document
    from core.errors import AnnotationError

    def failing_write(img, text):
        raise AnnotationError(doc.project.annotation_path(img), "cannot save: No space left on device")

    monkeypatch.setattr(doc.project, "write_annotation_text", failing_write)
    key(qtbot, window.canvas, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: doc.save_error is not None, timeout=5000)
    assert doc.dirty and "No space left" in doc.save_error
    assert not doc.save_all()
    monkeypatch.undo()
    assert doc.save_all() and not doc.dirty
