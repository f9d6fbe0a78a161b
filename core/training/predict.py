"""Predictions of a checkpoint on a project's images, written without touching the annotations.

Files: PROJECT/predictions/<image path relative to the project, suffix .json>, in LabelMe's
format: shape_type "mask" with labelme's mask encoding (core.geometry.encode_labelme_mask) for
Mask R-CNN models, or "rectangle" for rpn_classic boxes; every shape has an extra "score" key and
the top level "checkpoint" and "model". `imagePath` is relative to the JSON file, as labelme
expects. The project scanner skips the predictions folder.
"""
from __future__ import annotations

import io
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from core.annotation import Annotation, Shape
from core.atomic import atomic_write_bytes
from core.errors import AnnotationError
from core.geometry import decode_labelme_mask, encode_labelme_mask
from core.images import load_image
from core.labelme_json import read_annotation, write_annotation

from . import TrainingError
from .checkpoint import load_checkpoint, model_from_checkpoint
from .dataset import prepare_image
from .distributed import resolve_device

PREDICTIONS_DIR = "predictions"
RPN_LABEL = "object"


@dataclass
class Prediction:
    label: str
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in the photo's oriented frame
    mask: np.ndarray | None  # full-size bool mask; None for box-only models


def prediction_path(project: Any, image: str | Path) -> Path:
    return project.root / PREDICTIONS_DIR / Path(image).with_suffix(".json")


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


def predictions_annotation(project: Any, image: str | Path, preds: list[Prediction], size: tuple[int, int],
                           checkpoint: str, model_name: str) -> Annotation:
    json_path = prediction_path(project, image)
    rel_image = os.path.relpath(project.abs_path(image), json_path.parent)
    ann = Annotation(image_path=Path(rel_image).as_posix(), image_height=size[0], image_width=size[1],
                     extra={"checkpoint": checkpoint, "model": model_name})
    for p in preds:
        if p.mask is not None:
            if not p.mask.any():
                continue
            points, b64 = encode_labelme_mask(p.mask)
            ann.shapes.append(Shape(p.label, points, "mask", mask=b64, extra={"score": round(p.score, 5)}))
        else:
            x1, y1, x2, y2 = p.box
            ann.shapes.append(Shape(p.label, np.array([[x1, y1], [x2, y2]]), "rectangle",
                                    extra={"score": round(p.score, 5)}))
    return ann


def read_predictions(project: Any, image: str | Path) -> list[Prediction]:
    """The stored predictions of one image, best first; [] when there are none."""
    path = prediction_path(project, image)
    if not path.exists():
        return []
    ann = read_annotation(path)
    h, w = ann.image_height, ann.image_width
    result = []
    for i, s in enumerate(ann.shapes):
        score = float(s.extra.get("score", 1.0))
        if s.shape_type == "mask":
            try:
                mask = decode_labelme_mask(s, h, w)
            except ValueError as e:
                raise AnnotationError(path, f"shape {i}: {e}") from e
            box = s.bbox()
            result.append(Prediction(s.label, score, (box[0], box[1], box[2] + 1, box[3] + 1), mask))
        else:
            result.append(Prediction(s.label, score, s.bbox(), None))
    result.sort(key=lambda p: -p.score)
    return result


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


def iter_image_predictions(model: torch.nn.Module, state: dict[str, Any], project: Any, images: list[str],
                           score: float, device: torch.device, cancel_event: threading.Event | None = None
                           ) -> Iterator[tuple[str, list[Prediction], tuple[int, int]]]:
    for img in images:
        if cancel_event is not None and cancel_event.is_set():
            return
        tensor, scale, size = prepare_image(project.abs_path(img), state["min_size"], state["max_size"])
        out = run_model(model, tensor, device)
        yield img, to_predictions(out, state["label_names"], scale, size, score), size


def _relative(project: Any, image: str | Path) -> str:
    path = Path(image)
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(project.root)
        except ValueError:
            raise TrainingError(path, f"the image is not inside the project folder {project.root}") from None
    return path.as_posix()


def predict_images(checkpoint: str | Path, project: Any, images: list[str | Path] | None = None,
                   score: float = 0.5, device: str = "auto",
                   progress_callback: Callable[[int, int, str], None] | None = None,
                   cancel_event: threading.Event | None = None, overlay_dir: str | Path | None = None
                   ) -> dict[str, Path]:
    """Predict `images` (default: all of the project's) and write one predictions file each;
    returns image -> predictions file. Stops between images when `cancel_event` is set."""
    dev = resolve_device(device)
    state = load_checkpoint(checkpoint, map_location="cpu")
    model = model_from_checkpoint(state, dev, checkpoint)
    names = [_relative(project, p) for p in (images if images else project.image_paths())]
    for n in names:
        if not project.abs_path(n).is_file():
            raise TrainingError(project.abs_path(n), "no such image in the project")
    written: dict[str, Path] = {}
    for done, (img, preds, size) in enumerate(
            iter_image_predictions(model, state, project, names, score, dev, cancel_event), start=1):
        ann = predictions_annotation(project, img, preds, size, str(Path(checkpoint).resolve()), state["model_name"])
        path = prediction_path(project, img)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_annotation(path, ann)
        written[img] = path
        if overlay_dir is not None:
            overlay_image(project, img, preds, Path(overlay_dir) / Path(img).with_suffix(".png"))
        if progress_callback is not None:
            progress_callback(done, len(names), img)
    return written
