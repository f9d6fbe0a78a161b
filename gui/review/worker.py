"""Prediction off the GUI thread: a checkpoint's predictions or COCO auto-labelling, both through
core's one prediction loop (core.training.predict / core.training.auto_label). Torch and the
torch-using core modules are imported on this thread only, when a job runs, after
core.torch_loader.load_torch() (the one locked import of torch and torchvision)."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from core.errors import MasklabError
from core.torch_loader import TorchImportError, load_torch

from ..inbox import InboxThread

Progress = Callable[[int, int, str], None]
Job = Callable[[Progress, threading.Event], dict[str, Path]]


class PredictionWorker(InboxThread):
    """Runs one prediction job; `progress` per image, then `succeeded` or `failed`."""

    progress = Signal(int, int, str)
    succeeded = Signal(dict)  # image -> predictions file
    failed = Signal(str)

    def __init__(self, job: Job, parent: QObject | None = None):
        super().__init__(parent)
        self.job = job
        self.cancel_event = threading.Event()

    @classmethod
    def for_checkpoint(cls, checkpoint: Path, project: Any, images: list[str] | None, score: float,
                       parent: QObject | None = None) -> "PredictionWorker":
        def job(progress: Progress, cancel: threading.Event) -> dict[str, Path]:
            load_torch()
            from core.training.predict import predict_images

            return predict_images(checkpoint, project, images=images, score=score,
                                  progress_callback=progress, cancel_event=cancel)
        return cls(job, parent)

    @classmethod
    def for_auto_label(cls, project: Any, images: list[str], mapping: dict[str, str], score: float,
                       min_size: int = 800, max_size: int = 1333, parent: QObject | None = None) -> "PredictionWorker":
        def job(progress: Progress, cancel: threading.Event) -> dict[str, Path]:
            load_torch()
            from core.training.auto_label import auto_label

            return auto_label(project, images, mapping, score, min_size, max_size, progress=progress,
                              cancel_event=cancel)
        return cls(job, parent)

    def cancel(self) -> None:
        self.cancel_event.set()

    def run(self) -> None:
        try:
            written = self.job(lambda done, total, img: self.post("progress", done, total, str(img)), self.cancel_event)
        except MasklabError as e:
            hint = getattr(e, "hint", "")
            self.post("failed", str(e) + (f"\nWhat to do: {hint}" if hint else ""))
            return
        except TorchImportError as e:
            self.post("failed", f"Cannot predict: {e}")
            return
        except Exception as e:  # a bug or a broken file must not take the window down
            self.post("failed", f"Prediction failed: {type(e).__name__}: {e}")
            return
        self.post("succeeded", {str(k): Path(v) for k, v in written.items()})
