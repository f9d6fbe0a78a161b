"""Killing the app (SIGKILL, no clean close) right after an edit leaves a complete, valid file."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core.labelme_json import read_annotation

ROOT = Path(__file__).resolve().parents[2]

EDITOR = textwrap.dedent("""
    import sys
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from gui.app import create_main_window
    window = create_main_window(sys.argv[1])
    window.show()
    QTest.qWaitForWindowExposed(window)
    window.open_image("street_006.jpg")
    canvas = window.canvas
    at = lambda x, y: canvas.to_widget(QPointF(x, y)).toPoint()
    window.set_tool("polygon")
    for x, y in [(100, 100), (300, 100), (300, 250), (100, 250), (100, 100)]:
        QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(x, y))
    window.document.flush()  # the edit is on disk ("saved" in the status bar)
    print("EDITED", flush=True)
    window.set_tool("edit")
    x = 300
    while True:  # keep editing (and saving) until killed
        QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(x, 100))
        x = 320 if x == 300 else 300
        QTest.mouseMove(canvas, at(x, 100))
        QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(x, 100))
""")


@pytest.mark.parametrize("delay", [0.0, 0.15])
def test_sigkill_right_after_an_edit_leaves_a_valid_file(demo_project, delay):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", EDITOR, str(demo_project)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "EDITED", proc.stderr.read()
        time.sleep(delay)  # 0: at once after the first edit; 0.15 s: in the middle of later saves
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    ann = read_annotation(demo_project / "street_006.json")  # raises on a partial or corrupt file
    assert len(ann.shapes) == 1 and len(ann.shapes[0].points) == 4
    x = ann.shapes[0].points[1][0]  # the dragged vertex is at one end of its drag or the other
    assert min(abs(x - 300), abs(x - 320)) <= 1
