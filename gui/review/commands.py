"""Accepting predictions: a mask becomes simplified polygons (core.geometry.mask_to_polygons), a
box becomes a rectangle-shaped polygon, and they are added to the annotation as one undoable step.
The parts of one mask share a group_id, so they stay one instance."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from core.annotation import Annotation, Shape
from core.geometry import mask_to_polygons

from ..commands import AddShapes

if TYPE_CHECKING:
    from ..document import Document

SIMPLIFY_TOLERANCE = 1.0  # pixels (Douglas-Peucker)
MIN_PART_AREA = 16.0  # square pixels: specks of a mask are not worth a polygon


def prediction_outlines(prediction: Any) -> list[np.ndarray]:
    """The polygons a prediction becomes: its mask's simplified outer contours, else its box."""
    if prediction.mask is not None:
        return mask_to_polygons(prediction.mask, tolerance=SIMPLIFY_TOLERANCE, min_area=MIN_PART_AREA)
    x1, y1, x2, y2 = prediction.box
    return [np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float64)]


def _next_group_id(annotation: Annotation, taken: set[int]) -> int:
    used = {s.group_id for s in annotation.shapes if s.group_id is not None} | taken
    return max(used, default=0) + 1


def shapes_from_predictions(annotation: Annotation, predictions: list[Any]) -> list[tuple[Any, list[Shape]]]:
    """(prediction, its new shapes) for each prediction that yields at least one polygon."""
    result = []
    taken: set[int] = set()
    for pred in predictions:
        outlines = prediction_outlines(pred)
        if not outlines:
            continue
        group = None
        if len(outlines) > 1:
            group = _next_group_id(annotation, taken)
            taken.add(group)
        shapes = [Shape(pred.label, pts, "polygon", group_id=group,
                        description=f"accepted prediction, score {pred.score:.2f}") for pts in outlines]
        result.append((pred, shapes))
    return result


class AcceptPredictions(AddShapes):
    """Add the polygons of one or more predictions; undo removes them again.

    `accepted` maps each prediction to its shapes, so the review layer can hide a prediction
    while its shapes are in the annotation (and show it again after undo)."""

    def __init__(self, doc: "Document", predictions: list[Any]):
        pairs = shapes_from_predictions(doc.annotation, predictions)
        shapes = [s for _, group in pairs for s in group]
        text = "Accept prediction" if len(pairs) == 1 else f"Accept {len(pairs)} predictions"
        super().__init__(doc, shapes, text)
        self.accepted = pairs

    def is_empty(self) -> bool:
        return not self.shapes
