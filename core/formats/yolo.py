"""YOLO-seg import and export.

Import: a folder with images/ and labels/ mirroring each other (Ultralytics' layout), or label
.txt files beside the images. Each line is `class x1 y1 x2 y2 ...` with coordinates normalised
to the oriented image size; a 4-number line (`class cx cy w h`, a detection box) becomes a
rectangle. Class names come from --names (line n is class n-1), else classes.txt, names.txt or
the `names:` of data.yaml in the folder; without any, labels are "class_<id>". An image without
a label file is imported with no objects (YOLO's background image). Invalid polygons are
repaired (coco128 has self-intersecting ones) and counted.

Export: images/ + labels/ (one line per polygon part; mask shapes become their outlines) +
classes.txt and a data.yaml, classes in project label order from 0.
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path, PurePosixPath

import numpy as np
import yaml

from ..annotation import Shape
from ..atomic import atomic_write_text
from ..errors import FormatError, MasklabError
from ..geometry import decode_labelme_mask, mask_to_polygons
from ..images import image_size
from ..project import Project, iter_images
from . import ImportedImage, ImportPlan, clean_polygon, next_group_id, polygon_shapes, read_size, require_source

NAME_FILES = ("classes.txt", "names.txt", "obj.names")


def read_names_file(path: Path) -> list[str]:
    """Class names, one a line (line n is class n-1); blank trailing lines ignored."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise FormatError(path, f"cannot read the class names: {e}") from e
    if path.suffix in (".yaml", ".yml"):
        return _yaml_names(text, path)
    names = [line.strip() for line in text.splitlines()]
    while names and not names[-1]:
        names.pop()
    if not names or any(not n for n in names):
        raise FormatError(path, "class names file has empty lines (line n must name class n-1)")
    return names


def _yaml_names(text: str, path: Path) -> list[str]:
    """`names:` of an Ultralytics data.yaml, read with PyYAML: a list (inline or block), or an
    `id: name` map with the ids 0..n-1."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise FormatError(path, f"not valid YAML{where}: {getattr(e, 'problem', None) or e}") from e
    except RecursionError as e:
        raise FormatError(path, "not usable YAML: nested too deep") from e
    if not isinstance(data, dict) or "names" not in data:
        raise FormatError(path, "no 'names:' entry")
    names = data["names"]
    if isinstance(names, dict):
        keys = list(names)
        if not all(isinstance(k, int) and not isinstance(k, bool) for k in keys) or sorted(keys) != list(range(len(keys))):
            raise FormatError(path, f"'names' maps {_short(keys)}; the keys must be the class ids 0..{len(keys) - 1}")
        names = [names[k] for k in range(len(keys))]
    if not isinstance(names, list) or not names:
        raise FormatError(path, f"'names' is {_short(names)}; expected a list of class names or an 'id: name' map")
    for i, name in enumerate(names):
        if isinstance(name, bool) or not isinstance(name, (str, int, float)) or not str(name).strip():
            raise FormatError(path, f"class {i} of 'names' is {_short(name)}, not a name")
    return [str(n).strip() for n in names]


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _find_names(root: Path) -> list[str] | None:
    for name in NAME_FILES + ("data.yaml", "dataset.yaml"):
        if (root / name).is_file():
            return read_names_file(root / name)
    return None


def _label_file(root: Path, rel: Path) -> Path:
    """labels/ mirrors images/ in Ultralytics' layout; otherwise the .txt is beside the image."""
    if rel.parts and rel.parts[0] == "images":
        mirrored = root / "labels" / Path(*rel.parts[1:]).with_suffix(".txt")
        if mirrored.exists():
            return mirrored
    return (root / rel).with_suffix(".txt")


def read_yolo(src: Path, names_file: Path | None = None) -> ImportPlan:
    """Parse a YOLO-seg folder into an import plan."""
    root = require_source(src, want_dir=True)
    names = read_names_file(names_file) if names_file is not None else _find_names(root)
    image_root = root / "images" if (root / "images").is_dir() else root
    plan = ImportPlan("yolo", root)
    if names is None:
        plan.note("no class names", root.name, f"no {', '.join(NAME_FILES)} or data.yaml (nor --names): "
                                               "labels are class_<id>")
    rels = [Path("images") / r if image_root != root else r for r in iter_images(image_root)]
    if not rels:
        raise FormatError(root, "no images found (expected images/ and labels/, or .txt files beside images)")
    used_label_files: set[Path] = set()
    for rel in rels:
        source = root / rel
        where = rel.as_posix()
        size = read_size(plan, source, where)
        if size is None:
            continue
        dest = PurePosixPath(source.relative_to(image_root).as_posix())
        item = ImportedImage(source, dest, size[0], size[1])
        label_path = _label_file(root, rel)
        if label_path.exists():
            used_label_files.add(label_path)
            _read_label_file(plan, item, label_path, names, root)
        plan.images.append(item)
    label_root = root / "labels" if (root / "labels").is_dir() else image_root
    for orphan in sorted(set(label_root.rglob("*.txt")) - used_label_files):
        try:
            lines = [line.split() for line in orphan.read_text(encoding="utf-8", errors="replace").splitlines()]
        except OSError:
            continue
        lines = [fields for fields in lines if fields]
        if orphan.name in NAME_FILES or not lines or not lines[0][0].isdigit():
            continue  # class names, a README: not label files
        plan.note("skipped", orphan.relative_to(root).as_posix(),
                  f"label file without an image: {len(lines)} line(s) not imported")
    return plan


def _read_label_file(plan: ImportPlan, item: ImportedImage, path: Path, names: list[str] | None, root: Path) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        plan.note("skipped", str(path.relative_to(root)), f"cannot read the label file: {e}")
        return
    rel = path.relative_to(root).as_posix()
    for line_no, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{rel} line {line_no}"
        try:
            cls = int(fields[0])
            values = [float(v) for v in fields[1:]]
        except ValueError:
            plan.note("skipped", where, f"{line.strip()[:60]!r} is not 'class x1 y1 x2 y2 ...' numbers")
            continue
        if cls < 0 or (names is not None and cls >= len(names)):
            known = f"the names file ({len(names)} classes)" if names is not None else "0, 1, 2, ..."
            plan.note("skipped", where, f"class id {cls} is not in {known}")
            continue
        if not all(math.isfinite(v) for v in values):
            plan.note("skipped", where, "a coordinate is not a finite number")
            continue
        label = names[cls] if names is not None else f"class_{cls}"
        scale = np.array([item.width, item.height], dtype=np.float64)
        if len(values) == 4:
            cx, cy, w, h = values
            corners = np.array([[cx - w / 2, cy - h / 2], [cx + w / 2, cy + h / 2]]) * scale
            item.shapes.append(Shape(label, corners, "rectangle"))
            continue
        if len(values) % 2:
            plan.note("skipped", where, f"odd number of coordinates ({len(values)})")
            continue
        if len(values) < 6:
            plan.note("skipped", where, f"{len(values) // 2} points, a polygon needs 3")
            continue
        outline = np.asarray(values, dtype=np.float64).reshape(-1, 2) * scale
        parts = clean_polygon(plan, outline, item.width, item.height, where)
        item.shapes.extend(polygon_shapes(parts, label, next_group_id(item.shapes)))


def _yolo_lines(ann_shapes: list[Shape], classes: dict[str, int], width: int, height: int) -> list[str]:
    lines = []
    for shape in ann_shapes:
        if shape.shape_type == "mask":
            outlines = mask_to_polygons(decode_labelme_mask(shape, height, width))
        else:
            outlines = [shape.polygon_points()]
        for pts in outlines:
            if len(pts) < 3:
                continue
            norm = pts / np.array([width, height], dtype=np.float64)
            coords = " ".join(f"{v:.6f}" for v in norm.ravel())
            lines.append(f"{classes[shape.label]} {coords}")
    return lines


def write_yolo(project: Project, out: Path, problems: list[str] | None = None) -> dict[str, int]:
    """Write images/, labels/, classes.txt and data.yaml under `out`; returns counts."""
    problems = problems if problems is not None else []
    from ..output_paths import output_path_problem

    out = Path(out).expanduser().resolve()
    problem = output_path_problem(project.root, out, folder=True)
    if problem:  # the exported copies of the images would become images of the project
        raise FormatError(out, problem)
    labels = project.label_names()
    records = []
    for rel, ann, err in project.iter_annotations():
        if err is not None:
            problems.append(str(err))
        elif ann is not None:
            records.append((rel, ann))
            labels.extend(s.label for s in ann.region_shapes() if s.label not in labels)
    classes = {name: i for i, name in enumerate(dict.fromkeys(labels))}
    counts = {"images": 0, "polygons": 0, "classes": len(classes)}
    try:
        (out / "images").mkdir(parents=True, exist_ok=True)
        (out / "labels").mkdir(parents=True, exist_ok=True)
        for rel, ann in records:
            try:
                width, height = image_size(project.abs_path(rel))
                lines = _yolo_lines(ann.region_shapes(), classes, width, height)
            except (MasklabError, ValueError) as e:
                problems.append(f"{project.annotation_path(rel)}: {e}")
                continue
            image_out = out / "images" / rel
            image_out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(project.abs_path(rel), image_out)
            label_out = (out / "labels" / rel).with_suffix(".txt")
            label_out.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(label_out, "".join(line + "\n" for line in lines))
            counts["images"] += 1
            counts["polygons"] += len(lines)
        atomic_write_text(out / "classes.txt", "".join(f"{n}\n" for n in classes))
        yaml_names = "".join(f"  {i}: {json.dumps(n, ensure_ascii=False)}\n" for n, i in classes.items())
        atomic_write_text(out / "data.yaml", f"path: .\ntrain: images\nval: images\nnames:\n{yaml_names}")
    except OSError as e:
        raise FormatError(out, f"cannot write the export: {e.strerror or e}") from e
    return counts
