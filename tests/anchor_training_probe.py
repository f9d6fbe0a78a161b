"""What the RPN is trained on, captured from a real training forward pass, beside what the anchor
preview shows for the same photo: the probe behind tests/test_anchors_training_equality.py and
the table in its report.

The dataset and the model are built by the trainer's own construction step (Trainer._prepare,
through core.training.run_state); the labels are captured anchor for anchor at the
RPN's assign_targets_to_anchors and the mini-batch at its fg_bg_sampler, then the forward pass is
stopped (what follows the RPN's sampling cannot change either)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.project import Project
from core.training.split import project_split
from core.training.run_state import RunState
from core.training.trainer import Trainer, TrainSettings

SEED = 1234


def make_car_project(root: Path, source: Path, names: list[str], exif_copy_of: str | None = None) -> Project:
    """A project of `names` from car_damage_via (images linked, LabelMe sidecars written by the VIA
    importer), plus an EXIF-rotated copy of one photo: its pixels stored turned 90 degrees
    counter-clockwise with orientation tag 6, so the oriented photo and its annotation are the
    original's."""
    from PIL import Image

    from core.formats import apply_import
    from core.formats.via import read_via

    project = Project.open(root)
    plan = read_via(source / "all.json", label_key="cls")
    plan.images = [item for item in plan.images if item.source.name in names]
    apply_import(project, plan, link=True)
    if exif_copy_of is not None:
        original = project.root / exif_copy_of
        rotated_name = f"exif6_{Path(exif_copy_of).stem}.jpg"
        with Image.open(original) as im:
            exif = Image.Exif()
            exif[274] = 6
            im.convert("RGB").transpose(Image.Transpose.ROTATE_90).save(project.root / rotated_name, exif=exif,
                                                                          quality=90)
        ann = project.load_annotation(exif_copy_of)
        ann.image_path = rotated_name
        project.save_annotation(rotated_name, ann)
    project = Project.open(root)
    images = [p.as_posix() for p in project.image_paths()]
    project.settings.pop("split", None)
    project_split(project, images=images, ratios={"train": 1.0, "val": 0.0, "test": 0.0})
    return project


class _Stop(Exception):
    """Raised by the sampler hook: the RPN's targets are known, the rest of the pass is not needed."""


@dataclass
class Captured:
    labels: list[torch.Tensor] = field(default_factory=list)
    gt_boxes: list[torch.Tensor] = field(default_factory=list)
    sampled: list[torch.Tensor] = field(default_factory=list)


def build_like_the_trainer(project: Project, model: str, augment: str = "none",
                           rpn_sampling: str = "at_most_half") -> RunState:
    """The run's data and model exactly as the trainer prepares them (nothing trained, no run folder)."""
    settings = TrainSettings(model=model, weights="none", augment=augment, device="cpu", seed=0, workers=0,
                             rpn_sampling=rpn_sampling)
    return Trainer(project, settings)._prepare(torch.device("cpu"), None)


def training_targets(run: RunState, index: int, dtype: torch.dtype | None, sample_seed: int = SEED) -> Captured:
    """One real training forward pass of train image `index` (autocast to `dtype` on the CPU when
    given), with the RPN's labels, ground-truth boxes and sampled mini-batch captured."""
    model = run.learner.model
    rpn = model.rpn
    captured = Captured()
    assign, sampler = rpn.assign_targets_to_anchors, rpn.fg_bg_sampler

    def assign_hook(anchors, targets):
        labels, matched = assign(anchors, targets)
        captured.labels += [label.detach().cpu().clone() for label in labels]
        captured.gt_boxes += [t["boxes"].detach().cpu().clone() for t in targets]
        return labels, matched

    def sampler_hook(labels):
        torch.manual_seed(sample_seed)  # the preview's sampling seed, for a comparable draw
        pos, neg = sampler(labels)
        captured.sampled += [(p | n).bool().cpu() for p, n in zip(pos, neg)]
        raise _Stop

    rpn.assign_targets_to_anchors = assign_hook
    rpn.fg_bg_sampler = sampler_hook
    image, target = run.data.train_ds[index]
    model.train()
    try:
        with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
            model([image], [target])
    except _Stop:
        pass
    finally:
        del rpn.assign_targets_to_anchors  # the class's method again
        rpn.fg_bg_sampler = sampler
    assert len(captured.labels) == 1 and len(captured.sampled) == 1, "the RPN did not assign targets"
    return captured
