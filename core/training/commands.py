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
            schedule=getattr(args, "schedule", None), early_stop_on=getattr(args, "early_stop_on", None),
            rpn_loss=getattr(args, "rpn_loss", None), rpn_reg_all_positives=getattr(args, "rpn_reg_all_positives", None),
            rpn_sampling=getattr(args, "rpn_sampling", None))
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


def _progress_sink(args: argparse.Namespace) -> Any:
    """JSON lines on stdout with --json-progress, else a tqdm bar (or lines) on stderr."""
    from .events import JsonLinesSink
    from .progress import TerminalProgress

    return JsonLinesSink(sys.stdout) if getattr(args, "json_progress", False) else TerminalProgress(sys.stderr)


def _report_failure(args: argparse.Namespace, sink: Any, error: MasklabError) -> int:
    """With --json-progress a failure is one "error" event (exit 1); else main() prints it."""
    if not getattr(args, "json_progress", False):
        sink.close()
        raise error
    sink({"type": "error", "message": str(error), "hint": getattr(error, "hint", "")})
    return 1


def run_evaluate(args: argparse.Namespace) -> int:
    from .distributed import resolve_device
    from .evaluate import evaluate_checkpoint
    from .progress import ImageProgress

    sink = _progress_sink(args)
    try:
        project = Project.open(args.project, create=False)
        progress = ImageProgress("evaluate", sink, split=args.split, device=str(resolve_device(args.device)),
                                 checkpoint=str(args.checkpoint))
        metrics = evaluate_checkpoint(args.checkpoint, project, split=args.split, device=args.device,
                                      progress=progress)
    except MasklabError as e:
        return _report_failure(args, sink, e)
    if getattr(args, "json_progress", False):
        sink({"type": "result", "task": "evaluate", "metrics": metrics})
    elif args.json:
        print(json.dumps(metrics))
    else:
        print(_format_metrics(metrics))
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from .predict import load_predictor, project_image_names, write_project_predictions
    from .progress import ImageProgress

    sink = _progress_sink(args)
    try:
        project = Project.open(args.project, create=False)
        predictor = load_predictor(args.checkpoint, args.device)
        names = project_image_names(project, args.images or None)
        progress = ImageProgress("predict", sink, device=str(predictor.device), checkpoint=str(args.checkpoint))
        progress(0, len(names), "")
        written = write_project_predictions(predictor, project, names, args.score, progress=progress,
                                            overlay_dir=args.overlay)
    except MasklabError as e:
        return _report_failure(args, sink, e)
    folder = project.root / "predictions"
    if getattr(args, "json_progress", False):
        sink({"type": "result", "task": "predict", "written": len(written), "folder": str(folder)})
    else:
        print(f"wrote {len(written)} prediction files under {folder}")
    return 0
