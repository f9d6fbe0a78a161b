"""Polygon and mask geometry: rasterise, masks to polygons, boxes, validation and repair.

Pixel convention (the one COCO / pycocotools uses): pixel (col i, row j) covers the square
[i, i+1) x [j, j+1), its centre is (i + 0.5, j + 0.5), and a polygon covers a pixel when the
centre lies inside it (even-odd rule). `polygon_to_mask` and `mask_to_polygons` follow it, so a
mask turned into polygons rasterises back to the same pixels.

Pure numpy + shapely + Pillow (Pillow only to encode / decode labelme's PNG masks); no Qt.
"""
from __future__ import annotations

import base64
import io
from typing import Any, Sequence

import numpy as np
import shapely
from PIL import Image
from shapely.geometry import Polygon
from shapely.validation import explain_validity, make_valid

from .annotation import Shape, as_points


def polygon_to_mask(points: np.ndarray, height: int, width: int) -> np.ndarray:
    """Boolean (height, width) mask of the pixels whose centres lie inside the polygon.

    A vectorised scanline fill at pixel centres; agrees with pycocotools' frPyObjects + decode
    except for pixels within one pixel of the outline (pycocotools quantises vertices to 1/5 px).
    """
    mask = np.zeros((max(int(height), 0), max(int(width), 0)), dtype=bool)
    pts = as_points(points)
    if len(pts) < 3 or mask.size == 0 or not np.isfinite(pts).all():
        return mask
    x0, y0 = pts[:, 0], pts[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    # An edge crosses row j when its centre line y = j + 0.5 lies in [min(y0,y1), max(y0,y1)).
    lo_y, hi_y = np.minimum(y0, y1), np.maximum(y0, y1)
    first_row = np.clip(np.ceil(lo_y - 0.5), 0, height).astype(np.int64)
    end_row = np.clip(np.ceil(hi_y - 0.5), 0, height).astype(np.int64)
    counts = end_row - first_row
    keep = counts > 0
    if not keep.any():
        return mask
    counts = counts[keep]
    edge = np.repeat(np.nonzero(keep)[0], counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    rows = np.repeat(first_row[keep], counts) + offsets
    yc = rows + 0.5
    t = (yc - y0[edge]) / (y1[edge] - y0[edge])
    xs = x0[edge] + t * (x1[edge] - x0[edge])
    order = np.lexsort((xs, rows))
    rows, xs = rows[order], xs[order]
    # Even-odd pairs of crossings along each row: a crossing count per row is always even.
    starts, ends, span_rows = xs[0::2], xs[1::2], rows[0::2]
    col_from = np.clip(np.ceil(starts - 0.5), 0, width).astype(np.int64)
    col_to = np.clip(np.ceil(ends - 0.5), 0, width).astype(np.int64)
    valid = col_to > col_from
    if not valid.any():
        return mask
    span_rows, col_from, col_to = span_rows[valid], col_from[valid], col_to[valid]
    # Fill only the polygon's bounding block: +1 where a span starts, -1 after it, cumsum.
    r0, r1 = int(span_rows.min()), int(span_rows.max()) + 1
    c0, c1 = int(col_from.min()), int(col_to.max())
    block_w = c1 - c0 + 1
    # Spans of a row are disjoint, so the running sum is 0 or 1 and int8 is enough (and fast).
    diff = np.zeros((r1 - r0, block_w), dtype=np.int8)
    row_base = (span_rows - r0) * block_w - c0
    np.add.at(diff.reshape(-1), row_base + col_from, 1)
    np.add.at(diff.reshape(-1), row_base + col_to, -1)  # add.at: an end may meet the next start
    mask[r0:r1, c0:c1] = np.cumsum(diff[:, :-1], axis=1, dtype=np.int8) > 0
    return mask


def encode_labelme_mask(mask: np.ndarray) -> tuple[np.ndarray, str]:
    """labelme's `mask` shape for a full-image mask: ([[x1, y1], [x2, y2]] inclusive pixel box of
    the mask, base64 PNG of the crop). An empty mask raises ValueError."""
    mask = np.asarray(mask, dtype=bool)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        raise ValueError("cannot encode an empty mask")
    x1, x2, y1, y2 = int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())
    crop = mask[y1 : y2 + 1, x1 : x2 + 1]
    buf = io.BytesIO()
    Image.fromarray(crop.astype(np.uint8) * 255, mode="L").convert("1").save(buf, format="PNG")
    points = np.array([[x1, y1], [x2, y2]], dtype=np.float64)
    return points, base64.b64encode(buf.getvalue()).decode("ascii")


def decode_labelme_mask(shape: Shape, height: int, width: int) -> np.ndarray:
    """Full-image boolean mask of a labelme `mask` shape (crop PNG placed at its box corner).

    Raises ValueError when the shape carries no mask or the PNG cannot be decoded; a crop that
    runs past the image is clipped."""
    if not shape.mask:
        raise ValueError(f"mask shape {shape.label!r} has no 'mask' data")
    try:
        with Image.open(io.BytesIO(base64.b64decode(shape.mask, validate=False))) as img:
            crop = np.asarray(img.convert("L")) > 0
    except Exception as e:  # binascii / PIL errors all mean "not a base64 PNG"
        raise ValueError(f"mask shape {shape.label!r}: 'mask' is not a base64 image ({e})") from e
    out = np.zeros((height, width), dtype=bool)
    if len(shape.points) == 0:
        return out
    x1, y1 = (int(round(v)) for v in shape.points[0])
    ch, cw = crop.shape
    src_x, src_y = max(0, -x1), max(0, -y1)
    dst_x, dst_y = max(0, x1), max(0, y1)
    w = min(cw - src_x, width - dst_x)
    h = min(ch - src_y, height - dst_y)
    if w > 0 and h > 0:
        out[dst_y : dst_y + h, dst_x : dst_x + w] = crop[src_y : src_y + h, src_x : src_x + w]
    return out


def shape_mask(shape: Shape, height: int, width: int) -> np.ndarray:
    """The pixels one area shape covers (polygon, rectangle, circle or labelme mask)."""
    if shape.shape_type == "mask":
        return decode_labelme_mask(shape, height, width)
    return polygon_to_mask(shape.polygon_points(), height, width)


def instance_mask(parts: Sequence[Shape], height: int, width: int) -> np.ndarray:
    """Union of an instance's parts as a boolean (height, width) mask."""
    out = np.zeros((height, width), dtype=bool)
    for part in parts:
        out |= shape_mask(part, height, width)
    return out


def inclusive_to_edge_box(box: Any) -> Any:  # a sequence, numpy array or torch tensor
    """The pixel-edge box (x1, y1, x2, y2 with exclusive x2 / y2, so x2 - x1 is the width in
    pixels) of a box given by its first and last covered pixels, as labelme's mask boxes and
    torchvision's masks_to_boxes give it: one more on the far side. Takes a 4-sequence (returns a
    tuple of floats), or a (..., 4) numpy array or torch tensor (returns a new one of that kind)."""
    if isinstance(box, (tuple, list)):
        x1, y1, x2, y2 = box
        return (float(x1), float(y1), float(x2) + 1.0, float(y2) + 1.0)
    out = box.clone() if hasattr(box, "clone") else np.array(box, dtype=np.float64)
    out[..., 2:] += 1
    return out


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """(x1, y1, x2, y2) of the set pixels with exclusive x2 / y2: the pixel edges, so a single
    pixel at (3, 5) gives (3, 5, 4, 6). None for an empty mask."""
    mask = np.asarray(mask, dtype=bool)
    cols = np.flatnonzero(mask.any(axis=0))
    if len(cols) == 0:
        return None
    rows = np.flatnonzero(mask.any(axis=1))
    return inclusive_to_edge_box((cols[0], rows[0], cols[-1], rows[-1]))


def mask_area(mask: np.ndarray) -> int:
    return int(np.count_nonzero(mask))


def _row_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, first column, end column exclusive) of every horizontal run of set pixels."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    change = np.diff(padded, axis=1)
    flat = np.flatnonzero(change)  # starts (+1) and ends (-1) alternate along each row
    rows, cols = np.divmod(flat, change.shape[1])
    return rows[0::2], cols[0::2], cols[1::2]


def _stack_polygon(rows: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> Polygon:
    """Outline of runs on consecutive rows, one per row, each overlapping the next: the left
    ends going down, then the right ends coming back up."""
    ys = np.stack([rows, rows + 1], axis=1).ravel()
    left = np.stack([np.repeat(starts, 2), ys], axis=1)
    right = np.stack([np.repeat(ends, 2), ys], axis=1)[::-1]
    return Polygon(np.concatenate([left, right]).astype(np.float64))


def _run_chains(rows: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> list[list[int]]:
    """Runs grouped into vertical chains: a run joins the one below when each is the other's
    only overlapping neighbour, so every chain is one simple polygon."""
    n = len(rows)
    below: list[list[int]] = [[] for _ in range(n)]
    above_count = [0] * n
    row_values, first = np.unique(rows, return_index=True)
    last = np.append(first[1:], n)
    for k in range(len(row_values) - 1):
        if row_values[k + 1] != row_values[k] + 1:
            continue
        i, i_end, j, j_end = int(first[k]), int(last[k]), int(first[k + 1]), int(last[k + 1])
        while i < i_end and j < j_end:  # merge-walk the two sorted rows of runs
            if starts[j] < ends[i] and ends[j] > starts[i]:
                below[i].append(j)
                above_count[j] += 1
            if ends[i] <= ends[j]:
                i += 1
            else:
                j += 1
    next_run = [b[0] if len(b) == 1 and above_count[b[0]] == 1 else -1 for b in below]
    has_previous = set(r for r in next_run if r >= 0)
    chains = []
    for head in range(n):
        if head in has_previous:
            continue
        chain = [head]
        while next_run[chain[-1]] >= 0:
            chain.append(next_run[chain[-1]])
        chains.append(chain)
    return chains


def _mask_geometry(mask: np.ndarray) -> shapely.Geometry:
    """The set pixels as an exact shapely geometry: a polygon per chain of row runs, unioned.
    A blob is a single chain and needs no union at all; unioning one box per run instead is
    about 10x slower on a 1000x1000 ellipse."""
    rows, starts, ends = _row_runs(mask)
    pieces = [_stack_polygon(rows[c], starts[c], ends[c]) for c in map(np.asarray, _run_chains(rows, starts, ends))]
    return pieces[0] if len(pieces) == 1 else shapely.union_all(pieces)


def _corners(ring: np.ndarray) -> np.ndarray:
    """An axis-aligned ring without its collinear vertices, so that it starts at a corner
    (Douglas-Peucker always keeps the first vertex)."""
    prev, nxt = np.roll(ring, 1, axis=0), np.roll(ring, -1, axis=0)
    straight = ((prev[:, 0] == ring[:, 0]) & (ring[:, 0] == nxt[:, 0])) | (
        (prev[:, 1] == ring[:, 1]) & (ring[:, 1] == nxt[:, 1]))
    return ring[~straight]


DEFAULT_POLYGON_TOLERANCE_PX = 1.5


def polygon_tolerance(settings: dict) -> float:
    """The project's simplification tolerance in pixels for polygons made from masks (accepted
    predictions and assisted shapes share it): settings["review"]["polygon_tolerance_px"]."""
    value = (settings.get("review") or {}).get("polygon_tolerance_px", DEFAULT_POLYGON_TOLERANCE_PX)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return DEFAULT_POLYGON_TOLERANCE_PX
    return value if 0 <= value <= 50 else DEFAULT_POLYGON_TOLERANCE_PX


def mask_to_polygons(mask: np.ndarray, tolerance: float = 1.0, min_area: float = 4.0) -> list[np.ndarray]:
    """Outer contours of a mask's connected parts as (N, 2) float arrays, simplified with
    Douglas-Peucker at `tolerance` pixels; parts under `min_area` square pixels are dropped and
    holes are filled (labelme polygons have no holes). Largest part first."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2 or not mask.any():
        return []
    geom = _mask_geometry(mask)
    result: list[tuple[float, np.ndarray]] = []
    for poly in shapely.get_parts(geom):
        if not isinstance(poly, Polygon):
            continue
        outline = Polygon(_corners(np.asarray(poly.exterior.coords)[:-1]))
        if tolerance > 0:
            # plain Douglas-Peucker is fast; the topology-preserving variant only when it crossed
            simplified = outline.simplify(tolerance, preserve_topology=False)
            if simplified.is_empty or not simplified.is_valid:
                simplified = outline.simplify(tolerance, preserve_topology=True)
            outline = simplified
        if outline.is_empty or outline.area < min_area:
            continue
        coords = np.asarray(outline.exterior.coords, dtype=np.float64)[:-1]
        if len(coords) >= 3:
            result.append((outline.area, coords))
    result.sort(key=lambda item: -item[0])
    return [coords for _, coords in result]


def _distinct_points(pts: np.ndarray) -> int:
    return len(np.unique(pts, axis=0)) if len(pts) else 0


def validate_polygon(points: np.ndarray, width: int, height: int) -> list[str]:
    """Problems with a polygon as sentences; an empty list means it is fine."""
    pts = as_points(points)
    problems: list[str] = []
    if not np.isfinite(pts).all():
        return ["has coordinates that are not finite numbers"]
    if _distinct_points(pts) < 3:
        return [f"has {_distinct_points(pts)} distinct points, fewer than 3"]
    poly = Polygon(pts)
    if make_valid(poly).area == 0:
        problems.append("has zero area")
    elif not poly.is_valid:
        problems.append(f"is self-intersecting ({explain_validity(poly)})")
    outside = (pts[:, 0] < 0) | (pts[:, 1] < 0) | (pts[:, 0] > width) | (pts[:, 1] > height)
    if outside.any():
        problems.append(f"has {int(outside.sum())} point(s) outside the {width}x{height} image")
    return problems


def repair_polygon(points: np.ndarray, width: int, height: int, min_area: float = 1.0) -> list[np.ndarray]:
    """Valid polygons covering what `points` meant: shapely's make_valid, clipped to the image
    box, parts under `min_area` square pixels (slivers) dropped. Largest first; [] when nothing
    is left."""
    pts = as_points(points)
    if not np.isfinite(pts).all() or _distinct_points(pts) < 3:
        return []
    fixed = make_valid(Polygon(pts))
    clipped = shapely.intersection(fixed, shapely.box(0, 0, width, height))
    parts = [p for p in shapely.get_parts(clipped) if isinstance(p, Polygon)]
    # make_valid may return a GeometryCollection whose polygons sit one level deeper.
    for g in shapely.get_parts(clipped):
        if not isinstance(g, Polygon) and hasattr(g, "geoms"):
            parts.extend(p for p in shapely.get_parts(g) if isinstance(p, Polygon))
    result = []
    for p in sorted(parts, key=lambda p: -p.area):
        if p.area < min_area:
            continue
        # holes are dropped: labelme polygons have none
        result.append(np.asarray(p.exterior.coords, dtype=np.float64)[:-1])
    return result


def box_at(boxes: np.ndarray, x: float, y: float) -> int | None:
    """The index of the (N, 4) box under point (x, y), for picking by click: the smallest box that
    contains it, else the one whose centre is nearest, within its own size; None when far from all."""
    if not len(boxes):
        return None
    inside = (boxes[:, 0] <= x) & (x <= boxes[:, 2]) & (boxes[:, 1] <= y) & (y <= boxes[:, 3])
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    if inside.any():
        return int(np.flatnonzero(inside)[np.argmin(area[inside])])
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    distance = np.hypot(centres[:, 0] - x, centres[:, 1] - y)
    k = int(np.argmin(distance))
    return k if distance[k] <= max(boxes[k, 2] - boxes[k, 0], boxes[k, 3] - boxes[k, 1]) else None

