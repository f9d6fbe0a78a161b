"""Every registered model builds for N labels, follows the torchvision detection interface in
train and eval mode (images without objects included), uses Masklab's RPN, and the small models
learn on a tiny synthetic batch."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from core.anchors.config import AnchorConfig
from core.anchors.rpn import MasklabRPN
from core.models.registry import MODEL_NAMES, BuiltModel, build_model, model_spec
from core.models.rpn_classic import ClassicRPNHead

SIZE = 128


def synthetic_batch(seed: int = 0, n_images: int = 2, size: int = SIZE, n_labels: int = 2,
                    empty_last: bool = True) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """Noise images with one coloured rectangle each (label by colour); the last one without
    objects when `empty_last`."""
    g = torch.Generator().manual_seed(seed)
    colours = torch.tensor([[0.9, 0.2, 0.2], [0.2, 0.3, 0.9], [0.2, 0.9, 0.3]])
    images, targets = [], []
    for i in range(n_images):
        h, w = size, size + 16 * i
        image = torch.rand(3, h, w, generator=g) * 0.3
        if empty_last and i == n_images - 1:
            images.append(image)
            targets.append({"boxes": torch.zeros((0, 4)), "labels": torch.zeros(0, dtype=torch.int64),
                            "masks": torch.zeros((0, h, w), dtype=torch.uint8)})
            continue
        x1, y1 = (int(v) for v in torch.randint(0, size // 2, (2,), generator=g))
        bw, bh = (int(v) for v in torch.randint(size // 4, size // 2, (2,), generator=g))
        label = i % n_labels + 1
        image[:, y1:y1 + bh, x1:x1 + bw] = colours[label - 1][:, None, None]
        mask = torch.zeros((1, h, w), dtype=torch.uint8)
        mask[0, y1:y1 + bh, x1:x1 + bw] = 1
        images.append(image)
        targets.append({"boxes": torch.tensor([[x1, y1, x1 + bw, y1 + bh]], dtype=torch.float32),
                        "labels": torch.tensor([label]), "masks": mask})
    return images, targets


def small_model(name: str, num_classes: int = 3, sampled_rois: int = 32, **kwargs) -> BuiltModel:
    """The model at a 128 px input. On a CPU the RoI heads dominate at this size (the mask head
    runs four 256-channel convs per positive RoI): tests sample fewer RoIs than training does."""
    torch.manual_seed(0)
    built = build_model(name, num_classes, weights="none", min_size=SIZE, max_size=SIZE + 32, **kwargs)
    if hasattr(built.model, "roi_heads"):
        built.model.roi_heads.fg_bg_sampler.batch_size_per_image = sampled_rois
    return built


def assert_finite_losses(losses: dict[str, torch.Tensor], expected: set[str]) -> None:
    assert set(losses) == expected
    for key, value in losses.items():
        assert value.ndim == 0 and torch.isfinite(value), f"{key} = {value}"


MASK_LOSSES = {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"}


def test_registry_names_and_specs():
    assert {"maskrcnn_r50_fpn", "maskrcnn_r50_fpn_v2", "mininet_r18_fpn", "rpn_classic"} <= set(MODEL_NAMES)
    for name in MODEL_NAMES:
        spec = model_spec(name)
        assert spec.name == name and spec.kind in ("mask", "rpn")
        anchors = spec.default_anchors()
        assert (anchors.min_size, anchors.max_size) == (spec.default_min_size, spec.default_max_size)
        assert spec.default_lr > 0 and spec.default_batch_size >= 1
    assert model_spec("rpn_classic").kind == "rpn"
    assert model_spec("rpn_classic").default_anchors().sizes == ((64,),)
    with pytest.raises(ValueError, match="mininet_r18_fpn"):
        model_spec("resnet_unknown")


@pytest.mark.parametrize("name", ["maskrcnn_r50_fpn", "maskrcnn_r50_fpn_v2", "maskrcnn_mobilenet_v3_fpn"])
def test_mask_models_build_and_give_losses_at_128(name):
    built = small_model(name)
    model = built.model
    assert isinstance(model.rpn, MasklabRPN)
    assert not built.pretrained and "none" in built.weights_source
    assert model.roi_heads.box_predictor.cls_score.out_features == 3
    assert model.roi_heads.mask_predictor.mask_fcn_logits.out_channels == 3
    assert model.transform.min_size == (SIZE,)
    # without weights: trainable BatchNorm2d everywhere in the backbone, all layers trainable
    norms = [m for m in model.backbone.body.modules() if "BatchNorm" in type(m).__name__]
    assert norms and all(type(m) is nn.BatchNorm2d for m in norms)
    assert all(p.requires_grad for p in model.backbone.parameters())
    model.train()
    images, targets = synthetic_batch()
    assert_finite_losses(model(images, targets), MASK_LOSSES)


def test_mobilenet_feature_maps_match_its_anchor_strides():
    from core.anchors.preview import feature_map_sizes

    built = small_model("maskrcnn_mobilenet_v3_fpn")
    assert built.anchors.strides == (16, 16, 32) and built.anchors.num_anchors_per_location == [15, 15, 15]
    with torch.no_grad():
        features = built.model.eval().backbone(torch.zeros(1, 3, 160, 224))
    assert [tuple(f.shape[-2:]) for f in features.values()] == feature_map_sizes((160, 224), built.anchors)
    with pytest.raises(ValueError, match="3 feature level"):
        build_model("maskrcnn_mobilenet_v3_fpn", 2, anchors=AnchorConfig.fpn_default(), weights="none")


def test_mininet_train_and_eval_interface():
    built = small_model("mininet_r18_fpn", num_classes=4)
    model = built.model
    assert isinstance(model.rpn, MasklabRPN)
    assert built.anchors.sizes == ((32,), (64,), (128,), (256,), (512,))
    assert built.anchors.aspect_ratios[0] == (0.5, 1.0, 2.0)
    assert model.backbone.body.layer4[-1].conv2.out_channels == 512  # ResNet-18
    model.train()
    images, targets = synthetic_batch(n_labels=3)
    assert_finite_losses(model(images, targets), MASK_LOSSES)

    model.eval()
    model.roi_heads.detections_per_img = 10
    with torch.no_grad():
        outputs = model(images)
    assert len(outputs) == 2
    for image, out in zip(images, outputs):
        h, w = image.shape[-2:]
        assert set(out) == {"boxes", "labels", "scores", "masks"}
        n = len(out["boxes"])
        assert out["boxes"].shape == (n, 4) and out["scores"].shape == (n,)
        assert out["masks"].shape == (n, 1, h, w) and out["masks"].dtype == torch.float32
        assert out["labels"].dtype == torch.int64
        if n:
            assert 1 <= int(out["labels"].min()) and int(out["labels"].max()) <= 3
            assert float(out["masks"].min()) >= 0 and float(out["masks"].max()) <= 1
            assert float(out["boxes"][:, 2].max()) <= w and float(out["boxes"][:, 3].max()) <= h


def test_rpn_classic_structure_and_interface():
    built = small_model("rpn_classic")
    model = built.model
    assert isinstance(model.rpn, MasklabRPN) and isinstance(model.rpn.head, ClassicRPNHead)
    assert built.anchors.sizes == ((64,),) and built.anchors.aspect_ratios == ((0.66,),)
    assert model.rpn.head.cls_logits.out_channels == 1 and model.rpn.head.bbox_pred.out_channels == 4
    backbone = model.backbone
    convs = [m for m in backbone if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(5, 5)] * 5 + [(3, 3)]
    assert convs[-1].out_channels == 256
    assert sum(isinstance(m, nn.MaxPool2d) for m in backbone) == 4
    assert sum(isinstance(m, nn.BatchNorm2d) for m in backbone) == 5
    assert backbone(torch.zeros(1, 3, 160, 224)).shape[-2:] == (10, 14)  # stride 16
    from core.anchors.receptive_field import receptive_field_table

    last = receptive_field_table(backbone, input_size=64)[-1]
    assert (last.jump, last.receptive_field) == (16, 172)  # the textbook table

    model.train()
    images, targets = synthetic_batch()
    assert_finite_losses(model(images, targets), {"loss_objectness", "loss_rpn_box_reg"})
    model.eval()
    photo = torch.rand(3, 100, 150)  # upscaled to the 128 px input, boxes scaled back
    with torch.no_grad():
        out = model([photo])[0]
    assert set(out) == {"boxes", "labels", "scores"}
    n = len(out["boxes"])
    assert n > 0 and out["boxes"].shape == (n, 4)
    assert torch.all(out["labels"] == 1)
    assert float(out["boxes"][:, 2].max()) <= 150 and float(out["boxes"][:, 3].max()) <= 100
    scores = out["scores"]
    assert float(scores.min()) >= 0 and float(scores.max()) <= 1
    assert torch.all(scores[:-1] >= scores[1:])  # best first


def test_rpn_classic_loss_modes_train_only_their_head():
    images, targets = synthetic_batch(empty_last=False, n_images=1)
    for mode, trained, untouched in (("cls", "cls_logits", "bbox_pred"), ("reg", "bbox_pred", "cls_logits")):
        model = small_model("rpn_classic", loss_mode=mode).model
        model.train()
        head = model.rpn.head
        before = {name: getattr(head, name).weight.detach().clone() for name in ("cls_logits", "bbox_pred")}
        losses = model(images, targets)
        assert set(losses) == {"loss_objectness" if mode == "cls" else "loss_rpn_box_reg"}
        sum(losses.values()).backward()
        torch.optim.SGD([p for p in model.parameters() if p.grad is not None], lr=0.1).step()
        assert not torch.equal(getattr(head, trained).weight, before[trained])
        assert torch.equal(getattr(head, untouched).weight, before[untouched])
    with pytest.raises(ValueError, match="loss_mode"):
        small_model("rpn_classic", loss_mode="boxes")
    with pytest.raises(ValueError, match="rpn_classic"):
        small_model("mininet_r18_fpn", loss_mode="cls")


@pytest.mark.parametrize("name", ["mininet_r18_fpn", "rpn_classic"])
def test_a_batch_of_negatives_only_trains(name):
    model = small_model(name).model
    model.train()
    images, targets = synthetic_batch(n_images=1, empty_last=True)
    losses = model(images, targets)
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["loss_rpn_box_reg"].item() == 0.0 and losses["loss_objectness"].item() > 0
    sum(losses.values()).backward()


def test_input_size_and_anchor_settings():
    anchors = AnchorConfig.fpn_default(sizes=((16, 24), (32, 48), (64, 96), (128, 192), (256, 384)),
                                       aspect_ratios=((1.0,),), min_size=200, max_size=300)
    built = build_model("mininet_r18_fpn", 2, anchors=anchors, weights="none")
    assert (built.anchors.min_size, built.anchors.max_size) == (200, 300)
    assert built.model.transform.min_size == (200,) and built.model.transform.max_size == 300
    assert built.model.rpn.head.cls_logits.out_channels == 2
    assert built.model.rpn.anchor_config.sizes == anchors.sizes
    override = build_model("mininet_r18_fpn", 2, anchors=anchors, weights="none", min_size=160, max_size=240)
    assert (override.anchors.min_size, override.anchors.max_size) == (160, 240)
    assert override.anchors.sizes == anchors.sizes
    with pytest.raises(ValueError, match="5 feature level"):
        build_model("mininet_r18_fpn", 2, anchors=AnchorConfig.classic_single(), weights="none")
    with pytest.raises(ValueError, match="1 feature level"):
        build_model("rpn_classic", 2, anchors=AnchorConfig.fpn_default(), weights="none")
    with pytest.raises(ValueError, match="background"):
        build_model("mininet_r18_fpn", 1, weights="none")


def _loss_on(model: nn.Module, images, targets, seed: int = 123) -> float:
    torch.manual_seed(seed)  # the same anchor / RoI sampling draws before and after training
    with torch.no_grad():
        return float(sum(model(images, targets).values()))


@pytest.mark.parametrize("name, n_images, steps", [("mininet_r18_fpn", 1, 4), ("rpn_classic", 2, 6)])
def test_small_models_learn_a_tiny_batch(name, n_images, steps):
    model = small_model(name, num_classes=2).model
    model.train()
    images, targets = synthetic_batch(seed=1, n_images=n_images, n_labels=1, empty_last=False)
    before = _loss_on(model, images, targets)
    optimiser = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    for _ in range(steps):
        loss = sum(model(images, targets).values())
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimiser.step()
    after = _loss_on(model, images, targets)
    assert after < 0.5 * before, f"{name}: loss {before:.3f} -> {after:.3f} after {steps} steps"
