"""Shows a photo on the canvas fast: a reduced first frame decoded at about the canvas size (JPEG
draft decoding), then the full resolution from a background decode."""
from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from core.errors import MasklabError
from core.images import image_size, load_image

from ..workers import PhotoLoader, pil_to_qimage
from .view import CanvasView

GUI_THREAD_DECODE_PIXELS = 4_000_000  # a 4 MP PNG decodes in about 40 ms; bigger ones go to the pool


class PhotoPresenter(QObject):
    failed = Signal(str, str)  # image path, reason
    fullResolutionShown = Signal(str)

    def __init__(self, canvas: CanvasView, parent: QObject | None = None):
        super().__init__(parent)
        self.canvas = canvas
        self.loader = PhotoLoader(self)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_failed)
        self._request = 0
        self._path: Path | None = None
        self._size = (0, 0)

    def show(self, path: str | Path) -> bool:
        """Display `path`; False (and a readable message on the canvas) when it cannot be read."""
        self._request += 1
        self._path = Path(path)
        try:
            width, height = image_size(path)
            if not self._first_frame_is_cheap(Path(path), width, height):
                # only JPEGs decode reduced; any other big photo is decoded whole, which belongs
                # on the background thread: the canvas shows the shapes meanwhile
                self._size = (width, height)
                self.canvas.set_message("")
                self.canvas.set_photo(None, width, height)
                self.loader.request(self._path, self._request)
                return True
            first = load_image(path, max_side=self._first_frame_side(Path(path), width, height))
        except MasklabError as e:
            self.canvas.set_photo(None, 0, 0)
            self.canvas.set_message(f"This image cannot be shown.\n\n{e}")
            self.failed.emit(str(path), str(e))
            return False
        self._size = (width, height)
        self.canvas.set_message("")
        self.canvas.set_photo(pil_to_qimage(first), width, height)
        if first.size != (width, height):
            self.loader.request(self._path, self._request)
        return True

    @staticmethod
    def _first_frame_is_cheap(path: Path, width: int, height: int) -> bool:
        """Whether the reduced first frame can be decoded on the GUI thread: JPEGs (draft mode
        decodes them at 1/8 scale) and small images; never a whole big PNG, TIFF or WebP."""
        return path.suffix.lower() in (".jpg", ".jpeg") or width * height <= GUI_THREAD_DECODE_PIXELS

    def _first_frame_side(self, path: Path, width: int, height: int) -> int:
        """The longer side to decode first: the photo's fitted size in device pixels, rounded up
        for JPEGs to the next size their decoder produces directly (1/8, 1/4, 1/2 or 1/1), since
        resizing afterwards in Pillow costs as much as the decoding itself."""
        fit = self.canvas.fit_zoom_for(width, height)
        ratio = self.canvas.devicePixelRatioF() or 1.0
        side = max(64, math.ceil(max(width, height) * fit * ratio))
        if path.suffix.lower() in (".jpg", ".jpeg"):
            longer = max(width, height)
            for k in (8, 4, 2):
                if math.ceil(longer / k) >= side:
                    return math.ceil(longer / k)
            return longer
        return side

    def wait_full_resolution(self, timeout_ms: int = 10000) -> bool:
        """Block until the background decode is done and shown (benchmarks, tests)."""
        from PySide6.QtCore import QCoreApplication, QElapsedTimer

        timer = QElapsedTimer()
        timer.start()
        self.loader.wait(timeout_ms)
        QCoreApplication.processEvents()  # the decoded image's queued signal (no first frame was shown)
        while timer.elapsed() < timeout_ms and self.canvas.photo_layer.image is not None and \
                self.canvas.photo_layer.scale_to_image != 1.0:
            QCoreApplication.processEvents()
        self.canvas.photo_layer.build_scaled(self.canvas.zoom)
        return self.canvas.photo_layer.scale_to_image == 1.0

    def _on_loaded(self, path: str, request: int, image: QImage) -> None:
        if request == self._request:
            self.canvas.set_photo(image, *self._size, keep_view=True)
            self.fullResolutionShown.emit(path)

    def _on_failed(self, path: str, request: int, reason: str) -> None:
        if request == self._request:  # the reduced frame decoded but the full image does not
            if self.canvas.photo_layer.image is None:  # nothing shown yet: say why on the canvas
                self.canvas.set_message(f"This image cannot be shown.\n\n{reason}")
            self.failed.emit(path, reason)

    def wait(self, msecs: int = 5000) -> bool:
        return self.loader.wait(msecs)
