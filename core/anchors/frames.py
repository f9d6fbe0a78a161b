"""The size the training dataset resizes a photo to (before the model's own transform), shared by
core.training.dataset and the anchor preview so both see the same frame."""
from __future__ import annotations


def resize_scale(height: int, width: int, min_size: int, max_size: int) -> float:
    """GeneralizedRCNNTransform's resize factor."""
    return min(min_size / min(height, width), max_size / max(height, width))


def training_frame_hw(height: int, width: int, min_size: int, max_size: int) -> tuple[int, int]:
    """(h, w) of the dataset's cached image: each side int(side * scale), at least 1 pixel (a
    7x4800 strip stays one row high instead of vanishing)."""
    scale = resize_scale(height, width, min_size, max_size)
    return max(1, int(height * scale)), max(1, int(width * scale))
