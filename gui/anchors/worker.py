"""Background computation for the anchors mode: one job at a time on a private thread, newest wins.

`LatestRunner.schedule(fn, *args)` (re)starts a short debounce timer; when it fires the job is
handed to the thread, dropping any job still queued. A job that was already running finishes,
but its result is dropped because a newer request exists. Results come back as Qt signals in
the GUI thread; the job never touches widgets.
"""
from __future__ import annotations

import itertools
import sys
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from core.errors import MasklabError

DEBOUNCE_MS = 30


class _JobSignals(QObject):
    finished = Signal(int, object)
    failed = Signal(int, str)


class _Job(QRunnable):
    def __init__(self, request: int, fn: Callable[..., Any], args: tuple, signals: _JobSignals):
        super().__init__()
        self.request, self.fn, self.args, self.signals = request, fn, args, signals

    def run(self) -> None:
        try:
            result = self.fn(*self.args)
        except (MasklabError, ValueError, OSError) as e:  # bad settings or files: said in the GUI
            self.signals.failed.emit(self.request, str(e))
            return
        except Exception as e:  # a bug: keep the window alive, show it, and log the traceback
            traceback.print_exc(file=sys.stderr)
            self.signals.failed.emit(self.request, f"{type(e).__name__}: {e}")
            return
        self.signals.finished.emit(self.request, result)


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
        self._signals = _JobSignals()
        self._signals.finished.connect(self._on_finished)
        self._signals.failed.connect(self._on_failed)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
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
        return self._pool.waitForDone(msecs)

    def _start_pending(self) -> int:
        if self._pending is None:
            return self.latest
        fn, args = self._pending
        self._pending = None
        self.latest = next(self._ids)
        self._pool.clear()  # a queued, not yet started job is stale now
        self._running = 1
        self._pool.start(_Job(self.latest, fn, args, self._signals))
        return self.latest

    def _done(self, request: int) -> bool:
        if request != self.latest:
            return False
        self._running = 0
        if not self._timer.isActive():
            self.busyChanged.emit(False)
        return True

    def _on_finished(self, request: int, result: object) -> None:
        if self._done(request):
            self.finished.emit(request, result)

    def _on_failed(self, request: int, message: str) -> None:
        if self._done(request):
            self.failed.emit(request, message)
