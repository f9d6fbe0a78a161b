"""Progress events of a training run, and the places they go.

An event is a JSON-serialisable dict with a "type": "start" (settings, device, weights_source,
num_train, num_val), "iter" (epoch, iteration, iters_per_epoch, losses, loss, lr, images_per_s,
eta_s, memory_mb), "epoch" (train_loss, val_loss, metrics, score, best, best_epoch,
early_stop_on), "overfitting" (since_epoch: validation loss rose for the last N epochs while
training loss fell; see runs.overfitting_since), "checkpoint" (path, kind), "warning" (message),
"error" (message, hint) and "done" (status, best_epoch, best_checkpoint, last_checkpoint, epochs). The trainer calls one sink; sinks can be fanned out.
"""
from __future__ import annotations

import json
import math
import sys
import threading
from pathlib import Path
from typing import Any, Callable, TextIO

Event = dict[str, Any]
EventSink = Callable[[Event], None]


def _clean(value: Any) -> Any:
    """JSON-safe: non-finite floats become strings ("nan", "inf") instead of invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def to_json(event: Event) -> str:
    return json.dumps(_clean(event), ensure_ascii=False)


def fan_out(*sinks: EventSink | None) -> EventSink:
    active = [s for s in sinks if s is not None]

    def send(event: Event) -> None:
        for s in active:
            s(event)
    return send


class JsonLinesSink:
    """One JSON object per line, flushed at once (the GUI reads stdout line by line)."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.stream.write(to_json(event) + "\n")
            self.stream.flush()


class EventLogFile:
    """Appends events to the run folder's events.jsonl."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")

    def __call__(self, event: Event) -> None:
        self._file.write(to_json(event) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class ProgressBarSink:
    """Human output for the terminal: a tqdm bar per epoch, and lines for everything else."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self._bar = None

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __call__(self, event: Event) -> None:
        from tqdm import tqdm

        kind = event.get("type")
        if kind == "iter":
            if self._bar is None or self._bar.desc != f"epoch {event['epoch']}":
                self._close_bar()
                self._bar = tqdm(total=event["iters_per_epoch"], desc=f"epoch {event['epoch']}",
                                 file=self.stream, dynamic_ncols=True, leave=True)
            self._bar.set_postfix(loss=f"{event['loss']:.3f}", lr=f"{event['lr']:.2g}",
                                  img_s=f"{event['images_per_s']:.1f}", refresh=False)
            self._bar.update(event["iteration"] - self._bar.n)
            return
        self._close_bar()
        if kind == "start":
            s = event["settings"]
            print(f"training {s['model']} on {event['device']} ({event['num_train']} train / "
                  f"{event['num_val']} val images), weights: {event['weights_source']}; "
                  f"run folder {event['run_dir']}", file=self.stream)
        elif kind == "epoch":
            metrics = ", ".join(f"{k} {v:.3f}" for k, v in (event.get("metrics") or {}).items()
                                if isinstance(v, (int, float)))
            val = event.get("val_loss")
            print(f"epoch {event['epoch']}: train loss {event['train_loss']:.4f}"
                  + (f", val loss {val:.4f}" if isinstance(val, float) else "")
                  + (f", {metrics}" if metrics else "") + ("  <- best" if event.get("best") else ""),
                  file=self.stream)
        elif kind == "overfitting":
            print(f"overfitting since epoch {event['since_epoch']}: the validation loss has risen every epoch since, "
                  "while the training loss fell", file=self.stream)
        elif kind == "checkpoint":
            print(f"saved {event['kind']} checkpoint {event['path']}", file=self.stream)
        elif kind == "warning":
            print(f"warning: {event['message']}", file=self.stream)
        elif kind == "error":
            print(f"error: {event['message']}" + (f"\nhint: {event['hint']}" if event.get("hint") else ""),
                  file=self.stream)
        elif kind == "done":
            best = f" (epoch {event['best_epoch']})" if event.get("best_epoch") else ""
            print(f"{event['status']}: best checkpoint {event.get('best_checkpoint')}{best}", file=self.stream)
