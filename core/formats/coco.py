"""COCO instance-segmentation import and export.

Import: polygon segmentations (several polygons of one annotation become parts sharing a
group_id), RLE in compressed and uncompressed form (becoming labelme `mask` shapes), `iscrowd`
kept as the shape flag `iscrowd: true`, category names as labels. Images are looked for under
--images, else beside the JSON, in images/ beside it, or in ../images.

Export (`project_to_coco`): categories numbered from 1 in project label order (labels used in
annotations but missing from the project follow), no background entry; one annotation per
instance (Annotation.instances()); area from the rasterised mask; bbox [x, y, w, h] from the mask
(pixel edges); segmentation as polygons, or compressed RLE when an instance has a mask part;
image sizes after EXIF orientation.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from pycocotools import mask as coco_mask

from ..annotation import Shape
from ..atomic import atomic_write_json
from ..errors import FormatError, MasklabError, finite_number
from ..geometry import encode_labelme_mask, instance_mask, mask_area, mask_box
from ..images import image_size
from ..project import Project
from . import (
    clean_polygon,
    ImportedImage,
    ImportPlan,
    load_json,
    locate_image,
    next_group_id,
    polygon_shapes,
    require_source,
    safe_relative,
)

CROWD_FLAG = "iscrowd"


def _require_list(data: dict[str, Any], key: str, path: Path) -> list[Any]:
    if key not in data:
        raise FormatError(path, f"not a COCO file: missing key '{key}'")
    if not isinstance(data[key], list):
        raise FormatError(path, f"'{key}' must be a list")
    return data[key]


def _require_keys(entry: Any, keys: tuple[str, ...], what: str, path: Path) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise FormatError(path, f"{what} is not an object")
    missing = [k for k in keys if k not in entry]
    if missing:
        raise FormatError(path, f"{what} has no {', '.join(repr(k) for k in missing)}")
    return entry


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _require_id(entry: dict[str, Any], key: str, what: str, path: Path) -> int:
    """COCO ids are integers; anything else (a list, an object) cannot be matched up."""
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise FormatError(path, f"{what}: {key!r} is {_short(value)}, not an integer")
    return value


def _polygon_part(raw: Any) -> np.ndarray:
    if not isinstance(raw, list) or len(raw) % 2 or len(raw) < 6:
        n = len(raw) if isinstance(raw, list) else type(raw).__name__
        raise ValueError(f"polygon needs an even number (at least 6) of coordinates, got {n}")
    for v in raw:
        if not finite_number(v):
            raise ValueError(f"polygon contains {_short(v)}, not a finite number")
    return np.asarray(raw, dtype=np.float64).reshape(-1, 2)


def _decode_rle(seg: dict[str, Any], height: int, width: int) -> np.ndarray:
    """The RLE's mask; its size is checked against the image's before anything is allocated."""
    size, counts = seg.get("size"), seg.get("counts")
    if not (isinstance(size, list) and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in size)):
        raise ValueError(f"RLE 'size' {_short(size)} is not [height, width]")
    h, w = size
    if (h, w) != (height, width):
        raise ValueError(f"RLE size {_short(size)} differs from the image's {height}x{width} (height x width)")
    if isinstance(counts, list):
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in counts) or sum(counts) != h * w:
            raise ValueError("uncompressed RLE counts are not non-negative integers summing to height*width")
        rle = coco_mask.frPyObjects(seg, h, w)
    elif isinstance(counts, str):
        rle = {"size": [h, w], "counts": counts.encode("ascii")}
    else:
        raise ValueError("RLE 'counts' is neither a list nor a string")
    try:
        return coco_mask.decode(rle).astype(bool)
    except Exception as e:  # pycocotools raises plain exceptions for corrupt strings
        raise ValueError(f"RLE cannot be decoded ({e})") from e


def read_coco(src: Path, images_dir: Path | None = None) -> ImportPlan:
    """Parse a COCO JSON file into an import plan; structural problems raise FormatError."""
    path = require_source(src, want_dir=False)
    data = load_json(path)
    if not isinstance(data, dict):
        raise FormatError(path, "not a COCO file: expected a JSON object")
    images = _require_list(data, "images", path)
    annotations = _require_list(data, "annotations", path)
    categories = _require_list(data, "categories", path)
    names: dict[Any, str] = {}
    for i, cat in enumerate(categories):
        _require_keys(cat, ("id", "name"), f"category {i}", path)
        names[_require_id(cat, "id", f"category {i}", path)] = str(cat["name"])
    folders = [images_dir] if images_dir is not None else [path.parent, path.parent / "images", path.parent.parent / "images"]

    plan = ImportPlan("coco", path)
    by_id: dict[Any, ImportedImage] = {}
    listed_ids: set[Any] = set()
    seen: set[PurePosixPath] = set()
    for i, entry in enumerate(images):
        _require_keys(entry, ("id", "file_name"), f"image {i}", path)
        listed_ids.add(_require_id(entry, "id", f"image {i}", path))
        where = f"image {entry['id']} ({entry['file_name']})"
        found = locate_image(plan, str(entry["file_name"]), folders, where)
        if found is None:
            continue
        source, size = found
        dest = safe_relative(str(entry["file_name"]))
        if dest in seen:
            plan.note("skipped", where, f"{dest} is listed twice")
            continue
        seen.add(dest)
        listed = (entry.get("width"), entry.get("height"))
        if all(isinstance(v, int) for v in listed) and listed != size:
            plan.note("size differs", where, f"the JSON says {listed[0]}x{listed[1]}, the (EXIF-oriented) "
                                             f"image is {size[0]}x{size[1]}; coordinates are used as they are")
        item = ImportedImage(source, dest, size[0], size[1])
        by_id[entry["id"]] = item
        plan.images.append(item)

    for i, ann in enumerate(annotations):
        _require_keys(ann, ("image_id", "category_id"), f"annotation {i}", path)
        _require_id(ann, "image_id", f"annotation {i}", path)
        _require_id(ann, "category_id", f"annotation {i}", path)
        where = f"annotation {ann.get('id', i)} (image {ann['image_id']})"
        if ann["image_id"] not in listed_ids:
            plan.note("skipped", where, f"image_id {ann['image_id']!r} is not in 'images'")
            continue
        item = by_id.get(ann["image_id"])
        if item is None:
            continue  # its image was skipped, already noted
        if ann["category_id"] not in names:
            plan.note("skipped", where, f"category_id {ann['category_id']!r} is not in 'categories'")
            continue
        _add_annotation(plan, item, ann, names[ann["category_id"]], where)
    return plan


def _add_annotation(plan: ImportPlan, item: ImportedImage, ann: dict[str, Any], label: str, where: str) -> None:
    crowd = bool(ann.get("iscrowd", 0))
    flags = {CROWD_FLAG: True} if crowd else {}
    seg = ann.get("segmentation")
    if isinstance(seg, dict):
        try:
            mask = _decode_rle(seg, item.height, item.width)
        except ValueError as e:
            plan.note("skipped", where, str(e))
            return
        if not mask.any():
            plan.note("skipped", where, "the RLE mask is empty")
            return
        points, png = encode_labelme_mask(mask)
        item.shapes.append(Shape(label, points, "mask", flags=flags, mask=png))
        return
    if not isinstance(seg, list) or not seg:
        plan.note("skipped", where, "no segmentation (boxes alone are not imported)")
        return
    parts: list[np.ndarray] = []
    for k, raw in enumerate(seg):
        try:
            outline = _polygon_part(raw)
        except ValueError as e:
            plan.note("skipped", f"{where} polygon {k}", str(e))
            continue
        parts.extend(clean_polygon(plan, outline, item.width, item.height, f"{where} polygon {k}"))
    item.shapes.extend(polygon_shapes(parts, label, next_group_id(item.shapes), flags))


def _rle_of(mask: np.ndarray) -> dict[str, Any]:
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _polygon_segmentation(parts: list[Shape]) -> list[list[float]]:
    polys = []
    for part in parts:
        pts = part.polygon_points()
        if len(pts) >= 3:
            polys.append([float(v) for v in pts.ravel()])
    return polys


def project_to_coco(project: Project, images: list[str | Path] | None = None,
                    problems: list[str] | None = None) -> dict[str, Any]:
    """The project (or the listed images, relative paths) as a COCO instance-segmentation dict.

    Without `images`, every image with a LabelMe file is included; listed images without one are
    included with no objects. Unreadable annotations or images are left out and described in
    `problems` when a list is given."""
    problems = problems if problems is not None else []
    chosen = [Path(p) for p in images] if images is not None else None
    records: list[tuple[Path, Any, int, int]] = []
    for rel in chosen if chosen is not None else project.iter_images():
        try:
            ann = project.load_annotation(rel)
            if ann is None and chosen is None:
                continue
            width, height = image_size(project.abs_path(rel))
        except MasklabError as e:
            problems.append(str(e))
            continue
        records.append((rel, ann, width, height))

    labels = project.label_names()
    for _, ann, _, _ in records:
        for label, _ in ann.instances() if ann is not None else []:
            if label not in labels:
                labels.append(label)
    category_id = {name: i + 1 for i, name in enumerate(labels)}
    out: dict[str, Any] = {
        "info": {"description": f"exported by masklab from {project.root}"},
        "licenses": [],
        "images": [],
        "annotations": [],
        "categories": [{"id": category_id[n], "name": n, "supercategory": ""} for n in labels],
    }
    for image_id, (rel, ann, width, height) in enumerate(records, start=1):
        out["images"].append({"id": image_id, "file_name": rel.as_posix(), "width": width, "height": height})
        for label, parts in ann.instances() if ann is not None else []:
            try:
                mask = instance_mask(parts, height, width)
            except ValueError as e:
                problems.append(f"{project.annotation_path(rel)}: {e}")
                continue
            box = mask_box(mask)
            if box is None:  # drawn but covering no pixel centre: keep the outline's box
                xs = [v for p in parts for v in (p.bbox()[0], p.bbox()[2])]
                ys = [v for p in parts for v in (p.bbox()[1], p.bbox()[3])]
                box = (min(xs), min(ys), max(xs), max(ys))
            polygons = _polygon_segmentation(parts)
            has_mask_part = any(p.shape_type == "mask" for p in parts)
            # RLE for masks, and for outlines too degenerate to be COCO polygons
            segmentation: Any = _rle_of(mask) if has_mask_part or not polygons else polygons
            out["annotations"].append({
                "id": len(out["annotations"]) + 1,
                "image_id": image_id,
                "category_id": category_id[label],
                "segmentation": segmentation,
                "area": float(mask_area(mask)),
                "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
                "iscrowd": int(any(p.flags.get(CROWD_FLAG) for p in parts)),
            })
    return out


def write_coco(project: Project, out: Path, problems: list[str] | None = None) -> dict[str, int]:
    """Write the project as a COCO JSON file; returns counts of images, annotations, categories."""
    from ..output_paths import output_path_problem

    problem = output_path_problem(project.root, out, folder=False)
    if problem:  # the window's export comes here without the command line's check
        raise FormatError(out, problem)
    data = project_to_coco(project, problems=problems)
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out, data)
    except OSError as e:
        raise FormatError(out, f"cannot write: {e.strerror or e}") from e
    return {k: len(data[k]) for k in ("images", "annotations", "categories")}
