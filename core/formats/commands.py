"""`main.py import` and `main.py export`.

Import copies the images into the project (with --link: a hard link, or a symbolic link where a
hard link is impossible, e.g. across file systems), keeping their folders relative to the
source, and writes a LabelMe JSON beside each. Existing annotations are kept unless --overwrite.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from ..errors import FormatError
from ..project import Project
from . import ImportPlan, ImportSummary, apply_import


# import options and the formats they apply to; an option given to another format is an error
_FORMAT_OPTIONS = {
    "images": ("coco", "via"),
    "label_key": ("via",),
    "default_label": ("via",),
    "names": ("yolo",),
}


def read_source(args: argparse.Namespace) -> ImportPlan:
    """Parse the import source named by the command-line arguments (nothing is written)."""
    src = Path(args.src)
    for option, formats in _FORMAT_OPTIONS.items():
        if getattr(args, option, None) is not None and args.format not in formats:
            flag = "--" + option.replace("_", "-")
            raise FormatError(None, f"{flag} applies to --format {' or '.join(formats)}, not {args.format}")
    images_dir = Path(args.images).expanduser().resolve() if getattr(args, "images", None) else None
    if images_dir is not None and not images_dir.is_dir():
        raise FormatError(images_dir, "the --images folder does not exist")
    if args.format == "coco":
        from .coco import read_coco

        return read_coco(src, images_dir)
    if args.format == "via":
        from .via import read_via

        return read_via(src, images_dir, args.label_key, args.default_label)
    if args.format == "yolo":
        from .yolo import read_yolo

        return read_yolo(src, Path(args.names) if args.names else None)
    if args.format == "labelme":
        from .labelme_import import read_labelme

        return read_labelme(src)
    raise FormatError(src, f"unknown import format {args.format!r}")


def import_into_project(args: argparse.Namespace,
                        progress: Callable[[int, int, str], None] | None = None) -> ImportSummary:
    """The import the CLI and the window run: parse the source whole, then write it into the
    project; `progress(done, total, item)` is called per image while writing."""
    plan = read_source(args)  # parse everything first: a broken source changes nothing
    project = Project.open(args.project)
    return apply_import(project, plan, link=bool(args.link), overwrite=bool(args.overwrite), progress=progress)


def import_report(args: argparse.Namespace, summary: ImportSummary) -> str:
    """What `main.py import` prints, and what the window's import dialog shows."""
    return f"imported {args.format} from {args.src} into {args.project}\n{summary.text()}"


def run_import(args: argparse.Namespace) -> int:
    summary = import_into_project(args)
    print(import_report(args, summary))
    return 0


def export_project(args: argparse.Namespace) -> str:
    """The export the CLI and the window run; returns the report `main.py export` prints."""
    project = Project.open(args.project, create=False)
    out = Path(args.out).expanduser().resolve()
    problems: list[str] = []
    if args.format == "coco":
        from .coco import write_coco

        counts = write_coco(project, out, problems)
    else:
        from .yolo import write_yolo

        counts = write_yolo(project, out, problems)
    lines = [f"exported {args.format} to {out}: " + ", ".join(f"{v} {k}" for k, v in counts.items())]
    lines += [f"  skipped: {problem}" for problem in problems]
    return "\n".join(lines)


def run_export(args: argparse.Namespace) -> int:
    print(export_project(args))
    return 0
