"""Dataset statistics for anchor design: box area and aspect-ratio (height / width) histograms per
label and overall, suggested anchors (the histogram modes, and k-means with IoU distance on box
shapes) and how well an anchor configuration fits the objects, on the real anchor grid of each
resized image.

All sizes are in model-input pixels (each photo resized as the model's transform resizes it),
the scale anchors live in.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .assign import AnchorGrid, _pair_iou, build_anchor_generator
from .boxes import annotation_boxes
from .config import AnchorConfig
from .preview import feature_map_sizes, model_input_geometry

BIN_COUNTS = tuple(range(10, 101, 10))
FIT_GOOD_IOU = 0.7
FIT_POOR_IOU = 0.3


@dataclass
class DatasetObjects:
    """Every object of a project: its box in photo pixels, label and image."""

    boxes: np.ndarray                   # (N, 4) photo pixels
    labels: list[str]
    image_index: np.ndarray             # (N,) index into image_names / image_sizes
    image_names: list[str]
    image_sizes: list[tuple[int, int]]  # (w, h) from the annotation record
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, label: str | None) -> "DatasetObjects":
        if label is None:
            return self
        keep = np.array([l == label for l in self.labels], dtype=bool)
        return DatasetObjects(self.boxes[keep], [l for l in self.labels if l == label], self.image_index[keep],
                              self.image_names, self.image_sizes, self.warnings)


def collect_objects(project: Any) -> DatasetObjects:
    """Boxes of all instances of all annotated images; unreadable annotations become warnings."""
    boxes, labels, index, names, sizes, warnings = [], [], [], [], [], []
    for image, ann, error in project.iter_annotations():
        if error is not None:
            warnings.append(f"skipped: {error}")
            continue
        if ann is None:
            continue
        found = annotation_boxes(ann)
        if found.skipped:
            warnings.append(f"{project.annotation_path(image)}: {found.skipped} object(s) without area left out")
        if not len(found):
            continue
        names.append(image.as_posix())
        sizes.append((int(ann.image_width), int(ann.image_height)))
        boxes.append(found.boxes)
        labels += found.labels
        index += [len(names) - 1] * len(found)
    return DatasetObjects(np.concatenate(boxes) if boxes else np.zeros((0, 4)), labels,
                          np.asarray(index, dtype=np.int64), names, sizes, warnings)


def input_scales(objects: DatasetObjects, config: AnchorConfig) -> np.ndarray:
    """(x, y) factor from photo to model input of each image, as the model's transform resizes."""
    scales = np.ones((len(objects.image_sizes), 2))
    cache: dict[tuple[int, int], tuple[float, float]] = {}
    for i, (w, h) in enumerate(objects.image_sizes):
        if (w, h) not in cache:
            g = model_input_geometry((w, h), config)
            cache[(w, h)] = (g.resized_hw[1] / w, g.resized_hw[0] / h)
        scales[i] = cache[(w, h)]
    return scales


def input_boxes(objects: DatasetObjects, config: AnchorConfig) -> np.ndarray:
    if not len(objects):
        return np.zeros((0, 4))
    s = input_scales(objects, config)[objects.image_index]
    return objects.boxes * np.concatenate([s, s], axis=1)


# -- histograms ----------------------------------------------------------------------------------
@dataclass
class Histogram:
    """Log-spaced bins (areas and ratios span orders of magnitude): `edges` (bins + 1), `counts`,
    the mode bin [mode_low, mode_high) with its count and share of all objects; mean and variance
    of the raw values."""

    edges: np.ndarray
    counts: np.ndarray
    mode_index: int
    mean: float
    variance: float

    @property
    def mode_low(self) -> float:
        return float(self.edges[self.mode_index])

    @property
    def mode_high(self) -> float:
        return float(self.edges[self.mode_index + 1])

    @property
    def mode_center(self) -> float:
        """The geometric centre of the mode bin (the bins are even in log scale)."""
        return math.sqrt(self.mode_low * self.mode_high)

    @property
    def mode_count(self) -> int:
        return int(self.counts[self.mode_index]) if len(self.counts) else 0

    @property
    def mode_share(self) -> float:
        total = int(self.counts.sum())
        return self.mode_count / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"bins": len(self.counts), "edges": [round(float(e), 6) for e in self.edges],
                "counts": [int(c) for c in self.counts],
                "mode": {"low": round(self.mode_low, 6), "high": round(self.mode_high, 6),
                         "center": round(self.mode_center, 6), "count": self.mode_count,
                         "share": round(self.mode_share, 6)},
                "mean": round(self.mean, 6), "variance": round(self.variance, 6)}


def histogram(values: np.ndarray, bins: int) -> Histogram:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values) & (values > 0)]
    if len(values) == 0:
        return Histogram(np.array([1.0, 1.0]), np.zeros(1, dtype=np.int64), 0, float("nan"), float("nan"))
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        lo, hi = lo / 1.01, hi * 1.01
    edges = np.geomspace(lo, hi, bins + 1)
    counts, _ = np.histogram(values, bins=edges)
    return Histogram(edges, counts, int(np.argmax(counts)), float(values.mean()), float(values.var()))


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


# -- anchor fit on the real grids ----------------------------------------------------------------
@dataclass
class AnchorFit:
    """Per object: the best IoU with any anchor and the number of anchors at IoU >= good_iou."""

    best_iou: np.ndarray
    good_anchors: np.ndarray
    good_iou: float = FIT_GOOD_IOU
    poor_iou: float = FIT_POOR_IOU

    @property
    def objects(self) -> int:
        return len(self.best_iou)

    @property
    def share_good(self) -> float:
        """Objects with some anchor at IoU >= good_iou."""
        return float((self.good_anchors > 0).mean()) if self.objects else 0.0

    @property
    def mean_good_anchors(self) -> float:
        return float(self.good_anchors.mean()) if self.objects else 0.0

    @property
    def share_poor(self) -> float:
        """Objects whose best IoU is below poor_iou: only the low-quality rule gives them a positive."""
        return float((self.best_iou < self.poor_iou).mean()) if self.objects else 0.0

    def subset(self, rows: np.ndarray) -> "AnchorFit":
        return AnchorFit(self.best_iou[rows], self.good_anchors[rows], self.good_iou, self.poor_iou)

    def to_dict(self) -> dict[str, Any]:
        return {"objects": self.objects, "good_iou": self.good_iou, "poor_iou": self.poor_iou,
                "share_with_anchor_at_good_iou": round(self.share_good, 6),
                "mean_anchors_at_good_iou": round(self.mean_good_anchors, 6),
                "share_best_iou_below_poor": round(self.share_poor, 6),
                "mean_best_iou": round(float(self.best_iou.mean()) if self.objects else 0.0, 6)}


def _cell_rows(grid: AnchorGrid) -> np.ndarray:
    """One row per (level, cell anchor): x1 y1 x2 y2 of the cell anchor, stride_h, stride_w,
    grid_h, grid_w."""
    rows = [[*cell[a].tolist(), sh, sw, gh, gw]
            for (gh, gw), (sh, sw), cell in zip(grid.grid_sizes, grid.strides, grid.cell_anchors)
            for a in range(len(cell))]
    return np.array(rows, dtype=np.float64).reshape(-1, 8)


def _best_position(g1: np.ndarray, g2: np.ndarray, b1: np.ndarray, b2: np.ndarray, step: np.ndarray,
                   n: np.ndarray) -> np.ndarray:
    """Grid position along one axis whose anchor overlaps [g1, g2) the most: the overlap only
    falls as the anchor's centre moves away from the object's, so it is the nearest centre
    (clamped to the grid; the neighbours are checked against rounding)."""
    centre = np.rint(((g1 + g2) / 2 - (b1 + b2) / 2) / step)
    candidates = np.clip(centre[..., None] + np.array([-1.0, 0.0, 1.0]), 0, (n - 1)[..., None])
    lo, hi = b1[..., None] + candidates * step[..., None], b2[..., None] + candidates * step[..., None]
    overlap = np.minimum(g2[..., None], hi) - np.maximum(g1[..., None], lo)
    return np.take_along_axis(candidates, np.argmax(overlap, axis=-1)[..., None], axis=-1)[..., 0]


def _fit_on_grid(gt: np.ndarray, grid: AnchorGrid, good_iou: float) -> tuple[np.ndarray, np.ndarray]:
    """(best IoU, number of anchors at IoU >= good_iou) of each object on one anchor grid. The
    best anchor per (object, cell anchor) is found per axis (IoU grows with the intersection, the
    product of the two axes' overlaps); only around it are anchors enumerated and counted. IoUs
    use box_iou's float32 arithmetic."""
    cells = _cell_rows(grid)
    g = gt[:, None, :]                                               # (N, 1, 4) against (K,) cells
    bx1, by1, bx2, by2, sh, sw, gh, gw = (np.broadcast_to(cells[:, c], (len(gt), len(cells))) for c in range(8))
    j = _best_position(g[..., 0], g[..., 2], bx1, bx2, sw, gw)
    i = _best_position(g[..., 1], g[..., 3], by1, by2, sh, gh)
    best_boxes = np.stack([bx1 + j * sw, by1 + i * sh, bx2 + j * sw, by2 + i * sh], axis=-1)
    gt32 = torch.as_tensor(np.broadcast_to(g, best_boxes.shape).reshape(-1, 4).copy(), dtype=torch.float32)
    best_iou = _pair_iou(gt32, torch.as_tensor(best_boxes.reshape(-1, 4), dtype=torch.float32)).numpy()
    best_iou = best_iou.reshape(len(gt), len(cells))

    # IoU >= t needs intersection >= c = t (area_g + area_a) / (1 + t); with the other axis at its
    # best, one axis's overlap must reach c / best_other, which bounds the centre distance.
    n_good = np.zeros(len(gt), dtype=np.int64)
    obj, cell = np.nonzero(best_iou >= good_iou)
    if len(obj):
        gb, cb = gt[obj], cells[cell]
        wg, hg = gb[:, 2] - gb[:, 0], gb[:, 3] - gb[:, 1]
        wa, ha = cb[:, 2] - cb[:, 0], cb[:, 3] - cb[:, 1]
        need = good_iou * (wg * hg + wa * ha) / (1 + good_iou)
        best_ix = np.minimum(gb[:, 2], cb[:, 2] + j[obj, cell] * cb[:, 5]) - np.maximum(gb[:, 0], cb[:, 0] + j[obj, cell] * cb[:, 5])
        best_iy = np.minimum(gb[:, 3], cb[:, 3] + i[obj, cell] * cb[:, 4]) - np.maximum(gb[:, 1], cb[:, 1] + i[obj, cell] * cb[:, 4])
        reach_x = np.ceil(((wg + wa) / 2 - need / best_iy) / cb[:, 5]) + 1   # cells either side, with a margin
        reach_y = np.ceil(((hg + ha) / 2 - need / best_ix) / cb[:, 4]) + 1
        j0 = np.clip(j[obj, cell] - reach_x, 0, cb[:, 7] - 1)
        j1 = np.clip(j[obj, cell] + reach_x, 0, cb[:, 7] - 1)
        i0 = np.clip(i[obj, cell] - reach_y, 0, cb[:, 6] - 1)
        i1 = np.clip(i[obj, cell] + reach_y, 0, cb[:, 6] - 1)
        nj, ni = (j1 - j0 + 1).astype(np.int64), (i1 - i0 + 1).astype(np.int64)
        counts = ni * nj
        combo = np.repeat(np.arange(len(obj)), counts)
        r = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        jj, ii = j0[combo] + r % nj[combo], i0[combo] + r // nj[combo]
        c = cb[combo]
        anchors = np.stack([c[:, 0] + jj * c[:, 5], c[:, 1] + ii * c[:, 4], c[:, 2] + jj * c[:, 5], c[:, 3] + ii * c[:, 4]], 1)
        iou = _pair_iou(torch.as_tensor(gb[combo], dtype=torch.float32), torch.as_tensor(anchors, dtype=torch.float32))
        hits = (iou >= good_iou).numpy()
        n_good = np.bincount(obj[combo[hits]], minlength=len(gt))
    return best_iou.max(axis=1), n_good


def anchor_fit(objects: DatasetObjects, config: AnchorConfig, good_iou: float = FIT_GOOD_IOU,
               poor_iou: float = FIT_POOR_IOU) -> AnchorFit:
    """For every object, the anchors of the grid of its own resized and padded image (images of
    one padded size share a grid and are done together)."""
    n = len(objects)
    best = np.zeros(n)
    good = np.zeros(n, dtype=np.int64)
    if n:
        boxes = input_boxes(objects, config).astype(np.float32).astype(np.float64)  # the model's float32 boxes
        geometry = {size: model_input_geometry(size, config) for size in set(objects.image_sizes)}
        padded = np.array([geometry[s].padded_hw for s in objects.image_sizes]).reshape(-1, 2)[objects.image_index]
        generator = build_anchor_generator(config)
        for hw in {tuple(p) for p in padded.tolist()}:
            rows = np.flatnonzero((padded[:, 0] == hw[0]) & (padded[:, 1] == hw[1]))
            grid = AnchorGrid.from_generator(generator, hw, feature_map_sizes(hw, config))
            best[rows], good[rows] = _fit_on_grid(boxes[rows], grid, good_iou)
    return AnchorFit(best, good, good_iou, poor_iou)


# -- the whole report ----------------------------------------------------------------------------
@dataclass
class GroupStats:
    """Statistics of one label (or all objects, label None)."""

    label: str | None
    count: int
    area: dict[int, Histogram]      # bin count -> histogram of box areas (input px^2)
    ratio: dict[int, Histogram]     # bin count -> histogram of height / width
    kmeans: np.ndarray              # (k, 2) widths and heights
    kmeans_mean_iou: float
    fit: AnchorFit

    def mode_anchor(self, bins: int) -> tuple[float, float]:
        """(size, ratio) of the mode bins: size is the square root of the mode area."""
        return math.sqrt(self.area[bins].mode_center), self.ratio[bins].mode_center

    def to_dict(self, bins: int) -> dict[str, Any]:
        size, ratio = self.mode_anchor(bins) if self.count else (float("nan"), float("nan"))
        return {
            "label": self.label, "objects": self.count,
            "area": {str(b): h.to_dict() for b, h in self.area.items()},
            "aspect_ratio": {str(b): h.to_dict() for b, h in self.ratio.items()},
            "suggested": {
                "mode": {"bins": bins, "size": round(size, 3), "ratio": round(ratio, 4)},
                "kmeans": [{"width": round(float(w), 3), "height": round(float(h), 3),
                            "size": round(math.sqrt(w * h), 3), "ratio": round(float(h / w), 4)}
                           for w, h in self.kmeans],
                "kmeans_mean_iou": round(self.kmeans_mean_iou, 6),
            },
            "anchor_fit": self.fit.to_dict(),
        }


def group_stats(boxes: np.ndarray, fit: AnchorFit, label: str | None, k: int = 5,
                bin_counts: tuple[int, ...] = BIN_COUNTS, seed: int = 0) -> GroupStats:
    """Statistics of one group of objects from their model-input boxes and anchor fit."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    area, ratio = w * h, h / w  # annotation_boxes keeps only boxes with area
    wh = np.stack([w, h], axis=1)
    centroids = kmeans_anchors(wh, k, seed=seed)
    return GroupStats(label, len(boxes), {b: histogram(area, b) for b in bin_counts},
                      {b: histogram(ratio, b) for b in bin_counts}, centroids, mean_best_iou(wh, centroids), fit)


@dataclass
class DatasetStats:
    config: AnchorConfig
    overall: GroupStats
    per_label: list[GroupStats]
    warnings: list[str]

    def to_dict(self, bins: int = 20) -> dict[str, Any]:
        return {"units": "model-input pixels", "min_size": self.config.min_size, "max_size": self.config.max_size,
                "overall": self.overall.to_dict(bins), "per_label": [g.to_dict(bins) for g in self.per_label],
                "warnings": self.warnings}


def dataset_stats(objects: DatasetObjects, config: AnchorConfig, label: str | None = None, k: int = 5,
                  bin_counts: tuple[int, ...] = BIN_COUNTS, seed: int = 0) -> DatasetStats:
    """Statistics overall (or of `label` only) and per label."""
    chosen = objects.select(label)
    boxes = input_boxes(chosen, config)
    fit = anchor_fit(chosen, config)
    names = np.array(chosen.labels, dtype=object)
    per_label = []
    for name in sorted(set(chosen.labels)):
        rows = np.flatnonzero(names == name)
        per_label.append(group_stats(boxes[rows], fit.subset(rows), name, k, bin_counts, seed))
    overall = group_stats(boxes, fit, label, k, bin_counts, seed)
    return DatasetStats(config, overall, per_label, list(objects.warnings))


def config_from_anchors(anchors: list[tuple[float, float]], base: AnchorConfig) -> AnchorConfig:
    """An AnchorConfig that uses chosen (width, height) anchors, the rest of `base` kept.

    torchvision's AnchorGenerator takes every size with every ratio on a level, and an FPN's
    shared RPN head needs the same count on every level, so: for an FPN the level sizes stay and
    the ratios become the anchors' distinct height / width ratios (2 decimals) on every level;
    for a single-level config the sizes become the anchors' distinct sizes (sqrt(w h), rounded)
    and the ratios their distinct ratios."""
    if not anchors:
        raise ValueError("no anchors chosen")
    ratios = tuple(sorted({round(h / w, 2) for w, h in anchors}))
    if base.strides is None:
        return dataclasses.replace(base, aspect_ratios=(ratios,) * len(base.sizes))
    sizes = tuple(sorted({max(1, int(round(math.sqrt(w * h)))) for w, h in anchors}))
    return dataclasses.replace(base, sizes=(sizes,), aspect_ratios=(ratios,))
