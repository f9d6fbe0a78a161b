"""A backbone's convolution and pooling layers in the order its forward pass runs them, for the
receptive-field table (core.anchors.receptive_field), and the untrained backbone a project trains."""
from __future__ import annotations

import torch
from torch import nn

from core.anchors.config import AnchorConfig

WALKED_LAYERS = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
SKIPPED_BRANCHES = ("downsample",)  # torchvision ResNet's shortcut branches run beside the main path


def walked_layers(backbone: nn.Module, input_size: int = 224) -> list[tuple[str, nn.Module]]:
    """The backbone's conv and pooling layers in forward order, shortcut branches left out
    (forward hooks on one dummy input)."""
    body = getattr(backbone, "body", backbone)  # torchvision's BackboneWithFPN
    names = {m: n for n, m in body.named_modules()}
    order: list[tuple[str, nn.Module]] = []
    hooks = []
    for name, module in body.named_modules():
        if isinstance(module, WALKED_LAYERS) and not any(part in SKIPPED_BRANCHES for part in name.split(".")):
            hooks.append(module.register_forward_hook(lambda m, i, o: order.append((names[m], m))))
    was_training = body.training
    try:
        body.eval()
        with torch.no_grad():
            body(torch.zeros(1, 3, input_size, input_size))
    finally:
        body.train(was_training)
        for h in hooks:
            h.remove()
    return order


def untrained_backbone(name: str, anchors: AnchorConfig) -> nn.Module:
    """The backbone of model `name` with these anchors, without weights: only its layers' shapes
    are looked at."""
    from .registry import build_model

    return build_model(name, num_classes=2, anchors=anchors, weights="none").model.backbone
