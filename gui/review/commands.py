"""Accepting and rejecting predictions, each one undoable step on the image's stack. Accepting adds
their polygons (core.predictions.shapes_from_predictions, simplified at the project's tolerance) to
the annotation as ordinary shapes; rejecting takes them out of the predictions file."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtGui import QUndoCommand

from core.annotation import Shape
from core.errors import MasklabError
from core.predictions import ID_KEY, Prediction, remove_predictions, restore_predictions, shapes_from_predictions

from ..commands import AddShapes

if TYPE_CHECKING:
    from ..document import Document


class AcceptPredictions(AddShapes):
    """Add the polygons of one or more predictions (as `label` when given); undo removes them.

    The shapes carry their prediction's id, so the review dock hides a prediction while its
    shapes are in the annotation and shows it again after undo."""

    def __init__(self, doc: "Document", predictions: list[Prediction], tolerance: float, label: str | None = None):
        self.accepted = shapes_from_predictions(doc.annotation, predictions, tolerance, label)
        shapes = [s for _, group in self.accepted for s in group]
        text = "Accept prediction" if len(self.accepted) == 1 else f"Accept {len(self.accepted)} predictions"
        super().__init__(doc, shapes, text)

    def is_empty(self) -> bool:
        return not self.shapes


class RejectPredictions(QUndoCommand):
    """Predictions already taken out of the image's predictions file (`removed`, as
    remove_predictions returns them); undo puts them back, redo takes them out again. `reload`
    shows the file's content; `say` reports a file that cannot be rewritten."""

    def __init__(self, project: Any, image: Path, removed: list[tuple[int, Shape]],
                 reload: Callable[[], None], say: Callable[[str], None]):
        super().__init__("Reject prediction" if len(removed) == 1 else f"Reject {len(removed)} predictions")
        self.project, self.image, self.removed = project, image, removed
        self.reload, self.say = reload, say
        self._done = True  # the first redo (from push) finds the removal made

    def redo(self) -> None:
        if self._done:
            self._done = False
            return
        ids = [shape.extra[ID_KEY] for _, shape in self.removed]
        self._apply(lambda: remove_predictions(self.project, self.image, ids))

    def undo(self) -> None:
        self._apply(lambda: restore_predictions(self.project, self.image, self.removed))

    def _apply(self, change: Callable[[], object]) -> None:
        try:
            change()
        except (MasklabError, OSError) as e:
            self.say(f"Could not update the predictions of {self.image}: {e}")
        self.reload()
