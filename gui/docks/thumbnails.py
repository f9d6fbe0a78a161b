"""File-list thumbnails: decoded on a background thread only for the rows the list shows, kept in a
bounded cache, and drawn with the image's state dot in the corner."""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap

from core.errors import MasklabError
from core.images import load_image

from ..inbox import Inbox
from ..style import STATE_COLORS
from ..workers import pil_to_qimage, unexpected_problem

THUMB_SIZE = (48, 36)
CACHE_LIMIT = 1500  # thumbnails; about 7 MB


class _ThumbJob(QRunnable):
    def __init__(self, path: Path, put: Callable[[tuple], None]):
        super().__init__()
        self.path, self.put = path, put

    def run(self) -> None:
        try:
            image = pil_to_qimage(load_image(self.path, max_side=max(THUMB_SIZE) * 2))
            image = image.scaled(*THUMB_SIZE, Qt.AspectRatioMode.KeepAspectRatio,
                                 Qt.TransformationMode.SmoothTransformation)
        except MasklabError as e:
            self.put((str(self.path), None, str(e)))
        except Exception as e:  # noqa: BLE001 (MemoryError included): a mark, not a dead thread
            self.put((str(self.path), None, unexpected_problem(self.path, e)))
        else:
            self.put((str(self.path), image, ""))


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
        self._stopped = False
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._inbox = Inbox(self._deliver, lambda: self._pool.activeThreadCount() > 0, self)

    def icon(self, image: Path, state: str) -> QIcon | None:
        key = str(self.root / image)
        thumb = self._images.get(key)
        if thumb is None:
            if key not in self._pending and key not in self._failed and not self._stopped:
                self._pending.add(key)
                self._pool.start(_ThumbJob(Path(key), self._inbox.put))
                self._inbox.expect()
            return None
        self._images.move_to_end(key)
        return QIcon(_with_state_dot(thumb, state))

    def forget(self, image: Path) -> None:
        key = str(self.root / image)
        self._images.pop(key, None)
        self._failed.discard(key)

    def wait(self, msecs: int = 5000) -> bool:
        """Block until the queued decodes are done, and hand over their results now."""
        done = self._pool.waitForDone(msecs)
        self._inbox.deliver()
        return done

    def stop(self, wait_ms: int = 5000) -> bool:
        """The list closes: drop the queued decodes, start no new one, and wait up to `wait_ms`
        for the running one."""
        self._stopped = True
        self._pool.clear()
        self._pending.clear()
        self._inbox.stop()
        return self._pool.waitForDone(wait_ms)

    def _deliver(self, item: tuple) -> None:
        key, image, reason = item
        self._pending.discard(key)
        if image is None:
            self._failed.add(key)  # the state dot (broken) stays its icon
            self.failed.emit(key, reason)
            return
        self._images[key] = image
        while len(self._images) > CACHE_LIMIT:
            self._images.popitem(last=False)
        self.ready.emit(key)


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
