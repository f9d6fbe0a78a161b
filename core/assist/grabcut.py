"""Box (and clicks) to mask without a model: OpenCV's GrabCut, with a prior for whole objects.

GrabCut runs on a crop of the box with a margin of background around it, shrunk so that its
longer side is at most `max_side` pixels (the cost grows with the pixel count: a 12-megapixel
photo costs what a small one does), then the mask is scaled back with bilinear smoothing, so
the outline does not show the coarse grid. Clicks are sure foreground / background seeds; a
positive click outside the box grows the box. Deterministic: OpenCV's random seed is fixed.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from . import AssistError, Box, Point
from .masks import CropMask, clip_box, grow_box, keep_clicked_parts

DEFAULT_MAX_SIDE = 320
# Measured on the shared sets from ground-truth boxes (tests/bench/bench_assist.py): GrabCut from a
# tight box alone shrinks onto the part of the object least like its surroundings (mean IoU
# under the filled box's). One iteration, an ellipse of 0.7 x the box's axes in its middle as sure
# object, a wide margin of background and the convex hull of the result (whole objects: cars,
# wheels, mirrors, signs) put it above the box on every set.
DEFAULT_ITERATIONS = 1
CONTEXT_MARGIN = 0.3  # background around the box, as a share of its longer side: GrabCut's colour model needs it
CORE_SEED = 0.7  # sure object: the ellipse of this share of the box's half-axes around its centre (no prior given)
SEED_RADIUS = 0.025  # click seeds: a disk of this share of the crop's shorter side (at least 2 px)


def _crop_region(box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    m = max(8, int(round(CONTEXT_MARGIN * max(x2 - x1, y2 - y1))))
    return max(0, x1 - m), max(0, y1 - m), min(width, x2 + m), min(height, y2 + m)


def _seed(mask: np.ndarray, points: Sequence[Point], origin: tuple[int, int], scale: float, radius: int,
          value: int) -> None:
    import cv2

    for x, y in points:
        c = (int(round((x - origin[0]) * scale)), int(round((y - origin[1]) * scale)))
        cv2.circle(mask, c, radius, int(value), thickness=-1)


def grabcut_mask(image: np.ndarray, box: Box, positive: Sequence[Point] = (), negative: Sequence[Point] = (),
                 prior: CropMask | None = None, max_side: int = DEFAULT_MAX_SIDE,
                 iterations: int = DEFAULT_ITERATIONS, core_seed: float = CORE_SEED, convex: bool = True) -> CropMask:
    """The object in `box` of an RGB uint8 (H, W, 3) photo as a CropMask.

    positive / negative: clicks (photo pixels) that are surely object / background. prior: a
    first guess of the object (the model's mask) that replaces "everything in the box" as the
    probable foreground and the middle ellipse as sure object. convex: the convex hull of the
    result (not after negative clicks, which cut concavities)."""
    import cv2

    height, width = image.shape[:2]
    bw, bh = abs(box[2] - box[0]), abs(box[3] - box[1])
    box = grow_box(box, [p for p in positive if not _inside(p, box)], margin=max(4.0, 0.05 * max(bw, bh)))
    bx1, by1, bx2, by2 = clip_box(box, width, height)
    x0, y0, x1, y1 = _crop_region((bx1, by1, bx2, by2), width, height)
    cw, ch = x1 - x0, y1 - y0
    scale = min(1.0, max_side / max(cw, ch))
    sw, sh = max(1, int(round(cw * scale))), max(1, int(round(ch * scale)))
    crop = np.ascontiguousarray(image[y0:y1, x0:x1, :3])
    small = crop if scale == 1.0 else cv2.resize(crop, (sw, sh), interpolation=cv2.INTER_AREA)

    init = np.full((sh, sw), cv2.GC_BGD, dtype=np.uint8)
    sx1, sy1 = int(np.floor((bx1 - x0) * scale)), int(np.floor((by1 - y0) * scale))
    sx2 = min(sw, max(sx1 + 1, int(np.ceil((bx2 - x0) * scale))))
    sy2 = min(sh, max(sy1 + 1, int(np.ceil((by2 - y0) * scale))))
    if prior is None:
        init[sy1:sy2, sx1:sx2] = cv2.GC_PR_FGD
    else:
        guess = CropMask(prior.mask, prior.x0 - x0, prior.y0 - y0).full(ch, cw).astype(np.float32)
        guess = guess if scale == 1.0 else cv2.resize(guess, (sw, sh), interpolation=cv2.INTER_AREA)
        inside = init[sy1:sy2, sx1:sx2]
        inside[:] = np.where(guess[sy1:sy2, sx1:sx2] >= 0.5, cv2.GC_PR_FGD, cv2.GC_PR_BGD)
    if not np.isin(init, (cv2.GC_BGD, cv2.GC_PR_BGD)).any():  # the box is the whole photo
        init[[0, -1], :] = cv2.GC_PR_BGD
        init[:, [0, -1]] = cv2.GC_PR_BGD
    if core_seed > 0 and prior is None:
        cv2.ellipse(init, ((sx1 + sx2) // 2, (sy1 + sy2) // 2),
                    (max(1, int(core_seed * (sx2 - sx1) / 2)), max(1, int(core_seed * (sy2 - sy1) / 2))),
                    0, 0, 360, int(cv2.GC_FGD), thickness=-1)
    radius = max(2, int(round(SEED_RADIUS * min(sw, sh))))
    _seed(init, negative, (x0, y0), scale, radius, cv2.GC_BGD)
    _seed(init, positive, (x0, y0), scale, radius, cv2.GC_FGD)
    notes: list[str] = []
    if not np.isin(init, (cv2.GC_FGD, cv2.GC_PR_FGD)).any():
        raise AssistError(None, "the clicks leave nothing of the box as object")

    cv2.setRNGSeed(0)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(np.ascontiguousarray(small[:, :, ::-1]), init, None, bgd, fgd, int(iterations),
                    cv2.GC_INIT_WITH_MASK)
    except cv2.error as e:
        raise AssistError(None, f"GrabCut failed on the {cw}x{ch} crop ({str(e).strip().splitlines()[-1]})") from e
    fg = np.zeros_like(init, dtype=bool)
    fg[sy1:sy2, sx1:sx2] = np.isin(init[sy1:sy2, sx1:sx2], (cv2.GC_FGD, cv2.GC_PR_FGD))
    if not fg.any():
        notes.append("GrabCut found no object in the box; the filled box is used")
        fg[sy1:sy2, sx1:sx2] = True
    fg = keep_clicked_parts(fg, [((x - x0) * scale, (y - y0) * scale) for x, y in positive])
    bw, bh = bx2 - bx1, by2 - by1
    if convex and not negative:  # a negative click cuts a concavity the hull would fill again
        ys, xs = np.nonzero(fg)
        corners = np.concatenate([np.stack([xs + dx, ys + dy], axis=1) for dx in (0, 1) for dy in (0, 1)])
        hull = cv2.convexHull(corners.astype(np.float32))[:, 0, :] / scale - (bx1 - x0, by1 - y0)
        out = np.zeros((bh, bw), np.uint8)
        cv2.fillConvexPoly(out, np.round(hull).astype(np.int32), 1)
        return CropMask(out.astype(bool), bx1, by1, notes)
    full = fg.astype(np.uint8) * 255
    if scale != 1.0:  # bilinear upscaling of the 0/1 mask then half: smooth edges, not blocks
        full = cv2.resize(full, (cw, ch), interpolation=cv2.INTER_LINEAR)
    gx1, gy1 = bx1 - x0, by1 - y0
    return CropMask(full[gy1:gy1 + bh, gx1:gx1 + bw] >= 128, bx1, by1, notes)


def _inside(p: Point, box: Box) -> bool:
    x1, x2 = sorted((box[0], box[2]))
    y1, y2 = sorted((box[1], box[3]))
    return x1 <= p[0] <= x2 and y1 <= p[1] <= y2
