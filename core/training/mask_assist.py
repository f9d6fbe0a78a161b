"""Box (and clicks) to mask with the project's own Mask R-CNN.

The user's box is given to the model as the one proposal: the backbone and FPN features of the
photo (computed once per image and cached), RoIAlign on the box, the mask head, and the mask
predictor's channel for the chosen label, pasted into the photo at full resolution.

Clicks. The mask head sees nothing but the box, so clicks act in two ways:
* a positive click outside the box means the box was too small: it grows to hold the click and
  the head runs again;
* then GrabCut refines the model's mask with every click as a sure seed (the model's mask is
  its probable object, core.assist.grabcut): a click moves the outline along the photo's own
  edges, so one negative click on a background patch removes the whole patch that looks like
  it, not a disk around the click, and a positive click on a missed part adds the part.
The model is loaded through the training code's own checkpoint loader.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from core.assist import AssistError, Box, Point
from core.assist.masks import CropMask, clip_box, grow_box, keep_clicked_parts

FEATURE_CACHE_IMAGES = 3


@dataclass
class ImageFeatures:
    features: "OrderedDict[str, torch.Tensor]"
    image_sizes: list[tuple[int, int]]  # the model-input size (h, w), as the RoI heads want it
    scale_xy: tuple[float, float]  # model-input pixels per photo pixel
    size: tuple[int, int]  # the photo's (height, width), EXIF-oriented
    rgb: np.ndarray | None = None  # the photo, decoded when a click first needs it


class ModelAssistant:
    """A checkpoint's Mask R-CNN used as a box-to-mask tool. Not thread-safe: one thread uses it."""

    def __init__(self, checkpoint: str | Path, device: str = "cpu"):
        from core.models.specs import model_spec
        from core.training.checkpoint import load_checkpoint, model_from_checkpoint

        self.checkpoint = Path(checkpoint)
        state = load_checkpoint(self.checkpoint, map_location="cpu")
        name = state.get("model_name")
        try:
            kind = model_spec(name).kind
        except (KeyError, ValueError) as e:
            raise AssistError(self.checkpoint, f"unknown model {name!r} in the checkpoint") from e
        if kind != "mask":
            raise AssistError(self.checkpoint, f"{name} predicts boxes only, it has no mask head: "
                                               "choose a Mask R-CNN run or GrabCut")
        self.model_name = name
        self.label_names: list[str] = list(state["label_names"])
        self.min_size, self.max_size = int(state["min_size"]), int(state["max_size"])
        self.device = torch.device(device)
        self.model = model_from_checkpoint(state, self.device, self.checkpoint)
        self._cache: OrderedDict[str, ImageFeatures] = OrderedDict()

    # -- features, once per image ----------------------------------------------------------
    def features(self, path: str | Path) -> ImageFeatures:
        key = str(Path(path).resolve())
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        from core.training.dataset import prepare_image

        tensor, _, size = prepare_image(path, self.min_size, self.max_size)
        with torch.inference_mode():
            images, _ = self.model.transform([tensor.to(self.device).float().div_(255)])
            features = self.model.backbone(images.tensors)
        h, w = images.image_sizes[0]
        entry = ImageFeatures(features, list(images.image_sizes), (w / size[1], h / size[0]), size)
        self._cache[key] = entry
        while len(self._cache) > FEATURE_CACHE_IMAGES:
            self._cache.popitem(last=False)
        return entry

    def image_size(self, path: str | Path) -> tuple[int, int]:
        return self.features(path).size

    def clear_cache(self) -> None:
        self._cache.clear()

    # -- one box ---------------------------------------------------------------------------
    def _class_index(self, f: ImageFeatures, box_t: torch.Tensor, label: str | None, notes: list[str]) -> int:
        if label in self.label_names:
            return self.label_names.index(label) + 1
        heads = self.model.roi_heads
        pooled = heads.box_head(heads.box_roi_pool(f.features, [box_t], f.image_sizes))
        class_logits, _ = heads.box_predictor(pooled)
        k = int(torch.argmax(class_logits[0, 1:])) + 1
        if label is not None:
            notes.append(f"the model does not know the label {label!r} (it knows {', '.join(self.label_names)}); "
                         f"it used the mask of what it sees in the box, {self.label_names[k - 1]!r}")
        return k

    def head_mask(self, path: str | Path, box: Box, label: str | None = None) -> CropMask:
        """The mask head's answer for `box` (photo pixels), thresholded at 0.5, at full resolution."""
        from torchvision.models.detection.roi_heads import paste_masks_in_image

        f = self.features(path)
        height, width = f.size
        x1, y1, x2, y2 = clip_box(box, width, height)
        sx, sy = f.scale_xy
        notes: list[str] = []
        with torch.inference_mode():
            box_t = torch.tensor([[x1 * sx, y1 * sy, x2 * sx, y2 * sy]], dtype=torch.float32, device=self.device)
            k = self._class_index(f, box_t, label, notes)
            heads = self.model.roi_heads
            logits = heads.mask_predictor(heads.mask_head(heads.mask_roi_pool(f.features, [box_t], f.image_sizes)))
            probs = logits[:, k:k + 1].sigmoid().float().cpu()
            # paste_masks_in_image counts box edges inclusively: x2 - 1 is the last pixel
            rel = torch.tensor([[0.0, 0.0, x2 - x1 - 1.0, y2 - y1 - 1.0]])
            pasted = paste_masks_in_image(probs, rel, (y2 - y1, x2 - x1), padding=1)[0, 0]
        mask = pasted.numpy() >= 0.5
        if not mask.any():
            notes.append("the model sees no object in the box; the filled box is used")
            mask[:] = True
        return CropMask(keep_clicked_parts(mask, []), x1, y1, notes)

    def segment(self, path: str | Path, box: Box, label: str | None = None, positive: Sequence[Point] = (),
                negative: Sequence[Point] = ()) -> CropMask:
        """The object in `box`, refined by clicks (see the module docstring)."""
        f = self.features(path)
        positive, negative = list(positive), list(negative)
        outside = [p for p in positive if not (min(box[0], box[2]) <= p[0] <= max(box[0], box[2])
                                               and min(box[1], box[3]) <= p[1] <= max(box[1], box[3]))]
        if outside:
            box = grow_box(box, outside, margin=max(4.0, 0.05 * max(abs(box[2] - box[0]), abs(box[3] - box[1]))))
        first = self.head_mask(path, box, label)
        if not positive and not negative:
            return first
        from core.images import load_rgb_array

        from core.assist.grabcut import grabcut_mask

        if f.rgb is None:
            f.rgb = load_rgb_array(path)
        refined = grabcut_mask(f.rgb, box, positive, negative, prior=first, convex=False)
        refined.notes = first.notes + refined.notes
        return refined

