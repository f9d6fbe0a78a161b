"""The anchor preview: the RPN's target assignment for one photo, computed exactly as training
computes it (torchvision's resize and padding, AnchorGenerator, `match_anchors`, the balanced
sampler and BoxCoder), then mapped back to the photo's pixels for display."""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchvision.models.detection.transform import resize_boxes

from .assign import (IGNORE, NEGATIVE, POSITIVE, AnchorGrid, MatchResult, build_box_coder, build_sampler,
                     generate_anchors, match_anchors)
from .boxes import scale_boxes, usable_boxes
from .config import AnchorConfig
from .frames import training_frame_hw

SIZE_DIVISIBLE = 32  # GeneralizedRCNNTransform's default padding multiple
FPN_FIRST_STRIDE = 4


@dataclass
class InputGeometry:
    """Where a photo of `photo_size` (w, h) lands in the model input, in the two steps training
    takes: the dataset resizes it once to `frame_hw` (h, w; core.training.dataset caches images at
    this size), then the model's GeneralizedRCNNTransform resizes that frame to `resized_hw` and
    pads it bottom-right to `padded_hw`."""

    photo_size: tuple[int, int]
    frame_hw: tuple[int, int]
    resized_hw: tuple[int, int]
    padded_hw: tuple[int, int]

    def photo_to_input(self, boxes: np.ndarray | Tensor, drawn_on: tuple[int, int] | None = None) -> Tensor:
        """Boxes drawn on a frame of `drawn_on` (w, h; default the photo) in model-input pixels,
        bit for bit as training computes them: the dataset's `scale_boxes` to the frame, then
        the transform's `resize_boxes`."""
        in_frame = scale_boxes(np.asarray(boxes), drawn_on or self.photo_size, self.frame_hw)
        return resize_boxes(torch.from_numpy(in_frame), list(self.frame_hw), list(self.resized_hw))

    def input_to_photo(self, boxes: Tensor) -> Tensor:
        """torchvision's postprocess mapping, from the model input back to the photo (display)."""
        w, h = self.photo_size
        return resize_boxes(boxes.float(), list(self.resized_hw), [h, w])


def transform_geometry(image_hw: tuple[int, int], min_size: int, max_size: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """(resized_hw, padded_hw) of GeneralizedRCNNTransform for an image of `image_hw`, in its own
    arithmetic: scale = min(min_size / shorter side, max_size / longer side) in Python floats,
    each side int(side * scale) as F.interpolate(recompute_scale_factor=True) truncates, then
    padded up to a multiple of 32 as batch_images does. (Running the transform itself on a
    'meta' image gives the same sizes, as the tests check, but costs about 40 ms.)"""
    h, w = int(image_hw[0]), int(image_hw[1])
    scale = min(float(min_size) / min(h, w), float(max_size) / max(h, w))
    rh, rw = int(h * scale), int(w * scale)
    if rh < 1 or rw < 1:
        raise ValueError(f"a {w}x{h} image becomes {rw}x{rh} at input size {min_size}/{max_size}")
    ph, pw = (int(math.ceil(float(x) / SIZE_DIVISIBLE) * SIZE_DIVISIBLE) for x in (rh, rw))
    return (rh, rw), (ph, pw)


def model_input_geometry(photo_size: tuple[int, int], config: AnchorConfig, prepared: bool = False) -> InputGeometry:
    """The training geometry of a photo of `photo_size` (w, h) for the input size of `config`;
    `prepared`: the image is the dataset's frame already (its size is the frame)."""
    w, h = int(photo_size[0]), int(photo_size[1])
    if w <= 0 or h <= 0:
        raise ValueError(f"image size must be positive, got {w}x{h}")
    frame = (h, w) if prepared else training_frame_hw(h, w, config.min_size, config.max_size)
    resized, padded = transform_geometry(frame, config.min_size, config.max_size)
    return InputGeometry((w, h), frame, resized, padded)


def feature_map_sizes(padded_hw: tuple[int, int], config: AnchorConfig) -> list[tuple[int, int]]:
    """Feature-map sizes of the backbone: an FPN (ResNet body + LastLevelMaxPool) halves from
    stride 4 with ceil rounding, level by level; a single-level backbone of stride s gives
    ceil(H / s). The padded input is a multiple of 32, so the FPN levels up to stride 32 are exact."""
    h, w = padded_hw
    if config.strides is not None:
        return [(math.ceil(h / s), math.ceil(w / s)) for s in config.strides]
    sizes = []
    fh, fw = math.ceil(h / FPN_FIRST_STRIDE), math.ceil(w / FPN_FIRST_STRIDE)
    for _ in config.sizes:
        sizes.append((fh, fw))
        fh, fw = math.ceil(fh / 2), math.ceil(fw / 2)
    return sizes


@dataclass
class AnchorPreview:
    """Per anchor (A rows): box in model-input and photo pixels, level, size, ratio, label
    (1 positive, 0 negative, -1 ignore), matched_idxs (Matcher's code: object, -1, -2), best
    object and IoU (exact from bg_iou_thresh up; see match_anchors), low-quality rescue, in the
    sampled mini-batch; regression targets and their decoding for positive anchors (zeros
    elsewhere)."""

    config: AnchorConfig
    geometry: InputGeometry
    grid: AnchorGrid
    gt_boxes_photo: np.ndarray
    gt_boxes_input: np.ndarray
    anchors_input: np.ndarray
    anchors_photo: np.ndarray
    level: np.ndarray
    size: np.ndarray
    ratio: np.ndarray
    labels: np.ndarray
    matched_idxs: np.ndarray
    best_object: np.ndarray
    iou: np.ndarray
    low_quality: np.ndarray
    sampled: np.ndarray
    regression_targets: np.ndarray
    decoded_boxes: np.ndarray
    best_iou_per_object: np.ndarray
    object_ids: np.ndarray  # per previewed object, its index among the boxes given (thinner ones are dropped)
    model: str | None = None  # the model whose training this shows, when known

    boxes_given: int = 0

    @property
    def num_objects(self) -> int:
        return len(self.gt_boxes_input)

    def describe_input(self) -> str:
        """Which model's training this shows and at what input size, in one line."""
        g = self.geometry
        return (f"{self.model or 'custom anchors'} at input {self.config.min_size}/{self.config.max_size}: "
                f"photo {g.photo_size[0]}x{g.photo_size[1]} -> model input {g.resized_hw[1]}x{g.resized_hw[0]} "
                f"(padded {g.padded_hw[1]}x{g.padded_hw[0]})")

    @staticmethod
    def _label_counts(labels: np.ndarray) -> dict[str, int]:
        return {"positive": int((labels == POSITIVE).sum()), "negative": int((labels == NEGATIVE).sum()),
                "ignore": int((labels == IGNORE).sum())}

    def counts(self) -> dict[str, int]:
        return self._label_counts(self.labels)

    def counts_per_level(self) -> list[dict[str, Any]]:
        result = []
        for lvl, (stride, sizes) in enumerate(zip(self.grid.strides, self.config.sizes)):
            c = self._label_counts(self.labels[self.level == lvl])
            result.append({"level": lvl, "stride": list(stride), "grid": list(self.grid.grid_sizes[lvl]),
                           "sizes": list(sizes), "anchors": int((self.level == lvl).sum()), **c})
        return result

    def counts_per_object(self) -> list[dict[str, Any]]:
        result = []
        for obj in range(self.num_objects):
            positive = self.matched_idxs == obj
            result.append({"object": obj, "positive": int(positive.sum()),
                           "low_quality": int((positive & self.low_quality).sum()),
                           "ignore": int(((self.best_object == obj) & (self.labels == IGNORE)).sum()),
                           "best_iou": round(float(self.best_iou_per_object[obj]), 6)})
        return result

    def sampled_counts(self) -> dict[str, int]:
        return {"positive": int((self.sampled & (self.labels == POSITIVE)).sum()),
                "negative": int((self.sampled & (self.labels == NEGATIVE)).sum())}

    def rescued_objects(self) -> list[int]:
        """Objects whose positive anchors all come from the low-quality rule (no anchor reaches
        the foreground threshold)."""
        return [c["object"] for c in self.counts_per_object() if c["positive"] > 0 and c["positive"] == c["low_quality"]]

    def objects_without_positive(self) -> list[int]:
        return [c["object"] for c in self.counts_per_object() if c["positive"] == 0]

    def to_json_dict(self) -> dict[str, Any]:
        g = self.geometry
        return {
            "model": self.model,
            "min_size": self.config.min_size, "max_size": self.config.max_size,
            "image_size": {"width": g.photo_size[0], "height": g.photo_size[1]},
            "frame_size": {"width": g.frame_hw[1], "height": g.frame_hw[0]},
            "input_size": {"width": g.resized_hw[1], "height": g.resized_hw[0]},
            "padded_input_size": {"width": g.padded_hw[1], "height": g.padded_hw[0]},
            "anchors": int(len(self.labels)),
            "counts": self.counts(),
            "per_level": self.counts_per_level(),
            "per_object": self.counts_per_object(),
            "sampled": self.sampled_counts(),
            "rescued_objects": self.rescued_objects(),
            "objects_without_positive": self.objects_without_positive(),
            "dropped_objects": sorted(set(range(self.boxes_given)) - set(self.object_ids.tolist())),
            "config": self.config.to_dict(),
        }


def _size_and_ratio_tables(config: AnchorConfig) -> tuple[list[list[int]], list[list[float]]]:
    """Size and ratio of each cell anchor, in AnchorGenerator.generate_anchors' order (ratio-major)."""
    sizes, ratios = [], []
    for level_sizes, level_ratios in zip(config.sizes, config.aspect_ratios):
        sizes.append([s for _ in level_ratios for s in level_sizes])
        ratios.append([r for r in level_ratios for _ in level_sizes])
    return sizes, ratios


def sample_anchors(labels: Tensor, config: AnchorConfig, seed: int = 0) -> Tensor:
    """The balanced sampler's mini-batch as a bool mask, reproducible by `seed` without touching
    the global random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        pos, neg = build_sampler(config)([labels])
    return (pos[0] | neg[0]).bool()


@dataclass
class _AnchorLayout:
    """What depends only on the photo size and the anchor settings (cached: the preview follows
    a dragged vertex and must not rebuild 270,000 anchors each time). Arrays are read-only."""

    geometry: InputGeometry
    grid: AnchorGrid
    anchors: Tensor
    anchors_photo: np.ndarray
    level: np.ndarray
    size: np.ndarray
    ratio: np.ndarray


_LAYOUTS: OrderedDict[tuple, _AnchorLayout] = OrderedDict()
_LAYOUT_CACHE_SIZE = 4


def _read_only(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def anchor_layout(image_size: tuple[int, int], config: AnchorConfig,
                  grid_sizes: list[tuple[int, int]] | None = None, prepared: bool = False) -> _AnchorLayout:
    key = (tuple(int(v) for v in image_size), config.sizes, config.aspect_ratios, config.min_size, config.max_size,
           config.strides, tuple(map(tuple, grid_sizes)) if grid_sizes else None, prepared)
    if key in _LAYOUTS:
        _LAYOUTS.move_to_end(key)
        return _LAYOUTS[key]
    geometry = model_input_geometry(image_size, config, prepared)
    anchors, grid = generate_anchors(config, geometry.padded_hw, grid_sizes or feature_map_sizes(geometry.padded_hw, config))
    level = grid.level_of_anchor()
    size_table, ratio_table = _size_and_ratio_tables(config)
    firsts = np.cumsum([0] + [len(t) for t in size_table])[:-1]
    flat_index = (torch.as_tensor(firsts)[level] + grid.cell_index_of_anchor()).numpy()
    layout = _AnchorLayout(
        geometry, grid, anchors, _read_only(geometry.input_to_photo(anchors).numpy()), _read_only(level.numpy()),
        _read_only(np.array([s for t in size_table for s in t], dtype=np.int32)[flat_index]),
        _read_only(np.array([r for t in ratio_table for r in t], dtype=np.float32)[flat_index]))
    _LAYOUTS[key] = layout
    while len(_LAYOUTS) > _LAYOUT_CACHE_SIZE:
        _LAYOUTS.popitem(last=False)
    return layout


def preview_assignment(image_size: tuple[int, int], gt_boxes: np.ndarray, config: AnchorConfig,
                       seed: int = 0, grid_sizes: list[tuple[int, int]] | None = None,
                       drawn_on: tuple[int, int] | None = None, model: str | None = None,
                       prepared: bool = False) -> AnchorPreview:
    """The RPN's targets for a photo of `image_size` (w, h) with `gt_boxes` (G, 4) drawn on a
    frame of `drawn_on` (w, h; default the photo: a sidecar may record another size), boxes
    from core.anchors.boxes as training takes them. `grid_sizes` overrides the feature-map sizes
    for backbones other than a ResNet FPN or a plain stride-s network. The anchor arrays
    (anchors_*, level, size, ratio) are shared between calls with the same photo size and
    settings: read-only. `prepared`: `image_size` is the dataset's frame already (an image that
    core.training.dataset prepared), not a photo to be resized to it."""
    layout = anchor_layout(image_size, config, grid_sizes, prepared)
    geometry, anchors = layout.geometry, layout.anchors
    given = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    drawn_on = drawn_on or geometry.photo_size
    # the dataset drops boxes thinner than a pixel in its frame; so does the preview
    keep = usable_boxes(scale_boxes(given, drawn_on, geometry.frame_hw))
    object_ids = np.flatnonzero(keep)
    gt_input = geometry.photo_to_input(given[keep], drawn_on)
    gt_photo = torch.from_numpy(scale_boxes(given[keep], drawn_on, (geometry.photo_size[1], geometry.photo_size[0])))
    match: MatchResult = match_anchors(anchors, gt_input, config, layout.grid)
    labels = match.labels
    sampled = sample_anchors(labels, config, seed)

    positive = torch.where(labels == POSITIVE)[0]
    targets = torch.zeros_like(anchors)
    decoded = torch.zeros_like(anchors)
    if len(positive):
        coder = build_box_coder()
        matched_boxes = gt_input[match.matched_idxs[positive]]
        targets[positive] = coder.encode_single(matched_boxes, anchors[positive])
        decoded[positive] = coder.decode_single(targets[positive], anchors[positive])

    return AnchorPreview(
        config=config, geometry=geometry, grid=layout.grid,
        gt_boxes_photo=gt_photo.numpy(), gt_boxes_input=gt_input.numpy(),
        anchors_input=_read_only(anchors.numpy()), anchors_photo=layout.anchors_photo,
        level=layout.level, size=layout.size, ratio=layout.ratio,
        labels=labels.to(torch.int8).numpy(), matched_idxs=match.matched_idxs.numpy(),
        best_object=match.best_object.numpy(), iou=match.iou.numpy(), low_quality=match.low_quality.numpy(),
        sampled=sampled.numpy(), regression_targets=targets.numpy(), decoded_boxes=decoded.numpy(),
        best_iou_per_object=match.best_iou_per_object.numpy(), object_ids=object_ids, model=model,
        boxes_given=len(given),
    )
