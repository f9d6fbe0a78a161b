"""Predicted masks over the photo, a canvas layer of its own (z between the photo and the shapes).

Each prediction above the score threshold is drawn as a translucent fill in its label's colour,
its simplified outline, and "label score" at its box corner. Box-only predictions (rpn_classic
proposals after NMS) are drawn as boxes, green when they overlap a ground-truth box with
IoU >= 0.5 and red otherwise, as in the textbook figures."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPolygonF

from ..style import cosmetic_pen, qcolor
from .commands import prediction_outlines

PREDICTIONS_Z = 12
FILL_ALPHA = 95
POSITIVE_IOU = 0.5
POSITIVE_COLOR, NEGATIVE_COLOR = "#2ecc40", "#ff4136"


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
    prediction: Any  # core.training.predict.Prediction
    outlines: list[QPolygonF]
    fill: QImage | None  # the mask crop, coloured, placed at `origin`
    origin: QPointF
    bounds: QRectF
    positive: bool | None = None  # box-only predictions: overlaps a ground-truth box


def _mask_fill(mask: np.ndarray, color: str) -> tuple[QImage | None, QPointF]:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None, QPointF()
    x1, x2, y1, y2 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    crop = mask[y1:y2, x1:x2]
    c = qcolor(color)
    rgba = np.zeros((*crop.shape, 4), dtype=np.uint8)
    rgba[crop] = (c.red(), c.green(), c.blue(), FILL_ALPHA)
    h, w = crop.shape
    image = QImage(rgba.tobytes(), w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()
    return image, QPointF(float(x1), float(y1))


class PredictionsLayer:
    visible = True

    def __init__(self, color_of: Callable[[str], str]):
        self.color_of = color_of
        self.threshold = 0.5
        self.items: list[ShownPrediction] = []
        self.hidden: set[int] = set()  # accepted or rejected
        self.selected: int | None = None

    def set_predictions(self, predictions: list[Any]) -> None:
        self.items = []
        for p in predictions:
            outlines = [QPolygonF([QPointF(float(x), float(y)) for x, y in pts]) for pts in prediction_outlines(p)]
            fill, origin = _mask_fill(p.mask, self.color_of(p.label)) if p.mask is not None else (None, QPointF())
            x1, y1, x2, y2 = p.box
            self.items.append(ShownPrediction(p, outlines, fill, origin, QRectF(x1, y1, x2 - x1, y2 - y1)))
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

    def shown_indices(self) -> list[int]:
        return [i for i, it in enumerate(self.items)
                if i not in self.hidden and it.prediction.score >= self.threshold]

    def prediction_at(self, x: float, y: float) -> int | None:
        """The best-scoring shown prediction under image point (x, y)."""
        for i in sorted(self.shown_indices(), key=lambda i: -self.items[i].prediction.score):
            p = self.items[i].prediction
            if p.mask is not None:
                xi, yi = int(x), int(y)
                if 0 <= yi < p.mask.shape[0] and 0 <= xi < p.mask.shape[1] and p.mask[yi, xi]:
                    return i
            elif self.items[i].bounds.contains(QPointF(x, y)):
                return i
        return None

    def paint(self, painter: QPainter, ctx: Any) -> None:
        shown = [i for i in self.shown_indices() if self.items[i].bounds.intersects(ctx.visible.adjusted(-2, -2, 2, 2))]
        if not shown:
            return
        painter.save()
        painter.setTransform(ctx.transform)
        for i in shown:
            it = self.items[i]
            if it.fill is not None:
                painter.drawImage(it.origin, it.fill)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for i in shown:
            it = self.items[i]
            color = self._color(it)
            painter.setPen(cosmetic_pen(qcolor(color), 3.0 if i == self.selected else 1.5))
            if it.prediction.mask is None:
                painter.drawRect(it.bounds)
            for poly in it.outlines if it.prediction.mask is not None else []:
                painter.drawPolygon(poly)
        painter.resetTransform()
        font = QFont(painter.font())
        font.setPointSizeF(8.5)
        painter.setFont(font)
        for i in shown:
            it = self.items[i]
            text = f"{it.prediction.label} {it.prediction.score:.2f}"
            corner = ctx.transform.map(it.bounds.topLeft())
            rect = painter.fontMetrics().boundingRect(text).adjusted(-3, -1, 3, 1)
            rect.moveBottomLeft(corner.toPoint())
            painter.fillRect(rect, QColor(0, 0, 0, 150))
            painter.setPen(QColor(self._color(it)).lighter(130))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def _color(self, item: ShownPrediction) -> str:
        if item.prediction.mask is None and item.positive is not None:
            return POSITIVE_COLOR if item.positive else NEGATIVE_COLOR
        return self.color_of(item.prediction.label)
