"""VIA (VGG Image Annotator) 1.x / 2.x import.

Accepted layouts: the dict form {key: {filename, size, regions, ...}}, the list form
[{filename, regions, ...}, ...], and VIA 2 project files {"_via_img_metadata": {...}}.
`regions` may be a dict or a list. Region shapes: polygon, polyline (closed into a polygon),
rect, circle and ellipse; all become labelme polygons (rectangles as
four corners, circles and ellipses as 32 points).

The class of a region comes from the region attribute named by `label_key`; without one, the
single attribute the file uses is taken, and regions without a class get `default_label`
("object"). The source may be one JSON file or a folder: every VIA JSON below the folder is read
and images keep their folder relative to it (train/1.jpg and val/1.jpg do not collide). Images
that no VIA file lists are not imported.
"""
from __future__ import annotations

import math
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ..errors import FormatError, finite_number
from ..project import PROJECT_FILE, iter_images
from . import (
    DEFAULT_LABEL,
    clean_polygon,
    ImportedImage,
    ImportPlan,
    load_json,
    locate_image,
    next_group_id,
    polygon_shapes,
    require_source,
)

_ELLIPSE_POINTS = 32


def via_records(data: Any, path: Path) -> list[dict[str, Any]]:
    """The image records of a VIA file in any of its layouts."""
    if isinstance(data, dict) and "_via_img_metadata" in data:
        data = data["_via_img_metadata"]
    if isinstance(data, dict):
        records = list(data.values())
    elif isinstance(data, list):
        records = data
    else:
        raise FormatError(path, "not a VIA file: expected an object or a list of image records")
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or "filename" not in rec:
            raise FormatError(path, f"not a VIA file: image record {i} has no 'filename'")
        if not isinstance(rec.get("regions", []), (dict, list)):
            raise FormatError(path, f"image record {i} ({rec['filename']}): 'regions' must be a list or an object")
    return records


def _regions(rec: dict[str, Any]) -> list[Any]:
    regions = rec.get("regions") or []
    return list(regions.values()) if isinstance(regions, dict) else list(regions)


def attribute_keys(records: list[dict[str, Any]]) -> set[str]:
    keys: set[str] = set()
    for rec in records:
        for region in _regions(rec):
            attrs = region.get("region_attributes") if isinstance(region, dict) else None
            if isinstance(attrs, dict):
                keys.update(k for k, v in attrs.items() if v not in ("", None, {}))
    return keys


def _label_of(region: dict[str, Any], label_key: str | None, default: str) -> str:
    attrs = region.get("region_attributes") or {}
    if not label_key or not isinstance(attrs, dict):
        return default
    value = attrs.get(label_key)
    if isinstance(value, dict):  # VIA 2 checkbox / dropdown: {"car": true}
        chosen = [k for k, v in value.items() if v]
        value = chosen[0] if len(chosen) == 1 else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return default


def _numbers(attrs: dict[str, Any], key: str) -> list[float]:
    if key not in attrs:
        raise ValueError(f"has no '{key}'")
    values = attrs[key]
    if not isinstance(values, list):
        values = [values]
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"'{key}' contains {_short(v)}, not a number")
        if not finite_number(v):
            raise ValueError(f"'{key}' contains {_short(v)}, not a finite number")
        out.append(float(v))
    return out


def _number(attrs: dict[str, Any], key: str) -> float:
    """A single number (rect x, circle r, ...): [] or [1, 2] are refused, [5] is taken as 5."""
    values = _numbers(attrs, key)
    if len(values) != 1:
        raise ValueError(f"'{key}' is {_short(attrs[key])}, not one number")
    return values[0]


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _ellipse(cx: float, cy: float, rx: float, ry: float, theta: float = 0.0) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, _ELLIPSE_POINTS, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    c, s = math.cos(theta), math.sin(theta)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)


def region_outline(shape_attrs: dict[str, Any]) -> np.ndarray:
    """The region as (N, 2) polygon points; ValueError saying what is wrong."""
    name = shape_attrs.get("name")
    if name in ("polygon", "polyline"):
        xs, ys = _numbers(shape_attrs, "all_points_x"), _numbers(shape_attrs, "all_points_y")
        if len(xs) != len(ys):
            raise ValueError(f"has {len(xs)} x and {len(ys)} y coordinates")
        pts = np.stack([xs, ys], axis=1) if xs else np.zeros((0, 2))
        if len(pts) > 1 and np.array_equal(pts[0], pts[-1]):
            pts = pts[:-1]  # an explicitly closed ring; labelme closes implicitly
        return pts
    if name == "rect":
        x, y, w, h = (_number(shape_attrs, k) for k in ("x", "y", "width", "height"))
        return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float64)
    if name == "circle":
        cx, cy, r = (_number(shape_attrs, k) for k in ("cx", "cy", "r"))
        return _ellipse(cx, cy, r, r)
    if name == "ellipse":
        cx, cy, rx, ry = (_number(shape_attrs, k) for k in ("cx", "cy", "rx", "ry"))
        theta = _number(shape_attrs, "theta") if "theta" in shape_attrs else 0.0
        return _ellipse(cx, cy, rx, ry, theta)
    raise ValueError(f"shape {name!r} has no area (only polygon, polyline, rect, circle, ellipse import)")


def read_via(
    src: Path,
    images_dir: Path | None = None,
    label_key: str | None = None,
    default_label: str | None = None,
) -> ImportPlan:
    """Parse one VIA JSON file, or every VIA JSON below a folder, into an import plan."""
    src = require_source(src, None)
    plan = ImportPlan("via", src)
    sources: list[tuple[Path, list[dict[str, Any]]]] = []
    if src.is_dir():
        root = src
        for path in sorted(src.rglob("*.json")):
            if path.name == PROJECT_FILE:
                continue
            try:  # in a folder, JSON files that are not VIA (LabelMe sidecars, configs) are listed
                sources.append((path, via_records(load_json(path), path)))
            except FormatError as e:
                plan.note("not imported", path.relative_to(src).as_posix(), e.reason)
        if not sources:
            raise FormatError(src, "no VIA JSON file found in this folder")
    else:
        root = src.parent
        sources.append((src, via_records(load_json(src), src)))
    seen: set[PurePosixPath] = set()
    for json_path, records in sources:
        _read_one(plan, json_path, records, root, images_dir, label_key, default_label or DEFAULT_LABEL, seen)
    if src.is_dir() and images_dir is None:
        for rel in iter_images(src):
            if PurePosixPath(rel.as_posix()) not in seen:
                plan.note("not imported", rel.as_posix(), "no VIA file lists this image")
    return plan


def _read_one(
    plan: ImportPlan,
    json_path: Path,
    records: list[dict[str, Any]],
    root: Path,
    images_dir: Path | None,
    label_key: str | None,
    default_label: str,
    seen: set[PurePosixPath],
) -> None:
    keys = attribute_keys(records)
    json_name = json_path.relative_to(root).as_posix()
    if label_key is not None and keys and label_key not in keys:
        plan.note("label key unused", json_name, f"no region has the attribute {label_key!r} "
                                                 f"(they have {sorted(keys)}); the default label is used")
    if label_key is None:
        if len(keys) > 1:
            raise FormatError(json_path, f"regions have several attributes {sorted(keys)}; "
                                         "name the one holding the class with --label-key")
        label_key = next(iter(keys), None)
    folders = [images_dir] if images_dir is not None else [json_path.parent]
    for index, rec in enumerate(records):
        filename = str(rec["filename"])
        where = f"{json_name} image {index} ({filename})"
        found = locate_image(plan, filename, folders, where)
        if found is None:
            continue
        source, (width, height) = found
        # locate_image looked below these folders only, so the image is inside one of them
        dest = PurePosixPath(source.relative_to(images_dir or root).as_posix())
        if dest in seen:
            plan.note("skipped", where, f"{dest} is listed twice; the first record was used")
            continue
        seen.add(dest)
        item = ImportedImage(source, dest, width, height)
        for r_index, region in enumerate(_regions(rec)):
            r_where = f"{where} region {r_index}"
            if not isinstance(region, dict) or not isinstance(region.get("shape_attributes"), dict):
                plan.note("skipped", r_where, "region has no 'shape_attributes' object")
                continue
            try:
                outline = region_outline(region["shape_attributes"])
            except ValueError as e:
                plan.note("skipped", r_where, str(e))
                continue
            label = _label_of(region, label_key, default_label)
            parts = clean_polygon(plan, outline, width, height, r_where)
            item.shapes.extend(polygon_shapes(parts, label, next_group_id(item.shapes)))
        plan.images.append(item)
