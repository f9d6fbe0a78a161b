"""Project-wide label edits (rename, merge, delete), undoable on the project's own QUndoStack.

The work itself is `core.labels_ops`. Images the document holds in memory (the open one, those
with undo history) are changed there, on the GUI thread, and saved through the document; every
other file is changed by a job on a worker thread while a window-modal progress dialog keeps
the window responsive but closed to edits (a file must not be opened while the job rewrites
it). Jobs run one after another, so an undo waits for the change it undoes. Files that cannot
be read or written are skipped and reported; they are never overwritten.
"""
from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QElapsedTimer, QObject, Qt, Signal
from PySide6.QtGui import QUndoCommand
from PySide6.QtWidgets import QApplication, QProgressDialog, QWidget

from core.labels_ops import (ChangeResult, FileChange, LabelChange, apply_to_annotation, apply_to_files,
                             labels_after, redo_annotation, redo_in_files, undo_annotation, undo_in_files)
from core.project import LabelDef

from .inbox import InboxThread

if TYPE_CHECKING:
    from .document import Document


class _Worker(InboxThread):
    progress = Signal(int, int)
    result = Signal(object)
    failed = Signal(str)

    def __init__(self, work: Callable[[Callable[[int, int], None]], Any], parent: QObject | None = None):
        super().__init__(parent)
        self.work = work

    def run(self) -> None:
        try:
            self.post("result", self.work(lambda done, total: self.post("progress", done, total)))
        except Exception as e:  # reported in the window, never lost in a thread
            self.post("failed", f"{type(e).__name__}: {e}")


class LabelJobs(QObject):
    """Runs project-wide jobs one at a time on a worker thread behind a modal progress dialog."""

    finished = Signal(str)  # a message for the status bar
    filesChanged = Signal()  # files on disk changed: rescan the file list

    def __init__(self, window: QWidget):
        super().__init__(window)
        self.window = window
        self._queue: deque[tuple[str, Callable, Callable[[Any], str]]] = deque()
        self._worker: _Worker | None = None
        self._dialog: QProgressDialog | None = None

    @property
    def busy(self) -> bool:
        return self._worker is not None or bool(self._queue)

    def submit(self, title: str, work: Callable[[Callable[[int, int], None]], Any], done: Callable[[Any], str]) -> None:
        """Run `work(progress)` off the GUI thread, then `done(result)` on it (its text is announced)."""
        self._queue.append((title, work, done))
        if self._worker is None:
            self._next()

    def _next(self) -> None:
        if not self._queue:
            self._close_dialog()
            return
        title, work, done = self._queue.popleft()
        dialog = self._dialog or QProgressDialog(self.window)
        dialog.setWindowTitle("Labels")
        dialog.setLabelText(title + "…")
        dialog.setCancelButton(None)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.setRange(0, 0)
        dialog.open()
        self._dialog = dialog
        worker = _Worker(work, self)
        worker.progress.connect(self._progress)
        worker.result.connect(lambda result: self._finish(worker, done(result)))
        worker.failed.connect(lambda reason: self._finish(worker, f"{title} failed: {reason}"))
        self._worker = worker
        worker.start()

    def _progress(self, done: int, total: int) -> None:
        if self._dialog is not None:
            self._dialog.setRange(0, max(1, total))
            self._dialog.setValue(done)

    def _finish(self, worker: _Worker, message: str) -> None:
        worker.wait()
        worker.deleteLater()
        self._worker = None
        self.filesChanged.emit()
        self.finished.emit(message)
        self._next()

    def _close_dialog(self) -> None:
        if self._dialog is not None:
            self._dialog.reset()
            self._dialog.close()
            self._dialog.deleteLater()
            self._dialog = None
            self.window.window().activateWindow()  # the window's shortcuts work again at once

    def wait_idle(self, timeout_ms: int = 30000) -> bool:
        """Process events until every job is done (tests, closing the window)."""
        timer = QElapsedTimer()
        timer.start()
        while self.busy and timer.elapsed() < timeout_ms:
            QApplication.processEvents()
            if self._worker is not None:
                self._worker.wait(10)
        QApplication.processEvents()
        return not self.busy


class LabelChangeCommand(QUndoCommand):
    """Rename, merge or delete one label in every file of the project."""

    def __init__(self, doc: "Document", jobs: LabelJobs, change: LabelChange):
        super().__init__(change.describe(doc.project.label_names()))
        self.project = doc.project
        self.doc = doc
        self.jobs = jobs
        self.change = change
        self.files: dict[Path, FileChange] = {}  # image -> what the change did there
        self.skipped: list[tuple[Path, str]] = []
        self._labels_before = [LabelDef(l.name, l.color) for l in self.project.labels]
        self._labels_after = labels_after(self.project.labels, change)
        self._first = True

    # The label list changes before the files, so that whoever watches the saved files sees only
    # labels the project already lists.
    def redo(self) -> None:
        self._set_labels(self._labels_after, self.change.old, self.change.new)
        if self._first:
            self._first = False
            held = self._held()
            for image, ann in held.items():
                self._in_memory(image, lambda a=ann: apply_to_annotation(a, self.change))
            self.jobs.submit(self.text(), lambda progress: apply_to_files(self.project, self.change, held, progress),
                             self._first_done)
            return
        self._replay(redo_annotation, redo_in_files, "Redo")

    def undo(self) -> None:
        self._set_labels(self._labels_before, self.change.new, self.change.old)
        self._replay(lambda ann, change, done: (undo_annotation(ann, change, done), done)[1], undo_in_files, "Undo")

    # -- parts -----------------------------------------------------------------------------
    def _set_labels(self, labels: list[LabelDef], current_from: str | None, current_to: str | None) -> None:
        self.project.labels = [LabelDef(l.name, l.color) for l in labels]
        self.project.save()
        if current_from is not None and self.doc.current_label == current_from:
            self.doc.current_label = current_to

    def _held(self) -> dict[Path, Any]:
        """The annotations the document holds in memory, by image."""
        return {image: self.doc.session_annotation(image) for image in self.doc.session_images()}

    def _in_memory(self, image: Path, edit: Callable[[], FileChange | None]) -> None:
        ann = self.doc.session_annotation(image)
        read_only = self.doc.session_read_only_reason(image)
        if read_only is not None:
            if any(s.label == self.change.old for s in ann.shapes):
                self.skipped.append((image, read_only))  # a file that cannot be written keeps its labels
            return
        done = edit()
        if done is None or not done.shapes:
            return
        self.files[image] = done
        if done.removed:  # the image's own undo steps refer to shapes by index
            self.doc.clear_history(image)
            if image == self.doc.image:
                self.doc.set_selection([])
        self.doc.session_changed(image)

    def _replay(self, in_memory: Callable, in_files: Callable, verb: str) -> None:
        held = set(self.doc.session_images())
        for image in [i for i in self.files if i in held]:
            ann = self.doc.session_annotation(image)
            done = self.files[image]
            self._in_memory(image, lambda a=ann, d=done: in_memory(a, self.change, d))
        on_disk = {i: d for i, d in self.files.items() if i not in held}
        if not on_disk:
            self.jobs.filesChanged.emit()
            return

        def done(result: ChangeResult) -> str:
            if in_files is redo_in_files:
                self.files.update(result.files)
            self.skipped = result.skipped
            return f"{verb}: {self.text()} in {len(result.files)} file(s)" + self._skipped_text()

        self.jobs.submit(f"{verb}: {self.text()}", lambda progress: in_files(self.project, self.change, on_disk, progress),
                         done)

    def _first_done(self, result: ChangeResult) -> str:
        self.files.update(result.files)
        self.skipped += result.skipped
        return self.summary()

    def summary(self) -> str:
        shapes = sum(d.shapes for d in self.files.values())
        if self.change.new is None:
            text = f"Deleted label {self.change.old} and {shapes} shape(s) in {len(self.files)} file(s)"
        elif self.change.new in {l.name for l in self._labels_before}:
            text = f"Merged {self.change.old} into {self.change.new}: {shapes} shape(s) in {len(self.files)} file(s)"
        else:
            text = f"Renamed {self.change.old} to {self.change.new} in {len(self.files)} file(s)"
        return text + self._skipped_text()

    def _skipped_text(self) -> str:
        if not self.skipped:
            return ""
        return f"; skipped {len(self.skipped)}: " + "; ".join(reason for _, reason in self.skipped[:3])
