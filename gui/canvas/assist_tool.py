"""The assist tool (key B): drag a box around an object and a polygon appears for the current
label; left clicks mark "object", right clicks "background" and the outline follows; Enter
accepts (one undoable "Add shape"), Esc cancels, Backspace takes back the last click, a new drag
starts over. The work runs on the assist worker (gui.assist), never on the GUI thread."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPolygonF

from core.annotation import Shape

from ..commands import AddShapes
from ..style import HIT_TOLERANCE, cosmetic_pen, qcolor
from .layers import PaintContext
from .tools import Tool

if TYPE_CHECKING:
    from ..document import Document
    from .view import CanvasView

POSITIVE_COLOR, NEGATIVE_COLOR = QColor("#2ecc40"), QColor("#ff4136")
CLICK_RADIUS = 5.0  # widget pixels


class AssistTool(Tool):
    name = "assist"
    HINTS = (("Drag", "box around the object"),
             ("Click, once the box is drawn", "object seed"),
             ("Right-click, once the box is drawn", "background seed"),
             ("Backspace", "take back the last seed"),
             ("Enter", "accept the polygon"),
             ("Esc", "cancel"))
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, canvas: "CanvasView", doc: "Document", controller: Any):
        super().__init__(canvas, doc)
        self.controller = controller  # gui.assist.AssistController: request(...) -> job id
        controller.resultReady.connect(self._on_result)
        controller.failed.connect(self._on_failed)
        self._reset()

    def _reset(self) -> None:
        self.box: tuple[float, float, float, float] | None = None
        self.clicks: list[tuple[float, float, bool]] = []  # x, y, positive; in click order
        self.polygons: list[np.ndarray] = []
        self.pending = 0  # id of the job whose answer is awaited, 0 when none
        self.accept_when_ready = False
        self._press: tuple[float, float] | None = None
        self._drag_to: tuple[float, float] | None = None

    @property
    def positive(self) -> list[tuple[float, float]]:
        return [(x, y) for x, y, positive in self.clicks if positive]

    @property
    def negative(self) -> list[tuple[float, float]]:
        return [(x, y) for x, y, positive in self.clicks if not positive]

    @property
    def drawing(self) -> bool:
        return self.box is not None or self._drag_to is not None

    @property
    def takes_right_click(self) -> bool:
        """Right clicks are background seeds while a box is out (no context menu then)."""
        return self.box is not None

    @property
    def busy(self) -> bool:
        return self.pending != 0

    def cancel(self) -> None:
        self.canvas.update()
        self._reset()

    # -- mouse -------------------------------------------------------------------------------
    def mouse_press(self, event: QMouseEvent, pos: QPointF) -> None:
        if self.refuse_if_read_only():
            return
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = self.clamp(pos)
        elif event.button() == Qt.MouseButton.RightButton and self.box is not None:
            self.clicks.append((*self.clamp(pos), False))
            self._request()

    def _dragged(self, pos: QPointF, start: tuple[float, float]) -> bool:
        moved = self.canvas.to_widget(pos) - self.canvas.to_widget(QPointF(*start))
        return moved.manhattanLength() > HIT_TOLERANCE

    def mouse_move(self, event: QMouseEvent, pos: QPointF) -> None:
        if self._press is not None and event.buttons() & Qt.MouseButton.LeftButton and (
                self._drag_to is not None or self._dragged(pos, self._press)):
            self._drag_to = self.clamp(pos)
            self.canvas.update()

    def mouse_release(self, event: QMouseEvent, pos: QPointF) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._press is None:
            return
        start, self._press = self._press, None
        if self._drag_to is not None or self._dragged(pos, start):
            self._drag_to = None
            (x1, y1), (x2, y2) = start, self.clamp(pos)
            if abs(x2 - x1) < 2 or abs(y2 - y1) < 2:
                self.doc.notice.emit("Box too small: drag around the whole object")
                self.canvas.update()
                return
            self._reset()
            self.box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
            self._request()
        elif self.box is not None:
            self.clicks.append((*start, True))
            self._request()
        else:
            self.doc.notice.emit("Assist: drag a box around the object")

    def mouse_double_click(self, event: QMouseEvent, pos: QPointF) -> None: ...

    # -- keys --------------------------------------------------------------------------------
    def key_press(self, event: QKeyEvent) -> bool:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.box is not None:
            self.accept()
            return True
        if key == Qt.Key.Key_Escape and self.drawing:
            self.cancel()
            return True
        if key == Qt.Key.Key_Backspace and self.clicks:
            self.clicks.pop()
            self._request()
            return True
        return False

    # -- results -----------------------------------------------------------------------------
    def _request(self) -> None:
        self.pending = self.controller.request(self.doc.image, self.box, self.positive, self.negative,
                                               self.doc.label_for_new_shape())
        self.canvas.update()

    def _on_result(self, job_id: int, polygons: list, notes: list) -> None:
        if job_id != self.pending:
            return  # an answer to an older box or click, or to a cancelled one
        self.pending = 0
        self.polygons = [np.asarray(p, dtype=np.float64) for p in polygons]
        for note in notes:
            self.doc.notice.emit(f"Assist: {note}")
        self.canvas.update()
        if self.accept_when_ready:
            self.accept()

    def _on_failed(self, job_id: int, message: str) -> None:
        if job_id != self.pending:
            return
        self.pending = 0
        self.accept_when_ready = False
        self.doc.notice.emit(f"Assist: {message}")
        self.canvas.update()

    def accept(self) -> None:
        if self.busy:
            self.accept_when_ready = True
            self.doc.notice.emit("Assist: the outline is being computed; it is added when ready")
            return
        if not self.polygons:
            self.doc.notice.emit("Assist: no outline to add")
            return
        label = self.doc.label_for_new_shape()
        group = None
        if len(self.polygons) > 1:
            used = [s.group_id for s in self.doc.annotation.shapes if s.group_id is not None]
            group = max(used, default=0) + 1
        shapes = [Shape(label, np.round(p, 2), "polygon", group_id=group) for p in self.polygons]
        self.cancel()
        self.doc.push(AddShapes(self.doc, shapes, "Assisted polygon"))

    # -- drawing -----------------------------------------------------------------------------
    def paint_draft(self, painter: QPainter, ctx: PaintContext) -> None:
        if not self.drawing:
            return
        color = qcolor(self.doc.color_of(self.doc.label_for_new_shape()))
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setTransform(ctx.transform)
        dashed = cosmetic_pen(QColor("#ffffff"), 1.5)
        dashed.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(dashed)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if self._drag_to is not None and self._press is not None:
            painter.drawRect(QRectF(QPointF(*self._press), QPointF(*self._drag_to)).normalized())
        elif self.box is not None:
            x1, y1, x2, y2 = self.box
            painter.drawRect(QRectF(x1, y1, x2 - x1, y2 - y1))
        if self._drag_to is None:
            painter.setPen(cosmetic_pen(color, 2.5 if not self.busy else 1.5))
            painter.setBrush(QColor(color.red(), color.green(), color.blue(), 70 if not self.busy else 35))
            for poly in self.polygons:
                painter.drawPolygon(QPolygonF([QPointF(float(x), float(y)) for x, y in poly]))
        painter.resetTransform()
        painter.setPen(cosmetic_pen(QColor("#ffffff"), 1.5))
        for clicks, c in ((self.positive, POSITIVE_COLOR), (self.negative, NEGATIVE_COLOR)):
            painter.setBrush(c)
            for p in clicks:
                painter.drawEllipse(ctx.transform.map(QPointF(*p)), CLICK_RADIUS, CLICK_RADIUS)
        painter.restore()
