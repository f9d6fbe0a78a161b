"""Predicted masks over the photo, a canvas layer of its own (z between the photo and the shapes).

Each prediction above the score threshold is drawn as a translucent fill in its label's colour
with its border pixels opaque, and "label score" at its box corner. The selected prediction
stands out: the others fade, it gets a doubled fill, the polygon accepting it would give
(simplified at the project's tolerance) as a thick outline in a white halo, that polygon's
vertices as dots, and an inverted tag. Box-only predictions
(rpn_classic proposals after NMS) are drawn as boxes, green when they overlap a ground-truth box
with IoU >= 0.5 and red otherwise, as in the textbook figures."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPolygonF

from core.geometry import DEFAULT_POLYGON_TOLERANCE_PX, mask_box
from core.predictions import Prediction, prediction_polygons

from ..style import cosmetic_pen, qcolor

PREDICTIONS_Z = 12
FILL_ALPHA = 95
POSITIVE_IOU = 0.5
POSITIVE_COLOR, NEGATIVE_COLOR = "#2ecc40", "#ff4136"
HALO_COLOR = "#ffffff"
VERTEX_RADIUS = 3.0  # widget pixels
OTHERS_OPACITY = 0.45  # the unselected predictions while one is selected


def box_iou(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU matrix of (N, 4) and (M, 4) x1y1x2y2 boxes."""
    if len(boxes) == 0 or len(others) == 0:
        return np.zeros((len(boxes), len(others)))
    lt = np.maximum(boxes[:, None, :2], others[None, :, :2])
    rb = np.minimum(boxes[:, None, 2:], others[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area = lambda b: np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    return inter / np.maximum(area(boxes)[:, None] + area(others)[None, :] - inter, 1e-9)


@dataclass
class ShownPrediction:
    prediction: Prediction
    fill: QImage | None  # the mask crop, coloured, placed at `origin`
    origin: QPointF
    bounds: QRectF
    positive: bool | None = None  # box-only predictions: overlaps a ground-truth box
    outlines: dict[float, list[QPolygonF]] = field(default_factory=dict)  # by tolerance, made when first drawn


def _mask_fill(mask: np.ndarray, color: str) -> tuple[QImage | None, QPointF]:
    """The mask's crop as a translucent tint with its border pixels opaque: an outline that costs
    no polygon (a weak model's ragged masks take ~0.1 s each to simplify; only the selected
    prediction's polygon is computed)."""
    box = mask_box(mask)
    if box is None:
        return None, QPointF()
    x1, y1, x2, y2 = (int(v) for v in box)
    crop = mask[y1:y2, x1:x2]
    padded = np.pad(crop, 1)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    c = qcolor(color)
    rgba = np.zeros((*crop.shape, 4), dtype=np.uint8)
    rgba[crop] = (c.red(), c.green(), c.blue(), FILL_ALPHA)
    rgba[crop & ~interior] = (c.red(), c.green(), c.blue(), 255)
    h, w = crop.shape
    image = QImage(rgba.tobytes(), w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()
    return image, QPointF(float(x1), float(y1))


class PredictionsLayer:
    visible = True

    def __init__(self, color_of: Callable[[str], str]):
        self.color_of = color_of
        self.threshold = 0.5
        self.tolerance = DEFAULT_POLYGON_TOLERANCE_PX
        self.items: list[ShownPrediction] = []
        self.hidden: set[str] = set()  # ids of accepted predictions
        self.selected: str | None = None  # id of the selected prediction

    def set_predictions(self, predictions: list[Prediction]) -> None:
        self.items = []
        for p in predictions:
            fill, origin = _mask_fill(p.mask, self.color_of(p.label)) if p.mask is not None else (None, QPointF())
            x1, y1, x2, y2 = p.box
            self.items.append(ShownPrediction(p, fill, origin, QRectF(x1, y1, x2 - x1, y2 - y1)))
        self.hidden = set()
        self.selected = None

    def set_ground_truth(self, boxes: np.ndarray) -> None:
        """Colour box-only predictions positive / negative against these (N, 4) boxes."""
        own = np.array([it.prediction.box for it in self.items if it.prediction.mask is None]).reshape(-1, 4)
        best = box_iou(own, np.asarray(boxes, dtype=np.float64).reshape(-1, 4)).max(axis=1, initial=0.0)
        k = 0
        for it in self.items:
            if it.prediction.mask is None:
                it.positive = bool(best[k] >= POSITIVE_IOU)
                k += 1

    def shown(self) -> list[ShownPrediction]:
        """The predictions drawn: not accepted, score at or above the threshold; best first."""
        return [it for it in self.items
                if it.prediction.id not in self.hidden and it.prediction.score >= self.threshold]

    def item(self, prediction_id: str | None) -> ShownPrediction | None:
        return next((it for it in self.items if it.prediction.id == prediction_id), None)

    def outlines(self, item: ShownPrediction) -> list[QPolygonF]:
        """The polygons accepting the prediction gives at the current tolerance."""
        if self.tolerance not in item.outlines:
            item.outlines[self.tolerance] = [QPolygonF([QPointF(float(x), float(y)) for x, y in pts])
                                             for pts in prediction_polygons(item.prediction, self.tolerance)]
        return item.outlines[self.tolerance]

    def prediction_at(self, x: float, y: float) -> str | None:
        """The id of the best-scoring shown prediction under image point (x, y)."""
        for it in self.shown():
            p = it.prediction
            if p.mask is not None:
                xi, yi = int(x), int(y)
                if 0 <= yi < p.mask.shape[0] and 0 <= xi < p.mask.shape[1] and p.mask[yi, xi]:
                    return p.id
            elif it.bounds.contains(QPointF(x, y)):
                return p.id
        return None

    def paint(self, painter: QPainter, ctx: Any) -> None:
        area = ctx.visible.adjusted(-2, -2, 2, 2)
        shown = [it for it in self.shown() if it.bounds.intersects(area)]
        if not shown:
            return
        selected = next((it for it in shown if it.prediction.id == self.selected), None)
        if selected is not None:  # drawn last, on top of the others
            shown.remove(selected)
            shown.append(selected)
        painter.save()
        painter.setTransform(ctx.transform)
        others_opacity = OTHERS_OPACITY if selected is not None else 1.0  # the selected one stands out
        for it in shown:
            if it.fill is not None:
                painter.setOpacity(1.0 if it is selected else others_opacity)
                painter.drawImage(it.origin, it.fill)
        if selected is not None and selected.fill is not None:
            painter.drawImage(selected.origin, selected.fill)  # twice: a denser tint
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for it in shown:
            if it.prediction.mask is None:  # a box-only prediction
                painter.setOpacity(1.0 if it is selected else others_opacity)
                if it is selected:
                    painter.setPen(cosmetic_pen(qcolor(HALO_COLOR), 6.0))
                    painter.drawRect(it.bounds)
                painter.setPen(cosmetic_pen(qcolor(self._color(it)), 3.0 if it is selected else 1.5))
                painter.drawRect(it.bounds)
        painter.setOpacity(1.0)
        if selected is not None and selected.prediction.mask is not None:
            for color, width in ((HALO_COLOR, 6.0), (self._color(selected), 3.0)):
                painter.setPen(cosmetic_pen(qcolor(color), width))
                for poly in self.outlines(selected):
                    painter.drawPolygon(poly)
        painter.resetTransform()
        if selected is not None:
            self._paint_vertices(painter, ctx, selected)
        self._paint_tags(painter, ctx, shown, selected)
        painter.restore()

    def _paint_vertices(self, painter: QPainter, ctx: Any, item: ShownPrediction) -> None:
        """The vertices accepting it would give: what the tolerance does is visible before accepting."""
        painter.setPen(cosmetic_pen(QColor("#202020"), 1.0))
        painter.setBrush(qcolor(HALO_COLOR))
        for poly in self.outlines(item) if item.prediction.mask is not None else []:
            for k in range(poly.size()):
                painter.drawEllipse(ctx.transform.map(poly.at(k)), VERTEX_RADIUS, VERTEX_RADIUS)

    def _paint_tags(self, painter: QPainter, ctx: Any, shown: list[ShownPrediction],
                    selected: ShownPrediction | None) -> None:
        font = QFont(painter.font())
        font.setPointSizeF(8.5)
        for it in shown:
            font.setBold(it is selected)
            painter.setFont(font)
            painter.setOpacity(1.0 if selected is None or it is selected else OTHERS_OPACITY)
            text = f"{it.prediction.label} {it.prediction.score:.2f}"
            corner = ctx.transform.map(it.bounds.topLeft())
            rect = painter.fontMetrics().boundingRect(text).adjusted(-3, -1, 3, 1)
            rect.moveBottomLeft(corner.toPoint())
            if it is selected:
                painter.fillRect(rect, qcolor(HALO_COLOR))
                painter.setPen(QColor("#000000"))
            else:
                painter.fillRect(rect, QColor(0, 0, 0, 150))
                painter.setPen(QColor(self._color(it)).lighter(130))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)

    def _color(self, item: ShownPrediction) -> str:
        if item.prediction.mask is None and item.positive is not None:
            return POSITIVE_COLOR if item.positive else NEGATIVE_COLOR
        return self.color_of(item.prediction.label)
