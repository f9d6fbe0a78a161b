"""Training augmentations with torchvision.transforms.v2: the masks and the training boxes move
with the image (boxes as tv_tensors.BoundingBoxes: a flip is exact, a zoom maps the corners and
clamps to the canvas; dataset.make_target drops what became thinner than a pixel)."""
from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2


class TrainAugment:
    """Horizontal flip, scale jitter (zoom in or out about the centre, keeping the canvas so the
    model's own resize does not undo it) and photometric jitter (image only)."""

    def __init__(self, flip: float = 0.5, scale_range: tuple[float, float] = (0.75, 1.25),
                 scale_prob: float = 0.5, photometric: bool = True):
        steps: list[v2.Transform] = []
        if flip > 0:
            steps.append(v2.RandomHorizontalFlip(p=flip))
        if scale_prob > 0 and scale_range != (1.0, 1.0):
            steps.append(v2.RandomApply([v2.RandomAffine(degrees=0, scale=scale_range)], p=scale_prob))
        if photometric:
            steps.append(v2.RandomApply([v2.ColorJitter(0.25, 0.25, 0.25, 0.02)], p=0.8))
        self.pipeline = v2.Compose(steps)

    def __call__(self, image: torch.Tensor, masks: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        box_tv = tv_tensors.BoundingBoxes(boxes.reshape(-1, 4), format="XYXY", canvas_size=tuple(image.shape[-2:]))
        img, msk, bxs = self.pipeline(tv_tensors.Image(image), tv_tensors.Mask(masks), box_tv)
        return (img.as_subclass(torch.Tensor), msk.as_subclass(torch.Tensor), bxs.as_subclass(torch.Tensor),
                labels)


def flip_only() -> TrainAugment:
    """For overfitting checks: geometry-preserving apart from mirroring."""
    return TrainAugment(flip=0.5, scale_prob=0.0, photometric=False)
