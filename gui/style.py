"""Colours, pens and small drawn icons shared by the canvas and the docks."""
from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap, QPolygonF

FILL_ALPHA = 60
FILL_ALPHA_SELECTED = 110
OUTLINE_WIDTH = 2.0
HANDLE_RADIUS = 4.0  # widget pixels
HIT_TOLERANCE = 7.0  # widget pixels within which a vertex or an edge counts as hit

STATE_COLORS = {
    "unknown": "#9e9e9e",
    "unlabelled": "#bdbdbd",
    "labelled": "#42a5f5",
    "needs work": "#ffa726",
    "reviewed": "#66bb6a",
    "broken": "#e53935",
}

BANNER_STYLE = "QLabel { background: #fff3cd; color: #5c4400; padding: 6px; border-bottom: 1px solid #e0c060; }"
BANNER_ERROR_STYLE = "QLabel { background: #f8d7da; color: #721c24; padding: 6px; border-bottom: 1px solid #e0a0a8; }"


@lru_cache(maxsize=512)
def qcolor(hex_color: str, alpha: int = 255) -> QColor:
    c = QColor(hex_color)
    if not c.isValid():
        c = QColor("#888888")
    c.setAlpha(alpha)
    return c


def cosmetic_pen(color: QColor, width: float = OUTLINE_WIDTH) -> QPen:
    """A pen whose width stays in widget pixels whatever the zoom."""
    pen = QPen(color, width)
    pen.setCosmetic(True)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


@lru_cache(maxsize=256)
def color_swatch(hex_color: str, size: int = 14) -> QIcon:
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(QPen(QColor("#333333"), 1))
    p.setBrush(qcolor(hex_color))
    p.drawRoundedRect(QRectF(1, 1, size - 2, size - 2), 3, 3)
    p.end()
    return QIcon(pix)


def state_icon(state: str) -> QIcon:
    return color_swatch(STATE_COLORS.get(state, "#9e9e9e"), 12)


def _icon(draw, size: int = 24) -> QIcon:
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(cosmetic_pen(QColor("#37474f"), 2))
    draw(p, size)
    p.end()
    return QIcon(pix)


def tool_icon(name: str) -> QIcon:
    """Icons drawn in code: polygon, rectangle, edit (an arrow), fit, one-to-one."""
    def polygon(p: QPainter, s: int) -> None:
        pts = QPolygonF([QPointF(4, 18), QPointF(9, 4), QPointF(20, 7), QPointF(18, 20)])
        p.setBrush(QColor(66, 165, 245, 90))
        p.drawPolygon(pts)
        for pt in pts:
            p.drawEllipse(pt, 2, 2)

    def rectangle(p: QPainter, s: int) -> None:
        p.setBrush(QColor(102, 187, 106, 90))
        p.drawRect(QRectF(4, 6, 16, 12))

    def edit(p: QPainter, s: int) -> None:
        p.setBrush(QColor("#37474f"))
        p.drawPolygon(QPolygonF([QPointF(6, 3), QPointF(6, 19), QPointF(10, 15), QPointF(13, 21),
                                 QPointF(15, 20), QPointF(12, 14), QPointF(18, 14)]))

    def fit(p: QPainter, s: int) -> None:
        p.drawRect(QRectF(4, 4, 16, 16))
        p.drawLine(QPointF(8, 12), QPointF(16, 12))
        p.drawLine(QPointF(12, 8), QPointF(12, 16))

    def one(p: QPainter, s: int) -> None:
        p.drawText(QRectF(0, 0, s, s), Qt.AlignmentFlag.AlignCenter, "1:1")

    return _icon({"polygon": polygon, "rectangle": rectangle, "edit": edit, "fit": fit, "one": one}[name])
