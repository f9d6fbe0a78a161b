"""The arguments of `main.py assist` (imported by the CLI parser: nothing heavy here)."""
from __future__ import annotations

import argparse
import math
from typing import Any

from . import Box, Point


def parse_numbers(text: str, count: int, what: str) -> tuple[float, ...]:
    """"X,Y" or "X1,Y1,X2,Y2" as floats; argparse shows the ArgumentTypeError."""
    try:
        values = tuple(float(p) for p in text.replace(" ", "").split(","))
    except ValueError:
        values = ()
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"{what}: expected {count} comma-separated numbers, got {text!r}")
    return values


def box_arg(text: str) -> Box:
    return parse_numbers(text, 4, "--box X1,Y1,X2,Y2")  # type: ignore[return-value]


def point_arg(text: str) -> Point:
    return parse_numbers(text, 2, "click X,Y")  # type: ignore[return-value]


def add_assist_arguments(sub: Any) -> None:
    a = sub.add_parser("assist", help="a box (and clicks) to a polygon, with GrabCut or the project's model")
    a.add_argument("--project", required=True)
    a.add_argument("--image", required=True, help="image path relative to the project (or its name)")
    a.add_argument("--box", required=True, type=box_arg, metavar="X1,Y1,X2,Y2")
    a.add_argument("--positive", nargs="+", action="extend", type=point_arg, default=[], metavar="X,Y",
                   help="points on the object")
    a.add_argument("--negative", nargs="+", action="extend", type=point_arg, default=[], metavar="X,Y",
                   help="points on the background")
    how = a.add_mutually_exclusive_group()
    how.add_argument("--checkpoint", help="a Masklab checkpoint (default: the project's choice, else its newest best.pt)")
    how.add_argument("--method", choices=["grabcut", "model"], help="grabcut (no model) or the project's model")
    a.add_argument("--label", help="label of the shape (default: the project's first label)")
    a.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    a.add_argument("--json", action="store_true")
    a.add_argument("--write", action="store_true", help="add the polygon to the image's LabelMe file")
