"""Proposals before and after NMS, by the steps of torchvision's `filter_proposals` with their
settings exposed: per level the `pre_nms_top_n` highest logits, sigmoid, clip to the image, drop
boxes under 1e-3 px, NMS per level at `nms_thresh`, keep the `post_nms_top_n` best. A proposal is
predicted positive when its objectness >= `score` (drawn yellow), else negative (red)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchvision.models.detection._utils import BoxCoder
from torchvision.ops import batched_nms, box_iou, clip_boxes_to_image, remove_small_boxes

from core.training.rpn_probe import RPNOutputs

RECALL_IOUS = (0.5, 0.7)
MIN_BOX_SIZE = 1e-3  # torchvision's RegionProposalNetwork.min_size


@dataclass
class ProposalSettings:
    nms_thresh: float = 0.7
    score: float = 0.5
    pre_nms_top_n: int = 1000
    post_nms_top_n: int = 1000
    box_weights: tuple[float, float, float, float] | None = None  # None: the model's own

    def check(self) -> None:
        if not 0.0 <= self.nms_thresh <= 1.0 or not 0.0 <= self.score <= 1.0:
            raise ValueError(f"the NMS IoU and the score threshold must be in 0..1, not {self.nms_thresh} and {self.score}")
        if self.pre_nms_top_n < 1 or self.post_nms_top_n < 1:
            raise ValueError("pre- and post-NMS top-n must be at least 1")


@dataclass
class Proposals:
    """Boxes in the model-input frame; `after` indexes `boxes` (the NMS survivors, best first)."""

    boxes: Tensor  # (K, 4) before NMS
    scores: Tensor  # (K,)
    levels: Tensor  # (K,)
    anchor_index: Tensor  # (K,) index into the RPN's anchors
    after: Tensor  # (M,) indices into the arrays above
    settings: ProposalSettings
    gt_boxes: Tensor  # (G, 4) model-input frame
    recall: dict[str, dict[str, float | None]] = field(default_factory=dict)

    def positive(self) -> Tensor:
        return self.scores >= self.settings.score

    def counts(self) -> dict[str, int]:
        pos = self.positive()
        return {"before_nms": len(self.boxes), "before_nms_positive": int(pos.sum()),
                "after_nms": len(self.after), "after_nms_positive": int(pos[self.after].sum())}


def decode(outputs: RPNOutputs, weights: tuple[float, float, float, float] | None = None) -> Tensor:
    coder = BoxCoder(weights or outputs.box_weights)
    return coder.decode_single(outputs.deltas.float(), outputs.anchors.float())


def recall(gt: Tensor, boxes: Tensor, thresholds: tuple[float, ...] = RECALL_IOUS) -> dict[str, float | None]:
    """Share of ground-truth boxes that some box overlaps with IoU >= t; None without ground truth."""
    if len(gt) == 0:
        return {f"IoU{t}": None for t in thresholds}
    best = box_iou(gt, boxes).max(dim=1).values if len(boxes) else torch.zeros(len(gt))
    return {f"IoU{t}": float((best >= t).float().mean()) for t in thresholds}


def compute_proposals(outputs: RPNOutputs, settings: ProposalSettings | None = None) -> Proposals:
    s = settings or ProposalSettings()
    s.check()
    boxes_all = decode(outputs, s.box_weights)
    logits = outputs.logits.float()
    candidates, levels, offset = [], [], 0
    for lvl, n in enumerate(outputs.num_anchors_per_level):
        top = logits[offset: offset + n].topk(min(s.pre_nms_top_n, n)).indices + offset
        candidates.append(top)
        levels.append(torch.full((len(top),), lvl, dtype=torch.int64))
        offset += n
    index, level = torch.cat(candidates), torch.cat(levels)
    boxes = clip_boxes_to_image(boxes_all[index], outputs.input_hw)
    scores = torch.sigmoid(logits[index])
    keep = remove_small_boxes(boxes, MIN_BOX_SIZE)
    boxes, scores, level, index = boxes[keep], scores[keep], level[keep], index[keep]
    after = batched_nms(boxes, scores, level, s.nms_thresh)[: s.post_nms_top_n]
    result = Proposals(boxes, scores, level, index, after, s, outputs.gt_boxes_input)
    positive = result.positive()
    result.recall = {
        "after_nms_positive": recall(result.gt_boxes, boxes[after][positive[after]]),
        "after_nms_all": recall(result.gt_boxes, boxes[after]),
        "before_nms_positive": recall(result.gt_boxes, boxes[positive]),
    }
    return result


def proposals_to_json(outputs: RPNOutputs, p: Proposals) -> dict[str, Any]:
    def rows(idx: Tensor) -> list[dict[str, Any]]:
        photo = outputs.frame.input_to_photo(p.boxes[idx])
        return [{"box": [round(float(v), 2) for v in b], "score": round(float(p.scores[i]), 5),
                 "level": int(p.levels[i]), "positive": bool(p.scores[i] >= p.settings.score)}
                for b, i in zip(photo, idx.tolist())]

    s = p.settings
    return {
        "image": outputs.image.name,
        "settings": {"nms": s.nms_thresh, "score": s.score, "pre_nms_top_n": s.pre_nms_top_n,
                     "post_nms_top_n": s.post_nms_top_n, "box_weights": list(s.box_weights or outputs.box_weights)},
        "counts": p.counts(), "recall": p.recall,
        "gt_boxes": np.round(outputs.image.gt_boxes_photo, 2).tolist(),
        "before_nms": rows(torch.argsort(p.scores, descending=True)), "after_nms": rows(p.after),
    }
