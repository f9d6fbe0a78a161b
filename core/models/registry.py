"""The one registry of trainable models: their defaults, and `build_model`, which decides the
starting weights (COCO, ImageNet backbone, a file, or none, falling back with a logged reason
when offline), the normalisation that goes with them, and the anchors and input size."""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models import MobileNet_V3_Large_Weights, ResNet18_Weights, ResNet50_Weights, WeightsEnum
from torchvision.models.detection import MaskRCNN_ResNet50_FPN_V2_Weights, MaskRCNN_ResNet50_FPN_Weights
from torchvision.models.detection._utils import overwrite_eps

from core.anchors.config import AnchorConfig
from core.models.specs import MODEL_NAMES, ModelSpec, model_spec  # noqa: F401 (the registry's public names)
from core.models.weights import WeightsPlan, cached_weights_path, load_matching, plan_weights

log = logging.getLogger(__name__)

@dataclass
class BuiltModel:
    model: torch.nn.Module
    spec: ModelSpec
    anchors: AnchorConfig     # what the model uses, input size included: give it to the anchor preview
    weights_source: str
    pretrained: bool


def pretrained_choices(name: str) -> tuple[WeightsEnum | None, WeightsEnum | None]:
    """(COCO detection weights, ImageNet backbone weights) that exist for a model."""
    return {
        "maskrcnn_r50_fpn": (MaskRCNN_ResNet50_FPN_Weights.COCO_V1, ResNet50_Weights.IMAGENET1K_V1),
        "maskrcnn_r50_fpn_v2": (MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1, ResNet50_Weights.IMAGENET1K_V1),
        "mininet_r18_fpn": (None, ResNet18_Weights.IMAGENET1K_V1),
        "rpn_classic": (None, None),
        "maskrcnn_mobilenet_v3_fpn": (None, MobileNet_V3_Large_Weights.IMAGENET1K_V1),
    }[name]


def _trainable_layers(name: str, pretrained: bool, requested: int | None) -> int:
    """torchvision's rule: everything trains without pretrained weights; else the last 3 stages
    (of 5 for ResNet, 6 for MobileNetV3) unless told otherwise."""
    max_layers = 6 if name == "maskrcnn_mobilenet_v3_fpn" else 5
    if not pretrained:
        if requested is not None and requested != max_layers:
            log.info("trainable_backbone_layers=%s ignored: without pretrained weights all layers train", requested)
        return max_layers
    value = 3 if requested is None else requested
    if not 0 <= value <= max_layers:
        raise ValueError(f"trainable_backbone_layers must be between 0 and {max_layers} for {name}, not {value}")
    return value


def _build_network(name: str, num_classes: int, anchors: AnchorConfig, plan: WeightsPlan,
                   trainable_layers: int, loss_mode: str) -> nn.Module:
    if name in ("maskrcnn_r50_fpn", "maskrcnn_r50_fpn_v2"):
        from core.models.maskrcnn import build_maskrcnn_r50

        return build_maskrcnn_r50(num_classes, anchors, plan, trainable_layers, v2=name.endswith("_v2"))
    if name == "mininet_r18_fpn":
        from core.models.mininet import build_mininet

        return build_mininet(num_classes, anchors, plan, trainable_layers)
    if name == "maskrcnn_mobilenet_v3_fpn":
        from core.models.mobilenet import build_mobilenet_maskrcnn

        return build_mobilenet_maskrcnn(num_classes, anchors, plan, trainable_layers)
    from core.models.rpn_classic import build_rpn_classic

    return build_rpn_classic(anchors, loss_mode=loss_mode)


def _load_weights(name: str, model: nn.Module, plan: WeightsPlan) -> None:
    """A full model state dict (COCO or a file); ImageNet backbones were loaded by the builder."""
    if plan.state_dict is not None:
        load_matching(model, plan.state_dict, plan.skip_prefixes, source=plan.source)
        coco_v1 = cached_weights_path(MaskRCNN_ResNet50_FPN_Weights.COCO_V1).name
        if name == "maskrcnn_r50_fpn" and plan.file_name == coco_v1:
            overwrite_eps(model, 0.0)  # what torchvision does for these weights: they were trained so


def build_model(name: str, num_classes: int, anchors: AnchorConfig | None = None, weights: str = "default",
                min_size: int | None = None, max_size: int | None = None,
                trainable_backbone_layers: int | None = None, loss_mode: str = "both") -> BuiltModel:
    """Build model `name` for `num_classes` (the labels + 1 for background).

    anchors: anchor sizes / ratios and matcher settings (None: the model's defaults, input size
    included). Input size: `min_size` / `max_size` when given, else the anchors' own.
    weights: "default" (COCO weights where they exist, else the ImageNet backbone, else none;
    each unavailable step is logged), "imagenet", "none", or a path to a .pth state dict or
    training checkpoint (WeightsError when missing or unfit). loss_mode is rpn_classic's
    ("both", "cls" or "reg")."""
    spec = model_spec(name)
    if num_classes < 2 and spec.kind == "mask":
        raise ValueError(f"num_classes counts the background: need at least 2, got {num_classes}")
    if loss_mode != "both" and spec.kind != "rpn":
        raise ValueError(f"loss_mode applies to rpn_classic only, not {name}")
    config = spec.default_anchors() if anchors is None else anchors
    config = dataclasses.replace(config, min_size=int(min_size or config.min_size),
                                 max_size=int(max_size or config.max_size))
    coco, imagenet = pretrained_choices(name)
    plan = plan_weights(weights, coco, imagenet)
    layers = _trainable_layers(name, plan.pretrained, trainable_backbone_layers)
    model = _build_network(name, num_classes, config, plan, layers, loss_mode)
    _load_weights(name, model, plan)
    log.info("%s for %d classes, weights: %s", name, num_classes, plan.source)
    return BuiltModel(model, spec, config, plan.source, plan.pretrained)
