"""LabelMe JSON codec: reads what labelme 3 to 7 writes, writes labelme's schema, keeps unknown keys.

Pure functions, no Qt. Reading never changes a file; writing is atomic.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .annotation import SHAPE_TYPES, Annotation, Shape
from .atomic import atomic_write_text
from .errors import AnnotationError, finite_number, read_json_file

LABELME_VERSION = "5.5.0"
MAX_IMAGE_SIDE = 1_000_000  # imageWidth / imageHeight beyond this are corrupt, not photos
_TOP_KEYS = ("version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth")
_SHAPE_KEYS = ("label", "points", "group_id", "description", "shape_type", "flags", "mask")


def _short(value: Any, limit: int = 60) -> str:
    """repr cut to `limit` characters: a 400-digit coordinate must not flood the message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _points(raw: Any, where: str, path: Path | None) -> np.ndarray:
    if not isinstance(raw, list):
        raise AnnotationError(path, f"{where}: 'points' must be a list of [x, y] pairs")
    out = []
    for i, pt in enumerate(raw):
        if (
            not isinstance(pt, (list, tuple))
            or len(pt) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pt)
        ):
            raise AnnotationError(path, f"{where}: point {i} is {_short(pt)}, not a pair of numbers")
        if not all(finite_number(v) for v in pt):
            raise AnnotationError(path, f"{where}: point {i} is {_short(pt)}, not finite")
        out.append((float(pt[0]), float(pt[1])))
    return np.array(out, dtype=np.float64).reshape(-1, 2)


def shape_from_dict(d: Any, index: int = 0, path: Path | None = None) -> Shape:
    where = f"shape {index}"
    if not isinstance(d, dict):
        raise AnnotationError(path, f"{where} is not a JSON object")
    if "label" not in d or "points" not in d:
        missing = [k for k in ("label", "points") if k not in d]
        raise AnnotationError(path, f"{where} has no {' or '.join(repr(k) for k in missing)}")
    label = d["label"]
    if not isinstance(label, str):
        raise AnnotationError(path, f"{where}: label {label!r} is not a string")
    shape_type = d.get("shape_type") or "polygon"
    if shape_type not in SHAPE_TYPES:
        raise AnnotationError(path, f"{where}: unknown shape_type {shape_type!r}")
    group_id = d.get("group_id")
    if group_id is not None and (not isinstance(group_id, int) or isinstance(group_id, bool)):
        raise AnnotationError(path, f"{where}: group_id {group_id!r} is not an integer")
    flags = d.get("flags") or {}
    if not isinstance(flags, dict):
        raise AnnotationError(path, f"{where}: flags must be an object")
    return Shape(
        label=label,
        points=_points(d["points"], where, path),
        shape_type=shape_type,
        group_id=group_id,
        description=d.get("description") or "",
        flags=dict(flags),
        mask=d.get("mask"),
        extra={k: v for k, v in d.items() if k not in _SHAPE_KEYS},
    )


def annotation_from_dict(d: Any, path: Path | None = None) -> Annotation:
    if not isinstance(d, dict):
        raise AnnotationError(path, "the file is JSON but not a LabelMe object (expected {...})")
    if "shapes" not in d:
        raise AnnotationError(path, "missing key 'shapes': not a LabelMe annotation")
    if not isinstance(d["shapes"], list):
        raise AnnotationError(path, "'shapes' must be a list")
    image_path = d.get("imagePath")
    if image_path is None and path is not None:
        image_path = ""
    if not isinstance(image_path, str):
        raise AnnotationError(path, f"imagePath {image_path!r} is not a string")
    size = []
    for key in ("imageHeight", "imageWidth"):
        v = d.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_IMAGE_SIDE):
            raise AnnotationError(path, f"{key} {_short(v)} is not an integer from 0 to {MAX_IMAGE_SIDE}")
        size.append(v or 0)
    flags = d.get("flags") or {}
    if not isinstance(flags, dict):
        raise AnnotationError(path, "'flags' must be an object")
    return Annotation(
        image_path=image_path,
        image_height=size[0],
        image_width=size[1],
        shapes=[shape_from_dict(s, i, path) for i, s in enumerate(d["shapes"])],
        flags=dict(flags),
        version=str(d.get("version") or LABELME_VERSION),
        image_data=d.get("imageData"),
        extra={k: v for k, v in d.items() if k not in _TOP_KEYS},
    )


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else float(v)


def shape_to_dict(shape: Shape) -> dict[str, Any]:
    d: dict[str, Any] = {
        "label": shape.label,
        "points": [[_num(x), _num(y)] for x, y in shape.points.tolist()],
        "group_id": shape.group_id,
        "description": shape.description,
        "shape_type": shape.shape_type,
        "flags": dict(shape.flags),
        "mask": shape.mask,
    }
    d.update(shape.extra)
    return d


def annotation_to_dict(ann: Annotation, embed_image: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {
        "version": ann.version,
        "flags": dict(ann.flags),
        "shapes": [shape_to_dict(s) for s in ann.shapes],
        "imagePath": ann.image_path,
        "imageData": ann.image_data if embed_image else None,
        "imageHeight": ann.image_height,
        "imageWidth": ann.image_width,
    }
    d.update(ann.extra)
    return d


def read_annotation(path: str | Path) -> Annotation:
    """Parse a LabelMe JSON file; any problem raises AnnotationError naming the file."""
    path = Path(path)
    return annotation_from_dict(read_json_file(path, AnnotationError), path)


def annotation_json(ann: Annotation, embed_image: bool = False) -> str:
    """The file content in labelme's schema; imageData only when `embed_image` is asked."""
    return json.dumps(annotation_to_dict(ann, embed_image), indent=2, ensure_ascii=False) + "\n"


def write_annotation(path: str | Path, ann: Annotation, embed_image: bool = False) -> None:
    """Write atomically in labelme's schema; imageData only when `embed_image` is asked."""
    atomic_write_text(path, annotation_json(ann, embed_image))
