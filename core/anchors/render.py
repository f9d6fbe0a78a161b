"""The anchor overlay as a picture (PIL, no Qt): the photo with anchors coloured by their RPN
label (positive yellow, negative green, ignore purple) and the objects outlined."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from core.atomic import atomic_write_bytes

from .preview import AnchorPreview

COLORS = {"positive": (255, 220, 0), "negative": (40, 200, 60), "ignore": (170, 60, 220)}
OBJECT_COLOR = (255, 40, 40)
ALPHA = 170


def anchors_to_draw(preview: AnchorPreview, all_negatives: bool = False) -> dict[str, np.ndarray]:
    """Indices of the anchors drawn per class: every positive and ignored anchor, and the
    negatives of the sampled mini-batch (all ~250,000 negatives would hide the photo) unless
    `all_negatives`."""
    negative = preview.labels == 0
    if not all_negatives:
        negative &= preview.sampled
    return {"negative": np.flatnonzero(negative), "ignore": np.flatnonzero(preview.labels == -1),
            "positive": np.flatnonzero(preview.labels == 1)}


def render_overlay(photo: Image.Image, preview: AnchorPreview, all_negatives: bool = False) -> Image.Image:
    """`photo` (the image the preview was computed for, photo pixels) with the overlay."""
    base = photo.convert("RGBA")
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    width = max(1, round(max(base.size) / 900))
    for name, rows in anchors_to_draw(preview, all_negatives).items():  # positives drawn last, on top
        color = COLORS[name] + (ALPHA,)
        for x1, y1, x2, y2 in preview.anchors_photo[rows].tolist():
            draw.rectangle((x1, y1, x2, y2), outline=color, width=width)
    for x1, y1, x2, y2 in preview.gt_boxes_photo.tolist():
        draw.rectangle((x1, y1, x2, y2), outline=OBJECT_COLOR + (255,), width=width + 2)
    _legend(draw, preview, width)
    return Image.alpha_composite(base, overlay).convert("RGB")


def _legend(draw: ImageDraw.ImageDraw, preview: AnchorPreview, scale: int) -> None:
    counts = preview.counts()
    sampled = preview.sampled_counts()
    lines = [(f"positive {counts['positive']}", COLORS["positive"]),
             (f"negative {counts['negative']} (drawn: {sampled['negative']} sampled)", COLORS["negative"]),
             (f"ignore {counts['ignore']}", COLORS["ignore"]),
             (f"objects {preview.num_objects}", OBJECT_COLOR)]
    line_height = 12 * scale
    draw.rectangle((0, 0, 330 * scale, line_height * len(lines) + 6), fill=(0, 0, 0, 160))
    for i, (text, color) in enumerate(lines):
        y = 3 + i * line_height
        draw.rectangle((4, y + 2, 4 + 8 * scale, y + 2 + 8 * scale), fill=color + (255,))
        draw.text((8 + 10 * scale, y), text, fill=(255, 255, 255, 255), font_size=10 * scale)


def save_png(image: Image.Image, path: str | Path) -> None:
    """Write a PNG atomically (a reader never sees half a file)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
