"""A canvas built straight from a photo and an annotation, for benchmarks against labelme.

    widget, repaint_full, repaint_drag_step = make_canvas(path, annotation, viewport=(1600, 1000))

The photo goes through the app's own path (PhotoPresenter): a first frame decoded at the fitted
size now, the full resolution decoded in a background thread; `settle(widget)` waits for that
(call it before timing repaints of the settled view). `repaint_full()` repaints the whole widget
at fit zoom, synchronously; `repaint_drag_step()` moves one vertex of the first shape by a pixel,
as a vertex drag does (without the undo stack), and lets Qt repaint the area that invalidates.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtWidgets import QApplication

from core.annotation import Annotation
from core.project import label_color

from .photo import PhotoPresenter
from .view import CanvasView


def make_canvas(image_path: str | Path, annotation: Annotation,
                viewport: tuple[int, int] = (1600, 1000)) -> tuple[CanvasView, Callable[[], None], Callable[[], None]]:
    app = QApplication.instance() or QApplication([])
    canvas = CanvasView()
    canvas.resize(*viewport)
    canvas.color_of = label_color
    canvas.set_annotation(annotation)
    canvas.photo_presenter = PhotoPresenter(canvas, canvas)
    canvas.show()
    app.processEvents()  # the widget is exposed: repaint() paints from here on
    canvas.photo_presenter.show(image_path)
    step = [0]

    def repaint_full() -> None:
        canvas.repaint()

    def repaint_drag_step() -> None:
        shape = annotation.shapes[0]
        step[0] += 1
        shape.points[0] += (1.0 if step[0] % 2 else -1.0, 0.0)
        canvas.shapes_changed([shape])
        app.processEvents()  # the partial update() is painted here

    return canvas, repaint_full, repaint_drag_step


def settle(canvas: CanvasView, timeout_ms: int = 10000) -> bool:
    """Wait until the full-resolution photo is shown and its scaled copy for the zoom is built."""
    return canvas.photo_presenter.wait_full_resolution(timeout_ms)
