"""COCO box and mask AP (pycocotools) of a model on a project's images, in the photos' own
frame; proposal recall for box-only RPN models.

Ground truth is rasterised from the sidecars by the same function the training dataset uses
(dataset.annotation_instances), so what is trained on and what is scored agree, including the
dropped degenerate objects; crowd regions are kept as iscrowd=1 and ignored by COCOeval's rules.
"""
from __future__ import annotations

import contextlib
import io
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torchvision.ops import box_iou

from . import TrainingError
from .checkpoint import load_checkpoint, model_from_checkpoint
from .dataset import annotation_instances, prepare_image
from .distributed import DistContext, gather_to_main, resolve_device
from .predict import Prediction, Progress, run_model, to_predictions
from .split import project_split

RECALL_IOUS = (0.5, 0.7)
RECALL_TOPK = (100, 1000)


def _rle(mask: np.ndarray) -> dict[str, Any]:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def ground_truth(project: Any, images: list[str], label_names: list[str]) -> dict[str, Any]:
    """COCO ground truth (ids from 1, categories in label order) of `images` at full size."""
    label_index = {n: i + 1 for i, n in enumerate(label_names)}
    coco: dict[str, Any] = {"images": [], "annotations": [],
                            "categories": [{"id": i + 1, "name": n} for i, n in enumerate(label_names)]}
    for image_id, img in enumerate(images, start=1):
        ann = project.load_annotation(img)
        if ann is None:
            continue
        h, w = ann.image_height, ann.image_width
        coco["images"].append({"id": image_id, "file_name": img, "height": h, "width": w})
        inst = annotation_instances(ann, label_index, h, w)
        for m, box, label, crowd in zip(inst.masks, inst.boxes, inst.labels, inst.crowd):
            x1, y1, x2, y2 = (float(v) for v in box)  # the training box (core.anchors.boxes)
            coco["annotations"].append({
                "id": len(coco["annotations"]) + 1, "image_id": image_id, "category_id": int(label),
                "segmentation": _rle(m), "area": float(m.sum()), "bbox": [x1, y1, x2 - x1, y2 - y1],
                "iscrowd": int(crowd)})
    return coco


def detections(image_id: int, preds: list[Prediction], label_names: list[str]) -> list[dict[str, Any]]:
    label_index = {n: i + 1 for i, n in enumerate(label_names)}
    out = []
    for p in preds:
        x1, y1, x2, y2 = p.box
        d = {"image_id": image_id, "category_id": label_index.get(p.label, 0), "score": p.score,
             "bbox": [x1, y1, x2 - x1, y2 - y1]}
        if p.mask is not None:
            d["segmentation"] = _rle(p.mask)
        out.append(d)
    return out


def _quiet_coco(data: dict[str, Any]) -> COCO:
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def coco_metrics(gt: dict[str, Any], dets: list[dict[str, Any]], iou_type: str) -> dict[str, Any]:
    """{"AP", "AP50", "AP75", "per_label": {name: AP or None}}; None where there is nothing to
    score (no ground truth for the label)."""
    names = {c["id"]: c["name"] for c in gt["categories"]}
    has_gt = any(not a["iscrowd"] for a in gt["annotations"])
    if not has_gt:
        return {"AP": None, "AP50": None, "AP75": None, "per_label": {n: None for n in names.values()}}
    if not dets:
        present = {a["category_id"] for a in gt["annotations"] if not a["iscrowd"]}
        return {"AP": 0.0, "AP50": 0.0, "AP75": 0.0,
                "per_label": {n: (0.0 if i in present else None) for i, n in names.items()}}
    coco_gt = _quiet_coco(gt)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(dets)
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision = ev.eval["precision"]  # [iou thresholds, recall, category, area, max dets]
    per_label: dict[str, float | None] = {}
    for k, cat_id in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        per_label[names[cat_id]] = float(p[p > -1].mean()) if (p > -1).any() else None
    s = ev.stats
    return {"AP": max(0.0, float(s[0])), "AP50": max(0.0, float(s[1])), "AP75": max(0.0, float(s[2])),
            "per_label": per_label}


def proposal_recall(gt_boxes: list[torch.Tensor], proposals: list[torch.Tensor]) -> dict[str, float | None]:
    """Fraction of ground-truth boxes covered by the top-k proposals (sorted best first) at each
    IoU threshold: {"R@100_IoU0.5": x, ...}."""
    total = sum(len(g) for g in gt_boxes)
    result: dict[str, float | None] = {}
    for k in RECALL_TOPK:
        for t in RECALL_IOUS:
            hit = 0
            for g, p in zip(gt_boxes, proposals):
                if len(g) and len(p):
                    hit += int((box_iou(g, p[:k]).max(1).values >= t).sum())
            result[f"R@{k}_IoU{t}"] = hit / total if total else None
    return result


def evaluate_model(model: torch.nn.Module, state: dict[str, Any], project: Any, images: list[str],
                   device: torch.device, ctx: DistContext | None = None,
                   cancel_event: threading.Event | None = None, progress: Progress | None = None
                   ) -> dict[str, Any] | None:
    """COCO metrics ({"bbox", "segm"}) or proposal recall ({"recall"}) of `model` on `images`.
    Under DDP each rank predicts its share and rank 0 scores (None on the other ranks).
    `progress(done, total, image)` is called with done=0 before the first image, then after each."""
    ctx = ctx or DistContext()
    label_names = state["label_names"]
    is_rpn = state.get("kind") == "rpn"
    was_training = model.training
    model.eval()
    mine = list(range(ctx.rank, len(images), ctx.world_size))
    local: list[tuple[int, Any]] = []
    try:
        if progress is not None:
            progress(0, len(mine), "")
        for done, i in enumerate(mine, start=1):
            if cancel_event is not None and cancel_event.is_set():
                break
            tensor, scale, size = prepare_image(project.abs_path(images[i]), state["min_size"], state["max_size"])
            out = run_model(model, tensor, device)
            if is_rpn:
                preds = to_predictions(out, label_names, scale, size, 0.0, limit=max(RECALL_TOPK))
                local.append((i, torch.tensor([p.box for p in preds], dtype=torch.float32).reshape(-1, 4)))
            else:
                local.append((i, detections(i + 1, to_predictions(out, label_names, scale, size, 0.0), label_names)))
            if progress is not None:
                progress(done, len(mine), images[i])
    finally:
        model.train(was_training)
    gathered = gather_to_main(ctx, local)
    if gathered is None:
        return None
    results = dict(item for part in gathered for item in part)
    gt = ground_truth(project, images, label_names)
    if is_rpn:
        gt_boxes = [[] for _ in images]
        for a in gt["annotations"]:
            if not a["iscrowd"]:
                x, y, w, h = a["bbox"]
                gt_boxes[a["image_id"] - 1].append([x, y, x + w, y + h])
        g = [torch.tensor(b, dtype=torch.float32).reshape(-1, 4) for b in gt_boxes]
        p = [results.get(i, torch.zeros((0, 4))) for i in range(len(images))]
        return {"recall": proposal_recall(g, p)}
    dets = [d for i in sorted(results) for d in results[i]]
    mask_dets = [d for d in dets if "segmentation" in d]
    box_dets = [{k: v for k, v in d.items() if k != "segmentation"} for d in dets]
    return {"bbox": coco_metrics(gt, box_dets, "bbox"), "segm": coco_metrics(gt, mask_dets, "segm")}


def headline(metrics: dict[str, Any]) -> float | None:
    """The number early stopping watches: mask AP, else box AP, else recall@100 at IoU 0.5."""
    if "segm" in metrics and metrics["segm"]["AP"] is not None:
        return metrics["segm"]["AP"]
    if "bbox" in metrics and metrics["bbox"]["AP"] is not None:
        return metrics["bbox"]["AP"]
    if "recall" in metrics:
        return metrics["recall"].get("R@100_IoU0.5")
    return None


def evaluate_checkpoint(checkpoint: str | Path, project: Any, split: str = "val", device: str = "auto",
                        progress: Progress | None = None) -> dict[str, Any]:
    """Metrics of a saved checkpoint on one subset of the project's stored split (the split the
    checkpoint was trained with when the project has none yet); `progress` as in evaluate_model."""
    state = load_checkpoint(checkpoint)
    if "split" not in project.settings and state.get("split"):
        project.settings["split"] = state["split"]
    subsets = project_split(project, save=False)
    from .split import labelled_images

    images, _ = labelled_images(project, subsets[split])
    if not images:
        raise TrainingError(project.root, f"the {split!r} subset has no labelled images",
                            hint="label more images, or evaluate another --split")
    dev = resolve_device(device)
    model = model_from_checkpoint(state, dev, checkpoint)
    return evaluate_model(model, state, project, images, dev, progress=progress) or {}
