"""The labels dock (hotkeys, add, rename everywhere with undo, recolour) and the file list
(states, filters, navigation)."""
from __future__ import annotations

import json
import time
from pathlib import Path

from PySide6.QtCore import Qt

from tests.gui.helpers import click, key, shot, wait_for_saves


def labels_on_disk(project: Path) -> dict[str, list[str]]:
    wait_for_saves()
    out = {}
    for p in sorted(project.glob("*.json")):
        if p.name == "masklab.project.json":
            continue
        try:
            out[p.name] = [s["label"] for s in json.loads(p.read_text())["shapes"]]
        except ValueError:
            out[p.name] = ["<corrupt>"]
    return out


def test_rename_label_everywhere_and_undo(window, demo_project, qtbot):
    corrupt = demo_project / "street_004.json"
    corrupt.write_bytes(b'{"shapes": [{"label": "car", ')  # broken: skipped, never rewritten
    broken_bytes = corrupt.read_bytes()
    before = labels_on_disk(demo_project)
    cars = sum(v.count("car") for v in before.values())
    window.open_image("street_000.jpg")
    window.labels.rename_label("car", "vehicle")
    assert window.labels.jobs.wait_idle()  # the files are rewritten on a worker thread
    message = window.labels.last_command.summary()
    after = labels_on_disk(demo_project)
    assert sum(v.count("vehicle") for v in after.values()) == cars
    assert not any("car" in v for v in after.values())
    assert "skipped 1" in message and "street_004.json" in message
    assert corrupt.read_bytes() == broken_bytes
    project_file = json.loads((demo_project / "masklab.project.json").read_text())
    assert [l["name"] for l in project_file["labels"]] == ["vehicle", "sign board"]
    assert project_file["labels"][0]["color"] == "#e6194b"  # the colour stays with the renamed label
    assert {s.label for s in window.document.annotation.shapes} == {"vehicle", "sign board"}
    assert "vehicle" in window.files.model.index(0).data()
    qtbot.waitUntil(window.files.scan_done, timeout=10000)  # a scan started before the rename
    qtbot.wait(20)  # cannot bring the old name back
    assert "car" not in window.project.label_names()
    shot(window, "09_label_renamed")
    window.labels.undo_button.click()
    assert window.labels.jobs.wait_idle()
    assert labels_on_disk(demo_project) == before
    assert [l["name"] for l in json.loads((demo_project / "masklab.project.json").read_text())["labels"]] == ["car", "sign board"]
    assert {s.label for s in window.document.annotation.shapes} == {"car", "sign board"}
    window.labels.redo_button.click()
    assert window.labels.jobs.wait_idle()
    assert labels_on_disk(demo_project) == after


def test_rename_reaches_edited_image_with_history(window, demo_project, qtbot):
    window.open_image("street_006.jpg")
    window.set_tool("polygon")
    for x, y in [(10, 10), (100, 10), (100, 100)]:
        click(qtbot, window.canvas, x, y)
    key(qtbot, window.canvas, Qt.Key.Key_Return)
    window.labels.rename_label("car", "auto")
    assert window.labels.jobs.wait_idle()
    assert labels_on_disk(demo_project)["street_006.json"] == ["auto"]
    key(qtbot, window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # the image's own history still works
    assert labels_on_disk(demo_project)["street_006.json"] == []


def test_add_recolour_and_hotkey_for_next_shape(window, demo_project, qtbot):
    assert "Added" in window.labels.add_label("bus")
    assert "exists" in window.labels.add_label("bus")
    window.labels.recolor_label("bus", "#123456")
    labels = json.loads((demo_project / "masklab.project.json").read_text())["labels"]
    assert {"name": "bus", "color": "#123456"} in labels
    window.open_image("street_007.jpg")
    window.document.set_selection([])
    key(qtbot, window.canvas, Qt.Key.Key_3)  # nothing selected: the next shape drawn is a bus
    window.set_tool("polygon")
    for x, y in [(10, 10), (100, 10), (100, 100)]:
        click(qtbot, window.canvas, x, y)
    key(qtbot, window.canvas, Qt.Key.Key_Return)
    window.document.flush()
    shapes = json.loads((demo_project / "street_007.json").read_text())["shapes"]
    assert shapes[0]["label"] == "bus"
    assert window.canvas.color_of("bus") == "#123456"


def test_file_states_filters_and_navigation(window, demo_project, qtbot):
    files = window.files
    qtbot.waitUntil(files.scan_done, timeout=10000)
    qtbot.wait(50)
    states = dict(zip([p.name for p in files.model.images], files.model.states))
    assert states["street_000.jpg"] == "labelled" and states["street_006.jpg"] == "unlabelled"
    assert states["street_005.jpg"] == "unlabelled"  # a file with no shapes
    assert "car 3" in files.model.index(0).data()
    files.set_filter("Unlabelled")
    assert [p.name for p in files.visible_paths()] == ["street_005.jpg", "street_006.jpg", "street_007.jpg"]
    shot(window, "10_filter_unlabelled")
    files.set_filter("All images", "sign")  # text matches file names and labels
    assert all(files.model.counts[files.model.row_of(p)].get("sign board") for p in files.visible_paths())
    files.set_filter("All images", "003")
    assert [p.name for p in files.visible_paths()] == ["street_003.jpg"]
    files.set_filter("All images")

    canvas = window.canvas
    window.open_image("street_000.jpg")
    key(qtbot, canvas, Qt.Key.Key_D)
    assert window.document.image.name == "street_001.jpg"
    key(qtbot, canvas, Qt.Key.Key_Right)
    assert window.document.image.name == "street_002.jpg"
    key(qtbot, canvas, Qt.Key.Key_Left)
    key(qtbot, canvas, Qt.Key.Key_A)
    assert window.document.image.name == "street_000.jpg"
    key(qtbot, canvas, Qt.Key.Key_A)  # already the first
    assert window.document.image.name == "street_000.jpg"
    key(qtbot, canvas, Qt.Key.Key_N)
    assert window.document.image.name == "street_005.jpg"
    key(qtbot, canvas, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)  # reviewed
    window.document.flush()  # the row follows once the save is done
    assert files.model.states[5] == "reviewed"
    window.open_image("street_004.jpg")
    key(qtbot, canvas, Qt.Key.Key_U)  # skips the reviewed street_005
    assert window.document.image.name == "street_006.jpg"
    files.set_filter("Labelled, not reviewed")
    window.open_image("street_002.jpg")
    key(qtbot, canvas, Qt.Key.Key_D)  # next within the filter
    assert window.document.image.name == "street_003.jpg"


def test_five_thousand_images_open_fast(make_window, tmp_path, demo_template, qtbot):
    import os
    import shutil

    project = tmp_path / "many"
    project.mkdir()
    shutil.copy(demo_template / "masklab.project.json", project)
    src = demo_template / "street_000.jpg"
    shutil.copy(demo_template / "street_000.json", project / "img_00000.json")
    for i in range(5000):
        os.link(src, project / f"img_{i:05d}.jpg")
    start, start_cpu = time.perf_counter(), time.thread_time()
    window = make_window(project)
    qtbot.wait(1)  # one turn of the event loop: the window is up and painted
    elapsed, cpu = time.perf_counter() - start, time.thread_time() - start_cpu
    # The target is 2 s of wall time on an idle machine; the GUI thread's own CPU time is the
    # measure that does not depend on how busy the test machine is.
    assert cpu < 1.0 and elapsed < 6.0, f"window took {elapsed:.2f}s ({cpu:.2f}s CPU) on 5,000 images"
    assert window.files.model.rowCount() == 5000
    assert window.document.image.name == "img_00000.jpg" and len(window.document.annotation.shapes) == 4
    key(qtbot, window.canvas, Qt.Key.Key_D)  # usable while the scan runs
    assert window.document.image.name == "img_00001.jpg"
    qtbot.waitUntil(window.files.scan_done, timeout=60000)
    assert window.files.model.states.count("unlabelled") == 4999


def test_file_list_shows_thumbnails_with_the_state_dot(make_window, demo_project, qtbot):
    from PySide6.QtCore import QSize

    from gui.docks.thumbnails import THUMB_SIZE, placeholder_icon

    (demo_project / "street_007.jpg").write_bytes(b"not a photo")  # a broken image keeps its dot
    window = make_window(demo_project)
    model = window.files.model
    row_ok, row_broken = model.row_of("street_000.jpg"), model.row_of("street_007.jpg")
    decoration = Qt.ItemDataRole.DecorationRole

    def is_placeholder(row):
        icon = model.data(model.index(row), decoration)
        return icon.cacheKey() == placeholder_icon(model.states[row]).cacheKey()

    model.data(model.index(row_broken), decoration)  # asks for both, as the view does
    qtbot.waitUntil(lambda: not is_placeholder(row_ok), timeout=10000)
    model.thumbnails.wait()
    assert is_placeholder(row_broken)
    thumb = model.data(model.index(row_ok), decoration).pixmap(QSize(*THUMB_SIZE)).toImage()
    sky = thumb.pixelColor(THUMB_SIZE[0] // 2, 4)
    assert sky.blue() > sky.red()  # the demo photo's sky, not a blank square
    shot(window, "13_thumbnails")
