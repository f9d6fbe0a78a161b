"""Histogram PNGs of the dataset statistics, drawn with PIL (no plotting dependency): for each
group of objects and each quantity (area, aspect ratio) at each scale (log bins in model-input
pixels, linear bins in photo pixels), one small-multiples sheet with a panel per bin count."""
from __future__ import annotations

import re
from pathlib import Path

from PIL import Image, ImageDraw

from core.errors import ProjectError

from .render import save_png
from .stats import AREA, LINEAR, MODEL_LOG, QUANTITIES, SCALES, DatasetStats, Histogram

PANEL_W, PANEL_H, COLUMNS = 360, 230, 5
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 44, 12, 26, 44
TITLE_H = 34
BAR = (70, 130, 200)
MODE_BAR = (230, 120, 30)
AXIS_LABELS = {(AREA, MODEL_LOG): "box area, model-input px²", (AREA, "photo_linear"): "box area, photo px²"}


def axis_label(quantity: str, scale: str) -> str:
    return AXIS_LABELS.get((quantity, scale), "aspect ratio h/w" + (", model input" if scale == MODEL_LOG else ", photo"))


def draw_histogram(hist: Histogram, title: str, width: int = PANEL_W, height: int = PANEL_H) -> Image.Image:
    """Bars (log-spaced bins drawn evenly), the mode bin highlighted, ticks at a few edges, and
    the mode row (bin, count, share, mean) under the axis."""
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    left, right = MARGIN_LEFT, width - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, height - MARGIN_BOTTOM
    draw.text((left, 6), title, fill="black", font_size=13)
    draw.line((left, bottom, right, bottom), fill="black")
    draw.line((left, top, left, bottom), fill="black")
    n = len(hist.counts)
    peak = max(int(hist.counts.max()), 1) if n else 1
    bar_w = (right - left) / max(n, 1)
    for i, count in enumerate(hist.counts.tolist()):
        x0 = left + i * bar_w
        y0 = bottom - (bottom - top) * count / peak
        if count:
            draw.rectangle((x0 + (1 if bar_w > 3 else 0), y0, max(x0, x0 + bar_w - 1), bottom - 1),
                           fill=MODE_BAR if i == hist.mode_index else BAR)
    for frac in (0.0, 1.0):
        value = round(peak * frac)
        y = bottom - (bottom - top) * value / peak
        draw.line((left - 4, y, left, y), fill="black")
        draw.text((6, y - 6), str(value), fill="black", font_size=10)
    for i in sorted({0, n // 2, n}) if n else []:
        x = left + i * bar_w
        draw.line((x, bottom, x, bottom + 4), fill="black")
        draw.text((min(max(x - 16, 0), right - 40), bottom + 6), f"{hist.edges[i]:.3g}", fill="black", font_size=10)
    draw.text((left, height - 18), f"mode bin {hist.mode_index + 1}: {hist.mode_count} ({hist.mode_share:.0%}), "
              f"mean {hist.mean:.4g}", fill="black", font_size=10)
    return img


def draw_small_multiples(hists: dict[int, Histogram], title: str, x_label: str) -> Image.Image:
    """A sheet of panels, one per bin count, in rows of COLUMNS."""
    counts = sorted(hists)
    rows = -(-len(counts) // COLUMNS)
    sheet = Image.new("RGB", (PANEL_W * COLUMNS, TITLE_H + PANEL_H * rows), "white")
    scale = "log-spaced" if hists and hists[counts[0]].scale != LINEAR else "linear"
    ImageDraw.Draw(sheet).text((10, 8), f"{title} — {x_label} ({scale} bins; orange: the mode bin)",
                               fill="black", font_size=16)
    for i, bins in enumerate(counts):
        panel = draw_histogram(hists[bins], f"{bins} bins")
        sheet.paste(panel, ((i % COLUMNS) * PANEL_W, TITLE_H + (i // COLUMNS) * PANEL_H))
    return sheet


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "label"


def write_histogram_plots(stats: DatasetStats, folder: Path) -> list[Path]:
    """For all objects and each label: area and aspect-ratio sheets, log bins in model-input
    pixels and linear bins in photo pixels, each with every bin count the statistics hold."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ProjectError(folder, f"cannot create the plots folder: {e.strerror or e}") from e
    written = []
    for group in stats.groups():
        if not group.count:
            continue
        name = "all" if group is stats.overall and group.label is None else f"label_{_slug(group.label or '')}"
        title = "all objects" if group.label is None else f"label {group.label!r}"
        for quantity in QUANTITIES:
            for scale in SCALES:
                path = folder / f"{name}_{quantity}_{scale}.png"
                sheet = draw_small_multiples(group.histograms(quantity, scale), f"{title} ({group.count} objects)",
                                             axis_label(quantity, scale))
                save_png(sheet, path)
                written.append(path)
    return written
