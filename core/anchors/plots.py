"""Histogram PNGs of the dataset statistics, drawn with PIL (no plotting dependency)."""
from __future__ import annotations

import re
from pathlib import Path

from PIL import Image, ImageDraw

from core.errors import ProjectError

from .render import save_png
from .stats import DatasetStats, Histogram

WIDTH, HEIGHT = 720, 420
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 20, 40, 60
BAR = (70, 130, 200)
MODE_BAR = (230, 120, 30)


def draw_histogram(hist: Histogram, title: str, x_label: str) -> Image.Image:
    """Bars on log-spaced bins (drawn evenly), the mode bin highlighted, ticks at a few edges."""
    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(img)
    left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
    draw.text((left, 10), title, fill="black", font_size=16)
    draw.line((left, bottom, right, bottom), fill="black")
    draw.line((left, top, left, bottom), fill="black")
    n = len(hist.counts)
    peak = max(int(hist.counts.max()), 1) if n else 1
    bar_w = (right - left) / max(n, 1)
    for i, count in enumerate(hist.counts.tolist()):
        x0 = left + i * bar_w
        y0 = bottom - (bottom - top) * count / peak
        if count:
            draw.rectangle((x0 + 1, y0, x0 + bar_w - 1, bottom - 1), fill=MODE_BAR if i == hist.mode_index else BAR)
    for frac in (0.0, 0.5, 1.0):
        value = round(peak * frac)
        y = bottom - (bottom - top) * value / peak
        draw.line((left - 4, y, left, y), fill="black")
        draw.text((8, y - 6), str(value), fill="black", font_size=11)
    ticks = sorted({0, n // 4, n // 2, 3 * n // 4, n}) if n else []
    for i in ticks:
        x = left + i * bar_w
        draw.line((x, bottom, x, bottom + 4), fill="black")
        draw.text((min(x - 18, right - 50), bottom + 8), f"{hist.edges[i]:.3g}", fill="black", font_size=11)
    draw.text((left, HEIGHT - 24), f"{x_label} (log-spaced bins); mode [{hist.mode_low:.3g}, {hist.mode_high:.3g}) "
              f"holds {hist.mode_count} ({hist.mode_share:.0%})", fill="black", font_size=12)
    return img


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "label"


def write_histogram_plots(stats: DatasetStats, bins: int, folder: Path) -> list[Path]:
    """Area and aspect-ratio histograms (`bins` bins) for all objects and each label."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ProjectError(folder, f"cannot create the plots folder: {e.strerror or e}") from e
    written = []
    for group in [stats.overall] + stats.per_label:
        if not group.count:
            continue
        name = "all" if group is stats.overall and group.label is None else f"label_{_slug(group.label or '')}"
        title = "all objects" if group.label is None else f"label {group.label!r}"
        for kind, hist, x_label in (("area", group.area[bins], "box area, model-input px^2"),
                                    ("aspect_ratio", group.ratio[bins], "aspect ratio h/w")):
            path = folder / f"{name}_{kind}.png"
            save_png(draw_histogram(hist, f"{title}: {kind.replace('_', ' ')} ({group.count} objects)", x_label), path)
            written.append(path)
    return written
