"""`main.py assist`: one assisted polygon from the command line.

Prints the polygon(s) in the photo's EXIF-oriented frame; writes them into the image's LabelMe
file (atomically, through Project.save_annotation) only with --write."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from core.annotation import Shape
from core.errors import ProjectError
from core.geometry import polygon_tolerance
from core.project import Project

from . import METHOD_GRABCUT, AssistError, Box, Point
from .methods import resolve_method


@dataclass
class AssistResult:
    method: str
    checkpoint: Path | None
    polygons: list[np.ndarray]
    notes: list[str] = field(default_factory=list)


def assist(project: Project, image: str | Path, box: Box, positive: Sequence[Point] = (),
           negative: Sequence[Point] = (), method: str | None = None, checkpoint: str | Path | None = None,
           label: str | None = None, device: str = "cpu") -> AssistResult:
    """The polygons (largest first) of the object in `box` of a project image."""
    choice = resolve_method(project, method, checkpoint)
    notes = list(choice.notes)
    path = project.abs_path(image)
    try:
        if choice.method == METHOD_GRABCUT:
            from core.images import load_rgb_array

            from .grabcut import grabcut_mask

            crop = grabcut_mask(load_rgb_array(path), box, positive, negative)
        else:
            from core.training.mask_assist import ModelAssistant

            crop = ModelAssistant(choice.checkpoint, device=device).segment(path, box, label, positive, negative)
    except AssistError as e:
        if e.path is None:
            raise AssistError(path, e.reason) from e
        raise
    polygons = crop.polygons(polygon_tolerance(project.settings))
    if not polygons:
        raise AssistError(path, f"no polygon came out of the box {tuple(box)}")
    return AssistResult(choice.method, choice.checkpoint, polygons, notes + crop.notes)


def write_polygons(project: Project, image: str | Path, polygons: list[np.ndarray], label: str) -> Path:
    """Append the polygons as one instance (a shared group_id when there are several parts)."""
    ann = project.load_or_new(image)
    group = None
    if len(polygons) > 1:
        used = [s.group_id for s in ann.shapes if s.group_id is not None]
        group = max(used, default=0) + 1
    for poly in polygons:
        ann.shapes.append(Shape(label, np.round(poly, 2), "polygon", group_id=group))
    project.ensure_labels([label])
    project.save_annotation(image, ann)
    return project.annotation_path(image)


def run_assist(args: argparse.Namespace) -> int:
    from core.anchors.commands import find_image

    if not Path(args.project).expanduser().is_dir():
        raise ProjectError(args.project, "not a folder (give the project folder with --project)")
    project = Project.open(args.project, create=False)
    image = find_image(project, args.image)
    label = args.label or (project.label_names()[0] if project.labels else "object")
    result = assist(project, image, args.box, args.positive, args.negative, args.method, args.checkpoint, label,
                    args.device)
    written = write_polygons(project, image, result.polygons, label) if args.write else None
    for note in result.notes:
        print(f"masklab: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps({
            "image": image.as_posix(), "label": label, "method": result.method,
            "checkpoint": str(result.checkpoint) if result.checkpoint else None, "box": list(args.box),
            "positive": [list(p) for p in args.positive], "negative": [list(p) for p in args.negative],
            "polygons": [np.round(p, 2).tolist() for p in result.polygons],
            "written": str(written) if written else None, "notes": result.notes}))
        return 0
    how = "GrabCut" if result.method == METHOD_GRABCUT else f"model {result.checkpoint}"
    print(f"{image.as_posix()}: {label}, {len(result.polygons)} polygon(s) by {how}")
    for poly in result.polygons:
        print(" ".join(f"{x:.2f},{y:.2f}" for x, y in poly))
    if written:
        print(f"written to {written}")
    return 0
