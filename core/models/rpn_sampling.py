"""The RPN's mini-batch samplers by name: torchvision's "at most half positive" and the textbook
"balanced" one (exactly as many negatives as positives per image)."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler

from core.anchors.config import RPN_SAMPLINGS


class EqualPositiveNegativeSampler(BalancedPositiveNegativeSampler):
    """Per image: n = min(positives, negatives, batch_size_per_image / 2) positives and exactly n
    negatives, drawn at random. An image without positive anchors (a background photo) gets
    torchvision's choice instead (batch_size_per_image negatives), so that it still teaches
    the classifier what is not an object."""

    def __call__(self, matched_idxs: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        pos_masks, neg_masks = [], []
        for labels in matched_idxs:
            positive = torch.where(labels >= 1)[0]
            negative = torch.where(labels == 0)[0]
            if positive.numel() == 0:
                num_pos, num_neg = 0, min(negative.numel(), self.batch_size_per_image)
            else:
                num_pos = num_neg = min(positive.numel(), negative.numel(), self.batch_size_per_image // 2)
            pos = positive[torch.randperm(positive.numel(), device=positive.device)[:num_pos]]
            neg = negative[torch.randperm(negative.numel(), device=negative.device)[:num_neg]]
            pos_mask = torch.zeros_like(labels, dtype=torch.uint8)
            neg_mask = torch.zeros_like(labels, dtype=torch.uint8)
            pos_mask[pos] = 1
            neg_mask[neg] = 1
            pos_masks.append(pos_mask)
            neg_masks.append(neg_mask)
        return pos_masks, neg_masks


def set_rpn_sampling(model: nn.Module, sampling: str) -> None:
    """Give the model's RPN (model.rpn, any Masklab model) the sampler named `sampling`."""
    if sampling not in RPN_SAMPLINGS:
        raise ValueError(f"rpn sampling must be one of {', '.join(RPN_SAMPLINGS)}, not {sampling!r}")
    rpn = getattr(model, "rpn", None)
    if rpn is None or not hasattr(rpn, "fg_bg_sampler"):
        raise ValueError(f"{type(model).__name__} has no region proposal network to sample for")
    current = rpn.fg_bg_sampler
    rpn.fg_bg_sampler = make_sampler(sampling, current.batch_size_per_image, current.positive_fraction)


def make_sampler(sampling: str, batch_size_per_image: int, positive_fraction: float) -> BalancedPositiveNegativeSampler:
    """The sampler named `sampling` (one of RPN_SAMPLINGS), for training and for the preview."""
    if sampling not in RPN_SAMPLINGS:
        raise ValueError(f"rpn sampling must be one of {', '.join(RPN_SAMPLINGS)}, not {sampling!r}")
    kind = EqualPositiveNegativeSampler if sampling == "balanced" else BalancedPositiveNegativeSampler
    return kind(batch_size_per_image, positive_fraction)
