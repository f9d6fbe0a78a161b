"""Object boxes of an annotation, as the anchor preview and the statistics see them: one box per
instance (core.annotation's grouping), the bounding box of the union of its parts' outlines."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.annotation import Annotation


@dataclass
class ObjectBoxes:
    """(G, 4) float64 boxes x1 y1 x2 y2 in photo pixels and the label of each; instances whose
    box has no area (a degenerate outline) are left out and counted in `skipped`."""

    boxes: np.ndarray
    labels: list[str]
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.labels)


def annotation_boxes(annotation: Annotation, label: str | None = None) -> ObjectBoxes:
    """Boxes of the annotation's instances (only those of `label` when given)."""
    boxes, labels, skipped = [], [], 0
    for name, parts in annotation.instances():
        if label is not None and name != label:
            continue
        part_boxes = np.array([p.bbox() for p in parts if len(p.points)], dtype=np.float64).reshape(-1, 4)
        if len(part_boxes) == 0:
            skipped += 1
            continue
        box = (part_boxes[:, 0].min(), part_boxes[:, 1].min(), part_boxes[:, 2].max(), part_boxes[:, 3].max())
        if not (box[2] > box[0] and box[3] > box[1]) or not np.isfinite(box).all():
            skipped += 1
            continue
        boxes.append(box)
        labels.append(name)
    return ObjectBoxes(np.array(boxes, dtype=np.float64).reshape(-1, 4), labels, skipped)
