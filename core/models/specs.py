"""The trainable models' names and defaults, without importing torch (the window lists them and
the anchor preview follows them before any model is built). `build_model` is in registry.py."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from core.anchors.config import AnchorConfig

DEFAULT_MODEL = "mininet_r18_fpn"
MOBILENET_STRIDES = (16, 16, 32)

MODEL_NAMES: tuple[str, ...] = ("maskrcnn_r50_fpn", "maskrcnn_r50_fpn_v2", "mininet_r18_fpn", "rpn_classic",
                                "maskrcnn_mobilenet_v3_fpn")


@dataclass
class ModelSpec:
    name: str
    kind: str                 # "mask" (boxes+labels+scores+masks) or "rpn" (boxes+scores only)
    description: str
    default_min_size: int     # shorter side of the model input
    default_max_size: int
    default_lr: float         # for default_batch_size images per step
    default_batch_size: int
    default_anchors: Callable[[], AnchorConfig]


def _fpn_anchors(min_size: int, max_size: int) -> Callable[[], AnchorConfig]:
    return lambda: AnchorConfig.fpn_default(min_size=min_size, max_size=max_size)


def _classic_anchors() -> AnchorConfig:
    return AnchorConfig.classic_single(min_size=320, max_size=640)


def mobilenet_anchors(min_size: int = 320, max_size: int = 640) -> AnchorConfig:
    """torchvision's anchors for the MobileNetV3 FPN: sizes 32..512 and ratios 0.5 / 1 / 2 on each
    of its three levels, at strides 16, 16 and 32."""
    return AnchorConfig(sizes=((32, 64, 128, 256, 512),) * 3, aspect_ratios=((0.5, 1.0, 2.0),) * 3,
                        strides=MOBILENET_STRIDES, min_size=min_size, max_size=max_size)


def _mobilenet_anchors() -> AnchorConfig:
    return mobilenet_anchors(320, 640)


_SPECS = {s.name: s for s in (
    ModelSpec("maskrcnn_r50_fpn", "mask", "torchvision Mask R-CNN, ResNet-50 FPN; COCO weights when available "
              "(best accuracy, needs a GPU to train in reasonable time)", 800, 1333, 0.005, 2,
              _fpn_anchors(800, 1333)),
    ModelSpec("maskrcnn_r50_fpn_v2", "mask", "torchvision's improved Mask R-CNN v2, ResNet-50 FPN with "
              "BatchNorm heads; COCO weights when available", 800, 1333, 0.005, 2, _fpn_anchors(800, 1333)),
    ModelSpec("mininet_r18_fpn", "mask", "small Mask R-CNN, ResNet-18 FPN at 256 px, trainable on a CPU "
              "(ImageNet backbone when available)", 256, 512, 0.01, 2, _fpn_anchors(256, 512)),
    ModelSpec("rpn_classic", "rpn", "textbook single-anchor RPN: five 5x5 conv blocks, stride 16, "
              "boxes and objectness only", 320, 640, 0.01, 4, _classic_anchors),
    ModelSpec("maskrcnn_mobilenet_v3_fpn", "mask", "Mask R-CNN on a MobileNetV3-Large FPN at 320 px, light "
              "for CPUs (ImageNet backbone when available)", 320, 640, 0.01, 4, _mobilenet_anchors),
)}
assert tuple(_SPECS) == MODEL_NAMES


def model_spec(name: str) -> ModelSpec:
    try:
        return _SPECS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}") from None


def model_for_anchors(config: AnchorConfig, preferred: str | None = None) -> str:
    """The model whose feature levels `config` fits: `preferred` when it does, else the first
    that does (ValueError when none)."""
    def fits(name: str) -> bool:
        own = model_spec(name).default_anchors()
        return len(own.sizes) == len(config.sizes) and own.strides == config.strides

    for name in ([preferred] if preferred else []) + [DEFAULT_MODEL, *MODEL_NAMES]:
        if fits(name):
            return name
    raise ValueError(f"no model has {len(config.sizes)} anchor level(s) at strides "
                     f"{list(config.strides) if config.strides else 'of an FPN'}")


def training_anchor_config(project: Any, model: str | None = None, image_size: int | None = None,
                           max_size: int | None = None, project_anchors: bool = True,
                           sampling: str | None = None) -> AnchorConfig:
    """The anchors and model input size that training the project will use: the model (given, else
    settings["training"]["model"]) with its default anchors, replaced by the project's own anchor
    settings when they have the model's number of levels, at the training image size, with the
    mini-batch sampler given (else settings["training"]["rpn_sampling"]). The anchor preview, the
    statistics and the trainer all call this, so they agree."""
    training = project.settings.get("training") or {}
    spec = model_spec(model or training.get("model") or DEFAULT_MODEL)
    config = spec.default_anchors()
    stored = project.settings.get("anchors") if project_anchors else None
    if stored:
        mine = AnchorConfig.from_dict(stored)
        if len(mine.sizes) == len(config.sizes):
            config = mine
    min_size, max_size = input_size(spec, image_size or training.get("image_size"), max_size or training.get("max_size"))
    sampling = sampling or training.get("rpn_sampling") or AnchorConfig.sampling
    return dataclasses.replace(config, min_size=min_size, max_size=max_size, sampling=sampling)


def input_size(spec: ModelSpec, image_size: int | None = None, max_size: int | None = None) -> tuple[int, int]:
    """(min_size, max_size) of the model input: the shorter side asked for (else the model's
    default) and a longer-side cap scaled with it."""
    min_size = int(image_size or spec.default_min_size)
    return min_size, int(max_size or max(min_size, round(spec.default_max_size * min_size / spec.default_min_size)))
