"""Notices annotation files changed by other programs (labelme, an editor fixing a broken file, a
script) while the window is open.

QFileSystemWatcher watches every image folder (files created, removed or renamed over, which is
how atomic saves arrive) and every existing sidecar file (edits in place). Events are gathered for
a moment, then each sidecar's (mtime, size, inode) is compared with the last one seen; the
window's own saves update that record first, so they are never reported as outside changes.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from core.images import is_image_file
from core.project import Project

DEBOUNCE_MS = 150
MAX_FILE_WATCHES = 20000  # beyond this only folders are watched (inotify's per-user budget)


def _stat_key(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


class SidecarWatcher(QObject):
    sidecarsChanged = Signal(list)  # project-relative image paths whose annotation file changed
    imagesChanged = Signal()  # image files appeared in or vanished from a watched folder

    def __init__(self, project: Project, images: list[Path], parent: QObject | None = None):
        super().__init__(parent)
        self.project = project
        self.watcher = QFileSystemWatcher(self)
        self.watcher.fileChanged.connect(self._on_file)
        self.watcher.directoryChanged.connect(self._on_dir)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.check_now)
        self._pending_files: set[str] = set()
        self._pending_dirs: set[str] = set()
        self._image_of, self._images_in, self._seen = {}, {}, {}
        # the window's own write of an image under way: its events wait until it is recorded
        self.is_writing: Callable[[Path], bool] = lambda _image: False
        # set up once the window is on screen: opening a 5,000-image folder must not wait for it
        QTimer.singleShot(0, lambda: self.set_images(images))

    def set_images(self, images: list[Path]) -> None:
        """(Re)build the watch list for this list of images (after a relist)."""
        if self.watcher.files():
            self.watcher.removePaths(self.watcher.files())
        if self.watcher.directories():
            self.watcher.removePaths(self.watcher.directories())
        self._image_of: dict[str, Path] = {}
        self._images_in: dict[str, set[str]] = {}
        root = str(self.project.root)
        self._images_in[root] = set()  # photos copied into an empty project are noticed too
        for image in images:  # string operations: pathlib costs 0.3 s for 5,000 images
            absolute = os.path.join(root, str(image))
            self._image_of[os.path.splitext(absolute)[0] + ".json"] = image  # Project.annotation_path
            folder, name = os.path.split(absolute)
            self._images_in.setdefault(folder, set()).add(name)
        self._seen = {s: _stat_key(s) for s in self._image_of}
        self.watcher.addPaths(sorted(self._images_in))
        self._watch_files(s for s, key in self._seen.items() if key is not None)

    def _watch_files(self, sidecars) -> None:
        watched = set(self.watcher.files())
        wanted = [s for s in sidecars if s not in watched][:max(MAX_FILE_WATCHES - len(watched), 0)]
        if wanted:
            self.watcher.addPaths(wanted)

    def stop(self) -> None:
        """Watch nothing more (the window closes)."""
        self._timer.stop()
        self.watcher.fileChanged.disconnect()
        self.watcher.directoryChanged.disconnect()
        self._pending_files.clear()
        self._pending_dirs.clear()

    def note_saved(self, image: str | Path) -> None:
        """The window wrote this image's sidecar itself: not an outside change."""
        sidecar = str(self.project.annotation_path(image))
        self._seen[sidecar] = _stat_key(sidecar)
        self._image_of.setdefault(sidecar, Path(image))

    def _on_file(self, path: str) -> None:
        self._pending_files.add(path)
        self._timer.start()

    def _on_dir(self, path: str) -> None:
        self._pending_dirs.add(path)
        self._timer.start()

    def check_now(self) -> None:
        """Compare the sidecars of the folders and files that reported events with what was
        last seen; report the changed ones (a deleted sidecar counts as changed)."""
        self._timer.stop()
        candidates = set(self._pending_files)
        images_changed = False
        for folder in self._pending_dirs:
            names = self._images_in.get(folder, set())
            candidates.update(str(Path(folder) / Path(n).with_suffix(".json")) for n in names)
            try:
                present = {e.name for e in os.scandir(folder) if is_image_file(e.name) and not e.name.startswith(".")}
            except OSError:
                present = set()
            images_changed = images_changed or present != names
        self._pending_files.clear()
        self._pending_dirs.clear()
        changed, postponed = [], set()
        for sidecar in sorted(candidates):
            if sidecar not in self._image_of:
                continue
            if self.is_writing(self._image_of[sidecar]):
                postponed.add(sidecar)
                continue
            key = _stat_key(sidecar)
            if key != self._seen.get(sidecar):
                self._seen[sidecar] = key
                changed.append(self._image_of[sidecar])
        # a file replaced by a rename (atomic save) is no longer watched: watch the new one
        self._watch_files(s for s in candidates if s in self._image_of and self._seen.get(s) is not None)
        if postponed:
            self._pending_files.update(postponed)
            self._timer.start()
        if changed:
            self.sidecarsChanged.emit(changed)
        if images_changed:
            self.imagesChanged.emit()
