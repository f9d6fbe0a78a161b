"""Assisted polygons: quality and speed of GrabCut and of the project model from a box.

    ~/.cache/masklab/venv/bin/python tests/bench/bench_assist.py [--limit N] [--json FILE] [--no-model]

For every whole object of the shared sets (car_damage_via `roue` and `retro`; coco128_seg cars,
class id 2; vehicle_crops_via), starting from its ground-truth box:
* the IoU of the filled box with the object (the baseline a box tool gives);
* GrabCut's mask IoU, then after 1, 2 and 3 corrective clicks, each placed automatically at the
  point deepest inside the largest error region (positive when the object was missed there,
  negative when background was taken);
* GrabCut's latency per box on a 12-megapixel photo (a car_damage_via photo upscaled to 4000x3000).
Then the project model: a mininet trained briefly on a generated demo project, the same IoU
measures on its held-out images, and the per-box latency once the image's features are cached.
Objects under 16x16 pixels are skipped (a box tool is not how one outlines them).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
DATA = ROOT.parent / "shared" / "data"
MIN_SIDE = 16

from _common import summarize, time_calls  # noqa: E402


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b)) / union if union else 1.0


def corrective_click(pred: np.ndarray, gt: np.ndarray) -> tuple[tuple[float, float], bool] | None:
    """(point, positive) at the pixel deepest inside the largest error region, or None."""
    import cv2

    best = None
    for positive, err in ((True, gt & ~pred), (False, pred & ~gt)):
        count, labels, stats, _ = cv2.connectedComponentsWithStats(err.astype(np.uint8), connectivity=8)
        if count <= 1:
            continue
        k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        if best is None or stats[k, cv2.CC_STAT_AREA] > best[0]:
            best = (stats[k, cv2.CC_STAT_AREA], positive, labels == k)
    if best is None:
        return None
    region = np.pad(best[2], 1).astype(np.uint8)
    dist = cv2.distanceTransform(region, cv2.DIST_L2, 5)[1:-1, 1:-1]
    r, c = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return (c + 0.5, r + 0.5), best[1]


def objects(name: str, limit: int | None) -> Iterator[tuple[Path, str, np.ndarray]]:
    """(photo, label, ground-truth mask) of the whole objects of one shared set."""
    from core.formats.via import read_via
    from core.formats.yolo import read_yolo
    from core.geometry import instance_mask
    from core.annotation import Annotation

    if name == "car_damage_via":
        plan, keep = read_via(DATA / name / "all.json", label_key="cls"), {"roue", "retro"}
    elif name == "coco128_seg":
        plan, keep = read_yolo(DATA / name), {"car"}
    else:
        plan, keep = read_via(DATA / name), None
    n = 0
    for item in plan.images:
        ann = Annotation(item.dest.name, item.height, item.width, item.shapes)
        for label, parts in ann.instances():
            if keep is not None and label not in keep:
                continue
            mask = instance_mask(parts, item.height, item.width)
            ys, xs = np.nonzero(mask)
            if len(xs) == 0 or xs.max() - xs.min() < MIN_SIDE or ys.max() - ys.min() < MIN_SIDE:
                continue
            yield item.source, label, mask
            n += 1
            if limit and n >= limit:
                return


def gt_box(mask: np.ndarray) -> tuple[float, float, float, float]:
    from core.geometry import mask_box

    return mask_box(mask)


def evaluate(segment: Callable, items, clicks: int = 3) -> dict[str, float]:
    """segment(photo_path, box, positive, negative, label) -> full mask. Mean IoUs."""
    box_ious, ious = [], [[] for _ in range(clicks + 1)]
    for path, label, gt in items:
        box = gt_box(gt)
        x1, y1, x2, y2 = (int(v) for v in box)
        filled = np.zeros_like(gt)
        filled[y1:y2, x1:x2] = True
        box_ious.append(iou(filled, gt))
        pos, neg = [], []
        for k in range(clicks + 1):
            pred = segment(path, box, pos, neg, label)
            ious[k].append(iou(pred, gt))
            if k == clicks:
                break
            click = corrective_click(pred, gt)
            if click is None:
                for rest in range(k + 1, clicks + 1):
                    ious[rest].append(ious[k][-1])
                break
            (pos if click[1] else neg).append(click[0])
    out = {"objects": len(box_ious), "box_iou": statistics.fmean(box_ious)}
    for k in range(clicks + 1):
        out[f"iou_{k}_clicks"] = statistics.fmean(ious[k])
    return out


class PhotoCache:
    def __init__(self):
        self.path, self.rgb = None, None

    def __call__(self, path: Path) -> np.ndarray:
        from core.images import load_rgb_array

        if path != self.path:
            self.path, self.rgb = path, load_rgb_array(path)
        return self.rgb


def grabcut_segmenter(**kwargs) -> Callable:
    from core.assist.grabcut import grabcut_mask

    photos = PhotoCache()

    def segment(path, box, pos, neg, label):
        rgb = photos(path)
        return grabcut_mask(rgb, box, pos, neg, **kwargs).full(*rgb.shape[:2])
    return segment


def grabcut_latency_12mp() -> dict[str, float]:
    """GrabCut per box on a car_damage_via photo upscaled to 4000x3000, box = a wheel's box
    scaled the same way (decoding excluded: the window and the CLI decode a photo once)."""
    import cv2

    from core.assist.grabcut import grabcut_mask
    from core.images import load_rgb_array

    path, _, gt = next(objects("car_damage_via", 1))
    rgb = load_rgb_array(path)
    big = cv2.resize(rgb, (4000, 3000), interpolation=cv2.INTER_CUBIC)
    sx, sy = 4000 / rgb.shape[1], 3000 / rgb.shape[0]
    x1, y1, x2, y2 = gt_box(gt)
    box = (x1 * sx, y1 * sy, x2 * sx, y2 * sy)
    samples = time_calls(lambda: grabcut_mask(big, box), repeats=7)
    whole = time_calls(lambda: grabcut_mask(big, (400, 300, 3600, 2700)), repeats=5)
    return {"wheel_box_px": f"{box[2] - box[0]:.0f}x{box[3] - box[1]:.0f}", **summarize(samples),
            "large_box_median_ms": summarize(whole)["median_ms"]}


def model_section(limit: int | None) -> dict:
    """A mininet trained briefly on a demo project, evaluated from the GT boxes of its images."""
    import torch

    from core.training.mask_assist import ModelAssistant
    from core.demo import generate_demo
    from core.geometry import instance_mask
    from core.project import Project
    from core.training.trainer import Trainer, TrainSettings

    torch.set_num_threads(2)
    tmp = Path(tempfile.mkdtemp(prefix="masklab_bench_assist_"))
    generate_demo(tmp / "demo", n_images=24, seed=0)
    project = Project.open(tmp / "demo")
    started = time.perf_counter()
    settings = TrainSettings.resolve(project, model="mininet_r18_fpn", epochs=12, weights="none", device="cpu",
                                     workers=0, seed=0)
    result = Trainer(project, settings, run_dir=tmp / "demo" / "runs" / "bench", on_event=lambda e: None).run()
    train_s = time.perf_counter() - started
    ckpt = tmp / "demo" / "runs" / "bench" / "best.pt"
    assistant = ModelAssistant(ckpt)
    items = []
    for img, ann, _ in project.iter_annotations():
        if ann is None:
            continue
        for label, parts in ann.instances():
            items.append((project.abs_path(img), label, instance_mask(parts, ann.image_height, ann.image_width)))
    items = items[:limit] if limit else items

    def segment(path, box, pos, neg, label):
        cm = assistant.segment(path, box, label, pos, neg)
        return cm.full(*assistant.image_size(path))

    quality = evaluate(segment, items)
    path, label, gt = items[0]
    box = gt_box(gt)
    assistant.features(path)  # cached from here on
    head = summarize(time_calls(lambda: assistant.segment(path, box, label), repeats=20))
    first = summarize(time_calls(lambda: (assistant.clear_cache(), assistant.segment(path, box, label)), repeats=3))
    return {"training_s": round(train_s, 1), "status": result.status, **quality,
            "per_box_cached_ms": head["median_ms"], "first_box_with_features_ms": first["median_ms"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=None, help="objects per set (default: all)")
    p.add_argument("--json", help="write every figure to this file")
    p.add_argument("--no-model", action="store_true", help="skip the trained-model section")
    p.add_argument("--max-side", type=int, default=None)
    p.add_argument("--iterations", type=int, default=None)
    args = p.parse_args()
    if not DATA.exists():
        print(f"shared data {DATA} is absent", file=sys.stderr)
        return 1
    kwargs = {k: v for k, v in (("max_side", args.max_side), ("iterations", args.iterations)) if v}
    results: dict = {"grabcut": {}}
    print(f"{'set':<18} {'objects':>7} {'box':>6} {'grabcut':>8} {'1 click':>8} {'2 clicks':>8} {'3 clicks':>8}")
    for name in ("car_damage_via", "coco128_seg", "vehicle_crops_via"):
        r = evaluate(grabcut_segmenter(**kwargs), objects(name, args.limit))
        results["grabcut"][name] = r
        print(f"{name:<18} {r['objects']:>7} {r['box_iou']:>6.3f} {r['iou_0_clicks']:>8.3f} {r['iou_1_clicks']:>8.3f}"
              f" {r['iou_2_clicks']:>8.3f} {r['iou_3_clicks']:>8.3f}", flush=True)
    lat = grabcut_latency_12mp()
    results["grabcut_latency_12mp"] = lat
    print(f"GrabCut on a 12 MP photo, wheel box {lat['wheel_box_px']}: median {lat['median_ms']:.0f} ms "
          f"(min {lat['min_ms']:.0f}, max {lat['max_ms']:.0f}); 3200x2400 box: {lat['large_box_median_ms']:.0f} ms")
    if not args.no_model:
        m = model_section(args.limit)
        results["model"] = m
        print(f"project model (mininet, {m['training_s']} s of training, {m['status']}) on the demo project: "
              f"{m['objects']} objects, box {m['box_iou']:.3f}, model {m['iou_0_clicks']:.3f}, "
              f"1/2/3 clicks {m['iou_1_clicks']:.3f} / {m['iou_2_clicks']:.3f} / {m['iou_3_clicks']:.3f}; "
              f"per box with cached features {m['per_box_cached_ms']:.0f} ms, first box "
              f"{m['first_box_with_features_ms']:.0f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
