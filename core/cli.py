"""Argument parsing for main.py. Each command's work lives in its own module, imported lazily."""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from core.arguments import anchor_config_file, finite_positive_float, non_negative_int, positive_int, unit_interval

COMMANDS = ("gui", "doctor", "demo", "import", "export", "stats", "anchors", "train", "evaluate", "predict",
            "objectness", "proposals", "assist")

# command -> "module:function"; each function takes the parsed args and returns an exit code
HANDLERS = {
    "gui": "gui.quitting:run_window_and_exit",  # ends without the slow teardown of torch
    "demo": "core.demo:run_demo_command",
    "import": "core.formats.commands:run_import",
    "export": "core.formats.commands:run_export",
    "stats": "core.anchors.commands:run_stats",
    "anchors": "core.anchors.commands:run_anchors",
    "train": "core.training.commands:run_train",
    "evaluate": "core.training.commands:run_evaluate",
    "predict": "core.training.commands:run_predict",
    "objectness": "core.rpnlab.commands:run_objectness",
    "proposals": "core.rpnlab.commands:run_proposals",
    "assist": "core.assist.commands:run_assist",
}


class _Parser(argparse.ArgumentParser):
    """Errors in one line (the argument, what is wrong, where to look), exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} -h)\n")

    def parse_args(self, args=None, namespace=None):  # the whole command line (subparsers parse parts)
        parsed = super().parse_args(args, namespace)
        from core.output_paths import output_args_problem

        unsafe = output_args_problem(parsed)  # an --out over a project's files is refused like a bad value
        if unsafe:
            self.prog = f"{self.prog} {parsed.command}"
            self.error(f"argument {unsafe[0]}: {unsafe[1]}")
        return parsed


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="main.py", description="Masklab: polygons, anchors, Mask R-CNN training and review.")
    sub = p.add_subparsers(dest="command")

    g = sub.add_parser("gui", help="open the annotation window (the default)")
    g.add_argument("project", nargs="?", help="project folder (default: the demo project)")

    sub.add_parser("doctor", help="versions, compiled ops, training device, weights location")

    d = sub.add_parser("demo", help="generate the demo project")
    d.add_argument("dir", help="folder to create")
    d.add_argument("--images", type=positive_int, default=24)
    d.add_argument("--seed", type=non_negative_int, default=0)

    i = sub.add_parser("import", help="import COCO, VIA, YOLO-seg or LabelMe data into a project")
    i.add_argument("src", help="source file or folder")
    i.add_argument("--format", required=True, choices=["coco", "via", "yolo", "labelme"])
    i.add_argument("--project", required=True, help="project folder (created if missing)")
    i.add_argument("--images", help="image folder when it is not beside the source")
    i.add_argument("--label-key", help="VIA region attribute holding the class")
    i.add_argument("--default-label", default=None, help="label for regions without a class")
    i.add_argument("--names", help="YOLO class-names file, line n is class n-1")
    i.add_argument("--link", action="store_true", help="hard-link (or symlink) images instead of copying")
    i.add_argument("--overwrite", action="store_true", help="replace existing annotations instead of skipping them")

    e = sub.add_parser("export", help="export a project as COCO or YOLO-seg")
    e.add_argument("--format", required=True, choices=["coco", "yolo"])
    e.add_argument("--project", required=True)
    e.add_argument("--out", required=True)

    s = sub.add_parser("stats", help="box size and aspect-ratio statistics, suggested anchors")
    s.add_argument("--project", required=True)
    s.add_argument("--label")
    s.add_argument("--bins", type=positive_int, default=20)
    s.add_argument("--k", type=positive_int, default=5, help="k for k-means anchor suggestions")
    s.add_argument("--json", action="store_true")
    s.add_argument("--plots", help="folder for histogram PNGs")
    s.add_argument("--model", default=None, help="measure at this model's input size, with its anchors "
                   "(default: the project's training model)")

    a = sub.add_parser("anchors", help="draw the RPN's anchor assignment on one image")
    a.add_argument("--project", required=True)
    a.add_argument("--image", required=True, help="image path relative to the project (or its name)")
    a.add_argument("--config", type=anchor_config_file, help="anchor config JSON file, or 'classic' for the single-anchor RPN "
                   "(rpn_classic at its own input size)")
    a.add_argument("--model", default=None, help="preview what training this model uses (default: the "
                   "project's training model); with --config FILE, the model whose input size to use")
    a.add_argument("--out", help="PNG to write")
    a.add_argument("--json", action="store_true")

    t = sub.add_parser("train", help="train a model on a project")
    t.add_argument("--project", required=True)
    t.add_argument("--model", default=None,
                   help="model name (default: the project's training settings, else mininet_r18_fpn)")
    t.add_argument("--epochs", type=positive_int, default=None)
    t.add_argument("--batch-size", type=positive_int, default=None)
    t.add_argument("--lr", type=finite_positive_float, default=None)
    t.add_argument("--optimizer", choices=["sgd", "adamw"], default=None)
    t.add_argument("--image-size", type=positive_int, default=None, help="shorter side of the model input")
    t.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    t.add_argument("--weights", default="default", help="PATH, 'none', 'imagenet' or 'default'")
    t.add_argument("--out", help="run folder (default: PROJECT/runs/<time>-<model>)")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--json-progress", action="store_true")
    t.add_argument("--max-iters", type=positive_int, default=None, help="stop after this many iterations (smoke runs)")
    t.add_argument("--workers", type=non_negative_int, default=None)
    t.add_argument("--seed", type=non_negative_int, default=0)
    t.add_argument("--augment", choices=["default", "flip", "none"], default=None)
    t.add_argument("--schedule", choices=["cosine", "step"], default=None)
    t.add_argument("--patience", type=non_negative_int, default=None, help="early stopping: epochs without improvement (0: off)")
    t.add_argument("--early-stop-on", choices=["val_loss", "metric"], default=None,
                   help="what best.pt and early stopping follow (default val_loss)")
    t.add_argument("--rpn-loss", choices=["both", "cls", "reg"], default=None,
                   help="rpn_classic: train objectness and boxes, objectness only, or boxes only")
    t.add_argument("--rpn-reg-all-positives", action="store_true", default=None,
                   help="rpn_classic: box loss over every positive anchor, not only the sampled ones")
    t.add_argument("--rpn-sampling", choices=["at_most_half", "balanced"], default=None,
                   help="RPN mini-batch: torchvision's at most half positive, or equal positives and negatives")

    ev = sub.add_parser("evaluate", help="COCO AP (or RPN recall) of a checkpoint")
    ev.add_argument("--checkpoint", required=True)
    ev.add_argument("--project", required=True)
    ev.add_argument("--split", choices=["train", "val", "test"], default="val")
    ev.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--json-progress", action="store_true",
                    help="progress, the time estimate and the metrics as JSON lines on stdout")

    pr = sub.add_parser("predict", help="predict masks and write them beside the annotations")
    pr.add_argument("--checkpoint", required=True)
    pr.add_argument("--project", required=True)
    pr.add_argument("--images", nargs="*")
    pr.add_argument("--score", type=unit_interval, default=0.5)
    pr.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    pr.add_argument("--overlay", help="folder for PNGs of masks over the photos")
    pr.add_argument("--json-progress", action="store_true", help="progress and the time estimate as JSON lines on stdout")

    for name, text in (("objectness", "a checkpoint's ground-truth | predicted objectness maps on one image"),
                       ("proposals", "a checkpoint's proposals before and after NMS on one image, with recall")):
        r = sub.add_parser(name, help=text)
        r.add_argument("--checkpoint", required=True)
        r.add_argument("--project", required=True)
        r.add_argument("--image", required=True, help="image path relative to the project (or its name)")
        r.add_argument("--out", help="PNG to write")
        r.add_argument("--json", action="store_true")
        if name == "objectness":
            r.add_argument("--level", type=int, default=None, help="feature level (default: all in JSON; drawn: the one with most positives)")
        else:
            r.add_argument("--nms", type=float, default=0.7, help="NMS IoU threshold")
            r.add_argument("--score", type=float, default=0.5, help="objectness from which a proposal is positive")
            r.add_argument("--pre-nms-top-n", type=int, default=None, help="per level (default: the model's)")
            r.add_argument("--post-nms-top-n", type=int, default=None, help="default: the model's")

    from core.assist.arguments import add_assist_arguments

    add_assist_arguments(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-")):
        argv.insert(0, "gui")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or an argument error already printed: its exit code
        return e.code if isinstance(e.code, int) else 2

    from core.torch_check import doctor_report, torch_problem

    if args.command == "doctor":
        report, ok = doctor_report()
        print(report)
        return 0 if ok else 1
    # the window checks on a thread so that it opens at once; every other command checks here
    problem = torch_problem() if args.command != "gui" else None
    if problem:
        print(f"masklab: {problem}", file=sys.stderr)
        return 2
    module_name, func_name = HANDLERS[args.command].split(":")
    handler = getattr(importlib.import_module(module_name), func_name)
    from core.errors import MasklabError

    try:
        return int(handler(args) or 0)
    except MasklabError as e:
        print(f"masklab: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a file-system refusal no command foresaw: still "file: reason", no traceback
        where = f"{e.filename}: " if e.filename else ""
        print(f"masklab: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("masklab: interrupted", file=sys.stderr)
        return 130


def default_demo_dir() -> Path:
    return Path.home() / ".local" / "share" / "masklab" / "demo"
