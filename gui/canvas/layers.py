"""What the canvas draws, one painter per layer, in z order.

Extension points (for the anchors and the predictions-review docks):

* `canvas.add_layer(layer, z)` inserts a layer; built-in z values are PHOTO_Z=0, SHAPES_Z=10,
  DRAFT_Z=20, HANDLES_Z=30, so an anchor overlay might use 15 and predictions 12. `canvas.remove_layer(layer)` takes it out.
* A layer is any object with `paint(painter: QPainter, ctx: PaintContext)` and a `visible`
  attribute. The painter arrives in widget coordinates with the repaint's clip set; call
  `painter.setTransform(ctx.transform)` to draw in image pixels (cosmetic pens keep their width),
  and skip what lies outside `ctx.visible` (the repainted part of the image, in image
  coordinates), as the built-in layers do, so that partial repaints stay cheap.
* `canvas.request_repaint(image_rect=None)` repaints everything, or only the widget area covering
  `image_rect` (a QRectF in image coordinates) when a layer changed only there.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen, QPixmap, QTransform

from ..style import FILL_ALPHA, FILL_ALPHA_SELECTED, HANDLE_RADIUS, OUTLINE_WIDTH, cosmetic_pen, qcolor
from .adjust import PhotoAdjustment, adjusted_image
from .geometry import ShapeGeometry

if TYPE_CHECKING:
    from .view import CanvasView

PHOTO_Z, SHAPES_Z, DRAFT_Z, HANDLES_Z = 0, 10, 20, 30
ALL_HANDLES_MAX_VERTICES = 2000  # above this many visible vertices only selected shapes get handles


@dataclass
class PaintContext:
    transform: QTransform  # image pixels -> widget pixels
    zoom: float  # widget pixels per image pixel
    visible: QRectF  # the part of the image being repainted, in image coordinates
    canvas: "CanvasView"


class Layer(Protocol):
    visible: bool

    def paint(self, painter: QPainter, ctx: PaintContext) -> None: ...


class PhotoLayer:
    """The photo; below 1:1 it draws a smooth copy scaled once per zoom level. The display
    adjustment (brightness, contrast, gamma) is applied once per image or change, not per paint."""

    visible = True

    def __init__(self) -> None:
        self.image: QImage | None = None  # as decoded, unadjusted
        self.adjustment = PhotoAdjustment()
        self.scale_to_image = 1.0  # annotation pixels per photo pixel (a reduced first frame is < full size)
        self._pixmap: QPixmap | None = None
        self._scaled: tuple[float, QPixmap] | None = None

    def set_image(self, image: QImage | None, image_width: int) -> None:
        self.image = image
        self._build_pixmap()
        self.scale_to_image = (image_width / image.width()) if image is not None and image.width() else 1.0

    def set_adjustment(self, adjustment: PhotoAdjustment) -> bool:
        """Use `adjustment` from now on; False when it is the one already shown."""
        adjustment = adjustment.clamped()
        if adjustment == self.adjustment:
            return False
        self.adjustment = adjustment
        self._build_pixmap()
        return True

    def _build_pixmap(self) -> None:
        image = self.image
        if image is None or image.isNull():
            self._pixmap = None
        else:
            self._pixmap = QPixmap.fromImage(adjusted_image(image, self.adjustment))
        self._scaled = None

    def scaled_ready(self, zoom: float) -> bool:
        return self._scaled is not None and abs(self._scaled[0] - zoom) < 1e-9

    def build_scaled(self, zoom: float) -> None:
        """The smooth copy for `zoom` (called by the canvas once zooming settles)."""
        if self._pixmap is None:
            return
        s = zoom * self.scale_to_image
        if s >= 1.0:
            self._scaled = None
            return
        size = QSize(max(1, round(self._pixmap.width() * s)), max(1, round(self._pixmap.height() * s)))
        self._scaled = (zoom, self._pixmap.scaled(size, Qt.AspectRatioMode.IgnoreAspectRatio,
                                                  Qt.TransformationMode.SmoothTransformation))

    def paint(self, painter: QPainter, ctx: PaintContext) -> None:
        if self._pixmap is None:
            return
        t = ctx.transform
        if self.scaled_ready(ctx.zoom):
            painter.drawPixmap(QPointF(t.dx(), t.dy()), self._scaled[1])
            return
        painter.save()
        s = self.scale_to_image
        # until the smooth copy exists: bilinear sampling looks right down to half size, and
        # below that it would cost more than it helps for the moment the copy takes to appear
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, 0.5 <= ctx.zoom * s < 1.0)
        painter.setTransform(QTransform.fromScale(s, s) * t)
        src = QRectF(ctx.visible.left() / s, ctx.visible.top() / s, ctx.visible.width() / s, ctx.visible.height() / s)
        src = src.adjusted(-1, -1, 1, 1).intersected(QRectF(self._pixmap.rect()))
        painter.drawPixmap(src, self._pixmap, src)
        painter.restore()


class ShapesLayer:
    """Every shape: translucent fill in its label's colour and an outline; culled by bounding box.

    Fills are drawn without antialiasing (the antialiased outline covers their edge) and, when
    many shapes are on screen, outlines are 1 px: Qt's fast path for thin cosmetic pens is about
    five times quicker than a 2 px antialiased stroke."""

    visible = True
    THIN_OUTLINES_ABOVE = 150  # visible shapes

    def paint(self, painter: QPainter, ctx: PaintContext) -> None:
        canvas = ctx.canvas
        ann = canvas.annotation
        if ann is None or not ann.shapes:
            return
        emphasised = set(canvas.selection)
        if canvas.hover_shape is not None:
            emphasised.add(canvas.hover_shape)
        margin = 2 * (OUTLINE_WIDTH + HANDLE_RADIUS) / max(ctx.zoom, 1e-6)
        geoms = canvas.geometry.all(ann)
        indices = canvas.geometry.visible_indices(ann, ctx.visible, margin).tolist()
        if not indices:
            return
        plain = [geoms[i] for i in indices if i not in emphasised]
        special = [(i, geoms[i]) for i in indices if i in emphasised]
        width = 1.0 if len(indices) > self.THIN_OUTLINES_ABOVE else OUTLINE_WIDTH
        colors = {label: canvas.color_of(label) for label in {g.shape.label for g in plain} | {g.shape.label for _, g in special}}
        self._paint_plain_fills(painter, ctx, plain, colors)
        painter.save()
        painter.setTransform(ctx.transform)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setPen(Qt.PenStyle.NoPen)
        for _, g in special:
            if g.is_mask:
                painter.drawImage(g.bounds, g.mask_fill(qcolor(colors[g.shape.label], FILL_ALPHA_SELECTED)))
            elif g.closed:
                painter.setBrush(_brush(colors[g.shape.label], FILL_ALPHA_SELECTED))
                painter.drawPolygon(g.polygon)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        last = None
        for g in plain:
            label = g.shape.label
            if label != last:
                painter.setPen(_pen(colors[label], width))
                last = label
            self._outline(painter, g)
        selected = set(canvas.selection)
        for i, g in special:
            painter.setPen(_pen(colors[g.shape.label], width + (1.5 if i in selected else 0.5)))
            self._outline(painter, g)
        painter.restore()

    def _paint_plain_fills(self, painter: QPainter, ctx: PaintContext, plain: list[ShapeGeometry],
                           colors: dict[str, str]) -> None:
        """Translucent fills, drawn opaque into a buffer that is blended once: Qt's raster engine
        fills opaque polygons about five times faster than translucent ones. Where shapes
        overlap, the upper one's colour shows instead of a darker mix."""
        closed = [g for g in plain if g.closed]
        if not closed:
            return
        area = ctx.transform.mapRect(ctx.visible).toAlignedRect().adjusted(-1, -1, 1, 1) & ctx.canvas.rect()
        if area.isEmpty():
            return
        ratio = painter.device().devicePixelRatioF() or 1.0
        buffer = self._fill_buffer(ctx.canvas.size(), ratio)
        p = QPainter(buffer)
        p.setClipRect(area)
        p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        p.fillRect(area, Qt.GlobalColor.transparent)
        p.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
        p.setTransform(ctx.transform)
        p.setPen(Qt.PenStyle.NoPen)
        last = None
        for g in closed:
            if g.shape.label != last:
                last = g.shape.label
                p.setBrush(_brush(colors[last], 255))
            if g.is_mask:
                p.drawImage(g.bounds, g.mask_fill(qcolor(colors[last])))
            else:
                p.drawPolygon(g.polygon)
        p.end()
        painter.save()
        painter.setOpacity(FILL_ALPHA / 255)
        source = QRectF(area.x() * ratio, area.y() * ratio, area.width() * ratio, area.height() * ratio)
        painter.drawImage(QRectF(area), buffer, source)
        painter.restore()

    def _fill_buffer(self, size: QSize, ratio: float) -> QImage:
        pixels = QSize(round(size.width() * ratio), round(size.height() * ratio))
        buffer = getattr(self, "_buffer", None)
        if buffer is None or buffer.size() != pixels:
            buffer = QImage(pixels, QImage.Format.Format_ARGB32_Premultiplied)
            buffer.setDevicePixelRatio(ratio)
            self._buffer = buffer
        return buffer

    @staticmethod
    def _outline(painter: QPainter, g: ShapeGeometry) -> None:
        if g.is_mask:
            for outline in g.outlines:
                painter.drawPolygon(outline)
        elif g.closed:
            painter.drawPolygon(g.polygon)
        elif len(g.polygon) > 1:
            painter.drawPolyline(g.polygon)
        elif len(g.polygon) == 1:  # a point shape; its handle marks it too
            painter.drawPoint(g.polygon[0])


@lru_cache(maxsize=512)
def _pen(color: str, width: float) -> QPen:
    pen = cosmetic_pen(qcolor(color), width)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    return pen


@lru_cache(maxsize=512)
def _brush(color: str, alpha: int) -> QBrush:
    return QBrush(qcolor(color, alpha))


class DraftLayer:
    """The shape being drawn by the active tool (rubber band to the cursor)."""

    visible = True

    def paint(self, painter: QPainter, ctx: PaintContext) -> None:
        tool = ctx.canvas.tool
        if tool is not None:
            tool.paint_draft(painter, ctx)


class HandlesLayer:
    """Vertex handles (selected / hovered shapes, or all when few are visible) and the
    insert-vertex handle on the hovered edge, drawn at a fixed size in widget pixels."""

    visible = True

    def paint(self, painter: QPainter, ctx: PaintContext) -> None:
        canvas = ctx.canvas
        ann = canvas.annotation
        if ann is None:
            return
        margin = 2 * HANDLE_RADIUS / max(ctx.zoom, 1e-6)
        on_screen = canvas.geometry.visible_indices(ann, ctx.visible, margin).tolist()
        if len(on_screen) * 3 <= ALL_HANDLES_MAX_VERTICES and \
                sum(len(ann.shapes[i].points) for i in on_screen) <= ALL_HANDLES_MAX_VERTICES:
            indices = on_screen
        else:
            chosen = set(canvas.selection) | {canvas.hover_shape}
            indices = [i for i in on_screen if i in chosen]
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        t = ctx.transform
        r = HANDLE_RADIUS
        selected = set(canvas.selection)
        hover_vertex = canvas.hover_vertex
        for i in indices:
            shape = ann.shapes[i]
            if shape.shape_type == "mask" or canvas.locked(shape):
                continue  # a mask's box corners are not vertices; a locked shape cannot be edited
            color = qcolor(canvas.color_of(shape.label))
            painter.setPen(cosmetic_pen(QColor("#ffffff"), 1.0))
            painter.setBrush(color if i in selected else QColor(color.red(), color.green(), color.blue(), 170))
            pts = shape.points
            xs = pts[:, 0] * t.m11() + t.dx()
            ys = pts[:, 1] * t.m22() + t.dy()
            for j, (x, y) in enumerate(zip(xs.tolist(), ys.tolist())):
                big = hover_vertex == (i, j)
                rr = r * 1.6 if big else r
                painter.drawEllipse(QPointF(x, y), rr, rr)
        edge = canvas.hover_edge_point
        if edge is not None:
            p = t.map(QPointF(*edge))
            painter.setPen(cosmetic_pen(QColor("#000000"), 1.0))
            painter.setBrush(QColor("#ffffff"))
            painter.drawEllipse(p, r + 2.5, r + 2.5)
            painter.setPen(cosmetic_pen(QColor("#000000"), 1.5))
            painter.drawLine(QPointF(p.x() - r + 1, p.y()), QPointF(p.x() + r - 1, p.y()))
            painter.drawLine(QPointF(p.x(), p.y() - r + 1), QPointF(p.x(), p.y() + r - 1))
        painter.restore()
