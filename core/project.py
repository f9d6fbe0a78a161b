"""A project: a folder of images, a LabelMe JSON beside each annotated image, and one project file.

The project file (`masklab.project.json`) holds the label set with colours and the settings
sections that other modules own (`anchors`, `training`, `split`). Opening a folder without one
works and creates it (or keeps it in memory when the folder is read-only).
"""
from __future__ import annotations

import colorsys
import copy
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .annotation import Annotation
from .atomic import atomic_write_json
from .errors import AnnotationError, ProjectError
from .images import image_size, is_image_file
from .labelme_json import read_annotation, write_annotation

PROJECT_FILE = "masklab.project.json"
RESOURCES = Path(__file__).resolve().parents[1] / "resources"


def _default_labels() -> tuple[tuple[str, str], ...]:
    """The label set of a new project, from resources/default_labels.json."""
    try:
        data = json.loads((RESOURCES / "default_labels.json").read_text(encoding="utf-8"))
        return tuple((str(l["name"]), str(l["color"])) for l in data["labels"])
    except (OSError, ValueError, KeyError, TypeError):
        return (("car", "#e6194b"), ("sign board", "#3cb44b"))


DEFAULT_LABELS = _default_labels()
_SKIP_DIRS = {".git", "__pycache__", ".masklab", "runs", "predictions"}


def label_color(name: str) -> str:
    """A stable, distinct-looking colour for a label that has none."""
    h = int(hashlib.md5(name.encode("utf-8")).hexdigest()[:8], 16)
    r, g, b = colorsys.hsv_to_rgb((h % 360) / 360.0, 0.75, 0.95)
    return "#{:02x}{:02x}{:02x}".format(int(r * 255), int(g * 255), int(b * 255))


@dataclass
class LabelDef:
    name: str
    color: str


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
        if pfile.exists():
            try:
                data = json.loads(pfile.read_text(encoding="utf-8"))
                if not isinstance(data, dict):
                    raise ValueError("expected a JSON object")
                labels = [LabelDef(str(l["name"]), str(l.get("color") or label_color(l["name"])))
                          for l in data.get("labels", [])]
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

    def _content(self) -> dict[str, Any]:
        return copy.deepcopy({**self._extra, "labels": [{"name": l.name, "color": l.color} for l in self.labels],
                              "settings": self.settings})

    def _merge_from_disk(self) -> None:
        """Another process (a training run, a second window) may have saved the project file since
        this one read it: take its version of every label list or settings section that this
        process has not changed itself, so that neither side silently undoes the other."""
        try:
            disk = json.loads(self.project_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
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
        self._merge_from_disk()
        data = self._content()
        try:
            atomic_write_json(self.project_file, data)
            self.save_error = None
            self._saved = data
            return True
        except OSError as e:
            self.save_error = f"{self.project_file}: cannot save ({e.strerror or e})"
            return False

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
            self.labels.append(LabelDef(n, label_color(n)))
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

    def load_annotation(self, image: str | Path) -> Annotation | None:
        """The image's annotation, None when it has no sidecar; AnnotationError when broken."""
        path = self.annotation_path(image)
        if not path.exists():
            return None
        ann = read_annotation(path)
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
        path = self.annotation_path(image)
        ann.image_path = Path(image).name
        try:
            write_annotation(path, ann)
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
