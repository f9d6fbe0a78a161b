"""Objectness maps: per feature level, one cell per (cell anchor, row, column).

The ground-truth map holds the training assignment's label of each anchor (1 positive, 0
negative, -1 ignore: `preview_assignment`, i.e. `match_anchors`, the function the model's RPN
calls); the predicted map holds the sigmoid of the RPN head's objectness logit."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from core.anchors.config import IGNORE, NEGATIVE, POSITIVE

from core.training.rpn_probe import RPNOutputs

PREDICTED_POSITIVE = 0.5


@dataclass
class LevelMaps:
    level: int
    stride: tuple[int, int]  # model-input pixels per cell (rows, columns)
    grid: tuple[int, int]  # (H, W)
    gt: np.ndarray  # int8 (A, H, W)
    predicted: np.ndarray  # float32 (A, H, W) in 0..1

    def summary(self) -> dict[str, int]:
        return summarise(self.gt, self.predicted)

    def cells(self, anchor: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(gt, predicted) (H, W) maps of one cell anchor, or of all (anchor None): positive when
        any anchor is, else ignore when any is; the highest predicted value."""
        if anchor is not None:
            return self.gt[anchor], self.predicted[anchor]
        gt = np.full(self.grid, NEGATIVE, dtype=np.int8)
        gt[(self.gt == IGNORE).any(axis=0)] = IGNORE
        gt[(self.gt == POSITIVE).any(axis=0)] = POSITIVE
        return gt, self.predicted.max(axis=0)


def summarise(gt: np.ndarray, predicted: np.ndarray) -> dict[str, int]:
    high = predicted > PREDICTED_POSITIVE
    return {"positive_cells": int((gt == POSITIVE).sum()), "negative_cells": int((gt == NEGATIVE).sum()),
            "ignore_cells": int((gt == IGNORE).sum()),
            "positive_predicted_above_0.5": int(((gt == POSITIVE) & high).sum()),
            "negative_predicted_above_0.5": int(((gt == NEGATIVE) & high).sum())}


def objectness_maps(outputs: RPNOutputs) -> list[LevelMaps]:
    labels = outputs.preview.labels
    maps, offset = [], 0
    for lvl, ((h, w), a) in enumerate(zip(outputs.grid_sizes, outputs.anchors_per_location)):
        n = h * w * a
        # torchvision's anchor order within a level is (row, column, cell anchor)
        gt = labels[offset: offset + n].reshape(h, w, a).transpose(2, 0, 1)
        predicted = torch.sigmoid(outputs.level_logits[lvl].float()).numpy()
        maps.append(LevelMaps(lvl, outputs.strides[lvl], (h, w), np.ascontiguousarray(gt), predicted))
        offset += n
    return maps


def maps_to_json(outputs: RPNOutputs, maps: list[LevelMaps], level: int | None) -> dict[str, Any]:
    """The maps (all levels, or one) as nested lists [anchor][row][column], with summaries."""
    chosen = maps if level is None else [maps[level]]
    gt_all = np.concatenate([m.gt.reshape(-1) for m in chosen])
    pred_all = np.concatenate([m.predicted.reshape(-1) for m in chosen])
    return {
        "image": outputs.image.name,
        "input_size": {"height": outputs.input_hw[0], "width": outputs.input_hw[1]},
        "labels": {"positive": POSITIVE, "negative": NEGATIVE, "ignore": IGNORE},
        "summary": summarise(gt_all, pred_all),
        "levels": [{"level": m.level, "stride": list(m.stride), "grid": list(m.grid), "anchors": int(m.gt.shape[0]),
                    "summary": m.summary(), "gt": m.gt.tolist(),
                    "predicted": np.round(m.predicted.astype(np.float64), 5).tolist()} for m in chosen],
    }
