"""Seeing the photo and the shapes (issue 10), with real mouse and key events in the real window:
hide all annotations (H), per-label visibility, mask shapes drawn as masks, brightness /
contrast / gamma for display only, and the Shapes dock (selection both ways, hide, lock,
double-click zoom, label filter)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QStyle, QStyleOptionViewItem

from core.geometry import encode_labelme_mask
from tests.conftest import shared_data
from tests.gui.helpers import click, disk_shapes, drag, key, near, shot, widget_point


def canvas_pixel(canvas, x: float, y: float) -> QColor:
    """The colour the canvas shows at image point (x, y)."""
    p = widget_point(canvas, x, y)
    return canvas.grab().toImage().pixelColor(p)


def check_indicator(view, index) -> QPoint:
    """The centre of the check box of an item-view cell, in viewport coordinates."""
    option = QStyleOptionViewItem()
    view.initViewItemOption(option)
    option.rect = view.visualRect(index)
    option.features |= QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
    return view.style().subElementRect(QStyle.SubElement.SE_ItemViewItemCheckIndicator, option, view).center()


def label_item(window, name: str):
    lst = window.labels.list
    return next(lst.item(r) for r in range(lst.count()) if lst.item(r).data(Qt.ItemDataRole.UserRole) == name)


def test_hide_all_and_per_label_visibility(window, qtbot):
    canvas = window.canvas
    window.open_image("street_000.jpg")
    ann = window.document.annotation
    car = next(s for s in ann.shapes if s.label == "car")
    x, y = car.points.mean(axis=0)
    with_shapes = canvas_pixel(canvas, x, y)
    key(qtbot, canvas, Qt.Key.Key_H)
    assert not canvas.annotations_visible and not window.show_annotations_action.isChecked()
    assert window.display.show_annotations.isChecked() is False
    bare = canvas_pixel(canvas, x, y)
    assert bare != with_shapes  # the translucent fill is gone
    key(qtbot, canvas, Qt.Key.Key_E)
    click(qtbot, canvas, x, y)  # a hidden shape is not hit either
    assert window.document.selection == []
    key(qtbot, canvas, Qt.Key.Key_H)
    assert canvas.annotations_visible and canvas_pixel(canvas, x, y) == with_shapes

    lst = window.labels.list
    item = label_item(window, "car")
    qtbot.mouseClick(lst.viewport(), Qt.MouseButton.LeftButton, pos=check_indicator(lst, lst.indexFromItem(item)))
    assert item.checkState() == Qt.CheckState.Unchecked and "car" in canvas.hidden_labels
    assert canvas_pixel(canvas, x, y) == bare
    assert window.shapes.model.rows  # the Shapes dock still lists them, greyed
    qtbot.mouseClick(lst.viewport(), Qt.MouseButton.LeftButton, pos=check_indicator(lst, lst.indexFromItem(item)))
    assert "car" not in canvas.hidden_labels and canvas_pixel(canvas, x, y) == with_shapes


def _mask_project(root: Path) -> Path:
    root.mkdir()
    Image.new("RGB", (200, 160), (90, 90, 90)).save(root / "masked.png")
    yy, xx = np.mgrid[:160, :200]
    disc = (xx - 100) ** 2 + (yy - 80) ** 2 <= 50 ** 2
    points, data = encode_labelme_mask(disc)
    sidecar = {"version": "5.5.0", "flags": {}, "imagePath": "masked.png", "imageData": None,
               "imageHeight": 160, "imageWidth": 200,
               "shapes": [{"label": "car", "points": points.tolist(), "group_id": None, "description": "",
                           "shape_type": "mask", "flags": {}, "mask": data}]}
    (root / "masked.json").write_text(json.dumps(sidecar))
    return root


def test_mask_shape_is_drawn_and_hit_as_its_mask(make_window, tmp_path, qtbot):
    window = make_window(_mask_project(tmp_path / "masks"))
    canvas = window.canvas
    assert window.document.annotation.shapes[0].shape_type == "mask"
    qtbot.wait(50)
    inside, box_corner, outside = canvas_pixel(canvas, 100, 80), canvas_pixel(canvas, 56, 36), canvas_pixel(canvas, 10, 10)
    assert box_corner == outside  # inside the mask's box but outside the disc: the bare photo
    assert inside.red() > inside.blue() + 20  # the disc is tinted with the label colour (car: red)
    edge = canvas_pixel(canvas, 150, 80)  # the outline runs round the disc, not along the box
    assert edge != outside
    shot(window, "issue10_mask")
    key(qtbot, canvas, Qt.Key.Key_E)
    click(qtbot, canvas, 58, 38)
    assert window.document.selection == []
    click(qtbot, canvas, 100, 80)
    assert window.document.selection == [0]
    drag(qtbot, canvas, (100, 80), (110, 90))  # moving a mask moves its box, the crop goes with it
    moved = disk_shapes(tmp_path / "masks", "masked.png")[0]
    assert near(moved["points"], [(60, 40), (160, 140)]) and moved["mask"]
    assert canvas_pixel(canvas, 150, 90).red() > canvas_pixel(canvas, 150, 90).blue() + 20


def test_brightness_contrast_gamma_are_display_only(make_window, tmp_path, qtbot):
    source = shared_data("car_damage_via")
    photo = sorted(p for p in source.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))[0]
    project = tmp_path / "dark"
    project.mkdir()
    with Image.open(photo) as img:
        img = img.convert("RGB")
        img.thumbnail((1200, 1200))
        dark = (np.asarray(img, dtype=np.float64) * 0.12).astype(np.uint8)  # an under-exposed copy
    Image.fromarray(dark).save(project / "dark.jpg", quality=92)
    digest = hashlib.sha256((project / "dark.jpg").read_bytes()).hexdigest()
    window = make_window(project)
    window.resize(1280, 800)
    window.photo.wait_full_resolution()
    canvas = window.canvas
    h, w = dark.shape[:2]
    before = canvas.grab().toImage()
    centre = widget_point(canvas, w / 2, h / 2)
    lum_before = before.pixelColor(centre).lightness()

    window.display.show()
    window.display.raise_()
    gamma = window.display.sliders["gamma"]
    gamma.setFocus()
    for _ in range(6):
        key(qtbot, gamma, Qt.Key.Key_PageUp)  # +60: gamma x2.3
    contrast = window.display.sliders["contrast"]
    contrast.setFocus()
    for _ in range(2):
        key(qtbot, contrast, Qt.Key.Key_PageUp)  # +20: contrast x1.32
    bright = window.display.sliders["brightness"]  # a click right of the handle steps it up
    qtbot.mouseClick(bright, Qt.MouseButton.LeftButton, pos=QPoint(bright.width() - 4, bright.height() // 2))
    qtbot.waitUntil(lambda: canvas.photo_layer.adjustment.brightness > 0, timeout=2000)
    qtbot.wait(60)
    a = canvas.photo_layer.adjustment
    assert a.gamma > 2.0 and a.contrast > 1.2 and 0 < a.brightness <= 0.1
    after = canvas.grab().toImage()
    assert after.pixelColor(centre).lightness() > lum_before + 30
    shot(window, "issue10_bright")
    assert hashlib.sha256((project / "dark.jpg").read_bytes()).hexdigest() == digest  # display only
    assert not (project / "dark.json").exists()

    window.open_image("dark.jpg")  # the adjustment stays while browsing; Reset brings the photo back
    qtbot.mouseClick(window.display.reset_button, Qt.MouseButton.LeftButton)
    assert canvas.photo_layer.adjustment.is_identity()
    assert abs(canvas.grab().toImage().pixelColor(centre).lightness() - lum_before) <= 2


def test_shapes_dock_selection_hide_lock_zoom_filter(window, demo_project, qtbot):
    canvas, doc, dock = window.canvas, window.document, window.shapes
    window.open_image("street_000.jpg")
    view, model = dock.view, dock.model
    n = len(doc.annotation.shapes)
    assert n >= 3 and len(model.rows) == n and dock.count.text() == f"{n} shapes"

    # list -> canvas
    rect = view.visualRect(model.index(1, 2))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert doc.selection == [1] and canvas.selection == [1]
    # canvas -> list
    key(qtbot, canvas, Qt.Key.Key_E)
    target = doc.annotation.shapes[2]
    cx, cy = target.points.mean(axis=0)
    hit = canvas.geometry.shape_at(doc.annotation, cx, cy)
    click(qtbot, canvas, cx, cy)
    assert doc.selection == [hit]
    assert [i.row() for i in view.selectionModel().selectedRows()] == [model.row_of(hit)]
    key(qtbot, canvas, Qt.Key.Key_O)  # flags show in the row
    qtbot.waitUntil(lambda: "occluded" in model.index(model.row_of(hit), 2).data(), timeout=2000)
    window.resize(1280, 800)
    shot(window, "issue10_shapes")

    # lock: the shape cannot be dragged or deleted, but stays selectable
    lock = check_indicator(view, model.index(model.row_of(hit), 3))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=lock)
    shape = doc.annotation.shapes[hit]
    assert doc.is_locked(shape)
    before = shape.points.copy()
    drag(qtbot, canvas, (cx, cy), (cx + 30, cy + 20))
    assert np.array_equal(shape.points, before)
    key(qtbot, canvas, Qt.Key.Key_Delete)
    assert len(doc.annotation.shapes) == n
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=lock)
    assert not doc.is_locked(shape)

    # hide one shape: not drawn, not hit; shown again with its check box
    vis = check_indicator(view, model.index(model.row_of(hit), 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=vis)
    assert shape in canvas.hidden_shapes and doc.selection == []
    assert canvas.geometry.shape_at(doc.annotation, cx, cy) != hit
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=vis)
    assert shape not in canvas.hidden_shapes

    # double-click zooms to the shape
    zoom_before = canvas.zoom
    cell = view.visualRect(model.index(model.row_of(hit), 2)).center()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=cell)  # a double-click starts with a press
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    assert canvas.zoom > zoom_before
    centre = canvas.to_image(canvas.rect().center())
    b = canvas.geometry.get(shape).bounds
    assert abs(centre.x() - b.center().x()) < 2 and abs(centre.y() - b.center().y()) < 2

    # filter by label
    dock.filter.setFocus()
    dock.set_label_filter("sign board")
    labels = {doc.annotation.shapes[i].label for i in model.rows}
    assert labels == {"sign board"} and dock.count.text().endswith(f"of {n}")
    dock.set_label_filter(None)
    assert len(model.rows) == n


def test_shapes_dock_follows_edits_but_not_drag_steps(window, qtbot):
    doc, dock = window.document, window.shapes
    window.open_image("street_000.jpg")
    resets = []
    dock.model.modelReset.connect(lambda: resets.append(1))
    key(qtbot, window.canvas, Qt.Key.Key_E)
    shape = doc.annotation.shapes[0]
    x, y = shape.points[0]
    drag(qtbot, window.canvas, (x, y), (x + 15, y + 5), steps=6)
    qtbot.wait(10)
    assert resets == []  # geometry-only steps do not rebuild the list
    doc.set_selection([0])
    key(qtbot, window.canvas, Qt.Key.Key_2)  # relabel: the row shows it
    qtbot.waitUntil(lambda: dock.model.index(0, 0).data() == "sign board", timeout=2000)
    key(qtbot, window.canvas, Qt.Key.Key_O)
    qtbot.waitUntil(lambda: "occluded" in dock.model.index(0, 2).data(), timeout=2000)
