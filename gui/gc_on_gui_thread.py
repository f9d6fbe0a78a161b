"""Python's cyclic garbage collector runs on whichever thread happens to allocate when a threshold
is crossed. When that is a worker (a preview job building polygons) and the garbage holds Qt
wrappers (a closed window's menus), the worker destroys QObjects: Qt takes their locks, shiboken
then waits for the GIL, and the GUI thread, holding the GIL, waits for those locks. The window
freezes for good (seen in a test run: py-spy showed exactly these two stacks).

So the window turns automatic collection off and collects on the GUI thread instead, from a
timer, with the same thresholds. Objects without cycles are still freed at once by reference
counting; only cycles wait for the next tick.
"""
from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QTimer
from shiboken6 import isValid

INTERVAL_MS = 500

_collector: "GuiThreadCollector | None" = None


class GuiThreadCollector(QObject):
    def __init__(self, parent: QObject, interval_ms: int = INTERVAL_MS):
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check)
        self.timer.start(interval_ms)

    def check(self) -> None:
        """Collect the generations whose counts passed their thresholds, as gc itself would."""
        g0, g1, g2 = gc.get_count()
        if g0 > self.threshold[0]:
            gc.collect(0)
            if g1 > self.threshold[1]:
                gc.collect(1)
                if g2 > self.threshold[2]:
                    gc.collect(2)


def collect_garbage_on_gui_thread() -> GuiThreadCollector:
    """Install the collector once per application (it lives as long as the QApplication)."""
    global _collector
    app = QCoreApplication.instance()
    if _collector is None or not isValid(_collector):
        _collector = GuiThreadCollector(app)
    return _collector
