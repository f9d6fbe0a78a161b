"""Helpers that drive the canvas with real mouse and key events at image coordinates."""
from __future__ import annotations

import json
import os
from pathlib import Path

from PySide6.QtCore import QPoint, QPointF, Qt

SHOTS = Path(os.environ.get("MASKLAB_SHOTS", "/tmp/masklab_shots"))


def widget_point(canvas, x: float, y: float) -> QPoint:
    return canvas.to_widget(QPointF(x, y)).toPoint()


def click(qtbot, canvas, x: float, y: float, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, modifier, widget_point(canvas, x, y))


def drag(qtbot, canvas, start: tuple[float, float], end: tuple[float, float], steps: int = 4) -> None:
    qtbot.mouseMove(canvas, widget_point(canvas, *start))
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=widget_point(canvas, *start))
    for k in range(1, steps + 1):
        t = k / steps
        qtbot.mouseMove(canvas, widget_point(canvas, start[0] + (end[0] - start[0]) * t,
                                             start[1] + (end[1] - start[1]) * t))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=widget_point(canvas, *end))


def key(qtbot, widget, k, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(widget, k, modifier)


def wait_for_saves() -> None:
    """Let every open window's writer thread finish (saves are written off the GUI thread), the
    way a person waits for the status bar's "saved"."""
    from PySide6.QtWidgets import QApplication
    from shiboken6 import isValid

    for widget in QApplication.topLevelWidgets():
        document = getattr(widget, "document", None)
        if isValid(widget) and hasattr(document, "flush"):
            document.flush()


def disk_shapes(project: Path, image: str) -> list[dict] | None:
    """The shapes in the image's JSON on disk (None when there is no file), once the writes of
    the open windows are done."""
    wait_for_saves()
    path = (project / image).with_suffix(".json")
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))["shapes"]


def shot(window, name: str) -> Path:
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()  # pending layout requests (status bar labels) first
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    window.grab().save(str(path))
    return path


def near(points, expected, tol: float = 1.0) -> bool:
    """Points equal up to the rounding of clicks to whole widget pixels."""
    return len(points) == len(expected) and all(
        abs(p[0] - e[0]) <= tol and abs(p[1] - e[1]) <= tol for p, e in zip(points, expected))


SQUARE = [(100.0, 100.0), (300.0, 100.0), (300.0, 250.0), (100.0, 250.0)]


def draw_square(qtbot, window) -> None:
    """A polygon drawn with the polygon tool through SQUARE's corners, closed with Enter."""
    window.set_tool("polygon")
    for x, y in SQUARE:
        click(qtbot, window.canvas, x, y)
    key(qtbot, window.canvas, Qt.Key.Key_Return)
