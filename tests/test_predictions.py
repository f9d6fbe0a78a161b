"""Predictions files (core.predictions): ids that name a prediction across reads and rewrites,
old files without ids, rejecting by id, the threshold that shows the best hidden ones; accepted
polygons of a sensible size on real objects; the one "+1 box edge" function; the COCO weights
path read without torch."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely

from core.geometry import (DEFAULT_POLYGON_TOLERANCE_PX, inclusive_to_edge_box, instance_mask, mask_box,
                           polygon_to_mask)
from core.predictions import (ID_KEY, Prediction, accepted_prediction_ids, prediction_path, prediction_polygons,
                              read_predictions, remove_predictions, restore_predictions, shapes_from_predictions,
                              threshold_to_show, write_predictions)
from core.project import Project
from tests.conftest import ROOT, shared_data

IMAGE = "street_000.jpg"


def _three_predictions(project: Project) -> list[Prediction]:
    ann = project.load_annotation(IMAGE)
    h, w = ann.image_height, ann.image_width
    masks = [instance_mask(parts, h, w) for _, parts in ann.instances()[:2]]
    return [Prediction("car", 0.9, mask_box(masks[0]), masks[0]), Prediction("car", 0.4, mask_box(masks[1]), masks[1]),
            Prediction("object", 0.2, (5.0, 6.0, 40.0, 30.0), None)]


def test_ids_are_written_read_back_and_kept_by_rejecting(demo_project):
    project = Project.open(demo_project)
    preds = _three_predictions(project)
    ann = project.load_annotation(IMAGE)
    write_predictions(project, IMAGE, preds, (ann.image_height, ann.image_width), "/x/best.pt", "mininet_r18_fpn")
    ids = [p.id for p in preds]
    assert len(set(ids)) == 3 and all(ids)
    raw = json.loads(prediction_path(project, IMAGE).read_text())
    assert [s[ID_KEY] for s in raw["shapes"]] == ids
    back = read_predictions(project, IMAGE)
    assert [p.id for p in back] == ids and [p.score for p in back] == [0.9, 0.4, 0.2]
    assert np.array_equal(back[0].mask, preds[0].mask) and back[0].box == preds[0].box  # pixel edges both ways

    file_before = prediction_path(project, IMAGE).read_bytes()
    removed = remove_predictions(project, IMAGE, [ids[1], "not-there"])
    assert [i for i, _ in removed] == [1]
    assert [p.id for p in read_predictions(project, IMAGE)] == [ids[0], ids[2]]
    assert remove_predictions(project, IMAGE, ["not-there"]) == []
    restore_predictions(project, IMAGE, removed)  # undo: back in its place, the file as it was
    assert prediction_path(project, IMAGE).read_bytes() == file_before
    restore_predictions(project, IMAGE, removed)  # a second undo adds nothing twice
    assert [p.id for p in read_predictions(project, IMAGE)] == ids
    assert project.annotation_path(IMAGE).read_bytes() == (demo_project / IMAGE).with_suffix(".json").read_bytes()


def test_files_without_ids_still_load_with_stable_ids(demo_project):
    project = Project.open(demo_project)
    preds = _three_predictions(project)
    ann = project.load_annotation(IMAGE)
    path = write_predictions(project, IMAGE, preds, (ann.image_height, ann.image_width), "/x/best.pt", "m")
    raw = json.loads(path.read_text())
    for s in raw["shapes"]:
        del s[ID_KEY]  # as written before predictions had ids
    raw["shapes"].append(dict(raw["shapes"][0], score=0.5))  # same outline, another score: another id
    path.write_text(json.dumps(raw))
    first = read_predictions(project, IMAGE)
    assert len({p.id for p in first}) == 4 and all(p.id for p in first)
    assert [p.id for p in read_predictions(project, IMAGE)] == [p.id for p in first]  # the same on every read
    assert len(remove_predictions(project, IMAGE, [first[0].id])) == 1
    id_of = {p.score: p.id for p in first}
    rewritten = json.loads(path.read_text())  # file order kept, each remaining shape with its id stored
    assert [s[ID_KEY] for s in rewritten["shapes"]] == [id_of[0.4], id_of[0.2], id_of[0.5]]
    assert [p.id for p in read_predictions(project, IMAGE)] == [p.id for p in first[1:]]


def test_accepted_shapes_carry_the_prediction_id_and_the_chosen_label(demo_project):
    project = Project.open(demo_project)
    ann = project.load_annotation(IMAGE)
    preds = _three_predictions(project)
    for k, p in enumerate(preds):
        p.id = f"id{k}"
    pairs = shapes_from_predictions(ann, preds, 1.5, label="sign board")
    assert [p.id for p, _ in pairs] == ["id0", "id1", "id2"]
    shapes = [s for _, group in pairs for s in group]
    assert all(s.label == "sign board" and s.shape_type == "polygon" for s in shapes)
    ann.shapes.extend(pairs[0][1])
    assert accepted_prediction_ids(ann) == {"id0"}
    box = pairs[2][1][0]
    assert box.bbox() == (5.0, 6.0, 40.0, 30.0) and len(box.points) == 4


def test_threshold_to_show_the_best_hidden_ones():
    scores = [0.28, 0.27, 0.2, 0.19, 0.11, 0.05]
    assert threshold_to_show(scores, count=3) == 0.2
    assert threshold_to_show(scores, count=10) == 0.05
    assert threshold_to_show([0.333], count=10) == 0.33
    assert threshold_to_show([0.01], count=10, floor=0.05) == 0.05
    assert threshold_to_show([], count=10) == 0.05


def test_inclusive_to_edge_box_for_tuples_arrays_and_tensors():
    import torch
    from torchvision.ops import masks_to_boxes

    mask = np.zeros((20, 30), dtype=bool)
    mask[5:9, 3:12] = True
    assert inclusive_to_edge_box((3, 5, 11, 8)) == mask_box(mask) == (3.0, 5.0, 12.0, 9.0)
    arr = inclusive_to_edge_box(np.array([[3, 5, 11, 8], [0, 0, 0, 0]]))
    assert arr.tolist() == [[3, 5, 12, 9], [0, 0, 1, 1]]
    tensor = inclusive_to_edge_box(masks_to_boxes(torch.from_numpy(mask)[None]))
    assert tensor.tolist() == [[3.0, 5.0, 12.0, 9.0]]


def _perfect_model_masks(limit_images: int) -> list[np.ndarray]:
    """What a perfect Mask R-CNN predicts for car_damage_via's wheels and mirrors (whole objects):
    the ground truth pooled to the 28x28 mask head output, pasted into the model's input frame
    and brought back to the photo by the real prediction code (the staircase edges and the
    smoothing of a real prediction)."""
    import torch
    from torchvision.models.detection.roi_heads import paste_masks_in_image
    from torchvision.ops import roi_align

    from core.formats.via import read_via
    from core.training.predict import _mask_to_original

    plan = read_via(shared_data("car_damage_via") / "all.json", label_key="cls")
    masks = []
    for img in plan.images[:limit_images]:
        h, w = img.height, img.width
        scale = min(800 / min(h, w), 1333 / max(h, w))
        for s in img.shapes:
            gt = polygon_to_mask(s.points, h, w)
            if s.label not in ("roue", "retro") or not gt.any():
                continue
            box = torch.tensor([mask_box(gt)], dtype=torch.float32)
            m28 = roi_align(torch.from_numpy(gt).float()[None, None], [box], 28, 1.0, 0, aligned=True)
            soft = paste_masks_in_image(m28, box * scale, (int(h * scale), int(w * scale)))[0, 0]
            masks.append(_mask_to_original(soft, box[0] * scale, scale, (h, w)))
    return [m for m in masks if m.sum() >= 100]


def test_accepted_polygons_have_a_few_dozen_vertices_and_keep_the_outline():
    """At the default tolerance a real object's mask becomes a polygon of a few dozen vertices
    at most (a wheel 100 px across: about 14), whose outline stays within the tolerance of the
    mask's exact outline: no visible change at 100 %."""
    masks = _perfect_model_masks(limit_images=40)
    assert len(masks) >= 40
    tol = DEFAULT_POLYGON_TOLERANCE_PX
    counts, exact_counts, distances, ious = [], [], [], []
    for mask in masks:
        pred = Prediction("roue", 0.9, mask_box(mask), mask, "x")
        polys = prediction_polygons(pred, tol)
        exact = prediction_polygons(pred, 0.0)
        assert polys and all(shapely.Polygon(p).is_valid for p in polys)
        counts.append(sum(len(p) for p in polys))
        exact_counts.append(sum(len(p) for p in exact))
        outline, simplified = shapely.Polygon(exact[0]).exterior, shapely.Polygon(polys[0]).exterior
        distances.append(shapely.hausdorff_distance(outline, simplified))
        back = polygon_to_mask(polys[0], *mask.shape)
        ious.append((back & mask).sum() / (back | mask).sum())
    counts, distances = np.array(counts), np.array(distances)
    assert np.median(counts) <= 30 and np.percentile(counts, 90) <= 60, sorted(counts)
    assert np.median(exact_counts) >= 4 * np.median(counts)  # the pixel staircase, before simplifying
    assert np.percentile(distances, 95) <= tol + 0.05 and distances.max() <= tol + 1.0, sorted(distances)[-5:]
    assert np.median(ious) >= 0.97 and min(ious) >= 0.9


def test_the_window_reads_predictions_without_importing_torch():
    """The review dock reads predictions files and the COCO weights path on the GUI thread:
    nothing it imports may import torch (importing torch there raced the start-up check)."""
    code = ("import sys; import gui.review.dock, core.predictions, core.training.auto_label; "
            "bad = [m for m in ('torch', 'torchvision') if m in sys.modules]; assert not bad, bad")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("torch_home", [None, "custom"])
def test_coco_weights_path_is_torchvisions_without_importing_torch(torch_home, tmp_path, monkeypatch):
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

    from core.models.weights import cached_weights_path
    from core.training.auto_label import COCO_WEIGHTS_FILE, coco_weights_path

    if torch_home:
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / torch_home))
    else:
        monkeypatch.delenv("TORCH_HOME", raising=False)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert MaskRCNN_ResNet50_FPN_Weights.COCO_V1.url.endswith("/" + COCO_WEIGHTS_FILE)
    assert coco_weights_path() == cached_weights_path(MaskRCNN_ResNet50_FPN_Weights.COCO_V1)
    assert Path(tmp_path) in coco_weights_path().parents
