"""The file list: every image with its state and counts per label, filters, and navigation.

The list comes from one folder walk (`Project.iter_images`) in natural order (car_2 before
car_10); states and counts are filled in by a background StateScanner, so a folder of thousands of
images opens at once. A SidecarWatcher notices annotation files other programs change: their rows
are read again and `sidecarsChanged` tells the window, which reloads the open image if needed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import (QAbstractListModel, QModelIndex, QPersistentModelIndex, QSize, QSortFilterProxyModel, Qt,
                            Signal)
from PySide6.QtWidgets import QComboBox, QDockWidget, QHBoxLayout, QLabel, QLineEdit, QListView, QVBoxLayout, QWidget

from core.annotation import Annotation
from core.natural_sort import natural_sorted
from core.project import Project

from .thumbnails import THUMB_SIZE, ThumbnailCache, placeholder_icon
from .watch import SidecarWatcher
from ..workers import (STATE_BROKEN, STATE_LABELLED, STATE_NEEDS_WORK, STATE_REVIEWED, STATE_UNKNOWN,
                       STATE_UNLABELLED, StateScanner, scan_one, state_of)

StateRole = Qt.ItemDataRole.UserRole + 1
PathRole = Qt.ItemDataRole.UserRole + 2
STATE_FILTERS = {
    "All images": None,
    "Unlabelled": {STATE_UNLABELLED},
    "Labelled, not reviewed": {STATE_LABELLED},
    "Needs work": {STATE_NEEDS_WORK},
    "Reviewed": {STATE_REVIEWED},
    "Not reviewed": {STATE_UNLABELLED, STATE_LABELLED, STATE_NEEDS_WORK},
    "Broken": {STATE_BROKEN},
}


class FileListModel(QAbstractListModel):
    def __init__(self, project: Project, parent: Any = None):
        super().__init__(parent)
        self.project = project
        self._list_images()
        self.thumbnails = ThumbnailCache(project.root, self)
        self.thumbnails.ready.connect(self._thumbnail_ready)
        self.thumbnails.failed.connect(self._thumbnail_failed)

    def _list_images(self) -> None:
        self.images: list[Path] = natural_sorted(self.project.image_paths())
        n = len(self.images)
        self.states = [STATE_UNKNOWN] * n
        self.counts: list[dict[str, int]] = [{} for _ in range(n)]
        self.problems = [""] * n
        self._rows = {p: i for i, p in enumerate(self.images)}

    def relist(self) -> None:
        """Walk the folder again (images added by an import or another program); states restart
        as unknown until the next scan."""
        self.beginResetModel()
        self._list_images()
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.images)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = index.row()
        if role == Qt.ItemDataRole.DisplayRole:
            counts = self.counts[row]
            text = self.images[row].as_posix()
            if self.states[row] == STATE_BROKEN:
                return f"{text}   ⚠ broken"
            if counts:
                text += "   " + " · ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            return text
        if role == Qt.ItemDataRole.DecorationRole:
            return self.thumbnails.icon(self.images[row], self.states[row]) or placeholder_icon(self.states[row])
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{self.images[row].as_posix()}: {self.states[row]}" + (f"\n{self.problems[row]}" if self.problems[row] else "")
        if role == StateRole:
            return self.states[row]
        if role == PathRole:
            return self.images[row]
        return None

    def _thumbnail_ready(self, path: str) -> None:
        row = self.row_of(Path(path).relative_to(self.project.root))
        if row >= 0:
            self.dataChanged.emit(self.index(row), self.index(row), [Qt.ItemDataRole.DecorationRole])

    def _thumbnail_failed(self, path: str, reason: str) -> None:
        """A photo whose header reads but whose pixels do not decode is broken, like a bad file."""
        row = self.row_of(Path(path).relative_to(self.project.root))
        if row >= 0:
            self.set_state(row, STATE_BROKEN, {}, reason)

    def row_of(self, image: str | Path) -> int:
        return self._rows.get(Path(image), -1)

    def set_state(self, row: int, state: str, counts: dict[str, int], problem: str = "") -> None:
        if not 0 <= row < len(self.images):
            return
        self.states[row], self.counts[row], self.problems[row] = state, counts, problem
        idx = self.index(row)
        self.dataChanged.emit(idx, idx)

    def apply_batch(self, results: list) -> None:
        for row, state, counts, problem in results:
            if self.states[row] == STATE_BROKEN and state != STATE_BROKEN and self.problems[row]:
                continue  # a failure seen when opening the image outranks the header check
            self.states[row], self.counts[row], self.problems[row] = state, counts, problem
        if results:
            rows = [r[0] for r in results]
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)))

    def update_from_annotation(self, image: str | Path, annotation: Annotation) -> None:
        self.set_state(self.row_of(image), state_of(annotation), annotation.label_counts())

    def ensure_state(self, row: int) -> str:
        """The row's state, reading it now when the background scan has not reached it yet."""
        if self.states[row] == STATE_UNKNOWN:
            self.set_state(row, *scan_one(self.project, self.images[row]))
        return self.states[row]


class FileFilter(QSortFilterProxyModel):
    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.states: set[str] | None = None
        self.text = ""

    def set_filter(self, states: set[str] | None, text: str) -> None:
        self.beginFilterChange()
        self.states, self.text = states, text.strip().lower()
        self.refilter()

    def refilter(self) -> None:
        """Re-evaluate every row (after the states changed), keeping the settings."""
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, row: int, parent: QModelIndex | QPersistentModelIndex) -> bool:
        model: FileListModel = self.sourceModel()
        if self.states is not None and model.states[row] not in self.states:
            return False
        if self.text:
            hay = model.images[row].as_posix().lower()
            if self.text not in hay and not any(self.text in k.lower() for k in model.counts[row]):
                return False
        return True

    sort_key = None  # Callable[[Path], float] | None: highest first (the assist tools' uncertainty order)

    def set_sort_key(self, key: Any) -> None:
        """Order the rows by `key(image path)`, highest first; None: the folder order again."""
        self.sort_key = key
        self.invalidate()
        self.sort(0 if key is not None else -1, Qt.SortOrder.AscendingOrder)

    def lessThan(self, left: QModelIndex | QPersistentModelIndex, right: QModelIndex | QPersistentModelIndex) -> bool:
        if self.sort_key is None:
            return left.row() < right.row()
        images = self.sourceModel().images
        return (-self.sort_key(images[left.row()]), left.row()) < (-self.sort_key(images[right.row()]), right.row())


class FilesDock(QDockWidget):
    imageActivated = Signal(str)  # project-relative path
    labelsFound = Signal(list)  # label names seen in the files that the project does not list yet
    sidecarsChanged = Signal(list)  # images whose annotation file another program changed

    def __init__(self, project: Project, parent: QWidget | None = None):
        super().__init__("Images", parent)
        self.setObjectName("FilesDock")
        self.model = FileListModel(project, self)
        self.proxy = FileFilter(self)
        self.proxy.setSourceModel(self.model)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        self.text_filter = QLineEdit()
        self.text_filter.setPlaceholderText("Filter by name or label")
        self.text_filter.setClearButtonEnabled(True)
        self.state_filter = QComboBox()
        self.state_filter.addItems(list(STATE_FILTERS))
        row.addWidget(self.text_filter, 2)
        row.addWidget(self.state_filter, 1)
        layout.addLayout(row)
        self.view = QListView()
        self.view.setModel(self.proxy)
        self.view.setUniformItemSizes(True)
        self.view.setIconSize(QSize(*THUMB_SIZE))
        self.view.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        layout.addWidget(self.view)
        self.summary = QLabel()
        layout.addWidget(self.summary)
        self.setWidget(body)
        self.text_filter.textChanged.connect(self._refilter)
        self.state_filter.currentTextChanged.connect(self._refilter)
        self.view.selectionModel().currentChanged.connect(self._on_current_changed)
        self.model.dataChanged.connect(self._update_summary)
        self.scanner: StateScanner | None = None
        self._rescans: list[StateScanner] = []
        self.watcher = SidecarWatcher(project, self.model.images, self)
        self.watcher.sidecarsChanged.connect(self._on_sidecars_changed)
        self.watcher.imagesChanged.connect(self.relist)
        self._scan_generation = 0
        self._scan_complete = False
        self._closed = False
        self._current: Path | None = None
        self._update_summary()

    # -- background scan ---------------------------------------------------------------------
    def start_scan(self) -> None:
        """Read every image's state in the background; a running scan is replaced (its results
        still in flight are dropped, as they may predate a project-wide change)."""
        if self._closed:
            return
        self.stop_scan()
        self._scan_generation += 1
        generation = self._scan_generation
        self._scan_complete = False
        self.scanner = StateScanner(self.model.project, list(self.model.images), self,
                                    on_batch=lambda results: self._on_batch(results, generation),
                                    on_finished=lambda: self._on_scan_finished(generation))
        self.scanner.start()

    def _on_scan_finished(self, generation: int) -> None:
        if generation == self._scan_generation:
            self._scan_complete = True

    def stop_scan(self, wait_ms: int = 5000) -> None:
        """Interrupt the scans; each stops after the image it is reading (one header, one sidecar)."""
        for scanner in [self.scanner, *self._rescans]:
            if scanner is not None and scanner.is_running():
                scanner.interrupt()
        for scanner in [self.scanner, *self._rescans]:
            if scanner is not None:
                scanner.wait(wait_ms)
        self._rescans = [s for s in self._rescans if s.is_running()]

    # -- changes on disk -------------------------------------------------------------------
    def rescan(self, images: list[Path]) -> None:
        """Read these images' states again in the background (their files changed)."""
        if self._closed:
            return
        rows = [self.model.row_of(p) for p in images]
        pairs = [(r, p) for r, p in zip(rows, images) if r >= 0]
        if not pairs:
            return
        generation = self._scan_generation
        scanner = StateScanner(self.model.project, [p for _, p in pairs], self, rows=[r for r, _ in pairs],
                               on_batch=lambda results: self._on_rescan_batch(results, generation),
                               on_finished=lambda: self._rescans.remove(scanner) if scanner in self._rescans else None)
        self._rescans.append(scanner)
        scanner.start()

    def _on_rescan_batch(self, results: list, generation: int) -> None:
        if generation != self._scan_generation:
            return
        for row, state, counts, problem in results:  # a fresh read replaces any earlier mark
            self.model.set_state(row, state, counts, problem)
        new = sorted({label for _, _, counts, _ in results for label in counts} - set(self.model.project.label_names()))
        if new:
            self.labelsFound.emit(new)
        if self.proxy.states is not None:
            self.proxy.beginFilterChange()
            self.proxy.refilter()

    def _on_sidecars_changed(self, images: list[Path]) -> None:
        for image in images:
            self.model.thumbnails.forget(image)
        self.rescan(images)
        self.sidecarsChanged.emit(images)

    def shutdown(self, wait_ms: int = 300) -> None:
        """The window closes: no more watching or scanning. A scan still reading after `wait_ms`
        (a slow disk) finishes on its own thread; nothing it reads is delivered."""
        self._closed = True
        self.watcher.stop()
        self.stop_scan(wait_ms)

    def relist(self) -> None:
        """The folder's images changed (an import, another program): list them again."""
        if self._closed:
            return
        self.stop_scan(wait_ms=2000)
        self.model.relist()
        self.watcher.set_images(self.model.images)
        self._select_view_row(self._current)
        self._update_summary()
        self.start_scan()

    def scan_done(self) -> bool:
        """Every image's state has been read and shown."""
        return self._scan_complete

    def _on_batch(self, results: list, generation: int) -> None:
        if generation != self._scan_generation:
            return
        self.model.apply_batch(results)
        known = set(self.model.project.label_names())
        new = sorted({label for _, _, counts, _ in results for label in counts} - known)
        if new:
            self.labelsFound.emit(new)
        if self.proxy.states is not None:
            self.proxy.beginFilterChange()
            self.proxy.refilter()

    # -- filters and summary -----------------------------------------------------------------
    def set_filter(self, state_filter: str, text: str = "") -> None:
        self.state_filter.setCurrentText(state_filter)
        self.text_filter.setText(text)

    def _refilter(self) -> None:
        self.proxy.set_filter(STATE_FILTERS[self.state_filter.currentText()], self.text_filter.text())
        self._select_view_row(self._current)
        self._update_summary()

    def _update_summary(self, *args: Any) -> None:
        m = self.model
        n = len(m.images)
        done = sum(1 for s in m.states if s in (STATE_LABELLED, STATE_REVIEWED, STATE_NEEDS_WORK))
        reviewed = m.states.count(STATE_REVIEWED)
        broken = m.states.count(STATE_BROKEN)
        text = f"{self.proxy.rowCount()} shown of {n} · {done} labelled · {reviewed} reviewed"
        if broken:
            text += f" · {broken} broken"
        self.summary.setText(text)

    def visible_paths(self) -> list[Path]:
        return [self.proxy.index(r, 0).data(PathRole) for r in range(self.proxy.rowCount())]

    # -- current image and navigation ------------------------------------------------------
    def _on_current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if current.isValid():
            path = current.data(PathRole)
            if path != self._current:
                self._current = path
                self.imageActivated.emit(str(path))

    def _select_view_row(self, image: Path | None) -> None:
        if image is None:
            return
        src = self.model.index(self.model.row_of(image))
        idx = self.proxy.mapFromSource(src)
        if idx.isValid():
            self.view.selectionModel().blockSignals(True)
            self.view.setCurrentIndex(idx)
            self.view.selectionModel().blockSignals(False)
            self.view.scrollTo(idx)

    def show_current(self, image: str | Path) -> None:
        """Highlight the image opened elsewhere (without emitting imageActivated)."""
        self._current = Path(image)
        self._select_view_row(self._current)

    def step(self, delta: int) -> bool:
        """Previous (-1) / next (+1) image in the filtered list."""
        rows = self.proxy.rowCount()
        if not rows:
            return False
        idx = self.proxy.mapFromSource(self.model.index(self.model.row_of(self._current))) if self._current else QModelIndex()
        if idx.isValid():
            target = idx.row() + delta
        else:  # the current image is filtered out: the first shown one after it
            cur = self.model.row_of(self._current) if self._current else -1
            after = [r for r in range(rows) if self.proxy.mapToSource(self.proxy.index(r, 0)).row() > cur]
            target = after[0] if after and delta > 0 else (after[0] - 1 if after else rows - 1)
        if not 0 <= target < rows:
            return False
        self.view.setCurrentIndex(self.proxy.index(target, 0))
        return True

    def next_with_state(self, states: set[str]) -> bool:
        """Open the next image (after the current one, wrapping) whose state is in `states`."""
        n = len(self.model.images)
        start = self.model.row_of(self._current) if self._current else -1
        for k in range(1, n + 1):
            row = (start + k) % n
            if self.model.ensure_state(row) in states:
                if not self.proxy.mapFromSource(self.model.index(row)).isValid():
                    self.set_filter("All images", "")  # show the image it jumps to
                self._current = self.model.images[row]
                self._select_view_row(self._current)
                self.imageActivated.emit(str(self._current))
                return True
        return False

    def mark(self, image: str | Path, state: str, problem: str = "") -> None:
        row = self.model.row_of(image)
        if row >= 0:
            counts = self.model.counts[row] if state != STATE_BROKEN else {}
            self.model.set_state(row, state, counts, problem)
