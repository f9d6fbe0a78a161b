"""The RPN every Masklab model uses: torchvision's RegionProposalNetwork whose target assignment
is `match_anchors`, the function the anchor preview calls, so preview and training agree."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead

from .assign import AnchorGrid, build_anchor_generator, build_box_coder, build_matcher, build_sampler, match_anchors
from .config import AnchorConfig

DEFAULT_PRE_NMS_TOP_N = {"training": 2000, "testing": 1000}
DEFAULT_POST_NMS_TOP_N = {"training": 2000, "testing": 1000}


class MasklabRPN(RegionProposalNetwork):
    """RegionProposalNetwork with Matcher / sampler settings from an AnchorConfig (including
    allow_low_quality_matches, which the stock class always sets) and the fast exact matcher."""

    def __init__(self, anchor_generator: AnchorGenerator, head: nn.Module, config: AnchorConfig,
                 pre_nms_top_n: dict[str, int], post_nms_top_n: dict[str, int],
                 nms_thresh: float = 0.7, score_thresh: float = 0.0) -> None:
        super().__init__(anchor_generator, head, config.fg_iou_thresh, config.bg_iou_thresh,
                         config.batch_size_per_image, config.positive_fraction,
                         pre_nms_top_n, post_nms_top_n, nms_thresh, score_thresh)
        self.anchor_config = config
        self.proposal_matcher = build_matcher(config)
        self.fg_bg_sampler = build_sampler(config)
        self.box_coder = build_box_coder()
        self._grid: AnchorGrid | None = None

    def forward(self, images: ImageList, features: dict[str, Tensor],
                targets: Optional[list[dict[str, Tensor]]] = None) -> tuple[list[Tensor], dict[str, Tensor]]:
        # The anchor layout of this batch, so that assignment visits only overlapping pairs.
        grid_sizes = [tuple(f.shape[-2:]) for f in features.values()]
        self._grid = AnchorGrid.from_generator(self.anchor_generator, tuple(images.tensors.shape[-2:]), grid_sizes)
        try:
            return super().forward(images, features, targets)
        finally:
            self._grid = None

    def assign_targets_to_anchors(self, anchors: list[Tensor], targets: list[dict[str, Tensor]]
                                  ) -> tuple[list[Tensor], list[Tensor]]:
        """Labels and matched boxes per image, in float32 whatever the autocast state (the
        anchors are float32 already, see Float32AnchorGenerator), by the preview's match_anchors."""
        device_type = anchors[0].device.type if anchors else "cpu"
        with torch.autocast(device_type, enabled=False):
            return self._assign_float32([a.float() for a in anchors],
                                        [{**t, "boxes": t["boxes"].float()} for t in targets])

    def _assign_float32(self, anchors: list[Tensor], targets: list[dict[str, Tensor]]
                        ) -> tuple[list[Tensor], list[Tensor]]:
        labels, matched_gt_boxes = [], []
        for anchors_per_image, targets_per_image in zip(anchors, targets):
            gt_boxes = targets_per_image["boxes"]
            if gt_boxes.numel() == 0:  # a background image: every anchor negative, as torchvision does
                device = anchors_per_image.device
                matched_gt_boxes.append(torch.zeros(anchors_per_image.shape, dtype=torch.float32, device=device))
                labels.append(torch.zeros((anchors_per_image.shape[0],), dtype=torch.float32, device=device))
                continue
            result = match_anchors(anchors_per_image, gt_boxes, self.anchor_config, self._grid)
            matched_gt_boxes.append(gt_boxes[result.matched_idxs.clamp(min=0)])
            labels.append(result.labels)
        return labels, matched_gt_boxes


def _per_mode(value: int | dict[str, int] | None, default: dict[str, int]) -> dict[str, int]:
    if value is None:
        return dict(default)
    if isinstance(value, int):
        return {"training": value, "testing": value}
    return dict(value)


def build_rpn(config: AnchorConfig, in_channels: int, head: nn.Module | None = None,
              pre_nms_top_n: int | dict[str, int] | None = None,
              post_nms_top_n: int | dict[str, int] | None = None,
              nms_thresh: float = 0.7, score_thresh: float = 0.0) -> MasklabRPN:
    """The RPN for `config` on features of `in_channels` channels; without `head`, torchvision's
    RPNHead (one 3x3 conv, shared by all levels, so every level needs the same anchor count)."""
    if head is None:
        counts = set(config.num_anchors_per_location)
        if len(counts) != 1:
            raise ValueError(f"a shared RPN head needs the same number of anchors on every level, got "
                             f"{config.num_anchors_per_location}; pass a head of your own")
        head = RPNHead(in_channels, counts.pop())
    return MasklabRPN(build_anchor_generator(config), head, config,
                      _per_mode(pre_nms_top_n, DEFAULT_PRE_NMS_TOP_N),
                      _per_mode(post_nms_top_n, DEFAULT_POST_NMS_TOP_N), nms_thresh, score_thresh)
