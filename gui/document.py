"""The open image: its Annotation, selection, undo history, read-only state and autosave.

Each image visited gets an `_ImageSession` (annotation + QUndoStack), kept while it has history
so that undo survives switching images and back. Every completed edit is saved at once through
`Project.save_annotation` (atomic); a failed save keeps the image dirty, says why and retries
with a growing delay. Images whose annotation file is corrupt, or whose folder cannot be
written, are opened read-only: commands are refused before anything changes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoGroup, QUndoStack

from core.annotation import Annotation, Shape
from core.errors import AnnotationError, ImageError, MasklabError
from core.project import Project

RETRY_DELAYS_MS = (1000, 2000, 4000, 8000, 15000, 30000)


@dataclass
class _ImageSession:
    image: Path
    annotation: Annotation
    stack: QUndoStack
    read_only_reason: str | None = None
    image_error: str | None = None
    annotation_error: str | None = None  # the annotation file is corrupt (opened read-only)
    dirty: bool = False
    save_error: str | None = None
    selection: list[int] = field(default_factory=list)


class Document(QObject):
    imageChanged = Signal(str)  # the project-relative path of the image now open
    annotationChanged = Signal()  # shapes or flags of the open image changed (edit, undo, reload)
    shapesChanged = Signal(object)  # list of Shape objects whose geometry/label changed, None = all
    selectionChanged = Signal()
    saveStateChanged = Signal()
    imageSaved = Signal(str, object)  # path, Annotation: a file on disk now has this content
    notice = Signal(str)  # a short message for the status bar (a refused edit, a hint)

    def __init__(self, project: Project, parent: QObject | None = None):
        super().__init__(parent)
        self.project = project
        self.undo_group = QUndoGroup(self)
        self._sessions: dict[Path, _ImageSession] = {}
        self._current: _ImageSession | None = None
        self._interaction_depth = 0
        self._retry_timer = QTimer(self)
        self._retry_timer.setSingleShot(True)
        self._retry_timer.timeout.connect(self._retry_saves)
        self._retry_count = 0
        self.current_label: str | None = project.label_names()[0] if project.labels else None

    # -- what is open ---------------------------------------------------------------------
    @property
    def image(self) -> Path | None:
        return self._current.image if self._current else None

    @property
    def annotation(self) -> Annotation | None:
        return self._current.annotation if self._current else None

    @property
    def read_only_reason(self) -> str | None:
        return self._current.read_only_reason if self._current else "no image is open"

    @property
    def image_error(self) -> str | None:
        return self._current.image_error if self._current else None

    @property
    def annotation_error(self) -> str | None:
        return self._current.annotation_error if self._current else None

    @property
    def dirty(self) -> bool:
        return any(s.dirty for s in self._sessions.values()) or bool(self._current and self._current.dirty)

    @property
    def save_error(self) -> str | None:
        return self._current.save_error if self._current else None

    @property
    def selection(self) -> list[int]:
        return list(self._current.selection) if self._current else []

    def undo_stack_for_current(self) -> QUndoStack | None:
        return self._current.stack if self._current else None

    def session_annotation(self, image: Path) -> Annotation | None:
        """The in-memory annotation of an image held open (the current one, or one with undo
        history), else None."""
        s = self._sessions.get(Path(image))
        return s.annotation if s else None

    def session_read_only_reason(self, image: Path) -> str | None:
        s = self._sessions.get(Path(image))
        return s.read_only_reason if s else None

    # -- opening --------------------------------------------------------------------------
    def open_image(self, image: str | Path) -> None:
        image = Path(image)
        if self._current and self._current.image == image:
            return
        self._leave_current()
        session = self._sessions.get(image) or self._load_session(image)
        self._current = session
        self.undo_group.setActiveStack(session.stack)
        self.imageChanged.emit(str(image))
        self.shapesChanged.emit(None)
        self.annotationChanged.emit()
        self.selectionChanged.emit()
        self.saveStateChanged.emit()

    def reload_current(self) -> None:
        """Drop the open image's session and read it from disk again (after outside changes)."""
        if self._current is None or self._current.dirty:
            return
        image = self._current.image
        self._forget(self._current)
        self._current = None
        self.open_image(image)

    def _forget(self, session: _ImageSession) -> None:
        self.undo_group.removeStack(session.stack)
        session.stack.deleteLater()
        self._sessions.pop(session.image, None)

    def _leave_current(self) -> None:
        s = self._current
        if s is None:
            return
        if s.dirty:
            self._save(s)
        if s.stack.count() == 0 and not s.dirty:
            self._forget(s)  # nothing to undo: read it fresh from disk next time
        self._current = None

    def _load_session(self, image: Path) -> _ImageSession:
        read_only = None
        image_error = None
        annotation_error = None
        annotation = None
        try:
            annotation = self.project.load_annotation(image)
        except AnnotationError as e:
            annotation_error = str(e)
            read_only = f"{e} — opened read-only; the file will not be changed"
        except MasklabError as e:  # the image's size was needed and the image is unreadable
            image_error = str(e)
        if annotation is None:
            try:
                annotation = self.project.new_annotation(image)
            except ImageError as e:
                image_error = str(e)
                annotation = Annotation(image_path=image.name, image_height=0, image_width=0)
        if image_error and read_only is None:
            read_only = f"the image cannot be read ({image_error}); editing is off"
        if read_only is None:
            read_only = self._unwritable_reason(image)
        stack = QUndoStack(self)
        self.undo_group.addStack(stack)
        session = _ImageSession(image, annotation, stack, read_only, image_error, annotation_error)
        stack.indexChanged.connect(lambda _i, s=session: self._on_stack_changed(s))
        self._sessions[image] = session
        return session

    def shutdown(self) -> None:
        """Stop reacting to the stacks: a QUndoStack being destroyed emits indexChanged."""
        self._retry_timer.stop()
        for session in self._sessions.values():
            session.stack.indexChanged.disconnect()

    def _unwritable_reason(self, image: Path) -> str | None:
        sidecar = self.project.annotation_path(image)
        if not os.access(sidecar.parent, os.W_OK):
            return f"the folder {sidecar.parent} is read-only: edits cannot be saved, so editing is off"
        if sidecar.exists() and not os.access(sidecar, os.W_OK):
            return f"{sidecar} is read-only: edits cannot be saved, so editing is off"
        return None

    # -- editing --------------------------------------------------------------------------
    def can_edit(self) -> bool:
        return self._current is not None and self._current.read_only_reason is None

    def push(self, command: QUndoCommand) -> bool:
        """Run `command` on the open image's stack; False (nothing changes) when read-only."""
        if not self.can_edit():
            self.notice.emit(f"Not editable: {self.read_only_reason}")
            return False
        self._current.stack.push(command)
        return True

    def begin_interaction(self) -> None:
        """A drag is under way: its merged steps are saved once, when it ends."""
        self._interaction_depth += 1

    def end_interaction(self) -> None:
        self._interaction_depth = max(0, self._interaction_depth - 1)
        if self._interaction_depth == 0 and self._current and self._current.dirty:
            self._save(self._current)

    def notify_edit(self, annotation: Annotation, shapes: list[Shape] | None, select: list[int] | None) -> None:
        """Called by commands after they changed `annotation`."""
        if self._current is None or annotation is not self._current.annotation:
            return
        if select is not None:
            self._current.selection = [i for i in select if 0 <= i < len(annotation.shapes)]
        else:
            self._current.selection = [i for i in self._current.selection if i < len(annotation.shapes)]
        self.shapesChanged.emit(shapes)
        self.annotationChanged.emit()
        if select is not None:
            self.selectionChanged.emit()

    def set_selection(self, indices: list[int]) -> None:
        if self._current is None:
            return
        n = len(self._current.annotation.shapes)
        new = sorted({i for i in indices if 0 <= i < n})
        if new != self._current.selection:
            self._current.selection = new
            self.selectionChanged.emit()

    def selected_shapes(self) -> list[Shape]:
        if self._current is None:
            return []
        return [self._current.annotation.shapes[i] for i in self._current.selection]

    def label_for_new_shape(self) -> str:
        if self.current_label:
            return self.current_label
        names = self.project.label_names()
        return names[0] if names else "object"

    def color_of(self, label: str) -> str:
        return self.project.color_of(label)

    def session_changed(self, image: Path) -> None:
        """An in-memory annotation was changed outside its undo stack (a project-wide label
        rename, which has its own history): save it and redraw it when it is open."""
        session = self._sessions.get(Path(image))
        if session is None:
            return
        session.dirty = True
        self._save(session)
        if session is self._current:
            self.shapesChanged.emit(None)
            self.annotationChanged.emit()

    # -- saving ---------------------------------------------------------------------------
    def _on_stack_changed(self, session: _ImageSession) -> None:
        session.dirty = True
        if self._interaction_depth == 0 or session is not self._current:
            self._save(session)
        self.saveStateChanged.emit()

    def _save(self, session: _ImageSession) -> bool:
        if session.read_only_reason is not None:
            return False
        try:
            self.project.save_annotation(session.image, session.annotation)
        except MasklabError as e:
            session.save_error = str(e)
            self._schedule_retry()
            self.saveStateChanged.emit()
            return False
        session.dirty = False
        session.save_error = None
        self.imageSaved.emit(str(session.image), session.annotation)
        if not self.dirty:
            self._retry_timer.stop()
            self._retry_count = 0
        self.saveStateChanged.emit()
        return True

    def save_all(self) -> bool:
        """Save every dirty image now; True when everything is on disk."""
        return all([self._save(s) for s in list(self._sessions.values()) if s.dirty])

    def _schedule_retry(self) -> None:
        if not self._retry_timer.isActive():
            delay = RETRY_DELAYS_MS[min(self._retry_count, len(RETRY_DELAYS_MS) - 1)]
            self._retry_count += 1
            self._retry_timer.start(delay)

    def next_retry_ms(self) -> int:
        return self._retry_timer.remainingTime() if self._retry_timer.isActive() else -1

    def _retry_saves(self) -> None:
        self.save_all()

    def dirty_images(self) -> list[Path]:
        return [s.image for s in self._sessions.values() if s.dirty]
