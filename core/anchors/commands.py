"""`main.py stats` and `main.py anchors`: dataset statistics with anchor suggestions, and the RPN's
anchor assignment on one photo as a PNG and / or JSON."""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from core.errors import MasklabError, ProjectError
from core.images import image_size, load_image
from core.project import Project

from .boxes import annotation_boxes
from .config import AnchorConfig
from .plots import write_histogram_plots
from .receptive_field import (config_strides, format_table, level_receptive_fields, receptive_field_table,
                              receptive_field_warnings)
from .stats import BIN_COUNTS, DatasetStats, collect_objects, dataset_stats

DEFAULT_FPN_MODEL = "mininet_r18_fpn"
CLASSIC_MODEL = "rpn_classic"


class ConfigError(MasklabError):
    """An anchor configuration file is unreadable or invalid."""


def load_anchor_config(value: str | None, project: Project) -> AnchorConfig:
    """None: what training the project will use (core.models.specs.training_anchor_config);
    'classic': the single-anchor stride-16 RPN; else a JSON file with AnchorConfig fields (the
    project file's settings['anchors'] format)."""
    if value is None:
        from core.models.specs import training_anchor_config

        try:
            return training_anchor_config(project)
        except (TypeError, ValueError) as e:
            raise ConfigError(project.project_file, f"settings['anchors'] is invalid: {e}") from e
    if value == "classic":
        return AnchorConfig.classic_single()
    path = Path(value)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(path, "the anchor config file does not exist (or use --config classic)") from e
    except (OSError, ValueError) as e:
        raise ConfigError(path, f"not a readable JSON file: {e}") from e
    if isinstance(data, dict) and isinstance(data.get("anchors"), dict):
        data = data["anchors"]  # a whole settings section
    if not isinstance(data, dict):
        raise ConfigError(path, "expected a JSON object with anchor settings (sizes, aspect_ratios, ...)")
    try:
        return AnchorConfig.from_dict(data)
    except (TypeError, ValueError) as e:
        raise ConfigError(path, f"invalid anchor settings: {e}") from e


def _open_project(path: str) -> Project:
    if not Path(path).expanduser().is_dir():
        raise ProjectError(path, "not a folder (give the project folder with --project)")
    return Project.open(path, create=False)


# -- stats ---------------------------------------------------------------------------------------
def backbone_fields(project: Project, config: AnchorConfig) -> tuple[str, list[Any], list[int]]:
    """(model name, receptive-field table, field per anchor level) of the backbone the project
    trains: its training settings' model, else the classic RPN for a single-level config and the
    mini Mask R-CNN otherwise. Built without weights, only its layer shapes matter."""
    from core.models.registry import build_model

    training = project.settings.get("training") or {}
    name = training.get("model") or (CLASSIC_MODEL if config.strides is not None else DEFAULT_FPN_MODEL)
    model = build_model(name, num_classes=2, anchors=config, weights="none").model
    table = receptive_field_table(model.backbone)
    return name, table, level_receptive_fields(table, config_strides(config))


def _fmt_hist_row(name: str, h: Any) -> str:
    return (f"  {name:<14} mode [{h.mode_low:10.2f}, {h.mode_high:10.2f})  count {h.mode_count:6d}  "
            f"share {h.mode_share:6.1%}  mean {h.mean:12.2f}  variance {h.variance:14.2f}")


def format_stats(stats: DatasetStats, bins: int) -> str:
    lines = [f"Box statistics in model-input pixels (input {stats.config.min_size}/{stats.config.max_size}); "
             f"histograms with log-spaced bins"]
    for group in [stats.overall] + stats.per_label:
        title = "all objects" if group.label is None else f"label {group.label!r}"
        if group is stats.overall and group.label is not None:
            title = f"label {group.label!r} (selected)"
        lines.append("")
        lines.append(f"{title}: {group.count} objects")
        if not group.count:
            continue
        lines.append(" area (px^2) by bin count:")
        for b in sorted(group.area):
            lines.append(_fmt_hist_row(f"{b} bins", group.area[b]))
        lines.append(" aspect ratio (h/w) by bin count:")
        for b in sorted(group.ratio):
            lines.append(_fmt_hist_row(f"{b} bins", group.ratio[b]))
        size, ratio = group.mode_anchor(bins)
        lines.append(f" suggested anchor from the modes ({bins} bins): size {size:.1f}, ratio {ratio:.2f}")
        shapes = ", ".join(f"{w:.0f}x{h:.0f}" for w, h in group.kmeans)
        lines.append(f" k-means anchors (w x h): {shapes}  (mean best IoU {group.kmeans_mean_iou:.3f})")
        f = group.fit
        lines.append(f" anchor fit: {f.share_good:.1%} of objects have an anchor at IoU >= {f.good_iou}, "
                     f"{f.mean_good_anchors:.2f} such anchors per object, "
                     f"{f.share_poor:.1%} have best IoU < {f.poor_iou} (rely on the low-quality rule)")
    return "\n".join(lines)


def run_stats(args: argparse.Namespace) -> int:
    bins = int(getattr(args, "bins", 20) or 20)
    k = int(getattr(args, "k", 5) or 5)
    if bins < 1 or k < 1:
        print("masklab: --bins and --k must be at least 1", file=sys.stderr)
        return 2
    project = _open_project(args.project)
    config = load_anchor_config(None, project)
    objects = collect_objects(project)
    for warning in objects.warnings:
        print(f"masklab: {warning}", file=sys.stderr)
    if args.label is not None and args.label not in set(objects.labels):
        present = ", ".join(sorted(set(objects.labels))) or "none"
        raise ProjectError(project.root, f"no objects labelled {args.label!r} (labels with objects: {present})")
    if not len(objects):
        raise ProjectError(project.root, "no annotated objects to measure")
    stats = dataset_stats(objects, config, label=args.label, k=k, bin_counts=tuple(sorted(set(BIN_COUNTS) | {bins})))

    suggested = [(float(w), float(h)) for w, h in stats.overall.kmeans]
    size, ratio = stats.overall.mode_anchor(bins)
    suggested.append((size / math.sqrt(ratio), size * math.sqrt(ratio)))
    try:
        model_name, table, fields = backbone_fields(project, config)
        rf_warnings = receptive_field_warnings(suggested, config, fields)
        rf: dict[str, Any] = {"model": model_name, "strides": config_strides(config), "level_fields": fields,
                              "layers": [row.to_dict() for row in table], "warnings": rf_warnings}
    except (ImportError, ValueError, RuntimeError) as e:
        rf = {"error": f"receptive field not computed: {e}", "warnings": []}

    if args.plots:
        written = write_histogram_plots(stats, bins, Path(args.plots))
        if not args.json:
            print(f"wrote {len(written)} histogram PNGs to {args.plots}")
    if args.json:
        result = stats.to_dict(bins)
        result["receptive_field"] = rf
        print(json.dumps(result))
        return 0
    print(format_stats(stats, bins))
    print()
    if "error" in rf:
        print(rf["error"])
    else:
        print(f"Receptive field of {rf['model']} (levels at strides {rf['strides']}: fields {rf['level_fields']} px)")
        print(format_table(table))
    for warning in rf["warnings"]:
        print(f"warning: {warning}")
    return 0


# -- anchors -------------------------------------------------------------------------------------
def find_image(project: Project, wanted: str) -> Path:
    """The project image `wanted` names: its path relative to the project, or its file name."""
    images = project.image_paths()
    as_path = Path(wanted)
    for image in images:
        if image == as_path or image.as_posix() == as_path.as_posix():
            return image
    by_name = [image for image in images if image.name == as_path.name]
    if len(by_name) == 1:
        return by_name[0]
    if len(by_name) > 1:
        raise ProjectError(project.root, f"{wanted!r} matches {len(by_name)} images: "
                           f"{', '.join(p.as_posix() for p in by_name[:5])}; give the path relative to the project")
    raise ProjectError(project.root, f"no image {wanted!r} in the project ({len(images)} images)")


def run_anchors(args: argparse.Namespace) -> int:
    from .preview import preview_assignment
    from .render import render_overlay, save_png

    project = _open_project(args.project)
    config = load_anchor_config(args.config, project)
    image = find_image(project, args.image)
    path = project.abs_path(image)
    annotation = project.load_or_new(image)
    found = annotation_boxes(annotation)
    photo = load_image(path) if args.out else None
    w, h = photo.size if photo is not None else image_size(path)
    boxes = found.boxes
    if (w, h) != (annotation.image_width, annotation.image_height):
        # the sidecar records another size: scale its coordinates to the photo, as training does
        print(f"masklab: {project.annotation_path(image)}: records {annotation.image_width}x{annotation.image_height}"
              f" but the image is {w}x{h}; coordinates scaled", file=sys.stderr)
        boxes = boxes * [w / annotation.image_width, h / annotation.image_height] * 2
    preview = preview_assignment((w, h), boxes, config)
    if args.out:
        out = Path(args.out)
        if not out.parent.is_dir():
            raise ProjectError(out, "the folder for --out does not exist")
        save_png(render_overlay(photo, preview), out)
    if args.json:
        result = preview.to_json_dict()
        result["image"] = image.as_posix()
        result["labels"] = found.labels
        result["out"] = str(args.out) if args.out else None
        print(json.dumps(result))
        return 0
    c, s = preview.counts(), preview.sampled_counts()
    g = preview.geometry
    print(f"{image.as_posix()}: {w}x{h} photo, model input {g.resized_hw[1]}x{g.resized_hw[0]} "
          f"(padded {g.padded_hw[1]}x{g.padded_hw[0]}), {len(preview.labels)} anchors, {preview.num_objects} objects")
    print(f"  positive {c['positive']}, negative {c['negative']}, ignore {c['ignore']}; "
          f"sampled {s['positive']} positive + {s['negative']} negative")
    for lvl in preview.counts_per_level():
        print(f"  level {lvl['level']} stride {lvl['stride'][0]} sizes {lvl['sizes']}: positive {lvl['positive']}, "
              f"ignore {lvl['ignore']}, negative {lvl['negative']}")
    for obj in preview.counts_per_object():
        note = " (low-quality rescue only)" if obj["object"] in preview.rescued_objects() else ""
        note = " (no positive anchor)" if obj["positive"] == 0 else note
        print(f"  object {obj['object']} {found.labels[obj['object']]!r}: {obj['positive']} positive, "
              f"best IoU {obj['best_iou']:.3f}{note}")
    if args.out:
        print(f"wrote {args.out}")
    return 0
