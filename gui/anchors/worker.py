"""Background computation for the anchors mode: one job at a time on a private thread, newest wins.

`LatestRunner.schedule(fn, *args)` (re)starts a short debounce timer; when it fires the job is
handed to the thread, dropping any job still queued. A job that was already running finishes,
but its result is dropped because a newer request exists. Results come back through an Inbox
(gui/inbox.py) as signals in the GUI thread; the job touches no Qt object.
"""
from __future__ import annotations

import itertools
import sys
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from core.errors import MasklabError

from ..inbox import Inbox

DEBOUNCE_MS = 30


class _Job(QRunnable):
    def __init__(self, request: int, fn: Callable[..., Any], args: tuple, put: Callable[[tuple], None]):
        super().__init__()
        self.request, self.fn, self.args, self.put = request, fn, args, put

    def run(self) -> None:
        try:
            result = self.fn(*self.args)
        except (MasklabError, ValueError, OSError) as e:  # bad settings or files: said in the GUI
            self.put(("failed", self.request, str(e)))
            return
        except Exception as e:  # a bug: keep the window alive, show it, and log the traceback
            traceback.print_exc(file=sys.stderr)
            self.put(("failed", self.request, f"{type(e).__name__}: {e}"))
            return
        self.put(("finished", self.request, result))


class LatestRunner(QObject):
    """Runs callables off the GUI thread; only the newest request's outcome is reported."""

    finished = Signal(int, object)  # request id, result
    failed = Signal(int, str)  # request id, message
    busyChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None, debounce_ms: int = DEBOUNCE_MS):
        super().__init__(parent)
        self._ids = itertools.count(1)
        self.latest = 0
        self._pending: tuple[Callable[..., Any], tuple] | None = None
        self._running = 0
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._inbox = Inbox(self._deliver, lambda: self._pool.activeThreadCount() > 0, self)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(debounce_ms)
        self._timer.timeout.connect(self._start_pending)

    @property
    def busy(self) -> bool:
        """A request is waiting for its result (debouncing, queued or running)."""
        return self._timer.isActive() or self._running > 0

    def schedule(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` after the debounce delay, unless another request comes first."""
        self._pending = (fn, args)
        was_busy = self.busy
        self._timer.start()
        if not was_busy:
            self.busyChanged.emit(True)

    def submit(self, fn: Callable[..., Any], *args: Any) -> int:
        """Run `fn(*args)` now (on the thread); returns its request id."""
        self._timer.stop()
        self._pending = (fn, args)
        return self._start_pending()

    def cancel(self) -> None:
        """Forget every outstanding request (a running job finishes unreported)."""
        self._timer.stop()
        self._pending = None
        self._pool.clear()
        self.latest = next(self._ids)
        self._running = 0
        self.busyChanged.emit(False)

    def wait(self, msecs: int = 10000) -> bool:
        """Block until the running job is done, and hand over its outcome now."""
        done = self._pool.waitForDone(msecs)
        self._inbox.deliver()
        return done

    def _start_pending(self) -> int:
        if self._pending is None:
            return self.latest
        fn, args = self._pending
        self._pending = None
        self.latest = next(self._ids)
        self._pool.clear()  # a queued, not yet started job is stale now
        self._running = 1
        self._pool.start(_Job(self.latest, fn, args, self._inbox.put))
        self._inbox.expect()
        return self.latest

    def _done(self, request: int) -> bool:
        if request != self.latest:
            return False
        self._running = 0
        if not self._timer.isActive():
            self.busyChanged.emit(False)
        return True

    def _deliver(self, item: tuple) -> None:
        kind, request, payload = item
        (self._on_finished if kind == "finished" else self._on_failed)(request, payload)

    def _on_finished(self, request: int, result: object) -> None:
        if self._done(request):
            self.finished.emit(request, result)

    def _on_failed(self, request: int, message: str) -> None:
        if self._done(request):
            self.failed.emit(request, message)
