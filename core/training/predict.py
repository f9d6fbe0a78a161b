"""The one prediction loop: a model (a checkpoint's, or torchvision's COCO Mask R-CNN for
auto-labelling, core.training.auto_label) over a project's images, one predictions file each
(core.predictions), never touching the annotations. The CLI's `predict`, the review dock's
worker and auto-labelling all run `write_project_predictions`."""
from __future__ import annotations

import io
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from core.atomic import atomic_write_bytes
from core.images import load_image
# prediction_path, predictions_annotation and read_predictions are imported from here by older callers
from core.predictions import (Prediction, prediction_path, predictions_annotation, read_predictions,  # noqa: F401
                              write_predictions)

from . import TrainingError
from .checkpoint import load_checkpoint, model_from_checkpoint
from .dataset import prepare_image
from .distributed import resolve_device

RPN_LABEL = "object"
Progress = Callable[[int, int, str], None]


@dataclass
class Predictor:
    """A detection model ready for inference, with what its outputs mean."""

    model: torch.nn.Module  # eval mode, on `device`
    label_names: list[str]  # class k is label_names[k - 1]
    min_size: int
    max_size: int
    device: torch.device
    source: str  # the weights file, written into every predictions file
    model_name: str


def load_predictor(checkpoint: str | Path, device: str = "auto") -> Predictor:
    """A training checkpoint's model in eval mode on `device` ("auto": CUDA when present)."""
    dev = resolve_device(device)
    state = load_checkpoint(checkpoint, map_location="cpu")
    model = model_from_checkpoint(state, dev, checkpoint)
    return Predictor(model, list(state["label_names"]), state["min_size"], state["max_size"], dev,
                     str(Path(checkpoint).resolve()), state["model_name"])


def _mask_to_original(soft: torch.Tensor, box_small: torch.Tensor, scale: float, size: tuple[int, int]) -> np.ndarray:
    """Upscale one detection's soft mask (model-input frame) to the photo's frame, only inside
    its box so a 12-megapixel photo costs one box, not one full image, per detection."""
    h, w = size
    sh, sw = soft.shape
    x1, y1 = max(0, int(box_small[0]) - 1), max(0, int(box_small[1]) - 1)
    x2, y2 = min(sw, int(box_small[2]) + 2), min(sh, int(box_small[3]) + 2)
    out = np.zeros((h, w), dtype=bool)
    if x2 <= x1 or y2 <= y1:
        return out
    ox1, oy1 = int(round(x1 / scale)), int(round(y1 / scale))
    ox2, oy2 = min(w, int(round(x2 / scale))), min(h, int(round(y2 / scale)))
    if ox2 <= ox1 or oy2 <= oy1:
        return out
    crop = soft[y1:y2, x1:x2][None, None].float()
    up = F.interpolate(crop, size=(oy2 - oy1, ox2 - ox1), mode="bilinear", align_corners=False)[0, 0]
    out[oy1:oy2, ox1:ox2] = (up > 0.5).cpu().numpy()
    return out


def to_predictions(output: dict[str, torch.Tensor], label_names: list[str], scale: float,
                   size: tuple[int, int], score_min: float, limit: int | None = None) -> list[Prediction]:
    """A torchvision detection output (model-input frame) as Predictions in the photo's frame,
    best first. Class-agnostic outputs (rpn_classic) get the project's only label or "object"."""
    scores = output["scores"].detach().float().cpu()
    order = torch.argsort(scores, descending=True)
    order = order[scores[order] >= score_min]
    if limit is not None:
        order = order[:limit]
    boxes = output["boxes"].detach().float().cpu()
    labels = output.get("labels")
    masks = output.get("masks")
    result = []
    for i in order.tolist():
        if masks is None or labels is None:
            label = label_names[0] if len(label_names) == 1 else RPN_LABEL
        else:
            k = int(labels[i])
            label = label_names[k - 1] if 1 <= k <= len(label_names) else f"class {k}"
        mask = None if masks is None else _mask_to_original(masks[i, 0].detach(), boxes[i], scale, size)
        box = tuple(float(v) for v in (boxes[i] / scale).tolist())
        result.append(Prediction(label, float(scores[i]), box, mask))  # type: ignore[arg-type]
    return result


def run_model(model: torch.nn.Module, image: torch.Tensor, device: torch.device) -> dict[str, torch.Tensor]:
    """One uint8 CHW image through a detection model in eval mode."""
    with torch.inference_mode():
        x = image.to(device, non_blocking=True).float().div_(255)
        if device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=torch.cuda.is_bf16_supported()):
                out = model([x])[0]
        else:
            out = model([x])[0]
    return {k: v.float() if v.is_floating_point() else v for k, v in out.items()}


def predict_image(predictor: Predictor, path: str | Path, score: float) -> tuple[list[Prediction], tuple[int, int]]:
    """The predictions (score >= `score`, best first) for one photo, and its (height, width)."""
    tensor, scale, size = prepare_image(path, predictor.min_size, predictor.max_size)
    out = run_model(predictor.model, tensor, predictor.device)
    return to_predictions(out, predictor.label_names, scale, size, score), size


def overlay_image(project: Any, image: str | Path, preds: list[Prediction], out_path: Path) -> Path:
    """A PNG of the photo with each prediction's mask tinted in its label's colour and its box
    outlined."""
    from PIL import Image, ImageDraw

    photo = load_image(project.abs_path(image))
    arr = np.asarray(photo).astype(np.float32)
    for p in preds:
        if p.mask is not None:
            rgb = np.array([int(project.color_of(p.label)[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.float32)
            arr[p.mask] = arr[p.mask] * 0.55 + rgb * 0.45
    canvas = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for p in preds:
        draw.rectangle(p.box, outline=project.color_of(p.label), width=2)
        draw.text((p.box[0] + 2, p.box[1] + 1), f"{p.label} {p.score:.2f}", fill=project.color_of(p.label))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    atomic_write_bytes(out_path, buf.getvalue())
    return out_path


def project_image_names(project: Any, images: list[str | Path] | None) -> list[str]:
    """`images` (default: all of the project's) as project-relative names; TrainingError for an
    image that is not a file inside the project."""
    names = []
    for image in (images if images else project.image_paths()):
        path = Path(image)
        if path.is_absolute():
            try:
                path = path.resolve().relative_to(project.root)
            except ValueError:
                raise TrainingError(path, f"the image is not inside the project folder {project.root}") from None
        if not project.abs_path(path).is_file():
            raise TrainingError(project.abs_path(path), "no such image in the project")
        names.append(path.as_posix())
    return names


def write_project_predictions(predictor: Predictor, project: Any, images: list[str], score: float,
                              label_map: dict[str, str] | None = None, progress: Progress | None = None,
                              cancel_event: threading.Event | None = None, overlay_dir: str | Path | None = None
                              ) -> dict[str, Path]:
    """Predict each of `images` (project-relative names) and write its predictions file; returns
    image -> predictions file. With `label_map` (model label -> project label) predictions of
    other labels are dropped and the rest renamed. Stops between images when `cancel_event` is set."""
    written: dict[str, Path] = {}
    for done, img in enumerate(images, start=1):
        if cancel_event is not None and cancel_event.is_set():
            break
        preds, size = predict_image(predictor, project.abs_path(img), score)
        if label_map is not None:
            preds = [replace(p, label=label_map[p.label]) for p in preds if label_map.get(p.label)]
        written[img] = write_predictions(project, img, preds, size, predictor.source, predictor.model_name)
        if overlay_dir is not None:
            overlay_image(project, img, preds, Path(overlay_dir) / Path(img).with_suffix(".png"))
        if progress is not None:
            progress(done, len(images), img)
    return written


def predict_images(checkpoint: str | Path, project: Any, images: list[str | Path] | None = None,
                   score: float = 0.5, device: str = "auto", progress_callback: Progress | None = None,
                   cancel_event: threading.Event | None = None, overlay_dir: str | Path | None = None
                   ) -> dict[str, Path]:
    """Predict `images` (default: all of the project's) with a checkpoint and write one
    predictions file each; returns image -> predictions file."""
    predictor = load_predictor(checkpoint, device)
    names = project_image_names(project, images)
    return write_project_predictions(predictor, project, names, score, progress=progress_callback,
                                     cancel_event=cancel_event, overlay_dir=overlay_dir)
