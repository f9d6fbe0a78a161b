"""Label colours that stay apart: a fixed palette checked in CIELAB, and a chooser that gives a
new label the first palette colour clearly different from the colours already taken and from
the anchor preview's colours.

Distances are CIE76 deltaE (Euclidean distance in CIELAB, D65 white). Two colours closer than
MIN_DELTA_E look alike on a photo; the palette keeps every pair of its colours, and every colour
and RESERVED colour, at least that far apart. Past the palette, a colour is searched on a hue,
saturation and value grid for the largest distance to everything taken.
"""
from __future__ import annotations

import colorsys
import hashlib
from typing import Iterable

import numpy as np

MIN_DELTA_E = 25.0
# The anchor preview's positive, negative and ignore colours and its ground-truth outline
# (gui/anchors/layer.py): a label never gets one of these.
RESERVED = ("#ffd600", "#00e676", "#d500f9", "#ffffff")
PALETTE = (
    "#e6194b",  # red
    "#4363d8",  # blue
    "#f58231",  # orange
    "#46f0f0",  # cyan
    "#bcf60c",  # lime
    "#911eb4",  # purple
    "#008080",  # teal
    "#fabebe",  # pink
    "#9a6324",  # brown
    "#aaffc3",  # mint
    "#808000",  # olive
    "#e6beff",  # lavender
    "#808080",  # grey
)


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    c = color.strip().lstrip("#")
    if len(c) != 6:
        raise ValueError(f"{color!r} is not a #rrggbb colour")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def to_lab(colors: Iterable[str]) -> np.ndarray:
    """(N, 3) CIELAB of #rrggbb colours (sRGB, D65)."""
    rgb = np.array([hex_to_rgb(c) for c in colors], dtype=np.float64).reshape(-1, 3) / 255.0
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124564, 0.3575761, 0.1804375],
                  [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    xyz = linear @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


def delta_e(a: str, b: str) -> float:
    la, lb = to_lab([a, b])
    return float(np.linalg.norm(la - lb))


def _min_distances(candidates: list[str], taken: list[str]) -> np.ndarray:
    if not taken:
        return np.full(len(candidates), np.inf)
    c, t = to_lab(candidates), to_lab(taken)
    return np.linalg.norm(c[:, None, :] - t[None, :, :], axis=2).min(axis=1)


def _grid() -> list[str]:
    out = []
    for s, v in ((0.85, 0.95), (0.55, 0.85), (0.9, 0.65)):
        for h in range(0, 360, 6):
            r, g, b = colorsys.hsv_to_rgb(h / 360.0, s, v)
            out.append("#{:02x}{:02x}{:02x}".format(round(r * 255), round(g * 255), round(b * 255)))
    return out


def pick_color(taken: Iterable[str] = (), name: str | None = None) -> str:
    """A colour for a new label: the first palette colour at least MIN_DELTA_E from every taken
    and reserved colour; past the palette, the grid colour farthest from them. Without `taken`
    and with a `name`, the palette entry the name's hash points at (stable across runs)."""
    taken = [c for c in taken if _valid(c)]
    if not taken and name is not None:
        h = int(hashlib.md5(name.encode("utf-8")).hexdigest()[:8], 16)
        return PALETTE[h % len(PALETTE)]
    avoid = taken + list(RESERVED)
    palette = list(PALETTE)
    d = _min_distances(palette, avoid)
    ok = np.flatnonzero(d >= MIN_DELTA_E)
    if len(ok):
        return palette[int(ok[0])]
    grid = _grid()
    return grid[int(np.argmax(_min_distances(grid, avoid)))]


def _valid(color: str) -> bool:
    try:
        hex_to_rgb(color)
    except (ValueError, AttributeError):
        return False
    return True
