"""One photo through a checkpoint's RPN, exactly as training and prediction see it.

The photo is prepared by the training dataset (the antialiased resize to the model scale, and the
ground-truth boxes from the rasterised masks, `ProjectDataset`), then the model's own
GeneralizedRCNNTransform, backbone, RPN head and AnchorGenerator run. Three frames are involved:
the photo, the prepared image (what the dataset yields) and the model input (after the
transform); `LabFrame` maps the model input back to the photo."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchvision.models.detection.rpn import concat_box_prediction_layers

from core.anchors.config import AnchorConfig
from core.anchors.preview import AnchorPreview, preview_assignment
from core.training import TrainingError
from core.training.checkpoint import load_checkpoint, model_from_checkpoint
from core.training.dataset import ProjectDataset, prepare_image


@dataclass
class LabModel:
    path: Path
    state: dict[str, Any]  # the checkpoint without its weights
    model: torch.nn.Module
    anchors: AnchorConfig

    @property
    def name(self) -> str:
        return str(self.state["model_name"])


def load_lab_model(checkpoint: str | Path) -> LabModel:
    """A checkpoint's model on the CPU in eval mode, with its anchor settings."""
    path = Path(checkpoint)
    state = load_checkpoint(path)
    model = model_from_checkpoint(state, "cpu", path)
    if getattr(model, "rpn", None) is None:
        raise TrainingError(path, f"model {state['model_name']!r} has no region proposal network")
    light = {k: v for k, v in state.items() if k not in ("model", "optimizer", "scheduler", "scaler")}
    return LabModel(path, light, model, AnchorConfig.from_dict(state["anchors"]))


@dataclass
class LabImage:
    name: str
    tensor: Tensor  # float CHW in 0..1: the prepared image
    scale: float  # prepared pixels per photo pixel (as the predictions divide by it)
    photo_hw: tuple[int, int]
    gt_boxes: Tensor  # (G, 4) training's target boxes in the prepared frame; empty without an annotation

    @property
    def prepared_wh(self) -> tuple[int, int]:
        return int(self.tensor.shape[-1]), int(self.tensor.shape[-2])

    @property
    def gt_boxes_photo(self) -> np.ndarray:
        return (self.gt_boxes / self.scale).numpy().astype(np.float64)


def load_lab_image(project: Any, image: str | Path, lab: LabModel) -> LabImage:
    """The photo as training feeds it (no augmentation). Images without an annotation have no
    ground truth; objects whose label the checkpoint does not know are left out, as in training."""
    name = Path(image).as_posix()
    if not project.abs_path(name).is_file():
        raise TrainingError(project.abs_path(name), "no such image in the project")
    min_size, max_size = int(lab.state["min_size"]), int(lab.state["max_size"])
    if project.load_annotation(name) is None:
        tensor, scale, size = prepare_image(project.abs_path(name), min_size, max_size)
        return LabImage(name, tensor.float().div_(255), scale, size, torch.zeros((0, 4)))
    dataset = ProjectDataset(project, [name], list(lab.state["label_names"]), min_size, max_size)
    item = dataset.load(0)
    tensor, target = dataset[0]
    return LabImage(name, tensor, item.scale, item.orig_size, target["boxes"].float())


@dataclass
class LabFrame:
    """Model input -> photo: the transform's resize undone (postprocess' per-axis ratio), then the
    dataset's scale (as `to_predictions` does)."""

    fx: float
    fy: float

    def input_to_photo(self, boxes: np.ndarray | Tensor) -> np.ndarray:
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        return b * np.array([self.fx, self.fy, self.fx, self.fy])


@dataclass
class RPNOutputs:
    """The RPN head's raw output for one image, in torchvision's anchor order (level, row,
    column, cell anchor), and the assignment training would give it."""

    image: LabImage
    input_hw: tuple[int, int]  # the resized model input (before padding)
    padded_hw: tuple[int, int]
    grid_sizes: list[tuple[int, int]]
    strides: list[tuple[int, int]]
    anchors_per_location: list[int]
    anchors: Tensor  # (N, 4) model-input frame
    logits: Tensor  # (N,) objectness logits
    deltas: Tensor  # (N, 4) predicted box deltas
    level_logits: list[Tensor]  # per level (A, H, W), the head's own layout
    box_weights: tuple[float, float, float, float]  # the model's BoxCoder weights
    preview: AnchorPreview  # the training assignment on this input (labels, targets, ...)
    frame: LabFrame
    nms_thresh: float
    pre_nms_top_n: int
    post_nms_top_n: int

    @property
    def level(self) -> np.ndarray:
        return self.preview.level

    @property
    def num_anchors_per_level(self) -> list[int]:
        return [h * w * a for (h, w), a in zip(self.grid_sizes, self.anchors_per_location)]

    @property
    def gt_boxes_input(self) -> Tensor:
        return torch.as_tensor(self.preview.gt_boxes_input, dtype=torch.float32).reshape(-1, 4)


def _features(model: torch.nn.Module, tensors: Tensor) -> list[Tensor]:
    features = model.backbone(tensors)
    if isinstance(features, Tensor):
        features = OrderedDict([("0", features)])
    return list(features.values())


def rpn_forward(lab: LabModel, image: LabImage) -> RPNOutputs:
    model, rpn = lab.model, lab.model.rpn
    model.eval()
    with torch.inference_mode():
        image_list, _ = model.transform([image.tensor])
        feature_maps = _features(model, image_list.tensors)
        objectness, deltas = rpn.head(feature_maps)
        anchors = rpn.anchor_generator(image_list, feature_maps)[0]
        level_logits = [o[0].clone() for o in objectness]
        flat_logits, flat_deltas = concat_box_prediction_layers(objectness, deltas)
    input_hw = tuple(int(v) for v in image_list.image_sizes[0])
    padded_hw = (int(image_list.tensors.shape[-2]), int(image_list.tensors.shape[-1]))
    grid_sizes = [(int(f.shape[-2]), int(f.shape[-1])) for f in feature_maps]
    preview = preview_assignment(image.prepared_wh, image.gt_boxes.numpy(), lab.anchors, grid_sizes=grid_sizes,
                                 prepared=True)
    if preview.geometry.resized_hw != input_hw or preview.geometry.padded_hw != padded_hw:
        raise TrainingError(lab.path, f"the anchor preview places {image.name} at {preview.geometry.resized_hw} "
                                      f"but the model at {input_hw}: the checkpoint's input size settings disagree")
    pw, ph = image.prepared_wh
    frame = LabFrame(pw / input_hw[1] / image.scale, ph / input_hw[0] / image.scale)
    return RPNOutputs(
        image=image, input_hw=input_hw, padded_hw=padded_hw, grid_sizes=grid_sizes,
        strides=[tuple(s) for s in preview.grid.strides], anchors_per_location=[int(o.shape[1]) for o in objectness],
        anchors=anchors, logits=flat_logits.reshape(-1), deltas=flat_deltas, level_logits=level_logits,
        box_weights=tuple(float(w) for w in rpn.box_coder.weights), preview=preview, frame=frame,
        nms_thresh=float(rpn.nms_thresh), pre_nms_top_n=int(rpn._pre_nms_top_n["testing"]),
        post_nms_top_n=int(rpn._post_nms_top_n["testing"]))
