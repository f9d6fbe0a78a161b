"""The one check for every output path a command writes (`--out`, `--plots`, `--overlay`): never
over a project's files, never among its images.

A file written inside a project folder would replace an image, an annotation or the project
file, or become an image (a PNG) or an orphan annotation (a JSON) of the project itself; so every
output goes outside the project, except where a command owns a folder the scan skips (training
runs under `runs/`).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from .images import is_image_file
from .project import PROJECT_FILE, long_name_problem


@dataclass(frozen=True)
class OutputArg:
    dest: str  # the argparse attribute
    folder: bool  # the command writes files into this folder (else it is one file)
    allowed_under: tuple[str, ...] = ()  # project sub-folders the command owns

    @property
    def flag(self) -> str:
        return "--" + self.dest.replace("_", "-")


# command -> its output arguments; a new command with an output path adds a line here
OUTPUT_ARGS: dict[str, tuple[OutputArg, ...]] = {
    "export": (OutputArg("out", folder=False),),  # COCO: a file; YOLO: a folder (output_args_problem)
    "anchors": (OutputArg("out", folder=False),),
    "stats": (OutputArg("plots", folder=True),),
    "train": (OutputArg("out", folder=True, allowed_under=("runs",)),),
    "predict": (OutputArg("overlay", folder=True),),
    "objectness": (OutputArg("out", folder=False),),
    "proposals": (OutputArg("out", folder=False),),
}


def output_path_problem(project_root: str | Path, out: str | Path, folder: bool,
                        allowed_under: tuple[str, ...] = ()) -> str | None:
    """None when `out` is safe to write for the project at `project_root`; else why not."""
    root = Path(project_root).expanduser().resolve()
    target = Path(out).expanduser().resolve()
    if target.exists() and folder and not target.is_dir():
        return f"{out} is an existing file; give a folder"
    if target.exists() and not folder and target.is_dir():
        return f"{out} is a folder; give a file name"
    if folder and target != root and root.is_relative_to(target):
        return f"{out} contains the project {root}; choose a folder outside it"
    if not target.is_relative_to(root):
        return None
    rel = target.relative_to(root)
    if rel.parts and rel.parts[0] in allowed_under and len(rel.parts) > 1:
        return None
    if target == root:
        what = "is the project folder"
    elif rel == Path(PROJECT_FILE):
        what = "would replace the project file"
    elif target.is_file() and is_image_file(target):
        what = f"would replace the project's image {rel}"
    elif target.suffix.lower() == ".json" and target.exists():
        what = f"would replace the annotation file {rel}"
    elif target.exists():
        what = f"would replace the project's file {rel}"
    else:
        what = "is inside the project, where its files would become images or annotations of the project"
    where = f" (or under {', '.join(p + '/' for p in allowed_under)})" if allowed_under else ""
    return f"{out} {what}; choose a path outside the project ({root}){where}"


# arguments that name files or folders, of any command
PATH_ARGS = ("project", "src", "dir", "out", "plots", "overlay", "image", "images", "checkpoint", "names",
             "config", "weights")


def output_args_problem(args: argparse.Namespace) -> tuple[str, str] | None:
    """(flag, problem) for the first path argument of a parsed command line that cannot exist (a
    name too long for any file system), or output argument that is unsafe."""
    for dest in PATH_ARGS:
        values = getattr(args, dest, None)
        for value in values if isinstance(values, list) else [values]:
            problem = long_name_problem(value) if isinstance(value, str) else None
            if problem:
                return "--" + dest.replace("_", "-") if dest not in ("src", "dir") else dest, problem
    project = getattr(args, "project", None)
    for spec in OUTPUT_ARGS.get(getattr(args, "command", None) or "", ()):
        value = getattr(args, spec.dest, None)
        if value is None or project is None:
            continue
        folder = spec.folder or (args.command == "export" and getattr(args, "format", None) == "yolo")
        problem = output_path_problem(project, value, folder, spec.allowed_under)
        if problem:
            return spec.flag, problem
    return None
