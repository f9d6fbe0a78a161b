"""The anchor overlay: anchors as rectangles in image coordinates through the canvas transform,
one colour per class, the picked object's anchors emphasised, ground-truth boxes outlined.

Thousands of rectangles cost Qt's raster engine far more than a frame can spend (20,000 anchors
of 16 to 256 px are about ten million stroked pixels), so the overlay is rasterised once per
(result, view) into a viewport-sized transparent image, off the GUI thread, and every frame only
blits that image (a partial repaint blits only its clip). While the view is being zoomed or
panned the last image is drawn through the relative transform until the new one arrives. The
rectangles are stroked with opaque 1 px cosmetic pens (Qt's fast path; translucent pens are ten
times slower) in batches of `drawRects`, and the image is drawn translucent as a whole.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QTransform

from core.anchors.config import IGNORE, NEGATIVE, POSITIVE

from ..style import cosmetic_pen
from .worker import LatestRunner

ANCHORS_Z = 15  # above the shapes' fills (10), below the draft (20) and the handles (30)
CLASS_COLORS = {POSITIVE: "#ffd600", NEGATIVE: "#00e676", IGNORE: "#d500f9"}  # yellow, green, purple
CLASS_NAMES = {POSITIVE: "positive", NEGATIVE: "negative", IGNORE: "ignore"}
DRAW_ORDER = (NEGATIVE, IGNORE, POSITIVE)  # the rarest on top
GT_COLOR = "#ffffff"
OPACITY = 0.8
OPACITY_BEHIND_FOCUS = 0.35  # the other anchors fade while an object is picked
RECTS_PER_CALL = 2000  # between two drawRects calls the GUI thread gets the interpreter back


@dataclass(frozen=True)
class Stroke:
    """Boxes (N, 4) x1 y1 x2 y2 in image pixels, outlined with one pen."""

    boxes: np.ndarray
    color: str
    width: float = 1.0
    dashed: bool = False

    def pen(self) -> QPen:
        pen = cosmetic_pen(QColor(self.color), self.width)
        pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
        if self.dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        return pen


def _transform_key(t: QTransform) -> tuple[float, ...]:
    return (round(t.m11(), 9), round(t.m22(), 9), round(t.dx(), 3), round(t.dy(), 3))


def render_strokes(strokes: list[Stroke], transform: QTransform, size: QSize, dpr: float = 1.0) -> QImage:
    """A transparent image of `size` widget pixels with the strokes drawn through `transform`
    (image -> widget); boxes outside the view are skipped. Safe to call off the GUI thread."""
    image = QImage(max(1, round(size.width() * dpr)), max(1, round(size.height() * dpr)),
                   QImage.Format.Format_ARGB32_Premultiplied)
    image.setDevicePixelRatio(dpr)
    image.fill(Qt.GlobalColor.transparent)
    inverse, _ = transform.inverted()
    view = inverse.mapRect(QRectF(0, 0, size.width(), size.height())).adjusted(-2, -2, 2, 2)
    painter = QPainter(image)
    painter.setTransform(transform)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    for stroke in strokes:
        b = stroke.boxes
        if not len(b):
            continue
        inside = ((b[:, 2] >= view.left()) & (b[:, 0] <= view.right())
                  & (b[:, 3] >= view.top()) & (b[:, 1] <= view.bottom()))
        b = b[inside]
        painter.setPen(stroke.pen())
        for start in range(0, len(b), RECTS_PER_CALL):
            chunk = b[start: start + RECTS_PER_CALL].tolist()
            painter.drawRects([QRectF(x1, y1, x2 - x1, y2 - y1) for x1, y1, x2, y2 in chunk])
    painter.end()
    return image


@dataclass
class _Rendered:
    version: int
    transform: QTransform
    key: tuple
    base: QImage
    top: QImage


def _render_job(version: int, base: list[Stroke], top: list[Stroke], transform: QTransform, size: QSize,
                dpr: float, key: tuple) -> _Rendered:
    return _Rendered(version, transform, key, render_strokes(base, transform, size, dpr),
                     render_strokes(top, transform, size, dpr))


class AnchorOverlayLayer(QObject):
    """A canvas layer (see gui.canvas.layers): `set_content` gives it what to draw, in photo
    pixels; `paint` blits the image rendered for the current view (asking for one when the view
    or the content changed)."""

    def __init__(self, canvas) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.visible = True
        self.counts: dict[int, int] = {}
        self.highlighted = 0
        self._base: list[Stroke] = []
        self._top: list[Stroke] = []
        self._focused = False
        self._version = 0
        self._rendered: _Rendered | None = None
        self._requested: tuple | None = None
        self._renderer = LatestRunner(self, debounce_ms=0)
        self._renderer.finished.connect(self._on_rendered)

    # -- content -----------------------------------------------------------------------------
    def clear(self) -> None:
        """Draw nothing (another photo is opening, or it has no preview)."""
        self._base, self._top = [], []
        self._rendered, self._requested = None, None
        self.counts, self.highlighted = {}, 0
        self._version += 1
        if self.visible:
            self.canvas.update()

    def set_content(self, boxes_by_class: dict[int, np.ndarray], gt_boxes: np.ndarray,
                    highlight: dict[int, np.ndarray] | None = None, focus_object: int | None = None) -> None:
        """`boxes_by_class`: anchors to draw per label value (POSITIVE, NEGATIVE, IGNORE);
        `highlight`: the picked object's anchors per label value, drawn thick and opaque on top;
        `gt_boxes`: the objects' boxes, outlined (the picked one solid, the others dashed)."""
        highlight = highlight or {}
        self._base = [Stroke(np.asarray(boxes_by_class[c], dtype=np.float64).reshape(-1, 4), CLASS_COLORS[c])
                      for c in DRAW_ORDER if c in boxes_by_class]
        gt = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
        others = [i for i in range(len(gt)) if i != focus_object]
        self._top = [Stroke(np.asarray(highlight[c], dtype=np.float64).reshape(-1, 4), CLASS_COLORS[c], 2.5)
                     for c in DRAW_ORDER if c in highlight]
        self._top.append(Stroke(gt[others], GT_COLOR, 1.5, dashed=True))
        if focus_object is not None and 0 <= focus_object < len(gt):
            self._top.append(Stroke(gt[[focus_object]], GT_COLOR, 3.0))
        self._focused = bool(highlight)
        self.counts = {c: len(boxes_by_class[c]) for c in boxes_by_class}
        self.highlighted = sum(len(v) for v in highlight.values())
        self._version += 1
        self._requested = None
        if self.visible:
            self.canvas.update()

    @property
    def drawn_anchors(self) -> int:
        return sum(self.counts.values())

    # -- rendering ---------------------------------------------------------------------------
    def view_key(self) -> tuple:
        return (self._version, _transform_key(self.canvas.image_to_widget_transform()),
                self.canvas.width(), self.canvas.height(), self.canvas.devicePixelRatioF())

    def is_current(self) -> bool:
        """The image on screen shows the present content in the present view."""
        return self._rendered is not None and self._rendered.key == self.view_key()

    def render_now(self) -> None:
        """Render synchronously (benchmarks and tests; the canvas renders in the background)."""
        fn, *args = self._job_args()
        self._on_rendered(0, fn(*args))

    def shutdown(self) -> None:
        self._renderer.cancel()
        self._renderer.wait(5000)
        self._requested = None  # a window that refused to close asks again at the next paint

    def _job_args(self) -> tuple:
        c = self.canvas
        return (_render_job, self._version, list(self._base), list(self._top), c.image_to_widget_transform(),
                c.size(), c.devicePixelRatioF(), self.view_key())

    def _request_render(self) -> None:
        key = self.view_key()
        if self._requested != key:
            self._requested = key
            fn, *args = self._job_args()
            self._renderer.submit(fn, *args)

    def _on_rendered(self, _request: int, rendered: _Rendered) -> None:
        self._rendered = rendered  # the newest finished render, even if the content moved on since
        if self.visible:
            self.canvas.update()

    def paint(self, painter: QPainter, ctx) -> None:
        if not self._base and not self._top:
            return
        if not self.is_current():
            self._request_render()
        r = self._rendered
        if r is None:
            return
        # until the present content is rendered (tens of ms) the previous image stays, no flicker
        painter.save()
        if r.key[1:] != self.view_key()[1:]:
            # the view moved since: draw the last image through the change of transform
            inverse, _ = r.transform.inverted()
            painter.setTransform(inverse * ctx.transform)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.setOpacity(OPACITY_BEHIND_FOCUS if self._focused else OPACITY)
        painter.drawImage(0, 0, r.base)
        painter.setOpacity(1.0)
        painter.drawImage(0, 0, r.top)
        painter.restore()
