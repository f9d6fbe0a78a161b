"""`main.py objectness` and `main.py proposals`: a checkpoint's RPN on one project image, as a
PNG and / or JSON."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.errors import ProjectError
from core.images import load_image
from core.project import Project


def _open(args: argparse.Namespace):
    from core.anchors.commands import find_image

    from core.training.rpn_probe import load_lab_image, load_lab_model, rpn_forward

    if not Path(args.project).expanduser().is_dir():
        raise ProjectError(args.project, "not a folder (give the project folder with --project)")
    if args.out and not Path(args.out).expanduser().resolve().parent.is_dir():
        raise ProjectError(args.out, "the folder for --out does not exist")
    project = Project.open(args.project, create=False)
    image = find_image(project, args.image)
    lab = load_lab_model(args.checkpoint)
    outputs = rpn_forward(lab, load_lab_image(project, image, lab))
    return project, image, outputs


def _save(picture, out: str) -> None:
    from core.anchors.render import save_png

    save_png(picture, Path(out).expanduser())


def run_objectness(args: argparse.Namespace) -> int:
    from .objectness import maps_to_json, objectness_maps
    from .render import render_objectness

    project, image, outputs = _open(args)
    maps = objectness_maps(outputs)
    level = args.level
    if level is not None and not 0 <= level < len(maps):
        raise ProjectError(args.checkpoint, f"--level {level}: the model has levels 0..{len(maps) - 1}")
    # without --level the picture shows the level where most anchors are positive
    shown = maps[level] if level is not None else max(maps, key=lambda m: int((m.gt == 1).sum()))
    if args.out:
        _save(render_objectness(load_image(project.abs_path(image)), outputs, shown), args.out)
    if args.json:
        print(json.dumps({**maps_to_json(outputs, maps, level), "out": args.out}))
        return 0
    print(f"{image.as_posix()}: model input {outputs.input_hw[1]}x{outputs.input_hw[0]}, {len(maps)} level(s)")
    for m in maps if level is None else [shown]:
        s = m.summary()
        print(f"  level {m.level} stride {m.stride[1]} grid {m.grid[1]}x{m.grid[0]} x {m.gt.shape[0]} anchors: "
              f"{s['positive_predicted_above_0.5']} of {s['positive_cells']} positive cells predicted > 0.5, "
              f"{s['negative_predicted_above_0.5']} of {s['negative_cells']} negative cells")
    if args.out:
        print(f"wrote {args.out}")
    return 0


def run_proposals(args: argparse.Namespace) -> int:
    from .proposals import ProposalSettings, compute_proposals, proposals_to_json
    from .render import render_proposals

    project, image, outputs = _open(args)
    settings = ProposalSettings(
        nms_thresh=args.nms, score=args.score,
        pre_nms_top_n=args.pre_nms_top_n if args.pre_nms_top_n is not None else outputs.pre_nms_top_n,
        post_nms_top_n=args.post_nms_top_n if args.post_nms_top_n is not None else outputs.post_nms_top_n)
    try:
        p = compute_proposals(outputs, settings)
    except ValueError as e:
        raise ProjectError(args.checkpoint, str(e)) from e
    if args.out:
        _save(render_proposals(load_image(project.abs_path(image)), outputs, p), args.out)
    if args.json:
        print(json.dumps({**proposals_to_json(outputs, p), "out": args.out}))
        return 0
    c = p.counts()
    print(f"{image.as_posix()}: {c['before_nms']} proposals before NMS ({c['before_nms_positive']} with score >= "
          f"{settings.score:g}), {c['after_nms']} after NMS at IoU {settings.nms_thresh:g} "
          f"({c['after_nms_positive']} positive); {len(p.gt_boxes)} ground-truth boxes")
    for name, r in p.recall.items():
        print(f"  recall {name.replace('_', ' ')}: " + ", ".join(
            f"IoU {k[3:]} " + ("n/a" if v is None else f"{v:.3f}") for k, v in r.items()))
    if args.out:
        print(f"wrote {args.out}")
    return 0
