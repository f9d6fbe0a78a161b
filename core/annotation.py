"""The annotation data model: an image record and its shapes, with numpy points and no Qt.

Coordinates are pixels in the EXIF-oriented frame of the photo (x right, y down), as labelme
stores them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SHAPE_TYPES = ("polygon", "rectangle", "mask", "circle", "line", "linestrip", "point", "points")
REGION_TYPES = ("polygon", "rectangle", "mask", "circle")  # shapes that cover an area

FLAG_REVIEWED = "reviewed"
FLAG_NEEDS_WORK = "needs_work"
SHAPE_FLAG_OCCLUDED = "occluded"


def as_points(points: Any) -> np.ndarray:
    """Points as a float64 (N, 2) array."""
    arr = np.asarray(points, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.float64)
    return arr.reshape(-1, 2)


@dataclass(eq=False)
class Shape:
    """One labelme shape. `extra` holds JSON keys this program does not know, kept on save."""

    label: str
    points: np.ndarray
    shape_type: str = "polygon"
    group_id: int | None = None
    description: str = ""
    flags: dict[str, Any] = field(default_factory=dict)
    mask: str | None = None  # labelme's base64 PNG of the mask inside the `points` box
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.points = as_points(self.points)

    def copy(self) -> "Shape":
        return Shape(
            label=self.label,
            points=self.points.copy(),
            shape_type=self.shape_type,
            group_id=self.group_id,
            description=self.description,
            flags=copy.deepcopy(self.flags),
            mask=self.mask,
            extra=copy.deepcopy(self.extra),
        )

    def polygon_points(self) -> np.ndarray:
        """The outline as a polygon: a rectangle's two corners become four, a circle 32 points."""
        if self.shape_type == "rectangle" and len(self.points) == 2:
            (x1, y1), (x2, y2) = self.points
            return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float64)
        if self.shape_type == "circle" and len(self.points) == 2:
            center, edge = self.points
            r = float(np.hypot(*(edge - center)))
            t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
            return np.stack([center[0] + r * np.cos(t), center[1] + r * np.sin(t)], axis=1)
        return self.points

    def bbox(self) -> tuple[float, float, float, float]:
        """(x1, y1, x2, y2) of the outline."""
        pts = self.polygon_points()
        if len(pts) == 0:
            return (0.0, 0.0, 0.0, 0.0)
        x1, y1 = pts.min(axis=0)
        x2, y2 = pts.max(axis=0)
        return (float(x1), float(y1), float(x2), float(y2))

    @property
    def occluded(self) -> bool:
        return bool(self.flags.get(SHAPE_FLAG_OCCLUDED, False))

    def same_content(self, other: "Shape") -> bool:
        return (
            self.label == other.label
            and self.shape_type == other.shape_type
            and self.group_id == other.group_id
            and self.description == other.description
            and self.flags == other.flags
            and self.mask == other.mask
            and self.extra == other.extra
            and self.points.shape == other.points.shape
            and bool(np.allclose(self.points, other.points))
        )


@dataclass(eq=False)
class Annotation:
    """One image's annotation, the content of one LabelMe JSON file."""

    image_path: str
    image_height: int
    image_width: int
    shapes: list[Shape] = field(default_factory=list)
    flags: dict[str, Any] = field(default_factory=dict)
    version: str = "5.5.0"
    image_data: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def reviewed(self) -> bool:
        return bool(self.flags.get(FLAG_REVIEWED, False))

    @property
    def needs_work(self) -> bool:
        return bool(self.flags.get(FLAG_NEEDS_WORK, False))

    def region_shapes(self) -> list[Shape]:
        return [s for s in self.shapes if s.shape_type in REGION_TYPES]

    def instances(self) -> list[tuple[str, list[Shape]]]:
        """Objects as (label, parts): shapes with the same label and group_id are one instance;
        a shape without group_id is an instance of its own. Only area shapes count."""
        grouped: dict[tuple[str, int], list[Shape]] = {}
        result: list[tuple[str, list[Shape]]] = []
        for shape in self.region_shapes():
            if shape.group_id is None:
                result.append((shape.label, [shape]))
                continue
            key = (shape.label, shape.group_id)
            if key not in grouped:
                grouped[key] = []
                result.append((shape.label, grouped[key]))
            grouped[key].append(shape)
        return result

    def label_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for label, _ in self.instances():
            counts[label] = counts.get(label, 0) + 1
        return counts

    def copy(self) -> "Annotation":
        return Annotation(
            image_path=self.image_path,
            image_height=self.image_height,
            image_width=self.image_width,
            shapes=[s.copy() for s in self.shapes],
            flags=copy.deepcopy(self.flags),
            version=self.version,
            image_data=self.image_data,
            extra=copy.deepcopy(self.extra),
        )
