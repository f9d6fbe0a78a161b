"""Errors that name the file and the problem, so every layer can show them as they are."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np


class MasklabError(Exception):
    """Base error: `path` is the file concerned (or None), `reason` says what is wrong."""

    def __init__(self, path: str | Path | None, reason: str):
        self.path = Path(path) if path is not None else None
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path is not None else reason)


class ImageError(MasklabError):
    """An image could not be read or decoded."""


class AnnotationError(MasklabError):
    """An annotation file could not be parsed; it must never be overwritten."""


class FormatError(MasklabError):
    """An import source (COCO, VIA, YOLO, LabelMe) is malformed."""


class ProjectError(MasklabError):
    """The project folder or its project file is unusable."""


# LabelMe, COCO and VIA files nest about 6 deep; far deeper nesting is hostile or broken, and would
# overflow the recursion of the copies and writers downstream long before the parser's own limit.
MAX_JSON_DEPTH = 100


def json_nesting_depth(raw: bytes) -> int:
    """How deep lists and objects nest in JSON text, counted on the bytes (no recursion, no
    parsing): brackets inside strings are left out by tracking the quotes that are not escaped."""
    cleaned = raw.replace(b"\\\\", b"__").replace(b'\\"', b"__")
    chars = np.frombuffer(cleaned, dtype=np.uint8)
    inside = np.bitwise_xor.accumulate((chars == ord('"')).astype(np.uint8))
    outside = inside == 0
    step = (((chars == ord("[")) | (chars == ord("{"))) & outside).astype(np.int8)
    step -= (((chars == ord("]")) | (chars == ord("}"))) & outside).astype(np.int8)
    events = step[np.flatnonzero(step)]
    return int(np.cumsum(events, dtype=np.int64).max()) if events.size else 0


def read_json_file(path: Path, error: type[MasklabError]) -> Any:
    """Parse a JSON file; an unreadable, empty, non-UTF-8, malformed or absurdly nested file raises
    `error` naming the file and the parser's reason."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise error(path, f"cannot read: {e.strerror or e}") from e
    if not raw.strip():
        raise error(path, "the file is empty")
    depth = json_nesting_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise error(path, f"not usable JSON: lists or objects nested {depth} deep (at most {MAX_JSON_DEPTH})")
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise error(path, f"not UTF-8 text ({e.reason} at byte {e.start})") from e
    except json.JSONDecodeError as e:
        raise error(path, f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    except RecursionError as e:
        raise error(path, f"not usable JSON: lists or objects nested too deep ({e})") from e
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        raise error(path, f"not usable JSON: {e}") from e
    except MemoryError as e:
        raise error(path, "not usable JSON: it needs more memory than is available") from e


def finite_number(value: Any) -> bool:
    """A JSON number (not a bool) that fits a finite float: 10**400 or NaN do not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False
