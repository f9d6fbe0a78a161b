"""Tools turn mouse and key events on the canvas into commands on the document.

* PolygonTool: click vertices; close by clicking the first vertex, Enter or double-click;
  Esc cancels, Backspace removes the last vertex.
* RectangleTool: drag (or click two corners).
* EditTool: click selects (Ctrl toggles), drag a vertex or a whole shape, click the "+" handle
  shown on the hovered edge to insert a vertex there (and drag it), Shift+click a vertex to
  remove it (a polygon keeps at least three).
"""
from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Callable

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPolygonF

from core.annotation import Shape

from ..commands import AddShapes, InsertVertex, MoveShapes, MoveVertex, RemoveVertex
from ..style import HANDLE_RADIUS, HIT_TOLERANCE, cosmetic_pen, qcolor
from .layers import PaintContext

if TYPE_CHECKING:
    from ..document import Document
    from .view import CanvasView

MIN_POLYGON_VERTICES = 3
_drag_ids = itertools.count(1)


class Tool:
    cursor = Qt.CursorShape.ArrowCursor
    name = ""
    HINTS: tuple[tuple[str, str], ...] = ()  # (keys or gesture, what it does), for the F1 sheet

    def __init__(self, canvas: "CanvasView", doc: "Document"):
        self.canvas = canvas
        self.doc = doc

    def clamp(self, pos: QPointF) -> tuple[float, float]:
        """A point inside the image."""
        return (min(max(pos.x(), 0.0), float(self.canvas.image_width)),
                min(max(pos.y(), 0.0), float(self.canvas.image_height)))

    def refuse_if_read_only(self) -> bool:
        if self.doc.can_edit():
            return False
        self.doc.notice.emit(f"Not editable: {self.doc.read_only_reason}")
        return True

    def mouse_press(self, event: QMouseEvent, pos: QPointF) -> None: ...
    def mouse_move(self, event: QMouseEvent, pos: QPointF) -> None: ...
    def mouse_release(self, event: QMouseEvent, pos: QPointF) -> None: ...
    def mouse_double_click(self, event: QMouseEvent, pos: QPointF) -> None: ...

    def key_press(self, event: QKeyEvent) -> bool:
        return False

    def cancel(self) -> None: ...

    @property
    def drawing(self) -> bool:
        return False

    def paint_draft(self, painter: QPainter, ctx: PaintContext) -> None: ...


class _CreateTool(Tool):
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, canvas: "CanvasView", doc: "Document"):
        super().__init__(canvas, doc)
        self.points: list[tuple[float, float]] = []
        self.cursor_pos: tuple[float, float] | None = None

    @property
    def drawing(self) -> bool:
        return bool(self.points)

    def cancel(self) -> None:
        self._repaint_draft()
        self.points = []

    def _draft_rect(self) -> QRectF:
        pts = list(self.points) + ([self.cursor_pos] if self.cursor_pos else [])
        if not pts:
            return QRectF()
        arr = np.array(pts)
        (x1, y1), (x2, y2) = arr.min(axis=0), arr.max(axis=0)
        return QRectF(x1, y1, x2 - x1, y2 - y1)

    def _repaint_draft(self) -> None:
        if self.points:
            self.canvas.request_repaint(self._draft_rect())

    def _color(self) -> QColor:
        return qcolor(self.doc.color_of(self.doc.label_for_new_shape()))

    def _finish(self, shape_type: str, points: list[tuple[float, float]]) -> None:
        self._repaint_draft()
        self.points = []
        shape = Shape(label=self.doc.label_for_new_shape(), points=np.array(points, dtype=np.float64),
                      shape_type=shape_type)
        self.doc.push(AddShapes(self.doc, [shape], "Draw polygon" if shape_type == "polygon" else "Draw rectangle"))

    def key_press(self, event: QKeyEvent) -> bool:
        if event.key() == Qt.Key.Key_Escape and self.points:
            self.cancel()
            return True
        return False


class PolygonTool(_CreateTool):
    name = "polygon"
    HINTS = (("Click", "add a vertex"),
             ("Enter, double-click or click the first vertex", "close the polygon"),
             ("Backspace", "remove the last vertex"),
             ("Esc", "cancel the polygon"))

    def _near_first(self, pos: QPointF) -> bool:
        if len(self.points) < MIN_POLYGON_VERTICES:
            return False
        first = self.canvas.to_widget(QPointF(*self.points[0]))
        here = self.canvas.to_widget(pos)
        return (first - here).manhattanLength() <= HIT_TOLERANCE * 1.5

    def mouse_press(self, event: QMouseEvent, pos: QPointF) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.refuse_if_read_only():
            return
        if self._near_first(pos):
            self._finish("polygon", self.points)
            return
        self.points.append(self.clamp(pos))
        self.cursor_pos = self.clamp(pos)
        self._repaint_draft()

    def mouse_double_click(self, event: QMouseEvent, pos: QPointF) -> None:
        if len(self.points) >= MIN_POLYGON_VERTICES:
            self._finish("polygon", self.points)

    def mouse_move(self, event: QMouseEvent, pos: QPointF) -> None:
        if self.points:
            self._repaint_draft()
            self.cursor_pos = self.clamp(pos)
            self._repaint_draft()

    def key_press(self, event: QKeyEvent) -> bool:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.points:
            if len(self.points) >= MIN_POLYGON_VERTICES:
                self._finish("polygon", self.points)
            else:
                self.doc.notice.emit(f"A polygon needs at least {MIN_POLYGON_VERTICES} vertices")
            return True
        if key == Qt.Key.Key_Backspace and self.points:
            self._repaint_draft()
            self.points.pop()
            self._repaint_draft()
            return True
        return super().key_press(event)

    def paint_draft(self, painter: QPainter, ctx: PaintContext) -> None:
        if not self.points:
            return
        color = self._color()
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setTransform(ctx.transform)
        painter.setPen(cosmetic_pen(color, 2.0))
        line = QPolygonF([QPointF(*p) for p in self.points])
        painter.drawPolyline(line)
        if self.cursor_pos:
            dashed = cosmetic_pen(color, 1.5)
            dashed.setStyle(Qt.PenStyle.DashLine)
            painter.setPen(dashed)
            painter.drawLine(QPointF(*self.points[-1]), QPointF(*self.cursor_pos))
        painter.resetTransform()
        painter.setPen(cosmetic_pen(QColor("#ffffff"), 1.0))
        for k, p in enumerate(self.points):
            w = ctx.transform.map(QPointF(*p))
            closable = k == 0 and self.cursor_pos is not None and self._near_first(QPointF(*self.cursor_pos))
            painter.setBrush(QColor("#ffffff") if closable else color)
            r = HANDLE_RADIUS * (1.8 if closable else 1.0)
            painter.drawEllipse(w, r, r)
        painter.restore()


class RectangleTool(_CreateTool):
    name = "rectangle"
    HINTS = (("Drag, or click two corners", "draw the rectangle"),
             ("Esc", "cancel the rectangle"))

    def mouse_press(self, event: QMouseEvent, pos: QPointF) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.refuse_if_read_only():
            return
        if self.points:  # second click of click-click mode
            self._complete(pos)
            return
        self.points = [self.clamp(pos)]
        self.cursor_pos = self.clamp(pos)

    def mouse_move(self, event: QMouseEvent, pos: QPointF) -> None:
        if self.points:
            self._repaint_draft()
            self.cursor_pos = self.clamp(pos)
            self._repaint_draft()

    def mouse_release(self, event: QMouseEvent, pos: QPointF) -> None:
        if self.points and event.button() == Qt.MouseButton.LeftButton:
            start = self.canvas.to_widget(QPointF(*self.points[0]))
            if (self.canvas.to_widget(pos) - start).manhattanLength() > HIT_TOLERANCE:
                self._complete(pos)

    def _complete(self, pos: QPointF) -> None:
        (x1, y1), (x2, y2) = self.points[0], self.clamp(pos)
        if abs(x2 - x1) < 1 or abs(y2 - y1) < 1:
            self.doc.notice.emit("Rectangle too small; drag over the object")
            self.cancel()
            return
        self._finish("rectangle", [(min(x1, x2), min(y1, y2)), (max(x1, x2), max(y1, y2))])

    def paint_draft(self, painter: QPainter, ctx: PaintContext) -> None:
        if not self.points or not self.cursor_pos:
            return
        painter.save()
        painter.setTransform(ctx.transform)
        color = self._color()
        painter.setPen(cosmetic_pen(color, 2.0))
        painter.setBrush(QColor(color.red(), color.green(), color.blue(), 50))
        (x1, y1), (x2, y2) = self.points[0], self.cursor_pos
        painter.drawRect(QRectF(QPointF(x1, y1), QPointF(x2, y2)).normalized())
        painter.restore()


class EditTool(Tool):
    name = "edit"
    HINTS = (("Click", "select a shape"),
             ("Ctrl+click", "add a shape to the selection or take it out"),
             ("Drag a shape or vertex", "move it"),
             ("Click an edge", "insert a vertex there"),
             ("Shift+click a vertex", "remove the vertex"),
             ("Esc", "clear the selection"))

    def __init__(self, canvas: "CanvasView", doc: "Document"):
        super().__init__(canvas, doc)
        self._drag: str | None = None  # "vertex" or "shapes"
        self._drag_id = 0
        self._drag_vertex: tuple[int, int] | None = None
        self._drag_last: QPointF | None = None
        self._hover_edge: tuple[int, int, tuple[float, float]] | None = None
        # told "vertex", "edge" or None when what the cursor is over changes (status-bar hints)
        self.on_hover_changed: Callable[[str | None], None] | None = None
        self._hover_kind: str | None = None

    def cancel(self) -> None:
        self._end_drag()

    def _update_hover(self, pos: QPointF) -> None:
        c, ann = self.canvas, self.canvas.annotation
        if ann is None:
            return
        before = (c.hover_shape, c.hover_vertex, c.hover_edge_point)
        tol = c.tolerance()
        vertex = c.geometry.vertex_at(ann, pos.x(), pos.y(), tol, prefer=c.selection)
        edge = None if vertex else c.geometry.edge_at(ann, pos.x(), pos.y(), tol)
        if edge is not None and self.doc.is_locked(ann.shapes[edge[0]]):
            edge = None  # no "+" handle on a locked shape
        c.hover_vertex = vertex
        c.hover_edge_point = edge[2] if edge else None
        self._hover_edge = edge
        if vertex:
            c.hover_shape = vertex[0]
        elif edge:
            c.hover_shape = edge[0]
        else:
            c.hover_shape = c.geometry.shape_at(ann, pos.x(), pos.y())
        kind = "vertex" if vertex else "edge" if edge else None
        if kind != self._hover_kind:
            self._hover_kind = kind
            if self.on_hover_changed is not None:
                self.on_hover_changed(kind)
        if (c.hover_shape, c.hover_vertex, c.hover_edge_point) != before:
            area = QRectF()
            for i in {before[0], c.hover_shape} - {None}:
                if i < len(ann.shapes):
                    area = area.united(c.geometry.get(ann.shapes[i]).bounds)
            for p in (before[2], c.hover_edge_point):
                if p is not None:
                    area = area.united(QRectF(p[0] - 1, p[1] - 1, 2, 2))
            c.request_repaint(area if not area.isNull() else None)

    def mouse_move(self, event: QMouseEvent, pos: QPointF) -> None:
        if self._drag == "vertex":
            i, j = self._drag_vertex
            self.doc.push(MoveVertex(self.doc, i, j, self.clamp(pos), self._drag_id))
            return
        if self._drag == "shapes":
            delta = pos - self._drag_last
            self._drag_last = pos
            if delta.x() or delta.y():
                self.doc.push(MoveShapes(self.doc, self.doc.selection, delta.x(), delta.y(), self._drag_id))
            return
        self._update_hover(pos)

    def mouse_press(self, event: QMouseEvent, pos: QPointF) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        self._update_hover(pos)
        c = self.canvas
        mods = event.modifiers()
        if c.hover_vertex is not None:
            i, j = c.hover_vertex
            if mods & Qt.KeyboardModifier.ShiftModifier:
                self.remove_vertex(i, j)
                return
            self.doc.set_selection([i])
            self._begin_drag("vertex", vertex=(i, j))
        elif c.hover_edge_point is not None and not self.refuse_if_read_only():
            i, position, xy = self._hover_edge
            self.doc.set_selection([i])
            self.doc.push(InsertVertex(self.doc, i, position, xy))
            c.hover_edge_point = None
            c.hover_vertex = (i, position)
            self._begin_drag("vertex", vertex=(i, position))
        elif c.hover_shape is not None:
            i = c.hover_shape
            if mods & Qt.KeyboardModifier.ControlModifier:
                sel = set(self.doc.selection) ^ {i}
                self.doc.set_selection(sorted(sel))
                return
            if i not in self.doc.selection:
                self.doc.set_selection([i])
            self._begin_drag("shapes", last=pos)
        else:
            self.doc.set_selection([])

    def _begin_drag(self, kind: str, vertex: tuple[int, int] | None = None, last: QPointF | None = None) -> None:
        if not self.doc.can_edit():
            return  # selecting still works on a read-only image; moving does not
        if self._refuse_if_locked([vertex[0]] if vertex is not None else self.doc.selection):
            return
        self._drag = kind
        self._drag_id = next(_drag_ids)
        self._drag_vertex = vertex
        self._drag_last = last
        self.doc.begin_interaction()

    def _end_drag(self) -> None:
        if self._drag is not None:
            self._drag = None
            self.doc.end_interaction()

    def mouse_release(self, event: QMouseEvent, pos: QPointF) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._end_drag()
            self._update_hover(pos)

    def remove_vertex(self, i: int, j: int) -> bool:
        shape = self.doc.annotation.shapes[i]
        if shape.shape_type != "polygon" or len(shape.points) <= MIN_POLYGON_VERTICES:
            self.doc.notice.emit(f"A polygon keeps at least {MIN_POLYGON_VERTICES} vertices"
                                 if shape.shape_type == "polygon" else f"Cannot remove a corner of a {shape.shape_type}")
            return False
        if self.refuse_if_read_only() or self._refuse_if_locked([i]):
            return False
        self.canvas.hover_vertex = None
        return self.doc.push(RemoveVertex(self.doc, i, j))

    def _refuse_if_locked(self, indices: list[int]) -> bool:
        locked = self.doc.locked_among(indices)
        if locked:
            self.doc.notice.emit("Locked: unlock the shape in the Shapes dock to move or reshape it")
        return bool(locked)

    def key_press(self, event: QKeyEvent) -> bool:
        if event.key() == Qt.Key.Key_Escape and self.doc.selection:
            self.doc.set_selection([])
            return True
        return False
