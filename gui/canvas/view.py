"""The canvas widget: zoom, pan, hit-testing, and the hand-off of input events to the active tool.

Everything is drawn by layers (see layers.py) under one image->widget transform
`widget = image * zoom + offset`. Wheel zooms around the cursor, the middle button or
space + left drag pans, `fit_to_window()`, `actual_size()` and `zoom_to_rect()` set the zoom.
What is shown: all annotations or none (`set_annotations_visible`), per label
(`set_label_visible`) and per shape (`set_shape_hidden`); hidden shapes are not hit either.
The photo's display adjustment (`set_photo_adjustment`) never touches the file.
"""
from __future__ import annotations

import weakref
from typing import Callable

from PySide6.QtCore import QPointF, QRect, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QTransform, QWheelEvent
from PySide6.QtWidgets import QWidget

from core.annotation import Annotation, Shape

from ..style import HANDLE_RADIUS, HIT_TOLERANCE, OUTLINE_WIDTH
from .adjust import PhotoAdjustment
from .geometry import GeometryCache
from .layers import DRAFT_Z, HANDLES_Z, PHOTO_Z, SHAPES_Z, DraftLayer, HandlesLayer, Layer, PaintContext, PhotoLayer, ShapesLayer

MIN_ZOOM, MAX_ZOOM = 0.01, 64.0
FIT_MARGIN = 0.98  # a thin frame of background around a fitted photo
BACKGROUND = QColor("#2b2b2b")


class CanvasView(QWidget):
    HINTS = (("Wheel", "zoom at the pointer"),
             ("Space+drag, or middle-button drag", "pan"))
    cursorMoved = Signal(float, float)  # image pixels
    zoomChanged = Signal(float)
    visibilityChanged = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(200, 150)
        self.annotation: Annotation | None = None
        self.color_of: Callable[[str], str] = lambda label: "#ff8800"
        self.selection: list[int] = []
        self.hover_shape: int | None = None
        self.hover_vertex: tuple[int, int] | None = None
        self.hover_edge_point: tuple[float, float] | None = None
        self.message: str = ""  # shown instead of the photo (an unreadable image)
        self.geometry = GeometryCache()
        self.annotations_visible = True
        self.hidden_labels: set[str] = set()
        self.hidden_shapes: weakref.WeakSet[Shape] = weakref.WeakSet()
        self.locked: Callable[[Shape], bool] = lambda shape: False  # the document's locks
        self.geometry.hidden = self.is_hidden
        self.tool = None
        self.photo_layer = PhotoLayer()
        self._layers: list[tuple[int, int, Layer]] = []
        for z, layer in ((PHOTO_Z, self.photo_layer), (SHAPES_Z, ShapesLayer()),
                         (DRAFT_Z, DraftLayer()), (HANDLES_Z, HandlesLayer())):
            self.add_layer(layer, z)
        self.image_width = 0
        self.image_height = 0
        self.zoom = 1.0
        self.offset = QPointF(0, 0)
        self._fit_mode = True
        self._pan_anchor: QPointF | None = None
        self._space_held = False
        self._rescale_timer = QTimer(self)
        self._rescale_timer.setSingleShot(True)
        self._rescale_timer.setInterval(120)
        self._rescale_timer.timeout.connect(self._build_scaled_photo)

    # -- layers ----------------------------------------------------------------------------
    def add_layer(self, layer: Layer, z: int) -> None:
        self._layers.append((z, len(self._layers), layer))
        self._layers.sort(key=lambda t: (t[0], t[1]))
        self.update()

    def remove_layer(self, layer: Layer) -> None:
        self._layers = [t for t in self._layers if t[2] is not layer]
        self.update()

    def layers(self) -> list[Layer]:
        return [t[2] for t in self._layers]

    def request_repaint(self, image_rect: QRectF | None = None) -> None:
        if image_rect is None:
            self.update()
            return
        pad = OUTLINE_WIDTH + 2 * HANDLE_RADIUS + 4
        r = self.image_to_widget_transform().mapRect(image_rect).adjusted(-pad, -pad, pad, pad)
        self.update(r.toAlignedRect())

    # -- content ---------------------------------------------------------------------------
    def set_photo(self, image: QImage | None, image_width: int, image_height: int, keep_view: bool = False) -> None:
        """Show `image` (possibly a reduced copy) as a photo of image_width x image_height pixels."""
        size_changed = (image_width, image_height) != (self.image_width, self.image_height)
        self.image_width, self.image_height = image_width, image_height
        self.photo_layer.set_image(image, image_width)
        if not keep_view or size_changed:
            self.fit_to_window()
        self._rescale_timer.start(0 if keep_view else 120)
        self.update()

    def set_message(self, text: str) -> None:
        self.message = text
        self.update()

    def set_annotation(self, annotation: Annotation | None) -> None:
        self.annotation = annotation
        self.geometry.clear()
        self.selection = []
        self.clear_hover()
        if self.tool is not None:
            self.tool.cancel()
        self.update()

    def shapes_changed(self, shapes: list[Shape] | None) -> None:
        """Drop cached geometry; repaints only around the changed shapes when they are given."""
        old = self.geometry.invalidate(shapes)
        if shapes is None:
            self.update()
            return
        area = QRectF()
        for r in old:
            area = area.united(r) if not area.isNull() else r
        for s in shapes:
            if self.annotation is not None and any(s is t for t in self.annotation.shapes):
                b = self.geometry.get(s).bounds
                area = area.united(b) if not area.isNull() else b
        if not area.isNull():
            self.request_repaint(area)

    # -- what is shown ----------------------------------------------------------------------
    def is_hidden(self, shape: Shape) -> bool:
        return not self.annotations_visible or shape.label in self.hidden_labels or shape in self.hidden_shapes

    def _visibility_changed(self) -> None:
        self.geometry.visibility_changed()
        self.clear_hover()
        self.visibilityChanged.emit()
        self.update()

    def set_annotations_visible(self, visible: bool) -> None:
        if visible != self.annotations_visible:
            self.annotations_visible = visible
            if not visible and self.tool is not None:
                self.tool.cancel()
            self._visibility_changed()

    def set_label_visible(self, label: str, visible: bool) -> None:
        if visible == (label in self.hidden_labels):
            (self.hidden_labels.discard if visible else self.hidden_labels.add)(label)
            self._visibility_changed()

    def set_shape_hidden(self, shape: Shape, hidden: bool) -> None:
        if hidden != (shape in self.hidden_shapes):
            (self.hidden_shapes.add if hidden else self.hidden_shapes.discard)(shape)
            self._visibility_changed()

    def set_photo_adjustment(self, adjustment: PhotoAdjustment) -> None:
        """Brightness, contrast and gamma of the photo on screen (the file is never changed)."""
        if self.photo_layer.set_adjustment(adjustment):
            self.photo_layer.build_scaled(self.zoom)
            self.update()

    def set_selection(self, indices: list[int]) -> None:
        self.selection = list(indices)
        self.update()

    def clear_hover(self) -> None:
        self.hover_shape = None
        self.hover_vertex = None
        self.hover_edge_point = None

    # -- transform -------------------------------------------------------------------------
    def image_to_widget_transform(self) -> QTransform:
        return QTransform(self.zoom, 0, 0, self.zoom, self.offset.x(), self.offset.y())

    def to_image(self, pos: QPointF) -> QPointF:
        return QPointF((pos.x() - self.offset.x()) / self.zoom, (pos.y() - self.offset.y()) / self.zoom)

    def to_widget(self, pos: QPointF) -> QPointF:
        return QPointF(pos.x() * self.zoom + self.offset.x(), pos.y() * self.zoom + self.offset.y())

    def tolerance(self) -> float:
        """HIT_TOLERANCE widget pixels in image pixels."""
        return HIT_TOLERANCE / self.zoom

    def visible_image_rect(self) -> QRectF:
        inv, _ = self.image_to_widget_transform().inverted()
        return inv.mapRect(QRectF(self.rect()))

    def _set_zoom(self, zoom: float, anchor_widget: QPointF) -> None:
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
        anchor_image = self.to_image(anchor_widget)
        self.zoom = zoom
        self.offset = QPointF(anchor_widget.x() - anchor_image.x() * zoom, anchor_widget.y() - anchor_image.y() * zoom)
        self._rescale_timer.start()
        self.zoomChanged.emit(self.zoom)
        self.update()

    def zoom_by(self, factor: float, anchor_widget: QPointF | None = None) -> None:
        self._fit_mode = False
        anchor = anchor_widget if anchor_widget is not None else QPointF(self.width() / 2, self.height() / 2)
        self._set_zoom(self.zoom * factor, anchor)

    def fit_zoom_for(self, image_width: int, image_height: int) -> float:
        zoom = min(self.width() / max(1, image_width), self.height() / max(1, image_height)) * FIT_MARGIN
        return min(MAX_ZOOM, max(MIN_ZOOM, zoom))

    def fit_to_window(self) -> None:
        self._fit_mode = True
        if not self.image_width or not self.image_height:
            return
        self.zoom = self.fit_zoom_for(self.image_width, self.image_height)
        self.offset = QPointF((self.width() - self.image_width * self.zoom) / 2,
                              (self.height() - self.image_height * self.zoom) / 2)
        self._rescale_timer.start()
        self.zoomChanged.emit(self.zoom)
        self.update()

    def zoom_to_rect(self, rect: QRectF, margin: float = 0.15) -> None:
        """Show `rect` (image pixels) centred and as large as fits, with a margin around it."""
        w, h = max(rect.width(), 8.0) * (1 + 2 * margin), max(rect.height(), 8.0) * (1 + 2 * margin)
        self._fit_mode = False
        self.zoom = min(MAX_ZOOM, max(MIN_ZOOM, min(self.width() / w, self.height() / h)))
        c = rect.center()
        self.offset = QPointF(self.width() / 2 - c.x() * self.zoom, self.height() / 2 - c.y() * self.zoom)
        self._rescale_timer.start()
        self.zoomChanged.emit(self.zoom)
        self.update()

    def actual_size(self) -> None:
        """1:1: one image pixel per screen pixel, keeping the centre of the view in place."""
        self._fit_mode = False
        self._set_zoom(1.0, QPointF(self.width() / 2, self.height() / 2))

    def _build_scaled_photo(self) -> None:
        self.photo_layer.build_scaled(self.zoom)
        self.update()

    # -- painting --------------------------------------------------------------------------
    def paint_context(self, widget_rect: QRect) -> PaintContext:
        t = self.image_to_widget_transform()
        inv, _ = t.inverted()
        return PaintContext(t, self.zoom, inv.mapRect(QRectF(widget_rect)), self)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(event.rect(), BACKGROUND)
        if self.message:
            painter.setPen(QColor("#ffb4b4"))
            font = painter.font()
            font.setPointSize(12)
            painter.setFont(font)
            painter.drawText(self.rect().adjusted(40, 40, -40, -40),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
            painter.end()
            return
        ctx = self.paint_context(event.rect())
        for _, _, layer in self._layers:
            if getattr(layer, "visible", True):
                layer.paint(painter, ctx)
        painter.end()

    def resizeEvent(self, event) -> None:
        if self._fit_mode:
            self.fit_to_window()
        super().resizeEvent(event)

    # -- input -----------------------------------------------------------------------------
    def set_tool(self, tool) -> None:
        if self.tool is not None:
            self.tool.cancel()
        self.tool = tool
        self.clear_hover()
        self.setCursor(tool.cursor if tool is not None else Qt.CursorShape.ArrowCursor)
        self.update()

    def _image_pos(self, event: QMouseEvent) -> QPointF:
        return self.to_image(event.position())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if event.button() == Qt.MouseButton.MiddleButton or (
                event.button() == Qt.MouseButton.LeftButton and self._space_held):
            self._pan_anchor = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if self.tool is not None:
            self.tool.mouse_press(event, self._image_pos(event))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_anchor is not None:
            delta = event.position() - self._pan_anchor
            self._pan_anchor = event.position()
            self.offset = self.offset + delta
            self._fit_mode = False
            self.update()
            return
        pos = self._image_pos(event)
        self.cursorMoved.emit(pos.x(), pos.y())
        if self.tool is not None:
            self.tool.mouse_move(event, pos)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_anchor is not None:
            self._pan_anchor = None
            self.setCursor(Qt.CursorShape.OpenHandCursor if self._space_held else
                           (self.tool.cursor if self.tool else Qt.CursorShape.ArrowCursor))
            return
        if self.tool is not None:
            self.tool.mouse_release(event, self._image_pos(event))

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self.tool is not None and event.button() == Qt.MouseButton.LeftButton:
            self.tool.mouse_double_click(event, self._image_pos(event))

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(1.2 ** steps, event.position())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = True
            self.setCursor(Qt.CursorShape.OpenHandCursor)
            return
        if self.tool is not None and self.tool.key_press(event):
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            self._pan_anchor = None
            self.setCursor(self.tool.cursor if self.tool else Qt.CursorShape.ArrowCursor)
            return
        super().keyReleaseEvent(event)

    def leaveEvent(self, event) -> None:
        if self.hover_shape is not None or self.hover_vertex or self.hover_edge_point:
            self.clear_hover()
            self.update()
        super().leaveEvent(event)
