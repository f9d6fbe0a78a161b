"""The training engine: one loop for the CLI, the GUI's training process and torchrun.

Settings come from the command line over project.settings["training"] over TrainSettings'
defaults. Everything that happens is reported as events (see events.py); the run folder holds
last.pt, best.pt, settings.json and events.jsonl.
"""
from __future__ import annotations

import math
import resource
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import ConcatDataset, DataLoader, DistributedSampler, RandomSampler

from core.models.specs import training_anchor_config
from core.atomic import atomic_write_json
from core.errors import MasklabError

from . import TrainingError
from .checkpoint import BEST, LAST, link_or_copy, load_checkpoint, save_checkpoint
from .dataset import ProjectDataset, collate
from .distributed import (DistContext, any_rank, barrier, broadcast_from_main, init_distributed,
                          reduce_mean, reduce_sum, resolve_device, shutdown)
from .evaluate import evaluate_model, headline
from .events import Event, EventLogFile, EventSink, fan_out
from .sampler import GroupedBatchSampler, aspect_groups
from .split import labelled_images, project_split
from .transforms import TrainAugment, flip_only

PROJECT_DEFAULT_KEYS = ("model", "epochs", "batch_size", "lr", "image_size", "optimizer")


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
    evaluate_ap: bool = True
    workers: int = 0
    seed: int = 0
    max_iters: int | None = None
    repeats: int = 1  # passes over the training images per epoch (tiny projects: fewer checkpoints)
    cache_images: bool = True

    @classmethod
    def resolve(cls, project: Any, **overrides: Any) -> "TrainSettings":
        """Overrides (None means "not given") over project.settings["training"] over defaults."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        stored = project.settings.get("training") or {}
        values.update({k: v for k, v in stored.items() if k in PROJECT_DEFAULT_KEYS and v is not None})
        given = {k: v for k, v in overrides.items() if k in known and v is not None}
        values.update(given)
        settings = cls(**values)
        settings._given = set(given)  # type: ignore[attr-defined]  # what --resume must not replace
        return settings

    def for_resume(self, stored: dict[str, Any]) -> "TrainSettings":
        """The run's stored settings, with what was given explicitly this time on top (all of
        them when these settings were built directly rather than by `resolve`)."""
        given = getattr(self, "_given", None)
        if given is None:
            return self
        known = {f.name for f in fields(self)}
        return TrainSettings(**{**{k: v for k, v in stored.items() if k in known},
                                **{k: getattr(self, k) for k in given}})


@dataclass
class TrainResult:
    status: str  # "finished", "early_stopped" or "cancelled"
    run_dir: Path
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    epochs_done: int
    history: list[dict[str, Any]] = field(default_factory=list)


def default_run_dir(project: Any, model: str) -> Path:
    return project.root / "runs" / f"{datetime.now():%Y%m%d-%H%M%S}-{model}"


def latest_run_dir(project: Any, model: str) -> Path:
    runs = sorted(p for p in (project.root / "runs").glob(f"*-{model}") if (p / LAST).exists())
    if not runs:
        raise TrainingError(project.root / "runs", f"no run of {model} with a {LAST} to resume",
                            hint="start a new run without --resume, or give the run folder with --out")
    return runs[-1]


def lr_factor(it: int, warmup: int, total: int, schedule: str) -> float:
    """Linear warm-up from 0.001 to 1, then cosine to 0 or steps of x0.1 at 2/3 and 8/9."""
    if it < warmup:
        return 0.001 + (1 - 0.001) * it / max(1, warmup)
    if schedule == "step":
        return 0.1 ** sum(it >= total * f for f in (2 / 3, 8 / 9))
    progress = (it - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _loss_mode(model: torch.nn.Module) -> None:
    """Train mode (so the model returns losses) with BatchNorm frozen, for validation loss."""
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


class Trainer:
    def __init__(self, project: Any, settings: TrainSettings, run_dir: str | Path | None = None,
                 on_event: EventSink | None = None, cancel_event: threading.Event | None = None,
                 resume: bool = False):
        self.project = project
        self.s = settings
        self.run_dir = Path(run_dir) if run_dir else None
        self.on_event = on_event
        self.cancel_event = cancel_event or threading.Event()
        self.resume = resume
        self.ctx = DistContext()
        self._log: EventLogFile | None = None
        self._emit_sink: EventSink | None = None

    # -- events --------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        if self.ctx.is_main and self._emit_sink is not None:
            self._emit_sink({"time": round(time.time(), 3), **event})

    def warn(self, message: str) -> None:
        self.emit({"type": "warning", "message": message})

    # -- the run -------------------------------------------------------------------------
    def run(self) -> TrainResult:
        self._emit_sink = self.on_event
        try:
            return self._run()
        except MasklabError as e:
            self.emit({"type": "error", "message": str(e), "hint": getattr(e, "hint", "")})
            e.reported = True  # type: ignore[attr-defined]
            raise
        finally:
            if self._log is not None:
                self._log.close()
            shutdown(self.ctx)

    def _setup_data(self, device: torch.device) -> None:
        from core.models.specs import model_spec

        p, s = self.project, self.s
        self.spec = model_spec(s.model)
        labels = p.label_names()
        images, broken = labelled_images(p)
        for w in broken:
            self.warn(w)
        if not labels:
            raise TrainingError(p.project_file, "the project has no labels", hint="add labels and annotate images")
        if not images:
            raise TrainingError(p.root, "no labelled images: no image has a LabelMe annotation file",
                                hint="annotate some images (or import annotations) before training")
        split = project_split(p, images=images, save=self.ctx.is_main)
        keep = set(images)
        self.train_images = [i for i in split["train"] if i in keep]
        self.val_images = [i for i in split["val"] if i in keep]
        if not self.train_images:
            raise TrainingError(p.root, "the train subset has no labelled images",
                                hint="label more images or reset the split (project settings 'split')")
        self.label_names = labels
        self.anchors = training_anchor_config(p, s.model, s.image_size, s.max_size)
        self.min_size, self.max_size = self.anchors.min_size, self.anchors.max_size
        augment = {"default": TrainAugment(), "flip": flip_only(), "none": None}[s.augment]
        self.train_ds = ProjectDataset(p, self.train_images, labels, self.min_size, self.max_size,
                                       transforms=augment, cache=s.cache_images)
        self.val_ds = ProjectDataset(p, self.val_images, labels, self.min_size, self.max_size, cache=s.cache_images)
        self._warn_about_labels_without_objects()
        objects = sum(len(a.instances()) for a in (p.load_annotation(i) for i in self.train_images) if a)
        if objects == 0:
            raise TrainingError(p.root, "the train images contain no objects (all are negatives)",
                                hint="draw polygons on some of the train images")
        self.batch_size = s.batch_size or self.spec.default_batch_size
        repeats = max(1, s.repeats)
        source = ConcatDataset([self.train_ds] * repeats) if repeats > 1 else self.train_ds
        if self.ctx.enabled:
            sampler = DistributedSampler(source, self.ctx.world_size, self.ctx.rank, shuffle=True, seed=s.seed)
        else:
            sampler = RandomSampler(source, generator=torch.Generator().manual_seed(s.seed))
        groups = aspect_groups(self.train_ds.image_sizes()) * repeats
        self.batch_sampler = GroupedBatchSampler(sampler, groups, self.batch_size)
        self.loader = DataLoader(source, batch_sampler=self.batch_sampler, collate_fn=collate,
                                 num_workers=s.workers, persistent_workers=s.workers > 0,
                                 pin_memory=device.type == "cuda")

    def _warn_about_labels_without_objects(self) -> None:
        counts = Counter(label for i in range(len(self.train_ds)) for label, _ in self.train_ds.annotation(i).instances())
        empty = [n for n in self.label_names if counts[n] == 0]
        if empty:
            self.warn(f"no training objects for {', '.join(repr(n) for n in empty)}: the model will never predict "
                      f"{'it' if len(empty) == 1 else 'them'}; label some, or remove unused labels from the project")

    def _build_model(self, device: torch.device, resume_state: dict[str, Any] | None) -> None:
        from core.anchors.config import AnchorConfig
        from core.models.registry import build_model

        s = self.s
        if resume_state is not None:
            # the same normalisation as the run had: frozen BatchNorm after pretrained weights
            anchors = AnchorConfig.from_dict(resume_state["anchors"])
            weights = str(self.run_dir / LAST) if resume_state.get("pretrained") else "none"
        else:
            weights = s.weights
            if weights.lower() not in ("default", "imagenet", "none") and not Path(weights).expanduser().is_file():
                raise TrainingError(Path(weights), "the weights file does not exist",
                                    hint="give an existing .pth file, or --weights default / imagenet / none")
            anchors = self.anchors
            stored = self.project.settings.get("anchors")
            if stored and len(stored.get("sizes", ())) != len(anchors.sizes):
                self.warn(f"the project's anchor settings have {len(stored['sizes'])} levels, {s.model} needs "
                          f"{len(anchors.sizes)}: using the model's default anchors")
        built = build_model(s.model, len(self.label_names) + 1, anchors=anchors, weights=weights,
                            min_size=self.min_size, max_size=self.max_size,
                            trainable_backbone_layers=s.trainable_backbone_layers)
        self.built = built
        self.weights_source = resume_state.get("weights_source", "resumed") if resume_state else built.weights_source
        model = built.model.to(device)
        if device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.ddp_model: torch.nn.Module = (
            DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                    find_unused_parameters=True)  # negatives-only batches skip the mask head
            if self.ctx.enabled else model)
        total_batch = self.batch_size * self.ctx.world_size
        self.lr = s.lr if s.lr is not None else self.spec.default_lr * total_batch / self.spec.default_batch_size
        params = [p for p in model.parameters() if p.requires_grad]
        if s.optimizer == "adamw":
            self.optimizer: torch.optim.Optimizer = torch.optim.AdamW(
                params, lr=self.lr, weight_decay=1e-4 if s.weight_decay is None else s.weight_decay)
        elif s.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=self.lr, momentum=0.9,
                                             weight_decay=5e-4 if s.weight_decay is None else s.weight_decay)
        else:
            raise TrainingError(None, f"unknown optimizer {s.optimizer!r}", hint="use sgd or adamw")
        self.iters_per_epoch = len(self.batch_sampler)
        self.total_iters = s.epochs * self.iters_per_epoch
        if s.max_iters is not None:
            self.total_iters = min(self.total_iters, s.max_iters)
        warmup = min(s.warmup_iters, max(1, self.total_iters // 3))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda it: lr_factor(it, warmup, self.total_iters, s.schedule))
        self.amp_dtype = None
        if device.type == "cuda" and s.amp:
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)

    def _state(self, epochs_done: int) -> dict[str, Any]:
        return {
            "model_name": self.s.model, "kind": self.spec.kind, "label_names": self.label_names,
            "anchors": self.built.anchors.to_dict(), "min_size": self.min_size, "max_size": self.max_size,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "epoch": epochs_done, "iteration": self.iteration, "split": self.project.settings.get("split"),
            "settings": asdict(self.s), "weights_source": self.weights_source,
            "pretrained": self.built.pretrained, "best_metric": self.best_metric,
            "best_epoch": self.best_epoch, "stale_epochs": self.stale_epochs, "history": self.history,
        }

    def _save(self, epochs_done: int, best: bool = False) -> None:
        """last.pt, and best.pt as a hard link to the same file (no second write); the next
        atomic save of last.pt replaces its name only, so best.pt keeps its content."""
        if not self.ctx.is_main:
            return
        last = save_checkpoint(self.run_dir / LAST, self._state(epochs_done))
        self.emit({"type": "checkpoint", "kind": "last", "path": str(last), "epoch": epochs_done})
        if best:
            link_or_copy(last, self.run_dir / BEST)
            self.emit({"type": "checkpoint", "kind": "best", "path": str(self.run_dir / BEST), "epoch": epochs_done})

    def _run(self) -> TrainResult:
        s = self.s
        device = resolve_device(s.device)
        self.ctx = init_distributed(device.type)
        device = resolve_device(s.device, self.ctx)
        self.device = device
        torch.manual_seed(s.seed + self.ctx.rank)
        if self.resume and self.run_dir is None:
            self.run_dir = latest_run_dir(self.project, s.model)
        if self.run_dir is None:
            self.run_dir = default_run_dir(self.project, s.model)
        self.run_dir = Path(broadcast_from_main(self.ctx, str(self.run_dir)))
        resume_state = None
        if self.resume:
            resume_state = load_checkpoint(self.run_dir / LAST)
            if resume_state["model_name"] != s.model:
                raise TrainingError(self.run_dir / LAST, f"the run trained {resume_state['model_name']}, not {s.model}")
            if resume_state.get("split"):
                self.project.settings["split"] = resume_state["split"]
            self.s = s = s.for_resume(resume_state.get("settings") or {})
        if self.ctx.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._log = EventLogFile(self.run_dir / "events.jsonl")
            self._emit_sink = fan_out(self.on_event, self._log)
        self._setup_data(device)
        if resume_state is not None and resume_state["label_names"] != self.label_names:
            raise TrainingError(self.run_dir / LAST, f"the run's labels {resume_state['label_names']} differ from "
                                f"the project's {self.label_names}", hint="start a new run instead of --resume")
        self._build_model(device, resume_state)
        self.iteration, self.best_metric, self.best_epoch, self.stale_epochs = 0, None, None, 0
        self.history: list[dict[str, Any]] = []
        start_epoch = 0
        if resume_state is not None:
            self.model.load_state_dict(resume_state["model"])
            self.optimizer.load_state_dict(resume_state["optimizer"])
            self.scheduler.load_state_dict(resume_state["scheduler"])
            self.scaler.load_state_dict(resume_state["scaler"])
            start_epoch, self.iteration = resume_state["epoch"], resume_state["iteration"]
            self.best_metric, self.best_epoch = resume_state["best_metric"], resume_state["best_epoch"]
            self.stale_epochs, self.history = resume_state["stale_epochs"], resume_state["history"]
        info = {"settings": {**asdict(s), "lr": self.lr, "batch_size": self.batch_size, "image_size": self.min_size,
                             "max_size": self.max_size},
                "device": str(device), "world_size": self.ctx.world_size, "weights_source": self.weights_source,
                "pretrained": bool(getattr(self.built, "pretrained", False)), "label_names": self.label_names,
                "anchors": self.built.anchors.to_dict(), "num_train": len(self.train_images),
                "num_val": len(self.val_images), "iters_per_epoch": self.iters_per_epoch,
                "resumed_from_epoch": start_epoch if resume_state else None, "run_dir": str(self.run_dir)}
        if self.ctx.is_main:
            atomic_write_json(self.run_dir / "settings.json", info)
        self.emit({"type": "start", **info})
        if device.type == "cpu":
            self.warn("training on the CPU: expect seconds per iteration; a CUDA GPU is typically 20-50x faster")
        if not self.val_images:
            self.warn("the val subset is empty: no validation loss or AP; best.pt follows the training loss")
        return self._loop(start_epoch)

    def _loop(self, start_epoch: int) -> TrainResult:
        status = "finished"
        for epoch in range(start_epoch, self.s.epochs):
            if self.iteration >= self.total_iters:
                break
            train_loss = self._train_epoch(epoch)
            if train_loss is None:
                status = "cancelled"
                break
            if self.train_ds.dropped and epoch == start_epoch:
                self.warn(f"dropped degenerate objects: {self.train_ds.dropped}")
            if self._end_epoch(epoch, train_loss):
                status = "early_stopped"
                break
            if self.cancel_event.is_set():
                status = "cancelled"
                break
        if status == "cancelled":  # mid-epoch: resuming repeats the unfinished epoch
            self._save(len(self.history))
        last, best = self.run_dir / LAST, self.run_dir / BEST
        barrier(self.ctx)
        self.emit({"type": "done", "status": status, "epochs": len(self.history), "iterations": self.iteration,
                   "best_checkpoint": str(best) if best.exists() else None,
                   "last_checkpoint": str(last) if last.exists() else None})
        return TrainResult(status, self.run_dir, last if last.exists() else None,
                           best if best.exists() else None, len(self.history), self.history)

    def _train_epoch(self, epoch: int) -> float | None:
        """One epoch; the mean training loss, or None when cancelled (last.pt then saved)."""
        s, device = self.s, self.device
        self.batch_sampler.set_epoch(epoch)
        self.ddp_model.train()
        total, count, ema_rate, t_start = 0.0, 0, None, time.perf_counter()
        for i, (images, targets) in enumerate(self.loader):
            if self.iteration >= self.total_iters or any_rank(self.ctx, self.cancel_event.is_set(), device):
                if self.iteration < self.total_iters:
                    return None
                break
            t0 = time.perf_counter()
            names = [self.train_ds.images[int(t["image_id"])] for t in targets]
            images = [im.to(device, non_blocking=True) for im in images]
            targets = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets]
            try:
                with torch.autocast(device.type, dtype=self.amp_dtype or torch.float32,
                                    enabled=self.amp_dtype is not None):
                    loss_dict = self.ddp_model(images, targets)
                loss = sum(loss_dict.values())
                terms = {k: float(v.detach()) for k, v in loss_dict.items()}
                if any_rank(self.ctx, not math.isfinite(float(loss.detach())), device):
                    raise TrainingError(
                        None, f"the loss is not finite at epoch {epoch + 1}, iteration {i + 1} "
                              f"(images: {', '.join(names)}; loss terms: "
                              + ", ".join(f"{k}={v:.4g}" for k, v in terms.items()) + ")",
                        hint="lower --lr, or check these images' annotations; the last good checkpoint is kept")
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                if s.grad_clip:
                    self.scaler.unscale_(self.optimizer)
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.grad_clip)
                self.scaler.step(self.optimizer)
                self.scaler.update()
            except torch.OutOfMemoryError as e:
                raise TrainingError(None, f"out of memory on {device} at epoch {epoch + 1}, iteration {i + 1}",
                                    hint="lower --batch-size or --image-size, or use a smaller model") from e
            self.scheduler.step()
            self.iteration += 1
            terms = reduce_mean(self.ctx, terms, device)
            loss_value = sum(terms.values())
            total, count = total + loss_value, count + 1
            dt = time.perf_counter() - t0
            rate = len(images) * self.ctx.world_size / max(dt, 1e-9)
            ema_rate = rate if ema_rate is None else 0.9 * ema_rate + 0.1 * rate
            elapsed = time.perf_counter() - t_start
            eta = elapsed / count * (self.total_iters - self.iteration)
            self.emit({"type": "iter", "epoch": epoch + 1, "epochs": s.epochs, "iteration": i + 1,
                       "iters_per_epoch": self.iters_per_epoch, "global_iteration": self.iteration,
                       "total_iterations": self.total_iters, "losses": terms, "loss": loss_value,
                       "lr": self.optimizer.param_groups[0]["lr"], "images_per_s": ema_rate,
                       "eta_s": eta, "memory_mb": _memory_mb(device)})
        return total / max(1, count)

    def _validation_loss(self) -> float | None:
        if not self.val_images:
            return None
        mine = range(self.ctx.rank, len(self.val_ds), self.ctx.world_size)
        total, n = 0.0, 0
        _loss_mode(self.model)
        with torch.no_grad():
            for idx in mine:
                if self.cancel_event.is_set():
                    break
                image, target = self.val_ds[idx]
                target = {k: v.to(self.device) for k, v in target.items()}
                with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                                    enabled=self.amp_dtype is not None):
                    losses = self.model([image.to(self.device)], [target])
                total += float(sum(losses.values()))
                n += 1
        self.model.train()
        total, n = reduce_sum(self.ctx, [total, float(n)], self.device)
        return total / n if n else None

    def _end_epoch(self, epoch: int, train_loss: float) -> bool:
        """Validate, checkpoint, and say whether early stopping ends the run."""
        s = self.s
        val_loss = self._validation_loss()
        metrics = None
        if s.evaluate_ap and self.val_images and not self.cancel_event.is_set():
            state = {"label_names": self.label_names, "kind": self.spec.kind,
                     "min_size": self.min_size, "max_size": self.max_size}
            metrics = evaluate_model(self.model, state, self.project, self.val_images, self.device, self.ctx,
                                     self.cancel_event)
            metrics = broadcast_from_main(self.ctx, metrics)
        score = headline(metrics) if metrics else None
        if score is None:
            score = -(val_loss if val_loss is not None else train_loss)
        improved = self.best_metric is None or score > self.best_metric
        if improved:
            self.best_metric, self.best_epoch, self.stale_epochs = score, epoch + 1, 0
        else:
            self.stale_epochs += 1
        record = {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss, "metrics": metrics,
                  "score": score, "best": improved}
        self.history.append(record)
        self.emit({"type": "epoch", **record, "lr": self.optimizer.param_groups[0]["lr"]})
        self._save(epoch + 1, best=improved)
        barrier(self.ctx)
        return s.early_stop_patience > 0 and self.stale_epochs >= s.early_stop_patience
