"""Edit operations behind the window's actions: each builds one command for the open image.

Every function returns a short message for the status bar ("" when there is nothing to say).
"""
from __future__ import annotations

import json

import numpy as np
from PySide6.QtWidgets import QApplication

from core.annotation import FLAG_NEEDS_WORK, FLAG_REVIEWED, SHAPE_FLAG_OCCLUDED, Shape
from core.errors import AnnotationError
from core.labelme_json import shape_from_dict, shape_to_dict

from .commands import AddShapes, DeleteShapes, Relabel, SetGroup, SetImageFlags, SetShapeFlag
from .document import Document

CLIPBOARD_MIME_KEY = "masklab-shapes"
DUPLICATE_OFFSET = 10.0
_clipboard: list[Shape] = []


def _need_selection(doc: Document) -> str:
    return "" if doc.selection else "Select a shape first"


def delete_selected(doc: Document) -> str:
    if not doc.selection:
        return _need_selection(doc)
    locked = doc.locked_among(doc.selection)
    if locked:
        return f"{len(locked)} selected shape(s) locked: unlock them in the Shapes dock to delete them"
    n = len(doc.selection)
    return f"Deleted {n} shape(s)" if doc.push(DeleteShapes(doc, doc.selection)) else ""


def duplicate_selected(doc: Document) -> str:
    if not doc.selection:
        return _need_selection(doc)
    copies = [s.copy() for s in doc.selected_shapes()]
    for c in copies:
        c.points = c.points + DUPLICATE_OFFSET
    return "Duplicated" if doc.push(AddShapes(doc, copies, "Duplicate")) else ""


def copy_selected(doc: Document) -> str:
    if not doc.selection:
        return _need_selection(doc)
    _clipboard[:] = [s.copy() for s in doc.selected_shapes()]
    text = json.dumps({CLIPBOARD_MIME_KEY: [shape_to_dict(s) for s in _clipboard]})
    QApplication.clipboard().setText(text)
    return f"Copied {len(_clipboard)} shape(s)"


def _clipboard_shapes() -> list[Shape]:
    """Shapes from the system clipboard when it holds ours (another window), else the last copy."""
    try:
        data = json.loads(QApplication.clipboard().text() or "null")
        if isinstance(data, dict) and CLIPBOARD_MIME_KEY in data:
            return [shape_from_dict(d, i) for i, d in enumerate(data[CLIPBOARD_MIME_KEY])]
    except (ValueError, AnnotationError):
        pass
    return [s.copy() for s in _clipboard]


def paste(doc: Document) -> str:
    shapes = _clipboard_shapes()
    if not shapes:
        return "Nothing to paste: copy shapes first (Ctrl+C)"
    ann = doc.annotation
    if ann is not None and ann.image_width and ann.image_height:  # keep pasted shapes on the photo
        for s in shapes:
            s.points[:, 0] = np.clip(s.points[:, 0], 0, ann.image_width)
            s.points[:, 1] = np.clip(s.points[:, 1], 0, ann.image_height)
    return f"Pasted {len(shapes)} shape(s)" if doc.push(AddShapes(doc, shapes, "Paste")) else ""


def assign_label(doc: Document, label: str) -> str:
    """Label the selected shapes, or (nothing selected) the next shape drawn."""
    doc.current_label = label
    if not doc.selection:
        return f"Next shape: {label}"
    return f"Labelled {label}" if doc.push(Relabel(doc, doc.selection, label)) else ""


def merge_instance(doc: Document) -> str:
    """The selected polygons become one object: one group_id (an existing one, or a new one)."""
    shapes = doc.selected_shapes()
    if len(shapes) < 2:
        return "Select two or more shapes of one object to merge them"
    if len({s.label for s in shapes}) > 1:
        return "Cannot merge shapes with different labels into one object"
    existing = [s.group_id for s in shapes if s.group_id is not None]
    used = [s.group_id for s in doc.annotation.shapes if s.group_id is not None]
    group = min(existing) if existing else (max(used) + 1 if used else 1)
    return f"Merged into instance {group}" if doc.push(SetGroup(doc, doc.selection, group)) else ""


def split_instance(doc: Document) -> str:
    if not doc.selection:
        return _need_selection(doc)
    return "Split into separate instances" if doc.push(SetGroup(doc, doc.selection, None)) else ""


def set_review(doc: Document, flag: str) -> str:
    """Toggle FLAG_REVIEWED or FLAG_NEEDS_WORK on the image; the two exclude each other."""
    ann = doc.annotation
    if ann is None:
        return ""
    turn_on = not bool(ann.flags.get(flag, False))
    other = FLAG_NEEDS_WORK if flag == FLAG_REVIEWED else FLAG_REVIEWED
    changes = {flag: turn_on}
    if turn_on:
        changes[other] = False
    text = ("Marked " if turn_on else "Unmarked ") + ("reviewed" if flag == FLAG_REVIEWED else "needs work")
    return text if doc.push(SetImageFlags(doc, changes, text)) else ""


def toggle_occluded(doc: Document) -> str:
    shapes = doc.selected_shapes()
    if not shapes:
        return _need_selection(doc)
    value = not all(s.occluded for s in shapes)
    return ("Occluded" if value else "Not occluded") if doc.push(
        SetShapeFlag(doc, doc.selection, SHAPE_FLAG_OCCLUDED, value)) else ""
