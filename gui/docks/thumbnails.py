"""File-list thumbnails: decoded on a background thread only for the rows the list shows, kept in a
bounded cache, and drawn with the image's state dot in the corner."""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap

from core.errors import MasklabError
from core.images import load_image

from ..style import STATE_COLORS
from ..workers import pil_to_qimage, unexpected_problem

THUMB_SIZE = (48, 36)
CACHE_LIMIT = 1500  # thumbnails; about 7 MB


class _Signals(QObject):
    loaded = Signal(str, QImage)
    failed = Signal(str, str)  # path, reason


class _ThumbJob(QRunnable):
    def __init__(self, path: Path, signals: _Signals):
        super().__init__()
        self.path, self.signals = path, signals

    def run(self) -> None:
        try:
            image = pil_to_qimage(load_image(self.path, max_side=max(THUMB_SIZE) * 2))
            image = image.scaled(*THUMB_SIZE, Qt.AspectRatioMode.KeepAspectRatio,
                                 Qt.TransformationMode.SmoothTransformation)
        except MasklabError as e:
            result = (self.signals.failed, str(self.path), str(e))
        except Exception as e:  # noqa: BLE001 (MemoryError included): a mark, not a dead thread
            result = (self.signals.failed, str(self.path), unexpected_problem(self.path, e))
        else:
            result = (self.signals.loaded, str(self.path), image)
        try:
            result[0].emit(*result[1:])
        except RuntimeError:  # the list was closed meanwhile
            pass


class ThumbnailCache(QObject):
    """`icon(path, state)` returns the thumbnail when ready, else None and queues its decoding;
    `ready(path)` says when to ask again; `failed(path, reason)` when the image cannot be decoded."""

    ready = Signal(str)
    failed = Signal(str, str)

    def __init__(self, root: Path, parent: QObject | None = None):
        super().__init__(parent)
        self.root = root
        self._images: OrderedDict[str, QImage] = OrderedDict()
        self._pending: set[str] = set()
        self._failed: set[str] = set()
        self._signals = _Signals()
        self._signals.loaded.connect(self._on_loaded)
        self._signals.failed.connect(self._on_failed)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)

    def icon(self, image: Path, state: str) -> QIcon | None:
        key = str(self.root / image)
        thumb = self._images.get(key)
        if thumb is None:
            if key not in self._pending and key not in self._failed:
                self._pending.add(key)
                self._pool.start(_ThumbJob(Path(key), self._signals))
            return None
        self._images.move_to_end(key)
        return QIcon(_with_state_dot(thumb, state))

    def forget(self, image: Path) -> None:
        key = str(self.root / image)
        self._images.pop(key, None)
        self._failed.discard(key)

    def wait(self, msecs: int = 5000) -> bool:
        return self._pool.waitForDone(msecs)

    def stop(self, wait_ms: int = 5000) -> bool:
        """Drop the queued decodes and wait up to `wait_ms` for the running one."""
        self._pool.clear()
        self._pending.clear()
        return self._pool.waitForDone(wait_ms)

    def _on_loaded(self, key: str, image: QImage) -> None:
        self._pending.discard(key)
        self._images[key] = image
        while len(self._images) > CACHE_LIMIT:
            self._images.popitem(last=False)
        self.ready.emit(key)

    def _on_failed(self, key: str, reason: str) -> None:
        self._pending.discard(key)
        self._failed.add(key)  # the state dot (broken) stays its icon
        self.failed.emit(key, reason)


def placeholder_icon(state: str) -> QIcon:
    """The state dot alone, at thumbnail size so every row has the same height."""
    icon = _placeholders.get(state)
    if icon is None:
        icon = _placeholders[state] = QIcon(_with_state_dot(None, state))
    return icon


_placeholders: dict[str, QIcon] = {}


def _with_state_dot(thumb: QImage | None, state: str) -> QPixmap:
    pix = QPixmap(*THUMB_SIZE)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    if thumb is not None:
        p.drawImage((THUMB_SIZE[0] - thumb.width()) // 2, (THUMB_SIZE[1] - thumb.height()) // 2, thumb)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(QColor("white"))
    p.setBrush(QColor(STATE_COLORS.get(state, "#9e9e9e")))
    p.drawEllipse(THUMB_SIZE[0] - 13, THUMB_SIZE[1] - 13, 11, 11)
    p.end()
    return pix
