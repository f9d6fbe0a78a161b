"""Background work off the GUI thread: full-resolution photo decoding and the file-state scan.

Both report through Qt signals (queued into the GUI thread); neither touches widgets.
"""
from __future__ import annotations

import time
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal
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


def scan_one(project: Project, image: Path) -> tuple[str, dict[str, int], str]:
    """(state, counts per label, problem) of one image, reading only its header and sidecar."""
    try:
        image_size(project.abs_path(image))
    except MasklabError as e:
        return STATE_BROKEN, {}, str(e)
    try:
        ann = project.load_annotation(image)
    except AnnotationError as e:
        return STATE_BROKEN, {}, str(e)
    return state_of(ann), (ann.label_counts() if ann else {}), ""


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


class StateScanner(QThread):
    """Reads every image's header and sidecar in the background, in batches of results."""

    batch = Signal(list)  # [(row, state, counts, problem)]

    BATCH_SECONDS = 0.15

    def __init__(self, project: Project, images: list[Path], parent: QObject | None = None):
        super().__init__(parent)
        self.project = project
        self.images = images

    def run(self) -> None:
        pending = []
        last = time.monotonic()
        for row, image in enumerate(self.images):
            if self.isInterruptionRequested():
                return
            pending.append((row, *scan_one(self.project, image)))
            if time.monotonic() - last > self.BATCH_SECONDS:
                self.batch.emit(pending)
                pending, last = [], time.monotonic()
                self.msleep(1)  # let the GUI thread take the GIL
        if pending:
            self.batch.emit(pending)
