"""Deleting, merging and searching labels in the Labels dock with real clicks and keys: the count
is shown, shapes are merged into another label or deleted too, everything is undoable, and the
files are rewritten on a worker thread."""
from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QDialogButtonBox

from tests.gui.helpers import click, key
from tests.gui.test_gui_labels_files import labels_on_disk


def choose_label(qtbot, window, name: str) -> None:
    lst = window.labels.list
    item = next(lst.item(r) for r in range(lst.count()) if lst.item(r).data(Qt.ItemDataRole.UserRole) == name)
    rect = lst.visualItemRect(item)
    qtbot.mouseClick(lst.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(rect.right() - 10, rect.center().y()))
    assert window.labels.selected_label() == name


def project_labels(project: Path) -> list[str]:
    return [l["name"] for l in json.loads((project / "masklab.project.json").read_text())["labels"]]


def test_delete_label_with_its_shapes_then_undo_redo(window, demo_project, qtbot):
    dock = window.labels
    window.open_image("street_000.jpg")
    window.set_tool("polygon")  # the open image has history of its own
    for x, y in [(10, 10), (100, 10), (100, 100)]:
        click(qtbot, window.canvas, x, y)
    key(qtbot, window.canvas, Qt.Key.Key_Return)
    before = labels_on_disk(demo_project)
    cars = sum(v.count("car") for v in before.values())

    choose_label(qtbot, window, "car")
    qtbot.mouseClick(dock.delete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dock.delete_dialog is not None and dock.delete_dialog.isVisible(), timeout=5000)
    dialog = dock.delete_dialog
    assert f"{cars} shape(s)" in dialog.message.text()
    assert dialog.merge.isChecked() and dialog.target.currentText() == "sign board"  # merging is the default
    qtbot.mouseClick(dialog.delete, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert dock.jobs.wait_idle()
    after = labels_on_disk(demo_project)
    assert not any("car" in v for v in after.values())
    assert sum(map(len, after.values())) == sum(map(len, before.values())) - cars
    assert project_labels(demo_project) == ["sign board"] and "car" not in window.project.label_names()
    assert all(s.label != "car" for s in window.document.annotation.shapes)
    assert f"{cars} shape(s)" in dock.last_command.summary()

    qtbot.mouseClick(dock.undo_button, Qt.MouseButton.LeftButton)
    assert dock.jobs.wait_idle()
    assert labels_on_disk(demo_project) == before
    assert sorted(project_labels(demo_project)) == ["car", "sign board"]  # back (at the end of the list)
    assert [s.label for s in window.document.annotation.shapes] == before["street_000.json"]
    qtbot.mouseClick(dock.redo_button, Qt.MouseButton.LeftButton)
    assert dock.jobs.wait_idle()
    assert labels_on_disk(demo_project) == after


def test_delete_label_merging_into_another_and_merge_dialog(window, demo_project, qtbot):
    dock = window.labels
    assert "Added" in dock.add_label("van")
    assert "Added" in dock.add_label("truck")
    window.open_image("street_001.jpg")
    window.document.set_selection([0])
    key(qtbot, window.canvas, Qt.Key.Key_3)  # the first car becomes a van
    choose_label(qtbot, window, "van")
    qtbot.mouseClick(dock.delete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dock.delete_dialog is not None and dock.delete_dialog.isVisible(), timeout=5000)
    dialog = dock.delete_dialog
    assert "1 shape(s) in 1 image(s)" in dialog.message.text()
    dialog.target.setCurrentText("truck")
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert dock.jobs.wait_idle()
    assert labels_on_disk(demo_project)["street_001.json"][0] == "truck"
    assert "van" not in project_labels(demo_project)

    choose_label(qtbot, window, "truck")  # Merge…: truck into car
    qtbot.mouseClick(dock.merge_button, Qt.MouseButton.LeftButton)
    merge = dock.merge_dialog
    qtbot.waitUntil(merge.isVisible, timeout=2000)
    merge.setTextValue("car")
    qtbot.mouseClick(merge.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert dock.jobs.wait_idle()
    assert labels_on_disk(demo_project)["street_001.json"][0] == "car"
    assert project_labels(demo_project) == ["car", "sign board"]
    qtbot.mouseClick(dock.undo_button, Qt.MouseButton.LeftButton)
    assert dock.jobs.wait_idle()
    assert labels_on_disk(demo_project)["street_001.json"][0] == "truck" and "truck" in project_labels(demo_project)


def test_unused_label_is_deleted_without_asking_and_search(window, demo_project, qtbot):
    dock = window.labels
    for name in ("bus", "bicycle", "sign post"):
        dock.add_label(name)
    dock.search.setFocus()
    qtbot.keyClicks(dock.search, "bi")
    shown = [dock.list.item(r).data(Qt.ItemDataRole.UserRole) for r in range(dock.list.count())
             if not dock.list.item(r).isHidden()]
    assert shown == ["bicycle"]
    qtbot.keyClick(dock.search, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(dock.search, "SIGN")
    shown = [dock.list.item(r).data(Qt.ItemDataRole.UserRole) for r in range(dock.list.count())
             if not dock.list.item(r).isHidden()]
    assert shown == ["sign board", "sign post"]
    qtbot.keyClick(dock.search, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(dock.search, Qt.Key.Key_Delete)
    choose_label(qtbot, window, "bus")
    qtbot.mouseClick(dock.delete_button, Qt.MouseButton.LeftButton)
    assert dock.jobs.wait_idle()
    assert "bus" not in project_labels(demo_project) and dock.delete_dialog is None
    qtbot.mouseClick(dock.undo_button, Qt.MouseButton.LeftButton)
    assert dock.jobs.wait_idle()
    assert "bus" in project_labels(demo_project)
