"""RPN target assignment: torchvision's AnchorGenerator, Matcher, sampler and BoxCoder built from
an AnchorConfig, and a fast `match_anchors` that gives exactly the labels of
`Matcher(box_iou(gt_boxes, anchors))`.

Speed: on an 800x1333 input there are about 269,000 anchors, and most overlap no object. The
plain path builds the full (objects x anchors) IoU matrix; `match_anchors` instead enumerates,
for each object and each cell anchor of the regular grid, the rectangle of grid positions whose
anchor can intersect the object, computes IoU only for those pairs (with the same float32
operations as `box_iou`, so the values are bit-identical) and then applies Matcher's rules on the
sparse pairs, ties included (torch.max picks the first object among equal IoUs; so do we). Pairs
whose IoU is bounded (smaller area / larger area) below everything that decides a label are
skipped as well: a small anchor inside a large object cannot change the assignment.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler, BoxCoder, Matcher
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import box_iou

from .config import IGNORE, NEGATIVE, POSITIVE, AnchorConfig  # noqa: F401 (re-exported)

_MAX_OBJECTS = 0xFFFF  # objects per image the sparse matcher packs into 16 bits


# -- builders: the one place that turns an AnchorConfig into torchvision pieces ------------------
class Float32AnchorGenerator(AnchorGenerator):
    """torchvision's AnchorGenerator, always in float32. The stock one takes the feature maps'
    dtype: under bfloat16 autocast an anchor at x = 1000.5 becomes 1000, and assignment at a 0.7
    IoU threshold needs more than bf16's three significant digits. It only reads the feature
    maps' shapes and device, so empty float32 stand-ins cost nothing."""

    def forward(self, image_list: ImageList, feature_maps: list[Tensor]) -> list[Tensor]:
        stand_ins = [torch.empty((1, 0, *f.shape[-2:]), dtype=torch.float32, device=f.device) for f in feature_maps]
        return super().forward(image_list, stand_ins)


def build_anchor_generator(config: AnchorConfig) -> AnchorGenerator:
    return Float32AnchorGenerator(sizes=config.sizes, aspect_ratios=config.aspect_ratios)


def build_matcher(config: AnchorConfig) -> Matcher:
    return Matcher(config.fg_iou_thresh, config.bg_iou_thresh,
                   allow_low_quality_matches=config.allow_low_quality_matches)


def build_sampler(config: AnchorConfig) -> BalancedPositiveNegativeSampler:
    """The mini-batch sampler `config.sampling` names, as training's RPN has it."""
    from core.models.rpn_sampling import make_sampler

    return make_sampler(config.sampling, config.batch_size_per_image, config.positive_fraction)


def build_box_coder() -> BoxCoder:
    return BoxCoder(weights=(1.0, 1.0, 1.0, 1.0))


# -- the anchor grid -----------------------------------------------------------------------------
@dataclass
class AnchorGrid:
    """How torchvision's AnchorGenerator lays out the anchors of one model input: per level a
    (grid_h, grid_w) map, a (stride_h, stride_w) and its cell anchors; the anchor of level l,
    row i, column j, cell anchor a has index offset_l + (i * grid_w + j) * A_l + a and the box
    cell_anchor[a] + (j * stride_w, i * stride_h, j * stride_w, i * stride_h)."""

    image_hw: tuple[int, int]
    grid_sizes: list[tuple[int, int]]
    strides: list[tuple[int, int]]
    cell_anchors: list[Tensor]

    @classmethod
    def from_generator(cls, generator: AnchorGenerator, image_hw: tuple[int, int],
                       grid_sizes: list[tuple[int, int]]) -> "AnchorGrid":
        grid_sizes = [(int(h), int(w)) for h, w in grid_sizes]
        # the strides exactly as AnchorGenerator.forward computes them
        strides = [(int(image_hw[0]) // h, int(image_hw[1]) // w) for h, w in grid_sizes]
        cells = [c.detach().to("cpu", torch.float32) for c in generator.cell_anchors]
        if len(cells) != len(grid_sizes):
            raise ValueError(f"{len(grid_sizes)} feature maps for {len(cells)} anchor levels")
        return cls((int(image_hw[0]), int(image_hw[1])), grid_sizes, strides, cells)

    @property
    def anchors_per_level(self) -> list[int]:
        return [h * w * len(c) for (h, w), c in zip(self.grid_sizes, self.cell_anchors)]

    @property
    def num_anchors(self) -> int:
        return sum(self.anchors_per_level)

    def level_offsets(self) -> list[int]:
        offsets, total = [], 0
        for n in self.anchors_per_level:
            offsets.append(total)
            total += n
        return offsets

    def level_of_anchor(self) -> Tensor:
        return torch.repeat_interleave(torch.arange(len(self.grid_sizes)), torch.tensor(self.anchors_per_level))

    def cell_index_of_anchor(self) -> Tensor:
        """Index of each anchor's cell anchor within its level (which size / ratio it has)."""
        parts = [torch.arange(len(c)).repeat(h * w) for (h, w), c in zip(self.grid_sizes, self.cell_anchors)]
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.int64)

    def agrees_with(self, anchors: Tensor) -> bool:
        """Cheap check that `anchors` has this layout: count, and first / last anchor per level."""
        if anchors.shape[0] != self.num_anchors:
            return False
        for offset, n, (h, w), (sh, sw), cell in zip(self.level_offsets(), self.anchors_per_level,
                                                    self.grid_sizes, self.strides, self.cell_anchors):
            if n == 0:
                continue
            last_shift = torch.tensor([(w - 1) * sw, (h - 1) * sh] * 2, dtype=torch.float32)
            first = anchors[offset: offset + 1].float().cpu()
            last = anchors[offset + n - 1: offset + n].float().cpu()
            if not (torch.equal(first[0], cell[0]) and torch.equal(last[0], cell[-1] + last_shift)):
                return False
        return True


def generate_anchors(config: AnchorConfig, image_hw: tuple[int, int],
                     grid_sizes: list[tuple[int, int]]) -> tuple[Tensor, AnchorGrid]:
    """Anchors (A, 4) of a padded model input of `image_hw` = (H, W) with feature maps of
    `grid_sizes`, generated by torchvision's own AnchorGenerator, and their grid layout."""
    generator = build_anchor_generator(config)
    # AnchorGenerator only reads shapes, dtype and device: empty tensors cost nothing
    image_list = ImageList(torch.empty((1, 0, *image_hw)), [tuple(image_hw)])
    feature_maps = [torch.empty((1, 0, h, w)) for h, w in grid_sizes]
    anchors = generator(image_list, feature_maps)[0]
    return anchors, AnchorGrid.from_generator(generator, image_hw, grid_sizes)


# -- matching ------------------------------------------------------------------------------------
@dataclass
class MatchResult:
    """Matcher's output per anchor and what the preview needs beside it.

    matched_idxs: object index (>= 0), -1 negative, -2 ignored (between thresholds), after the
    low-quality rule; iou: the anchor's best IoU with any object; best_object: that object (-1
    when the anchor overlaps none) -- both exact where the best IoU reaches bg_iou_thresh and
    for rescued anchors, possibly lower below it unless match_anchors(exact_iou=True);
    low_quality: positive only thanks to the low-quality rule; best_iou_per_object: each
    object's best IoU with any anchor (exact)."""

    matched_idxs: Tensor
    iou: Tensor
    best_object: Tensor
    low_quality: Tensor
    best_iou_per_object: Tensor

    @property
    def labels(self) -> Tensor:
        """The RPN's float labels: 1 positive, 0 negative, -1 ignore."""
        return labels_from_matches(self.matched_idxs)


def labels_from_matches(matched_idxs: Tensor) -> Tensor:
    labels = (matched_idxs >= 0).to(torch.float32)
    labels[matched_idxs == Matcher.BELOW_LOW_THRESHOLD] = float(NEGATIVE)
    labels[matched_idxs == Matcher.BETWEEN_THRESHOLDS] = float(IGNORE)
    return labels


def cell_rows(grid: AnchorGrid) -> list[list[float]]:
    """One row per (level, cell anchor): x1 y1 x2 y2 stride_h stride_w grid_h grid_w offset A a."""
    return [[*cell[a].tolist(), sh, sw, gh, gw, offset, len(cell), a]
            for offset, (gh, gw), (sh, sw), cell in zip(grid.level_offsets(), grid.grid_sizes, grid.strides,
                                                        grid.cell_anchors)
            for a in range(len(cell))]


def _grid_candidate_pairs(rows: Tensor, gt: Tensor, use: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """(object index, anchor index) of every pair whose boxes may intersect, for the (object,
    cell anchor) combinations in `use` (G, K; all when None): for each, the rectangle of grid
    positions, widened by one cell so that float rounding can never drop a pair (the extra pairs
    have IoU 0). Each rectangle row is a run of anchor indices with a constant step, so the pairs
    come from two repeat_interleaves."""
    device = gt.device
    n_k = len(rows)
    g = gt.to(torch.float64)
    bx1, by1, bx2, by2, sh, sw, gh, gw = (rows[:, c] for c in range(8))
    zero = torch.zeros(1, dtype=torch.float64, device=device)
    # column j can intersect when bx1 + j*sw < gx2 and bx2 + j*sw > gx1; rows likewise
    j0 = torch.maximum(torch.floor((g[:, None, 0] - bx2) / sw), zero)
    j1 = torch.minimum(torch.ceil((g[:, None, 2] - bx1) / sw), gw - 1)
    i0 = torch.maximum(torch.floor((g[:, None, 1] - by2) / sh), zero)
    i1 = torch.minimum(torch.ceil((g[:, None, 3] - by1) / sh), gh - 1)
    nj = (j1 - j0 + 1).clamp(min=0).to(torch.int64)
    ni = (i1 - i0 + 1).clamp(min=0).to(torch.int64)
    if use is not None:
        ni = torch.where(use, ni, 0)
    nj, ni = nj.reshape(-1), ni.reshape(-1)
    ni = torch.where(nj > 0, ni, 0)
    ki = rows.to(torch.int64)
    offset, width, step, cell_idx = ki[:, 8], ki[:, 7], ki[:, 9], ki[:, 10]
    # combo c = object * K + cell anchor; its first anchor and the index step between rows
    combo_first = (offset + (i0.to(torch.int64) * width + j0.to(torch.int64)) * step + cell_idx).reshape(-1)
    combo_row_step = (width * step).repeat(len(gt))
    combo_step = step.repeat(len(gt))
    n_runs = int(ni.sum())
    run_combo = torch.repeat_interleave(torch.arange(ni.numel(), device=device), ni, output_size=n_runs)
    run_row = torch.arange(n_runs, device=device) - (torch.cumsum(ni, 0) - ni)[run_combo]
    run_first = combo_first[run_combo] + run_row * combo_row_step[run_combo]
    run_len = nj[run_combo]
    run_step = combo_step[run_combo]
    n_pairs = int(run_len.sum())
    pair_run = torch.repeat_interleave(torch.arange(n_runs, device=device), run_len, output_size=n_pairs)
    # anchor = run_first + (position in run) * run_step, with position = arange - run start
    run_base = run_first - (torch.cumsum(run_len, 0) - run_len) * run_step
    anchor_idx = run_base[pair_run] + torch.arange(n_pairs, device=device) * run_step[pair_run]
    return (run_combo // n_k)[pair_run], anchor_idx


def _dense_candidate_pairs(anchors: Tensor, gt: Tensor, chunk: int = 65536) -> tuple[Tensor, Tensor]:
    """Pairs that intersect, for anchors of unknown layout (slower than the grid, still exact)."""
    gis, ais = [], []
    for start in range(0, anchors.shape[0], chunk):
        a = anchors[start: start + chunk]
        hit = ((a[:, None, 0] < gt[None, :, 2]) & (a[:, None, 2] > gt[None, :, 0])
               & (a[:, None, 1] < gt[None, :, 3]) & (a[:, None, 3] > gt[None, :, 1]))
        ai, gi = torch.nonzero(hit, as_tuple=True)
        gis.append(gi)
        ais.append(ai + start)
    return torch.cat(gis), torch.cat(ais)


def _pair_iou(gt: Tensor, anchors: Tensor) -> Tensor:
    """IoU of row-aligned boxes with the float32 operations of torchvision's box_iou, in the same
    order, so every value equals the corresponding entry of box_iou(gt, anchors)."""
    area_gt = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
    area_anchor = (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])
    lt = torch.max(gt[:, :2], anchors[:, :2])
    rb = torch.min(gt[:, 2:], anchors[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    union = area_gt + area_anchor - inter
    return inter / union


# Float32 IoUs can exceed the exact area bound by rounding; prune only below it by this factor.
_BOUND_MARGIN = 1.0 - 1e-4


def _candidate_pairs(anchors: Tensor, gt: Tensor, config: AnchorConfig, grid: AnchorGrid | None,
                     exact_iou: bool) -> tuple[Tensor, Tensor, Tensor]:
    """(object, anchor, IoU) of the pairs the Matcher's result depends on.

    Without a grid, or with exact_iou, every intersecting pair. Otherwise pairs are also skipped
    when their IoU cannot reach what matters, using IoU <= smaller area / larger area per (object,
    cell anchor): a pair counts only when it may reach the lower threshold (below it the anchor is
    negative whatever the object) or may reach its object's best IoU (the low-quality rule and its
    ties) -- the best being found first among the pairs of the first kind."""
    if grid is None or not grid.agrees_with(anchors):
        gi, ai = _dense_candidate_pairs(anchors, gt)
        return gi, ai, _pair_iou(gt[gi], anchors[ai])
    rows = torch.tensor(cell_rows(grid), dtype=torch.float64, device=gt.device)  # exact small integers
    if exact_iou:
        gi, ai = _grid_candidate_pairs(rows, gt)
        return gi, ai, _pair_iou(gt[gi], anchors[ai])
    g = gt.to(torch.float64)
    area_gt = ((g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1]))[:, None]
    area_cell = ((rows[:, 2] - rows[:, 0]) * (rows[:, 3] - rows[:, 1]))[None, :]
    bound = torch.minimum(area_gt, area_cell) / torch.maximum(area_gt, area_cell)
    first = bound >= config.bg_iou_thresh * _BOUND_MARGIN
    gi, ai = _grid_candidate_pairs(rows, gt, first)
    iou = _pair_iou(gt[gi], anchors[ai])
    best = torch.zeros(len(gt), dtype=iou.dtype, device=gt.device).scatter_reduce_(0, gi, iou, "amax")
    second = ~first & (bound >= best.to(torch.float64)[:, None] * _BOUND_MARGIN)
    if bool(second.any()):
        gi2, ai2 = _grid_candidate_pairs(rows, gt, second)
        gi, ai = torch.cat([gi, gi2]), torch.cat([ai, ai2])
        iou = torch.cat([iou, _pair_iou(gt[gi2], anchors[ai2])])
    return gi, ai, iou


def _plain_match(anchors: Tensor, gt: Tensor, config: AnchorConfig) -> MatchResult:
    """The reference path: the full IoU matrix and torchvision's Matcher."""
    quality = box_iou(gt, anchors)
    iou, best = quality.max(dim=0)
    matcher = build_matcher(config)
    matched = matcher(quality)
    without_rescue = Matcher(config.fg_iou_thresh, config.bg_iou_thresh, allow_low_quality_matches=False)(quality)
    return MatchResult(matched, iou, torch.where(iou > 0, best, -1), (matched >= 0) & (without_rescue < 0),
                       quality.max(dim=1).values)


def match_anchors(anchors: Tensor, gt_boxes: Tensor, config: AnchorConfig,
                  grid: AnchorGrid | None = None, exact_iou: bool = False) -> MatchResult:
    """Matcher's assignment of `anchors` (A, 4) to `gt_boxes` (G, 4), both in model-input pixels:
    matched_idxs identical to `build_matcher(config)(box_iou(gt_boxes, anchors))`.

    With the `grid` the anchors were generated on, only pairs that can overlap are visited, and
    (unless `exact_iou`) only those whose IoU can matter: then `iou` and `best_object` are exact
    wherever the anchor's best IoU reaches bg_iou_thresh and for rescued anchors, while a
    negative anchor may show a lower IoU than its true best (its label does not depend on it)."""
    device = anchors.device
    n = anchors.shape[0]
    gt = gt_boxes.to(device=device, dtype=anchors.dtype).reshape(-1, 4)
    if len(gt) == 0:
        return MatchResult(torch.full((n,), Matcher.BELOW_LOW_THRESHOLD, dtype=torch.int64, device=device),
                           torch.zeros(n, dtype=anchors.dtype, device=device),
                           torch.full((n,), -1, dtype=torch.int64, device=device),
                           torch.zeros(n, dtype=torch.bool, device=device),
                           torch.zeros(0, dtype=anchors.dtype, device=device))
    # With a zero lower threshold, IoU 0 is not "negative" and a degenerate box overlaps no
    # anchor: the sparse shortcut does not hold, take the reference path.
    degenerate = bool(((gt[:, 2] <= gt[:, 0]) | (gt[:, 3] <= gt[:, 1])).any())
    # The shortcut below packs float32 IoU bits with the object index; other dtypes (box_iou
    # upcasts half precision) and huge object counts take the reference path.
    if (config.bg_iou_thresh <= 0 or degenerate or n == 0 or anchors.dtype != torch.float32
            or len(gt) > _MAX_OBJECTS):
        return _plain_match(anchors, gt, config)

    gi, ai, iou = _candidate_pairs(anchors, gt, config, grid, exact_iou)  # IoU-0 pairs change nothing below
    g_count = len(gt)
    best_per_object = torch.zeros(g_count, dtype=iou.dtype, device=device).scatter_reduce_(0, gi, iou, "amax")
    if bool((best_per_object <= 0).any()):  # an object no anchor touches: Matcher's ties span all anchors
        return _plain_match(anchors, gt, config)

    # One reduction finds each anchor's best IoU and, among equal IoUs, the first object (as
    # torch.max does): the bits of a non-negative float32 order like the float, so the key
    # (IoU bits, 0xFFFF - object) is largest for the best IoU with the smallest object index.
    key = (iou.view(torch.int32).to(torch.int64) << 16) | (_MAX_OBJECTS - gi)
    packed = torch.zeros(n, dtype=torch.int64, device=device).scatter_reduce_(0, ai, key, "amax")
    matched_vals = (packed >> 16).to(torch.int32).view(torch.float32)
    first = torch.where(matched_vals > 0, _MAX_OBJECTS - (packed & _MAX_OBJECTS), -1)
    # every anchor that ties for some object's best IoU (the low-quality rule's candidates)
    rescued = ai[iou == best_per_object[gi]] if config.allow_low_quality_matches else ai[:0]
    weak = rescued[matched_vals[rescued] < config.bg_iou_thresh]
    if len(weak):  # their pairs below the lower threshold may have been skipped: all objects, exactly
        vals, best = box_iou(gt, anchors[weak]).max(dim=0)
        matched_vals[weak] = vals
        first[weak] = torch.where(vals > 0, best, -1)
    all_matches = first.clamp(min=0)  # Matcher's argmax is object 0 where all IoUs are 0

    matches = all_matches.clone()
    matches[matched_vals < config.bg_iou_thresh] = Matcher.BELOW_LOW_THRESHOLD
    matches[(matched_vals >= config.bg_iou_thresh) & (matched_vals < config.fg_iou_thresh)] = Matcher.BETWEEN_THRESHOLDS
    low_quality = torch.zeros(n, dtype=torch.bool, device=device)
    low_quality[rescued] = matches[rescued] < 0
    matches[rescued] = all_matches[rescued]
    return MatchResult(matches, matched_vals, first, low_quality, best_per_object)

