"""Reviewing a weak model's predictions in the real window, with mouse and keys: a checkpoint from
two training iterations on the demo project scores everything under 0.5, so the dock says how
many predictions hide under the threshold and the best score, and "show them" lowers it; the
selected prediction is highlighted on the canvas and in the list; the polygon tolerance is set in
the dock and saved in the project; accept (as another label), undo, reject and accept-all."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor

from core.predictions import prediction_polygons
from core.project import Project
from tests.gui.helpers import SHOTS, disk_shapes, key, widget_point

pytestmark = pytest.mark.timeout(240)
IMAGE = "street_000.jpg"
RUN = "20260101-000000-mininet_r18_fpn"


@pytest.fixture(scope="module")
def weak_template(demo_template, tmp_path_factory) -> Path:
    """The demo project with a run of two training iterations at 64 px (a real, weak model)."""
    import torch

    from core.training.trainer import Trainer, TrainSettings

    root = tmp_path_factory.mktemp("weak") / "demo"
    shutil.copytree(demo_template, root)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        settings = TrainSettings(model="mininet_r18_fpn", epochs=1, max_iters=2, image_size=64, batch_size=1,
                                 weights="none", augment="none", evaluate_ap=False, warmup_iters=1)
        result = Trainer(Project.open(root), settings, run_dir=root / "runs" / RUN).run()
    finally:
        torch.set_num_threads(threads)
    assert result.status == "finished"
    return root


@pytest.fixture
def weak_window(weak_template, make_window, tmp_path):
    root = shutil.copytree(weak_template, tmp_path / "demo")
    window = make_window(root)
    window.resize(1280, 800)
    window.open_image(IMAGE)
    return window, root


def _stored(root: Path) -> list[dict]:
    return json.loads((root / "predictions" / "street_000.json").read_text())["shapes"]


def _click_row(qtbot, dock, row: int) -> None:
    item = dock.list.item(row)
    qtbot.mouseClick(dock.list.viewport(), Qt.MouseButton.LeftButton, pos=dock.list.visualItemRect(item).center())


def _canvas_pixel(window, x: float, y: float) -> QColor:
    return window.canvas.grab().toImage().pixelColor(widget_point(window.canvas, x, y))


def test_weak_model_hint_highlight_tolerance_accept_as_reject(qtbot, weak_window):
    from core.training.runs import read_run

    window, root = weak_window
    window.training_panel.reviewRequested.emit(read_run(root / "runs" / RUN))
    dock = window.review_dock
    qtbot.mouseClick(dock.predict_current_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dock.worker is None, timeout=120_000)
    stored = _stored(root)
    scores = sorted((s["score"] for s in stored), reverse=True)
    assert len(stored) >= 12 and scores[0] < 0.5, scores[:3]  # a weak model: nothing reaches 0.5

    # the hint: how many, the best score, and one click that shows the best ten
    assert dock.list.count() == 0 and window.review_dock.layer.shown() == []
    best = math.floor(scores[0] * 100) / 100  # rounded down, so that it never reads as the threshold
    assert dock.summary_label.text() == f"{len(stored)} predictions below 0.50, best {best:.2f}"
    assert dock.show_hidden_button.isVisible() and dock.show_hidden_button.text() == "Show the best 10"
    SHOTS.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(SHOTS / "issue9_review_hint.png"))
    qtbot.mouseClick(dock.show_hidden_button, Qt.MouseButton.LeftButton)
    threshold = int(scores[9] * 100) / 100
    assert dock.threshold_slider.value() == round(threshold * 100)
    assert dock.list.count() == sum(s >= threshold for s in scores) >= 10
    assert not dock.show_hidden_button.isVisible()

    # selecting a row highlights the prediction: white vertex dots of its polygon on the canvas,
    # a strong selection colour in the list
    target = dock.predictions[2]
    assert dock.list.item(2).data(Qt.ItemDataRole.UserRole) == target.id
    polygon = prediction_polygons(target, dock.layer.tolerance)[0]
    inside = [p for p in polygon if window.canvas.visible_image_rect().contains(*p)]
    vx, vy = inside[len(inside) // 2]
    before = _canvas_pixel(window, vx, vy)
    _click_row(qtbot, dock, 2)
    assert dock.layer.selected == target.id and dock.list.item(2).isSelected()
    after = _canvas_pixel(window, vx, vy)
    assert min(after.red(), after.green(), after.blue()) >= 235 and before != after, (before.name(), after.name())
    row = dock.list.visualItemRect(dock.list.item(2))
    row_color = dock.list.viewport().grab().toImage().pixelColor(QPoint(row.right() - 4, row.center().y()))
    assert row_color.blue() > 180 and row_color.red() < 80 and row_color.green() < 140, row_color.name()  # strong blue
    vertices = sum(len(p) for p in prediction_polygons(target, dock.layer.tolerance))
    assert dock.selection_label.text().endswith(f"{vertices} vertices at {dock.layer.tolerance:.1f} px")
    window.grab().save(str(SHOTS / "issue9_review.png"))
    dock.widget().widget().grab().save(str(SHOTS / "issue9_review_dock.png"))  # the whole dock, unscrolled

    # the tolerance, typed into the dock, is saved in the project file and used by accept
    dock.tolerance_spin.setFocus()
    dock.tolerance_spin.selectAll()
    qtbot.keyClicks(dock.tolerance_spin, "3")
    key(qtbot, dock.tolerance_spin, Qt.Key.Key_Return)
    project_file = root / "masklab.project.json"
    qtbot.waitUntil(lambda: json.loads(project_file.read_text())["settings"].get("review", {})
                    .get("polygon_tolerance_px") == 3.0, timeout=5000)
    coarse = prediction_polygons(target, 3.0)
    assert sum(len(p) for p in coarse) < vertices
    assert dock.selection_label.text().endswith(f"{sum(len(p) for p in coarse)} vertices at 3.0 px")

    # accept as another label with Enter in the list: polygons at 3 px, saved, the prediction hidden
    before_shapes = disk_shapes(root, IMAGE)
    dock.label_choice.setFocus()
    qtbot.keyClicks(dock.label_choice, "sign")
    assert dock.label_choice.currentData() == "sign board"
    _click_row(qtbot, dock, 2)
    following = dock.list.item(3).data(Qt.ItemDataRole.UserRole)
    key(qtbot, dock.list, Qt.Key.Key_Return)
    added = disk_shapes(root, IMAGE)[len(before_shapes):]
    assert [np.array(s["points"]).tolist() for s in added] == [p.tolist() for p in coarse]
    assert all(s["label"] == "sign board" and s["shape_type"] == "polygon" and s["prediction_id"] == target.id
               for s in added)
    assert target.id in dock.layer.hidden and dock.selected_ids() == [following]  # Enter again accepts the next
    shown_after_accept = dock.list.count()
    key(qtbot, window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert disk_shapes(root, IMAGE) == before_shapes
    assert target.id not in dock.layer.hidden and dock.list.count() == shown_after_accept + 1

    # Delete in the list rejects the prediction (the file loses it); the annotation keeps its shapes
    # even with one of them selected (Del is also the window's delete-shape key)
    window.document.set_selection([0])
    _click_row(qtbot, dock, 0)
    rejected = dock.selected_ids()[0]
    key(qtbot, dock.list, Qt.Key.Key_Delete)
    assert rejected not in [s["prediction_id"] for s in _stored(root)] and len(_stored(root)) == len(stored) - 1
    assert disk_shapes(root, IMAGE) == before_shapes

    # accept all shown: one undo step
    shown = dock.list.count()
    qtbot.mouseClick(dock.accept_all_button, Qt.MouseButton.LeftButton)
    assert dock.list.count() == 0 and len(dock.layer.hidden) == shown
    assert dock.summary_label.text().startswith(f"{len(stored) - 1 - shown} predictions below")
    key(qtbot, window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert disk_shapes(root, IMAGE) == before_shapes and dock.list.count() == shown
