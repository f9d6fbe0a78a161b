"""The result of both methods: a mask of a crop of the photo, and its polygons."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.geometry import mask_to_polygons

from . import AssistError, Box, Point


@dataclass
class CropMask:
    """A mask of the pixels [x0, x0 + w) x [y0, y0 + h) of a photo (w, h = mask's shape):
    full-photo masks of a 12-megapixel photo would cost more than the segmentation."""

    mask: np.ndarray  # bool (h, w)
    x0: int
    y0: int
    notes: list[str] = field(default_factory=list)

    def full(self, height: int, width: int) -> np.ndarray:
        """The mask on a (height, width) canvas whose origin is the photo's (the part of the
        crop outside the canvas is cut off)."""
        out = np.zeros((height, width), dtype=bool)
        h, w = self.mask.shape
        cx0, cy0 = max(0, self.x0), max(0, self.y0)
        cx1, cy1 = min(width, self.x0 + w), min(height, self.y0 + h)
        if cx1 > cx0 and cy1 > cy0:
            out[cy0:cy1, cx0:cx1] = self.mask[cy0 - self.y0:cy1 - self.y0, cx0 - self.x0:cx1 - self.x0]
        return out

    def polygons(self, tolerance: float) -> list[np.ndarray]:
        """Outlines in photo coordinates (largest first), simplified at `tolerance` pixels."""
        return [p + (self.x0, self.y0) for p in mask_to_polygons(self.mask, tolerance=tolerance)]


def clip_box(box: Box, width: int, height: int, where: str | None = None) -> tuple[int, int, int, int]:
    """The box as whole pixels inside the photo (x2, y2 exclusive); AssistError when it is
    empty there or not finite."""
    if len(box) != 4 or not all(np.isfinite(v) for v in box):
        raise AssistError(where, f"the box {box} is not four finite numbers")
    x1, x2 = sorted((float(box[0]), float(box[2])))
    y1, y2 = sorted((float(box[1]), float(box[3])))
    cx1, cy1 = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
    cx2, cy2 = min(width, int(np.ceil(x2))), min(height, int(np.ceil(y2)))
    if cx2 - cx1 < 2 or cy2 - cy1 < 2:
        raise AssistError(where, f"the box {tuple(round(v, 1) for v in box)} covers less than 2x2 pixels "
                                 f"of the {width}x{height} photo")
    return cx1, cy1, cx2, cy2


def grow_box(box: Box, points: list[Point], margin: float) -> Box:
    """The box grown to hold every point with `margin` pixels around it."""
    x1, y1, x2, y2 = box
    for x, y in points:
        x1, y1 = min(x1, x - margin), min(y1, y - margin)
        x2, y2 = max(x2, x + margin), max(y2, y + margin)
    return (x1, y1, x2, y2)


def keep_clicked_parts(mask: np.ndarray, positive: list[Point], origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """The mask's largest connected part plus every part a positive click lies in: stray blobs
    that a segmenter leaves around an object are dropped, parts the user pointed at are kept."""
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    keep = {1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))}
    h, w = mask.shape
    for x, y in positive:
        c, r = int(x) - origin[0], int(y) - origin[1]
        if 0 <= r < h and 0 <= c < w and labels[r, c] > 0:
            keep.add(int(labels[r, c]))
    return np.isin(labels, list(keep))
