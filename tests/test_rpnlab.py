"""The RPN laboratory's values: the ground-truth objectness map is the training assignment, the
predicted map is the head's sigmoid, the after-NMS set is torchvision's, decoding inverts
encoding; and the `objectness` / `proposals` commands on a real photo."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.models.detection._utils import BoxCoder
from torchvision.ops import batched_nms, clip_boxes_to_image, remove_small_boxes

from core.cli import main as cli_main
from core.models.registry import build_model
from core.project import Project
from core.rpnlab.decoding import decoding_table
from core.training.rpn_probe import LabModel, load_lab_image, load_lab_model, rpn_forward
from core.rpnlab.objectness import objectness_maps
from core.rpnlab.proposals import ProposalSettings, compute_proposals
from core.training.trainer import Trainer, TrainSettings
from tests.conftest import shared_data

torch.set_num_threads(2)
IMAGE = "val/object_1_46931.png"


@pytest.fixture(scope="module")
def vehicles(tmp_path_factory) -> Path:
    src = shared_data("vehicle_crops_via")
    dst = tmp_path_factory.mktemp("rpnlab") / "vehicles"
    assert cli_main(["import", str(src), "--format", "via", "--project", str(dst), "--label-key", "name"]) == 0
    return dst


@pytest.fixture(scope="module")
def checkpoint(vehicles) -> Path:
    """A few iterations of rpn_classic at 160 px: enough to give non-trivial outputs."""
    s = TrainSettings(model="rpn_classic", epochs=50, max_iters=6, image_size=160, weights="none", augment="none",
                      evaluate_ap=False, warmup_iters=2, batch_size=2)
    result = Trainer(Project.open(vehicles), s, run_dir=vehicles / "runs" / "lab").run()
    return result.last_checkpoint


def _untrained_fpn(project: Project) -> LabModel:
    """mininet_r18_fpn without weights: five levels of three anchors each, at 128 px."""
    built = build_model("mininet_r18_fpn", len(project.label_names()) + 1, weights="none", min_size=128, max_size=256)
    state = {"model_name": "mininet_r18_fpn", "label_names": project.label_names(), "min_size": 128, "max_size": 256,
             "anchors": built.anchors.to_dict()}
    return LabModel(Path("untrained"), state, built.model.eval(), built.anchors)


def _training_labels(lab: LabModel, image) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
    """What the model's RPN assigns in training: its transform, its anchors, its assign_targets_to_anchors."""
    model = lab.model
    target = {"boxes": image.gt_boxes.clone(), "labels": torch.ones(len(image.gt_boxes), dtype=torch.int64)}
    with torch.no_grad():
        image_list, targets = model.transform([image.tensor], [target])
        features = model.backbone(image_list.tensors)
        features = [features] if isinstance(features, torch.Tensor) else list(features.values())
        anchors = model.rpn.anchor_generator(image_list, features)
        labels, _ = model.rpn.assign_targets_to_anchors(anchors, targets)
        logits, _ = model.rpn.head(features)
    return labels[0], logits, anchors[0]


@pytest.mark.parametrize("which", ["rpn_classic", "mininet_r18_fpn"])
def test_maps_equal_the_training_assignment_and_the_head_sigmoid(which, vehicles, checkpoint):
    project = Project.open(vehicles)
    lab = load_lab_model(checkpoint) if which == "rpn_classic" else _untrained_fpn(project)
    image = load_lab_image(project, IMAGE, lab)
    assert len(image.gt_boxes) == 1
    outputs = rpn_forward(lab, image)
    maps = objectness_maps(outputs)
    labels, logits, anchors = _training_labels(lab, image)
    assert torch.equal(outputs.anchors, anchors)
    assert len(maps) == len(logits) == (1 if which == "rpn_classic" else 5)
    # back to torchvision's flat order: level, row, column, cell anchor
    flat_gt = np.concatenate([m.gt.transpose(1, 2, 0).reshape(-1) for m in maps])
    assert np.array_equal(flat_gt, labels.numpy().astype(np.int8))
    assert (flat_gt == 1).sum() >= 1
    for m, logit in zip(maps, logits):
        assert m.gt.shape == m.predicted.shape == tuple(logit.shape[1:])
        assert np.array_equal(m.predicted, torch.sigmoid(logit[0]).numpy())
    s = maps[0].summary()
    positive = maps[0].gt == 1
    assert s["positive_cells"] == positive.sum()
    assert s["positive_predicted_above_0.5"] == (positive & (maps[0].predicted > 0.5)).sum()


def test_after_nms_is_torchvision_and_the_model_own_proposals(vehicles, checkpoint):
    project = Project.open(vehicles)
    lab = load_lab_model(checkpoint)
    outputs = rpn_forward(lab, load_lab_image(project, IMAGE, lab))
    rpn = lab.model.rpn
    # the model's defaults give exactly what the model's filter_proposals keeps
    p = compute_proposals(outputs, ProposalSettings(nms_thresh=rpn.nms_thresh, score=0.5,
                                                    pre_nms_top_n=outputs.pre_nms_top_n,
                                                    post_nms_top_n=outputs.post_nms_top_n))
    decoded = rpn.box_coder.decode(outputs.deltas, [outputs.anchors]).view(1, -1, 4)
    boxes, scores = rpn.filter_proposals(decoded, outputs.logits.view(1, -1), [outputs.input_hw],
                                         outputs.num_anchors_per_level)
    assert torch.equal(p.boxes[p.after], boxes[0]) and torch.equal(p.scores[p.after], scores[0])
    # other settings: batched_nms on all decoded, clipped boxes, computed here independently
    for nms, post in ((0.3, 1000), (0.5, 7)):
        p = compute_proposals(outputs, ProposalSettings(nms_thresh=nms, score=0.3, pre_nms_top_n=10**6,
                                                        post_nms_top_n=post))
        all_boxes = clip_boxes_to_image(BoxCoder((1.0, 1.0, 1.0, 1.0)).decode_single(outputs.deltas, outputs.anchors),
                                        outputs.input_hw)
        all_scores = torch.sigmoid(outputs.logits)
        keep = remove_small_boxes(all_boxes, 1e-3)
        expected = keep[batched_nms(all_boxes[keep], all_scores[keep], torch.zeros(len(keep), dtype=torch.int64),
                                    nms)][:post]
        assert len(p.boxes) == len(keep)
        assert set(p.anchor_index[p.after].tolist()) == set(expected.tolist())
        assert torch.equal(p.boxes[p.after], all_boxes[expected])
    assert len(p.after) == 7
    assert set(p.recall) == {"after_nms_positive", "after_nms_all", "before_nms_positive"}
    assert p.recall["after_nms_all"]["IoU0.5"] is not None


def test_decoding_inverts_encoding_and_shows_the_preview_targets(vehicles, checkpoint):
    project = Project.open(vehicles)
    lab = load_lab_model(checkpoint)
    outputs = rpn_forward(lab, load_lab_image(project, IMAGE, lab))
    pv = outputs.preview
    one = decoding_table(outputs)
    assert len(one) == int((pv.labels == 1).sum()) > 0
    assert np.array_equal(one.targets, pv.regression_targets[one.anchor_index])
    assert np.allclose(one.decoded_targets, one.gt_boxes, atol=1e-3)
    # the predicted deltas decode to the boxes the proposals use for those anchors
    assert np.allclose(one.decoded, rpn_decode(lab, outputs)[one.anchor_index], atol=1e-4)
    two = decoding_table(outputs, (2.0, 2.0, 2.0, 2.0))
    assert np.allclose(two.targets, 2 * one.targets)
    back = BoxCoder((2.0, 2.0, 2.0, 2.0)).decode_single(torch.as_tensor(two.targets), torch.as_tensor(two.anchors))
    assert np.allclose(back.numpy(), two.gt_boxes, atol=1e-3)
    assert not np.allclose(two.decoded, one.decoded)  # the weights matter for the model's own deltas
    with pytest.raises(ValueError, match="positive"):
        decoding_table(outputs, (0.0, 1.0, 1.0, 1.0))


def test_a_click_on_the_decoding_picture_finds_the_anchor_drawn_there(vehicles, checkpoint):
    """decoding_anchor_boxes says where render_decoding drew each anchor: drawn alone, the anchor's
    blue outline is exactly there, and box_at picks it back from a point on it."""
    import dataclasses

    from core.geometry import box_at
    from core.images import load_image
    from core.rpnlab.render import BLUE, decoding_anchor_boxes, render_decoding

    project = Project.open(vehicles)
    lab = load_lab_model(checkpoint)
    outputs = rpn_forward(lab, load_lab_image(project, IMAGE, lab))
    photo = load_image(project.abs_path(IMAGE))
    table = decoding_table(outputs)
    every = decoding_anchor_boxes(outputs, table, picked=0)
    for k in {0, len(table) - 1}:
        alone = dataclasses.replace(table, **{f.name: getattr(table, f.name)[k:k + 1]
                                              for f in dataclasses.fields(table) if f.name != "weights"})
        for picked in (None, 0):  # with a picked anchor its numbers make the titles taller
            picture = np.asarray(render_decoding(photo, outputs, alone, picked=picked)).astype(int)
            box = decoding_anchor_boxes(outputs, alone, picked=picked)[0]
            drawn = np.all(np.abs(picture - 0.9 * np.array(BLUE)) <= 0.1 * 255 + 2, axis=2)
            panel_width = (picture.shape[1] - 8) // 2
            ys, xs = np.nonzero(drawn[:, :panel_width])  # the left panel, which clips an anchor reaching past it
            visible = np.minimum(box, [panel_width - 1, picture.shape[0] - 1] * 2)
            assert np.allclose([xs.min(), ys.min(), xs.max(), ys.max()], visible, atol=1.5), (k, picked, box)
        assert np.allclose(every[k], box)  # every anchor drawn, one picked: the same place
        x1, y1, x2, y2 = box
        assert box_at(every[k:k + 1], x1 + 0.5, (y1 + y2) / 2) == 0
    x1, y1, x2, y2 = every[0]
    assert box_at(every, (x1 + x2) / 2, (y1 + y2) / 2) in set(np.flatnonzero(
        (every[:, 0] <= (x1 + x2) / 2) & ((x1 + x2) / 2 <= every[:, 2])))
    assert box_at(every, -1000.0, -1000.0) is None


def rpn_decode(lab: LabModel, outputs) -> np.ndarray:
    return lab.model.rpn.box_coder.decode_single(outputs.deltas, outputs.anchors).numpy()


def test_objectness_and_proposals_commands(vehicles, checkpoint, tmp_path, capsys):
    common = ["--checkpoint", str(checkpoint), "--project", str(vehicles), "--image", "object_1_46931.png"]
    assert cli_main(["objectness", *common, "--out", str(tmp_path / "o.png"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    level = data["levels"][0]
    gt, pred = np.array(level["gt"]), np.array(level["predicted"])
    assert gt.shape == pred.shape == (1, *level["grid"])
    assert data["summary"]["positive_cells"] == (gt == 1).sum() > 0
    assert data["summary"]["negative_predicted_above_0.5"] == ((gt == 0) & (pred > 0.5)).sum()
    assert (tmp_path / "o.png").stat().st_size > 1000
    assert cli_main(["proposals", *common, "--nms", "0.5", "--score", "0.4", "--post-nms-top-n", "20",
                     "--out", str(tmp_path / "p.png"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["settings"]["nms"] == 0.5 and len(data["after_nms"]) <= 20 and data["gt_boxes"]
    assert data["counts"]["after_nms_positive"] == sum(r["score"] >= 0.4 for r in data["after_nms"])
    assert all(0 <= b["box"][0] <= b["box"][2] <= 176 for b in data["after_nms"])
    assert (tmp_path / "p.png").exists()
    assert cli_main(["proposals", *common]) == 0
    assert "recall after nms positive: IoU 0.5" in capsys.readouterr().out
    # bad input: a clear message naming the file or the value
    assert cli_main(["objectness", *common, "--level", "3"]) == 1
    assert "--level 3" in capsys.readouterr().err
    assert cli_main(["proposals", *common[:-1], "nope.png"]) == 1
    assert "no image 'nope.png'" in capsys.readouterr().err
    assert cli_main(["proposals", *common, "--nms", "1.5"]) == 1
    assert cli_main(["objectness", "--checkpoint", str(tmp_path / "missing.pt"), *common[2:]]) == 1
    assert "missing.pt" in capsys.readouterr().err


def test_an_image_without_annotation_has_only_negative_cells(vehicles, checkpoint, tmp_path, capsys):
    import shutil

    shutil.copyfile(vehicles / IMAGE, vehicles / "unlabelled.png")
    try:
        common = ["--checkpoint", str(checkpoint), "--project", str(vehicles), "--image", "unlabelled.png"]
        assert cli_main(["objectness", *common, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["summary"]["positive_cells"] == 0 and data["summary"]["ignore_cells"] == 0
        assert cli_main(["proposals", *common, "--json", "--out", str(tmp_path / "p.png")]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["gt_boxes"] == [] and data["recall"]["after_nms_all"] == {"IoU0.5": None, "IoU0.7": None}
    finally:
        (vehicles / "unlabelled.png").unlink()
