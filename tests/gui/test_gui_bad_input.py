"""Bad input in the window: broken images, corrupt annotation files, read-only folders, failed saves."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt

from tests.gui.helpers import disk_shapes, draw_square, key, shot

def test_broken_image_shows_message_and_broken_mark(make_window, demo_project, qtbot):
    (demo_project / "zz_truncated.jpg").write_bytes((demo_project / "street_000.jpg").read_bytes()[:600])
    (demo_project / "zz_garbage.png").write_bytes(b"this is not a picture at all")
    window = make_window(demo_project)
    for name in ("zz_garbage.png", "zz_truncated.jpg"):
        window.open_image(name)
        assert name in window.canvas.message and "cannot" in window.canvas.message
        row = window.files.model.row_of(name)
        assert window.files.model.states[row] == "broken"
        assert "broken" in window.files.model.index(row).data()
    shot(window, "05_broken_image")
    draw_square(qtbot, window)  # editing is off: no annotation file appears
    assert not (demo_project / "zz_truncated.json").exists()
    qtbot.waitUntil(window.files.scan_done, timeout=10000)
    assert window.files.model.states[window.files.model.row_of("zz_garbage.png")] == "broken"


def test_corrupt_json_is_read_only_and_never_overwritten(make_window, demo_project, qtbot):
    corrupt = demo_project / "street_001.json"
    original = corrupt.read_bytes()[:-40]  # cut short: not valid JSON any more
    corrupt.write_bytes(original)
    window = make_window(demo_project)
    window.open_image("street_001.jpg")
    doc = window.document
    assert not doc.can_edit() and "not valid JSON" in doc.read_only_reason
    assert window.banner.isVisible() and "street_001.json" in window.banner.text()
    assert "read-only" in window.status.saved.text()
    shot(window, "06_corrupt_json_read_only")
    draw_square(qtbot, window)
    key(qtbot, window.canvas, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    window.save_all()
    key(qtbot, window.canvas, Qt.Key.Key_D)
    key(qtbot, window.canvas, Qt.Key.Key_A)
    window.close()
    assert corrupt.read_bytes() == original
    assert window.files.model.states[window.files.model.row_of("street_001.jpg")] == "broken"


def test_read_only_folder_banner_before_any_edit(make_window, demo_project, qtbot, monkeypatch):
    root = demo_project.resolve()
    os.chmod(root, 0o555)
    real_access = os.access
    if os.geteuid() == 0:  # root ignores permissions: pretend the folder is on a read-only mount
        monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if (
            mode & os.W_OK and Path(p).resolve().is_relative_to(root)) else real_access(p, mode, *a, **k))
    try:
        window = make_window(demo_project)
        assert window.banner.isVisible()
        assert "read-only" in window.banner.text() and "cannot be saved" in window.banner.text()
        shot(window, "07_read_only_folder")
        window.open_image("street_006.jpg")
        draw_square(qtbot, window)
        assert "Not editable" in window.statusBar().currentMessage()
        assert not (demo_project / "street_006.json").exists()
    finally:
        os.chmod(root, 0o755)


def test_failed_save_stays_dirty_shows_why_and_retries(window, demo_project, qtbot, monkeypatch, failing_disk):
    failing = failing_disk
    monkeypatch.setattr("gui.document.RETRY_DELAYS_MS", (200, 400))
    window.open_image("street_006.jpg")
    draw_square(qtbot, window)
    doc = window.document
    doc.flush()  # the write runs on the writer thread
    assert doc.dirty and "No space left" in doc.save_error
    assert window.banner.isVisible() and "Not saved" in window.banner.text()
    assert "not saved" in window.status.saved.text()
    shot(window, "08_save_failed")
    assert disk_shapes(demo_project, "street_006.jpg") is None
    failing["on"] = False
    qtbot.waitUntil(lambda: not doc.dirty, timeout=3000)
    assert len(disk_shapes(demo_project, "street_006.jpg")) == 1
    assert not window.banner.isVisible() and window.status.saved.text() == "✔ saved"
