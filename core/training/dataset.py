"""A project as a torch Dataset for torchvision's detection models.

Each item is (image, target): the image a float CHW tensor in 0..1, resized once the way the
model's GeneralizedRCNNTransform would (shorter side `min_size`, longer side at most
`max_size`) and cached, so later epochs neither decode JPEGs nor resize; the target holds
`boxes` (each instance's exact outline box, core.anchors.boxes: the boxes the anchor preview
and the statistics show), `labels` (1.. in project label order, 0 is background), `masks`
(uint8 N x H x W), `iscrowd`, `area` and `image_id` (the dataset index). Crowd regions are kept
apart (`crowd_masks`) for evaluation and never trained on. Images whose sidecar has no objects
are negatives. Objects whose box comes out empty or thinner than a pixel are dropped and counted.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF

from core.anchors.boxes import instance_box, scale_boxes, usable_boxes
from core.anchors.frames import resize_scale, training_frame_hw
from core.annotation import Annotation
from core.errors import AnnotationError
from core.geometry import instance_mask
from core.images import load_image

log = logging.getLogger(__name__)


def is_crowd(parts: list) -> bool:
    """COCO's iscrowd, as importers keep it: a shape flag or an extra key on any part."""
    return any(bool(p.flags.get("iscrowd") or p.extra.get("iscrowd")) for p in parts)


@dataclass
class Instances:
    """An image's objects as masks at one size, with what was dropped and why."""

    masks: np.ndarray  # bool N x H x W
    boxes: np.ndarray  # float32 N x 4, the training boxes at H x W (core.anchors.boxes)
    labels: np.ndarray  # int64, 1-based project label index
    crowd: np.ndarray  # bool N
    dropped: dict[str, int] = field(default_factory=dict)


def annotation_instances(ann: Annotation, label_index: dict[str, int], height: int, width: int,
                         where: str = "") -> Instances:
    """Objects of `ann` rasterised at (height, width) of the image frame `ann` describes
    (scaled when the size differs). Unknown labels, undecodable masks and empty objects are
    counted in `dropped`, never raised."""
    sy, sx = height / max(1, ann.image_height), width / max(1, ann.image_width)
    masks, boxes, labels, crowd = [], [], [], []
    dropped: dict[str, int] = {}

    def drop(reason: str) -> None:
        dropped[reason] = dropped.get(reason, 0) + 1

    for label, parts in ann.instances():
        if label not in label_index:
            drop(f"label {label!r} not in the project's labels")
            continue
        outline = instance_box(parts, (ann.image_width, ann.image_height))
        box = None if outline is None else scale_boxes(np.array([outline]), (ann.image_width, ann.image_height),
                                                       (height, width))
        if box is None or not usable_boxes(box)[0]:
            drop("empty or thinner than a pixel at the model input (degenerate polygon or outside the image)")
            continue
        if (sy, sx) != (1.0, 1.0):
            parts = [p.copy() for p in parts]
            for p in parts:
                if p.shape_type == "mask":
                    continue  # rasterised at the annotation's size below
                p.points = p.points * np.array([sx, sy])
        try:
            if any(p.shape_type == "mask" for p in parts) and (sy, sx) != (1.0, 1.0):
                full = instance_mask(parts, ann.image_height, ann.image_width)
                m = F.interpolate(torch.from_numpy(full)[None, None].float(), size=(height, width),
                                  mode="nearest")[0, 0].numpy() > 0.5
            else:
                m = instance_mask(parts, height, width)
        except ValueError as e:
            drop(f"unreadable mask ({e})")
            continue
        masks.append(m)
        boxes.append(box[0])
        labels.append(label_index[label])
        crowd.append(is_crowd(parts))
    if dropped and where:
        log.info("%s: dropped %s", where, dropped)
    arr = np.stack(masks) if masks else np.zeros((0, height, width), dtype=bool)
    return Instances(arr, np.array(boxes, dtype=np.float32).reshape(-1, 4), np.asarray(labels, dtype=np.int64),
                     np.asarray(crowd, dtype=bool), dropped)


def prepare_image(path: str | Path, min_size: int, max_size: int) -> tuple[torch.Tensor, float, tuple[int, int]]:
    """(uint8 CHW image resized as the model would, the scale, the original (height, width))."""
    photo = load_image(path)
    w, h = photo.size
    scale = resize_scale(h, w, min_size, max_size)
    nh, nw = training_frame_hw(h, w, min_size, max_size)
    image = torch.from_numpy(np.asarray(photo).copy()).permute(2, 0, 1)
    if (nh, nw) != (h, w):
        image = TF.resize(image, [nh, nw], antialias=True)
    return image.contiguous(), scale, (h, w)


@dataclass
class _Cached:
    image: torch.Tensor  # uint8 CHW at model scale
    masks: torch.Tensor  # uint8 N H W
    boxes: torch.Tensor  # float32 N 4
    labels: torch.Tensor
    crowd: torch.Tensor
    scale: float
    orig_size: tuple[int, int]


class ProjectDataset(Dataset):
    """Items for torchvision detection models; see the module docstring."""

    def __init__(self, project: Any, images: list[str], label_names: list[str], min_size: int, max_size: int,
                 transforms: Callable | None = None, cache: bool = True, cache_limit_mb: int = 4096):
        self.project = project
        self.images = list(images)
        self.label_names = list(label_names)
        self.label_index = {n: i + 1 for i, n in enumerate(self.label_names)}
        self.min_size, self.max_size = int(min_size), int(max_size)
        self.transforms = transforms
        self.cache_enabled = cache
        self.cache_limit = cache_limit_mb * 2**20
        self._cache: dict[int, _Cached] = {}
        self._cache_bytes = 0
        self.dropped: dict[str, int] = {}
        self._sizes: list[tuple[int, int]] | None = None

    def __len__(self) -> int:
        return len(self.images)

    def annotation(self, index: int) -> Annotation:
        img = self.images[index]
        ann = self.project.load_annotation(img)
        if ann is None:
            raise AnnotationError(self.project.annotation_path(img), "the image has no annotation file")
        return ann

    def image_sizes(self) -> list[tuple[int, int]]:
        """(height, width) of every image from its sidecar (for aspect-ratio grouping)."""
        if self._sizes is None:
            self._sizes = []
            for i in range(len(self)):
                ann = self.annotation(i)
                self._sizes.append((ann.image_height, ann.image_width))
        return self._sizes

    def load(self, index: int) -> _Cached:
        """Decoded, resized image and its instances, from the cache when possible."""
        hit = self._cache.get(index)
        if hit is not None:
            return hit
        name = self.images[index]
        ann = self.annotation(index)
        image, scale, (h, w) = prepare_image(self.project.abs_path(name), self.min_size, self.max_size)
        nh, nw = image.shape[1:]
        if (ann.image_width, ann.image_height) not in ((w, h), (0, 0)):
            log.info("%s: annotation says %dx%d, image is %dx%d; scaling the shapes",
                     name, ann.image_width, ann.image_height, w, h)
        if not ann.image_width or not ann.image_height:
            ann.image_width, ann.image_height = w, h
        inst = annotation_instances(ann, self.label_index, nh, nw, where=name)
        for reason, n in inst.dropped.items():
            self.dropped[reason] = self.dropped.get(reason, 0) + n
        item = _Cached(image, torch.from_numpy(inst.masks.astype(np.uint8)), torch.from_numpy(inst.boxes),
                       torch.from_numpy(inst.labels), torch.from_numpy(inst.crowd), scale, (h, w))
        size = item.image.numel() + item.masks.numel() + item.boxes.numel() * 4
        if self.cache_enabled and self._cache_bytes + size <= self.cache_limit:
            self._cache[index] = item
            self._cache_bytes += size
        return item

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        item = self.load(index)
        keep = ~item.crowd
        image, masks, boxes, labels = item.image, item.masks[keep], item.boxes[keep], item.labels[keep]
        if self.transforms is not None:
            image, masks, boxes, labels = self.transforms(image, masks, boxes, labels)
        return image.float().div_(255), make_target(masks, boxes, labels, index)


def make_target(masks: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, index: int) -> dict[str, torch.Tensor]:
    """The target of one image: `boxes` (N, 4, the training boxes of core.anchors.boxes, moved
    by the augmentation with the image) and the masks beside them; objects whose box became
    thinner than a pixel (pushed out of the canvas by a zoom) are removed."""
    boxes = boxes.to(torch.float32).reshape(-1, 4)
    if len(boxes):
        keep = torch.from_numpy(usable_boxes(boxes.numpy()))
        masks, boxes, labels = masks[keep], boxes[keep], labels[keep]
    return {
        "boxes": boxes,
        "labels": labels.to(torch.int64),
        "masks": masks.to(torch.uint8),
        "area": masks.flatten(1).sum(1).float() if len(masks) else torch.zeros(0),
        "iscrowd": torch.zeros(len(masks), dtype=torch.int64),
        "image_id": torch.tensor(index),
    }


def collate(batch: list) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    images, targets = zip(*batch)
    return list(images), list(targets)
