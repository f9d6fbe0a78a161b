"""The labelme side of the GUI speed benchmark: runs inside the labelme virtualenv, never in
Masklab's.

bench_gui_speed.py starts this script as a subprocess (QT_QPA_PLATFORM=offscreen) with a photo and
a JSON file of polygons it generated, and reads one JSON object from the last line of stdout:

- full_repaint: labelme's real Canvas (labelme.widgets.canvas.Canvas) with the photo and every
  polygon as a labelme Shape, 1600x1000 at fit zoom, repainted synchronously (`repaint()`).
- drag_step: one step of dragging a vertex the way a user does it (mouse move events with the left
  button held after pressing on the vertex), then the synchronous repaint labelme asks for.
- open_show: labelme's own MainWindow._load_file on the photo (PIL read with EXIF check, bytes,
  QImage, QPixmap, canvas load and fit zoom) until the first frame is painted.

Every measurement checks that the work really happened (paint events counted, vertex moved, image
size loaded) and exits non-zero otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import fit_scale, summarize, time_calls, wait_responsive  # noqa: E402

import labelme  # noqa: E402
from loguru import logger  # noqa: E402
from PyQt5 import QtCore, QtGui, QtWidgets  # noqa: E402
from PyQt5.QtCore import QPointF, Qt  # noqa: E402

from labelme._shape import Shape  # noqa: E402
from labelme.widgets.canvas import Canvas  # noqa: E402

PAINT_COUNT = {"n": 0}
_original_paint_event = Canvas.paintEvent


def _counting_paint_event(self: Canvas, event: QtGui.QPaintEvent) -> None:
    PAINT_COUNT["n"] += 1
    _original_paint_event(self, event)


# Counted at class level so the canvas inside labelme's MainWindow is counted too.
Canvas.paintEvent = _counting_paint_event


class PeerError(RuntimeError):
    """A measurement did not do what it claims (no paint, vertex not moved, image not loaded)."""


def _labelme_shapes(polygons: list[list[list[float]]], labels: list[str]) -> list[Shape]:
    """labelme Shapes built as labelme's app builds them from a label file."""
    shapes = []
    for points, label in zip(polygons, labels):
        shape = Shape(label=label, shape_type="polygon")
        for x, y in points:
            shape.add_point(QPointF(x, y))
        shape.close()
        shapes.append(shape)
    return shapes


def _repaint_and_check(widget: QtWidgets.QWidget) -> None:
    before = PAINT_COUNT["n"]
    widget.repaint()
    if PAINT_COUNT["n"] == before:
        raise PeerError("repaint() did not run the canvas paintEvent")


def _mouse_event(kind: QtCore.QEvent.Type, pos: QPointF, button: Qt.MouseButton, buttons: Qt.MouseButtons) -> QtGui.QMouseEvent:
    return QtGui.QMouseEvent(kind, pos, button, buttons, Qt.NoModifier)


def _widget_pos(canvas: Canvas, image_point: QPointF) -> QPointF:
    offset = canvas._compute_image_origin_offset()
    return QPointF((image_point.x() + offset.x()) * canvas.scale, (image_point.y() + offset.y()) * canvas.scale)


def measure_canvas(app: QtWidgets.QApplication, image: Path, polygons: list, labels: list[str],
                   viewport: tuple[int, int], repeats: int, drag_steps: int) -> dict:
    canvas = Canvas(epsilon=10.0, double_click="close", num_backups=10)
    canvas.resize(*viewport)
    photo = QtGui.QImage(str(image))
    if photo.isNull():  # labelme's load_pixmap would crash on it
        raise PeerError(f"{image}: Qt could not read the photo")
    canvas.load_pixmap(QtGui.QPixmap.fromImage(photo))
    canvas.scale = fit_scale((canvas.pixmap.width(), canvas.pixmap.height()), viewport)
    canvas.load_shapes(_labelme_shapes(polygons, labels))
    canvas.set_editing(True)
    canvas.show()
    app.processEvents()
    if (canvas.width(), canvas.height()) != viewport:
        raise PeerError(f"canvas is {canvas.width()}x{canvas.height()}, expected {viewport}")

    full = time_calls(lambda: _repaint_and_check(canvas), repeats, warmup=2)

    # Drag the first vertex of the last (topmost) polygon: hover it, press, then move in small steps.
    shape = canvas.shapes[-1]
    start = QPointF(shape.points[0])
    start_widget = _widget_pos(canvas, start)
    app.sendEvent(canvas, _mouse_event(QtCore.QEvent.MouseMove, start_widget, Qt.NoButton, Qt.NoButton))
    if canvas.hovered_shape is not shape or canvas._hovered_vertex != 0:
        raise PeerError("hovering the vertex did not select it for dragging")
    app.sendEvent(canvas, _mouse_event(QtCore.QEvent.MouseButtonPress, start_widget, Qt.LeftButton, Qt.LeftButton))
    step = {"i": 0}

    def drag_position(i: int) -> QPointF:
        # Back and forth over 20 widget pixels, so the vertex stays on the image.
        dx = float(i % 20 - 10)
        return QPointF(start_widget.x() + dx, start_widget.y() + dx / 2)

    def drag_step() -> None:
        step["i"] += 1
        app.sendEvent(canvas, _mouse_event(QtCore.QEvent.MouseMove, drag_position(step["i"]), Qt.NoButton, Qt.LeftButton))
        _repaint_and_check(canvas)

    drag = time_calls(drag_step, drag_steps, warmup=2)
    moved_to = shape.points[0]
    expected = canvas._transform_point_widget_to_image(drag_position(step["i"]))
    if abs(moved_to.x() - expected.x()) > 1e-6 or abs(moved_to.y() - expected.y()) > 1e-6:
        raise PeerError(f"dragged vertex is at {moved_to}, expected {expected}")
    scale = canvas.scale
    canvas.hide()
    canvas.deleteLater()
    app.processEvents()
    return {
        "full_repaint": summarize(full),
        "drag_step": summarize(drag),
        "canvas_scale": scale,
        "shapes": len(polygons),
        "vertices": sum(len(p) for p in polygons),
    }


def measure_open_show(app: QtWidgets.QApplication, image: Path, viewport: tuple[int, int], repeats: int) -> dict:
    from labelme.app import MainWindow

    window = MainWindow()
    window.show()
    app.processEvents()
    # Size the window so that the central area (labelme's scroll area around the canvas) is the
    # same viewport Masklab gets.
    central = window.centralWidget()
    window.resize(window.width() + viewport[0] - central.width(), window.height() + viewport[1] - central.height())
    app.processEvents()
    if (central.width(), central.height()) != tuple(viewport):
        raise PeerError(f"labelme's window cannot give its canvas area {viewport[0]}x{viewport[1]} "
                        f"(got {central.width()}x{central.height()})")
    canvas = window._canvas_widgets.canvas

    samples = []
    for i in range(repeats + 1):
        before = PAINT_COUNT["n"]
        start = time.perf_counter()
        window._load_file(str(image))
        canvas.repaint()
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        if canvas.pixmap.isNull() or PAINT_COUNT["n"] == before:
            raise PeerError(f"{image}: labelme did not load and paint the photo")
        if i > 0:  # the first open also pays one-off imports and font setup
            samples.append(elapsed_ms)
        app.processEvents()  # what this load left posted, outside any timing
    size = (canvas.pixmap.width(), canvas.pixmap.height())
    result = {
        "open_show": summarize(samples),
        "image_size": list(size),
        "central_size": [central.width(), central.height()],
        "open_scale": canvas.scale,
    }
    window._is_changed = False
    window.close()
    return result


def measure_open_folder(app: QtWidgets.QApplication, folder: Path) -> dict:
    """labelme opening a folder: MainWindow(file_or_dir=folder) lists every image, marks the ones
    with a label file and opens the first; timed until shown and answering events."""
    from labelme.app import MainWindow

    start = time.perf_counter()
    window = MainWindow(file_or_dir=str(folder))
    window.show()
    wait_responsive(QtCore, app)
    elapsed_ms = (time.perf_counter() - start) * 1000.0
    listed = len(window.image_list)
    if listed == 0:
        raise PeerError(f"{folder}: labelme listed no images")
    window._is_changed = False
    window.close()
    app.processEvents()
    return {"open_folder": summarize([elapsed_ms]), "folder_images": listed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True, type=Path, help="photo to open (no sidecar beside it)")
    parser.add_argument("--polygons", required=True, type=Path, help='JSON {"polygons": [[[x, y], ...], ...], "labels": [...]}')
    parser.add_argument("--viewport", default="1600x1000", help="canvas size WIDTHxHEIGHT")
    parser.add_argument("--repeats", type=int, default=15, help="full repaints timed")
    parser.add_argument("--drag-steps", type=int, default=30, help="drag steps timed")
    parser.add_argument("--open-repeats", type=int, default=5, help="open-and-show runs timed")
    parser.add_argument("--folder", type=Path, help="a folder of many images to open as labelme's file list")
    args = parser.parse_args(argv)
    viewport = tuple(int(v) for v in args.viewport.lower().split("x"))

    logger.remove()  # labelme logs every load at INFO; stdout carries the JSON result only
    data = json.loads(args.polygons.read_text())
    app = QtWidgets.QApplication(["labelme-peer"])
    app.setStyle("Fusion")  # as labelme's main() does

    result = {
        "peer": "labelme",
        "labelme_version": labelme.__version__,
        "qt_version": QtCore.QT_VERSION_STR,
        "pyqt_version": QtCore.PYQT_VERSION_STR,
        "platform": app.platformName(),
        "viewport": list(viewport),
    }
    try:
        result.update(measure_canvas(app, args.image, data["polygons"], data["labels"], viewport, args.repeats, args.drag_steps))
        result.update(measure_open_show(app, args.image, viewport, args.open_repeats))
        if args.folder is not None:
            result.update(measure_open_folder(app, args.folder))
    except (PeerError, TimeoutError) as e:
        print(f"labelme peer: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
