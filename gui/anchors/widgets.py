"""Small pieces the anchors dock and the statistics window share: message styles, preset names,
sliders that keep their arrow keys, and the wheel guard that lets a scrolled dock scroll."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (QAbstractScrollArea, QAbstractSlider, QAbstractSpinBox, QApplication, QComboBox, QSlider,
                               QWidget)

ERROR_STYLE = "color: #c62828;"
PROJECT_ITEM, CUSTOM_ITEM = "Project settings", "Custom"


class KeySlider(QSlider):
    """A slider that keeps its keys: the window binds Left / Right to previous / next image, and a
    window shortcut would otherwise take the arrow keys from a focused slider."""

    KEYS = (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp,
            Qt.Key.Key_PageDown, Qt.Key.Key_Home, Qt.Key.Key_End)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and event.key() in self.KEYS:
            event.accept()
            return True
        return super().event(event)


def make_slider(maximum: int = 100) -> QSlider:
    s = KeySlider(Qt.Orientation.Horizontal)
    s.setRange(0, maximum)
    s.setSingleStep(1)
    s.setPageStep(5)
    return s


class WheelGuard(QObject):
    """Wheel events over a spin box, combo box or slider that does not have the focus scroll the
    scroll area around it instead of silently changing the value; a click gives the widget the
    focus, and then the wheel changes it. (The event is handed to the area's scroll bar: Qt only
    propagates wheel events that come from the window system, so ignoring it is not enough.)"""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.Wheel or not isinstance(watched, QWidget) or watched.hasFocus():
            return False
        area = watched.parentWidget()
        while area is not None and not isinstance(area, QAbstractScrollArea):
            area = area.parentWidget()
        if area is not None:
            bar = area.verticalScrollBar() if event.angleDelta().y() else area.horizontalScrollBar()
            QApplication.sendEvent(bar, QWheelEvent(
                event.position(), event.globalPosition(), event.pixelDelta(), event.angleDelta(), event.buttons(),
                event.modifiers(), event.phase(), event.inverted()))
        event.accept()
        return True


def guard_wheel(root: QWidget, guard: WheelGuard) -> None:
    """Install `guard` on every value widget below `root` (and stop the wheel from focusing them)."""
    for widget in root.findChildren(QWidget):
        if isinstance(widget, (QAbstractSpinBox, QComboBox, QAbstractSlider)):
            widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            widget.installEventFilter(guard)
