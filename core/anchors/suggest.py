"""Anchor suggestions from the dataset statistics, the one implementation the `stats` command and
the statistics window share: the mode anchor and the k-means shapes of a group of objects, each
turned into settings one shared RPN head can train, with how well they fit the objects and the
receptive-field warnings of the backbone."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .config import AnchorConfig
from .receptive_field import backbone_fields, level_for_size, receptive_field_warnings
from .stats import (BIN_COUNTS, AnchorFit, DatasetObjects, DatasetStats, GroupStats, anchor_fit, collect_objects,
                    dataset_stats)

MODE, KMEANS = "mode", "kmeans"
RATIO_MERGE = 1.15  # ratios within 15 % of each other become one: near-equal anchors waste the head


def merge_ratios(ratios: list[float], tolerance: float = RATIO_MERGE) -> tuple[float, ...]:
    """Sorted ratios, each run of ratios within `tolerance` (a factor) of its first one replaced
    by the run's geometric mean, rounded to 0.01 (at least 0.01: a 2500x7 strip has ratio 0.003)."""
    merged: list[list[float]] = []
    for r in sorted(ratios):
        if merged and r <= merged[-1][0] * tolerance:
            merged[-1].append(r)
        else:
            merged.append([r])
    return tuple(sorted({max(0.01, round(float(np.exp(np.log(run).mean())), 2)) for run in merged}))


def suggested_config(base: AnchorConfig, shapes_wh: list[tuple[float, float]]) -> AnchorConfig:
    """`base` with its anchors replaced by suggested (width, height) shapes, in a form one shared
    RPN head can train: the suggestions' ratios (h / w, near-equal ones merged) on every level, and
    on each level one size: the geometric mean of the suggested sizes that belong to it
    (receptive_field.level_for_size), else its present sizes' geometric mean. A single-level
    config gets every suggested size."""
    if not shapes_wh:
        raise ValueError("no suggested anchors (the selection has no objects)")
    sizes = np.array([math.sqrt(w * h) for w, h in shapes_wh])
    ratios = merge_ratios([h / w for w, h in shapes_wh])
    if len(base.sizes) == 1:
        new_sizes: tuple[tuple[int, ...], ...] = (tuple(sorted({max(1, int(round(s))) for s in sizes})),)
    else:
        levels = np.array([level_for_size(s, base) for s in sizes])
        new_sizes = tuple(
            (max(1, int(round(math.exp(np.log(sizes[levels == k]).mean() if (levels == k).any()
                                       else np.log(base.sizes[k]).mean())))),)
            for k in range(len(base.sizes)))
    return replace(base, sizes=new_sizes, aspect_ratios=(ratios,) * len(new_sizes))


def suggested_shapes(group: GroupStats, bins: int) -> dict[str, list[tuple[float, float]]]:
    """(width, height) shapes of each suggestion: the mode anchor, and the k-means centroids."""
    return {MODE: [group.mode_shape(bins)], KMEANS: [(float(w), float(h)) for w, h in group.kmeans]}


@dataclass
class StatsResult:
    stats: DatasetStats
    label: str | None  # the group the suggestions and fits are of (None: all objects)
    bins: int
    k: int
    suggestions: dict[str, AnchorConfig]  # MODE / KMEANS for the group
    fits: dict[str, AnchorFit]  # "current", MODE, KMEANS of the selected group
    rf_model: str = ""
    rf_table: list[Any] = field(default_factory=list)  # receptive_field.LayerField rows
    rf_fields: list[int] = field(default_factory=list)
    rf_warnings: list[str] = field(default_factory=list)
    rf_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The suggestions, their fit and the receptive field, for `stats --json`."""
        return {"label": self.label, "bins": self.bins, "k": self.k,
                "suggestions": {name: c.to_dict() for name, c in self.suggestions.items()},
                "fits": {name: f.to_dict() for name, f in self.fits.items()},
                "receptive_field": ({"error": self.rf_error} if self.rf_error else
                                    {"model": self.rf_model, "level_fields": self.rf_fields,
                                     "layers": [row.to_dict() for row in self.rf_table]})
                | {"warnings": self.rf_warnings}}

    def group(self, label: str | None = None) -> GroupStats:
        label = self.label if label is None else label
        if label is None:
            return self.stats.overall
        return next(g for g in self.stats.per_label if g.label == label)


def compute_statistics(project: Any, config: AnchorConfig, label: str | None, bins: int, k: int,
                       field_cache: dict | None = None, objects: DatasetObjects | None = None) -> StatsResult:
    """Statistics of all objects (and per label), the suggestions of the `label` group, their fit
    and receptive-field warnings. `field_cache` keeps the receptive fields per backbone across
    calls (building one takes seconds); `objects`: collect_objects(project) when already read."""
    objects = collect_objects(project) if objects is None else objects
    if not len(objects):
        raise ValueError(f"{project.root}: no annotated objects to measure")
    stats = dataset_stats(objects, config, k=k, bin_counts=tuple(sorted(set(BIN_COUNTS) | {bins})))
    group = stats.overall if label is None else next((g for g in stats.per_label if g.label == label), stats.overall)
    chosen = objects.select(group.label)
    shapes = suggested_shapes(group, bins)
    suggestions = {name: suggested_config(config, s) for name, s in shapes.items()}
    fits = {"current": group.fit, **{name: anchor_fit(chosen, c) for name, c in suggestions.items()}}
    result = StatsResult(stats, group.label, bins, k, suggestions, fits)
    cache = {} if field_cache is None else field_cache
    key = ((project.settings.get("training") or {}).get("model"), config.strides, len(config.sizes))
    try:
        if key not in cache:
            cache[key] = backbone_fields(project, config)
        result.rf_model, result.rf_table, result.rf_fields = cache[key]
        result.rf_warnings = receptive_field_warnings(shapes[KMEANS] + shapes[MODE], config, result.rf_fields)
    except (ImportError, ValueError, RuntimeError) as e:
        result.rf_error = f"receptive field not computed: {e}"
    return result
