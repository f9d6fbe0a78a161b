"""Receptive field and effective stride of each layer of a backbone, from its actual modules.

The Conv2d / MaxPool2d / AvgPool2d layers are taken in the order the forward pass runs them
(forward hooks on a small dummy input), with the textbook recurrences
    jump_out = jump_in * stride
    rf_out   = rf_in + (kernel - 1) * dilation * jump_in
    start_out = start_in + ((kernel - 1) / 2 * dilation - padding) * jump_in
Residual shortcut branches (torchvision ResNet's `downsample`) run beside the main path and are
left out; for a ResNet-FPN the body is walked and each FPN level takes the receptive field of the
last body layer at its stride (the FPN's top-down path only widens it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from torch import nn

from core.models.layer_order import untrained_backbone, walked_layers

from .config import AnchorConfig, config_strides  # noqa: F401 (re-exported)


@dataclass
class LayerField:
    name: str
    kind: str
    kernel: int
    stride: int
    padding: int
    dilation: int
    jump: int          # effective stride: input pixels between neighbouring outputs
    receptive_field: int
    start: float       # centre of the first output's field, in input pixels

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _first(value: int | tuple[int, ...]) -> int:
    """Square layers only: the table is one number per layer (the height axis of non-square ones)."""
    return int(value[0] if isinstance(value, (tuple, list)) else value)


def _layer_params(module: nn.Module) -> tuple[int, int, int, int]:
    if isinstance(module, nn.Conv2d):
        padding = module.padding if not isinstance(module.padding, str) else (
            (module.kernel_size[0] - 1) * module.dilation[0] // 2 if module.padding == "same" else 0)
        return _first(module.kernel_size), _first(module.stride), _first(padding), _first(module.dilation)
    if isinstance(module, nn.MaxPool2d):
        return _first(module.kernel_size), _first(module.stride), _first(module.padding), _first(module.dilation)
    return _first(module.kernel_size), _first(module.stride), _first(module.padding), 1  # AvgPool2d


def receptive_field_table(backbone: nn.Module, input_size: int = 224) -> list[LayerField]:
    jump, rf, start = 1, 1, 0.5
    table = []
    for name, module in walked_layers(backbone, input_size):
        k, s, p, d = _layer_params(module)
        rf = rf + (k - 1) * d * jump
        start = start + ((k - 1) / 2 * d - p) * jump
        jump = jump * s
        table.append(LayerField(name, type(module).__name__, k, s, p, d, jump, rf, start))
    return table


def level_receptive_fields(table: list[LayerField], strides: list[int]) -> list[int]:
    """Receptive field at each feature level: that of the last layer whose effective stride is at
    most the level's (a stride beyond the backbone's, like FPN's pooled level, reuses the last)."""
    result = []
    for stride in strides:
        fitting = [row.receptive_field for row in table if row.jump <= stride]
        result.append(fitting[-1] if fitting else 1)
    return result


def format_table(table: list[LayerField]) -> str:
    lines = [f"{'layer':<28} {'type':<10} {'k':>3} {'s':>3} {'p':>3} {'d':>3} {'stride':>7} {'RF':>6}"]
    for row in table:
        lines.append(f"{row.name:<28} {row.kind:<10} {row.kernel:>3} {row.stride:>3} {row.padding:>3} "
                     f"{row.dilation:>3} {row.jump:>7} {row.receptive_field:>6}")
    return "\n".join(lines)


def level_for_size(size: float, config: AnchorConfig) -> int:
    """The anchor level an anchor of `size` belongs to: the level whose configured sizes are
    nearest in log scale."""
    distances = [min(abs(math.log(size / s)) for s in level) for level in config.sizes]
    return int(min(range(len(distances)), key=distances.__getitem__))


def receptive_field_warnings(anchors: list[tuple[float, float]], config: AnchorConfig,
                             level_fields: list[int]) -> list[str]:
    """A warning for each (width, height) anchor larger than the receptive field of its level:
    the feature at the anchor's centre cannot see the whole object."""
    warnings = []
    for w, h in anchors:
        level = level_for_size(math.sqrt(w * h), config)
        field = level_fields[level]
        if max(w, h) > field:
            warnings.append(f"anchor {w:.0f}x{h:.0f} sits on level {level} (stride {config_strides(config)[level]}) "
                            f"whose receptive field is {field} px: larger than what the feature sees")
    return warnings


def backbone_fields(project: Any, config: AnchorConfig) -> tuple[str, list[Any], list[int]]:
    """(model name, receptive-field table, field per anchor level) of the backbone the project
    trains: its training settings' model, else the classic RPN for a single-level config and the
    mini Mask R-CNN otherwise. Built without weights, only its layer shapes matter."""
    from core.models.specs import model_for_anchors

    training = project.settings.get("training") or {}
    name = model_for_anchors(config, training.get("model"))
    table = receptive_field_table(untrained_backbone(name, config))
    return name, table, level_receptive_fields(table, config_strides(config))
