"""Accepting predictions as one undoable step: their polygons (core.predictions.shapes_from_predictions,
simplified at the project's tolerance) are added to the annotation as ordinary shapes."""
from __future__ import annotations

from typing import TYPE_CHECKING

from core.predictions import Prediction, shapes_from_predictions

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
