"""match_anchors against torchvision's Matcher, MasklabRPN against the stock RPN, and the preview
against the assignment inside a torchvision Mask R-CNN on real photos."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.models.detection._utils import Matcher
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.ops import box_iou

from core.anchors.assign import (AnchorGrid, build_anchor_generator, build_box_coder, build_matcher, build_sampler,
                                 generate_anchors, match_anchors)
from core.anchors.boxes import annotation_boxes
from core.anchors.config import AnchorConfig
from core.anchors.preview import feature_map_sizes, model_input_geometry, preview_assignment
from core.anchors.rpn import MasklabRPN, build_rpn
from core.labelme_json import read_annotation
from tests.conftest import shared_data


def _grid_for(config: AnchorConfig, hw: tuple[int, int]):
    return generate_anchors(config, hw, feature_map_sizes(hw, config))


def _random_boxes(gen: torch.Generator, n: int, hw: tuple[int, int], lo: float = 2.0, hi: float = 6.0) -> torch.Tensor:
    wh = torch.exp(torch.empty(n, 2).uniform_(lo, hi, generator=gen))
    xy = torch.rand(n, 2, generator=gen) * torch.tensor([hw[1], hw[0]], dtype=torch.float32) - wh / 4
    return torch.cat([xy, xy + wh], 1)


def _assert_same_as_matcher(anchors, gt, config, grid=None):
    """match_anchors in both modes against Matcher(box_iou): identical matches, rescues and best
    IoU per object; per-anchor IoU identical everywhere with exact_iou, else wherever it matters."""
    quality = box_iou(gt, anchors)
    expected = build_matcher(config)(quality)
    best, best_index = quality.max(dim=0)
    without = Matcher(config.fg_iou_thresh, config.bg_iou_thresh, False)(quality)
    results = []
    for exact in (True, False):
        result = match_anchors(anchors, gt, config, grid, exact_iou=exact)
        assert torch.equal(result.matched_idxs, expected)
        assert torch.equal(result.low_quality, (expected >= 0) & (without < 0))
        assert torch.equal(result.best_iou_per_object, quality.max(dim=1).values)
        matters = (best >= config.bg_iou_thresh) | (expected >= 0) if not exact else torch.ones_like(best, dtype=torch.bool)
        assert torch.equal(result.iou[matters], best[matters])
        assert torch.equal(result.best_object[matters], torch.where(best > 0, best_index, -1)[matters])
        assert bool((result.iou <= best).all())
        results.append(result)
    return results[1]


@pytest.mark.parametrize("config", [
    AnchorConfig(min_size=320, max_size=512),
    AnchorConfig(fg_iou_thresh=0.5, bg_iou_thresh=0.4, allow_low_quality_matches=False),
    AnchorConfig(sizes=((16, 24), (48, 64), (96, 128), (192, 256), (384, 512)), aspect_ratios=((0.25, 1.0, 3.0),)),
    AnchorConfig.classic_single(),
], ids=["fpn", "thresholds-no-rescue", "two-sizes", "classic"])
def test_match_anchors_equals_torchvision_matcher_on_random_boxes(config):
    gen = torch.Generator().manual_seed(1)
    anchors, grid = _grid_for(config, (256, 384))
    for n in (1, 7, 30):
        gt = _random_boxes(gen, n, (256, 384))
        _assert_same_as_matcher(anchors, gt, config, grid)
    _assert_same_as_matcher(anchors, gt, config, None)  # the layout-free path


def test_ties_between_objects_and_for_the_low_quality_rule():
    config = AnchorConfig(sizes=((64,),), aspect_ratios=((1.0,),), strides=(16,))
    anchors, grid = _grid_for(config, (256, 256))
    # centred between four anchors (x and y in [16, 80] vs [32, 96]): four equal best IoUs of 0.62,
    # so the low-quality rule rescues all four
    box = torch.tensor([[24.0, 24.0, 88.0, 88.0]])
    result = _assert_same_as_matcher(anchors, box, config, grid)
    assert int(result.low_quality.sum()) == 4 and int((result.matched_idxs == 0).sum()) == 4
    # the same object twice: every anchor's tie goes to the first, as torch.max does
    twice = torch.cat([box, box, torch.tensor([[100.0, 100.0, 164.0, 164.0]])])
    result = _assert_same_as_matcher(anchors, twice, config, grid)
    assert int((result.matched_idxs == 1).sum()) == 0
    # grid-aligned integer boxes produce many exact ties across objects
    gen = torch.Generator().manual_seed(3)
    aligned = (torch.randint(0, 12, (30, 2), generator=gen) * 16).float()
    sides = (torch.randint(2, 8, (30, 2), generator=gen) * 16).float()
    _assert_same_as_matcher(anchors, torch.cat([aligned, aligned + sides], 1), config, grid)


def test_edge_cases_fall_back_to_the_reference_path():
    config = AnchorConfig(min_size=256, max_size=256)
    anchors, grid = _grid_for(config, (256, 256))
    empty = match_anchors(anchors, torch.zeros((0, 4)), config, grid)
    assert bool((empty.matched_idxs == Matcher.BELOW_LOW_THRESHOLD).all())
    degenerate = torch.tensor([[10.0, 10.0, 10.0, 50.0], [30.0, 30.0, 90.0, 80.0]])
    _assert_same_as_matcher(anchors, degenerate, config, grid)
    outside = torch.tensor([[5000.0, 5000.0, 5100.0, 5100.0], [30.0, 30.0, 90.0, 80.0]])
    _assert_same_as_matcher(anchors, outside, config, grid)
    zero_low = AnchorConfig(min_size=256, max_size=256, bg_iou_thresh=0.0)
    _assert_same_as_matcher(anchors, torch.tensor([[30.0, 30.0, 90.0, 80.0]]), zero_low, grid)
    # a grid that does not describe the anchors is detected, and the exact dense path runs
    wrong = AnchorGrid.from_generator(build_anchor_generator(config), (128, 128), feature_map_sizes((128, 128), config))
    assert not wrong.agrees_with(anchors)
    _assert_same_as_matcher(anchors, torch.tensor([[30.0, 30.0, 90.0, 80.0]]), config, wrong)


def test_builders_follow_the_config():
    config = AnchorConfig(fg_iou_thresh=0.6, bg_iou_thresh=0.2, allow_low_quality_matches=False,
                          batch_size_per_image=64, positive_fraction=0.25)
    matcher, sampler = build_matcher(config), build_sampler(config)
    assert (matcher.high_threshold, matcher.low_threshold, matcher.allow_low_quality_matches) == (0.6, 0.2, False)
    assert (sampler.batch_size_per_image, sampler.positive_fraction) == (64, 0.25)
    assert build_box_coder().weights == (1.0, 1.0, 1.0, 1.0)
    assert build_anchor_generator(config).num_anchors_per_location() == [3] * 5


def test_masklab_rpn_assigns_like_the_stock_rpn():
    config = AnchorConfig(min_size=320, max_size=480)
    rpn = build_rpn(config, in_channels=8)
    assert isinstance(rpn, MasklabRPN) and rpn.proposal_matcher.high_threshold == config.fg_iou_thresh
    anchors, _ = _grid_for(config, (320, 480))
    gen = torch.Generator().manual_seed(5)
    targets = [{"boxes": _random_boxes(gen, 12, (320, 480))}, {"boxes": torch.zeros((0, 4))}]
    labels, matched = rpn.assign_targets_to_anchors([anchors, anchors], targets)
    stock_labels, stock_matched = RegionProposalNetwork.assign_targets_to_anchors(rpn, [anchors, anchors], targets)
    for a, b in zip(labels + matched, stock_labels + stock_matched):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="same number of anchors"):
        build_rpn(AnchorConfig(sizes=((32,), (64, 128)), aspect_ratios=((1.0,),)), in_channels=8)


def test_rpn_forward_uses_the_grid_and_trains():
    """The RPN inside a forward pass: assignment runs on the anchor grid of the batch and gives
    the stock labels; the losses are finite."""
    from torchvision.models.detection.image_list import ImageList

    config = AnchorConfig(min_size=256, max_size=256)
    rpn = build_rpn(config, in_channels=4).train()
    seen = []
    original = rpn.assign_targets_to_anchors

    def spy(anchors, targets):
        out = original(anchors, targets)
        seen.append((rpn._grid is not None and rpn._grid.agrees_with(anchors[0]), anchors, out))
        return out

    rpn.assign_targets_to_anchors = spy
    images = ImageList(torch.zeros((1, 3, 256, 256)), [(256, 240)])
    features = {str(i): torch.randn(1, 4, h, w) for i, (h, w) in enumerate(feature_map_sizes((256, 256), config))}
    gen = torch.Generator().manual_seed(2)
    _, losses = rpn(images, features, [{"boxes": _random_boxes(gen, 5, (256, 240))}])
    assert all(torch.isfinite(v) for v in losses.values())
    used_grid, anchors, (labels, _) = seen[0]
    assert used_grid
    stock, _ = RegionProposalNetwork.assign_targets_to_anchors(rpn, anchors, [{"boxes": _random_boxes(
        torch.Generator().manual_seed(2), 5, (256, 240))}])
    assert torch.equal(labels[0], stock[0])


def test_rpn_assigns_in_float32_on_the_fast_path_under_bfloat16_autocast(monkeypatch):
    """Under autocast the feature maps are bfloat16; the anchors and the assignment stay float32
    (labels equal to the float32 pass) and take the sparse fast path, never the reference one."""
    import core.anchors.assign as assign
    from torchvision.models.detection.image_list import ImageList

    config = AnchorConfig(min_size=256, max_size=256)
    rpn = build_rpn(config, in_channels=4).train()
    seen = []
    original = rpn.assign_targets_to_anchors

    def spy(anchors, targets):
        out = original(anchors, targets)
        seen.append((anchors[0].dtype, out[0][0]))
        return out

    def no_reference_path(*args, **kwargs):
        raise AssertionError("the reference (dense) matcher ran")

    rpn.assign_targets_to_anchors = spy
    monkeypatch.setattr(assign, "_plain_match", no_reference_path)
    images = ImageList(torch.zeros((1, 3, 256, 256)), [(256, 240)])
    features = {str(i): torch.randn(1, 4, h, w) for i, (h, w) in enumerate(feature_map_sizes((256, 256), config))}
    # boxes at fractional coordinates near 250 px: bf16 keeps 8 bits of mantissa, 250.3 becomes 250
    boxes = torch.tensor([[10.3, 20.7, 90.9, 61.1], [100.5, 37.3, 250.3, 190.9], [3.1, 140.6, 40.2, 251.7]])
    rpn(images, features, [{"boxes": boxes}])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        rpn(images, {k: v.to(torch.bfloat16) for k, v in features.items()}, [{"boxes": boxes}])
    (dtype32, labels32), (dtype_amp, labels_amp) = seen
    assert dtype32 == dtype_amp == torch.float32
    assert torch.equal(labels32, labels_amp) and bool((labels32 == 1).any())


def test_preview_fields_round_trip_and_sampling():
    config = AnchorConfig()
    boxes = np.array([[100, 200, 1500, 1400], [3000, 100, 3100, 180], [2000, 2000, 2600, 2300]], dtype=np.float64)
    p = preview_assignment((4500, 3000), boxes, config, seed=3)
    assert p.geometry.resized_hw == (800, 1200) and p.geometry.padded_hw == (800, 1216)
    n = len(p.labels)
    assert n == sum(p.grid.anchors_per_level) and p.anchors_photo.shape == (n, 4)
    counts = p.counts()
    assert counts["positive"] + counts["negative"] + counts["ignore"] == n and counts["positive"] > 0
    assert sum(c["positive"] for c in p.counts_per_level()) == counts["positive"]
    assert sum(c["positive"] for c in p.counts_per_object()) == counts["positive"]
    # BoxCoder round trip: decoding the targets gives back the matched object's box
    pos = p.labels == 1
    np.testing.assert_allclose(p.decoded_boxes[pos], p.gt_boxes_input[p.matched_idxs[pos]], atol=1e-3)
    assert np.abs(p.regression_targets[pos]).sum() > 0
    # sampler: at most 256, at most half positive, reproducible by seed
    s = p.sampled_counts()
    assert s["positive"] <= 128 and s["positive"] + s["negative"] == 256
    assert set(np.unique(p.labels[p.sampled])) <= {0, 1}
    again = preview_assignment((4500, 3000), boxes, config, seed=3)
    assert np.array_equal(again.sampled, p.sampled)
    # size and ratio per anchor describe its box (rounded by AnchorGenerator)
    w = p.anchors_input[:, 2] - p.anchors_input[:, 0]
    h = p.anchors_input[:, 3] - p.anchors_input[:, 1]
    assert np.all(np.abs(np.sqrt(w * h) - p.size) <= 0.05 * p.size)
    assert np.all(np.abs(h / w - p.ratio) <= 0.1 * p.ratio)
    # photo coordinates: the input anchors scaled by 4500 / 1200
    np.testing.assert_allclose(p.anchors_photo, p.anchors_input * 3.75, rtol=1e-5, atol=1e-3)
    low = p.low_quality
    assert np.all(p.labels[low] == 1)
    rescued = p.rescued_objects()
    assert all(p.best_iou_per_object[o] < config.fg_iou_thresh for o in rescued)


def _real_photos() -> list[tuple[object, object]]:
    """(image path, ObjectBoxes) of real photos: two LabelMe examples (a VOC photo and a video
    frame) and, when the VIA reader is there, a phone-size car photo of car_damage_via."""
    root = shared_data("labelme_examples")
    found = []
    for sidecar in sorted(root.rglob("*.json")):
        ann = read_annotation(sidecar)
        boxes = annotation_boxes(ann)
        if len(boxes):
            found.append((sidecar.with_name(ann.image_path), boxes))
    picked = [found[0], found[-1]]
    try:
        from core.annotation import Annotation
        from core.formats.via import read_via
    except ImportError:
        return picked
    plan = read_via(shared_data("car_damage_via") / "all.json", label_key="cls")
    big = [item for item in plan.images if item.shapes and 1500 <= max(item.width, item.height) <= 2500]
    item = big[0]
    ann = Annotation(item.source.name, item.height, item.width, shapes=item.shapes)
    return picked + [(item.source, annotation_boxes(ann))]


def test_preview_equals_assignment_inside_a_torchvision_maskrcnn():
    """A unit test of the assignment with the same boxes (the proof that the preview is what
    training computes, the way training runs, is tests/test_anchors_training_equality.py): on
    real photos, the preview's labels are those torchvision's own RegionProposalNetwork
    .assign_targets_to_anchors computes inside a Mask R-CNN built with the same config, for the
    preview's ground-truth boxes, on anchors from the model's AnchorGenerator over its own
    transformed input."""
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
    from torchvision.transforms.functional import pil_to_tensor

    from core.images import load_image

    torch.manual_seed(0)
    for config in (AnchorConfig(min_size=400, max_size=666),
                   AnchorConfig(min_size=320, max_size=533, fg_iou_thresh=0.6, bg_iou_thresh=0.4,
                                sizes=((24,), (48,), (96,), (192,), (384,)), aspect_ratios=((0.5, 1.0, 1.5, 2.0),))):
        backbone = resnet_fpn_backbone(backbone_name="resnet18", weights=None, trainable_layers=5)
        model = MaskRCNN(backbone, num_classes=3, min_size=config.min_size, max_size=config.max_size,
                         rpn_anchor_generator=build_anchor_generator(config),
                         rpn_head=RPNHead(256, config.num_anchors_per_location[0]),
                         rpn_fg_iou_thresh=config.fg_iou_thresh, rpn_bg_iou_thresh=config.bg_iou_thresh,
                         rpn_batch_size_per_image=config.batch_size_per_image,
                         rpn_positive_fraction=config.positive_fraction).train()
        assert type(model.rpn) is RegionProposalNetwork
        photos = _real_photos()
        for image_path, boxes in (photos[:2] if config.min_size == 400 else photos[2:] or photos[:1]):
            image = load_image(image_path)
            tensor = pil_to_tensor(image).float() / 255.0
            target = {"boxes": torch.as_tensor(boxes.boxes, dtype=torch.float32),
                      "labels": torch.ones(len(boxes), dtype=torch.int64)}
            with torch.no_grad():
                images, targets = model.transform([tensor], [target])
                features = list(model.backbone(images.tensors).values())
            anchors = model.rpn.anchor_generator(images, features)
            preview = preview_assignment(image.size, boxes.boxes, config)
            np.testing.assert_allclose(preview.gt_boxes_input, targets[0]["boxes"].numpy(), atol=1e-3)
            same_boxes = [{"boxes": torch.from_numpy(preview.gt_boxes_input), "labels": targets[0]["labels"]}]
            stock_labels, _ = model.rpn.assign_targets_to_anchors(anchors, same_boxes)

            assert preview.geometry.padded_hw == tuple(images.tensors.shape[-2:])
            assert preview.geometry.resized_hw == tuple(images.image_sizes[0])
            assert np.array_equal(preview.anchors_input, anchors[0].numpy())
            assert np.array_equal(preview.labels, stock_labels[0].to(torch.int8).numpy()), image_path
            assert (preview.labels == 1).any()


def test_input_geometry_matches_generalized_rcnn_transform():
    """Both steps of training's geometry: the dataset's frame (core.anchors.frames), then the
    model's GeneralizedRCNNTransform on that frame, run on 'meta' images of the frame's size."""
    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    from core.anchors.frames import training_frame_hw
    from core.anchors.preview import transform_geometry

    gen = np.random.default_rng(0)
    sizes = [(176, 173), (4500, 3000), (333, 1999), (640, 480), (1, 1), (1333, 800), (801, 799), (4253, 3185),
             (7, 4800), (4800, 7)]
    sizes += [tuple(int(v) for v in gen.integers(1, 5000, 2)) for _ in range(20)]
    for min_size, max_size in ((800, 1333), (256, 512), (600, 1000), (320, 640)):
        config = AnchorConfig(min_size=min_size, max_size=max_size)
        t = GeneralizedRCNNTransform(min_size, max_size, [0.0] * 3, [1.0] * 3).eval()
        for w, h in sizes:
            frame = training_frame_hw(h, w, min_size, max_size)
            images, _ = t([torch.empty((3, *frame), device="meta")])  # the transform's own code, no pixels
            g = model_input_geometry((w, h), config)
            assert g.frame_hw == frame and min(frame) >= 1
            assert g.resized_hw == tuple(images.image_sizes[0]), (w, h, min_size)
            assert g.padded_hw == tuple(images.tensors.shape[-2:]), (w, h, min_size)
            assert transform_geometry(frame, min_size, max_size) == (g.resized_hw, g.padded_hw)
    with pytest.raises(ValueError):
        model_input_geometry((0, 10), config)
