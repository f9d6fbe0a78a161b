"""The status bar: what the cursor is over (a hint for the edit tool), cursor position in image
pixels, zoom, the selection's area and box size, and whether the open image is saved."""
from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QLabel, QStatusBar

from core.annotation import Shape

from .canvas.view import CanvasView
from .document import Document


HOVER_HINTS = {
    "vertex": "Vertex: drag to move · Shift+click to remove",
    "edge": "Edge: click + to insert a vertex (and drag it)",
}


def shape_area(shape: Shape) -> float:
    """Area of the outline in square pixels (shoelace formula)."""
    pts = shape.polygon_points()
    if len(pts) < 3:
        return 0.0
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


class StatusPanel:
    def __init__(self, bar: QStatusBar, doc: Document, canvas: CanvasView):
        self.doc = doc
        self.position = QLabel("")
        self.zoom = QLabel("")
        self.selection = QLabel("")
        self.saved = QLabel("")
        self.hint = QLabel("")
        self.hint.setStyleSheet("color: #1565c0;")
        bar.addWidget(self.hint)
        for w in (self.selection, self.position, self.zoom, self.saved):
            bar.addPermanentWidget(w)
        canvas.cursorMoved.connect(self._on_cursor)
        canvas.zoomChanged.connect(lambda z: self.zoom.setText(f"zoom {z * 100:.0f}%"))
        doc.selectionChanged.connect(self.update_selection)
        doc.annotationChanged.connect(self.update_selection)
        doc.saveStateChanged.connect(self.update_saved)
        doc.imageChanged.connect(lambda _p: self.update_saved())

    def show_hover_hint(self, kind: str | None) -> None:
        """What can be done with the vertex or edge under the cursor ("" elsewhere)."""
        self.hint.setText(HOVER_HINTS.get(kind or "", ""))

    def _on_cursor(self, x: float, y: float) -> None:
        self.position.setText(f"x {x:.0f}  y {y:.0f}")

    def update_selection(self) -> None:
        shapes = self.doc.selected_shapes()
        if not shapes:
            self.selection.setText("")
            return
        boxes = np.array([s.bbox() for s in shapes])
        w = boxes[:, 2].max() - boxes[:, 0].min()
        h = boxes[:, 3].max() - boxes[:, 1].min()
        area = sum(shape_area(s) for s in shapes)
        prefix = f"{len(shapes)} shapes · " if len(shapes) > 1 else ""
        self.selection.setText(f"{prefix}area {area:,.0f} px² · box {w:.0f}×{h:.0f}")

    def update_saved(self) -> None:
        doc = self.doc
        if doc.image is None:
            text, color = "", "#666"
        elif doc.save_error:
            text, color = "✖ not saved — retrying", "#c62828"
        elif doc.read_only_reason:
            text, color = "● read-only", "#8d6e00"
        elif doc.dirty and doc.is_writing(doc.image):
            text, color = "● saving…", "#e65100"
        elif doc.dirty:
            text, color = "● unsaved", "#e65100"
        else:
            text, color = "✔ saved", "#2e7d32"
        self.saved.setText(text)
        self.saved.setToolTip(doc.save_error or doc.read_only_reason or "")
        self.saved.setStyleSheet(f"color: {color}; font-weight: bold;")
