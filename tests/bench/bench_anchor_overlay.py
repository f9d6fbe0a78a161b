"""Anchor overlay frame time: 20,000 visible anchors on a 1600x1000 canvas, against peers.

    python tests/bench/bench_anchor_overlay.py [--quick] [--json FILE]

The scene (generated, seeded): a photo-like 1600x1000 JPEG with 20 polygons, and 20,000 anchors
(1,000 positive, 4,000 ignored, 15,000 negative) of sizes 16 to 256 px and ratios 0.5 / 1 / 2,
spread over the photo, all inside the view. Timed, each a synchronous `canvas.repaint()` of the
canvas at fit zoom with the photo and the polygons:

- photo and polygons only (what the overlay adds to);
- frame with Masklab's overlay (gui.anchors.layer.AnchorOverlayLayer), its image rendered for
  this view: the frame blits it;
- frame right after a zoom step, before the new image arrives (the last image drawn through the
  relative transform);
- drag step (one vertex moved, the invalidated area repainted) with the overlay on;
- the overlay's render (`render_strokes` of all anchors, which runs off the GUI thread once per
  preview result or view change);
- peer "plain": the anchors drawn in every frame, one `drawRect` per anchor with its colour's
  translucent pen set per anchor, in a layer at the same z;
- peer "batched": the anchors drawn in every frame with one `drawRects` per colour (translucent
  pens), without the cached image.

Prints medians and the ratio peer / Masklab for the frame. Target: the frame with 20,000 anchors
under 50 ms (20 frames per second) on this machine.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = Path(__file__).resolve().parent
for _path in (ROOT, BENCH_DIR):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from _common import summarize, time_calls  # noqa: E402

from core.anchors.assign import IGNORE, NEGATIVE, POSITIVE  # noqa: E402
from core.annotation import Annotation, Shape  # noqa: E402

PHOTO_SIZE = (1600, 1000)
VIEWPORT = (1600, 1000)
N_ANCHORS = {POSITIVE: 1000, IGNORE: 4000, NEGATIVE: 15000}
N_OBJECTS = 20
FRAME_TARGET_MS = 50.0


def make_scene(folder: Path, seed: int = 0) -> tuple[Path, Annotation, dict[int, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    w, h = PHOTO_SIZE
    pixels = (rng.random((h // 20, w // 20, 3)) * 255).astype(np.uint8)
    photo = folder / "scene.jpg"
    Image.fromarray(pixels).resize((w, h), Image.Resampling.BILINEAR).save(photo, quality=85)
    shapes, gt = [], []
    for i in range(N_OBJECTS):
        cx, cy, r = rng.uniform(100, w - 100), rng.uniform(100, h - 100), rng.uniform(20, 80)
        t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        points = np.stack([cx + r * np.cos(t), cy + 0.6 * r * np.sin(t)], axis=1)
        shapes.append(Shape("car", points))
        gt.append([cx - r, cy - 0.6 * r, cx + r, cy + 0.6 * r])
    anchors = {}
    for label, n in N_ANCHORS.items():
        size = rng.choice([16, 32, 64, 128, 256], n)
        ratio = rng.choice([0.5, 1.0, 2.0], n)
        aw, ah = size / np.sqrt(ratio), size * np.sqrt(ratio)
        cx, cy = rng.uniform(aw / 2, w - aw / 2), rng.uniform(ah / 2, h - ah / 2)
        anchors[label] = np.stack([cx - aw / 2, cy - ah / 2, cx + aw / 2, cy + ah / 2], axis=1)
    return photo, Annotation(photo.name, h, w, shapes), anchors, np.array(gt)


class PlainAnchorLayer:
    """A peer: the anchors drawn in every frame, each with its own drawRect (batched=False) or one
    drawRects per colour (batched=True), with translucent pens."""

    visible = True

    def __init__(self, anchors: dict[int, np.ndarray], batched: bool):
        from PySide6.QtCore import QRectF
        from PySide6.QtGui import QColor

        from gui.anchors.layer import CLASS_COLORS, DRAW_ORDER
        from gui.style import cosmetic_pen

        self.batched = batched
        self.groups = []
        for c in DRAW_ORDER:
            color = QColor(CLASS_COLORS[c])
            color.setAlpha(200)
            rects = [QRectF(x1, y1, x2 - x1, y2 - y1) for x1, y1, x2, y2 in anchors[c].tolist()]
            self.groups.append((cosmetic_pen(color, 1.0), rects))

    def paint(self, painter, ctx) -> None:
        painter.save()
        painter.setTransform(ctx.transform)
        for pen, rects in self.groups:
            if self.batched:
                painter.setPen(pen)
                painter.drawRects(rects)
                continue
            for rect in rects:
                if rect.intersects(ctx.visible):
                    painter.setPen(pen)
                    painter.drawRect(rect)
        painter.restore()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args()
    repeats = 5 if args.quick else 15

    from PySide6.QtCore import QPointF, QRectF

    from gui.anchors.layer import ANCHORS_Z, AnchorOverlayLayer, Stroke, render_strokes
    from gui.canvas.bench_api import make_canvas, settle

    with tempfile.TemporaryDirectory() as tmp:
        photo, annotation, anchors, gt = make_scene(Path(tmp))
        canvas, repaint_full, repaint_drag_step = make_canvas(photo, annotation, viewport=VIEWPORT)
        if not settle(canvas):
            print("the photo did not load at full resolution", file=sys.stderr)
            return 1
        if not canvas.visible_image_rect().contains(QRectF(0, 0, *PHOTO_SIZE)):
            print("the photo is not wholly in view: the anchors would be culled", file=sys.stderr)
            return 1
        base = summarize(time_calls(repaint_full, repeats))

        overlay = AnchorOverlayLayer(canvas)
        overlay.set_content(anchors, gt)
        canvas.add_layer(overlay, ANCHORS_Z)
        strokes = [Stroke(anchors[c], "#ffd600") for c in anchors]
        render = summarize(time_calls(lambda: render_strokes(strokes, canvas.image_to_widget_transform(),
                                                             canvas.size()), max(3, repeats // 3)))
        overlay.render_now()
        if not overlay.is_current() or overlay.drawn_anchors != sum(N_ANCHORS.values()):
            print(f"the overlay did not render its {sum(N_ANCHORS.values())} anchors", file=sys.stderr)
            return 1
        frame = summarize(time_calls(repaint_full, repeats))
        drag = summarize(time_calls(repaint_drag_step, repeats * 3))
        centre = QPointF(VIEWPORT[0] / 2, VIEWPORT[1] / 2)
        zoom_frames = []
        for k in range(repeats):  # each a fresh zoom step, painted before the new image exists
            canvas.zoom_by(1.1 if k % 2 == 0 else 1 / 1.1, centre)
            zoom_frames += time_calls(repaint_full, 1, warmup=0)
            overlay._renderer.cancel()
        zoom = summarize(zoom_frames)
        canvas.remove_layer(overlay)
        canvas.fit_to_window()

        peers = {}
        for name, batched in (("plain", False), ("batched", True)):
            layer = PlainAnchorLayer(anchors, batched)
            canvas.add_layer(layer, ANCHORS_Z)
            peers[name] = summarize(time_calls(repaint_full, max(3, repeats // 3)))
            canvas.remove_layer(layer)

    rows = [
        ("photo + 20 polygons, no overlay", base),
        ("frame with the overlay (20,000 anchors)", frame),
        ("frame during a zoom step (last image)", zoom),
        ("drag step with the overlay on", drag),
        ("overlay render, off the GUI thread", render),
        ("peer plain: drawRect per anchor per frame", peers["plain"]),
        ("peer batched: drawRects per frame", peers["batched"]),
    ]
    print(f"Anchor overlay, {VIEWPORT[0]}x{VIEWPORT[1]} canvas at fit zoom, 20,000 anchors in view; medians")
    for name, s in rows:
        print(f"  {name:<44} {s['median_ms']:9.1f} ms   (min {s['min_ms']:.1f}, max {s['max_ms']:.1f}, n {s['n']})")
    print(f"  frame ratio peer plain / Masklab: {peers['plain']['median_ms'] / frame['median_ms']:.1f}x; "
          f"peer batched / Masklab: {peers['batched']['median_ms'] / frame['median_ms']:.1f}x")
    verdict = "meets" if frame["median_ms"] < FRAME_TARGET_MS else "misses"
    print(f"  target: frame with 20,000 anchors under {FRAME_TARGET_MS:.0f} ms: {verdict} it")
    if args.json:
        Path(args.json).write_text(json.dumps({name: s for name, s in rows}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
