"""Distributions of box shapes: histograms with log-spaced or linear bins whose mode row carries
the mean and variance of the mode bin's values (the study's table), and YOLO-style k-means on
(width, height) with an IoU distance."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

# -- histograms ----------------------------------------------------------------------------------
LOG, LINEAR = "log", "linear"


@dataclass
class Histogram:
    """`edges` (bins + 1; log-spaced or linear), `counts`, the mode bin [mode_low, mode_high) with
    its count and share of all objects, and the mean and variance of the values in the mode bin."""

    edges: np.ndarray
    counts: np.ndarray
    mode_index: int
    mean: float        # of the values in the mode bin
    variance: float    # of the values in the mode bin (population variance)
    scale: str = LOG

    @property
    def bins(self) -> int:
        return len(self.counts)

    @property
    def mode_low(self) -> float:
        return float(self.edges[self.mode_index])

    @property
    def mode_high(self) -> float:
        return float(self.edges[self.mode_index + 1])

    @property
    def mode_center(self) -> float:
        """The centre of the mode bin: geometric for log bins, arithmetic for linear ones."""
        if self.scale == LOG:
            return math.sqrt(self.mode_low * self.mode_high)
        return (self.mode_low + self.mode_high) / 2

    @property
    def mode_count(self) -> int:
        return int(self.counts[self.mode_index]) if len(self.counts) else 0

    @property
    def mode_share(self) -> float:
        total = int(self.counts.sum())
        return self.mode_count / total if total else 0.0

    def mode_row(self) -> dict[str, Any]:
        """The study's table row: bin count, mode bin number (from 1), count, mean, variance, share."""
        return {"bins": self.bins, "mode_bin": self.mode_index + 1, "count": self.mode_count,
                "mean": self.mean, "variance": self.variance, "share": self.mode_share}

    def to_dict(self) -> dict[str, Any]:
        return {"bins": self.bins, "scale": self.scale, "edges": [round(float(e), 6) for e in self.edges],
                "counts": [int(c) for c in self.counts],
                "mode": {"bin": self.mode_index + 1, "low": round(self.mode_low, 6), "high": round(self.mode_high, 6),
                         "center": round(self.mode_center, 6), "count": self.mode_count,
                         "share": round(self.mode_share, 6), "mean": round(self.mean, 6),
                         "variance": round(self.variance, 6)}}


def histogram(values: np.ndarray, bins: int, scale: str = LOG) -> Histogram:
    """`bins` bins between the smallest and largest value (log-spaced or linear); the mode is the
    first fullest bin. Bins are [low, high), the last one closed."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values) & (values > 0)] if scale == LOG else values[np.isfinite(values)]
    if len(values) == 0:
        return Histogram(np.array([1.0, 1.0]), np.zeros(1, dtype=np.int64), 0, float("nan"), float("nan"), scale)
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        lo, hi = (lo / 1.01, hi * 1.01) if scale == LOG else (lo - 0.5, hi + 0.5)
    edges = np.geomspace(lo, hi, bins + 1) if scale == LOG else np.linspace(lo, hi, bins + 1)
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins).astype(np.int64)
    mode = int(np.argmax(counts))
    members = values[index == mode]
    return Histogram(edges, counts, mode, float(members.mean()), float(members.var()), scale)


# -- k-means on box shapes -----------------------------------------------------------------------
def shape_iou(wh: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(N, K) IoU of boxes and centroids of the given widths and heights, aligned at one corner."""
    inter = np.minimum(wh[:, None, 0], centroids[None, :, 0]) * np.minimum(wh[:, None, 1], centroids[None, :, 1])
    union = (wh[:, 0] * wh[:, 1])[:, None] + (centroids[:, 0] * centroids[:, 1])[None, :] - inter
    return inter / union


def kmeans_anchors(wh: np.ndarray, k: int, seed: int = 0, iterations: int = 100) -> np.ndarray:
    """YOLO-style k-means with distance 1 - IoU on (width, height); k-means++ seeding; each
    centroid is the median of its members. Returns (k', 2) sorted by area (k' <= k when there
    are fewer distinct shapes)."""
    wh = np.asarray(wh, dtype=np.float64).reshape(-1, 2)
    distinct = np.unique(wh, axis=0)
    k = min(k, len(distinct))
    if k <= 0:
        return np.zeros((0, 2))
    rng = np.random.default_rng(seed)
    centroids = [distinct[rng.integers(len(distinct))]]
    for _ in range(1, k):
        d = 1.0 - shape_iou(distinct, np.array(centroids)).max(axis=1)
        p = d ** 2
        centroids.append(distinct[rng.choice(len(distinct), p=p / p.sum())] if p.sum() > 0 else distinct[0])
    c = np.array(centroids)
    assignment = None
    for _ in range(iterations):
        new = np.argmax(shape_iou(wh, c), axis=1)
        if assignment is not None and np.array_equal(new, assignment):
            break
        assignment = new
        for j in range(k):
            members = wh[assignment == j]
            if len(members):
                c[j] = np.median(members, axis=0)
    return c[np.argsort(c[:, 0] * c[:, 1])]


def mean_best_iou(wh: np.ndarray, centroids: np.ndarray) -> float:
    return float(shape_iou(wh, centroids).max(axis=1).mean()) if len(wh) and len(centroids) else 0.0
