"""The training data pipeline without training: split, dataset, transforms, sampler, events,
schedule, COCO scoring and the predictions file format."""
from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
from torch.utils.data import DistributedSampler, SequentialSampler

from core.anchors.boxes import instance_box, scale_boxes
from core.annotation import Shape
from core.geometry import instance_mask
from core.project import Project
from core.training.dataset import ProjectDataset, annotation_instances, make_target
from core.training.split import labelled_images
from core.training.evaluate import coco_metrics, detections, ground_truth, proposal_recall
from core.training.events import JsonLinesSink, to_json
from core.training.predict import Prediction, predictions_annotation, prediction_path, read_predictions
from core.training.sampler import GroupedBatchSampler, aspect_groups
from core.training.split import project_split, redraw_split, split_counts
from core.training.run_state import lr_factor
from core.training.trainer import TrainSettings
from core.training.transforms import TrainAugment

torch.set_num_threads(2)


def test_split_is_stored_and_new_images_go_to_train(demo_project):
    project = Project.open(demo_project)
    images = [p.as_posix() for p in project.image_paths()]
    first = project_split(project, images=images[:6], ratios={"train": 0.5, "val": 0.5}, seed=3)
    assert sorted(first["train"] + first["val"] + first["test"]) == sorted(images[:6])
    assert len(first["val"]) == 3
    reopened = Project.open(demo_project)  # stored in the project file
    again = project_split(reopened, images=images)
    for subset in ("val", "test"):
        assert again[subset] == first[subset]
    assert set(images[6:]) <= set(again["train"])
    assert project_split(Project.open(demo_project), images=images) == again
    labelled, _ = labelled_images(reopened)
    redrawn = redraw_split(reopened, val=0.5, seed=3)  # over the labelled images only
    assert sorted(redrawn["train"] + redrawn["val"]) == sorted(labelled) and len(redrawn["val"]) == 3
    assert split_counts(Project.open(demo_project), labelled) == {"train": 3, "val": 3, "test": 0}
    assert split_counts(Project.open(demo_project), images) == {"train": 5, "val": 3, "test": 0}  # new: train


def test_dataset_items_masks_boxes_labels_and_negatives(demo_project):
    project = Project.open(demo_project)
    images, problems = labelled_images(project)
    assert len(images) == 6 and not problems  # the demo's last two images have no sidecar
    ds = ProjectDataset(project, images, project.label_names(), min_size=240, max_size=400)
    negatives = 0
    for i in range(len(ds)):
        image, target = ds[i]
        assert image.dtype == torch.float32 and image.shape == (3, 240, 320)
        assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
        n = len(target["labels"])
        assert target["masks"].shape == (n, 240, 320) and target["boxes"].shape == (n, 4)
        assert set(target["labels"].tolist()) <= {1, 2}
        negatives += n == 0
        ann = project.load_annotation(images[i])
        assert n == len(ann.instances())
        outlines = np.array([instance_box(parts) for _, parts in ann.instances()]).reshape(-1, 4)
        expected = scale_boxes(outlines, (ann.image_width, ann.image_height), (240, 320))
        assert np.array_equal(target["boxes"].numpy(), expected)  # the exact outline box, not the mask's
        for m, b in zip(target["masks"], target["boxes"]):
            ys, xs = torch.nonzero(m, as_tuple=True)  # the mask covers the box to within a pixel
            mask_box = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float32)
            assert float((mask_box - b).abs().max()) <= 1.0
    assert negatives == 1
    assert ds.load(0) is ds.load(0)  # decoded once, then cached


def test_degenerate_unknown_and_crowd_objects(demo_project):
    project = Project.open(demo_project)
    img = project.image_paths()[0]
    ann = project.load_annotation(img)
    n_good = len(ann.instances())
    ann.shapes.append(Shape("car", np.array([[10, 10], [50, 10], [90, 10]])))  # a line, no area
    ann.shapes.append(Shape("tree", np.array([[10, 10], [50, 10], [50, 50]])))  # not a project label
    ann.shapes.append(Shape("car", np.array([[5, 5], [60, 5], [60, 60], [5, 60]]), flags={"iscrowd": True}))
    project.save_annotation(img, ann)
    inst = annotation_instances(ann, {"car": 1, "sign board": 2}, ann.image_height, ann.image_width)
    assert len(inst.masks) == n_good + 1 and inst.crowd.sum() == 1
    assert sum(inst.dropped.values()) == 2
    ds = ProjectDataset(project, [img.as_posix()], project.label_names(), 480, 640)
    _, target = ds[0]
    assert len(target["labels"]) == n_good  # crowd regions are not trained on
    assert sum(ds.dropped.values()) == 2
    gt = ground_truth(project, [img.as_posix()], project.label_names())
    assert sum(a["iscrowd"] for a in gt["annotations"]) == 1


def test_transforms_move_masks_and_boxes_with_the_image():
    image = torch.zeros(3, 40, 60, dtype=torch.uint8)
    image[0, 5:15, 2:12] = 255
    masks = torch.zeros(1, 40, 60, dtype=torch.uint8)
    masks[0, 5:15, 2:12] = 1
    boxes = torch.tensor([[2.0, 5.0, 12.0, 15.0]])
    flip = TrainAugment(flip=1.0, scale_prob=0.0, photometric=False)
    out_img, out_masks, out_boxes, labels = flip(image, masks, boxes, torch.tensor([1]))
    assert torch.equal(out_masks[0].bool(), out_img[0] == 255)
    assert make_target(out_masks, out_boxes, labels, 0)["boxes"].tolist() == [[48.0, 5.0, 58.0, 15.0]]
    centred_img, centred = torch.zeros_like(image), torch.zeros_like(masks)
    centred_img[0, 15:25, 25:35] = 255
    centred[0, 15:25, 25:35] = 1
    zoom = TrainAugment(flip=0.0, scale_range=(1.5, 1.5), scale_prob=1.0, photometric=False)
    z_img, z_masks, z_boxes, _ = zoom(centred_img, centred, torch.tensor([[25.0, 15.0, 35.0, 25.0]]), torch.tensor([1]))
    box = make_target(z_masks, z_boxes, labels, 0)["boxes"][0]
    assert float(box[2] - box[0]) == pytest.approx(15.0)  # 10 px wide, scaled 1.5x about the centre
    assert (z_masks[0].bool() == (z_img[0] > 127)).float().mean() > 0.99
    # a zoom that pushes an object off the canvas drops it, mask and all
    off = make_target(z_masks, torch.tensor([[60.0, 10.0, 60.0, 20.0]]), labels, 0)
    assert len(off["boxes"]) == 0 and len(off["masks"]) == 0


def test_grouped_batches_cover_every_index_once_and_shard():
    sizes = [(100, 200), (200, 100)] * 5 + [(100, 100)]
    groups = aspect_groups(sizes)
    batches = list(GroupedBatchSampler(SequentialSampler(range(11)), groups, 2))
    assert sorted(i for b in batches for i in b) == list(range(11))
    assert len(batches) == len(GroupedBatchSampler(SequentialSampler(range(11)), groups, 2))
    assert all(len({groups[i] for i in b}) == 1 for b in batches[:-1])
    shards = []
    for rank in range(2):
        sampler = DistributedSampler(range(11), num_replicas=2, rank=rank, shuffle=True, seed=0)
        gb = GroupedBatchSampler(sampler, groups, 2)
        gb.set_epoch(1)
        shards.append({i for b in gb for i in b})
    assert shards[0] | shards[1] == set(range(11))


def test_lr_schedule_warms_up_then_decays():
    assert lr_factor(0, 10, 100, "cosine") == pytest.approx(0.001)
    assert lr_factor(10, 10, 100, "cosine") == pytest.approx(1.0)
    assert lr_factor(55, 10, 100, "cosine") == pytest.approx(0.5)
    assert lr_factor(100, 10, 100, "cosine") == pytest.approx(0.0, abs=1e-9)
    assert lr_factor(70, 10, 90, "step") == pytest.approx(0.1)
    assert lr_factor(85, 10, 90, "step") == pytest.approx(0.01)


def test_settings_defaults_come_from_the_project(demo_project):
    project = Project.open(demo_project)
    project.settings["training"] = {"model": "rpn_classic", "epochs": 3, "lr": 0.002, "image_size": 320}
    s = TrainSettings.resolve(project, epochs=7, lr=None)
    assert (s.model, s.epochs, s.lr, s.image_size) == ("rpn_classic", 7, 0.002, 320)


def test_events_are_json_lines_even_with_nan():
    buf = io.StringIO()
    JsonLinesSink(buf)({"type": "iter", "loss": math.nan, "losses": {"a": math.inf}})
    line = json.loads(buf.getvalue())
    assert line == {"type": "iter", "loss": "nan", "losses": {"a": "inf"}}
    assert "\n" not in to_json({"type": "warning", "message": "a\nb"})


def _square(h, w, x1, y1, x2, y2):
    m = np.zeros((h, w), dtype=bool)
    m[y1:y2, x1:x2] = True
    return m


def test_coco_metrics_and_recall(demo_project):
    project = Project.open(demo_project)
    images, _ = labelled_images(project)
    labels = project.label_names()
    gt = ground_truth(project, images, labels)
    perfect = []
    for a in gt["annotations"]:
        img = gt["images"][a["image_id"] - 1]
        from pycocotools import mask as mask_utils

        m = mask_utils.decode({"size": a["segmentation"]["size"], "counts": a["segmentation"]["counts"].encode()})
        x, y, w, h = a["bbox"]
        perfect += detections(a["image_id"], [Prediction(labels[a["category_id"] - 1], 0.9, (x, y, x + w, y + h),
                                                         m.astype(bool))], labels)
        assert m.shape == (img["height"], img["width"])
    for kind in ("bbox", "segm"):
        dets = perfect if kind == "segm" else [{k: v for k, v in d.items() if k != "segmentation"} for d in perfect]
        metrics = coco_metrics(gt, dets, kind)
        assert metrics["AP"] == pytest.approx(1.0) and metrics["AP50"] == pytest.approx(1.0)
        assert set(metrics["per_label"]) == set(labels)
    shifted = [dict(d, bbox=[d["bbox"][0] + d["bbox"][2] * 0.6] + d["bbox"][1:]) for d in perfect]
    shifted = [{k: v for k, v in d.items() if k != "segmentation"} for d in shifted]
    assert coco_metrics(gt, shifted, "bbox")["AP50"] < 0.2
    assert coco_metrics(gt, [], "bbox")["AP"] == 0.0
    g = [torch.tensor([[0.0, 0, 10, 10], [20, 20, 40, 40]])]
    p = [torch.tensor([[0.0, 0, 10, 11], [20, 20, 30, 30]])]
    r = proposal_recall(g, p)
    assert r["R@100_IoU0.5"] == 0.5 and r["R@1000_IoU0.7"] == 0.5


def test_prediction_files_round_trip_without_touching_annotations(demo_project):
    project = Project.open(demo_project)
    img = project.image_paths()[0]
    sidecar = project.annotation_path(img).read_bytes()
    ann = project.load_annotation(img)
    h, w = ann.image_height, ann.image_width
    mask = instance_mask(ann.instances()[0][1], h, w)
    preds = [Prediction("car", 0.91, (10, 10, 60, 50), mask), Prediction("sign board", 0.4, (1, 2, 3, 4), None)]
    out = predictions_annotation(project, img, preds, (h, w), "/x/best.pt", "mininet_r18_fpn")
    path = prediction_path(project, img)
    path.parent.mkdir(parents=True)
    from core.labelme_json import write_annotation

    write_annotation(path, out)
    assert path == demo_project / "predictions" / img.with_suffix(".json")
    raw = json.loads(path.read_text())
    assert raw["checkpoint"] == "/x/best.pt" and raw["shapes"][0]["shape_type"] == "mask"
    assert raw["shapes"][1]["shape_type"] == "rectangle" and raw["shapes"][0]["score"] == 0.91
    assert (path.parent / raw["imagePath"]).resolve() == project.abs_path(img).resolve()
    back = read_predictions(project, img)
    assert [p.label for p in back] == ["car", "sign board"]
    assert np.array_equal(back[0].mask, mask) and back[1].mask is None
    assert project.annotation_path(img).read_bytes() == sidecar
    assert read_predictions(project, project.image_paths()[1]) == []
    assert img not in [p for p in project.image_paths() if "predictions" in p.parts]
