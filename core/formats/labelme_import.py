"""LabelMe import: a folder of images with LabelMe JSON files beside them.

Shapes, flags and unknown keys are copied as they are (through core.labelme_json); the image
size is taken from the image itself (EXIF-oriented). Polygon problems are reported, not changed,
since LabelMe is the project's own format. JSON files whose image is missing, and unreadable
JSON files, are skipped with a note; images without a JSON are copied with no annotation file.
"""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from ..errors import AnnotationError, FormatError
from ..geometry import validate_polygon
from ..images import IMAGE_SUFFIXES
from ..labelme_json import read_annotation
from ..project import PROJECT_FILE, iter_images, sidecar_path
from . import ImportedImage, ImportPlan, read_size, require_source


def _image_for(json_path: Path, image_path: str) -> Path | None:
    if image_path:
        candidate = json_path.parent / image_path.replace("\\", "/")
        try:
            if candidate.is_file():
                return candidate
        except OSError:  # a name too long for the file system, a loop of links: look beside the JSON
            pass
    for suffix in IMAGE_SUFFIXES + tuple(s.upper() for s in IMAGE_SUFFIXES):
        candidate = json_path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def read_labelme(src: Path) -> ImportPlan:
    """Parse a folder of images + LabelMe sidecars into an import plan."""
    root = require_source(src, want_dir=True)
    plan = ImportPlan("labelme", root)
    annotated: set[Path] = set()
    json_files = [p for p in sorted(root.rglob("*.json")) if p.name != PROJECT_FILE]
    for json_path in json_files:
        where = json_path.relative_to(root).as_posix()
        try:
            ann = read_annotation(json_path)
        except AnnotationError as e:
            plan.note("skipped", where, e.reason)
            continue
        source = _image_for(json_path, ann.image_path)
        if source is None:
            plan.note("skipped", where, f"image {ann.image_path!r} not found beside the JSON")
            continue
        source = Path(os.path.normpath(source))  # resolves '..' but keeps symlinked images inside
        if source in annotated:
            plan.note("skipped", where, f"a second annotation of {source.name}; the first one was used")
            continue
        if not source.is_relative_to(root):
            plan.note("skipped", where, f"image {source} is outside the source folder")
            continue
        if sidecar_path(source) != json_path:
            # the project keeps the JSON beside the image under the image's own name
            plan.note("renamed", where, f"stored as {sidecar_path(source.relative_to(root)).as_posix()}")
        size = read_size(plan, source, where)
        if size is None:
            continue
        width, height = size
        if ann.image_width and ann.image_height and (ann.image_width, ann.image_height) != (width, height):
            plan.note("size corrected", where, f"JSON says {ann.image_width}x{ann.image_height}, "
                                               f"the image is {width}x{height}")
        for i, shape in enumerate(ann.shapes):
            if shape.shape_type == "polygon":
                problems = validate_polygon(shape.points, width, height)
                if problems:
                    plan.note("kept with problems", f"{where} shape {i} ({shape.label})", "; ".join(problems))
        dest = PurePosixPath(source.relative_to(root).as_posix())
        plan.images.append(ImportedImage(source, dest, width, height, shapes=ann.shapes, base=ann))
        annotated.add(source)
    for rel in iter_images(root):
        if root / rel not in annotated:
            plan.images.append(ImportedImage(root / rel, PurePosixPath(rel.as_posix()), 0, 0,
                                             annotate=False))
    if not plan.images:
        raise FormatError(root, "no images or LabelMe files found")
    return plan
