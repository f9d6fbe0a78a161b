"""The training box of an object, the one definition that the dataset, the anchor preview, the
statistics and the evaluation share.

An instance's box is the exact bounding box of the union of its parts' outlines (polygon vertices,
rectangle corners, circle outline, a mask shape's box), clipped to the image frame it was drawn
in. It is scaled to a model frame by `scale_boxes`, in float64 and then rounded once to float32,
the precision the model receives. The rasterised mask stays a separate target: its box would be
off by up to a pixel (the pixel grid), and at a 256 px model input one pixel flips anchors near
the 0.7 and 0.3 IoU thresholds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.annotation import Annotation, Shape

MIN_BOX_SIDE = 1.0  # model-frame pixels: thinner objects are dropped from training (and the preview)


def instance_box(parts: Sequence[Shape], frame_size: tuple[int, int] | None = None
                 ) -> tuple[float, float, float, float] | None:
    """(x1, y1, x2, y2) of the union of the parts' outlines, clipped to `frame_size` (w, h) when
    it is known (positive); None when the box has no area or is not finite."""
    part_boxes = np.array([p.bbox() for p in parts if len(p.points)], dtype=np.float64).reshape(-1, 4)
    if len(part_boxes) == 0:
        return None
    x1, y1 = part_boxes[:, 0].min(), part_boxes[:, 1].min()
    x2, y2 = part_boxes[:, 2].max(), part_boxes[:, 3].max()
    if frame_size is not None and frame_size[0] > 0 and frame_size[1] > 0:
        w, h = float(frame_size[0]), float(frame_size[1])
        x1, x2 = min(max(x1, 0.0), w), min(max(x2, 0.0), w)
        y1, y2 = min(max(y1, 0.0), h), min(max(y2, 0.0), h)
    box = (float(x1), float(y1), float(x2), float(y2))
    if not np.isfinite(box).all() or not (box[2] > box[0] and box[3] > box[1]):
        return None
    return box


def scale_boxes(boxes: np.ndarray, from_size: tuple[int, int], to_hw: tuple[int, int]) -> np.ndarray:
    """Boxes (N, 4) drawn on a frame of `from_size` (w, h), in the pixels of a frame of `to_hw`
    (h, w): float32, as the model gets them."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    sx = to_hw[1] / max(1, int(from_size[0]))
    sy = to_hw[0] / max(1, int(from_size[1]))
    return (boxes * np.array([sx, sy, sx, sy])).astype(np.float32)


def usable_boxes(boxes: np.ndarray) -> np.ndarray:
    """Which model-frame boxes training keeps: at least MIN_BOX_SIDE wide and high."""
    boxes = np.asarray(boxes).reshape(-1, 4)
    return ((boxes[:, 2] - boxes[:, 0]) >= MIN_BOX_SIDE) & ((boxes[:, 3] - boxes[:, 1]) >= MIN_BOX_SIDE)


@dataclass
class ObjectBoxes:
    """(G, 4) float64 boxes x1 y1 x2 y2 in the annotation's pixels and the label of each;
    instances whose box has no area (a degenerate outline, or outside the image) are left out
    and counted in `skipped`."""

    boxes: np.ndarray
    labels: list[str]
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.labels)


def annotation_boxes(annotation: Annotation, label: str | None = None) -> ObjectBoxes:
    """Boxes of the annotation's instances (only those of `label` when given), by `instance_box`."""
    frame = (int(annotation.image_width), int(annotation.image_height))
    boxes, labels, skipped = [], [], 0
    for name, parts in annotation.instances():
        if label is not None and name != label:
            continue
        box = instance_box(parts, frame)
        if box is None:
            skipped += 1
            continue
        boxes.append(box)
        labels.append(name)
    return ObjectBoxes(np.array(boxes, dtype=np.float64).reshape(-1, 4), labels, skipped)
