"""Brightness, contrast and gamma of the photo on screen: one 256-entry lookup table applied to
the decoded image once per change (never per repaint, never written to the file)."""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
from PySide6.QtGui import QImage

BRIGHTNESS_RANGE = (-1.0, 1.0)  # added, as a fraction of full scale
CONTRAST_RANGE = (0.2, 5.0)  # slope around mid grey
GAMMA_RANGE = (0.2, 5.0)  # above 1 lifts the shadows


@dataclass(frozen=True)
class PhotoAdjustment:
    brightness: float = 0.0
    contrast: float = 1.0
    gamma: float = 1.0

    def is_identity(self) -> bool:
        return self.brightness == 0.0 and self.contrast == 1.0 and self.gamma == 1.0

    def clamped(self) -> "PhotoAdjustment":
        def clip(v: float, bounds: tuple[float, float]) -> float:
            return float(min(max(v, bounds[0]), bounds[1]))

        return PhotoAdjustment(clip(self.brightness, BRIGHTNESS_RANGE), clip(self.contrast, CONTRAST_RANGE),
                               clip(self.gamma, GAMMA_RANGE))

    def lut(self) -> np.ndarray:
        """(256,) uint8: gamma first (on the linear 0..1 value), then contrast around 0.5, then brightness."""
        a = self.clamped()
        x = np.arange(256, dtype=np.float64) / 255.0
        y = x ** (1.0 / a.gamma)
        y = (y - 0.5) * a.contrast + 0.5 + a.brightness
        return np.clip(np.round(y * 255.0), 0, 255).astype(np.uint8)


def _cv2():
    try:
        import cv2  # opencv's LUT is about ten times faster than numpy indexing on a 12 MP photo
    except ImportError:
        return None
    return cv2


def adjusted_image(image: QImage, adjustment: PhotoAdjustment) -> QImage:
    """A copy of `image` (any format; the result is 32-bit) with the colour channels mapped
    through the adjustment's table; alpha is kept."""
    if adjustment.is_identity() or image.isNull():
        return image
    has_alpha = image.hasAlphaChannel()
    fmt = QImage.Format.Format_ARGB32 if has_alpha else QImage.Format.Format_RGB32
    src = image if image.format() == fmt else image.convertToFormat(fmt)
    w, h = src.width(), src.height()
    pixels = np.frombuffer(src.constBits(), dtype=np.uint8).reshape(h, src.bytesPerLine())[:, : 4 * w]
    pixels = pixels.reshape(h, w, 4)
    alpha = 3 if sys.byteorder == "little" else 0  # 0xAARRGGBB words: B, G, R, A in memory on little-endian
    table = adjustment.lut()
    tables = [table] * 4
    tables[alpha] = np.arange(256, dtype=np.uint8)
    cv2 = _cv2()
    if cv2 is not None:
        out = cv2.LUT(np.ascontiguousarray(pixels), np.stack(tables, axis=1).reshape(256, 1, 4))
    else:
        out = pixels.copy()
        colour = [c for c in range(4) if c != alpha]
        out[..., colour] = table[pixels[..., colour]]
    out = np.ascontiguousarray(out)
    return QImage(out.data, w, h, 4 * w, fmt).copy()  # the copy owns its pixels
