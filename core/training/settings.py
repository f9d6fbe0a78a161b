"""A training run's settings: the command line over project.settings["training"] over the
defaults below. No torch here: the window reads the defaults before torch is loaded."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

PROJECT_DEFAULT_KEYS = ("model", "epochs", "batch_size", "lr", "image_size", "optimizer", "rpn_sampling")
RPN_LOSSES = ("both", "cls", "reg")
EARLY_STOP_ON = ("val_loss", "metric")


@dataclass
class TrainSettings:
    model: str = "mininet_r18_fpn"
    epochs: int = 12
    batch_size: int | None = None  # None: the model's default
    lr: float | None = None  # None: the model's default lr scaled by total batch / its default batch
    optimizer: str = "sgd"  # "sgd" (momentum 0.9) or "adamw"
    weight_decay: float | None = None  # None: 5e-4 for SGD, 1e-4 for AdamW
    schedule: str = "cosine"  # "cosine" or "step" (x0.1 at 2/3 and 8/9 of the run)
    warmup_iters: int = 100
    grad_clip: float = 10.0
    image_size: int | None = None  # shorter side of the model input; None: the model's default
    max_size: int | None = None
    device: str = "auto"
    weights: str = "default"
    trainable_backbone_layers: int | None = None
    amp: bool = True  # CUDA only: bf16 where supported, else fp16 with a GradScaler
    augment: str = "default"  # "default", "flip" or "none"
    early_stop_patience: int = 5
    early_stop_on: str = "val_loss"  # what best.pt and early stopping follow: "val_loss" or "metric"
    rpn_loss: str = "both"  # rpn_classic's loss terms: "both", "cls" (objectness only) or "reg" (boxes only)
    rpn_reg_all_positives: bool = False  # rpn_classic: box loss over every positive anchor, not the sampled ones
    rpn_sampling: str = "at_most_half"  # RPN mini-batch: torchvision's "at_most_half" or "balanced" (equal pos/neg)
    evaluate_ap: bool = True
    workers: int = 0
    seed: int = 0
    max_iters: int | None = None
    repeats: int = 1  # passes over the training images per epoch (tiny projects: fewer checkpoints)
    cache_images: bool = True
    # Not a setting but where the settings came from: the names given explicitly to `resolve`,
    # which --resume puts over the run's stored settings. None (built directly): all of them.
    explicitly_given: frozenset[str] | None = field(default=None, compare=False, repr=False)

    @staticmethod
    def names() -> tuple[str, ...]:
        """The settings' names (what settings.json and checkpoints store)."""
        return tuple(f.name for f in fields(TrainSettings) if f.name != "explicitly_given")

    @classmethod
    def resolve(cls, project: Any, **overrides: Any) -> "TrainSettings":
        """Overrides (None means "not given") over project.settings["training"] over defaults."""
        known = set(cls.names())
        values: dict[str, Any] = {}
        stored = project.settings.get("training") or {}
        values.update({k: v for k, v in stored.items() if k in PROJECT_DEFAULT_KEYS and v is not None})
        given = {k: v for k, v in overrides.items() if k in known and v is not None}
        values.update(given)
        return cls(**values, explicitly_given=frozenset(given))

    def for_resume(self, stored: dict[str, Any]) -> "TrainSettings":
        """The run's stored settings, with what was given explicitly this time on top (all of
        them when these settings were built directly rather than by `resolve`)."""
        if self.explicitly_given is None:
            return self
        known = set(self.names())
        return TrainSettings(**{**{k: v for k, v in stored.items() if k in known},
                                **{k: getattr(self, k) for k in self.explicitly_given}})

    def to_dict(self) -> dict[str, Any]:
        """The settings as settings.json and checkpoints store them."""
        return {name: getattr(self, name) for name in self.names()}
