"""Learning the tool (F1 shortcut sheet, About with the doctor versions, hover hints), quitting
fast with Ctrl+Q, and background reads that fail on hostile files becoming per-image marks."""
from __future__ import annotations

import inspect
import os
import re
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from gui.dialogs.shortcuts import gesture_rows
from tests.gui.helpers import key, shot, widget_point

ROOT = Path(__file__).resolve().parents[2]


def test_f1_opens_a_searchable_sheet_of_every_action_key(window, qtbot):
    window.resize(1280, 800)
    key(qtbot, window.canvas, Qt.Key.Key_F1)
    dialog = window.help_actions.shortcuts_dialog
    assert dialog is not None and dialog.isVisible()
    rows = {(r.action, r.keys) for r in dialog.rows}
    assert ("Undo", "Ctrl+Z") in rows and ("Quit", "Ctrl+Q") in rows and ("Keyboard shortcuts", "F1") in rows
    assert ("Previous image", "A  or  Left") in rows
    every_key = {s.toString() for a in window.findChildren(type(window.undo_action)) for s in a.shortcuts()}
    gestures = gesture_rows()
    assert dialog.rows[-len(gestures):] == gestures  # the keys that are no action come last
    on_sheet = {k for r in dialog.rows[:-len(gestures)] for k in r.keys.split("  or  ")}
    assert every_key == on_sheet  # generated from the actions: nothing missing, nothing stale
    assert ("Remove the vertex", "Shift+click a vertex") in rows and ("Close the polygon", "Enter, double-click or "
                                                                     "click the first vertex") in rows
    menus = {r.action: r.menu for r in dialog.rows}
    assert menus["Open folder"] == "File" and menus["Fit to window"] == "View"
    qtbot.keyClicks(dialog.search, "zoom")
    assert set(dialog.visible_actions()) == {"Zoom in", "Zoom out", "Zoom at the pointer"}
    assert dialog.count.text() == f"3 of {len(dialog.rows)} shortcuts"
    dialog.search.clear()
    qtbot.keyClicks(dialog.search, "backspace")
    assert set(dialog.visible_actions()) == {"Remove the last vertex", "Take back the last seed",
                                             "Reject the selected predictions"}
    dialog.search.clear()
    qtbot.keyClicks(dialog.search, "ctrl+shift")
    assert "Redo" in dialog.visible_actions() and "Undo" not in dialog.visible_actions()
    dialog.search.clear()
    dialog.resize(640, 700)
    QApplication.processEvents()
    dialog.grab().save(str(shot(window, "issue10_shortcuts_window").with_name("issue10_shortcuts.png")))
    dialog.table.scrollToBottom()
    QApplication.processEvents()
    dialog.grab().save(str(shot(window, "issue10_shortcuts_window").with_name("issue10_shortcuts_gestures.png")))
    key(qtbot, dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()


def test_every_key_a_tool_handles_is_on_the_sheet():
    """The F1 sheet's gesture rows are declared beside the code; every key or modifier that code
    tests must appear in its declaration."""
    from gui.canvas.assist_tool import AssistTool
    from gui.canvas.tools import EditTool, PolygonTool, RectangleTool, _CreateTool
    from gui.canvas.view import CanvasView
    from gui.review import dock

    names = {"Key_Return": "Enter", "Key_Enter": "Enter", "Key_Escape": "Esc", "Key_Backspace": "Backspace",
             "Key_Delete": "Delete", "Key_Space": "Space", "ShiftModifier": "Shift", "ControlModifier": "Ctrl",
             "RightButton": "Right-click", "MiddleButton": "middle-button"}
    handlers = [(PolygonTool, [PolygonTool, _CreateTool]), (RectangleTool, [RectangleTool, _CreateTool]),
                (EditTool, [EditTool]), (AssistTool, [AssistTool]), (CanvasView, [CanvasView])]
    for owner, sources in handlers:
        code = "".join(inspect.getsource(c) for c in sources)
        declared = " ".join(keys for keys, _ in owner.HINTS)
        for token, word in names.items():
            if re.search(rf"\b{token}\b", code):
                assert word in declared, f"{owner.__name__} handles {token} but its HINTS do not say {word}"
    review_keys = " ".join(keys for keys, _ in dock.LIST_HINTS)
    assert all(word in review_keys for word in ("Enter", "Delete", "Backspace"))


def test_about_shows_the_doctor_versions(window, qtbot):
    from core.torch_check import doctor_report

    window.help_actions.menu.actions()[1].trigger()  # Help > About Masklab
    dialog = window.help_actions.about_dialog
    assert dialog.isVisible()
    qtbot.waitUntil(dialog.report_ready, timeout=120000)  # torch is imported on a thread meanwhile
    text = dialog.versions.toPlainText()
    assert text.startswith(doctor_report()[0])
    assert "torchvision" in text and "PySide6" in text


def test_hovering_a_vertex_or_an_edge_shows_a_hint(window, qtbot):
    window.set_tool("edit")
    shape = window.document.annotation.shapes[0]
    a, b = shape.points[0], shape.points[1]
    canvas = window.canvas
    qtbot.mouseMove(canvas, widget_point(canvas, *a))
    assert window.status.hint.text() == "Vertex: drag to move · Shift+click to remove"
    middle = (a + b) / 2
    qtbot.mouseMove(canvas, widget_point(canvas, *middle))
    assert window.status.hint.text() == "Edge: click + to insert a vertex (and drag it)"
    ann, tol = window.document.annotation, canvas.tolerance()
    far = next((x, y) for x in range(5, 640, 15) for y in range(5, 480, 15)
               if canvas.geometry.vertex_at(ann, x, y, tol) is None and canvas.geometry.edge_at(ann, x, y, tol) is None)
    qtbot.mouseMove(canvas, widget_point(canvas, *far))
    assert window.status.hint.text() == ""


QUITTER = textwrap.dedent("""
    import sys, time
    import torch, torchvision  # loaded, as after the anchor preview: its teardown is the slow part
    from PySide6.QtCore import QPointF, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    real_exec = QApplication.exec

    def drive(self=None):
        app = QApplication.instance()
        window = next(w for w in app.topLevelWidgets() if hasattr(w, "document"))

        def edit_then_quit():
            QTest.qWaitForWindowExposed(window)
            window.activateWindow()
            window.open_image("street_006.jpg")
            canvas = window.canvas
            at = lambda x, y: canvas.to_widget(QPointF(x, y)).toPoint()
            window.set_tool("polygon")
            for x, y in [(100, 100), (300, 100), (300, 250)]:
                QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(x, y))
            QTest.keyClick(canvas, Qt.Key.Key_Return)
            print("QUIT", time.monotonic(), flush=True)
            QTest.keyClick(canvas, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)

        QTimer.singleShot(300, edit_then_quit)
        return real_exec()

    QApplication.exec = drive
    sys.argv = ["main.py", sys.argv[1]]
    import main
    sys.exit(main.entry())
""")


def test_ctrl_q_ends_the_program_within_a_second_and_keeps_the_edit(demo_project):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT),
               MASKLAB_SETTINGS=str(demo_project.parent / "settings.ini"))
    proc = subprocess.Popen([sys.executable, "-c", QUITTER, str(demo_project)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("QUIT"), proc.stderr.read()
        pressed = time.monotonic()
        proc.wait(30)
        elapsed = time.monotonic() - pressed
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, proc.stderr.read()
    assert elapsed < 1.0, f"Ctrl+Q took {elapsed:.2f} s to end the program"
    from core.labelme_json import read_annotation

    assert len(read_annotation(demo_project / "street_006.json").shapes) == 1  # saved before exiting


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A tiny PNG whose header claims width x height (an image bomb: refused before decoding)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def test_hostile_files_become_broken_marks_and_the_window_still_starts(make_window, demo_project, qtbot, monkeypatch):
    first = demo_project / "aa_nested.json"  # sorted first: the image the window opens at start
    (demo_project / "aa_nested.jpg").write_bytes((demo_project / "street_000.jpg").read_bytes())
    first.write_text("[" * 100_000 + "]" * 100_000)
    (demo_project / "street_002.json").write_text(
        '{"shapes": [{"label": "car", "points": [[1, 2], [10' + "0" * 400 + ', 5], [3, 4]], "shape_type": "polygon"}],'
        ' "imageHeight": 480, "imageWidth": 640}')
    _png_header_only(demo_project / "bomb.png", 30000, 30000)
    import gui.docks.thumbnails as thumbnails

    real_load = thumbnails.load_image

    def exploding(path, max_side=None):  # an error no reader foresaw, in the thumbnail thread
        if Path(path).name == "street_004.jpg":
            raise RuntimeError("decoder crashed")
        return real_load(path, max_side=max_side)

    monkeypatch.setattr(thumbnails, "load_image", exploding)
    window = make_window(demo_project)
    assert window.document.image.name == "aa_nested.jpg"
    assert not window.document.can_edit() and "nested" in window.banner.text()
    qtbot.waitUntil(window.files.scan_done, timeout=20000)
    model = window.files.model
    states = dict(zip((p.name for p in model.images), model.states))
    assert states["aa_nested.jpg"] == "broken" and states["street_002.jpg"] == "broken"
    assert states["bomb.png"] == "broken" and "pixels" in model.problems[model.row_of("bomb.png")]
    assert sum(s == "unknown" for s in model.states) == 0  # the scan went through every image
    window.files.view.scrollToBottom()
    qtbot.waitUntil(lambda: model.states[model.row_of("street_004.jpg")] == "broken", timeout=10000)
    assert "decoder crashed" in model.problems[model.row_of("street_004.jpg")]

    window.open_image("bomb.png")
    assert "pixels" in window.canvas.message and "bomb.png" in window.canvas.message
    assert not window.document.can_edit()


def test_a_big_png_is_never_decoded_on_the_gui_thread(make_window, demo_project, qtbot, monkeypatch):
    import threading

    from PIL import Image

    import gui.canvas.photo as photo
    import gui.workers as workers

    Image.new("RGB", (2600, 2000), (90, 120, 150)).save(demo_project / "big.png")
    decodes = []

    def recording(module):
        real = module.load_image

        def load(path, max_side=None):
            decodes.append((Path(path).name, max_side, threading.current_thread() is threading.main_thread()))
            return real(path, max_side=max_side)
        return load

    monkeypatch.setattr(photo, "load_image", recording(photo))
    monkeypatch.setattr(workers, "load_image", recording(workers))
    window = make_window(demo_project)
    window.open_image("big.png")
    qtbot.waitUntil(lambda: window.canvas.photo_layer.image is not None
                    and window.canvas.photo_layer.image.width() == 2600, timeout=20000)
    assert ("big.png", None, False) in decodes  # decoded whole, on the pool
    assert not [d for d in decodes if d[0] == "big.png" and d[2]]  # never on the GUI thread
    assert window.canvas.image_width == 2600 and window.document.can_edit()


def test_a_crash_in_the_background_decode_marks_the_image_and_says_why(make_window, demo_project, qtbot, monkeypatch):
    from PIL import Image

    import gui.workers as workers

    Image.new("RGB", (2600, 2000), (90, 120, 150)).save(demo_project / "big.png")

    def out_of_memory(path, max_side=None):
        raise MemoryError()

    monkeypatch.setattr(workers, "load_image", out_of_memory)
    window = make_window(demo_project)
    window.open_image("big.png")
    row = window.files.model.row_of("big.png")
    qtbot.waitUntil(lambda: window.files.model.states[row] == "broken", timeout=10000)
    assert "MemoryError" in window.files.model.problems[row] and "big.png" in window.files.model.problems[row]
    assert "cannot be shown" in window.canvas.message and "MemoryError" in window.canvas.message
    window.open_image("street_000.jpg")  # the decode thread is alive: the next photo still arrives
    window.open_image("big.png")
    qtbot.waitUntil(lambda: "MemoryError" in window.canvas.message, timeout=10000)
