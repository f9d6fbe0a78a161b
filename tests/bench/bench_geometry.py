"""Benchmark of core.geometry against its peers, measured in the same run.

    python tests/bench/bench_geometry.py [--n 300] [--size 640x480] [--repeats 5]

- polygon_to_mask vs pycocotools (frPyObjects + merge + decode), the reference it must match,
  and vs Pillow's ImageDraw.polygon (labelme's own rasteriser);
- mask_to_polygons vs pycocotools RLE encoding of the same masks (the other way to store a
  predicted mask).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from pycocotools import mask as coco_mask

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from core.geometry import mask_to_polygons, polygon_to_mask  # noqa: E402
from tests.bench._common import summarize, time_calls  # noqa: E402


def star_polygons(n: int, width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    polys = []
    for _ in range(n):
        k = int(rng.integers(8, 60))
        angles = np.sort(rng.uniform(0, 2 * np.pi, k))
        r = rng.uniform(0.05, 0.4) * min(width, height) * rng.uniform(0.5, 1.0, k)
        cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
        polys.append(np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], axis=1))
    return polys


def per_item_ms(fn, items, repeats: int) -> float:
    """Median over `repeats` passes of the time per item, in milliseconds."""
    batch = summarize(time_calls(lambda: [fn(item) for item in items], repeats))
    return batch["median_ms"] / len(items)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    polys = star_polygons(args.n, width, height)

    def ours(p):
        return polygon_to_mask(p, height, width)

    def coco(p):
        return coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects([p.ravel().tolist()], height, width)))

    def pil(p):
        img = Image.new("L", (width, height), 0)
        ImageDraw.Draw(img).polygon([tuple(v) for v in p.tolist()], fill=1)
        return np.asarray(img)

    masks = [ours(p) for p in polys]
    ref = [coco(p) for p in polys]
    differing = sum(int((m != r.astype(bool)).sum()) for m, r in zip(masks, ref))
    total = sum(int(r.sum()) for r in ref)
    t_ours, t_coco, t_pil = (per_item_ms(fn, polys, args.repeats) for fn in (ours, coco, pil))
    print(f"rasterise {args.n} polygons at {width}x{height} (median of {args.repeats} passes)")
    print(f"  polygon_to_mask     {t_ours:8.3f} ms each")
    print(f"  pycocotools         {t_coco:8.3f} ms each   ratio ours/pycocotools {t_ours / t_coco:.2f}")
    print(f"  PIL ImageDraw       {t_pil:8.3f} ms each   ratio ours/PIL {t_ours / t_pil:.2f}")
    print(f"  pixels differing from pycocotools: {differing / total:.4%}")

    vertices = sum(len(p) for m in masks for p in mask_to_polygons(m))
    t_poly = per_item_ms(mask_to_polygons, masks, args.repeats)
    t_rle = per_item_ms(lambda m: coco_mask.encode(np.asfortranarray(m.astype(np.uint8))), masks, args.repeats)
    print(f"mask to storage, {args.n} masks")
    print(f"  mask_to_polygons    {t_poly:8.3f} ms each ({vertices / args.n:.0f} vertices per mask)")
    print(f"  pycocotools RLE     {t_rle:8.3f} ms each   ratio polygons/RLE {t_poly / t_rle:.2f}")


if __name__ == "__main__":
    main()
