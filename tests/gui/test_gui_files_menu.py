"""File menu (open folder, open recent, import, export), the file list's natural order and its
reaction to annotation files changed by other programs, driven by real keys and clicks."""
from __future__ import annotations

import io
import json
import os
import shutil
import threading
from contextlib import redirect_stdout
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from core.annotation import Annotation, Shape
from core.labelme_json import write_annotation
from tests.conftest import shared_data
from tests.gui.helpers import draw_square, key, shot

def write_labelme(path: Path, labels: list[str], width: int = 640, height: int = 480) -> None:
    """A valid sidecar written the way another tool would: a new file renamed over the old one."""
    shapes = [Shape(label, [[10 + 30 * i, 10], [60 + 30 * i, 10], [60 + 30 * i, 60]]) for i, label in enumerate(labels)]
    tmp = path.with_name("outside-tool.tmp")
    write_annotation(tmp, Annotation(path.with_suffix(".jpg").name, height, width, shapes=shapes))
    os.replace(tmp, path)


def test_file_list_is_in_natural_order(make_window, tmp_path, demo_project, qtbot):
    project = tmp_path / "natural"
    project.mkdir()
    photo = (demo_project / "street_000.jpg").read_bytes()
    for name in ("car_10.jpg", "car_2.jpg", "car_1.jpg", "Car_3.jpg", "sub/car_20.jpg", "sub/car_9.jpg"):
        (project / name).parent.mkdir(exist_ok=True)
        (project / name).write_bytes(photo)
    window = make_window(project)
    assert [p.as_posix() for p in window.files.model.images] == [
        "car_1.jpg", "car_2.jpg", "Car_3.jpg", "car_10.jpg", "sub/car_9.jpg", "sub/car_20.jpg"]
    assert window.document.image.as_posix() == "car_1.jpg"
    for expected in ("car_2.jpg", "Car_3.jpg", "car_10.jpg", "sub/car_9.jpg"):
        key(qtbot, window.canvas, Qt.Key.Key_D)
        assert window.document.image.as_posix() == expected


def test_broken_sidecar_fixed_on_disk_is_reloaded_and_editable(make_window, demo_project, qtbot):
    sidecar = demo_project / "street_001.json"
    sidecar.write_bytes(sidecar.read_bytes()[:-40])  # broken: the image opens read-only
    window = make_window(demo_project)
    window.files.step(+1)  # D: the next image, street_001
    assert window.document.image.name == "street_001.jpg"
    assert not window.document.can_edit() and window.banner.isVisible()
    row = window.files.model.row_of("street_001.jpg")
    qtbot.waitUntil(lambda: window.files.model.states[row] == "broken", timeout=10000)

    write_labelme(sidecar, ["car", "car", "sign board"])  # fixed by hand in another program
    qtbot.waitUntil(lambda: window.document.can_edit(), timeout=5000)
    assert [s.label for s in window.document.annotation.shapes] == ["car", "car", "sign board"]
    assert not window.banner.isVisible()
    qtbot.waitUntil(lambda: window.files.model.states[row] == "labelled", timeout=5000)
    assert window.files.model.counts[row] == {"car": 2, "sign board": 1}
    assert "editable again" in window.statusBar().currentMessage()
    draw_square(qtbot, window)  # and the fixed file takes edits again
    window.document.flush()
    assert len(json.loads(sidecar.read_text())["shapes"]) == 4


def test_change_on_disk_of_an_image_not_open_updates_its_row(window, demo_project, qtbot):
    qtbot.waitUntil(window.files.scan_done, timeout=10000)
    row = window.files.model.row_of("street_005.jpg")
    write_labelme(demo_project / "street_005.json", ["bus"] * 4)
    qtbot.waitUntil(lambda: window.files.model.counts[row] == {"bus": 4}, timeout=5000)
    assert "bus" in window.project.label_names()  # a label new to the project joins the list
    assert window.document.image.name == "street_000.jpg"


def test_reload_never_overwrites_an_unsaved_edit(window, demo_project, qtbot, monkeypatch, failing_disk):
    failing = failing_disk
    failing["reason"] = "cannot save: disk full"
    monkeypatch.setattr("gui.document.RETRY_DELAYS_MS", (60000,))
    window.files.step(+1)
    image = window.document.image
    draw_square(qtbot, window)
    window.document.flush()  # the failed write comes back from the writer thread
    assert window.document.dirty
    shapes_in_window = len(window.document.annotation.shapes)
    write_labelme(demo_project / image.with_suffix(".json"), ["bus"])  # another program writes meanwhile
    qtbot.waitUntil(lambda: "changed on disk" in window.statusBar().currentMessage(), timeout=5000)
    assert "unsaved edits are kept" in window.statusBar().currentMessage()
    assert len(window.document.annotation.shapes) == shapes_in_window and window.document.dirty
    failing["on"] = False
    assert window.document.save_all()  # the edit wins: it is what the user sees
    assert len(json.loads((demo_project / image.with_suffix(".json")).read_text())["shapes"]) == shapes_in_window


def test_own_saves_are_not_taken_for_outside_changes(window, demo_project, qtbot):
    window.files.step(+1)
    before = len(window.document.annotation.shapes)
    draw_square(qtbot, window)
    qtbot.wait(600)  # well past the watcher's gathering delay
    assert "changed on disk" not in window.statusBar().currentMessage()
    assert window.document.undo_stack_for_current().count() == 1  # history kept: nothing was reloaded
    key(qtbot, window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(window.document.annotation.shapes) == before


def _via_with_a_missing_image(tmp_path: Path) -> Path:
    records = json.loads((shared_data("car_damage_via") / "all.json").read_text())
    records.append({"filename": "no_such_photo.jpg", "size": 1, "regions": {}, "file_attributes": {}})
    path = tmp_path / "via.json"
    path.write_text(json.dumps(records))
    return path


def test_import_dialog_runs_on_a_thread_with_progress_and_the_cli_summary(window, demo_project, tmp_path, qtbot,
                                                                          monkeypatch):
    source = _via_with_a_missing_image(tmp_path)
    images = shared_data("car_damage_via")
    import core.formats as formats

    real_place = formats._place_image
    reached, release, placed = threading.Event(), threading.Event(), []

    def place(src, target, link):  # holds the import at image 40 until the test has looked
        if len(placed) == 40:
            reached.set()
            release.wait(30)
        placed.append(target)
        return real_place(src, target, link)

    monkeypatch.setattr(formats, "_place_image", place)
    key(qtbot, window.canvas, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    dialog = window.file_actions.import_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.set_format("via")
    assert dialog.label_key.isVisible() and not dialog.names.isVisible()
    qtbot.keyClicks(dialog.source.edit, str(source))
    qtbot.keyClicks(dialog.images.edit, str(images))
    qtbot.keyClicks(dialog.label_key, "cls")
    qtbot.mouseClick(dialog.link, Qt.MouseButton.LeftButton)
    assert dialog.project.text() == str(demo_project.resolve())
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    try:
        qtbot.waitUntil(reached.is_set, timeout=30000)
        qtbot.waitUntil(lambda: dialog.progress.value() == 40, timeout=5000)
        assert dialog.progress.maximum() == 121 and "40 of 121" in dialog.progress.text()
        assert not dialog.run_button.isEnabled() and dialog.cancel_button.isVisible()
        before = window.document.image
        window.activateWindow()  # the dialog is not modal: back to the window
        qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
        key(qtbot, window.canvas, Qt.Key.Key_D)  # the window answers while the import runs
        assert window.document.image != before
        dialog.resize(700, 560)
        window.resize(1280, 800)
        QApplication.processEvents()
        path = shot(window, "issue10_import_window")
        dialog.grab().save(str(path.with_name("issue10_import.png")))
    finally:
        release.set()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=60000)
    text = dialog.report.toPlainText()
    assert text.startswith("imported via"), dialog.state.text()

    cli_project = tmp_path / "cli"  # the same import by the command line prints the same summary
    out = io.StringIO()
    from core.cli import main as cli_main

    with redirect_stdout(out):
        assert cli_main(["import", str(source), "--format", "via", "--project", str(cli_project),
                         "--images", str(images), "--label-key", "cls", "--link"]) == 0
    assert text.splitlines()[1:] == out.getvalue().strip().splitlines()[1:]
    assert "images: 121" in text and "skipped: 1" in text and "no_such_photo.jpg" in text
    assert "labels added: rayure, retro, roue" in text
    qtbot.waitUntil(lambda: window.files.model.row_of("car_10.jpg") >= 0, timeout=5000)
    assert window.files.model.rowCount() == 8 + 121
    assert window.files.model.row_of("car_2.jpg") < window.files.model.row_of("car_10.jpg")  # natural order
    assert {"rayure", "retro", "roue"} <= set(window.project.label_names())
    qtbot.mouseClick(dialog.close_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()


def test_import_dialog_refuses_bad_options_like_the_cli(window, tmp_path, qtbot):
    key(qtbot, window.canvas, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    dialog = window.file_actions.import_dialog
    dialog.set_format("coco")
    qtbot.keyClicks(dialog.source.edit, str(tmp_path / "missing.json"))
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running() and "missing.json" in dialog.state.text(), timeout=10000)
    assert "does not exist" in dialog.state.text()
    assert dialog.run_button.isEnabled()


def test_export_dialog_writes_coco_with_the_cli_report(window, demo_project, tmp_path, qtbot):
    key(qtbot, window.canvas, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    dialog = window.file_actions.export_dialog
    out = tmp_path / "export" / "coco.json"
    dialog.out.edit.clear()
    qtbot.keyClicks(dialog.out.edit, str(out))
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running() and dialog.report.toPlainText() != "", timeout=30000)
    cli_out = tmp_path / "cli.json"  # the command line's export of the same project
    printed = io.StringIO()
    from core.cli import main as cli_main

    with redirect_stdout(printed):
        assert cli_main(["export", "--format", "coco", "--project", str(demo_project), "--out", str(cli_out)]) == 0
    assert json.loads(out.read_text()) == json.loads(cli_out.read_text())
    assert dialog.report.toPlainText() == printed.getvalue().strip().replace(str(cli_out), str(out))
    assert len(json.loads(out.read_text())["images"]) == len(list(demo_project.glob("street_*.json")))
    dialog.set_format("yolo")
    dialog.out.edit.clear()
    qtbot.keyClicks(dialog.out.edit, str(demo_project / "yolo"))  # inside the project: refused
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running() and "outside the project" in dialog.state.text(), timeout=30000)
    assert not (demo_project / "yolo").exists()


def test_open_folder_and_open_recent_switch_projects(window, demo_project, demo_template, tmp_path, qtbot, monkeypatch):
    other = tmp_path / "other"
    shutil.copytree(demo_template, other)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(other))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    draw_square(qtbot, window)  # saved at once: switching loses nothing
    first_image = window.document.image
    key(qtbot, window.canvas, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: _active_main_window() is not None and _active_main_window().project.root == other.resolve(),
                    timeout=10000)
    new = _active_main_window()
    assert len(json.loads((demo_project / first_image.with_suffix(".json")).read_text())["shapes"]) >= 1
    menu = new.file_actions.recent_menu
    new.file_actions.fill_recent_menu()
    entries = [a.text() for a in menu.actions()]
    assert str(other.resolve()) in entries[0] and "(open)" in entries[0]
    assert str(demo_project.resolve()) in entries[1]
    menu.actions()[1].trigger()  # back to the first project
    qtbot.waitUntil(lambda: _active_main_window() is not None and _active_main_window().project.root == demo_project.resolve(),
                    timeout=10000)
    back = _active_main_window()
    back.file_actions.fill_recent_menu()
    assert str(demo_project.resolve()) in back.file_actions.recent_menu.actions()[0].text()
    back.close()


def _active_main_window(exclude=None):
    from shiboken6 import isValid

    for w in QApplication.topLevelWidgets():
        if isValid(w) and w.isVisible() and hasattr(w, "file_actions") and w is not exclude:
            return w
    return None
