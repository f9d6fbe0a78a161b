"""What one training run is made of, and how each part is set up.

`prepare_data` reads the project (labels, split, datasets, the training loader); `build_learner`
builds the model with its optimizer, schedule and mixed precision, fresh or from the run's last.pt.
The Trainer calls them once, in that order, and keeps their results, with the progress that
changes as it trains, in one RunState."""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import ConcatDataset, DataLoader, Dataset, DistributedSampler, RandomSampler

from core.anchors.config import RPN_SAMPLINGS, AnchorConfig
from core.models.specs import ModelSpec, model_spec, training_anchor_config

from . import TrainingError
from .dataset import ProjectDataset, collate
from .distributed import DistContext
from .sampler import GroupedBatchSampler, aspect_groups
from .settings import EARLY_STOP_ON, RPN_LOSSES, TrainSettings
from .split import labelled_images, project_split
from .transforms import TrainAugment, flip_only

if TYPE_CHECKING:
    from core.models.registry import BuiltModel

Warn = Callable[[str], None]


@dataclass
class TrainData:
    """The project's side of a run: the label map, the split, the datasets and the loader."""
    spec: ModelSpec
    label_names: list[str]
    train_images: list[str]
    val_images: list[str]
    anchors: AnchorConfig  # the input size included
    train_ds: ProjectDataset
    val_ds: ProjectDataset
    batch_size: int
    batch_sampler: GroupedBatchSampler
    loader: DataLoader

    @property
    def min_size(self) -> int:
        return self.anchors.min_size

    @property
    def max_size(self) -> int:
        return self.anchors.max_size


@dataclass
class Learner:
    """The model and what trains it."""
    built: BuiltModel
    model: torch.nn.Module  # on the device: what checkpoints store and validation runs
    ddp_model: torch.nn.Module  # `model` in DistributedDataParallel under torchrun, else `model` itself
    weights_source: str
    lr: float
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None  # None: float32
    iters_per_epoch: int
    total_iters: int


@dataclass
class Progress:
    """What changes as the run trains; all but `overfitting_reported` is stored in last.pt."""
    iteration: int = 0
    best_metric: float | None = None
    best_epoch: int | None = None
    stale_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    overfitting_reported: int | None = None  # the "overfitting" event is sent once per onset

    @classmethod
    def from_checkpoint(cls, state: dict[str, Any]) -> "Progress":
        return cls(iteration=state["iteration"], best_metric=state["best_metric"], best_epoch=state["best_epoch"],
                   stale_epochs=state["stale_epochs"], history=state["history"])

    def update_best(self, watched: float, epoch: int) -> bool:
        """Whether `watched` (higher is better) is a new best, kept as epoch `epoch`'s; else one
        more epoch without improvement."""
        improved = math.isfinite(watched) and (self.best_metric is None or watched > self.best_metric)
        if improved:
            self.best_metric, self.best_epoch, self.stale_epochs = watched, epoch, 0
        else:
            self.stale_epochs += 1
        return improved

    def to_checkpoint(self) -> dict[str, Any]:
        return {"iteration": self.iteration, "best_metric": self.best_metric, "best_epoch": self.best_epoch,
                "stale_epochs": self.stale_epochs, "history": self.history}


@dataclass
class Resume:
    """The run's last.pt, to continue from."""
    path: Path
    state: dict[str, Any]


@dataclass
class RunState:
    """Everything one run is made of, created in one place (Trainer._prepare)."""
    device: torch.device
    data: TrainData
    learner: Learner
    progress: Progress
    start_epoch: int = 0  # the epochs a resumed run had done


def lr_factor(it: int, warmup: int, total: int, schedule: str) -> float:
    """Linear warm-up from 0.001 to 1, then cosine to 0 or steps of x0.1 at 2/3 and 8/9."""
    if it < warmup:
        return 0.001 + (1 - 0.001) * it / max(1, warmup)
    if schedule == "step":
        return 0.1 ** sum(it >= total * f for f in (2 / 3, 8 / 9))
    progress = (it - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


# -- data ----------------------------------------------------------------------------------------
def prepare_data(project: Any, s: TrainSettings, ctx: DistContext, device: torch.device, warn: Warn) -> TrainData:
    spec = model_spec(s.model)
    check_settings(s, spec)  # before the anchors take the sampling named
    labels = project.label_names()
    train_images, val_images = _split_images(project, labels, ctx, warn)
    anchors = training_anchor_config(project, s.model, s.image_size, s.max_size, sampling=s.rpn_sampling)
    augment = {"default": TrainAugment(), "flip": flip_only(), "none": None}[s.augment]
    train_ds = ProjectDataset(project, train_images, labels, anchors.min_size, anchors.max_size,
                              transforms=augment, cache=s.cache_images)
    val_ds = ProjectDataset(project, val_images, labels, anchors.min_size, anchors.max_size, cache=s.cache_images)
    _warn_about_labels_without_objects(train_ds, labels, warn)
    _require_objects(project, train_images)
    batch_size = s.batch_size or spec.default_batch_size
    batch_sampler, loader = _train_loader(train_ds, s, ctx, device, batch_size)
    return TrainData(spec, labels, train_images, val_images, anchors, train_ds, val_ds, batch_size,
                     batch_sampler, loader)


def _split_images(project: Any, labels: list[str], ctx: DistContext, warn: Warn) -> tuple[list[str], list[str]]:
    """The labelled images of the train and val subsets (the split is saved by rank 0 only)."""
    images, broken = labelled_images(project)
    for w in broken:
        warn(w)
    if not labels:
        raise TrainingError(project.project_file, "the project has no labels", hint="add labels and annotate images")
    if not images:
        raise TrainingError(project.root, "no labelled images: no image has a LabelMe annotation file",
                            hint="annotate some images (or import annotations) before training")
    split = project_split(project, images=images, save=ctx.is_main)
    keep = set(images)
    train_images = [i for i in split["train"] if i in keep]
    if not train_images:
        raise TrainingError(project.root, "the train subset has no labelled images",
                            hint="label more images or reset the split (project settings 'split')")
    return train_images, [i for i in split["val"] if i in keep]


def _warn_about_labels_without_objects(train_ds: ProjectDataset, labels: list[str], warn: Warn) -> None:
    counts = Counter(label for i in range(len(train_ds)) for label, _ in train_ds.annotation(i).instances())
    empty = [n for n in labels if counts[n] == 0]
    if empty:
        warn(f"no training objects for {', '.join(repr(n) for n in empty)}: the model will never predict "
             f"{'it' if len(empty) == 1 else 'them'}; label some, or remove unused labels from the project")


def _require_objects(project: Any, train_images: list[str]) -> None:
    objects = sum(len(a.instances()) for a in (project.load_annotation(i) for i in train_images) if a)
    if objects == 0:
        raise TrainingError(project.root, "the train images contain no objects (all are negatives)",
                            hint="draw polygons on some of the train images")


def _train_loader(train_ds: ProjectDataset, s: TrainSettings, ctx: DistContext, device: torch.device,
                  batch_size: int) -> tuple[GroupedBatchSampler, DataLoader]:
    """Shuffled batches of similar aspect ratio, `s.repeats` passes per epoch, one shard per rank."""
    repeats = max(1, s.repeats)
    source: Dataset = ConcatDataset([train_ds] * repeats) if repeats > 1 else train_ds
    if ctx.enabled:
        sampler = DistributedSampler(source, ctx.world_size, ctx.rank, shuffle=True, seed=s.seed)
    else:
        sampler = RandomSampler(source, generator=torch.Generator().manual_seed(s.seed))
    groups = aspect_groups(train_ds.image_sizes()) * repeats
    batch_sampler = GroupedBatchSampler(sampler, groups, batch_size)
    loader = DataLoader(source, batch_sampler=batch_sampler, collate_fn=collate, num_workers=s.workers,
                        persistent_workers=s.workers > 0, pin_memory=device.type == "cuda")
    return batch_sampler, loader


# -- model and optimisation ----------------------------------------------------------------------
def build_learner(project: Any, s: TrainSettings, data: TrainData, ctx: DistContext, device: torch.device,
                  warn: Warn, resume: Resume | None = None) -> Learner:
    """The model, fresh (from `s.weights`) or rebuilt the way the resumed run was, on `device`,
    with its optimizer, lr schedule and mixed precision. `restore` then loads a resumed run's
    weights and optimizer state."""
    anchors, weights = _resumed_start(resume) if resume is not None else _fresh_start(project, s, data.anchors, warn)
    check_settings(s, data.spec)
    built = _build(s, data, anchors, weights)
    weights_source = resume.state.get("weights_source", "resumed") if resume is not None else built.weights_source
    model = _to_device(built.model, device)
    ddp_model = _wrap_for_processes(model, ctx, device)
    lr = _learning_rate(s, data.spec, data.batch_size * ctx.world_size)
    optimizer = _optimizer(s, model, lr)
    iters_per_epoch = len(data.batch_sampler)
    total_iters = _total_iters(s, iters_per_epoch)
    scheduler = _scheduler(s, optimizer, total_iters)
    amp_dtype = _amp_dtype(s, device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    return Learner(built, model, ddp_model, weights_source, lr, optimizer, scheduler, scaler, amp_dtype,
                   iters_per_epoch, total_iters)


def restore(learner: Learner, resume: Resume) -> None:
    """The resumed run's weights and optimizer, schedule and gradient-scaler state."""
    learner.model.load_state_dict(resume.state["model"])
    learner.optimizer.load_state_dict(resume.state["optimizer"])
    learner.scheduler.load_state_dict(resume.state["scheduler"])
    learner.scaler.load_state_dict(resume.state["scaler"])


def _resumed_start(resume: Resume) -> tuple[AnchorConfig, str]:
    """The run's own anchors, and the same normalisation as the run had: a run that started from
    pretrained weights is rebuilt from its last.pt, so its BatchNorm is frozen again."""
    weights = str(resume.path) if resume.state.get("pretrained") else "none"
    return AnchorConfig.from_dict(resume.state["anchors"]), weights


def _fresh_start(project: Any, s: TrainSettings, anchors: AnchorConfig, warn: Warn) -> tuple[AnchorConfig, str]:
    weights = s.weights
    if weights.lower() not in ("default", "imagenet", "none") and not Path(weights).expanduser().is_file():
        raise TrainingError(Path(weights), "the weights file does not exist",
                            hint="give an existing .pth file, or --weights default / imagenet / none")
    stored = project.settings.get("anchors")
    if stored and len(stored.get("sizes", ())) != len(anchors.sizes):
        warn(f"the project's anchor settings have {len(stored['sizes'])} levels, {s.model} needs "
             f"{len(anchors.sizes)}: using the model's default anchors")
    return anchors, weights


def check_settings(s: TrainSettings, spec: ModelSpec) -> None:
    """The choices the command line cannot check by itself (the window and tests build settings too)."""
    for name, value, allowed in (("rpn_loss", s.rpn_loss, RPN_LOSSES), ("rpn_sampling", s.rpn_sampling, RPN_SAMPLINGS),
                                 ("early_stop_on", s.early_stop_on, EARLY_STOP_ON)):
        if value not in allowed:
            raise TrainingError(None, f"unknown {name} {value!r}", hint=f"choose one of {', '.join(allowed)}")
    if spec.kind != "rpn" and (s.rpn_loss != "both" or s.rpn_reg_all_positives):
        raise TrainingError(None, f"{s.model} trains all its loss terms: --rpn-loss {s.rpn_loss} and "
                                  "--rpn-reg-all-positives apply to rpn_classic only",
                            hint="use --model rpn_classic, or leave --rpn-loss at both")


def _build(s: TrainSettings, data: TrainData, anchors: AnchorConfig, weights: str) -> BuiltModel:
    """The network with its weights (frozen BatchNorm after pretrained ones) and the RPN's loss
    terms and mini-batch sampling as set."""
    from core.models.registry import build_model
    from core.models.rpn_sampling import set_rpn_sampling

    built = build_model(s.model, len(data.label_names) + 1, anchors=anchors, weights=weights,
                        min_size=data.min_size, max_size=data.max_size,
                        trainable_backbone_layers=s.trainable_backbone_layers, loss_mode=s.rpn_loss)
    if data.spec.kind == "rpn":
        built.model.reg_all_positives = s.rpn_reg_all_positives
    set_rpn_sampling(built.model, s.rpn_sampling)
    return built


def _to_device(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model


def _wrap_for_processes(model: torch.nn.Module, ctx: DistContext, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel under torchrun; the model itself on one process."""
    if not ctx.enabled:
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                   find_unused_parameters=True)  # negatives-only batches skip the mask head


def _learning_rate(s: TrainSettings, spec: ModelSpec, total_batch: int) -> float:
    """The given lr, else the model's default scaled by the total batch over its default batch."""
    lr = s.lr if s.lr is not None else spec.default_lr * total_batch / spec.default_batch_size
    if not (math.isfinite(lr) and lr > 0):  # a NaN lr turns every weight into NaN at the first step
        raise TrainingError(None, f"the learning rate {lr} is not a finite number above 0",
                            hint="give --lr a positive number such as 0.01")
    return lr


def _optimizer(s: TrainSettings, model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if s.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=1e-4 if s.weight_decay is None else s.weight_decay)
    if s.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9,
                               weight_decay=5e-4 if s.weight_decay is None else s.weight_decay)
    raise TrainingError(None, f"unknown optimizer {s.optimizer!r}", hint="use sgd or adamw")


def _total_iters(s: TrainSettings, iters_per_epoch: int) -> int:
    total = s.epochs * iters_per_epoch
    return total if s.max_iters is None else min(total, s.max_iters)


def _scheduler(s: TrainSettings, optimizer: torch.optim.Optimizer,
               total_iters: int) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = min(s.warmup_iters, max(1, total_iters // 3))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: lr_factor(it, warmup, total_iters, s.schedule))


def _amp_dtype(s: TrainSettings, device: torch.device) -> torch.dtype | None:
    """bf16 autocast where the GPU supports it, else fp16 (with a GradScaler); float32 on the CPU."""
    if device.type != "cuda" or not s.amp:
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
