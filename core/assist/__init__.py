"""Assisted polygons: a box and a few clicks become a polygon.

Two methods, one result type:
* GrabCut (grabcut.py): no model, OpenCV's GrabCut on a crop around the box;
* the project's model (core/training/mask_assist.py): the Mask R-CNN mask head run on the box as a given
  proposal, on backbone features computed once per image.
Both return a masks.CropMask. `methods.py` picks the method, `commands.py` is `main.py assist`,
`uncertainty.py` ranks images by how unsure a prediction run was. No Qt here; this package's
root imports nothing heavy, so the CLI parser can read `arguments.py` at once.
"""
from __future__ import annotations

from core.errors import MasklabError

Point = tuple[float, float]
Box = tuple[float, float, float, float]

METHOD_GRABCUT = "grabcut"
METHOD_MODEL = "model"
METHODS = (METHOD_GRABCUT, METHOD_MODEL)


class AssistError(MasklabError):
    """An assisted polygon cannot be made (a bad box, an unusable checkpoint)."""
