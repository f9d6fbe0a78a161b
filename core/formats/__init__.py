"""Import and export of annotation formats (COCO, VIA, YOLO-seg, LabelMe).

Every importer works in two phases so that bad input never changes a project half-way:
1. parse the source into an `ImportPlan` (images found, shapes, per-item notes); problems with
   the source as a whole raise FormatError naming the file before anything is written;
2. `apply_import` copies (or links) the images into the project, keeping their folders relative
   to the source root, and writes one LabelMe JSON beside each image through the Project.

Polygons are checked with core.geometry.validate_polygon; invalid ones are repaired with
repair_polygon (the parts of one source polygon share a group_id) and counted, never dropped
silently.
"""
from __future__ import annotations

import filecmp
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

import numpy as np

from ..annotation import Annotation, Shape
from ..atomic import copy_file_new
from ..errors import AnnotationError, FormatError, MasklabError, read_json_file
from ..geometry import repair_polygon, validate_polygon
from ..images import image_size
from ..project import MAX_NAME_BYTES, Project, image_name_problem, sidecar_path

DEFAULT_LABEL = "object"


@dataclass
class Note:
    """One per-item remark: `kind` groups them in the summary ("skipped", "repaired", ...)."""

    kind: str
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.detail}"


@dataclass
class ImportedImage:
    """One image to bring into the project and the shapes that go in its LabelMe file."""

    source: Path
    dest: PurePosixPath  # relative to the project root
    width: int
    height: int
    shapes: list[Shape] = field(default_factory=list)
    base: Annotation | None = None  # LabelMe imports keep flags and unknown keys from here
    annotate: bool = True  # False: copy the image only (a LabelMe folder's unannotated images)


@dataclass
class ImportPlan:
    fmt: str
    source: Path
    images: list[ImportedImage] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    def note(self, kind: str, where: str, detail: str) -> None:
        self.notes.append(Note(kind, where, detail))

    def labels(self) -> set[str]:
        return {s.label for img in self.images for s in img.shapes}


@dataclass
class ImportSummary:
    images: int = 0
    shapes: int = 0
    instances: int = 0
    images_copied: int = 0
    images_linked: int = 0
    labels_added: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    shape_types: Counter = field(default_factory=Counter)

    def count(self, kind: str) -> int:
        return sum(1 for n in self.notes if n.kind == kind)

    def text(self, max_examples: int = 10) -> str:
        types = ", ".join(f"{n} {t}" for t, n in sorted(self.shape_types.items()))
        lines = [
            f"images: {self.images} ({self.images_copied} copied, {self.images_linked} linked)",
            f"instances: {self.instances}; shapes written: {self.shapes}" + (f" ({types})" if types else ""),
            f"labels added: {', '.join(self.labels_added) if self.labels_added else 'none'}",
        ]
        by_kind: dict[str, list[Note]] = {}
        for note in self.notes:
            by_kind.setdefault(note.kind, []).append(note)
        for kind, notes in by_kind.items():
            lines.append(f"{kind}: {len(notes)}")
            lines.extend(f"  {n}" for n in notes[:max_examples])
            if len(notes) > max_examples:
                lines.append(f"  ... and {len(notes) - max_examples} more")
        return "\n".join(lines)


def safe_relative(name: str) -> PurePosixPath:
    """A source-supplied relative image path that cannot escape the project folder."""
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".", "..", "/")]
    if not parts:
        raise ValueError(f"{name!r} is not a usable file name")
    if re.fullmatch(r"[A-Za-z]:", parts[0]):
        raise ValueError(f"{name!r} is an absolute Windows path; name images relative to the source "
                         "(or give their folder with --images)")
    too_long = [p for p in parts if len(os.fsencode(p)) > MAX_NAME_BYTES]
    if too_long:
        raise ValueError(f"the name {too_long[0][:40]!r}... is {len(os.fsencode(too_long[0]))} bytes long; "
                         f"file systems allow {MAX_NAME_BYTES}")
    return PurePosixPath(*parts)


def read_size(plan: ImportPlan, path: Path, where: str) -> tuple[int, int] | None:
    """(width, height) of an image after EXIF orientation, or None with a 'skipped' note."""
    try:
        return image_size(path)
    except MasklabError as e:
        plan.note("skipped", where, f"image {path}: {e.reason}")
    except OSError as e:
        plan.note("skipped", where, f"image {path}: {e}")
    return None


def clean_polygon(plan: ImportPlan, points: np.ndarray, width: int, height: int, where: str) -> list[np.ndarray]:
    """The polygon itself when valid, else its repaired parts (noted); [] when nothing is left."""
    problems = validate_polygon(points, width, height)
    if not problems:
        return [np.asarray(points, dtype=np.float64)]
    parts = repair_polygon(points, width, height)
    if parts:
        plan.note("repaired", where, f"{'; '.join(problems)}; repaired into {len(parts)} part(s)")
    else:
        plan.note("skipped", where, f"{'; '.join(problems)}; nothing left after repair")
    return parts


def polygon_shapes(parts: list[np.ndarray], label: str, group_id: int | None, flags: dict | None = None) -> list[Shape]:
    """Shapes for one object: several parts share `group_id` so they stay one instance."""
    gid = group_id if len(parts) > 1 else None
    return [Shape(label, p, "polygon", group_id=gid, flags=dict(flags or {})) for p in parts]


def next_group_id(shapes: list[Shape]) -> int:
    """A group_id no shape of the image uses yet."""
    used = [s.group_id for s in shapes if s.group_id is not None]
    return max(used, default=-1) + 1


def _place_image(source: Path, target: Path, link: bool) -> str:
    """Copy or link `source` to `target`; returns "copied", "linked" or "present"."""
    if target.exists():
        try:
            if os.path.samefile(source, target) or filecmp.cmp(source, target, shallow=False):
                return "present"
        except OSError:
            pass
        raise FileExistsError(f"a different file already exists at {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    if link:
        try:
            os.link(source, target)
        except OSError:  # another file system, or links not allowed: a symlink still works
            os.symlink(source.resolve(), target)
        return "linked"
    copy_file_new(source, target)  # a unique temporary name: two imports never share one
    return "copied"


def apply_import(project: Project, plan: ImportPlan, link: bool = False, overwrite: bool = False,
                 progress: Callable[[int, int, str], None] | None = None) -> ImportSummary:
    """Write a parsed plan into the project. Existing annotations are kept unless `overwrite`.
    `progress(done, total, item)` is called before each image (the window's progress bar).
    One import at a time per project (a second one waits): each sees the other's files whole."""
    with project.lock("import", timeout=-1):
        return _apply_import(project, plan, link, overwrite, progress)


def _name_problem(project: Project, item: ImportedImage, planned: Counter) -> str | None:
    """Why `item` cannot become a project image with its own annotation file, or None."""
    problem = image_name_problem(item.dest)
    if problem:
        return problem
    if planned[sidecar_path(Path(item.dest))] > 1:
        return (f"the source has several images named {Path(item.dest).stem}.* in one folder; they would "
                f"share {sidecar_path(Path(item.dest)).name}: rename all but one")
    others = project.sidecar_clash(Path(item.dest))
    if others:
        return (f"{', '.join(o.name for o in others)} is already in the project with the annotation file "
                f"{sidecar_path(Path(item.dest)).name}, which this image would share: rename it first")
    return None


def _apply_import(project: Project, plan: ImportPlan, link: bool, overwrite: bool,
                  progress: Callable[[int, int, str], None] | None) -> ImportSummary:
    summary = ImportSummary(notes=list(plan.notes))
    planned = Counter(sidecar_path(Path(item.dest)) for item in plan.images)
    summary.labels_added = project.ensure_labels(plan.labels())
    for done, item in enumerate(plan.images):
        if progress is not None:
            progress(done, len(plan.images), str(item.dest))
        where = str(item.dest)
        target = project.abs_path(item.dest)
        sidecar = project.annotation_path(item.dest)
        problem = _name_problem(project, item, planned)
        if problem:
            summary.notes.append(Note("skipped", where, problem))
            continue
        if sidecar.exists() and not overwrite:
            summary.notes.append(Note("kept existing annotation", where, "use --overwrite to replace it"))
            continue
        try:
            placed = _place_image(item.source, target, link)
        except OSError as e:  # FileExistsError included
            summary.notes.append(Note("skipped", where, str(e)))
            continue
        summary.images_copied += placed == "copied"
        summary.images_linked += placed == "linked"
        if not item.annotate:
            summary.images += 1
            continue
        ann = item.base.copy() if item.base is not None else Annotation("", item.height, item.width)
        ann.image_height, ann.image_width = item.height, item.width
        ann.shapes = item.shapes
        ann.image_data = None
        try:
            project.save_annotation(item.dest, ann)
        except AnnotationError as e:
            summary.notes.append(Note("skipped", where, e.reason))
            continue
        summary.images += 1
        summary.shapes += len(item.shapes)
        summary.instances += len(ann.instances())
        summary.shape_types.update(s.shape_type for s in item.shapes)
    return summary


def find_image(name: str, folders: list[Path]) -> Path | None:
    """The first existing `folder/name` (also tried with only the base name)."""
    rel = safe_relative(name)
    for folder in folders:
        for candidate in (folder / rel, folder / rel.name):
            if candidate.is_file():
                return candidate
    return None


def locate_image(plan: ImportPlan, name: str, folders: list[Path], where: str) -> tuple[Path, tuple[int, int]] | None:
    """The image file a source names and its oriented (width, height); None with a 'skipped' note
    when the name is unusable, the file is missing or it is not a readable image."""
    try:
        source = find_image(name, folders)
    except ValueError as e:
        plan.note("skipped", where, str(e))
        return None
    if source is None:
        plan.note("skipped", where, f"image file not found in {', '.join(map(str, folders))}")
        return None
    size = read_size(plan, source, where)
    return None if size is None else (source, size)


def require_source(path: Path, want_dir: bool | None) -> Path:
    """The source as an absolute path; FormatError when missing or of the wrong kind."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FormatError(path, "the source does not exist")
    if want_dir is True and not path.is_dir():
        raise FormatError(path, "expected a folder")
    if want_dir is False and not path.is_file():
        raise FormatError(path, "expected a file")
    return path.resolve()


def load_json(path: Path) -> object:
    """Parse a JSON source file; any problem raises FormatError naming it."""
    return read_json_file(path, FormatError)
