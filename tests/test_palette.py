"""Label colours stay perceptually apart: CIELAB deltaE, computed here independently of
core.palette, between every two label colours and against the anchor preview's colours."""
from __future__ import annotations

import json
from itertools import combinations

import numpy as np

from core.palette import MIN_DELTA_E, PALETTE, RESERVED
from core.project import Project
from tests.conftest import shared_data


def lab(color: str) -> np.ndarray:
    """sRGB #rrggbb -> CIELAB (D65), the textbook formulas."""
    rgb = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
    lin = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    x, y, z = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ lin
    def f(t: float) -> float:
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116
    fx, fy, fz = f(x / 0.95047), f(y / 1.0), f(z / 1.08883)
    return np.array([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)])


def delta_e(a: str, b: str) -> float:
    return float(np.linalg.norm(lab(a) - lab(b)))


def test_the_old_clash_was_real_and_the_threshold_is_clear():
    assert delta_e("#f2a33c", "#f2b83c") < 15  # rayure and roue before: the same orange
    assert MIN_DELTA_E >= 25


def test_palette_and_defaults_are_apart_from_each_other_and_from_anchor_colours(tmp_path):
    from gui.anchors.layer import CLASS_COLORS, GT_COLOR

    assert set(CLASS_COLORS.values()) | {GT_COLOR} <= set(RESERVED)
    for a, b in combinations(PALETTE, 2):
        assert delta_e(a, b) >= MIN_DELTA_E - 0.5, (a, b)
    for color in PALETTE:
        for anchor in RESERVED:
            assert delta_e(color, anchor) >= MIN_DELTA_E - 0.5, (color, anchor)
    project = Project.open(tmp_path / "p")
    defaults = [l.color for l in project.labels]
    assert delta_e(*defaults) >= MIN_DELTA_E


def test_labels_found_in_real_data_get_distinct_colours(tmp_path):
    data = json.loads((shared_data("car_damage_via") / "all.json").read_text())  # VIA 1.x, a list of images
    regions = [r for img in data for r in (img["regions"].values() if isinstance(img["regions"], dict) else img["regions"])]
    names = sorted({r["region_attributes"]["cls"] for r in regions})
    assert names == ["rayure", "retro", "roue"]
    project = Project.open(tmp_path / "p")
    project.ensure_labels(names + [f"extra {k}" for k in range(6)])  # 2 defaults + 3 + 6 = 11 labels
    colors = [l.color for l in project.labels]
    assert len(set(colors)) == len(colors)
    worst = min(delta_e(a, b) for a, b in combinations(colors, 2))
    assert worst >= MIN_DELTA_E - 0.5, worst
    assert min(delta_e(c, r) for c in colors for r in RESERVED) >= MIN_DELTA_E - 0.5
    reopened = Project.open(tmp_path / "p")  # the colours are saved with the labels
    assert [l.color for l in reopened.labels] == colors
