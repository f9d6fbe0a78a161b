"""Garbage holding Qt objects is collected on the GUI thread, never on a worker that happens to
allocate (gui/gc_on_gui_thread.py): that is the deadlock a test run once froze in."""
from __future__ import annotations

import gc
import threading
import weakref

from PySide6.QtCore import QObject

from gui.gc_on_gui_thread import collect_garbage_on_gui_thread


def test_cycles_of_qt_objects_die_on_the_gui_thread(qtbot):
    collect_garbage_on_gui_thread()
    assert not gc.isenabled()
    died_on: list[str] = []
    for _ in range(30):
        obj = QObject()
        obj.cycle = obj  # only the cyclic collector can free it
        weakref.finalize(obj, lambda: died_on.append(threading.current_thread().name))
    del obj

    def allocate() -> None:  # far past gc's thresholds, as a preview job building polygons does
        kept = [[] for _ in range(20000)]
        assert len(kept) == 20000

    worker = threading.Thread(target=allocate, name="worker")
    worker.start()
    worker.join()
    assert died_on == []  # the worker's allocations collected nothing
    kept_here = [[] for _ in range(2000)]  # the GUI thread allocates too: past the threshold now
    qtbot.waitUntil(lambda: len(died_on) == 30, timeout=5000)  # the GUI thread's timer did
    assert set(died_on) == {threading.main_thread().name} and len(kept_here) == 2000
