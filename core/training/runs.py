"""A project's training runs, read from what the engine writes; no torch, so listing is instant.

PROJECT/runs/<start time>-<model>/ holds settings.json (written at start), events.jsonl (one JSON
event per line, see events.py), last.pt and best.pt. `read_run` gives a run's summary,
`RunCurves` its curves (the same `add` takes events from the file or live from a running
process), `overfitting_since` the rule for where overfitting starts, shared with the trainer.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from core.errors import ProjectError

RUNS_DIR = "runs"
LAST, BEST = "last.pt", "best.pt"
SETTINGS_FILE, EVENTS_FILE = "settings.json", "events.jsonl"
DEFAULT_OVERFITTING_EPOCHS = 3
TOTAL = "total"  # the name of the summed loss among the loss terms


def _loss(record: dict[str, Any], key: str) -> float | None:
    value = record.get(key)
    return float(value) if isinstance(value, (int, float)) else None


def overfitting_since(history: list[dict[str, Any]], patience: int) -> int | None:
    """The epoch K after which the validation loss rose for the last `patience` epochs in a row
    while the training loss fell in each of them (K is the epoch of the lowest validation loss
    before the rise); None when the history does not end that way or has no validation loss.
    `patience` < 1 means DEFAULT_OVERFITTING_EPOCHS. Records are the trainer's epoch records
    ({"epoch", "train_loss", "val_loss", ...}), oldest first."""
    n = patience if patience >= 1 else DEFAULT_OVERFITTING_EPOCHS
    if len(history) < n + 1:
        return None
    tail = history[-(n + 1):]
    for before, after in zip(tail, tail[1:]):
        v0, v1 = _loss(before, "val_loss"), _loss(after, "val_loss")
        t0, t1 = _loss(before, "train_loss"), _loss(after, "train_loss")
        if None in (v0, v1, t0, t1) or not (v1 > v0 and t1 < t0):  # type: ignore[operator]
            return None
    return int(tail[0]["epoch"])


def epoch_metric(event: dict[str, Any]) -> tuple[float | None, str]:
    """The headline validation metric of an epoch event: mask AP, box AP or proposal recall."""
    metrics = event.get("metrics") or {}
    for key, name in (("segm", "mask AP"), ("bbox", "box AP")):
        value = (metrics.get(key) or {}).get("AP")
        if isinstance(value, (int, float)):
            return float(value), name
    recall = (metrics.get("recall") or {}).get("R@100_IoU0.5")
    if isinstance(recall, (int, float)):
        return float(recall), "recall@100 (IoU 0.5)"
    return None, ""


def iter_events(path: Path) -> Iterator[dict[str, Any]]:
    """The events of an events.jsonl, skipping a line cut short by a kill; nothing when unreadable."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines() if Path(path).is_file() else []
    except (OSError, UnicodeDecodeError):
        return
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            yield event


@dataclass
class EpochPoint:
    epoch: int
    train_loss: float | None
    val_loss: float | None
    metric: float | None
    metric_name: str
    best: bool


@dataclass
class RunCurves:
    """What a run's plots show: loss terms per iteration against (fractional) epochs, so runs with
    other batch sizes line up; train / val loss and the metric per epoch; the best epoch and the
    onset of overfitting (the trainer's "overfitting" event, else the same rule on the epochs)."""

    losses: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)  # term -> (xs, ys)
    epochs: list[EpochPoint] = field(default_factory=list)
    best_epoch: int | None = None
    overfitting_epoch: int | None = None
    patience: int = DEFAULT_OVERFITTING_EPOCHS

    @classmethod
    def read(cls, run_dir: Path) -> "RunCurves":
        curves = cls()
        for event in iter_events(Path(run_dir) / EVENTS_FILE):
            curves.add(event)
        return curves

    @property
    def metric_name(self) -> str:
        return next((p.metric_name for p in reversed(self.epochs) if p.metric_name), "")

    def add(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "start":
            patience = (event.get("settings") or {}).get("early_stop_patience")
            if isinstance(patience, int):
                self.patience = patience
            resumed = event.get("resumed_from_epoch")
            if isinstance(resumed, int):  # the unfinished epoch is trained again: drop its first try
                self._truncate(resumed)
        elif kind == "iter":
            self._add_iteration(event)
        elif kind == "epoch":
            self._add_epoch(event)
        elif kind == "overfitting" and isinstance(event.get("since_epoch"), int):
            self.overfitting_epoch = int(event["since_epoch"])

    def _truncate(self, epochs_kept: int) -> None:
        for xs, ys in self.losses.values():
            while xs and xs[-1] > epochs_kept:
                xs.pop()
                ys.pop()
        self.epochs = [p for p in self.epochs if p.epoch <= epochs_kept]
        if self.best_epoch is not None and self.best_epoch > epochs_kept:
            self.best_epoch = max((p.epoch for p in self.epochs if p.best), default=None)

    def _add_iteration(self, event: dict[str, Any]) -> None:
        per_epoch = max(1, int(event.get("iters_per_epoch") or 1))
        x = int(event.get("epoch") or 1) - 1 + int(event.get("iteration") or 0) / per_epoch
        terms = {TOTAL: event.get("loss"), **(event.get("losses") or {})}
        for name, value in terms.items():
            if isinstance(value, (int, float)):  # "nan" / "inf" arrive as strings
                xs, ys = self.losses.setdefault(str(name), ([], []))
                xs.append(x)
                ys.append(float(value))

    def _add_epoch(self, event: dict[str, Any]) -> None:
        epoch = int(event.get("epoch") or len(self.epochs) + 1)
        metric, name = epoch_metric(event)

        def number(key: str) -> float | None:
            value = event.get(key)
            return float(value) if isinstance(value, (int, float)) else None

        self.epochs = [p for p in self.epochs if p.epoch != epoch]
        self.epochs.append(EpochPoint(epoch, number("train_loss"), number("val_loss"), metric, name,
                                      bool(event.get("best"))))
        if isinstance(event.get("best_epoch"), int):
            self.best_epoch = int(event["best_epoch"])
        elif event.get("best"):
            self.best_epoch = epoch
        if self.overfitting_epoch is None:  # runs written before the trainer sent the event
            history = [{"epoch": p.epoch, "train_loss": p.train_loss, "val_loss": p.val_loss} for p in self.epochs]
            self.overfitting_epoch = overfitting_since(history, self.patience)


@dataclass
class RunInfo:
    path: Path
    model: str = "?"
    settings: dict[str, Any] = field(default_factory=dict)
    device: str = ""
    weights_source: str = ""
    status: str = "incomplete"  # the done event's status, else "incomplete" (stopped, killed, running)
    epochs_done: int = 0
    best_epoch: int | None = None  # the epoch best.pt holds
    best_score: float | None = None  # the validation metric of that epoch
    best_score_name: str = ""  # "mask AP", "box AP" or "recall@100 (IoU 0.5)"
    best_val_loss: float | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def best_checkpoint(self) -> Path | None:
        p = self.path / BEST
        return p if p.is_file() else None

    @property
    def last_checkpoint(self) -> Path | None:
        p = self.path / LAST
        return p if p.is_file() else None

    def checkpoint_for_review(self) -> Path | None:
        return self.best_checkpoint or self.last_checkpoint

    @property
    def kind(self) -> str:
        return "rpn" if self.model == "rpn_classic" else "mask"

    def settings_text(self) -> str:
        s = self.settings
        lr = s.get("lr")
        parts = [f"{s.get('epochs', '?')} ep", f"batch {s.get('batch_size', '?')}",
                 f"lr {lr:.3g}" if isinstance(lr, (int, float)) else "lr ?",
                 f"{s.get('image_size', '?')} px", f"weights {s.get('weights', '?')}"]
        if s.get("rpn_loss") not in (None, "both"):
            parts.append(f"loss {s['rpn_loss']}")
        if s.get("max_iters"):
            parts.append(f"max {s['max_iters']} it")
        return ", ".join(parts) + (f" on {self.device}" if self.device else "")

    def score_text(self) -> str:
        if self.best_epoch is None:
            return "—"
        if self.best_score is not None:
            return f"{self.best_score_name} {self.best_score:.3f} (epoch {self.best_epoch})"
        if self.best_val_loss is not None:
            return f"val loss {self.best_val_loss:.3f} (epoch {self.best_epoch})"
        return f"epoch {self.best_epoch}"


def read_run(path: Path) -> RunInfo | None:
    """The run in `path`, or None when it is not a run folder (no settings.json)."""
    path = Path(path)
    settings_file = path / SETTINGS_FILE
    if not settings_file.is_file():
        return None
    info = RunInfo(path)
    try:
        data = json.loads(settings_file.read_text(encoding="utf-8"))
        info.settings = dict(data.get("settings") or {})
        info.model = str(info.settings.get("model", "?"))
        info.device = str(data.get("device", ""))
        info.weights_source = str(data.get("weights_source", ""))
    except (OSError, ValueError, AttributeError, UnicodeDecodeError):
        info.status = "unreadable settings.json"
        return info
    for event in iter_events(path / EVENTS_FILE):
        kind = event.get("type")
        if kind == "start":
            info.status = "incomplete"
        elif kind == "epoch":
            info.epochs_done = int(event.get("epoch") or info.epochs_done)
            if event.get("best"):  # the epoch whose weights best.pt holds
                info.best_epoch = info.epochs_done
                info.best_score, info.best_score_name = epoch_metric(event)
                val = event.get("val_loss")
                info.best_val_loss = float(val) if isinstance(val, (int, float)) else None
        elif kind == "done":
            info.status = str(event.get("status", "finished"))
        elif kind == "error":
            info.status = "failed"
    return info


def list_runs(project_root: Path) -> list[RunInfo]:
    """Runs of the project, newest first (folder names start with the start time)."""
    root = Path(project_root) / RUNS_DIR
    if not root.is_dir():
        return []
    runs = [read_run(p) for p in sorted(root.iterdir(), reverse=True) if p.is_dir()]
    return [r for r in runs if r is not None]


def delete_run(project_root: Path, run_dir: Path) -> None:
    """Remove a run folder; refuses anything that is not a run directly inside PROJECT/runs."""
    runs_root = (Path(project_root) / RUNS_DIR).resolve()
    target = Path(run_dir).resolve()
    if target.parent != runs_root or not (target / SETTINGS_FILE).exists():
        raise ProjectError(target, "not a run folder of this project; nothing was deleted")
    try:
        shutil.rmtree(target)
    except OSError as e:
        raise ProjectError(target, f"cannot delete the run: {e.strerror or e}") from e
