"""The annotation workflow with real mouse and key events, checking the JSON on disk at each step."""
from __future__ import annotations

from PySide6.QtCore import Qt

from tests.gui.helpers import click, disk_shapes, drag, key, near, shot, widget_point

IMAGE = "street_006.jpg"  # has no annotation file in the demo project
SQUARE = [(100.0, 100.0), (300.0, 100.0), (300.0, 250.0), (100.0, 250.0)]


def test_draw_label_edit_undo_redo_switch(window, demo_project, qtbot):
    canvas = window.canvas
    window.open_image(IMAGE)
    assert disk_shapes(demo_project, IMAGE) is None
    key(qtbot, canvas, Qt.Key.Key_P)
    for x, y in SQUARE:
        click(qtbot, canvas, x, y)
    shot(window, "01_drawing_polygon")
    assert disk_shapes(demo_project, IMAGE) is None  # nothing is saved while drawing
    click(qtbot, canvas, *SQUARE[0])  # closing on the first vertex completes the polygon
    after_draw = disk_shapes(demo_project, IMAGE)
    assert len(after_draw) == 1 and after_draw[0]["label"] == "car"
    assert near(after_draw[0]["points"], SQUARE)

    key(qtbot, canvas, Qt.Key.Key_2)  # the new shape is selected: the hotkey relabels it
    after_label = disk_shapes(demo_project, IMAGE)
    assert after_label[0]["label"] == "sign board"

    key(qtbot, canvas, Qt.Key.Key_E)
    drag(qtbot, canvas, (300, 100), (340, 80))
    after_move = disk_shapes(demo_project, IMAGE)
    assert near([after_move[0]["points"][1]], [(340, 80)])
    assert window.undo_stack_for_current().count() == 3  # the whole drag is one step

    edge_mid = (100.0, 175.0)  # on the left edge, from (100, 250) back to (100, 100)
    qtbot.mouseMove(canvas, widget_point(canvas, 104, 175))
    assert canvas.hover_edge_point is not None  # the visible insert handle
    shot(window, "02_insert_handle_on_edge")
    drag(qtbot, canvas, edge_mid, (60, 175))
    after_insert = disk_shapes(demo_project, IMAGE)
    assert len(after_insert[0]["points"]) == 5
    assert near([after_insert[0]["points"][4]], [(60, 175)])
    history = [None, after_draw, after_label, after_move]
    inserted_only = None
    stack = window.undo_stack_for_current()
    assert stack.count() == 5  # draw, label, move, insert, move the new vertex

    # undo everything, one step at a time, checking the file each time
    seen = []
    for _ in range(stack.count()):
        key(qtbot, canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        seen.append(disk_shapes(demo_project, IMAGE))
    inserted_only = seen[0]
    assert len(inserted_only[0]["points"]) == 5 and near([inserted_only[0]["points"][4]], [(100, 175)])
    assert seen[1] == after_move and seen[2] == after_label and seen[3] == after_draw
    assert seen[4] == []  # the file stays, with no shapes

    for k in range(stack.count()):
        if k % 2:
            key(qtbot, canvas, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
        else:
            key(qtbot, canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert disk_shapes(demo_project, IMAGE) == after_insert

    # switch image and back: the history is still there
    key(qtbot, canvas, Qt.Key.Key_D)
    assert str(window.document.image) != IMAGE
    key(qtbot, canvas, Qt.Key.Key_A)
    assert str(window.document.image) == IMAGE
    assert window.undo_stack_for_current().count() == 5
    key(qtbot, canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert disk_shapes(demo_project, IMAGE) == inserted_only
    assert history[0] is None
    assert not window.document.dirty
    shot(window, "03_after_undo_redo")


def test_polygon_keys_escape_backspace_enter_and_rectangle(window, demo_project, qtbot):
    canvas = window.canvas
    window.open_image(IMAGE)
    window.set_tool("polygon")
    click(qtbot, canvas, 50, 50)
    click(qtbot, canvas, 150, 50)
    key(qtbot, canvas, Qt.Key.Key_Escape)
    assert not window.tools["polygon"].drawing
    for x, y in [(50, 50), (150, 50), (500, 400), (150, 150), (50, 150)]:
        click(qtbot, canvas, x, y)
    key(qtbot, canvas, Qt.Key.Key_Backspace)  # drops (50, 150)
    key(qtbot, canvas, Qt.Key.Key_Backspace)  # drops (150, 150)
    click(qtbot, canvas, 60, 140)
    key(qtbot, canvas, Qt.Key.Key_Return)
    shapes = disk_shapes(demo_project, IMAGE)
    assert near(shapes[0]["points"], [(50, 50), (150, 50), (500, 400), (60, 140)])

    key(qtbot, canvas, Qt.Key.Key_R)
    drag(qtbot, canvas, (400, 300), (200, 200))
    shapes = disk_shapes(demo_project, IMAGE)
    assert shapes[1]["shape_type"] == "rectangle" and near(shapes[1]["points"], [(200, 200), (400, 300)])

    # a double-click closes a polygon too
    key(qtbot, canvas, Qt.Key.Key_P)
    for x, y in [(10, 300), (90, 300)]:
        click(qtbot, canvas, x, y)
    click(qtbot, canvas, 50, 380)
    qtbot.mouseDClick(canvas, Qt.MouseButton.LeftButton, pos=widget_point(canvas, 50, 380))
    shapes = disk_shapes(demo_project, IMAGE)
    assert len(shapes) == 3 and len(shapes[2]["points"]) == 3


def test_edit_operations(window, demo_project, qtbot):
    canvas = window.canvas
    doc = window.document
    window.open_image("street_000.jpg")
    before = disk_shapes(demo_project, "street_000.jpg")
    n = len(before)
    key(qtbot, canvas, Qt.Key.Key_E)
    sign = before[0]["points"]  # the demo's sign board, a 4-point polygon
    cx = sum(p[0] for p in sign) / 4
    cy = sum(p[1] for p in sign) / 4
    click(qtbot, canvas, cx, cy)
    assert doc.selection == [0]
    assert "area" in window.status.selection.text() and "box" in window.status.selection.text()
    # a polygon keeps at least three vertices
    click(qtbot, canvas, *sign[0], modifier=Qt.KeyboardModifier.ShiftModifier)
    assert len(disk_shapes(demo_project, "street_000.jpg")[0]["points"]) == 3
    click(qtbot, canvas, *sign[1], modifier=Qt.KeyboardModifier.ShiftModifier)
    assert len(disk_shapes(demo_project, "street_000.jpg")[0]["points"]) == 3

    # drag the whole shape
    tx = sum(p[0] for p in sign[1:]) / 3  # inside the remaining triangle
    ty = sum(p[1] for p in sign[1:]) / 3
    drag(qtbot, canvas, (tx, ty), (tx + 20, ty + 10))
    moved = disk_shapes(demo_project, "street_000.jpg")[0]["points"]
    assert near([moved[0]], [(sign[1][0] + 20, sign[1][1] + 10)])

    key(qtbot, canvas, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)  # duplicate
    assert len(disk_shapes(demo_project, "street_000.jpg")) == n + 1
    key(qtbot, canvas, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    key(qtbot, canvas, Qt.Key.Key_Delete)
    assert len(disk_shapes(demo_project, "street_000.jpg")) == n

    doc.set_selection([1, 2])  # two cars become one instance
    key(qtbot, canvas, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    shapes = disk_shapes(demo_project, "street_000.jpg")
    assert shapes[1]["group_id"] == shapes[2]["group_id"] == 1
    assert doc.annotation.label_counts()["car"] == n - 2
    key(qtbot, canvas, Qt.Key.Key_O)  # occluded
    assert disk_shapes(demo_project, "street_000.jpg")[1]["flags"] == {"occluded": True}
    window.props.description.setText("half behind the bus")
    window.props.description.editingFinished.emit()
    assert disk_shapes(demo_project, "street_000.jpg")[2]["description"] == "half behind the bus"

    key(qtbot, canvas, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    import json
    window.document.flush()
    flags = json.loads((demo_project / "street_000.json").read_text())["flags"]
    assert flags == {"reviewed": True}
    key(qtbot, canvas, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    window.document.flush()
    flags = json.loads((demo_project / "street_000.json").read_text())["flags"]
    assert flags == {"needs_work": True}
    assert window.files.model.states[0] == "needs work"

    # paste the copied sign board into another image
    key(qtbot, canvas, Qt.Key.Key_D)
    other = str(doc.image)
    count = len(disk_shapes(demo_project, other) or [])
    key(qtbot, canvas, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    pasted = disk_shapes(demo_project, other)
    assert len(pasted) == count + 1 and pasted[-1]["label"] == "sign board"
    assert window.status.saved.text().endswith("saved") and "not" not in window.status.saved.text()


def test_zoom_pan_fit_and_status(window, qtbot):
    canvas = window.canvas
    window.open_image("street_000.jpg")
    fit_zoom = canvas.zoom
    anchor = widget_point(canvas, 200, 150)
    before = canvas.to_image(anchor.toPointF())
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    wheel = QWheelEvent(QPointF(anchor), canvas.mapToGlobal(QPointF(anchor)), QPoint(0, 0), QPoint(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas, wheel)
    assert canvas.zoom > fit_zoom * 1.4
    after = canvas.to_image(anchor.toPointF())
    assert abs(after.x() - before.x()) < 0.5 and abs(after.y() - before.y()) < 0.5  # zoom around the cursor
    # middle-button pan
    start = QPointF(canvas.offset)
    qtbot.mousePress(canvas, Qt.MouseButton.MiddleButton, pos=QPoint(300, 300))
    qtbot.mouseMove(canvas, QPoint(350, 320))
    qtbot.mouseRelease(canvas, Qt.MouseButton.MiddleButton, pos=QPoint(350, 320))
    assert (canvas.offset - start).x() == 50 and (canvas.offset - start).y() == 20
    # space + left drag pans without drawing
    window.set_tool("polygon")
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    start = QPointF(canvas.offset)
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(300, 300))
    qtbot.mouseMove(canvas, QPoint(280, 310))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(280, 310))
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    assert (canvas.offset - start).x() == -20 and not window.tools["polygon"].drawing
    key(qtbot, canvas, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom == 1.0 and window.status.zoom.text() == "zoom 100%"
    key(qtbot, canvas, Qt.Key.Key_F)
    assert abs(canvas.zoom - fit_zoom) < 1e-9
    qtbot.mouseMove(canvas, widget_point(canvas, 123, 45))
    assert window.status.position.text() == "x 123  y 45"
