"""A project: a folder of images, a LabelMe JSON beside each annotated image, and one project file.

The project file (`masklab.project.json`) holds the label set with colours and the settings
sections that other modules own (`anchors`, `training`, `split`). Opening a folder without one
works and creates it (or keeps it in memory when the folder is read-only).
"""
from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from filelock import FileLock, Timeout

from .annotation import Annotation
from .atomic import STALE_TEMP_AGE_S, atomic_write_json, atomic_write_text, remove_stale_temp_files
from .errors import AnnotationError, ProjectError, read_json_file
from .images import IMAGE_SUFFIXES, image_size, is_image_file
from .labelme_json import annotation_json, read_annotation
from .palette import pick_color

PROJECT_FILE = "masklab.project.json"
RESOURCES = Path(__file__).resolve().parents[1] / "resources"


def _default_labels() -> tuple[tuple[str, str], ...]:
    """The label set of a new project, from resources/default_labels.json."""
    try:
        data = json.loads((RESOURCES / "default_labels.json").read_text(encoding="utf-8"))
        return tuple((str(l["name"]), str(l["color"])) for l in data["labels"])
    except (OSError, ValueError, KeyError, TypeError):
        return (("car", "#e6194b"), ("sign board", "#4363d8"))


DEFAULT_LABELS = _default_labels()
_SKIP_DIRS = {".git", "__pycache__", ".masklab", "runs", "predictions"}
LOCK_TIMEOUT_S = 30.0  # the project file's read-merge-write takes milliseconds
MAX_NAME_BYTES = 255  # a file name's limit on Linux, macOS and Windows file systems


def label_color(name: str, taken: Iterable[str] = ()) -> str:
    """A colour for a label that has none: clearly apart (CIELAB) from the `taken` colours and
    the anchor preview's (core.palette); without `taken`, a stable palette colour for the name."""
    return pick_color(list(taken), name)


@dataclass
class LabelDef:
    name: str
    color: str


def _writable_folders(root: Path) -> Iterator[Path]:
    """The folders where Masklab writes: the project folder and the scanned image folders."""
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        yield Path(dirpath)


def iter_images(root: Path) -> Iterator[Path]:
    """Image files below `root` (relative paths), folders in sorted order, lazily."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        base = Path(dirpath).relative_to(root)
        for name in sorted(filenames):
            if is_image_file(name) and not name.startswith("."):
                yield base / name


def sidecar_path(image_path: Path) -> Path:
    """labelme's convention: the JSON has the image's name with `.json`."""
    return image_path.with_suffix(".json")


def long_name_problem(path: str | Path) -> str | None:
    """None, or why a path cannot exist: one of its names is longer than file systems allow."""
    for part in Path(path).parts:
        if len(os.fsencode(part)) > MAX_NAME_BYTES:
            return f"the name {part[:40]!r}... is {len(os.fsencode(part))} bytes long; file systems allow {MAX_NAME_BYTES}"
    return None


def image_name_problem(rel: str | Path) -> str | None:
    """None when `rel` (relative to a project) can be one of its images; else why not: the scan
    would never show it, or its sidecar would be the image itself."""
    rel = Path(rel)
    if long_name_problem(rel):
        return long_name_problem(rel)
    hidden = [p for p in rel.parts if p.startswith(".")]
    if hidden:
        return f"{hidden[0]!r} starts with '.': hidden names are not project images"
    skipped = [p for p in rel.parts[:-1] if p in _SKIP_DIRS]
    if skipped:
        return f"the project does not scan folders named {skipped[0]!r} (they hold runs, predictions or tools' files)"
    if not is_image_file(rel):
        return f"{rel.suffix or 'no suffix'} is not an image type ({', '.join(sorted(set(s.lstrip('.') for s in IMAGE_SUFFIXES)))})"
    return None


def clash_reason(image: Path, others: list[Path]) -> str:
    """Why an image whose sidecar other images share cannot be edited, and how to fix it."""
    names = sorted({image.name, *(o.name for o in others)})
    return (f"{', '.join(names[:-1])} and {names[-1]} share one annotation file, {sidecar_path(image).name}; "
            "rename all but one of these images (with its .json, if it has one) so that each has its own")


def _merge_labels(before: list[dict], mine: list[dict], theirs: dict[str, str]) -> list[LabelDef]:
    """Three-way merge by label name: the other side's list in its order, without the labels this
    side removed, with this side's new labels appended and its colour changes kept."""
    old = {l["name"]: l["color"] for l in before}
    now = {l["name"]: l["color"] for l in mine}
    renamed = {b["name"]: m["name"] for b, m in zip(before, mine)  # same place, new name
               if b["name"] not in now and m["name"] not in old}
    merged = []
    for n, c in theirs.items():
        if n in renamed:
            merged.append(LabelDef(renamed[n], now[renamed[n]]))
        elif not (n in old and n not in now):
            merged.append(LabelDef(n, now[n] if n in now and now[n] != old.get(n) else c))
    names = {l.name for l in merged}
    merged += [LabelDef(n, c) for n, c in now.items() if n not in names and n not in old]
    return merged


class Project:
    def __init__(self, root: Path, labels: list[LabelDef], settings: dict[str, Any], extra: dict[str, Any]):
        self.root = root
        self.labels = labels
        self.settings = settings
        self._extra = extra
        self.save_error: str | None = None
        self._saved = self._content()  # what this process last read or wrote
        self._folders: dict[Path, tuple[int, dict[str, list[str]]]] = {}  # see _images_by_sidecar

    # -- opening and saving the project file ---------------------------------------------
    @classmethod
    def open(cls, root: str | Path, create: bool = True) -> "Project":
        """Open a project folder. With `create`, a missing folder and project file are made;
        without it, a folder lacking a project file is opened in memory and nothing is written
        until `save()` is called (read-only commands such as stats never touch a dataset)."""
        root = Path(root).expanduser().resolve()
        if not root.is_dir():
            if not create:
                raise ProjectError(root, "not a folder")
            try:
                root.mkdir(parents=True)
            except OSError as e:
                raise ProjectError(root, f"cannot create the project folder: {e.strerror or e}") from e
        pfile = root / PROJECT_FILE
        if create:  # read-only commands change nothing, not even leftovers
            remove_stale_temp_files(_writable_folders(root), STALE_TEMP_AGE_S)
        if pfile.exists():
            try:
                data = read_json_file(pfile, ProjectError)
                if not isinstance(data, dict):
                    raise ValueError("expected a JSON object")
                labels = [LabelDef(str(l["name"]), str(l.get("color") or label_color(l["name"])))
                          for l in data.get("labels", [])]
            except ProjectError as e:
                raise ProjectError(pfile, f"the project file is unreadable: {e.reason}") from e
            except (ValueError, KeyError, TypeError, OSError) as e:
                raise ProjectError(pfile, f"the project file is unreadable: {e}") from e
            settings = data.get("settings") or {}
            extra = {k: v for k, v in data.items() if k not in ("labels", "settings")}
            return cls(root, labels, settings, extra)
        project = cls(root, [LabelDef(n, c) for n, c in DEFAULT_LABELS], {}, {"version": 1})
        if create:  # a read-only folder records save_error and keeps going in memory
            project.save()
        return project

    @property
    def project_file(self) -> Path:
        return self.root / PROJECT_FILE

    def is_writable(self) -> bool:
        return os.access(self.root, os.W_OK)

    def lock(self, name: str = "project", timeout: float = LOCK_TIMEOUT_S) -> FileLock:
        """An inter-process lock of this project (`with project.lock(): ...`): 'project' guards the
        project file's read-merge-write, 'import' one import at a time. The lock is a hidden file in
        the project folder; the OS releases it when its holder dies."""
        return FileLock(str(self.root / f".masklab.{name}.lock"), timeout=timeout)

    def _content(self) -> dict[str, Any]:
        return copy.deepcopy({**self._extra, "labels": [{"name": l.name, "color": l.color} for l in self.labels],
                              "settings": self.settings})

    def _merge_from_disk(self) -> None:
        """Another process (a training run, a second window) may have saved the project file since
        this one read it: take its version of every label list or settings section that this
        process has not changed itself, so that neither side silently undoes the other."""
        try:
            disk = read_json_file(self.project_file, ProjectError)
        except ProjectError:
            return
        if not isinstance(disk, dict):
            return
        mine, before = self._content(), self._saved
        try:
            theirs_labels = {str(l["name"]): str(l.get("color") or label_color(l["name"])) for l in disk["labels"]}
        except (KeyError, TypeError):
            theirs_labels = None
        if theirs_labels is not None:
            self.labels = _merge_labels(before["labels"], mine["labels"], theirs_labels)
            if mine["labels"] == before["labels"]:  # nothing pending here: the disk is the new base
                before["labels"] = self._content()["labels"]
        theirs = disk.get("settings") if isinstance(disk.get("settings"), dict) else {}
        for key in set(theirs) | set(before["settings"]):
            if mine["settings"].get(key) == before["settings"].get(key):  # untouched here
                if key in theirs:
                    self.settings[key] = theirs[key]
                    before["settings"][key] = copy.deepcopy(theirs[key])
                else:
                    self.settings.pop(key, None)
                    before["settings"].pop(key, None)

    def refresh(self) -> None:
        """Take what other processes saved in the project file, keeping this one's own changes."""
        self._merge_from_disk()

    def save(self) -> bool:
        """Merge what other processes saved, then write; under the project lock, so that two
        writers never both read the same old file and one of them undoes the other."""
        try:
            with self.lock():
                self._merge_from_disk()
                data = self._content()
                atomic_write_json(self.project_file, data)
        except Timeout:
            self.save_error = f"{self.project_file}: cannot save (another process holds the project lock)"
            return False
        except OSError as e:
            self.save_error = f"{self.project_file}: cannot save ({e.strerror or e})"
            return False
        self.save_error = None
        self._saved = data
        return True

    # -- labels ---------------------------------------------------------------------------
    def label_names(self) -> list[str]:
        return [l.name for l in self.labels]

    def color_of(self, name: str) -> str:
        for l in self.labels:
            if l.name == name:
                return l.color
        return label_color(name)

    def ensure_labels(self, names: list[str] | set[str]) -> list[str]:
        """Add labels the project lacks; returns the added names."""
        known = set(self.label_names())
        added = [n for n in sorted(set(names)) if n not in known]
        for n in added:
            self.labels.append(LabelDef(n, label_color(n, [l.color for l in self.labels])))
        if added:
            self.save()
        return added

    # -- images and annotations -----------------------------------------------------------
    def iter_images(self) -> Iterator[Path]:
        return iter_images(self.root)

    def image_paths(self) -> list[Path]:
        return list(self.iter_images())

    def abs_path(self, image: str | Path) -> Path:
        return self.root / image

    def annotation_path(self, image: str | Path) -> Path:
        return sidecar_path(self.root / image)

    def sidecar_conflicts(self) -> dict[Path, list[Path]]:
        """Images that would share one sidecar (photo.jpg and photo.png in one folder)."""
        by_sidecar: dict[Path, list[Path]] = {}
        for img in self.iter_images():
            by_sidecar.setdefault(sidecar_path(img), []).append(img)
        return {k: v for k, v in by_sidecar.items() if len(v) > 1}

    def sidecar_clash(self, image: str | Path) -> list[Path]:
        """The other images (project-relative) whose sidecar is this image's: photo.png for
        photo.jpg in one folder. Saving either would write into the other's annotation file."""
        image = Path(image)
        sharing = self._images_by_sidecar(self.root / image.parent).get(sidecar_path(Path(image.name)).name, ())
        return [image.parent / n for n in sharing if n != image.name]  # the image itself need not exist yet

    def _images_by_sidecar(self, folder: Path) -> dict[str, list[str]]:
        """sidecar name -> image names of one folder; listed again only when the folder changed
        (its mtime moves with every file added, removed or renamed), so a load costs one stat."""
        try:
            stamp = os.stat(folder).st_mtime_ns
        except OSError:
            return {}
        cached = self._folders.get(folder)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        by_sidecar: dict[str, list[str]] = {}
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            return {}
        for name in names:
            if is_image_file(name) and not name.startswith("."):
                by_sidecar.setdefault(sidecar_path(Path(name)).name, []).append(name)
        self._folders[folder] = (stamp, by_sidecar)
        return by_sidecar

    def load_annotation(self, image: str | Path) -> Annotation | None:
        """The image's annotation, None when it has no sidecar; AnnotationError when broken, or
        when other images share the sidecar and it does not name this image."""
        path = self.annotation_path(image)
        if not path.exists():
            return None
        ann = read_annotation(path)
        others = self.sidecar_clash(image)
        if others and Path(ann.image_path.replace("\\", "/")).name != Path(image).name:
            named = f"it belongs to {ann.image_path!r}" if ann.image_path else "it names no image"
            raise AnnotationError(path, f"{clash_reason(Path(image), others)} ({named})")
        if not ann.image_width or not ann.image_height:
            w, h = image_size(self.abs_path(image))
            ann.image_width, ann.image_height = w, h
        return ann

    def new_annotation(self, image: str | Path) -> Annotation:
        w, h = image_size(self.abs_path(image))
        return Annotation(image_path=Path(image).name, image_height=h, image_width=w)

    def load_or_new(self, image: str | Path) -> Annotation:
        return self.load_annotation(image) or self.new_annotation(image)

    def save_annotation(self, image: str | Path, ann: Annotation) -> None:
        """Atomic save beside the image; raises AnnotationError naming the file on failure."""
        self.write_annotation_text(image, self.annotation_text(image, ann))

    def annotation_text(self, image: str | Path, ann: Annotation) -> str:
        """The annotation's file content, a snapshot: the window takes it on its own thread and
        writes it on another with `write_annotation_text`."""
        ann.image_path = Path(image).name
        return annotation_json(ann)

    def write_annotation_text(self, image: str | Path, text: str) -> None:
        """Atomic write of `annotation_text`'s result beside the image (never over the file of
        another image that shares the name); raises AnnotationError naming the file."""
        path = self.annotation_path(image)
        others = self.sidecar_clash(image)
        if others:
            raise AnnotationError(path, f"not saved: {clash_reason(Path(image), others)}")
        try:
            atomic_write_text(path, text)
        except OSError as e:
            raise AnnotationError(path, f"cannot save: {e.strerror or e}") from e

    def iter_annotations(self) -> Iterator[tuple[Path, Annotation | None, AnnotationError | None]]:
        """(image, annotation or None, error or None) for every image."""
        for img in self.iter_images():
            try:
                yield img, self.load_annotation(img), None
            except AnnotationError as e:
                yield img, None, e
            except Exception as e:  # an unreadable image while filling in a missing size
                yield img, None, AnnotationError(self.annotation_path(img), str(e))
