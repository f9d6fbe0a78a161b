"""Predictions files: a model's masks or boxes for one image, kept apart from the annotations.

PROJECT/predictions/<image path relative to the project, suffix .json>, in LabelMe's format:
shape_type "mask" with labelme's mask encoding (core.geometry.encode_labelme_mask) for Mask R-CNN
models, or "rectangle" for rpn_classic boxes. Every shape has the extra keys "score" and
"prediction_id"; the top level has "checkpoint" and "model". `imagePath` is relative to the JSON
file, as labelme expects. The project scanner skips the predictions folder.

A prediction's id names it for as long as the file lives (accepting it records the id on the new
shapes, rejecting it removes it from the file, and undoing the rejection puts it back). Files written before ids existed still load: their
shapes get an id derived from their content, which is the same every time the file is read.

No torch here: the window reads and rewrites these files on its own thread.
"""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .annotation import Annotation, Shape
from .errors import AnnotationError
from .geometry import decode_labelme_mask, encode_labelme_mask, inclusive_to_edge_box, mask_box, mask_to_polygons
from .labelme_json import read_annotation, write_annotation

PREDICTIONS_DIR = "predictions"
ID_KEY = "prediction_id"  # on a predictions-file shape, and on the shapes made by accepting it
SCORE_KEY = "score"
MIN_PART_AREA = 16.0  # square pixels: specks of a mask are not worth a polygon


@dataclass
class Prediction:
    label: str
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 (pixel edges) in the photo's oriented frame
    mask: np.ndarray | None  # full-size bool mask; None for box-only models
    id: str = ""  # given when the predictions file is written


def new_prediction_id() -> str:
    return uuid.uuid4().hex[:12]


def prediction_path(project: Any, image: str | Path) -> Path:
    return project.root / PREDICTIONS_DIR / Path(image).with_suffix(".json")


def _content_id(shape: Shape) -> str:
    """A stable id for a shape of a file written before predictions had ids."""
    key = json.dumps([shape.label, shape.extra.get(SCORE_KEY), shape.points.round(3).tolist(), shape.mask])
    return "c" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:11]


def shape_prediction_id(shape: Shape) -> str:
    """The id of a predictions-file shape: the stored one, else one derived from its content."""
    stored = shape.extra.get(ID_KEY)
    return stored if isinstance(stored, str) and stored else _content_id(shape)


def predictions_annotation(project: Any, image: str | Path, preds: list[Prediction], size: tuple[int, int],
                           checkpoint: str, model_name: str) -> Annotation:
    """The predictions file's content; predictions without an id get a new one (in place)."""
    json_path = prediction_path(project, image)
    rel_image = os.path.relpath(project.abs_path(image), json_path.parent)
    ann = Annotation(image_path=Path(rel_image).as_posix(), image_height=size[0], image_width=size[1],
                     extra={"checkpoint": checkpoint, "model": model_name})
    for p in preds:
        if p.mask is not None and not p.mask.any():
            continue
        p.id = p.id or new_prediction_id()
        extra = {SCORE_KEY: round(p.score, 5), ID_KEY: p.id}
        if p.mask is not None:
            points, b64 = encode_labelme_mask(p.mask)
            ann.shapes.append(Shape(p.label, points, "mask", mask=b64, extra=extra))
        else:
            x1, y1, x2, y2 = p.box
            ann.shapes.append(Shape(p.label, np.array([[x1, y1], [x2, y2]]), "rectangle", extra=extra))
    return ann


def write_predictions(project: Any, image: str | Path, preds: list[Prediction], size: tuple[int, int],
                      checkpoint: str, model_name: str) -> Path:
    """Write (atomically) the predictions file of one image; returns its path."""
    path = prediction_path(project, image)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_annotation(path, predictions_annotation(project, image, preds, size, checkpoint, model_name))
    return path


def read_predictions(project: Any, image: str | Path) -> list[Prediction]:
    """The stored predictions of one image, best first; [] when there are none."""
    path = prediction_path(project, image)
    if not path.exists():
        return []
    ann = read_annotation(path)
    h, w = ann.image_height, ann.image_width
    result = []
    for i, s in enumerate(ann.shapes):
        try:
            score = float(s.extra.get(SCORE_KEY, 1.0))
        except (TypeError, ValueError):
            raise AnnotationError(path, f"shape {i}: score {s.extra.get(SCORE_KEY)!r} is not a number") from None
        if s.shape_type == "mask":
            try:
                mask = decode_labelme_mask(s, h, w)
            except ValueError as e:
                raise AnnotationError(path, f"shape {i}: {e}") from e
            box = inclusive_to_edge_box(s.bbox())  # labelme's mask box names the last pixel
            result.append(Prediction(s.label, score, box, mask, shape_prediction_id(s)))
        else:
            result.append(Prediction(s.label, score, s.bbox(), None, shape_prediction_id(s)))
    result.sort(key=lambda p: -p.score)
    return result


def remove_predictions(project: Any, image: str | Path, ids: Iterable[str]) -> list[tuple[int, Shape]]:
    """Take the predictions `ids` out of the image's predictions file (rewritten atomically, every
    remaining shape with its id stored); returns the removed shapes with their former positions,
    which `restore_predictions` puts back. AnnotationError when the file cannot be read; the file is
    then left as it was."""
    path = prediction_path(project, image)
    if not path.exists():
        return []
    ann = read_annotation(path)
    ids = set(ids)
    kept, removed = [], []
    for i, s in enumerate(ann.shapes):
        s.extra[ID_KEY] = shape_prediction_id(s)
        (removed if s.extra[ID_KEY] in ids else kept).append((i, s))
    if removed:
        ann.shapes = [s for _, s in kept]
        write_annotation(path, ann)
    return removed


def restore_predictions(project: Any, image: str | Path, removed: list[tuple[int, Shape]]) -> None:
    """Put shapes taken out by `remove_predictions` back at their former positions (undo of a
    rejection). A prediction already in the file again is not added twice."""
    path = prediction_path(project, image)
    if not removed or not path.exists():
        return
    ann = read_annotation(path)
    present = {shape_prediction_id(s) for s in ann.shapes}
    for i, shape in sorted(removed, key=lambda pair: pair[0]):
        if shape.extra[ID_KEY] not in present:
            ann.shapes.insert(min(i, len(ann.shapes)), shape)
    write_annotation(path, ann)


def accepted_prediction_ids(annotation: Annotation | None) -> set[str]:
    """Ids of the predictions whose shapes are in this annotation (accepting one records its id)."""
    if annotation is None:
        return set()
    return {s.extra[ID_KEY] for s in annotation.shapes if isinstance(s.extra.get(ID_KEY), str)}


def threshold_to_show(scores: list[float], count: int = 10, floor: float = 0.05) -> float:
    """The score threshold, in hundredths and rounded down, that shows the best `count` of
    `scores` (all of them when there are fewer), never below `floor`."""
    if not scores:
        return floor
    ranked = sorted(scores, reverse=True)
    kth = ranked[min(count, len(ranked)) - 1]
    return max(floor, int(kth * 100 + 1e-9) / 100)


def prediction_polygons(prediction: Prediction, tolerance: float) -> list[np.ndarray]:
    """The polygons accepting a prediction gives: its mask's outer contours simplified at
    `tolerance` pixels (core.geometry.mask_to_polygons; largest first), else its box."""
    if prediction.mask is None:
        x1, y1, x2, y2 = prediction.box
        return [np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float64)]
    box = mask_box(prediction.mask)
    if box is None:
        return []
    x1, y1, x2, y2 = (int(v) for v in box)  # outline the crop only: a full photo per prediction is slow
    crop = prediction.mask[y1:y2, x1:x2]
    return [pts + (x1, y1) for pts in mask_to_polygons(crop, tolerance=tolerance, min_area=MIN_PART_AREA)]


def shapes_from_predictions(annotation: Annotation, predictions: list[Prediction], tolerance: float,
                            label: str | None = None) -> list[tuple[Prediction, list[Shape]]]:
    """(prediction, its new polygon shapes) for each prediction that yields at least one polygon,
    labelled `label` or the predicted label. The parts of one mask share a new group_id, so they
    stay one instance; each shape records the prediction's id."""
    used = {s.group_id for s in annotation.shapes if s.group_id is not None}
    result = []
    for pred in predictions:
        outlines = prediction_polygons(pred, tolerance)
        if not outlines:
            continue
        group = None
        if len(outlines) > 1:
            group = max(used, default=0) + 1
            used.add(group)
        extra = {ID_KEY: pred.id} if pred.id else {}
        shapes = [Shape(label or pred.label, pts, "polygon", group_id=group, extra=dict(extra),
                        description=f"accepted prediction, score {pred.score:.2f}") for pts in outlines]
        result.append((pred, shapes))
    return result
