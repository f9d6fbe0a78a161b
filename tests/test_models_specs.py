"""The model table and the anchors training will use, shared by the preview and the trainer."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.anchors.config import AnchorConfig, set_project_anchor_config
from core.models.specs import DEFAULT_MODEL, MODEL_NAMES, model_spec, training_anchor_config
from core.project import Project

ROOT = Path(__file__).resolve().parents[1]


def test_specs_import_without_torch():
    code = "import sys, core.models.specs; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_default_project_follows_the_default_model(tmp_path):
    project = Project.open(tmp_path)
    config = training_anchor_config(project)
    spec = model_spec(DEFAULT_MODEL)
    assert (config.min_size, config.max_size) == (spec.default_min_size, spec.default_max_size)
    assert config.sizes == spec.default_anchors().sizes


def test_project_settings_choose_model_size_and_anchors(tmp_path):
    project = Project.open(tmp_path)
    project.settings["training"] = {"model": "rpn_classic", "image_size": 400}
    classic = training_anchor_config(project)
    assert len(classic.sizes) == 1 and classic.strides == (16,) and classic.min_size == 400
    assert classic.max_size == 800  # the model's 320/640 cap scaled with the image size
    five = AnchorConfig(sizes=((16,), (32,), (64,), (128,), (256,)), fg_iou_thresh=0.6)
    set_project_anchor_config(project, five)
    assert training_anchor_config(project).sizes == ((64,),)  # five levels do not fit the classic RPN
    fitted = training_anchor_config(project, "mininet_r18_fpn")
    assert fitted.sizes == five.sizes and fitted.fg_iou_thresh == 0.6 and fitted.min_size == 400
    assert training_anchor_config(project, "mininet_r18_fpn", project_anchors=False).sizes == AnchorConfig().sizes


def test_unknown_model_names_the_choices():
    with pytest.raises(ValueError, match="choose one of"):
        model_spec("resnet9000")
    assert DEFAULT_MODEL in MODEL_NAMES
