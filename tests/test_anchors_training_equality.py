"""The anchor preview is what training computes (issue 11): for every model, real photos of
car_damage_via (one of them an EXIF-rotated copy), the dataset and the model built by the
trainer's own steps, a real training forward pass in float32 and under CPU bfloat16 autocast, and
the RPN's labels, ground-truth boxes and sampled mini-batch captured anchor for anchor, against
`main.py anchors`' preview of the same photo and the boxes the statistics count."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.anchors.commands import preview_image
from core.anchors.stats import collect_objects, input_boxes
from core.models.specs import MODEL_NAMES, model_spec
from tests.anchor_training_probe import SEED, build_like_the_trainer, make_car_project, training_targets
from tests.conftest import shared_data

torch.set_num_threads(2)

EXIF_COPY = "exif6_car_8.jpg"
PHOTOS = ["car_0.png", "car_1.jpeg", "car_10.jpg", "car_8.jpg", EXIF_COPY]
# The ResNet-50 models run at 800 px, a few seconds a pass on a CPU: one square photo each (the
# smallest input at that size), the EXIF-rotated copy for one of them.
MODEL_PHOTOS = {
    "mininet_r18_fpn": PHOTOS,
    "rpn_classic": PHOTOS,
    "maskrcnn_mobilenet_v3_fpn": ["car_1.jpeg", EXIF_COPY],
    "maskrcnn_r50_fpn": [EXIF_COPY],
    "maskrcnn_r50_fpn_v2": ["car_8.jpg"],
}
PRECISIONS = {"float32": None, "bfloat16 autocast": torch.bfloat16}


@pytest.fixture(scope="module")
def car_project(tmp_path_factory):
    source = shared_data("car_damage_via")
    root = tmp_path_factory.mktemp("cars") / "project"
    return make_car_project(root, source, [p for p in PHOTOS if p != EXIF_COPY], exif_copy_of="car_8.jpg")


@pytest.fixture(scope="module")
def project_objects(car_project):
    return collect_objects(car_project)


def test_every_model_is_covered():
    assert set(MODEL_PHOTOS) == set(MODEL_NAMES)


@pytest.mark.parametrize("model", list(MODEL_PHOTOS))
def test_preview_and_statistics_equal_the_training_forward_pass(model, car_project, project_objects):
    run = build_like_the_trainer(car_project, model)
    spec = model_spec(model)
    assert (run.data.min_size, run.data.max_size) == (spec.default_min_size, spec.default_max_size)
    for name in MODEL_PHOTOS[model]:
        index = run.data.train_ds.images.index(name)
        shown = preview_image(car_project, Path(name), None, model, seed=SEED)  # what `main.py anchors` shows
        preview = shown.preview
        assert preview.model == model and (preview.config.min_size, preview.config.max_size) == (run.data.min_size,
                                                                                                 run.data.max_size)
        image_rows = np.flatnonzero(project_objects.image_index == project_objects.image_names.index(name))
        for precision, dtype in PRECISIONS.items():
            captured = training_targets(run, index, dtype)
            where = f"{model}, {name}, {precision}"
            labels, boxes, sampled = captured.labels[0].numpy(), captured.gt_boxes[0].numpy(), captured.sampled[0].numpy()
            assert boxes.dtype == np.float32 and np.array_equal(boxes, preview.gt_boxes_input), where
            assert labels.shape == preview.labels.shape, where
            assert np.array_equal(labels, preview.labels), where  # anchor for anchor
            assert np.array_equal(sampled, preview.sampled), where  # the same mini-batch under one seed
            assert (labels == 1).any(), where
            # the statistics count exactly these boxes
            stats_boxes = input_boxes(project_objects, run.data.anchors)[image_rows]
            assert np.array_equal(stats_boxes.astype(np.float32), boxes), where


@pytest.mark.parametrize("model", ["mininet_r18_fpn", "rpn_classic"])
def test_with_balanced_sampling_the_preview_samples_what_training_samples(model, car_project):
    """The sampler is a training setting (settings["training"]["rpn_sampling"], the panel's "RPN
    mini-batch"): with "balanced", training and the preview draw exactly as many negatives as
    positives, the same anchors under one seed."""
    car_project.settings.setdefault("training", {})["rpn_sampling"] = "balanced"
    try:
        run = build_like_the_trainer(car_project, model, rpn_sampling="balanced")
        for name in PHOTOS[:2]:
            preview = preview_image(car_project, Path(name), None, model, seed=SEED).preview
            assert preview.config.sampling == "balanced"
            captured = training_targets(run, run.data.train_ds.images.index(name), None)
            labels, sampled = captured.labels[0].numpy(), captured.sampled[0].numpy()
            assert np.array_equal(labels, preview.labels) and np.array_equal(sampled, preview.sampled), name
            positives, negatives = int((sampled & (labels == 1)).sum()), int((sampled & (labels == 0)).sum())
            assert positives == negatives > 0, (name, positives, negatives)
    finally:
        del car_project.settings["training"]["rpn_sampling"]
    default = preview_image(car_project, Path(PHOTOS[0]), None, model, seed=SEED).preview
    assert default.config.sampling == "at_most_half" and int(default.sampled.sum()) == 256  # torchvision's


def test_the_exif_copy_is_seen_upright_by_training_and_preview(car_project):
    """The rotated file's pixels are stored sideways: training and preview both see the original."""
    from core.images import image_size

    assert image_size(car_project.abs_path(EXIF_COPY)) == image_size(car_project.abs_path("car_8.jpg"))
    train_ds = build_like_the_trainer(car_project, "rpn_classic").data.train_ds
    upright = train_ds[train_ds.images.index("car_8.jpg")]
    rotated = train_ds[train_ds.images.index(EXIF_COPY)]
    assert upright[0].shape == rotated[0].shape
    assert float((upright[0] - rotated[0]).abs().mean()) < 0.05  # the same photo (JPEG-recompressed)
    assert torch.equal(upright[1]["boxes"], rotated[1]["boxes"])


def test_with_augmentation_training_differs_from_the_preview(car_project):
    """Augmentation (flips, zooms) moves the boxes, so the assignment differs from the preview:
    measured here, asserted loosely."""
    run = build_like_the_trainer(car_project, "mininet_r18_fpn", augment="default")
    changed, positives_kept = [], []
    for index, name in enumerate(run.data.train_ds.images):
        preview = preview_image(car_project, Path(name), None, "mininet_r18_fpn", seed=SEED).preview
        torch.manual_seed(index)  # a fixed draw of the augmentation per photo
        labels = training_targets(run, index, None).labels[0].numpy()
        changed.append(float((labels != preview.labels).mean()))
        shown, trained = preview.labels == 1, labels == 1
        positives_kept.append(float((shown & trained).sum() / max(1, (shown | trained).sum())))
    print(f"\naugmentation on: {np.mean(changed):.2%} of anchor labels differ from the preview "
          f"(per photo {[f'{c:.2%}' for c in changed]}); positive-set IoU {np.mean(positives_kept):.2f}")
    assert max(changed) > 0.0005 and np.mean(positives_kept) < 0.9
    assert max(changed) < 0.2  # the same photos and objects: most anchors stay negative either way
