"""Errors that name the file and the problem, so every layer can show them as they are."""
from __future__ import annotations

from pathlib import Path


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
