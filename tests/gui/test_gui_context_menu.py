"""Right-click on the canvas: the shape under the cursor is selected and its menu acts on it."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication

from tests.gui.helpers import disk_shapes, shot, widget_point


def test_right_click_selects_the_shape_and_relabels_it(qtbot, window, demo_project):
    window.open_image("street_000.jpg")
    ann = window.document.annotation
    car = next(i for i, s in enumerate(ann.shapes) if s.label == "car")
    x, y = ann.shapes[car].points.mean(axis=0)
    window.tool_actions["edit"].trigger()
    pos = widget_point(window.canvas, x, y)
    qtbot.mouseClick(window.canvas, Qt.MouseButton.RightButton, pos=pos)  # the tools ignore it
    # the platform turns a right press into this event; QTest's synthetic clicks do not
    QApplication.sendEvent(window.canvas, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos,
                                                            window.canvas.mapToGlobal(pos),
                                                            Qt.KeyboardModifier.NoModifier))
    qtbot.waitUntil(lambda: getattr(window, "canvas_menu", None) is not None and window.canvas_menu.isVisible(),
                    timeout=3000)
    assert window.document.selection == [car]
    menu = window.canvas_menu
    texts = [a.text() for a in menu.actions()]
    assert {"Delete shapes", "Duplicate", "Merge into one instance", "Label"} <= set(texts)
    shot(window, "12_context_menu")
    label_menu = next(a for a in menu.actions() if a.text() == "Label").menu()
    next(a for a in label_menu.actions() if a.text().endswith("sign board")).trigger()
    menu.close()
    assert disk_shapes(demo_project, "street_000.jpg")[car]["label"] == "sign board"
    window.undo_action.trigger()
    assert disk_shapes(demo_project, "street_000.jpg")[car]["label"] == "car"
