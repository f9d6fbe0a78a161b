"""The open image: its Annotation, selection, undo history, read-only state and autosave.

Each image visited gets an `_ImageSession` (annotation + QUndoStack), kept while it has history
so that undo survives switching images and back. Every completed edit is saved at once: the
annotation's text is taken on the GUI thread and written (atomically, with fsync) by one writer
thread, so a slow disk never stalls the window. An image is "saved" only once the write of its
newest content is done; a failed save keeps the image dirty, says why and retries with a growing
delay. Images whose annotation file is corrupt, whose photo cannot be decoded,
that share their annotation file with another image (photo.jpg and photo.png), or whose folder
cannot be written, are opened read-only: commands are refused before anything changes.
"""
from __future__ import annotations

import os
import threading
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoGroup, QUndoStack

from core.annotation import Annotation, Shape
from core.errors import AnnotationError, ImageError, MasklabError
from core.images import image_size
from core.project import Project, clash_reason

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
    save_seq: int = 0  # content version last handed to the writer
    writing_seq: int = 0  # version being written now (0: none)


class Document(QObject):
    imageChanged = Signal(str)  # the project-relative path of the image now open
    annotationChanged = Signal()  # shapes or flags of the open image changed (edit, undo, reload)
    shapesChanged = Signal(object)  # list of Shape objects whose geometry/label changed, None = all
    selectionChanged = Signal()
    saveStateChanged = Signal()
    imageSaved = Signal(str, object)  # path, Annotation: a file on disk now has this content
    notice = Signal(str)  # a short message for the status bar (a refused edit, a hint)
    _written = Signal()  # from the writer thread: results wait in self._results

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
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autosave")
        self._writer_closed = False
        self._results: deque[tuple[_ImageSession, int, str | None]] = deque()
        self._results_lock = threading.Lock()
        self._written.connect(self._apply_results)
        self.current_label: str | None = project.label_names()[0] if project.labels else None
        # shapes locked in the Shapes dock: not moved, reshaped or deleted (kept for this session)
        self.locked_shapes: weakref.WeakSet[Shape] = weakref.WeakSet()

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

    def changed_on_disk(self, image: str | Path) -> str | None:
        """Another program changed (or fixed, or removed) the image's annotation file. A session
        without unsaved edits is read again; its undo history described the old file, so it goes
        too. Unsaved edits are kept and never replaced by the reload. Returns what to tell the
        user, or None when the image is not held in memory."""
        session = self._sessions.get(Path(image))
        if session is None:
            return None
        if session.dirty:
            return (f"{image}: its annotation file changed on disk; your unsaved edits are kept "
                    "(saving them will replace the file's new content)")
        was_broken = session.annotation_error is not None
        if session is self._current:
            self.reload_current()
        else:
            self._forget(session)
        if was_broken and self._sessions.get(Path(image)) and self._sessions[Path(image)].annotation_error is None:
            return f"{image}: the annotation file was fixed on disk and is editable again"
        return f"{image}: reloaded (its annotation file changed on disk)"

    def _forget(self, session: _ImageSession) -> None:
        # a QUndoStack with history emits indexChanged while it is destroyed: that must not mark
        # the forgotten session dirty and save its old content over the file on disk
        session.stack.indexChanged.disconnect()
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
        clash = self.project.sidecar_clash(image)
        try:
            annotation = self.project.load_annotation(image)
        except AnnotationError as e:
            annotation_error = str(e)
            read_only = f"{e} — opened read-only; the file will not be changed"
        except MasklabError as e:  # the image's size was needed and the image is unreadable
            image_error = str(e)
        if clash:  # the shared file may be this image's or the other's: never written from here
            read_only = f"{clash_reason(image, clash)}. Editing is off until then."
        if annotation is None:
            try:
                annotation = self.project.new_annotation(image)
            except ImageError as e:
                image_error = str(e)
                annotation = Annotation(image_path=image.name, image_height=0, image_width=0)
        elif image_error is None:  # the sidecar gave the size: the photo itself may still be unreadable
            try:
                image_size(self.project.abs_path(image))
            except ImageError as e:
                image_error = str(e)
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

    def image_unreadable(self, image: str | Path, reason: str) -> None:
        """The photo's pixels could not be decoded (a truncated JPEG whose header reads): the
        image becomes read-only like any unreadable image; edits made so far are saved first."""
        session = self._sessions.get(Path(image))
        if session is None or session.image_error is not None:
            return
        if session.dirty:
            self._save(session)
        session.image_error = reason
        if session.read_only_reason is None:
            session.read_only_reason = f"the image cannot be read ({reason}); editing is off"
        self.saveStateChanged.emit()

    def shutdown(self) -> None:
        """Finish the writes under way, then stop reacting to the stacks: a QUndoStack being
        destroyed emits indexChanged."""
        self._retry_timer.stop()
        self.flush()
        self._writer_closed = True
        self._writer.shutdown(wait=True)
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

    def is_locked(self, shape: Shape) -> bool:
        return shape in self.locked_shapes

    def locked_among(self, indices: list[int]) -> list[int]:
        """The indices (of the open image's shapes) that are locked."""
        shapes = self.annotation.shapes if self._current else []
        return [i for i in indices if 0 <= i < len(shapes) and shapes[i] in self.locked_shapes]

    def session_images(self) -> list[Path]:
        """The images held in memory (the open one and those with undo history)."""
        return list(self._sessions)

    def clear_history(self, image: Path) -> None:
        """Forget an image's undo history (a project-wide edit removed shapes its commands
        refer to by index)."""
        session = self._sessions.get(Path(image))
        if session is not None:
            session.stack.clear()

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
        """Hand the session's current content to the writer thread. False when it cannot be
        saved at all (read-only); the saved state follows when the write is done."""
        if session.read_only_reason is not None:
            return False
        session.save_seq += 1
        session.writing_seq = session.save_seq
        try:
            text = self.project.annotation_text(session.image, session.annotation)
        except (TypeError, ValueError) as e:  # not representable as JSON: nothing to write
            self._finish_write(session, session.save_seq, f"{session.image}: cannot save: {e}")
            return False
        if self._writer_closed:  # after shutdown: write here and now
            self._write(session, text, session.save_seq)
            self._apply_results()
        else:
            self._writer.submit(self._write, session, text, session.save_seq)
        return True

    def _write(self, session: _ImageSession, text: str, seq: int) -> None:
        """On the writer thread."""
        try:
            self.project.write_annotation_text(session.image, text)
            error = None
        except MasklabError as e:
            error = str(e)
        except Exception as e:  # the write must never die silently; the window says why
            error = f"{self.project.annotation_path(session.image)}: cannot save: {e}"
        with self._results_lock:
            self._results.append((session, seq, error))
        self._written.emit()

    def _apply_results(self) -> None:
        while True:
            with self._results_lock:
                if not self._results:
                    return
                session, seq, error = self._results.popleft()
            self._finish_write(session, seq, error)

    def _finish_write(self, session: _ImageSession, seq: int, error: str | None) -> None:
        if session.writing_seq == seq:
            session.writing_seq = 0
        if seq != session.save_seq:  # an older version: the newer one is on its way
            return
        if error is not None:
            session.save_error = error
            self._schedule_retry()
            self.saveStateChanged.emit()
            return
        session.dirty = False
        session.save_error = None
        self.imageSaved.emit(str(session.image), session.annotation)
        if not self.dirty:
            self._retry_timer.stop()
            self._retry_count = 0
        self.saveStateChanged.emit()

    def is_writing(self, image: str | Path) -> bool:
        """A write of this image's annotation is under way (its file may change any moment)."""
        session = self._sessions.get(Path(image))
        return session is not None and session.writing_seq != 0

    def flush(self) -> None:
        """Wait until every write handed to the writer is done, and apply the results."""
        if not self._writer_closed:
            self._writer.submit(lambda: None).result()
        self._apply_results()

    def save_all(self) -> bool:
        """Save every dirty image now and wait for it; True when everything is on disk."""
        dirty = [s for s in self._sessions.values() if s.dirty]
        for session in dirty:  # again even when a write is under way: it may predate the last edit
            self._save(session)
        self.flush()
        return not any(s.dirty for s in dirty)

    def _schedule_retry(self) -> None:
        if not self._retry_timer.isActive():
            delay = RETRY_DELAYS_MS[min(self._retry_count, len(RETRY_DELAYS_MS) - 1)]
            self._retry_count += 1
            self._retry_timer.start(delay)

    def next_retry_ms(self) -> int:
        return self._retry_timer.remainingTime() if self._retry_timer.isActive() else -1

    def _retry_saves(self) -> None:
        for session in list(self._sessions.values()):
            if session.dirty and session.writing_seq == 0:
                self._save(session)

    def dirty_images(self) -> list[Path]:
        return [s.image for s in self._sessions.values() if s.dirty]
