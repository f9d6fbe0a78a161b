"""`main.py train / evaluate / predict`: argument handling around the engine.

train: SIGTERM and SIGINT set the cancel flag; the trainer stops within one iteration, writes
last.pt and exits 0 with a "done" event whose status is "cancelled". Errors are "error" events
(with a hint) and exit code 1.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import traceback
from typing import Any

from core.errors import MasklabError
from core.project import Project

from . import TrainingError


def _format_metrics(metrics: dict[str, Any]) -> str:
    def num(v: Any) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    lines = []
    if "recall" in metrics:
        lines.append("proposal recall")
        lines += [f"  {k:<16} {num(v)}" for k, v in metrics["recall"].items()]
    for kind in ("bbox", "segm"):
        if kind not in metrics:
            continue
        m = metrics[kind]
        lines.append(f"{'box' if kind == 'bbox' else 'mask'}  AP {num(m['AP'])}  AP50 {num(m['AP50'])}  AP75 {num(m['AP75'])}")
        lines += [f"  {name:<20} AP {num(v)}" for name, v in m["per_label"].items()]
    return "\n".join(lines)


def run_train(args: argparse.Namespace) -> int:
    from .events import JsonLinesSink, ProgressBarSink
    from .trainer import Trainer, TrainSettings

    sink = JsonLinesSink(sys.stdout) if args.json_progress else ProgressBarSink(sys.stderr)
    cancel = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        cancel.set()  # stop after this iteration with a checkpoint; a second signal acts at once
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        project = Project.open(args.project, create=False)
        settings = TrainSettings.resolve(
            project, model=args.model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
            optimizer=args.optimizer, image_size=args.image_size, device=args.device, weights=args.weights,
            max_iters=args.max_iters, workers=args.workers, seed=args.seed,
            augment=getattr(args, "augment", None), early_stop_patience=getattr(args, "patience", None),
            schedule=getattr(args, "schedule", None))
        from core.models.specs import MODEL_NAMES

        if settings.model not in MODEL_NAMES:
            raise TrainingError(None, f"unknown model {settings.model!r}", hint=f"choose one of {', '.join(MODEL_NAMES)}")
        result = Trainer(project, settings, run_dir=args.out, on_event=sink, cancel_event=cancel,
                         resume=args.resume).run()
    except MasklabError as e:
        if not getattr(e, "reported", False):  # failed before the trainer could report it
            sink({"type": "error", "message": str(e), "hint": getattr(e, "hint", "")})
        return 1
    except Exception as e:  # a bug or a library failure: still one "error" event for the GUI
        traceback.print_exc(file=sys.stderr)
        sink({"type": "error", "message": f"{type(e).__name__}: {e}",
              "hint": "unexpected failure; the traceback is on stderr (please report it)"})
        return 1
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0 if result.status in ("finished", "early_stopped", "cancelled") else 1


def run_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_checkpoint

    project = Project.open(args.project, create=False)
    metrics = evaluate_checkpoint(args.checkpoint, project, split=args.split, device=args.device)
    if args.json:
        print(json.dumps(metrics))
    else:
        print(_format_metrics(metrics))
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from .predict import predict_images

    project = Project.open(args.project, create=False)
    written = predict_images(args.checkpoint, project, images=args.images or None, score=args.score,
                             device=args.device, overlay_dir=args.overlay,
                             progress_callback=lambda done, total, img: print(f"[{done}/{total}] {img}", file=sys.stderr))
    print(f"wrote {len(written)} prediction files under {project.root / 'predictions'}")
    return 0
