"""Small undoable edits of one image's annotation, each a QUndoCommand.

A command captures the Annotation it edits (not the document's current one), stores only what it
changes (indices, points, labels), and reports back through `Document.notify_edit`, which redraws
the changed shapes and moves the selection. The document pushes commands onto that image's own
QUndoStack, so history survives switching images.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtGui import QUndoCommand

from core.annotation import Annotation, Shape

if TYPE_CHECKING:
    from .document import Document

_MERGE_MOVE_VERTEX = 1
_MERGE_MOVE_SHAPES = 2


class AnnotationCommand(QUndoCommand):
    def __init__(self, doc: "Document", text: str):
        super().__init__(text)
        self.doc = doc
        self.ann: Annotation = doc.annotation

    def _notify(self, shapes: list[Shape] | None, select: list[int] | None = None) -> None:
        self.doc.notify_edit(self.ann, shapes, select)


class AddShapes(AnnotationCommand):
    """Append shapes at the end; the new shapes become the selection."""

    def __init__(self, doc: "Document", shapes: list[Shape], text: str = "Add shape"):
        super().__init__(doc, text)
        self.shapes = list(shapes)

    def redo(self) -> None:
        start = len(self.ann.shapes)
        self.ann.shapes.extend(self.shapes)
        self._notify(None, list(range(start, start + len(self.shapes))))

    def undo(self) -> None:
        del self.ann.shapes[len(self.ann.shapes) - len(self.shapes):]
        self._notify(None, [])


class DeleteShapes(AnnotationCommand):
    def __init__(self, doc: "Document", indices: list[int]):
        super().__init__(doc, "Delete shapes" if len(indices) > 1 else "Delete shape")
        self.removed = [(i, self.ann.shapes[i]) for i in sorted(set(indices))]

    def redo(self) -> None:
        for i, _ in reversed(self.removed):
            del self.ann.shapes[i]
        self._notify(None, [])

    def undo(self) -> None:
        for i, shape in self.removed:
            self.ann.shapes.insert(i, shape)
        self._notify(None, [i for i, _ in self.removed])


class MoveVertex(AnnotationCommand):
    """Move one vertex; consecutive moves of the same vertex in one drag merge into one step."""

    def __init__(self, doc: "Document", shape_index: int, vertex_index: int,
                 new_xy: tuple[float, float], drag_id: int = 0, old_xy: tuple[float, float] | None = None):
        super().__init__(doc, "Move vertex")
        self.shape = self.ann.shapes[shape_index]
        self.vertex_index = vertex_index
        self.old = tuple(self.shape.points[vertex_index]) if old_xy is None else tuple(old_xy)
        self.new = (float(new_xy[0]), float(new_xy[1]))
        self.drag_id = drag_id

    def id(self) -> int:
        return _MERGE_MOVE_VERTEX

    def mergeWith(self, other: QUndoCommand) -> bool:
        if (not isinstance(other, MoveVertex) or other.shape is not self.shape or other.drag_id != self.drag_id
                or other.vertex_index != self.vertex_index or self.drag_id == 0):
            return False
        self.new = other.new
        return True

    def _set(self, xy: tuple[float, float]) -> None:
        self.shape.points[self.vertex_index] = xy
        self._notify([self.shape])

    def redo(self) -> None:
        self._set(self.new)

    def undo(self) -> None:
        self._set(self.old)


class InsertVertex(AnnotationCommand):
    """Insert a vertex at `position` (it becomes points[position]) of a polygon."""

    def __init__(self, doc: "Document", shape_index: int, position: int, xy: tuple[float, float]):
        super().__init__(doc, "Insert vertex")
        self.shape = self.ann.shapes[shape_index]
        self.position = position
        self.xy = (float(xy[0]), float(xy[1]))

    def redo(self) -> None:
        self.shape.points = np.insert(self.shape.points, self.position, self.xy, axis=0)
        self._notify([self.shape])

    def undo(self) -> None:
        self.shape.points = np.delete(self.shape.points, self.position, axis=0)
        self._notify([self.shape])


class RemoveVertex(AnnotationCommand):
    def __init__(self, doc: "Document", shape_index: int, vertex_index: int):
        super().__init__(doc, "Remove vertex")
        self.shape = self.ann.shapes[shape_index]
        self.vertex_index = vertex_index
        self.xy = tuple(self.shape.points[vertex_index])

    def redo(self) -> None:
        self.shape.points = np.delete(self.shape.points, self.vertex_index, axis=0)
        self._notify([self.shape])

    def undo(self) -> None:
        self.shape.points = np.insert(self.shape.points, self.vertex_index, self.xy, axis=0)
        self._notify([self.shape])


class MoveShapes(AnnotationCommand):
    """Translate whole shapes; the steps of one drag merge into one."""

    def __init__(self, doc: "Document", indices: list[int], dx: float, dy: float, drag_id: int = 0):
        super().__init__(doc, "Move shapes" if len(indices) > 1 else "Move shape")
        self.shapes = [self.ann.shapes[i] for i in indices]
        self.delta = np.array([dx, dy], dtype=np.float64)
        self.drag_id = drag_id

    def id(self) -> int:
        return _MERGE_MOVE_SHAPES

    def mergeWith(self, other: QUndoCommand) -> bool:
        if (not isinstance(other, MoveShapes) or self.drag_id == 0 or other.drag_id != self.drag_id
                or [id(s) for s in other.shapes] != [id(s) for s in self.shapes]):
            return False
        # QUndoStack.push has already run other.redo(), so the shapes moved; only the total counts
        self.delta = self.delta + other.delta
        return True

    def _shift(self, delta: np.ndarray) -> None:
        for shape in self.shapes:
            shape.points = shape.points + delta
        self._notify(list(self.shapes))

    def redo(self) -> None:
        self._shift(self.delta)

    def undo(self) -> None:
        self._shift(-self.delta)


class _SetShapeAttribute(AnnotationCommand):
    """Set one attribute on several shapes, remembering each old value."""

    attribute = ""

    def __init__(self, doc: "Document", indices: list[int], value: Any, text: str):
        super().__init__(doc, text)
        self.shapes = [self.ann.shapes[i] for i in indices]
        self.old = [self._get(s) for s in self.shapes]
        self.value = value

    def _get(self, shape: Shape) -> Any:
        return getattr(shape, self.attribute)

    def _put(self, shape: Shape, value: Any) -> None:
        setattr(shape, self.attribute, value)

    def redo(self) -> None:
        for s in self.shapes:
            self._put(s, self.value)
        self._notify(list(self.shapes))

    def undo(self) -> None:
        for s, v in zip(self.shapes, self.old):
            self._put(s, v)
        self._notify(list(self.shapes))


class Relabel(_SetShapeAttribute):
    attribute = "label"

    def __init__(self, doc: "Document", indices: list[int], label: str):
        super().__init__(doc, indices, label, f"Label as {label}")


class SetGroup(_SetShapeAttribute):
    """Set group_id (None splits the shapes into instances of their own)."""

    attribute = "group_id"

    def __init__(self, doc: "Document", indices: list[int], group_id: int | None):
        super().__init__(doc, indices, group_id, "Merge into one instance" if group_id is not None else "Split instance")


class SetDescription(_SetShapeAttribute):
    attribute = "description"

    def __init__(self, doc: "Document", indices: list[int], text: str):
        super().__init__(doc, indices, text, "Edit description")


class SetShapeFlag(_SetShapeAttribute):
    """Set (value True/False) one key of the shapes' `flags`; False removes the key."""

    def __init__(self, doc: "Document", indices: list[int], key: str, value: bool):
        self.key = key
        super().__init__(doc, indices, value, f"Set {key}" if value else f"Clear {key}")

    def _get(self, shape: Shape) -> Any:
        return shape.flags.get(self.key, None)

    def _put(self, shape: Shape, value: Any) -> None:
        if value in (None, False):
            shape.flags.pop(self.key, None)
        else:
            shape.flags[self.key] = value


class SetImageFlags(AnnotationCommand):
    """Set keys of the image's `flags` (reviewed / needs_work); False removes a key."""

    def __init__(self, doc: "Document", changes: dict[str, bool], text: str = "Review"):
        super().__init__(doc, text)
        self.changes = dict(changes)
        self.old = {k: self.ann.flags.get(k, None) for k in changes}

    @staticmethod
    def _apply(flags: dict[str, Any], values: dict[str, Any]) -> None:
        for k, v in values.items():
            if v in (None, False):
                flags.pop(k, None)
            else:
                flags[k] = v

    def redo(self) -> None:
        self._apply(self.ann.flags, self.changes)
        self._notify([])

    def undo(self) -> None:
        self._apply(self.ann.flags, self.old)
        self._notify([])
