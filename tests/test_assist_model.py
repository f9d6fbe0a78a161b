"""The project-model method: the checkpoint's mask head on the user's box as the one proposal,
features computed once per image, the label's class channel, clicks, and refusals."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

RUN = "20260101-000000-mininet_r18_fpn"
IMAGE = "street_000.jpg"


def whole_box_checkpoint(project: Path, mask_bias: float = 12.0) -> Path:
    """A mininet checkpoint whose mask predictor says "all of the box" for class 1 (car) and
    "nothing" for class 2: the paste geometry can be checked exactly (a fixture, not a trained
    model)."""
    import torch

    from core.models.registry import build_model
    from core.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    built = build_model("mininet_r18_fpn", 3, weights="none", min_size=96, max_size=128)
    model = built.model
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.weight.zero_()
        model.roi_heads.box_predictor.cls_score.bias[:] = torch.tensor([0.0, 0.0, 5.0])
        model.roi_heads.mask_predictor.mask_fcn_logits.weight.zero_()
        model.roi_heads.mask_predictor.mask_fcn_logits.bias[:] = torch.tensor([0.0, mask_bias, -mask_bias])
    path = project / "runs" / RUN / "best.pt"
    save_checkpoint(path, {"model_name": "mininet_r18_fpn", "kind": "mask", "label_names": ["car", "sign board"],
                           "anchors": built.anchors.to_dict(), "min_size": 96, "max_size": 128,
                           "model": model.state_dict()})
    (path.parent / "settings.json").write_text(json.dumps({"settings": {"model": "mininet_r18_fpn"}, "device": "cpu"}))
    return path


def test_box_becomes_the_heads_mask_at_full_resolution_with_cached_features(demo_project):
    from core.training.mask_assist import ModelAssistant

    assistant = ModelAssistant(whole_box_checkpoint(demo_project))
    calls = []
    assistant.model.backbone.register_forward_hook(lambda *_: calls.append(1))
    path = demo_project / IMAGE
    crop = assistant.segment(path, (101.0, 60.0, 301.0, 180.0), "car")
    full = crop.full(*assistant.image_size(path))
    box = np.zeros_like(full)
    box[60:180, 101:301] = True
    assert np.count_nonzero(full & box) / np.count_nonzero(full | box) > 0.98
    for k in range(3):  # further boxes on the same image: the head only
        assistant.segment(path, (10.0 + k, 10.0, 90.0, 70.0), "car")
    assert len(calls) == 1
    # "sign board" is class 2, whose channel says "nothing": the filled box, with a note
    empty = assistant.segment(path, (10.0, 10.0, 90.0, 70.0), "sign board")
    assert any("no object" in n for n in empty.notes)


def test_unknown_label_uses_what_the_box_head_sees(demo_project):
    from core.training.mask_assist import ModelAssistant

    assistant = ModelAssistant(whole_box_checkpoint(demo_project))
    crop = assistant.segment(demo_project / IMAGE, (50.0, 50.0, 150.0, 120.0), "bus")
    # the box head's bias says class 2 ("sign board"), whose mask is empty: told, not hidden
    assert any("'bus'" in n and "'sign board'" in n for n in crop.notes)


def test_clicks_refine_the_models_mask(demo_project):
    from core.training.mask_assist import ModelAssistant

    assistant = ModelAssistant(whole_box_checkpoint(demo_project))
    path = demo_project / IMAGE
    plain = assistant.segment(path, (100.0, 100.0, 200.0, 180.0), "car")
    grown = assistant.segment(path, (100.0, 100.0, 200.0, 180.0), "car", positive=[(260.0, 140.0)])
    assert grown.full(480, 640)[140, 258] and not plain.full(480, 640)[140, 258]  # the box grew to the click
    cut = assistant.segment(path, (100.0, 100.0, 200.0, 180.0), "car", negative=[(105.0, 105.0)])
    assert not cut.full(480, 640)[105, 105]


def test_a_box_only_model_and_a_missing_file_are_refused(demo_project, tmp_path):
    from core.assist import AssistError
    from core.training.mask_assist import ModelAssistant
    from core.models.registry import build_model
    from core.training import TrainingError
    from core.training.checkpoint import save_checkpoint

    built = build_model("rpn_classic", 2, weights="none")
    path = save_checkpoint(tmp_path / "rpn.pt", {"model_name": "rpn_classic", "kind": "rpn", "label_names": ["car"],
                                                 "anchors": built.anchors.to_dict(), "min_size": 96, "max_size": 128,
                                                 "model": built.model.state_dict()})
    with pytest.raises(AssistError, match="no mask head"):
        ModelAssistant(path)
    with pytest.raises(TrainingError, match="does not exist"):
        ModelAssistant(tmp_path / "nothing.pt")
