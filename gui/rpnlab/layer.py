"""The objectness map over the photo: one cell-aligned square per feature-map cell, the ground
truth (positive yellow, ignore purple, negative clear) or the prediction (yellow, as opaque as
the objectness), at an adjustable opacity.

The whole map is one small image of one pixel per cell, scaled onto the cell grid without
smoothing, so it stays square-edged and costs one drawImage per repaint."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter

OBJECTNESS_Z = 14  # above the shapes' fills (10), below the anchor overlay (15)
POSITIVE, IGNORE = 1, -1  # the RPN's anchor labels (core.anchors.config)
YELLOW, PURPLE = (255, 214, 0), (190, 70, 240)


def cells_to_image(values: np.ndarray, kind: str) -> QImage:
    """(H, W) labels ("gt") or probabilities ("predicted") as a premultiplied-free RGBA image."""
    h, w = values.shape
    rgba = np.zeros((h, w, 4), dtype=np.uint8)
    if kind == "gt":
        rgba[values == POSITIVE] = (*YELLOW, 255)
        rgba[values == IGNORE] = (*PURPLE, 255)
    else:
        rgba[..., :3] = YELLOW
        rgba[..., 3] = (np.clip(values, 0.0, 1.0) * 255).astype(np.uint8)
    return QImage(rgba.tobytes(), w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


class ObjectnessLayer:
    """A canvas layer (see gui.canvas.layers); `set_cells` gives it a map and the photo-pixel size
    of a cell, `opacity` is 0..1."""

    def __init__(self) -> None:
        self.visible = False
        self.opacity = 0.6
        self.image: QImage | None = None
        self.rect = QRectF()
        self.photo = QRectF()

    def set_cells(self, values: np.ndarray | None, kind: str, cell_w: float, cell_h: float,
                  photo_size: tuple[int, int] = (0, 0)) -> None:
        """`values` (H, W); cells of `cell_w` x `cell_h` photo pixels from the top-left corner,
        clipped to the photo (w, h): the last row and column cover the model input's padding."""
        if values is None:
            self.image, self.rect = None, QRectF()
            return
        self.image = cells_to_image(values, kind)
        h, w = values.shape
        self.rect = QRectF(0.0, 0.0, w * cell_w, h * cell_h)
        self.photo = QRectF(0.0, 0.0, *photo_size) if all(photo_size) else self.rect

    def paint(self, painter: QPainter, ctx) -> None:
        if self.image is None or not self.rect.intersects(ctx.visible):
            return
        painter.save()
        painter.setTransform(ctx.transform)
        painter.setClipRect(self.photo, Qt.ClipOperation.IntersectClip)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.setOpacity(self.opacity)
        painter.drawImage(self.rect, self.image)
        painter.restore()
