"""The assist worker: one long-lived thread that turns boxes and clicks into polygons.

The GUI thread never runs GrabCut or the model: it queues jobs; the thread keeps the decoded
photos and the model's per-image features of the last few images, so after the first box of an
image each further box (or click) costs only GrabCut on a small crop, or the model's mask head.
When jobs pile up (fast clicking) only the newest is computed."""
from __future__ import annotations

import queue
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from core.errors import MasklabError

from ..inbox import InboxThread

PHOTO_CACHE = 2
_FINISHING: list["AssistWorker"] = []  # workers told to stop that were still busy when the window closed


@dataclass
class AssistJob:
    job_id: int
    image: Path  # absolute
    method: str  # "grabcut" or "model"
    checkpoint: Path | None
    box: tuple[float, float, float, float] | None = None  # None: only decode / compute features
    positive: list[tuple[float, float]] = field(default_factory=list)
    negative: list[tuple[float, float]] = field(default_factory=list)
    label: str | None = None
    tolerance: float = 1.5


class AssistWorker(InboxThread):
    done = Signal(int, object, object)  # job id, list of (N, 2) polygons, list of notes
    failed = Signal(int, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._jobs: "queue.Queue[AssistJob | None]" = queue.Queue()
        self._photos: OrderedDict[Path, Any] = OrderedDict()
        self._assistant: Any = None

    def submit(self, job: AssistJob) -> None:
        self._jobs.put(job)
        if not self.isRunning():
            self.start(QThread.Priority.LowPriority)

    def stop(self, wait_ms: int = 1000) -> None:
        """Ask the thread to end after its current job; a model still computing an image's
        features may take longer than the window wants to wait to close: the thread is then
        kept alive (unparented, referenced here) until it ends, never destroyed while running."""
        if not self.isRunning():
            return
        self._jobs.put(None)
        if not self.wait(wait_ms):
            self.setParent(None)
            _FINISHING.append(self)
            self.finished.connect(lambda: _FINISHING.remove(self) if self in _FINISHING else None)

    def _next(self) -> AssistJob | None:
        """The newest queued segmentation (or, without one, the newest preparation)."""
        items = [self._jobs.get()]
        while not self._jobs.empty():
            items.append(self._jobs.get_nowait())
        if None in items:
            return None
        boxes = [j for j in items if j.box is not None]
        return boxes[-1] if boxes else items[-1]

    def run(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            try:
                result = self._compute(job)
            except MasklabError as e:
                self.post("failed", job.job_id, str(e))
                continue
            except Exception as e:  # a bug or a library failure must not end the thread
                self.post("failed", job.job_id, f"assist failed: {type(e).__name__}: {e}")
                continue
            if result is not None:
                self.post("done", job.job_id, result[0], result[1])

    def _photo(self, path: Path) -> Any:
        from core.images import load_rgb_array

        if path not in self._photos:
            self._photos[path] = load_rgb_array(path)
            while len(self._photos) > PHOTO_CACHE:
                self._photos.popitem(last=False)
        self._photos.move_to_end(path)
        return self._photos[path]

    def _model(self, checkpoint: Path) -> Any:
        if self._assistant is None or self._assistant.checkpoint != checkpoint:
            self._assistant = None
            from core.torch_loader import load_torch

            load_torch()  # the one locked import of torch and torchvision
            from core.training.mask_assist import ModelAssistant

            self._assistant = ModelAssistant(checkpoint)
        return self._assistant

    def _compute(self, job: AssistJob) -> tuple[list, list] | None:
        if job.method == "model" and job.checkpoint is not None:
            assistant = self._model(job.checkpoint)
            if job.box is None:
                assistant.features(job.image)
                return None
            crop = assistant.segment(job.image, job.box, job.label, job.positive, job.negative)
        else:
            photo = self._photo(job.image)
            if job.box is None:
                return None
            from core.assist.grabcut import grabcut_mask

            crop = grabcut_mask(photo, job.box, job.positive, job.negative)
        polygons = crop.polygons(job.tolerance)
        if not polygons:
            raise MasklabError(job.image, "no polygon came out of the box")
        return polygons, crop.notes
