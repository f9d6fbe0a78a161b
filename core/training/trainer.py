"""The training engine: one loop for the CLI, the GUI's training process and torchrun.

Settings come from the command line over project.settings["training"] over TrainSettings'
defaults. Everything that happens is reported as events (see events.py); the run folder holds
last.pt, best.pt, settings.json and events.jsonl.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from core.atomic import atomic_write_json
from core.errors import MasklabError

from . import TrainingError
from .checkpoint import BEST, LAST, link_or_copy, load_checkpoint, save_checkpoint
from .distributed import (DistContext, any_rank, barrier, broadcast_from_main, init_distributed,
                          reduce_mean, reduce_sum, resolve_device, shutdown)
from .evaluate import evaluate_model, headline
from .events import Event, EventLogFile, EventSink, fan_out
from .run_state import Progress, Resume, RunState, build_learner, prepare_data, restore
from .runs import overfitting_since
from .settings import TrainSettings


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


def _memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        import resource  # POSIX only: Windows has no such module
    except ImportError:
        return 0.0  # unknown on Windows (the GUI shows 0 MB)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _loss_mode(model: torch.nn.Module) -> None:
    """Train mode (so the model returns losses) with BatchNorm frozen, for validation loss."""
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


def _autocast(device: torch.device, amp_dtype: torch.dtype | None) -> torch.autocast:
    """Mixed precision in `amp_dtype`; float32 (autocast off) when None."""
    return torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None)


def _on_device(images: list[torch.Tensor], targets: list[dict[str, torch.Tensor]],
               device: torch.device) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    return ([im.to(device, non_blocking=True) for im in images],
            [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets])


def _non_finite_loss(terms: dict[str, float], names: list[str], epoch: int, i: int, iteration: int,
                     lr: float) -> TrainingError:
    """What stops a run at a non-finite loss: where, at which lr, which terms, which images."""
    bad = [k for k, v in terms.items() if not math.isfinite(v)] or ["a term on another process"]
    return TrainingError(
        None, f"the loss is not finite at epoch {epoch + 1}, iteration {i + 1} "
              f"(global iteration {iteration + 1}, lr {lr:.4g}; "
              f"non-finite: {', '.join(bad)}; images: {', '.join(names)}; loss terms: "
              + ", ".join(f"{k}={v:.4g}" for k, v in terms.items()) + ")",
        hint="lower --lr, or check these images' annotations; the last good checkpoint is kept")


def _existing(path: Path) -> Path | None:
    return path if path.exists() else None


class Trainer:
    """Runs one training run. The Trainer keeps only what it is given and the run's folder,
    process group and event log; the run itself (data, model, optimizer, progress) is one
    RunState, made by `_prepare` and handed to each step."""

    def __init__(self, project: Any, settings: TrainSettings, run_dir: str | Path | None = None,
                 on_event: EventSink | None = None, cancel_event: threading.Event | None = None,
                 resume: bool = False):
        self.project = project
        self.s = settings  # on --resume: the run's stored settings under what was given explicitly
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

    def _run(self) -> TrainResult:
        device = self._join_processes()
        resume = self._open_run_dir()
        run = self._prepare(device, resume)
        self._announce(run, resumed=resume is not None)
        return self._loop(run)

    def _join_processes(self) -> torch.device:
        """The device, after joining torchrun's process group (when launched by torchrun)."""
        s = self.s
        self.ctx = init_distributed(resolve_device(s.device).type)
        device = resolve_device(s.device, self.ctx)
        torch.manual_seed(s.seed + self.ctx.rank)
        return device

    def _open_run_dir(self) -> Resume | None:
        """Settle the run folder (on --resume without one: the latest run of the model), read
        its last.pt when resuming, and start the event log there."""
        if self.resume and self.run_dir is None:
            self.run_dir = latest_run_dir(self.project, self.s.model)
        if self.run_dir is None:
            self.run_dir = default_run_dir(self.project, self.s.model)
        self.run_dir = Path(broadcast_from_main(self.ctx, str(self.run_dir)))
        resume = self._read_resume(self.run_dir / LAST) if self.resume else None
        if self.ctx.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._log = EventLogFile(self.run_dir / "events.jsonl")
            self._emit_sink = fan_out(self.on_event, self._log)
        return resume

    def _read_resume(self, path: Path) -> Resume:
        """The run's last.pt; its split and stored settings replace the project's (what was given
        explicitly this time still wins)."""
        state = load_checkpoint(path)
        if state["model_name"] != self.s.model:
            raise TrainingError(path, f"the run trained {state['model_name']}, not {self.s.model}")
        if state.get("split"):
            self.project.settings["split"] = state["split"]
        self.s = self.s.for_resume(state.get("settings") or {})
        return Resume(path, state)

    def _prepare(self, device: torch.device, resume: Resume | None) -> RunState:
        """The one place a run's state is created: data, model, optimizer and progress."""
        data = prepare_data(self.project, self.s, self.ctx, device, self.warn)
        if resume is not None and resume.state["label_names"] != data.label_names:
            raise TrainingError(resume.path, f"the run's labels {resume.state['label_names']} differ from "
                                f"the project's {data.label_names}", hint="start a new run instead of --resume")
        learner = build_learner(self.project, self.s, data, self.ctx, device, self.warn, resume)
        if resume is None:
            return RunState(device, data, learner, Progress())
        restore(learner, resume)
        return RunState(device, data, learner, Progress.from_checkpoint(resume.state), resume.state["epoch"])

    def _announce(self, run: RunState, resumed: bool) -> None:
        """settings.json and the "start" event: what this run trains, and how."""
        s, data, learner = self.s, run.data, run.learner
        info = {"settings": {**s.to_dict(), "lr": learner.lr, "batch_size": data.batch_size,
                             "image_size": data.min_size, "max_size": data.max_size},
                "device": str(run.device), "world_size": self.ctx.world_size, "weights_source": learner.weights_source,
                "pretrained": bool(learner.built.pretrained), "label_names": data.label_names,
                "anchors": learner.built.anchors.to_dict(), "num_train": len(data.train_images),
                "num_val": len(data.val_images), "iters_per_epoch": learner.iters_per_epoch,
                "resumed_from_epoch": run.start_epoch if resumed else None, "run_dir": str(self.run_dir)}
        if self.ctx.is_main:
            atomic_write_json(self.run_dir / "settings.json", info)
        self.emit({"type": "start", **info})
        if run.device.type == "cpu":
            self.warn("training on the CPU: expect seconds per iteration; a CUDA GPU is typically 20-50x faster")
        if not data.val_images:
            self.warn("the val subset is empty: no validation loss or AP; best.pt follows the training loss")

    # -- checkpoints ---------------------------------------------------------------------
    def _checkpoint(self, run: RunState, epochs_done: int) -> dict[str, Any]:
        data, learner = run.data, run.learner
        return {
            "model_name": self.s.model, "kind": data.spec.kind, "label_names": data.label_names,
            "anchors": learner.built.anchors.to_dict(), "min_size": data.min_size, "max_size": data.max_size,
            "model": learner.model.state_dict(), "optimizer": learner.optimizer.state_dict(),
            "scheduler": learner.scheduler.state_dict(), "scaler": learner.scaler.state_dict(),
            "epoch": epochs_done, "split": self.project.settings.get("split"),
            "settings": self.s.to_dict(), "weights_source": learner.weights_source,
            "pretrained": learner.built.pretrained, **run.progress.to_checkpoint(),
        }

    def _save(self, run: RunState, epochs_done: int, best: bool = False) -> None:
        """last.pt, and best.pt as a hard link to the same file (no second write); the next
        atomic save of last.pt replaces its name only, so best.pt keeps its content."""
        if not self.ctx.is_main:
            return
        last = save_checkpoint(self.run_dir / LAST, self._checkpoint(run, epochs_done))
        self.emit({"type": "checkpoint", "kind": "last", "path": str(last), "epoch": epochs_done})
        if best:
            link_or_copy(last, self.run_dir / BEST)
            self.emit({"type": "checkpoint", "kind": "best", "path": str(self.run_dir / BEST), "epoch": epochs_done})

    # -- training ------------------------------------------------------------------------
    def _loop(self, run: RunState) -> TrainResult:
        status = "finished"
        for epoch in range(run.start_epoch, self.s.epochs):
            if run.progress.iteration >= run.learner.total_iters:
                break
            train_loss = self._train_epoch(run, epoch)
            if train_loss is None:
                status = "cancelled"
                break
            if run.data.train_ds.dropped and epoch == run.start_epoch:
                self.warn(f"dropped degenerate objects: {run.data.train_ds.dropped}")
            if self._end_epoch(run, epoch, train_loss):
                status = "early_stopped"
                break
            if self.cancel_event.is_set():
                status = "cancelled"
                break
        return self._finish(run, status)

    def _finish(self, run: RunState, status: str) -> TrainResult:
        progress = run.progress
        if status == "cancelled":  # mid-epoch: resuming repeats the unfinished epoch
            self._save(run, len(progress.history))
        barrier(self.ctx)
        last, best = _existing(self.run_dir / LAST), _existing(self.run_dir / BEST)
        self.emit({"type": "done", "status": status, "epochs": len(progress.history), "iterations": progress.iteration,
                   "best_epoch": progress.best_epoch,
                   "best_checkpoint": None if best is None else str(best),
                   "last_checkpoint": None if last is None else str(last)})
        return TrainResult(status, self.run_dir, last, best, len(progress.history), progress.history)

    def _train_epoch(self, run: RunState, epoch: int) -> float | None:
        """One epoch; the mean training loss, or None when cancelled (last.pt then saved)."""
        device, learner, progress = run.device, run.learner, run.progress
        run.data.batch_sampler.set_epoch(epoch)
        learner.ddp_model.train()
        total, count, ema_rate, t_start = 0.0, 0, None, time.perf_counter()
        for i, (images, targets) in enumerate(run.data.loader):
            if progress.iteration >= learner.total_iters or any_rank(self.ctx, self.cancel_event.is_set(), device):
                if progress.iteration < learner.total_iters:
                    return None
                break
            t0 = time.perf_counter()
            terms = self._step(run, images, targets, epoch, i)
            learner.scheduler.step()
            progress.iteration += 1
            terms = reduce_mean(self.ctx, terms, device)
            loss_value = sum(terms.values())
            total, count = total + loss_value, count + 1
            dt = time.perf_counter() - t0
            rate = len(images) * self.ctx.world_size / max(dt, 1e-9)
            ema_rate = rate if ema_rate is None else 0.9 * ema_rate + 0.1 * rate
            elapsed = time.perf_counter() - t_start
            eta = elapsed / count * (learner.total_iters - progress.iteration)
            self.emit({"type": "iter", "epoch": epoch + 1, "epochs": self.s.epochs, "iteration": i + 1,
                       "iters_per_epoch": learner.iters_per_epoch, "global_iteration": progress.iteration,
                       "total_iterations": learner.total_iters, "losses": terms, "loss": loss_value,
                       "lr": learner.optimizer.param_groups[0]["lr"], "images_per_s": ema_rate,
                       "eta_s": eta, "memory_mb": _memory_mb(device)})
        return total / max(1, count)

    def _step(self, run: RunState, images: list[torch.Tensor], targets: list[dict[str, torch.Tensor]], epoch: int,
              i: int) -> dict[str, float]:
        """One optimizer step on one batch; this process's loss terms. A non-finite loss on any
        process stops the run before the step."""
        device, learner = run.device, run.learner
        names = [run.data.train_ds.images[int(t["image_id"])] for t in targets]
        images, targets = _on_device(images, targets, device)
        try:
            with _autocast(device, learner.amp_dtype):
                loss_dict = learner.ddp_model(images, targets)
            loss = sum(loss_dict.values())
            terms = {k: float(v.detach()) for k, v in loss_dict.items()}
            if any_rank(self.ctx, not math.isfinite(float(loss.detach())), device):
                raise _non_finite_loss(terms, names, epoch, i, run.progress.iteration,
                                       learner.optimizer.param_groups[0]["lr"])
            learner.optimizer.zero_grad(set_to_none=True)
            learner.scaler.scale(loss).backward()
            if self.s.grad_clip:
                learner.scaler.unscale_(learner.optimizer)
                torch.nn.utils.clip_grad_norm_(learner.model.parameters(), self.s.grad_clip)
            learner.scaler.step(learner.optimizer)
            learner.scaler.update()
        except torch.OutOfMemoryError as e:
            raise TrainingError(None, f"out of memory on {device} at epoch {epoch + 1}, iteration {i + 1}",
                                hint="lower --batch-size or --image-size, or use a smaller model") from e
        return terms

    # -- after each epoch ----------------------------------------------------------------
    def _end_epoch(self, run: RunState, epoch: int, train_loss: float) -> bool:
        """Validate, checkpoint, and say whether early stopping ends the run."""
        s, progress = self.s, run.progress
        val_loss = self._validation_loss(run)
        self._stop_if_not_finite(run, epoch, train_loss, val_loss)
        metrics = self._metrics(run)
        loss_score = -(val_loss if val_loss is not None else train_loss)
        score = headline(metrics) if metrics else None
        if score is None:
            score = loss_score
        # `score` stays the headline metric (the runs list shows it); `watched` decides best.pt
        improved = progress.update_best(score if s.early_stop_on == "metric" else loss_score, epoch + 1)
        record = {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss, "metrics": metrics,
                  "score": score, "best": improved}
        progress.history.append(record)
        self.emit({"type": "epoch", **record, "best_epoch": progress.best_epoch, "early_stop_on": s.early_stop_on,
                   "lr": run.learner.optimizer.param_groups[0]["lr"]})
        self._report_overfitting(progress, epoch)
        self._save(run, epoch + 1, best=improved)
        barrier(self.ctx)
        return s.early_stop_patience > 0 and progress.stale_epochs >= s.early_stop_patience

    def _validation_loss(self, run: RunState) -> float | None:
        data, learner, device = run.data, run.learner, run.device
        if not data.val_images:
            return None
        mine = range(self.ctx.rank, len(data.val_ds), self.ctx.world_size)
        total, n = 0.0, 0
        _loss_mode(learner.model)
        with torch.no_grad():
            for idx in mine:
                if self.cancel_event.is_set():
                    break
                image, target = data.val_ds[idx]
                target = {k: v.to(device) for k, v in target.items()}
                with _autocast(device, learner.amp_dtype):
                    losses = learner.model([image.to(device)], [target])
                total += float(sum(losses.values()))
                n += 1
        learner.model.train()
        total, n = reduce_sum(self.ctx, [total, float(n)], device)
        return total / n if n else None

    def _stop_if_not_finite(self, run: RunState, epoch: int, train_loss: float, val_loss: float | None) -> None:
        """A diverged epoch ends the run before anything is saved from it: its weights are NaN
        or infinite, so it must never become best.pt (nor last.pt)."""
        best_epoch, lr = run.progress.best_epoch, run.learner.optimizer.param_groups[0]["lr"]
        for name, value in (("training", train_loss), ("validation", val_loss)):
            if value is not None and not math.isfinite(value):
                kept = f"best.pt from epoch {best_epoch} is kept" if best_epoch else "no checkpoint was kept"
                raise TrainingError(None, f"the {name} loss of epoch {epoch + 1} is {value} (lr "
                                          f"{lr:.4g}): the weights diverged; {kept}",
                                    hint="lower --lr, or check the annotations of the images in this epoch")

    def _metrics(self, run: RunState) -> dict[str, Any] | None:
        """AP on the val subset (proposal recall for the RPN), when asked for and not cancelled."""
        data = run.data
        if not (self.s.evaluate_ap and data.val_images) or self.cancel_event.is_set():
            return None
        state = {"label_names": data.label_names, "kind": data.spec.kind,
                 "min_size": data.min_size, "max_size": data.max_size}
        metrics = evaluate_model(run.learner.model, state, self.project, data.val_images, run.device, self.ctx,
                                 self.cancel_event)
        return broadcast_from_main(self.ctx, metrics)

    def _report_overfitting(self, progress: Progress, epoch: int) -> None:
        """The "overfitting" event, once per onset."""
        since = overfitting_since(progress.history, self.s.early_stop_patience)
        if since is not None and since != progress.overfitting_reported:
            progress.overfitting_reported = since
            self.emit({"type": "overfitting", "since_epoch": since, "epoch": epoch + 1})
