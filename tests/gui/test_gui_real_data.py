"""The window on real photos and real labelme files from ../shared/data (copied, never changed)."""
from __future__ import annotations

import json
import shutil

from PySide6.QtCore import Qt

from core.images import image_size
from gui.canvas.bench_api import make_canvas, settle
from core.annotation import Annotation
from tests.conftest import shared_data
from tests.gui.helpers import click, key, shot


def test_labelme_examples_open_navigate_and_edit(make_window, tmp_path, qtbot):
    src = shared_data("labelme_examples")
    project = tmp_path / "examples"
    shutil.copytree(src, project, ignore=shutil.ignore_patterns("LICENSE"))
    window = make_window(project)
    files = window.files
    assert files.model.rowCount() == 8
    seen = {}
    for _ in range(files.model.rowCount()):
        image = window.document.image
        disk = json.loads(project.joinpath(image).with_suffix(".json").read_text())
        assert len(window.document.annotation.shapes) == len(disk["shapes"])
        assert window.document.can_edit() and not window.canvas.message
        seen[image.as_posix()] = len(disk["shapes"])
        key(qtbot, window.canvas, Qt.Key.Key_D)
    assert len(seen) == 8
    names = window.project.label_names()
    assert {"person", "sofa", "bus", "car", "track"} <= set(names)  # labels found in the files join the project
    assert window.labels.list.count() == len(names)
    window.open_image("instance_segmentation/2011_000003.jpg")
    shot(window, "11_labelme_example")
    before = json.loads((project / "instance_segmentation/2011_000003.json").read_text())
    key(qtbot, window.canvas, Qt.Key.Key_E)
    click(qtbot, window.canvas, 5, 5)  # on the background: selects nothing
    key(qtbot, window.canvas, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    window.document.flush()
    after = json.loads((project / "instance_segmentation/2011_000003.json").read_text())
    assert after["flags"] == {"reviewed": True}
    # everything else of labelme's file survives a save by Masklab
    assert [s["points"] for s in after["shapes"]] == [s["points"] for s in before["shapes"]]
    assert [(s["label"], s["group_id"]) for s in after["shapes"]] == [(s["label"], s["group_id"]) for s in before["shapes"]]


def test_phone_sized_photo_first_frame_then_full_resolution(qtbot):
    photo = shared_data("car_damage_via") / "car_47.jpg"  # 3500 x 1969
    width, height = image_size(photo)
    canvas, repaint_full, _ = make_canvas(photo, Annotation(photo.name, height, width), viewport=(1600, 1000))
    qtbot.addWidget(canvas)
    first = canvas.photo_layer.image
    assert first.width() == (width + 1) // 2  # JPEG decoded at half scale, close to the fitted width
    assert settle(canvas)
    assert canvas.photo_layer.image.width() == width and canvas.photo_layer.image.height() == height
