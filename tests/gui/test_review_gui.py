"""The review dock end to end: predictions from a checkpoint in a worker thread, the overlay
layer, accept (button and click), undo, reject, threshold, hide / show, rpn_classic box colours,
and auto-labelling with a COCO Mask R-CNN weights file (random weights saved under torchvision's
file name in a temporary $TORCH_HOME: junk predictions, but the whole path runs)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from gui.review.layer import NEGATIVE_COLOR, POSITIVE_COLOR, PredictionsLayer
from tests.gui.helpers import click, disk_shapes, key, shot

pytestmark = pytest.mark.timeout(180)
IMAGE = "street_000.jpg"


def _confident_checkpoint(project: Path) -> Path:
    """A mininet checkpoint whose heads are biased to say "car, score ~1, mask = whole box" for
    every proposal: deterministic detections through the real prediction path (it is a fixture,
    not a trained model)."""
    import torch

    from core.models.registry import build_model
    from core.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    built = build_model("mininet_r18_fpn", 3, weights="none", min_size=96, max_size=128)
    model = built.model
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias[:] = torch.tensor([0.0, 12.0, 0.0])
        model.roi_heads.box_predictor.bbox_pred.weight.zero_()
        model.roi_heads.box_predictor.bbox_pred.bias.zero_()
        model.roi_heads.mask_predictor.mask_fcn_logits.weight.zero_()
        model.roi_heads.mask_predictor.mask_fcn_logits.bias.fill_(12.0)
    path = project / "runs" / "20260101-000000-mininet_r18_fpn" / "best.pt"
    save_checkpoint(path, {"model_name": "mininet_r18_fpn", "kind": "mask", "label_names": ["car", "sign board"],
                           "anchors": built.anchors.to_dict(), "min_size": 96, "max_size": 128,
                           "model": model.state_dict()})
    (path.parent / "settings.json").write_text(json.dumps({"settings": {"model": "mininet_r18_fpn"}, "device": "cpu"}))
    return path


def _review_dock(window, demo_project):
    from gui.training.runs import read_run

    _confident_checkpoint(demo_project)
    window.training_panel.runs.refresh()
    run = read_run(demo_project / "runs" / "20260101-000000-mininet_r18_fpn")
    window.training_panel.reviewRequested.emit(run)
    dock = window.review_dock
    assert dock.isVisible() and dock.predict_current_button.isEnabled()
    return dock


def test_predict_accept_undo_reject(qtbot, window, demo_project):
    window.open_image(IMAGE)
    dock = _review_dock(window, demo_project)
    before = disk_shapes(demo_project, IMAGE)
    sidecar_bytes = (demo_project / IMAGE).with_suffix(".json").read_bytes()
    qtbot.mouseClick(dock.predict_current_button, Qt.MouseButton.LeftButton)
    assert dock.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: dock.worker is None, timeout=60_000)
    assert "Predictions written for 1 image" in dock.status.text(), dock.status.text()
    assert (demo_project / "predictions" / "street_000.json").is_file()
    assert (demo_project / IMAGE).with_suffix(".json").read_bytes() == sidecar_bytes  # predictions never touch it
    n = len(dock.predictions)
    assert n >= 1 and dock.list.count() == n and all(p.label == "car" and p.score > 0.9 for p in dock.predictions)

    # accept the first one from the list: a polygon shape, saved to disk, undoable
    dock.list.setCurrentRow(0)
    qtbot.mouseClick(dock.accept_button, Qt.MouseButton.LeftButton)
    ann = window.document.annotation
    assert len(ann.shapes) == len(before) + 1
    new = ann.shapes[-1]
    assert new.shape_type == "polygon" and new.label == "car" and len(new.points) >= 4
    x1, y1, x2, y2 = dock.predictions[0].box
    assert new.bbox() == pytest.approx((x1, y1, x2, y2), abs=1.5)
    on_disk = disk_shapes(demo_project, IMAGE)
    assert len(on_disk) == len(before) + 1 and on_disk[-1]["label"] == "car"
    assert on_disk[-1]["shape_type"] == "polygon"
    assert dock.list.count() == n - 1 and dock.predictions[0].id in dock.layer.hidden
    assert new.extra["prediction_id"] == dock.predictions[0].id

    window.undo_action.trigger()
    assert disk_shapes(demo_project, IMAGE) == before
    assert dock.list.count() == n and not dock.layer.hidden

    # threshold and hide / show
    dock.threshold_slider.setValue(100)
    assert dock.list.count() == 0 and dock.layer.shown() == []
    dock.threshold_slider.setValue(50)
    dock.show_check.setChecked(False)
    assert not dock.layer.visible
    dock.show_check.setChecked(True)

    # click a prediction on the photo to accept it
    dock.pick_check.setChecked(True)
    p = dock.predictions[0]
    ys, xs = np.nonzero(p.mask)
    cx, cy = float(np.median(xs)), float(np.median(ys))
    k = int(np.argmin((xs - cx) ** 2 + (ys - cy) ** 2))
    target = dock.layer.prediction_at(xs[k] + 0.5, ys[k] + 0.5)
    assert target is not None
    click(qtbot, window.canvas, xs[k] + 0.5, ys[k] + 0.5)
    assert len(window.document.annotation.shapes) == len(before) + 1
    assert target in dock.layer.hidden
    window.undo_action.trigger()
    assert disk_shapes(demo_project, IMAGE) == before

    # reject removes it from the predictions file only; Ctrl+Z puts it back, Ctrl+Y takes it out again
    predictions_file = demo_project / "predictions" / "street_000.json"
    file_before = predictions_file.read_bytes()
    dock.list.setCurrentRow(0)
    rejected = dock.selected_ids()
    qtbot.mouseClick(dock.reject_button, Qt.MouseButton.LeftButton)
    stored = json.loads(predictions_file.read_text())
    assert len(stored["shapes"]) == n - 1 and len(dock.predictions) == n - 1
    assert rejected[0] not in {p.id for p in dock.predictions} and "Ctrl+Z" in dock.status.text()
    assert disk_shapes(demo_project, IMAGE) == before
    key(qtbot, window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert predictions_file.read_bytes() == file_before and len(dock.predictions) == n
    key(qtbot, window.canvas, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert len(json.loads(predictions_file.read_text())["shapes"]) == n - 1 and len(dock.predictions) == n - 1
    assert disk_shapes(demo_project, IMAGE) == before

    # accept all above the threshold: one undo step
    qtbot.mouseClick(dock.accept_all_button, Qt.MouseButton.LeftButton)
    assert len(disk_shapes(demo_project, IMAGE)) >= len(before) + n - 1
    window.undo_action.trigger()
    assert disk_shapes(demo_project, IMAGE) == before


def test_overlay_screenshot(qtbot, window, demo_project):
    """Predictions drawn from the image's own instances, shifted by a few pixels and given made-up
    scores (a rendering fixture, not model output), to look at the overlay."""
    from core.geometry import instance_mask
    from core.labelme_json import write_annotation
    from core.predictions import Prediction, prediction_path, predictions_annotation

    ann = window.project.load_annotation(IMAGE)
    preds = []
    for (label, parts), score in zip(ann.instances(), (0.97, 0.91, 0.74, 0.38)):
        mask = np.roll(instance_mask(parts, ann.image_height, ann.image_width), (5, 8), axis=(0, 1))
        ys, xs = np.nonzero(mask)
        preds.append(Prediction(label, score, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), mask))
    out = prediction_path(window.project, IMAGE)
    out.parent.mkdir(parents=True)
    write_annotation(out, predictions_annotation(window.project, IMAGE, preds, (ann.image_height, ann.image_width),
                                                 "fixture", "fixture"))
    window.review_action.trigger()
    window.open_image(IMAGE)
    dock = window.review_dock
    dock.load_current()
    assert dock.list.count() == 3  # the 0.38 one is under the 0.5 threshold
    dock.list.setCurrentRow(1)
    shot(window, "review_overlay")
    dock.widget().widget().grab().save(str(shot(window, "review_overlay").with_name("review_dock.png")))
    dock.threshold_slider.setValue(30)
    assert dock.list.count() == 4


def test_predict_all_images_with_an_rpn_classic_run(qtbot, window, demo_project):
    """A randomly initialised rpn_classic checkpoint (junk proposals, but the whole path runs):
    every image gets a predictions file; boxes are coloured against the ground truth."""
    import torch

    from core.models.registry import build_model
    from core.training.checkpoint import save_checkpoint
    from gui.training.runs import read_run

    torch.manual_seed(0)
    built = build_model("rpn_classic", 3, weights="none", min_size=64, max_size=96)
    run_dir = demo_project / "runs" / "20260101-000000-rpn_classic"
    save_checkpoint(run_dir / "last.pt", {"model_name": "rpn_classic", "kind": "rpn",
                                          "label_names": ["car", "sign board"], "anchors": built.anchors.to_dict(),
                                          "min_size": 64, "max_size": 96, "model": built.model.state_dict()})
    (run_dir / "settings.json").write_text(json.dumps({"settings": {"model": "rpn_classic"}, "device": "cpu"}))
    window.open_image(IMAGE)
    window.training_panel.reviewRequested.emit(read_run(run_dir))
    dock = window.review_dock
    assert "proposals" in dock.run_label.text()
    qtbot.mouseClick(dock.predict_all_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dock.worker is None, timeout=90_000)
    files = sorted(p.name for p in (demo_project / "predictions").glob("*.json"))
    assert files == [f"street_{i:03d}.json" for i in range(8)], dock.status.text()
    assert dock.progress.value() == dock.progress.maximum() == 8
    dock.threshold_slider.setValue(5)
    assert dock.predictions and all(p.mask is None and p.label == "object" for p in dock.predictions)
    gt = np.array([s.bbox() for s in window.document.annotation.region_shapes()])
    for item in dock.layer.items:
        x1, y1, x2, y2 = item.prediction.box
        ix = np.clip(np.minimum(x2, gt[:, 2]) - np.maximum(x1, gt[:, 0]), 0, None)
        iy = np.clip(np.minimum(y2, gt[:, 3]) - np.maximum(y1, gt[:, 1]), 0, None)
        union = (x2 - x1) * (y2 - y1) + (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1]) - ix * iy
        assert item.positive == bool((ix * iy / union).max() >= 0.5)
    shot(window, "review_rpn_proposals")


def test_box_predictions_are_coloured_against_ground_truth():
    from core.predictions import Prediction

    layer = PredictionsLayer(lambda label: "#123456")
    layer.set_predictions([Prediction("object", 0.9, (10, 10, 50, 50), None, "a"),
                           Prediction("object", 0.8, (100, 100, 120, 140), None, "b"),
                           Prediction("object", 0.2, (12, 12, 48, 52), None, "c")])
    layer.set_ground_truth(np.array([[12, 10, 52, 50]]))
    assert [it.positive for it in layer.items] == [True, False, True]
    assert layer._color(layer.items[0]) == POSITIVE_COLOR and layer._color(layer.items[1]) == NEGATIVE_COLOR
    layer.threshold = 0.5
    assert [it.prediction.id for it in layer.shown()] == ["a", "b"]
    assert layer.prediction_at(110, 120) == "b" and layer.prediction_at(5, 5) is None


def test_auto_label_without_weights_says_where_to_put_them(qtbot, window, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    window.review_action.trigger()
    dock = window.review_dock
    qtbot.mouseClick(dock.auto_box.auto_label_button, Qt.MouseButton.LeftButton)
    expected = tmp_path / "torch_home" / "hub" / "checkpoints"
    assert "maskrcnn_resnet50_fpn_coco" in dock.status.text() and str(expected) in dock.status.text()
    assert str(expected) in dock.auto_box.weights_label.text()
    assert dock.worker is None


def test_auto_label_with_coco_weights_runs_end_to_end(qtbot, window, demo_project, tmp_path, monkeypatch):
    import torch
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    from core.training.auto_label import coco_weights_path

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    path = coco_weights_path()
    path.parent.mkdir(parents=True)
    torch.save(maskrcnn_resnet50_fpn(weights=None, weights_backbone=None).state_dict(), path)
    window.review_action.trigger()
    dock = window.review_dock
    dock.auto_label_sizes = (64, 96)  # tiny input: fast on a CPU
    dock.auto_box.mapping_table.item(0, 1).setText("vehicle")  # the mapping is editable
    assert dock.auto_box.mapping()["car"] == "vehicle" and dock.auto_box.mapping()["stop sign"] == "sign board"
    labelled = {p.name: p.read_bytes() for p in demo_project.glob("street_*.json")}
    qtbot.mouseClick(dock.auto_box.auto_label_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dock.worker is None, timeout=90_000)
    assert "Predictions written for 3 image" in dock.status.text(), dock.status.text()
    written = sorted(p.name for p in (demo_project / "predictions").glob("*.json"))
    assert written == ["street_005.json", "street_006.json", "street_007.json"]  # the unlabelled ones
    stored = json.loads((demo_project / "predictions" / "street_005.json").read_text())
    assert stored["model"] == "coco maskrcnn_resnet50_fpn"
    assert all(s["label"] in ("vehicle", "sign board") for s in stored["shapes"])
    assert "vehicle" in window.project.label_names()
    assert {p.name: p.read_bytes() for p in demo_project.glob("street_*.json")} == labelled
