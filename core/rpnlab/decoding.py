"""Decoding of the regression output for the positive anchors of one image.

For each positive anchor of the training assignment: the anchor, its matched ground-truth box,
the regression target (the anchor preview's `regression_targets`, BoxCoder weights 1, times the
chosen weights: encoding is linear in them), the predicted deltas, the box those deltas decode
to, and the target decoded back (the preview's `decoded_boxes`, which is the ground-truth box).
The weights are a setting: the model trained with its own (1, 1, 1, 1); the study decodes with 2,
and decoding a model's deltas with other weights than it trained with shows the boxes shrink or
grow around the anchor."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.models.detection._utils import BoxCoder
from torchvision.ops import box_iou

from core.anchors.config import POSITIVE

from core.training.rpn_probe import RPNOutputs


@dataclass
class DecodingTable:
    """Rows are the positive anchors; boxes in the model-input frame (x1 y1 x2 y2)."""

    anchor_index: np.ndarray  # (P,) index into the RPN's anchors
    level: np.ndarray
    anchors: np.ndarray  # (P, 4)
    gt_boxes: np.ndarray  # (P, 4) the matched object
    targets: np.ndarray  # (P, 4) dx dy dw dh with the chosen weights
    predicted: np.ndarray  # (P, 4) the model's deltas
    decoded: np.ndarray  # (P, 4) predicted deltas decoded with the chosen weights
    decoded_targets: np.ndarray  # (P, 4) the targets decoded back: the ground truth
    scores: np.ndarray  # (P,) predicted objectness
    iou_anchor: np.ndarray  # IoU of anchor and object
    iou_decoded: np.ndarray  # IoU of decoded box and object
    weights: tuple[float, float, float, float]

    def __len__(self) -> int:
        return len(self.anchor_index)


def decoding_table(outputs: RPNOutputs, weights: tuple[float, float, float, float] | None = None) -> DecodingTable:
    w = tuple(float(v) for v in (weights or outputs.box_weights))
    if len(w) != 4 or min(w) <= 0:
        raise ValueError(f"box coder weights must be four positive numbers, not {w}")
    pv = outputs.preview
    pos = np.flatnonzero(pv.labels == POSITIVE)
    anchors = torch.as_tensor(pv.anchors_input[pos], dtype=torch.float32)
    gt = torch.as_tensor(pv.gt_boxes_input[pv.matched_idxs[pos]], dtype=torch.float32).reshape(-1, 4)
    targets = torch.as_tensor(pv.regression_targets[pos]) * torch.tensor(w)
    predicted = outputs.deltas[pos].float()
    coder = BoxCoder(w)
    decoded = coder.decode_single(predicted, anchors) if len(pos) else torch.zeros((0, 4))
    pairwise = lambda a, b: box_iou(a, b).diagonal() if len(a) else torch.zeros(0)  # noqa: E731
    return DecodingTable(
        anchor_index=pos, level=pv.level[pos], anchors=anchors.numpy(), gt_boxes=gt.numpy(),
        targets=targets.numpy(), predicted=predicted.numpy(), decoded=decoded.numpy(),
        decoded_targets=pv.decoded_boxes[pos], scores=torch.sigmoid(outputs.logits[pos].float()).numpy(),
        iou_anchor=pairwise(anchors, gt).numpy(), iou_decoded=pairwise(decoded, gt).numpy(), weights=w)
