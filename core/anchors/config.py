"""Anchor and RPN target settings, shared by the anchor preview and the models' RPN.

Stored in the project file under settings["anchors"].
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

POSITIVE, NEGATIVE, IGNORE = 1, 0, -1  # the RPN's anchor label values

FPN_SIZES = ((32,), (64,), (128,), (256,), (512,))
FPN_RATIOS = ((0.5, 1.0, 2.0),) * 5


# the RPN's mini-batch samplers: torchvision's "at most half positive", or exactly as many negatives
# as positives per image (core.models.rpn_sampling builds them)
RPN_SAMPLINGS = ("at_most_half", "balanced")


@dataclass
class AnchorConfig:
    """Anchor sizes per feature level (one tuple per level) and aspect ratios (height / width)
    per level, the Matcher / sampler settings, and the model input size (the resize of
    torchvision's GeneralizedRCNNTransform: shorter side `min_size`, longer side at most
    `max_size`)."""

    sizes: tuple[tuple[int, ...], ...] = FPN_SIZES
    aspect_ratios: tuple[tuple[float, ...], ...] = FPN_RATIOS
    fg_iou_thresh: float = 0.7
    bg_iou_thresh: float = 0.3
    allow_low_quality_matches: bool = True
    batch_size_per_image: int = 256
    positive_fraction: float = 0.5
    sampling: str = "at_most_half"  # the mini-batch sampler, one of RPN_SAMPLINGS (a training setting)
    min_size: int = 800
    max_size: int = 1333
    strides: tuple[int, ...] | None = None  # only for single-level backbones; FPN derives them

    def __post_init__(self) -> None:
        self.sizes = tuple(tuple(int(s) for s in level) for level in self.sizes)
        self.aspect_ratios = tuple(tuple(float(r) for r in level) for level in self.aspect_ratios)
        if len(self.aspect_ratios) == 1 and len(self.sizes) > 1:
            self.aspect_ratios = self.aspect_ratios * len(self.sizes)
        if len(self.sizes) != len(self.aspect_ratios):
            raise ValueError(
                f"{len(self.sizes)} levels of sizes but {len(self.aspect_ratios)} of aspect ratios")
        if not 0 <= self.bg_iou_thresh <= self.fg_iou_thresh <= 1:
            raise ValueError("need 0 <= bg_iou_thresh <= fg_iou_thresh <= 1")
        if self.strides is not None:
            self.strides = tuple(int(s) for s in self.strides)
        if self.sampling not in RPN_SAMPLINGS:
            raise ValueError(f"sampling must be one of {', '.join(RPN_SAMPLINGS)}, not {self.sampling!r}")
        self._check_ranges()

    def _check_ranges(self) -> None:
        """Sizes, ratios and counts a model can use: a negative anchor size is a typo, not a setting."""
        if not self.sizes or any(not level for level in self.sizes):
            raise ValueError("sizes needs at least one size per level")
        if any(s <= 0 for level in self.sizes for s in level):
            raise ValueError(f"sizes {[list(l) for l in self.sizes]}: every anchor size must be above 0")
        if any(not (math.isfinite(r) and r > 0) for level in self.aspect_ratios for r in level):
            raise ValueError(f"aspect_ratios {[list(l) for l in self.aspect_ratios]}: every ratio must be a finite number above 0")
        for name in ("min_size", "max_size", "batch_size_per_image"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} {getattr(self, name)} must be at least 1")
        if not 0 < self.positive_fraction <= 1:
            raise ValueError(f"positive_fraction {self.positive_fraction} must be above 0 and at most 1")
        if self.strides is not None and any(s < 1 for s in self.strides):
            raise ValueError(f"strides {list(self.strides)} must be at least 1")

    @property
    def num_anchors_per_location(self) -> list[int]:
        return [len(s) * len(r) for s, r in zip(self.sizes, self.aspect_ratios)]

    @classmethod
    def fpn_default(cls, **overrides: Any) -> "AnchorConfig":
        return cls(**overrides)

    @classmethod
    def classic_single(cls, size: int = 64, ratio: float = 0.66, stride: int = 16, **overrides: Any) -> "AnchorConfig":
        """One anchor per cell of a stride-16 map: the textbook 5-conv RPN."""
        return cls(sizes=((size,),), aspect_ratios=((ratio,),), strides=(stride,), **overrides)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sizes"] = [list(s) for s in self.sizes]
        d["aspect_ratios"] = [list(r) for r in self.aspect_ratios]
        if self.strides is not None:
            d["strides"] = list(self.strides)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "AnchorConfig":
        if not d:
            return cls()
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


def config_strides(config: AnchorConfig) -> list[int]:
    """Nominal stride of each anchor level: config.strides, or 4, 8, ... for an FPN."""
    return list(config.strides) if config.strides is not None else [4 * 2 ** i for i in range(len(config.sizes))]


def set_project_anchor_config(project: Any, config: AnchorConfig) -> None:
    project.settings["anchors"] = config.to_dict()
    project.save()
