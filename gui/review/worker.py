"""Prediction off the GUI thread: a checkpoint's predictions (core.training.predict), or
auto-labelling with torchvision's COCO-pretrained Mask R-CNN, whose COCO classes are mapped to the
project's labels. Both write PROJECT/predictions/<image>.json and never touch the annotations."""
from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal

from core.errors import MasklabError

DEFAULT_COCO_MAPPING = {"car": "car", "truck": "car", "bus": "car", "stop sign": "sign board"}
COCO_MODEL_NAME = "coco maskrcnn_resnet50_fpn"
Progress = Callable[[int, int, str], None]


def coco_weights_path() -> Path:
    """Where torchvision keeps its COCO Mask R-CNN file ($TORCH_HOME/hub/checkpoints/...)."""
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

    from core.models.weights import cached_weights_path

    return cached_weights_path(MaskRCNN_ResNet50_FPN_Weights.COCO_V1)


def coco_category_names() -> list[str]:
    """COCO category names by the model's class index minus one (index 0 is the background)."""
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

    return list(MaskRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"][1:])


def unlabelled_images(project: Any) -> list[str]:
    """Images without a sidecar or with no shapes (broken sidecars are left alone)."""
    return [img.as_posix() for img, ann, err in project.iter_annotations()
            if err is None and (ann is None or not ann.shapes)]


def auto_label(project: Any, images: list[str], mapping: dict[str, str], score: float = 0.5,
               min_size: int = 800, max_size: int = 1333, device: str = "auto",
               progress: Progress | None = None, cancel_event: threading.Event | None = None) -> dict[str, Path]:
    """COCO Mask R-CNN masks of `images` whose class is in `mapping` (COCO name -> project label),
    written as predictions files; returns image -> file."""
    from torchvision.models.detection import maskrcnn_resnet50_fpn
    from torchvision.models.detection._utils import overwrite_eps

    from core.labelme_json import write_annotation
    from core.models.weights import read_state_dict
    from core.training import TrainingError
    from core.training.dataset import prepare_image
    from core.training.distributed import resolve_device
    from core.training.predict import prediction_path, predictions_annotation, run_model, to_predictions

    path = coco_weights_path()
    if not path.is_file():
        raise TrainingError(path, "the COCO-pretrained Mask R-CNN weights are not on this computer",
                            hint=f"put torchvision's file {path.name} into {path.parent} (it is downloaded "
                                 "there by torchvision when online), then auto-label again")
    dev = resolve_device(device)
    model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, min_size=min_size, max_size=max_size)
    try:
        model.load_state_dict(read_state_dict(path))
    except RuntimeError as e:
        raise TrainingError(path, f"not torchvision's COCO Mask R-CNN weights ({str(e).splitlines()[0]})",
                            hint="replace it with the file torchvision downloads") from e
    overwrite_eps(model, 0.0)  # as torchvision does for these weights
    model.to(dev).eval()
    names = coco_category_names()
    written: dict[str, Path] = {}
    for done, img in enumerate(images, start=1):
        if cancel_event is not None and cancel_event.is_set():
            break
        tensor, scale, size = prepare_image(project.abs_path(img), min_size, max_size)
        preds = to_predictions(run_model(model, tensor, dev), names, scale, size, score)
        mapped = [replace(p, label=mapping[p.label]) for p in preds if mapping.get(p.label)]
        out = prediction_path(project, img)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_annotation(out, predictions_annotation(project, img, mapped, size, str(path), COCO_MODEL_NAME))
        written[img] = out
        if progress is not None:
            progress(done, len(images), img)
    return written


class PredictionWorker(QThread):
    """Runs one prediction job; `progress` per image, then `succeeded` or `failed`."""

    progress = Signal(int, int, str)
    succeeded = Signal(dict)  # image -> predictions file
    failed = Signal(str)

    def __init__(self, job: Callable[[Progress, threading.Event], dict[str, Path]], parent: QObject | None = None):
        super().__init__(parent)
        self.job = job
        self.cancel_event = threading.Event()

    @classmethod
    def for_checkpoint(cls, checkpoint: Path, project: Any, images: list[str] | None, score: float,
                       parent: QObject | None = None) -> "PredictionWorker":
        def job(progress: Progress, cancel: threading.Event) -> dict[str, Path]:
            from core.training.predict import predict_images

            return predict_images(checkpoint, project, images=images, score=score,
                                  progress_callback=progress, cancel_event=cancel)
        return cls(job, parent)

    @classmethod
    def for_auto_label(cls, project: Any, images: list[str], mapping: dict[str, str], score: float,
                       min_size: int = 800, max_size: int = 1333, parent: QObject | None = None) -> "PredictionWorker":
        def job(progress: Progress, cancel: threading.Event) -> dict[str, Path]:
            return auto_label(project, images, mapping, score, min_size, max_size, progress=progress,
                              cancel_event=cancel)
        return cls(job, parent)

    def cancel(self) -> None:
        self.cancel_event.set()

    def run(self) -> None:
        try:
            written = self.job(lambda done, total, img: self.progress.emit(done, total, str(img)), self.cancel_event)
        except MasklabError as e:
            hint = getattr(e, "hint", "")
            self.failed.emit(str(e) + (f"\nWhat to do: {hint}" if hint else ""))
            return
        except Exception as e:  # a bug or a broken file must not take the window down
            self.failed.emit(f"Prediction failed: {type(e).__name__}: {e}")
            return
        self.succeeded.emit({str(k): Path(v) for k, v in written.items()})
