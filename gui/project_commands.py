"""Project-wide edits, undoable on the project's own QUndoStack: renaming a label in every file.

A rename records, per file, which shapes it changed, so undo puts back exactly those. Files
that cannot be read or written are skipped and reported; they are never overwritten.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QUndoCommand

from core.annotation import Annotation
from core.errors import AnnotationError, MasklabError
from core.project import LabelDef

if TYPE_CHECKING:
    from .document import Document


class RenameLabel(QUndoCommand):
    def __init__(self, doc: "Document", old: str, new: str):
        super().__init__(f"Rename label {old} to {new}")
        self.doc = doc
        self.project = doc.project
        self.old, self.new = old, new
        self.changed: dict[Path, list[int]] = {}  # image -> indices of the renamed shapes
        self.skipped: list[tuple[Path, str]] = []
        self._labels_before: list[LabelDef] = [LabelDef(l.name, l.color) for l in self.project.labels]
        self._first = True

    # The label list changes before the files, so that whoever watches the saved files sees only
    # labels the project already lists.
    def redo(self) -> None:
        self._rename_label_def()
        if self._first:
            self._first = False
            self._rename_everywhere()
        else:
            self._apply(self.old, self.new)

    def undo(self) -> None:
        self.project.labels = [LabelDef(l.name, l.color) for l in self._labels_before]
        self.project.save()
        if self.doc.current_label == self.new:
            self.doc.current_label = self.old
        self._apply(self.new, self.old)

    def _rename_label_def(self) -> None:
        names = self.project.label_names()
        if self.new in names:  # renaming onto an existing label merges the two
            self.project.labels = [l for l in self.project.labels if l.name != self.old]
        else:
            for l in self.project.labels:
                if l.name == self.old:
                    l.name = self.new
        self.project.save()
        if self.doc.current_label == self.old:
            self.doc.current_label = self.new

    def _rename_everywhere(self) -> None:
        for image in self.project.iter_images():
            indices = self._edit(image, lambda ann: [i for i, s in enumerate(ann.shapes) if s.label == self.old],
                                 self.new)
            if indices:
                self.changed[image] = indices

    def _apply(self, from_label: str, to_label: str) -> None:
        for image, indices in self.changed.items():
            self._edit(image, lambda ann, idx=indices: [i for i in idx if i < len(ann.shapes)
                                                        and ann.shapes[i].label == from_label], to_label)

    def _edit(self, image: Path, pick, to_label: str) -> list[int]:
        """Relabel the shapes `pick(annotation)` selects in one image; returns their indices."""
        ann = self.doc.session_annotation(image)
        read_only = self.doc.session_read_only_reason(image)
        if ann is not None and read_only is not None:
            if pick(ann):  # a file that cannot be written keeps its labels
                self.skipped.append((image, read_only))
            return []
        if ann is not None:
            indices = pick(ann)
            if indices:
                self._relabel(ann, indices, to_label)
                self.doc.session_changed(image)
            return indices
        try:
            ann = self.project.load_annotation(image)
        except MasklabError as e:
            self.skipped.append((image, str(e)))
            return []
        if ann is None:
            return []
        indices = pick(ann)
        if not indices:
            return []
        self._relabel(ann, indices, to_label)
        try:
            self.project.save_annotation(image, ann)
        except AnnotationError as e:
            self.skipped.append((image, str(e)))
            return []
        self.doc.imageSaved.emit(str(image), ann)
        return indices

    @staticmethod
    def _relabel(ann: Annotation, indices: list[int], label: str) -> None:
        for i in indices:
            ann.shapes[i].label = label
