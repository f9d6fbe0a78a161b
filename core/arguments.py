"""Argument types for main.py: a value outside its range is refused by argparse with a one-line
error naming the argument and the allowed range (exit code 2), before any work starts."""
from __future__ import annotations

import argparse
import math


def _number(text: str, kind: type) -> float | int:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None


def positive_int(text: str) -> int:
    """An integer of at least 1 (epochs, batch size, image size, bins, images)."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is out of range: must be an integer of at least 1")
    return value


def non_negative_int(text: str) -> int:
    """An integer of at least 0 (workers, patience, seed)."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is out of range: must be an integer of at least 0")
    return value


def finite_positive_float(text: str) -> float:
    """A finite number above 0 (learning rate)."""
    value = _number(text, float)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is out of range: must be a finite number above 0")
    return value


def unit_interval(text: str) -> float:
    """A number from 0 to 1 (score thresholds, IoU thresholds)."""
    value = _number(text, float)
    if not 0 <= value <= 1:  # NaN fails too
        raise argparse.ArgumentTypeError(f"{text} is out of range: must be a number from 0 to 1")
    return value


def anchor_config_file(text: str) -> str:
    """'classic', or a JSON file of valid anchor settings (read now, so that a negative size or a
    missing file is an argument error)."""
    if text == "classic":
        return text
    from pathlib import Path

    from core.anchors.config import AnchorConfig
    from core.errors import MasklabError, read_json_file

    try:
        data = read_json_file(Path(text), MasklabError)
    except MasklabError as e:
        raise argparse.ArgumentTypeError(f"{e} (give a JSON file, or 'classic')") from None
    if isinstance(data, dict) and isinstance(data.get("anchors"), dict):
        data = data["anchors"]  # a whole settings section
    if not isinstance(data, dict):
        raise argparse.ArgumentTypeError(f"{text}: expected a JSON object with anchor settings (sizes, aspect_ratios, ...)")
    try:
        AnchorConfig.from_dict(data)
    except (TypeError, ValueError) as e:
        raise argparse.ArgumentTypeError(f"{text}: invalid anchor settings: {e}") from None
    return text
