"""Dataset statistics for anchor design: box area and aspect-ratio (height / width) histograms per
label and overall, suggested anchors (the histogram modes, and k-means with IoU distance on box
shapes) and how well an anchor configuration fits the objects, on the real anchor grid of each
resized image.

Boxes are the training boxes (core.anchors.boxes), taken to the model input exactly as training
takes them (core.anchors.preview.InputGeometry): the log-binned histograms, k-means and the fit
are in model-input pixels, the scale anchors live in; the linear-binned histograms (the study's
tables) are in photo pixels. Each histogram's mode row gives the mean and variance of the boxes
in the mode bin.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from core.errors import MasklabError
from core.images import image_size

from .assign import AnchorGrid, _pair_iou, build_anchor_generator, cell_rows
from .boxes import annotation_boxes, scale_boxes, usable_boxes
from .config import AnchorConfig
from .preview import feature_map_sizes, model_input_geometry
from .shapes import LINEAR, Histogram, histogram, kmeans_anchors, mean_best_iou

BIN_COUNTS = tuple(range(10, 101, 10))
FIT_GOOD_IOU = 0.7
FIT_POOR_IOU = 0.3


@dataclass
class DatasetObjects:
    """Every object of a project: its box in its annotation's pixels, label and image."""

    boxes: np.ndarray                   # (N, 4) annotation pixels
    labels: list[str]
    image_index: np.ndarray             # (N,) index into image_names / image_sizes
    image_names: list[str]
    image_sizes: list[tuple[int, int]]  # (w, h) of the photo (what training resizes)
    warnings: list[str] = field(default_factory=list)
    drawn_on: list[tuple[int, int]] | None = None  # (w, h) each annotation records; None: the photo's

    def __len__(self) -> int:
        return len(self.labels)

    def annotation_sizes(self) -> list[tuple[int, int]]:
        return self.drawn_on if self.drawn_on is not None else self.image_sizes

    def subset(self, keep: np.ndarray) -> "DatasetObjects":
        return DatasetObjects(self.boxes[keep], [l for l, k in zip(self.labels, keep) if k], self.image_index[keep],
                              self.image_names, self.image_sizes, self.warnings, self.drawn_on)

    def select(self, label: str | None) -> "DatasetObjects":
        if label is None:
            return self
        return self.subset(np.array([l == label for l in self.labels], dtype=bool))


def collect_objects(project: Any) -> DatasetObjects:
    """Boxes of all instances of all annotated images (core.anchors.boxes, the training boxes);
    unreadable annotations become warnings. Each photo's header gives its real size: a sidecar
    may record another (the photo downscaled after labelling), and training follows the photo."""
    boxes, labels, index, names, sizes, drawn_on, warnings = [], [], [], [], [], [], []
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
        recorded = (int(ann.image_width), int(ann.image_height))
        try:
            photo = tuple(int(v) for v in image_size(project.abs_path(image)))
        except (MasklabError, OSError) as e:
            warnings.append(f"{image.as_posix()}: photo size unreadable ({e}); using the size the sidecar records")
            photo = recorded
        names.append(image.as_posix())
        sizes.append(photo)
        drawn_on.append(recorded)
        boxes.append(found.boxes)
        labels += found.labels
        index += [len(names) - 1] * len(found)
    return DatasetObjects(np.concatenate(boxes) if boxes else np.zeros((0, 4)), labels,
                          np.asarray(index, dtype=np.int64), names, sizes, warnings, drawn_on)


def input_boxes(objects: DatasetObjects, config: AnchorConfig) -> np.ndarray:
    """(N, 4) boxes in model-input pixels, the float32 values training's RPN receives."""
    result = np.zeros((len(objects), 4))
    drawn = objects.annotation_sizes()
    for i, size in enumerate(objects.image_sizes):
        rows = np.flatnonzero(objects.image_index == i)
        if len(rows):
            geometry = model_input_geometry(size, config)
            result[rows] = geometry.photo_to_input(objects.boxes[rows], drawn[i]).numpy()
    return result


def trained_on(objects: DatasetObjects, config: AnchorConfig) -> np.ndarray:
    """Which objects training keeps at this input size (core.anchors.boxes.usable_boxes in the
    dataset's frame): the rest are thinner than a pixel there."""
    keep = np.ones(len(objects), dtype=bool)
    drawn = objects.annotation_sizes()
    for i, size in enumerate(objects.image_sizes):
        rows = np.flatnonzero(objects.image_index == i)
        if len(rows):
            frame = model_input_geometry(size, config).frame_hw
            keep[rows] = usable_boxes(scale_boxes(objects.boxes[rows], drawn[i], frame))
    return keep


def photo_boxes(objects: DatasetObjects) -> np.ndarray:
    """(N, 4) boxes in photo pixels."""
    result = np.zeros((len(objects), 4))
    drawn = objects.annotation_sizes()
    for i, (w, h) in enumerate(objects.image_sizes):
        rows = np.flatnonzero(objects.image_index == i)
        if len(rows):
            result[rows] = scale_boxes(objects.boxes[rows], drawn[i], (h, w))
    return result


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
    cells = np.array(cell_rows(grid), dtype=np.float64).reshape(-1, 11)[:, :8]  # x1 y1 x2 y2 sh sw gh gw
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
AREA, RATIO = "area", "aspect_ratio"
QUANTITIES = (AREA, RATIO)
MODEL_LOG, PHOTO_LINEAR = "model_log", "photo_linear"
SCALES = (MODEL_LOG, PHOTO_LINEAR)


def _area_ratio(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return w * h, h / w  # annotation_boxes keeps only boxes with area


@dataclass
class GroupStats:
    """Statistics of one label (or all objects, label None): per bin count, histograms of box
    area and aspect ratio (height / width) with log bins in model-input pixels and with linear
    bins in photo pixels; k-means shapes and the anchor fit in model-input pixels."""

    label: str | None
    count: int
    area: dict[int, Histogram]        # log bins, model-input px^2
    ratio: dict[int, Histogram]       # log bins, model input
    area_photo: dict[int, Histogram]  # linear bins, photo px^2
    ratio_photo: dict[int, Histogram]  # linear bins, photo
    kmeans: np.ndarray                # (k, 2) widths and heights
    kmeans_mean_iou: float
    fit: AnchorFit

    def histograms(self, quantity: str, scale: str) -> dict[int, Histogram]:
        """Bin count -> histogram of `quantity` (AREA, RATIO) at `scale` (MODEL_LOG, PHOTO_LINEAR)."""
        return {(AREA, MODEL_LOG): self.area, (RATIO, MODEL_LOG): self.ratio,
                (AREA, PHOTO_LINEAR): self.area_photo, (RATIO, PHOTO_LINEAR): self.ratio_photo}[(quantity, scale)]

    def mode_table(self, quantity: str, scale: str) -> list[dict[str, Any]]:
        """One row per bin count: bin count, mode bin number, count, mean, variance, share."""
        return [h.mode_row() for _, h in sorted(self.histograms(quantity, scale).items())]

    def mode_anchor(self, bins: int) -> tuple[float, float]:
        """(size, ratio) of the model-pixel mode bins: size is the square root of the mode area."""
        return math.sqrt(self.area[bins].mode_center), self.ratio[bins].mode_center

    def mode_shape(self, bins: int) -> tuple[float, float]:
        """(width, height) of the mode anchor: size squared is the area, height / width the ratio."""
        size, ratio = self.mode_anchor(bins)
        return size / math.sqrt(ratio), size * math.sqrt(ratio)

    def to_dict(self, bins: int) -> dict[str, Any]:
        size, ratio = self.mode_anchor(bins) if self.count else (float("nan"), float("nan"))
        return {
            "label": self.label, "objects": self.count,
            "area": {str(b): h.to_dict() for b, h in self.area.items()},
            "aspect_ratio": {str(b): h.to_dict() for b, h in self.ratio.items()},
            "area_photo": {str(b): h.to_dict() for b, h in self.area_photo.items()},
            "aspect_ratio_photo": {str(b): h.to_dict() for b, h in self.ratio_photo.items()},
            "mode_tables": {f"{q}_{sc}": self.mode_table(q, sc) for q in QUANTITIES for sc in SCALES},
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
                bin_counts: tuple[int, ...] = BIN_COUNTS, seed: int = 0,
                boxes_photo: np.ndarray | None = None) -> GroupStats:
    """Statistics of one group of objects from their model-input boxes (and photo boxes) and fit."""
    area, ratio = _area_ratio(boxes)
    area_p, ratio_p = _area_ratio(boxes if boxes_photo is None else boxes_photo)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    wh = np.stack([w, h], axis=1)
    centroids = kmeans_anchors(wh, k, seed=seed)
    return GroupStats(label, len(boxes), {b: histogram(area, b) for b in bin_counts},
                      {b: histogram(ratio, b) for b in bin_counts},
                      {b: histogram(area_p, b, LINEAR) for b in bin_counts},
                      {b: histogram(ratio_p, b, LINEAR) for b in bin_counts},
                      centroids, mean_best_iou(wh, centroids), fit)


@dataclass
class DatasetStats:
    config: AnchorConfig
    overall: GroupStats
    per_label: list[GroupStats]
    warnings: list[str]

    def groups(self) -> list[GroupStats]:
        return [self.overall] + self.per_label

    def to_dict(self, bins: int = 20) -> dict[str, Any]:
        return {"units": "model-input pixels (log bins); photo pixels (linear bins, *_photo)",
                "min_size": self.config.min_size, "max_size": self.config.max_size,
                "overall": self.overall.to_dict(bins), "per_label": [g.to_dict(bins) for g in self.per_label],
                "warnings": self.warnings}


def dataset_stats(objects: DatasetObjects, config: AnchorConfig, label: str | None = None, k: int = 5,
                  bin_counts: tuple[int, ...] = BIN_COUNTS, seed: int = 0) -> DatasetStats:
    """Statistics overall (or of `label` only) and per label, of the objects training keeps at
    this input size (thinner than a pixel there: left out, with a warning)."""
    chosen = objects.select(label)
    warnings = list(objects.warnings)
    keep = trained_on(chosen, config)
    if not keep.all():
        warnings.append(f"{int((~keep).sum())} object(s) thinner than a pixel at input {config.min_size}/"
                        f"{config.max_size} left out: training drops them")
        chosen = chosen.subset(keep)
    boxes = input_boxes(chosen, config)
    photo = photo_boxes(chosen)
    fit = anchor_fit(chosen, config)
    names = np.array(chosen.labels, dtype=object)
    per_label = []
    for name in sorted(set(chosen.labels)):
        rows = np.flatnonzero(names == name)
        per_label.append(group_stats(boxes[rows], fit.subset(rows), name, k, bin_counts, seed, photo[rows]))
    overall = group_stats(boxes, fit, label, k, bin_counts, seed, photo)
    return DatasetStats(config, overall, per_label, warnings)
