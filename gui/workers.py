"""Background work off the GUI thread: full-resolution photo decoding and the file-state scan.

Both report through Qt signals (queued into the GUI thread); neither touches widgets.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from PIL import Image
from PySide6.QtCore import QEvent, QObject, QRunnable, QThread, QThreadPool, Signal
from PySide6.QtGui import QImage

from core.annotation import Annotation
from core.errors import AnnotationError, MasklabError
from core.images import image_size, load_image
from core.project import Project

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


class _PhotoSignals(QObject):
    loaded = Signal(str, int, QImage)  # path, request id, image
    failed = Signal(str, int, str)


class _PhotoJob(QRunnable):
    def __init__(self, path: Path, request: int, signals: _PhotoSignals):
        super().__init__()
        self.path, self.request, self.signals = path, request, signals

    def run(self) -> None:
        try:
            image = pil_to_qimage(load_image(self.path))
        except MasklabError as e:
            self._emit(self.signals.failed, str(self.path), self.request, str(e))
            return
        except Exception as e:  # noqa: BLE001 (MemoryError included): a mark, not a dead thread
            self._emit(self.signals.failed, str(self.path), self.request, unexpected_problem(self.path, e))
            return
        self._emit(self.signals.loaded, str(self.path), self.request, image)

    @staticmethod
    def _emit(signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the canvas was closed while decoding: nobody is left to show it
            pass


class PhotoLoader(QObject):
    """Decodes photos at full resolution on the thread pool; stale results are dropped by id."""

    loaded = Signal(str, int, QImage)
    failed = Signal(str, int, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._signals = _PhotoSignals()
        self._signals.loaded.connect(self.loaded)
        self._signals.failed.connect(self.failed)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)

    def request(self, path: Path, request_id: int) -> None:
        self._pool.clear()  # a queued, not yet started request for an older image is useless
        self._pool.start(_PhotoJob(path, request_id, self._signals))

    def wait(self, msecs: int = 5000) -> bool:
        return self._pool.waitForDone(msecs)


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


class StateScanner(QThread):
    """Reads every image's header and sidecar in the background, in batches of results."""

    batch = Signal(list)  # [(row, state, counts, problem)]

    BATCH_SECONDS = 0.15

    def __init__(self, project: Project, images: list[Path], parent: QObject | None = None,
                 rows: list[int] | None = None):
        super().__init__(parent)
        self.project = project
        self.images = images
        self.rows = rows if rows is not None else list(range(len(images)))  # the model row of each image

    def run(self) -> None:
        pending = []
        last = time.monotonic()
        for row, image in zip(self.rows, self.images):
            if self.isInterruptionRequested():
                return
            pending.append((row, *scan_one(self.project, image)))
            if time.monotonic() - last > self.BATCH_SECONDS:
                self.batch.emit(pending)
                pending, last = [], time.monotonic()
                self.msleep(1)  # let the GUI thread take the GIL
        if pending:
            self.batch.emit(pending)


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
