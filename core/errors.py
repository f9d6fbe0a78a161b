"""Errors that name the file and the problem, so every layer can show them as they are."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


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


def read_json_file(path: Path, error: type[MasklabError]) -> Any:
    """Parse a JSON file; an unreadable, empty, non-UTF-8 or malformed file raises `error` naming
    the file and the parser's reason."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise error(path, f"cannot read: {e.strerror or e}") from e
    if not raw.strip():
        raise error(path, "the file is empty")
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise error(path, f"not UTF-8 text ({e.reason} at byte {e.start})") from e
    except json.JSONDecodeError as e:
        raise error(path, f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
