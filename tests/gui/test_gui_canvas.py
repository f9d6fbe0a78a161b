"""The canvas on its own: cached geometry and hit-testing, partial repaints, culling, extension
layers, the reduced first frame then the full resolution, and the benchmark API."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QRectF
from PySide6.QtGui import QPainter

from core.annotation import Annotation, Shape
from gui.canvas.bench_api import make_canvas, settle
from gui.canvas.layers import PaintContext
from tests.gui.helpers import shot


def ring(cx: float, cy: float, r: float, n: int = 40) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


@pytest.fixture
def big_scene(tmp_path):
    rng = np.random.default_rng(0)
    w, h = 2000, 1500
    photo = tmp_path / "big.jpg"
    pixels = (rng.random((h // 10, w // 10, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).resize((w, h), Image.Resampling.BILINEAR).save(photo, quality=85)
    shapes = [Shape(label=("car", "sign board")[i % 2], points=ring(rng.uniform(50, w - 50), rng.uniform(50, h - 50), 30))
              for i in range(300)]
    return photo, Annotation(photo.name, h, w, shapes)


class CountingLayer:
    visible = True

    def __init__(self):
        self.contexts: list[PaintContext] = []

    def paint(self, painter: QPainter, ctx: PaintContext) -> None:
        self.contexts.append(ctx)


def test_first_frame_is_reduced_then_full_resolution(big_scene, qtbot):
    photo, ann = big_scene
    canvas, repaint_full, _ = make_canvas(photo, ann, viewport=(800, 500))
    qtbot.addWidget(canvas)
    first = canvas.photo_layer.image.size()
    assert first.width() == 1000  # decoded by the JPEG decoder at 1/2, close to the fitted size
    assert settle(canvas)
    assert canvas.photo_layer.image.width() == 2000 and canvas.photo_layer.scale_to_image == 1.0
    assert canvas.photo_layer.scaled_ready(canvas.zoom)


def test_drag_repaints_only_around_the_shape_and_layers_cull(big_scene, qtbot):
    photo, ann = big_scene
    canvas, repaint_full, repaint_drag_step = make_canvas(photo, ann, viewport=(800, 500))
    qtbot.addWidget(canvas)
    settle(canvas)
    probe = CountingLayer()
    canvas.add_layer(probe, 15)
    repaint_full()
    assert probe.contexts[-1].visible.contains(QRectF(0, 0, 2000, 1500))
    repaint_drag_step()
    part = probe.contexts[-1].visible
    box = canvas.geometry.get(ann.shapes[0]).bounds
    assert part.contains(box) and part.width() < 2000 / 4  # a small dirty rect, not the view
    canvas.remove_layer(probe)
    assert probe not in canvas.layers()


def test_hit_testing(qtbot):
    from gui.canvas.geometry import GeometryCache

    square = Shape("car", [[0, 0], [100, 0], [100, 100], [0, 100]])
    other = Shape("car", [[50, 50], [150, 50], [150, 150], [50, 150]])
    ann = Annotation("x.jpg", 200, 200, [square, other])
    cache = GeometryCache()
    assert cache.vertex_at(ann, 99, 2, 5) == (0, 1)
    assert cache.vertex_at(ann, 52, 52, 5) == (1, 0)
    assert cache.vertex_at(ann, 52, 52, 5, prefer=[0]) == (1, 0)  # the only vertex in reach
    i, position, xy = cache.edge_at(ann, 30, 3, 5)
    assert (i, position) == (0, 1) and xy == (30.0, 0.0)  # between points 0 and 1
    assert cache.edge_at(ann, 3, 70, 5)[1] == 4  # the closing edge: appended after the last
    assert cache.shape_at(ann, 75, 75) == 1  # topmost wins
    assert cache.shape_at(ann, 25, 25) == 0
    assert cache.shape_at(ann, 180, 180) is None
    other.points[:] += 100
    cache.invalidate([other])
    assert cache.shape_at(ann, 75, 75) == 0


def test_many_polygons_screenshot(big_scene, make_window, demo_project, qtbot):
    from core.project import Project

    window = make_window(demo_project)
    window.open_image("street_000.jpg")
    ann = window.document.annotation
    rng = np.random.default_rng(1)
    extra = [Shape("car", ring(rng.uniform(20, 620), rng.uniform(20, 460), rng.uniform(5, 15), 12)) for _ in range(200)]
    from gui.commands import AddShapes

    window.document.push(AddShapes(window.document, extra))
    window.document.set_selection([0])
    shot(window, "04_many_polygons")
    assert len(Project.open(demo_project).load_annotation("street_000.jpg").shapes) == len(ann.shapes) == 204
