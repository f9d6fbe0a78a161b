"""`main.py stats` and `main.py anchors`: dataset statistics with anchor suggestions, and the RPN's
anchor assignment on one photo as a PNG and / or JSON."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import MasklabError, ProjectError
from core.images import image_size, load_image
from core.project import Project

from .boxes import annotation_boxes
from .config import AnchorConfig
from .plots import write_histogram_plots
from .receptive_field import config_strides, format_table
from .stats import AREA, BIN_COUNTS, MODEL_LOG, PHOTO_LINEAR, QUANTITIES, RATIO, SCALES, GroupStats, collect_objects
from .suggest import StatsResult, compute_statistics

DEFAULT_FPN_MODEL = "mininet_r18_fpn"
CLASSIC_MODEL = "rpn_classic"


class ConfigError(MasklabError):
    """An anchor configuration file is unreadable or invalid."""


def anchor_settings(value: str | None, project: Project, model: str | None = None) -> tuple[str, AnchorConfig]:
    """(model, anchor settings with its input size) that a preview shows.

    None: what training `model` (default the project's training model) on the project uses
    (core.models.specs.training_anchor_config); 'classic': the single-anchor stride-16 RPN,
    rpn_classic at its input size; else a JSON file with AnchorConfig fields (the project file's
    settings['anchors'] format) for `model`, else the model its levels fit; without min_size /
    max_size in the file, that model's input size."""
    from core.models.specs import model_for_anchors, model_spec, training_anchor_config

    if model is not None:
        try:
            model_spec(model)
        except ValueError as e:
            raise ConfigError(None, f"--model: {e}") from None
    if value == "classic":
        if model not in (None, CLASSIC_MODEL):
            raise ConfigError(None, f"--config classic is rpn_classic's; it cannot preview {model}")
        return CLASSIC_MODEL, training_anchor_config(project, CLASSIC_MODEL, project_anchors=False)
    if value is None:
        try:
            name = model or (project.settings.get("training") or {}).get("model") or DEFAULT_FPN_MODEL
            return name, training_anchor_config(project, name)
        except (TypeError, ValueError) as e:
            raise ConfigError(project.project_file, f"settings['anchors'] is invalid: {e}") from e
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
        config = AnchorConfig.from_dict(data)
        name = model or model_for_anchors(config, (project.settings.get("training") or {}).get("model"))
        base = training_anchor_config(project, name, project_anchors=False)
    except (TypeError, ValueError) as e:
        raise ConfigError(path, f"invalid anchor settings: {e}") from e
    if any(v is not None and (not isinstance(v, (int, float)) or v <= 0) for v in (data.get("min_size"), data.get("max_size"))):
        raise ConfigError(path, "min_size and max_size must be positive numbers")
    return name, dataclasses.replace(config, min_size=int(data.get("min_size") or base.min_size),
                                     max_size=int(data.get("max_size") or base.max_size))


def load_anchor_config(value: str | None, project: Project, model: str | None = None) -> AnchorConfig:
    """The anchor settings of `anchor_settings`, without the model's name."""
    return anchor_settings(value, project, model)[1]


def _open_project(path: str) -> Project:
    if not Path(path).expanduser().is_dir():
        raise ProjectError(path, "not a folder (give the project folder with --project)")
    return Project.open(path, create=False)


# -- stats ---------------------------------------------------------------------------------------
TABLE_TITLES = {(AREA, MODEL_LOG): "area, model-input px^2, log bins",
                (RATIO, MODEL_LOG): "aspect ratio h/w, model input, log bins",
                (AREA, PHOTO_LINEAR): "area, photo px^2, linear bins",
                (RATIO, PHOTO_LINEAR): "aspect ratio h/w, photo, linear bins"}


def format_mode_table(group: GroupStats, quantity: str, scale: str) -> list[str]:
    """The study's table: per bin count, the mode bin's number, count, mean, variance and share."""
    lines = [f" {TABLE_TITLES[(quantity, scale)]}:",
             f"  {'bins':>5} {'mode bin':>8} {'count':>7} {'mean':>14} {'variance':>16} {'share':>7}"]
    for row in group.mode_table(quantity, scale):
        lines.append(f"  {row['bins']:>5} {row['mode_bin']:>8} {row['count']:>7} {row['mean']:>14.4g} "
                     f"{row['variance']:>16.4g} {row['share']:>7.1%}")
    return lines


def format_stats(result: StatsResult, model: str) -> str:
    stats, bins = result.stats, result.bins
    lines = [f"Box statistics of the boxes training {model} uses (input {stats.config.min_size}/"
             f"{stats.config.max_size}); each row: the mode bin of that many bins, with the mean and variance "
             f"of the boxes in it"]
    for group in stats.groups():
        title = "all objects" if group.label is None else f"label {group.label!r}"
        lines.append("")
        lines.append(f"{title}: {group.count} objects")
        if not group.count:
            continue
        for quantity in QUANTITIES:
            for scale in SCALES:
                lines += format_mode_table(group, quantity, scale)
        size, ratio = group.mode_anchor(bins)
        lines.append(f" mode anchor ({bins} log bins): size {size:.1f}, ratio {ratio:.2f}")
        shapes = ", ".join(f"{w:.0f}x{h:.0f}" for w, h in group.kmeans)
        lines.append(f" k-means anchors (w x h): {shapes}  (mean best IoU {group.kmeans_mean_iou:.3f})")
        f = group.fit
        lines.append(f" anchor fit: {f.share_good:.1%} of objects have an anchor at IoU >= {f.good_iou}, "
                     f"{f.mean_good_anchors:.2f} such anchors per object, "
                     f"{f.share_poor:.1%} have best IoU < {f.poor_iou} (rely on the low-quality rule)")
    lines.append("")
    title = "all objects" if result.label is None else f"label {result.label!r}"
    lines.append(f"Suggested anchor settings for {title}:")
    for name, config in result.suggestions.items():
        f = result.fits[name]
        lines.append(f"  {name:<7} sizes {[list(s) for s in config.sizes]}, ratios {list(config.aspect_ratios[0])}: "
                     f"{f.share_good:.1%} of objects with an anchor at IoU >= {f.good_iou}")
    return "\n".join(lines)


def run_stats(args: argparse.Namespace) -> int:
    bins = int(getattr(args, "bins", 20) or 20)
    k = int(getattr(args, "k", 5) or 5)
    if bins < 1 or k < 1:
        print("masklab: --bins and --k must be at least 1", file=sys.stderr)
        return 2
    project = _open_project(args.project)
    model, config = anchor_settings(None, project, getattr(args, "model", None))
    objects = collect_objects(project)
    for warning in objects.warnings:
        print(f"masklab: {warning}", file=sys.stderr)
    if args.label is not None and args.label not in set(objects.labels):
        present = ", ".join(sorted(set(objects.labels))) or "none"
        raise ProjectError(project.root, f"no objects labelled {args.label!r} (labels with objects: {present})")
    if not len(objects):
        raise ProjectError(project.root, "no annotated objects to measure")
    result = compute_statistics(project, config, args.label, bins, k, objects=objects.select(args.label))
    stats = result.stats
    if args.plots:
        written = write_histogram_plots(stats, Path(args.plots))
        if not args.json:
            print(f"wrote {len(written)} histogram PNGs ({', '.join(str(b) for b in BIN_COUNTS)} bins) to {args.plots}")
    if args.json:
        payload = stats.to_dict(bins)
        payload["model"] = model
        payload.update(result.to_dict())
        print(json.dumps(payload))
        return 0
    print(format_stats(result, model))
    print()
    if result.rf_error:
        print(result.rf_error)
    else:
        print(f"Receptive field of {result.rf_model} (levels at strides {config_strides(config)}: fields "
              f"{result.rf_fields} px)")
        print(format_table(result.rf_table))
    for warning in result.rf_warnings:
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


@dataclass
class ImagePreview:
    """The anchor preview of one project image as `main.py anchors` computes it."""

    image: Path
    preview: Any  # core.anchors.preview.AnchorPreview
    labels: list[str]  # of the objects the preview shows
    photo: Any  # the decoded photo when asked for, else None
    notes: list[str]


def preview_image(project: Project, image: Path, config_value: str | None = None, model: str | None = None,
                  decode: bool = False, seed: int = 0) -> ImagePreview:
    """The preview of project `image` for the settings `anchor_settings` resolves: the sidecar's
    training boxes (core.anchors.boxes) in the frame it records, the photo's real size."""
    from .preview import preview_assignment

    name, config = anchor_settings(config_value, project, model)
    path = project.abs_path(image)
    annotation = project.load_or_new(image)
    found = annotation_boxes(annotation)
    photo = load_image(path) if decode else None
    w, h = photo.size if photo is not None else image_size(path)
    drawn_on = (int(annotation.image_width or w), int(annotation.image_height or h))
    notes = []
    if drawn_on != (w, h):
        notes.append(f"{project.annotation_path(image)}: records {drawn_on[0]}x{drawn_on[1]} but the image is "
                     f"{w}x{h}; coordinates scaled, as training does")
    preview = preview_assignment((w, h), found.boxes, config, seed=seed, drawn_on=drawn_on, model=name)
    labels = [found.labels[i] for i in preview.object_ids]
    for i in sorted(set(range(len(found))) - set(preview.object_ids.tolist())):
        notes.append(f"{image.as_posix()}: object {i} {found.labels[i]!r} is thinner than a pixel at the model "
                     f"input; training drops it")
    return ImagePreview(image, preview, labels, photo, notes)


def run_anchors(args: argparse.Namespace) -> int:
    from .render import render_overlay, save_png

    project = _open_project(args.project)
    image = find_image(project, args.image)
    out = Path(args.out) if args.out else None
    if out is not None and not out.parent.is_dir():
        raise ProjectError(out, "the folder for --out does not exist")
    result = preview_image(project, image, args.config, getattr(args, "model", None), decode=out is not None)
    for note in result.notes:
        print(f"masklab: {note}", file=sys.stderr)
    preview = result.preview
    if out is not None:
        save_png(render_overlay(result.photo, preview), out)
    if args.json:
        payload = preview.to_json_dict()
        payload["image"] = image.as_posix()
        payload["labels"] = result.labels
        payload["out"] = str(args.out) if args.out else None
        print(json.dumps(payload))
        return 0
    c, s = preview.counts(), preview.sampled_counts()
    print(f"{image.as_posix()}: {preview.describe_input()}, {len(preview.labels)} anchors, "
          f"{preview.num_objects} objects")
    print(f"  positive {c['positive']}, negative {c['negative']}, ignore {c['ignore']}; "
          f"sampled {s['positive']} positive + {s['negative']} negative")
    for lvl in preview.counts_per_level():
        print(f"  level {lvl['level']} stride {lvl['stride'][0]} sizes {lvl['sizes']}: positive {lvl['positive']}, "
              f"ignore {lvl['ignore']}, negative {lvl['negative']}")
    for obj in preview.counts_per_object():
        note = " (low-quality rescue only)" if obj["object"] in preview.rescued_objects() else ""
        note = " (no positive anchor)" if obj["positive"] == 0 else note
        print(f"  object {obj['object']} {result.labels[obj['object']]!r}: {obj['positive']} positive, "
              f"best IoU {obj['best_iou']:.3f}{note}")
    if args.out:
        print(f"wrote {args.out}")
    return 0
