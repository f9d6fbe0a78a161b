"""Per-shape geometry cached in image coordinates, and hit-testing on it.

Each shape's QPolygonF and bounding box are built once and reused by every repaint until a
command changes that shape; hit-testing first filters shapes by their boxes with numpy.
A labelme `mask` shape (its two points are the inclusive pixel box of a PNG crop) keeps its
decoded crop and its traced outlines; hidden shapes (see `GeometryCache.hidden`) are neither
drawn nor hit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPolygonF

from core.annotation import REGION_TYPES, Annotation, Shape
from core.geometry import decode_labelme_mask, mask_to_polygons

EDITABLE_VERTEX_TYPES = ("polygon", "linestrip", "line", "points", "point", "rectangle", "circle")


@dataclass
class ShapeGeometry:
    shape: Shape
    polygon: QPolygonF  # the outline in image coordinates (a mask shape: its box)
    bounds: QRectF
    closed: bool
    mask: np.ndarray | None = None  # a mask shape's decoded crop (bool, rows x cols) at bounds' corner
    outlines: list[QPolygonF] = field(default_factory=list)  # a mask shape's traced outlines
    _fills: dict[tuple[str, int], QImage] = field(default_factory=dict)

    @property
    def is_mask(self) -> bool:
        return self.mask is not None

    def mask_fill(self, color: QColor) -> QImage:
        """The mask crop painted in `color` (its alpha included), built once per colour."""
        key = (color.name(), color.alpha())
        image = self._fills.get(key)
        if image is None:
            rows, cols = self.mask.shape
            indexed = QImage(np.ascontiguousarray(self.mask, dtype=np.uint8).tobytes(), cols, rows, cols,
                             QImage.Format.Format_Indexed8)
            indexed.setColorTable([0, color.rgba()])
            image = indexed.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
            self._fills[key] = image
        return image

    def mask_contains(self, x: float, y: float) -> bool:
        col, row = int(np.floor(x - self.bounds.left())), int(np.floor(y - self.bounds.top()))
        rows, cols = self.mask.shape
        return 0 <= row < rows and 0 <= col < cols and bool(self.mask[row, col])


def _box(r: QRectF) -> tuple[float, float, float, float]:
    return (r.left(), r.top(), r.right(), r.bottom())


def polygon_of(points: np.ndarray) -> QPolygonF:
    return QPolygonF([QPointF(x, y) for x, y in points.tolist()])


def _mask_geometry(shape: Shape) -> ShapeGeometry | None:
    """A labelme mask shape as its crop and outlines; None when it has no readable mask."""
    if len(shape.points) < 2:
        return None
    (x1, y1), (x2, y2) = shape.points[:2].tolist()
    rows, cols = int(round(y2 - y1)) + 1, int(round(x2 - x1)) + 1  # a moved box may have fractional corners
    x1, y1 = round(x1), round(y1)  # where core.geometry.decode_labelme_mask puts the crop
    if rows <= 0 or cols <= 0:
        return None
    local = Shape(shape.label, [[0, 0], [cols - 1, rows - 1]], "mask", mask=shape.mask)
    try:
        crop = decode_labelme_mask(local, rows, cols)
    except ValueError:
        return None
    outlines = [polygon_of(ring + (x1, y1)) for ring in mask_to_polygons(crop, tolerance=0.5, min_area=1.0)]
    bounds = QRectF(x1, y1, cols, rows)
    box = QPolygonF([bounds.topLeft(), bounds.topRight(), bounds.bottomRight(), bounds.bottomLeft()])
    return ShapeGeometry(shape, box, bounds, True, crop, outlines)


def build_geometry(shape: Shape) -> ShapeGeometry:
    if shape.shape_type == "mask" and shape.mask:
        g = _mask_geometry(shape)
        if g is not None:
            return g
    pts = shape.polygon_points()
    if shape.shape_type == "mask" and len(pts) == 2:  # no readable mask: its box
        (x1, y1), (x2, y2) = pts
        pts = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float64)
    poly = polygon_of(pts)
    if len(pts):
        x1, y1 = pts.min(axis=0)
        x2, y2 = pts.max(axis=0)
        bounds = QRectF(float(x1), float(y1), float(x2 - x1), float(y2 - y1))
    else:
        bounds = QRectF()
    return ShapeGeometry(shape, poly, bounds, shape.shape_type in REGION_TYPES)


class GeometryCache:
    """Geometry of the shapes of one annotation, in the annotation's order.

    Everything that changes shapes reports it (`invalidate`): a list of changed shapes rebuilds
    just those entries in place, None (shapes added, removed or reordered) rebuilds all lazily.
    `hidden(shape)` (set by the canvas) says which shapes are hidden; call `visibility_changed()`
    when its answers change."""

    def __init__(self) -> None:
        self._list: list[ShapeGeometry] | None = None
        self._index: dict[int, int] = {}
        self._bounds: np.ndarray | None = None
        self._shown: np.ndarray | None = None
        self.hidden: Callable[[Shape], bool] | None = None

    def clear(self) -> None:
        self._list = None
        self._index = {}
        self._bounds = None
        self._shown = None

    def visibility_changed(self) -> None:
        self._shown = None

    def shown_mask(self, annotation: Annotation) -> np.ndarray:
        """(N,) bool: the shapes that are not hidden."""
        geoms = self.all(annotation)
        if self._shown is None or len(self._shown) != len(geoms):
            hidden = self.hidden
            self._shown = np.array([hidden is None or not hidden(g.shape) for g in geoms], dtype=bool)
        return self._shown

    def invalidate(self, shapes: list[Shape] | None) -> list[QRectF]:
        """Rebuild the given shapes (None: all); returns their old bounds for partial repaints."""
        if shapes is None or self._list is None:
            self.clear()
            return []
        old = []
        for s in shapes:
            i = self._index.get(id(s))
            if i is None or self._list[i].shape is not s:
                self.clear()  # not a shape we know: start again
                return old
            old.append(self._list[i].bounds)
            g = build_geometry(s)
            self._list[i] = g
            if self._bounds is not None:
                self._bounds[i] = _box(g.bounds)
            if self._shown is not None:  # a relabelled shape may now be hidden or shown
                self._shown[i] = self.hidden is None or not self.hidden(s)
        return old

    def all(self, annotation: Annotation) -> list[ShapeGeometry]:
        shapes = annotation.shapes
        if self._list is None or len(self._list) != len(shapes):
            self._list = [build_geometry(s) for s in shapes]
            self._index = {id(s): i for i, s in enumerate(shapes)}
            self._bounds = None
            self._shown = None
        return self._list

    def get(self, shape: Shape) -> ShapeGeometry:
        i = self._index.get(id(shape))
        if self._list is not None and i is not None and i < len(self._list) and self._list[i].shape is shape:
            return self._list[i]
        return build_geometry(shape)

    def bounds_array(self, annotation: Annotation) -> np.ndarray:
        """(N, 4) x1, y1, x2, y2 of every shape."""
        geoms = self.all(annotation)
        if self._bounds is None:
            self._bounds = np.array([_box(g.bounds) for g in geoms], dtype=np.float64).reshape(-1, 4)
        return self._bounds

    def visible_indices(self, annotation: Annotation, rect: QRectF, margin: float = 0.0) -> np.ndarray:
        """Indices of the shown shapes whose box meets `rect` grown by `margin` (image pixels)."""
        b = self.bounds_array(annotation)
        if not len(b):
            return np.zeros(0, dtype=np.intp)
        hit = ((b[:, 2] >= rect.left() - margin) & (b[:, 0] <= rect.right() + margin)
               & (b[:, 3] >= rect.top() - margin) & (b[:, 1] <= rect.bottom() + margin)) & self.shown_mask(annotation)
        return np.flatnonzero(hit)

    # -- hit-testing (all distances in image pixels) ----------------------------------------
    def _candidates(self, annotation: Annotation, x: float, y: float, tol: float) -> np.ndarray:
        b = self.bounds_array(annotation)
        if not len(b):
            return np.zeros(0, dtype=int)
        hit = (b[:, 0] - tol <= x) & (x <= b[:, 2] + tol) & (b[:, 1] - tol <= y) & (y <= b[:, 3] + tol)
        hit &= self.shown_mask(annotation)
        return np.nonzero(hit)[0][::-1]  # topmost (drawn last) first

    def vertex_at(self, annotation: Annotation, x: float, y: float, tol: float,
                  prefer: list[int] | None = None) -> tuple[int, int] | None:
        """(shape index, vertex index) of the nearest vertex within `tol`, preferring `prefer`."""
        cands = list(self._candidates(annotation, x, y, tol))
        if prefer:
            cands = [i for i in prefer if i in set(cands)] + [i for i in cands if i not in set(prefer)]
        for i in cands:
            if annotation.shapes[i].shape_type not in EDITABLE_VERTEX_TYPES:
                continue  # a mask's box corners are not vertices to drag
            pts = annotation.shapes[i].points
            if not len(pts):
                continue
            d = np.hypot(pts[:, 0] - x, pts[:, 1] - y)
            j = int(np.argmin(d))
            if d[j] <= tol:
                return int(i), j
        return None

    def edge_at(self, annotation: Annotation, x: float, y: float, tol: float,
                only: list[int] | None = None) -> tuple[int, int, tuple[float, float]] | None:
        """(shape index, insert position, nearest point) of the closest polygon edge within `tol`.

        The new vertex goes between points[position - 1] and points[position]."""
        cands = self._candidates(annotation, x, y, tol)
        if only is not None:
            cands = [i for i in cands if i in set(only)]
        best = None
        for i in cands:
            shape = annotation.shapes[i]
            if shape.shape_type not in ("polygon", "linestrip") or len(shape.points) < 2:
                continue
            a = shape.points
            b = np.roll(a, -1, axis=0) if shape.shape_type == "polygon" else a[1:]
            a = a if shape.shape_type == "polygon" else a[:-1]
            ab = b - a
            length2 = np.maximum((ab ** 2).sum(axis=1), 1e-12)
            t = np.clip(((x - a[:, 0]) * ab[:, 0] + (y - a[:, 1]) * ab[:, 1]) / length2, 0.0, 1.0)
            px, py = a[:, 0] + t * ab[:, 0], a[:, 1] + t * ab[:, 1]
            d = np.hypot(px - x, py - y)
            j = int(np.argmin(d))
            if d[j] <= tol and (best is None or d[j] < best[0]):
                best = (float(d[j]), int(i), j + 1, (float(px[j]), float(py[j])))
        return None if best is None else best[1:]

    def shape_at(self, annotation: Annotation, x: float, y: float, tol: float = 0.0) -> int | None:
        """Index of the topmost area shape containing (x, y)."""
        pt = QPointF(x, y)
        for i in self._candidates(annotation, x, y, tol):
            g = self.all(annotation)[i]
            if g.is_mask:
                if g.mask_contains(x, y):
                    return int(i)
            elif g.closed and g.polygon.containsPoint(pt, Qt.FillRule.OddEvenFill):
                return int(i)
        return None
