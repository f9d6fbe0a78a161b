"""Results of background threads handed to the GUI thread through a plain queue.

A worker thread that emits a Qt signal takes a connection lock; if the window receiving it is
being destroyed at that moment, the GUI thread can hold the GIL while waiting for that lock and the
worker wait for the GIL: a deadlock that no timeout breaks. So a worker here never touches a Qt
object. It puts plain tuples in a queue.SimpleQueue, and a timer on the GUI thread delivers them
while the work is under way. Destroying the owner only stops its timer; a worker still running
finishes into a queue nobody reads.
"""
from __future__ import annotations

from queue import Empty, SimpleQueue
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, QTimer

POLL_MS = 10


class Inbox(QObject):
    """`put` (thread-safe, Qt-free) is what workers are given; `deliver(item)` runs on the GUI
    thread for each item. `busy()` says whether any worker may still put something; the timer
    runs from `expect()` until the work is over and every item is delivered."""

    def __init__(self, deliver: Callable[[Any], None], busy: Callable[[], bool], parent: QObject | None = None,
                 poll_ms: int = POLL_MS):
        super().__init__(parent)
        self._queue: SimpleQueue = SimpleQueue()
        self.put = self._queue.put
        self._deliver_one = deliver
        self._busy = busy
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self.deliver)

    def expect(self) -> None:
        """Work was handed to a worker: poll until it is over."""
        if not self._timer.isActive():
            self._timer.start()

    def deliver(self) -> None:
        """Hand over what has arrived; stop polling once no worker is left."""
        busy = self._busy()  # read first: whatever a finished worker put is in the queue by now
        while True:
            try:
                item = self._queue.get_nowait()
            except Empty:
                break
            self._deliver_one(item)
        if not busy:
            self._timer.stop()

    def stop(self) -> None:
        """Deliver nothing more (the owner is closing)."""
        self._timer.stop()
        self._deliver_one = lambda item: None


class InboxThread(QThread):
    """A QThread whose `run()` reports with `self.post("signal_name", *args)`: the signal is then
    emitted on the GUI thread by an Inbox, so the thread itself touches no Qt object. Everything
    posted is delivered before the handlers of `finished` run."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._inbox = Inbox(self._emit_posted, self.isRunning, self)
        self._put = self._inbox.put
        self.finished.connect(self._inbox.deliver)  # first of the finished handlers

    def start(self, priority: QThread.Priority = QThread.Priority.InheritPriority) -> None:
        super().start(priority)
        self._inbox.expect()

    def post(self, signal_name: str, *args: Any) -> None:
        """From the thread: emit this signal with these arguments on the GUI thread."""
        self._put((signal_name, args))

    def _emit_posted(self, item: tuple) -> None:
        name, args = item
        getattr(self, name).emit(*args)
