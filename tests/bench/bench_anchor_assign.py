"""RPN anchor assignment: Masklab's match_anchors against the plain path, both measured in this run.

    python tests/bench/bench_anchor_assign.py [--repeats N] [--objects N] [--threads N]

The model input of a 1333x800 photo with the FPN default (800 / 1333: 1344x800 padded, 268,569
anchors) and 50 objects of random size (seeded). The plain path is what torchvision's
RegionProposalNetwork does: box_iou of every anchor with every object, then Matcher.
match_anchors visits only the anchor-object pairs that can overlap. Labels must be identical.
Also prints the whole preview (resize, anchors, match, sampling, box coding) for reference.
"""
from __future__ import annotations

import argparse
import sys
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

from core.anchors.assign import build_matcher, generate_anchors, match_anchors  # noqa: E402
from core.anchors.config import AnchorConfig  # noqa: E402
from core.anchors.preview import feature_map_sizes, model_input_geometry, preview_assignment  # noqa: E402

TARGET_MS = 30.0


def random_objects(n: int, width: int, height: int, seed: int = 0) -> torch.Tensor:
    """Objects from 16 to 600 pixels a side (log-uniform), anywhere in the input."""
    rng = np.random.default_rng(seed)
    wh = np.exp(rng.uniform(np.log(16), np.log(600), (n, 2)))
    xy = rng.uniform(0, 1, (n, 2)) * (np.array([width, height]) - wh).clip(min=1)
    return torch.as_tensor(np.concatenate([xy, xy + wh], axis=1), dtype=torch.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--objects", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for both paths (default 1: on shared cores, multi-threaded small "
                             "ops stall on descheduled threads and the medians mean nothing; 0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    config = AnchorConfig.fpn_default()
    geometry = model_input_geometry((1333, 800), config)
    anchors, grid = generate_anchors(config, geometry.padded_hw, feature_map_sizes(geometry.padded_hw, config))
    rh, rw = geometry.resized_hw
    gt = random_objects(args.objects, rw, rh)
    matcher = build_matcher(config)

    fast = match_anchors(anchors, gt, config, grid).matched_idxs
    plain = matcher(box_iou(gt, anchors))
    identical = torch.equal(fast, plain)

    ours = summarize(time_calls(lambda: match_anchors(anchors, gt, config, grid), args.repeats, warmup=2))
    peer = summarize(time_calls(lambda: matcher(box_iou(gt, anchors)), max(3, args.repeats // 4), warmup=1))
    iou_only = summarize(time_calls(lambda: box_iou(gt, anchors), max(3, args.repeats // 4), warmup=1))
    boxes_photo = gt.numpy() * (1333 / rw)
    preview = summarize(time_calls(lambda: preview_assignment((1333, 800), boxes_photo, config), 5, warmup=1))

    print(f"model input {geometry.padded_hw[1]}x{geometry.padded_hw[0]}, {len(anchors):,} anchors, "
          f"{len(gt)} objects, torch threads {torch.get_num_threads()}")
    print(f"{'path':<44} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
    for name, s in (("match_anchors (Masklab)", ours), ("box_iou + Matcher (plain, torchvision RPN)", peer),
                    ("  of which box_iou", iou_only), ("whole preview_assignment (reference)", preview)):
        print(f"{name:<44} {s['median_ms']:>10.1f} {s['min_ms']:>8.1f} {s['max_ms']:>8.1f}")
    ratio = peer["median_ms"] / ours["median_ms"]
    print(f"ratio plain / match_anchors: {ratio:.1f}x faster")
    print(f"labels identical to Matcher(box_iou): {identical}")
    print(f"target under {TARGET_MS:.0f} ms: {'met' if ours['median_ms'] < TARGET_MS else 'NOT met'}")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
