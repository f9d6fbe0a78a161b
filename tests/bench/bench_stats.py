"""Dataset statistics for 10,000 objects: Masklab's dataset_stats against the plain path, same run.

    python tests/bench/bench_stats.py [--objects N] [--repeats N] [--threads N]

10,000 boxes (seeded) over 1,000 images of 12 camera sizes (phone, DSLR, video, crops), two
labels. dataset_stats computes, overall and per label, the area and aspect-ratio histograms for
10, 20, ... 100 bins, k-means anchors (k = 5) and the anchor fit on the real anchor grid of every
resized image (best IoU per object, anchors at IoU >= 0.7). The plain path computes the same fit
per image with box_iou against every anchor of the image, as one would without the grid; it is
timed on the first 100 images and scaled to all of them (printed as such). The fit figures must
agree exactly on those images.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = Path(__file__).resolve().parent
for _path in (ROOT, BENCH_DIR):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from _common import summarize, time_calls  # noqa: E402
from torchvision.ops import box_iou  # noqa: E402

from core.anchors.assign import generate_anchors  # noqa: E402
from core.anchors.config import AnchorConfig  # noqa: E402
from core.anchors.preview import feature_map_sizes, model_input_geometry  # noqa: E402
from core.anchors.stats import DatasetObjects, anchor_fit, dataset_stats, input_boxes  # noqa: E402

TARGET_MS = 1000.0
CAMERA_SIZES = [(4032, 3024), (3024, 4032), (4000, 3000), (6000, 4000), (1920, 1080), (1280, 720),
                (640, 480), (1024, 768), (2448, 3264), (800, 600), (500, 375), (176, 173)]


def synthetic_objects(n_objects: int, per_image: int = 10, seed: int = 0) -> DatasetObjects:
    rng = np.random.default_rng(seed)
    n_images = max(1, n_objects // per_image)
    sizes = [CAMERA_SIZES[int(i)] for i in rng.integers(0, len(CAMERA_SIZES), n_images)]
    index = np.arange(n_objects) % n_images
    photo = np.array(sizes, dtype=np.float64)[index]
    rel = np.exp(rng.uniform(np.log(0.02), np.log(0.6), (n_objects, 2)))  # object side / photo side
    wh = np.maximum(rel * photo, 2.0)
    xy = rng.uniform(0, 1, (n_objects, 2)) * (photo - wh)
    boxes = np.concatenate([xy, xy + wh], axis=1)
    labels = [("car", "sign board")[int(i)] for i in rng.integers(0, 2, n_objects)]
    return DatasetObjects(boxes, labels, index, [f"img_{i:04d}.jpg" for i in range(n_images)], sizes)


def plain_fit(objects: DatasetObjects, config: AnchorConfig, images: range) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, best IoU, anchors at IoU >= 0.7) per object, box_iou against every anchor of each image."""
    boxes = input_boxes(objects, config)
    rows_all, best_all, good_all = [], [], []
    for img in images:
        rows = np.flatnonzero(objects.image_index == img)
        if not len(rows):
            continue
        g = model_input_geometry(objects.image_sizes[img], config)
        anchors, _ = generate_anchors(config, g.padded_hw, feature_map_sizes(g.padded_hw, config))
        iou = box_iou(torch.as_tensor(boxes[rows], dtype=torch.float32), anchors)
        rows_all.append(rows)
        best_all.append(iou.max(dim=1).values.double().numpy())
        good_all.append((iou >= 0.7).sum(dim=1).numpy())
    return np.concatenate(rows_all), np.concatenate(best_all), np.concatenate(good_all)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--peer-images", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for both paths (default 1: on shared cores, multi-threaded small "
                             "ops stall on descheduled threads and the medians mean nothing; 0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    config = AnchorConfig.fpn_default()
    objects = synthetic_objects(args.objects)
    n_images = len(objects.image_names)
    ours = summarize(time_calls(lambda: dataset_stats(objects, config, k=5), args.repeats, warmup=1))
    fit_only = summarize(time_calls(lambda: anchor_fit(objects, config), args.repeats, warmup=0))

    peer_images = range(min(args.peer_images, n_images))
    start = time.perf_counter()
    rows, best, good = plain_fit(objects, config, peer_images)
    peer_ms = (time.perf_counter() - start) * 1000.0
    peer_scaled = peer_ms * n_images / len(peer_images)
    fit = anchor_fit(objects, config)
    identical = np.array_equal(fit.best_iou[rows], best) and np.array_equal(fit.good_anchors[rows], good)

    print(f"{args.objects:,} objects on {n_images:,} images of {len(set(objects.image_sizes))} sizes, "
          f"FPN default anchors at 800/1333, torch threads {torch.get_num_threads()}")
    print(f"{'path':<58} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
    print(f"{'dataset_stats (histograms x10 bin counts, k-means, fit)':<58} {ours['median_ms']:>10.1f} "
          f"{ours['min_ms']:>8.1f} {ours['max_ms']:>8.1f}")
    print(f"{'  of which anchor_fit (real grids)':<58} {fit_only['median_ms']:>10.1f} "
          f"{fit_only['min_ms']:>8.1f} {fit_only['max_ms']:>8.1f}")
    print(f"{f'plain fit, box_iou per image ({len(peer_images)} images, once)':<58} {peer_ms:>10.1f}")
    print(f"{'plain fit scaled to all images (estimate)':<58} {peer_scaled:>10.1f}")
    print(f"ratio plain fit (scaled) / dataset_stats: {peer_scaled / ours['median_ms']:.0f}x")
    print(f"fit identical to box_iou on the {len(rows):,} objects checked: {identical}")
    print(f"target under {TARGET_MS:.0f} ms: {'met' if ours['median_ms'] < TARGET_MS else 'NOT met'}")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
