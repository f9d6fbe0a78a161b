"""Auto-labelling: torchvision's COCO-pretrained Mask R-CNN over a project's unlabelled images,
its COCO classes mapped to the project's labels, through the one prediction loop
(core.training.predict.write_project_predictions).

Importing this module does not import torch (the window reads `coco_weights_path` on its own
thread); the functions that run the model import it when called.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from . import TrainingError

DEFAULT_COCO_MAPPING = {"car": "car", "truck": "car", "bus": "car", "stop sign": "sign board"}
COCO_MODEL_NAME = "coco maskrcnn_resnet50_fpn"
# the file name in torchvision's MaskRCNN_ResNet50_FPN_Weights.COCO_V1.url (a test checks it)
COCO_WEIGHTS_FILE = "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"


def coco_weights_path() -> Path:
    """Where torchvision keeps its COCO Mask R-CNN file: torch.hub's cache folder
    ($TORCH_HOME, else $XDG_CACHE_HOME/torch, else ~/.cache/torch) / hub / checkpoints."""
    torch_home = os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch"))
    return Path(os.path.expanduser(torch_home)) / "hub" / "checkpoints" / COCO_WEIGHTS_FILE


def unlabelled_images(project: Any) -> list[str]:
    """Images without a sidecar or with no shapes (broken sidecars are left alone)."""
    return [img.as_posix() for img, ann, err in project.iter_annotations()
            if err is None and (ann is None or not ann.shapes)]


def coco_predictor(min_size: int = 800, max_size: int = 1333, device: str = "auto") -> Any:
    """A core.training.predict.Predictor for torchvision's COCO Mask R-CNN (labels: COCO names);
    TrainingError saying where to put the weights file when it is absent."""
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights, maskrcnn_resnet50_fpn
    from torchvision.models.detection._utils import overwrite_eps

    from core.models.weights import read_state_dict

    from .distributed import resolve_device
    from .predict import Predictor

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
    names = list(MaskRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"][1:])  # index 0 is the background
    return Predictor(model.to(dev).eval(), names, min_size, max_size, dev, str(path), COCO_MODEL_NAME)


def auto_label(project: Any, images: list[str], mapping: dict[str, str], score: float = 0.5,
               min_size: int = 800, max_size: int = 1333, device: str = "auto", progress: Any = None,
               cancel_event: threading.Event | None = None) -> dict[str, Path]:
    """COCO Mask R-CNN masks of `images` whose class is in `mapping` (COCO name -> project label),
    written as predictions files; returns image -> file."""
    from .predict import write_project_predictions

    predictor = coco_predictor(min_size, max_size, device)
    return write_project_predictions(predictor, project, images, score, label_map=mapping, progress=progress,
                                     cancel_event=cancel_event)
