"""Background work off the GUI thread: full-resolution photo decoding and the file-state scan.

Neither touches a Qt object from its thread: results go through an Inbox (see gui/inbox.py).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from PIL import Image
from PySide6.QtCore import QEvent, QObject, QRunnable, QThread, QThreadPool, Signal
from PySide6.QtGui import QImage
from shiboken6 import isValid

from core.annotation import Annotation
from core.errors import AnnotationError, MasklabError
from core.images import image_size, load_image
from core.project import Project

from .inbox import Inbox

STATE_UNKNOWN = "unknown"
STATE_UNLABELLED = "unlabelled"
STATE_LABELLED = "labelled"
STATE_NEEDS_WORK = "needs work"
STATE_REVIEWED = "reviewed"
STATE_BROKEN = "broken"
STATES = (STATE_UNLABELLED, STATE_LABELLED, STATE_NEEDS_WORK, STATE_REVIEWED, STATE_BROKEN)


def pil_to_qimage(img: Image.Image) -> QImage:
    """An RGB PIL image as a QImage in the raster engine's native 32-bit format, so that
    QPixmap.fromImage in the GUI thread needs no conversion (the costly part for big photos)."""
    data = img.tobytes("raw", "RGB")
    rgb = QImage(data, img.width, img.height, 3 * img.width, QImage.Format.Format_RGB888)
    return rgb.convertToFormat(QImage.Format.Format_RGB32)  # a new image that owns its pixels


def state_of(annotation: Annotation | None) -> str:
    if annotation is None or not annotation.shapes:
        return STATE_REVIEWED if annotation is not None and annotation.reviewed else STATE_UNLABELLED
    if annotation.reviewed:
        return STATE_REVIEWED
    if annotation.needs_work:
        return STATE_NEEDS_WORK
    return STATE_LABELLED


def unexpected_problem(path: Path, error: BaseException) -> str:
    """The message for an error no reader anticipated (RecursionError, MemoryError, a bug): the
    image gets it as its broken mark instead of a background thread dying silently."""
    text = str(error).splitlines()[0][:200] if str(error) else ""
    return f"{path}: cannot be read ({type(error).__name__}{': ' + text if text else ''})"


def scan_one(project: Project, image: Path) -> tuple[str, dict[str, int], str]:
    """(state, counts per label, problem) of one image, reading only its header and sidecar.
    Never raises: whatever goes wrong becomes the image's broken state and its reason."""
    try:
        image_size(project.abs_path(image))
    except MasklabError as e:
        return STATE_BROKEN, {}, str(e)
    except Exception as e:  # noqa: BLE001 (MemoryError and RecursionError are Exceptions too)
        return STATE_BROKEN, {}, unexpected_problem(project.abs_path(image), e)
    try:
        ann = project.load_annotation(image)
        return state_of(ann), (ann.label_counts() if ann else {}), ""
    except AnnotationError as e:
        return STATE_BROKEN, {}, str(e)
    except Exception as e:  # noqa: BLE001
        return STATE_BROKEN, {}, unexpected_problem(project.annotation_path(image), e)


class _PhotoJob(QRunnable):
    def __init__(self, path: Path, request: int, put: Callable[[tuple], None]):
        super().__init__()
        self.path, self.request, self.put = path, request, put

    def run(self) -> None:
        try:
            image = pil_to_qimage(load_image(self.path))
        except MasklabError as e:
            self.put(("failed", str(self.path), self.request, str(e)))
            return
        except Exception as e:  # noqa: BLE001 (MemoryError included): a mark, not a dead thread
            self.put(("failed", str(self.path), self.request, unexpected_problem(self.path, e)))
            return
        self.put(("loaded", str(self.path), self.request, image))


class PhotoLoader(QObject):
    """Decodes photos at full resolution on the thread pool; stale results are dropped by id."""

    loaded = Signal(str, int, QImage)  # path, request id, image
    failed = Signal(str, int, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._inbox = Inbox(self._deliver, lambda: self._pool.activeThreadCount() > 0, self)

    def request(self, path: Path, request_id: int) -> None:
        self._pool.clear()  # a queued, not yet started request for an older image is useless
        self._pool.start(_PhotoJob(path, request_id, self._inbox.put))
        self._inbox.expect()

    def wait(self, msecs: int = 5000) -> bool:
        """Block until the decode is done, and hand over its result now."""
        done = self._pool.waitForDone(msecs)
        self._inbox.deliver()
        return done

    def _deliver(self, item: tuple) -> None:
        kind, *args = item
        (self.loaded if kind == "loaded" else self.failed).emit(*args)


_released: set[QThread] = set()


def release_thread(thread: QThread) -> None:
    """Let a QThread that is still running outlive its parent (a window being deleted): Qt aborts
    the program when a running QThread is destroyed. Its signals are disconnected by the caller;
    it is kept here until it finishes."""
    if not thread.isRunning():
        return
    thread.setParent(None)
    _released.add(thread)
    thread.finished.connect(lambda t=thread: _released.discard(t))


class StateScanner:
    """Reads images' headers and sidecars on a plain Python thread and hands the results over in
    batches, `on_batch(results)` on the GUI thread, then `on_finished()` once every batch is in.
    The thread touches no Qt object, so the window may be destroyed while it still reads."""

    BATCH_SECONDS = 0.15

    def __init__(self, project: Project, images: list[Path], parent: QObject,
                 on_batch: Callable[[list], None], on_finished: Callable[[], None] = lambda: None,
                 rows: list[int] | None = None):
        self.project = project
        self.images = images
        self.rows = rows if rows is not None else list(range(len(images)))  # the model row of each image
        self._on_batch, self._on_finished = on_batch, on_finished
        self._stop = threading.Event()
        self._inbox = Inbox(self._deliver, lambda: self._thread.is_alive(), parent)
        self._thread = threading.Thread(target=self._run, args=(self._stop, self._inbox.put), daemon=True,
                                        name="state-scan")

    def start(self) -> None:
        self._thread.start()
        self._inbox.expect()

    def _run(self, stop: threading.Event, put: Callable[[tuple], None]) -> None:
        pending = []
        last = time.monotonic()
        for row, image in zip(self.rows, self.images):
            if stop.is_set():
                return
            pending.append((row, *scan_one(self.project, image)))
            if time.monotonic() - last > self.BATCH_SECONDS:
                put(("batch", pending))
                pending, last = [], time.monotonic()
                time.sleep(0.001)  # let the GUI thread take the GIL
        if pending:
            put(("batch", pending))
        put(("finished",))

    def _deliver(self, item: tuple) -> None:
        if item[0] == "batch":
            self._on_batch(item[1])
        else:
            self._inbox.deleteLater()  # its work is over
            self._on_finished()

    def is_running(self) -> bool:
        return self._thread.is_alive()

    def interrupt(self) -> None:
        """Stop after the image being read; nothing more is delivered."""
        self._stop.set()
        if isValid(self._inbox):
            self._inbox.stop()
            self._inbox.deleteLater()  # the thread holds only the queue, which outlives it

    def wait(self, msecs: int) -> bool:
        self._thread.join(msecs / 1000)
        return not self._thread.is_alive()


class CloseWatcher(QObject):
    """Calls `on_close` when the watched window gets its Close event, so background work (a
    training process, a prediction thread) is stopped before Qt destroys the window's objects."""

    def __init__(self, parent: QObject, on_close: Callable[[], None]):
        super().__init__(parent)
        self.on_close = on_close

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close:
            self.on_close()
        return False
