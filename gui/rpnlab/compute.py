"""The laboratory's work, run on the worker thread only (it imports torch): load the checkpoint,
run the photo through its RPN, and render the three views. The loaded model and the last forward
pass are kept, so changing a control recomputes only the proposals or the pictures."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.torch_loader import load_torch


@dataclass(frozen=True)
class LabRequest:
    checkpoint: Path
    image: str
    level: int = 0
    anchor: int | None = None  # None: all cell anchors of the level
    nms: float = 0.7
    score: float = 0.5
    pre_nms_top_n: int | None = None  # None: the model's
    post_nms_top_n: int | None = None
    weights: tuple[float, float, float, float] | None = None  # None: the model's box coder weights
    picked: int | None = 0  # row of the decoding table


@dataclass
class LabViews:
    request: LabRequest
    model_name: str
    levels: list[tuple[int, int, int, int]]  # (level, stride, cell anchors, cells)
    objectness: np.ndarray  # RGB pictures
    proposals: np.ndarray
    decoding: np.ndarray
    summary: dict[str, int]
    counts: dict[str, int]
    recall: dict[str, dict[str, float | None]]
    defaults: dict[str, Any]  # the model's nms / top-n / weights
    decoding_rows: list[list[str]] = field(default_factory=list)
    cells_gt: np.ndarray | None = None  # (H, W) of the chosen level / anchor, for the canvas layer
    cells_predicted: np.ndarray | None = None
    cell_size: tuple[float, float] = (0.0, 0.0)  # photo pixels
    photo_size: tuple[int, int] = (0, 0)  # (w, h)
    decoding_boxes: np.ndarray | None = None  # (N, 4): each table row's anchor in the decoding picture


_cache: dict[str, Any] = {}


def _key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return (str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def _outputs(project: Any, req: LabRequest):
    load_torch()  # torch is imported once, under core.torch_loader's lock
    from core.training.rpn_probe import load_lab_image, load_lab_model, rpn_forward

    key = _key(req.checkpoint)
    if _cache.get("model_key") != key:
        _cache.clear()
        _cache["model"], _cache["model_key"] = load_lab_model(req.checkpoint), key
    image_key = (req.image, _key(project.abs_path(req.image)), _annotation_key(project, req.image))
    if _cache.get("image_key") != image_key:
        lab = _cache["model"]
        _cache["outputs"] = rpn_forward(lab, load_lab_image(project, req.image, lab))
        _cache["image_key"] = image_key
    return _cache["model"], _cache["outputs"]


def _annotation_key(project: Any, image: str) -> tuple | None:
    path = project.annotation_path(image)
    return _key(path) if path.exists() else None


def _row(table, k: int) -> list[str]:
    f = lambda v: ", ".join(f"{x:.2f}" for x in v)  # noqa: E731
    return [str(int(table.anchor_index[k])), str(int(table.level[k])), f(table.anchors[k]), f(table.targets[k]),
            f(table.predicted[k]), f(table.decoded[k]), f"{table.iou_anchor[k]:.2f}", f"{table.iou_decoded[k]:.2f}",
            f"{table.scores[k]:.2f}"]


def compute_views(project: Any, req: LabRequest) -> LabViews:
    load_torch()
    from core.images import load_image
    from core.rpnlab.decoding import decoding_table
    from core.rpnlab.objectness import objectness_maps
    from core.rpnlab.proposals import ProposalSettings, compute_proposals
    from core.rpnlab.render import decoding_anchor_boxes, render_decoding, render_objectness, render_proposals

    lab, outputs = _outputs(project, req)
    maps = objectness_maps(outputs)
    level = min(max(0, req.level), len(maps) - 1)
    chosen = maps[level]
    anchor = req.anchor if req.anchor is not None and 0 <= req.anchor < chosen.gt.shape[0] else None
    photo = load_image(project.abs_path(req.image))
    settings = ProposalSettings(
        nms_thresh=req.nms, score=req.score,
        pre_nms_top_n=req.pre_nms_top_n or outputs.pre_nms_top_n,
        post_nms_top_n=req.post_nms_top_n or outputs.post_nms_top_n, box_weights=req.weights)
    proposals = compute_proposals(outputs, settings)
    table = decoding_table(outputs, req.weights)
    picked = req.picked if req.picked is not None and 0 <= req.picked < len(table) else (0 if len(table) else None)
    gt, predicted = chosen.cells(anchor)
    sh, sw = chosen.stride
    return LabViews(
        request=req, model_name=lab.name,
        levels=[(m.level, m.stride[1], m.gt.shape[0], m.grid[0] * m.grid[1]) for m in maps],
        objectness=np.asarray(render_objectness(photo, outputs, chosen, anchor)),
        proposals=np.asarray(render_proposals(photo, outputs, proposals)),
        decoding=np.asarray(render_decoding(photo, outputs, table, picked)),
        summary=chosen.summary(), counts=proposals.counts(), recall=proposals.recall,
        defaults={"nms": outputs.nms_thresh, "pre_nms_top_n": outputs.pre_nms_top_n,
                  "post_nms_top_n": outputs.post_nms_top_n, "weights": outputs.box_weights},
        decoding_rows=[_row(table, k) for k in range(len(table))],
        cells_gt=gt, cells_predicted=predicted,
        cell_size=(sw * outputs.frame.fx, sh * outputs.frame.fy), photo_size=photo.size,
        decoding_boxes=decoding_anchor_boxes(outputs, table, picked))
