"""The pretrained paths without the network: torchvision's files found under their own names in a
temporary $TORCH_HOME, a --weights PATH (torchvision file or training checkpoint), and the logged
fallback when nothing can be had. Downloads are replaced by a failure, as offline."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.models import (MobileNet_V3_Large_Weights, ResNet18_Weights, ResNet50_Weights, mobilenet_v3_large,
                                resnet18)
from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights, maskrcnn_resnet50_fpn
from torchvision.ops.misc import FrozenBatchNorm2d

from core.anchors.rpn import MasklabRPN
from core.models.registry import build_model
from core.models.weights import WeightsError, cached_weights_path

COCO_V1 = MaskRCNN_ResNet50_FPN_Weights.COCO_V1


@pytest.fixture
def offline(monkeypatch, tmp_path) -> list[str]:
    """An empty $TORCH_HOME and downloads that fail as without a network; yields the URLs tried."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    tried: list[str] = []

    def no_network(url, dst, *args, **kwargs):
        tried.append(url)
        raise OSError("<urlopen error [Errno -2] Name or service not known>")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)  # what load_state_dict_from_url calls
    return tried


@pytest.fixture(scope="module")
def coco_like_state(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A randomly initialised torchvision Mask R-CNN (91 COCO classes) saved as torchvision saves
    its COCO file; generated once."""
    torch.manual_seed(7)
    state = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91).state_dict()
    path = tmp_path_factory.mktemp("coco") / "coco_like.pth"
    torch.save(state, path)
    return path, state


def test_default_picks_up_torchvision_coco_file_from_torch_home(offline, coco_like_state):
    source, state = coco_like_state
    target = cached_weights_path(COCO_V1)
    assert target.name == Path(COCO_V1.url).name
    assert str(target).startswith(str(Path(torch.hub.get_dir())))
    target.parent.mkdir(parents=True)
    target.symlink_to(source)

    built = build_model("maskrcnn_r50_fpn", 3, weights="default", min_size=128, max_size=160)
    model = built.model
    assert built.pretrained and target.name in built.weights_source and "COCO" in built.weights_source
    assert offline == []  # found in the cache: no download attempted
    for key in ("backbone.body.conv1.weight", "backbone.body.layer3.2.conv2.weight", "backbone.fpn.layer_blocks.0.0.weight",
                "rpn.head.conv.0.0.weight", "roi_heads.box_head.fc6.weight", "roi_heads.mask_head.0.0.weight"):
        assert torch.equal(model.state_dict()[key], state[key]), key
    bn = model.backbone.body.bn1
    assert isinstance(bn, FrozenBatchNorm2d) and torch.equal(bn.running_var, state["backbone.body.bn1.running_var"])
    assert bn.eps == 0.0  # torchvision's overwrite_eps for the COCO_V1 file
    # predictors replaced for the project's 2 labels + background
    assert model.roi_heads.box_predictor.cls_score.out_features == 3
    assert model.roi_heads.mask_predictor.mask_fcn_logits.out_channels == 3
    assert isinstance(model.rpn, MasklabRPN)
    # torchvision's default of 3 trainable stages with pretrained weights
    assert not model.backbone.body.conv1.weight.requires_grad
    assert not model.backbone.body.layer1[0].conv1.weight.requires_grad
    assert model.backbone.body.layer2[0].conv1.weight.requires_grad

    fewer = build_model("maskrcnn_r50_fpn", 3, weights="default", min_size=128, trainable_backbone_layers=1)
    assert not fewer.model.backbone.body.layer3[0].conv1.weight.requires_grad
    assert fewer.model.backbone.body.layer4[0].conv1.weight.requires_grad

    model.train()
    image = torch.rand(3, 128, 128)
    target_dict = {"boxes": torch.tensor([[20.0, 30.0, 90.0, 100.0]]), "labels": torch.tensor([2]),
                   "masks": torch.zeros((1, 128, 128), dtype=torch.uint8)}
    target_dict["masks"][0, 30:100, 20:90] = 1
    losses = model([image], [target_dict])
    assert all(torch.isfinite(v) for v in losses.values())


def test_weights_path_to_a_torchvision_file(offline, coco_like_state):
    source, state = coco_like_state
    built = build_model("maskrcnn_r50_fpn", 4, weights=str(source), min_size=128)
    assert built.pretrained and str(source) in built.weights_source
    assert torch.equal(built.model.state_dict()["backbone.body.layer4.0.conv3.weight"],
                       state["backbone.body.layer4.0.conv3.weight"])
    assert built.model.roi_heads.box_predictor.cls_score.out_features == 4  # 91-class head left out
    assert offline == []


def test_weights_path_to_a_training_checkpoint_restores_everything(offline, tmp_path):
    first = build_model("mininet_r18_fpn", 3, weights="none", min_size=128).model
    checkpoint = tmp_path / "last.pt"
    torch.save({"model": first.state_dict(), "epoch": 4, "label_names": ["a", "b"]}, checkpoint)
    again = build_model("mininet_r18_fpn", 3, weights=str(checkpoint), min_size=128)
    assert again.pretrained and str(checkpoint) in again.weights_source
    restored = again.model.state_dict()
    for key, value in first.state_dict().items():
        if key in restored:
            assert torch.equal(restored[key], value), key
    assert torch.equal(restored["roi_heads.box_predictor.cls_score.weight"],
                       first.state_dict()["roi_heads.box_predictor.cls_score.weight"])


def test_bad_weights_files_are_clear_errors(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(WeightsError, match="not found") as info:
        build_model("mininet_r18_fpn", 2, weights=str(missing))
    assert info.value.path == missing
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(WeightsError, match="cannot be read") as info:
        build_model("rpn_classic", 2, weights=str(garbage))
    assert info.value.path == garbage
    unrelated = tmp_path / "unrelated.pth"
    torch.save({"encoder.weight": torch.zeros(3)}, unrelated)
    with pytest.raises(WeightsError, match="fit this model"):
        build_model("rpn_classic", 2, weights=str(unrelated))
    not_tensors = tmp_path / "settings.pth"
    torch.save({"lr": 0.1}, not_tensors)
    with pytest.raises(WeightsError, match="no state dict"):
        build_model("rpn_classic", 2, weights=str(not_tensors))


def test_missing_pretrained_weights_fall_back_with_a_logged_reason(offline, caplog):
    caplog.set_level(logging.WARNING, logger="core.models.weights")
    built = build_model("maskrcnn_r50_fpn", 3, weights="default", min_size=128)
    assert not built.pretrained
    hub = str(Path(torch.hub.get_dir(), "checkpoints")).replace(str(Path.home()), "~", 1)
    assert built.weights_source == f"offline: no COCO or ImageNet weights in {hub}, training from scratch"
    assert offline == [COCO_V1.url, ResNet50_Weights.IMAGENET1K_V1.url]
    assert "COCO weights unavailable" in caplog.text and "starting from random weights" in caplog.text
    norms = [m for m in built.model.backbone.body.modules() if "BatchNorm" in type(m).__name__]
    assert all(type(m) is nn.BatchNorm2d for m in norms)
    assert all(p.requires_grad for p in built.model.parameters())
    assert not any(Path(torch.hub.get_dir(), "checkpoints").glob("*.pth"))  # no partial file left

    classic = build_model("rpn_classic", 2, weights="default")
    assert classic.weights_source == "none (random init, trainable BatchNorm)" and not classic.pretrained


@pytest.mark.parametrize("name, enum, network, key", [
    ("mininet_r18_fpn", ResNet18_Weights.IMAGENET1K_V1, resnet18, "layer2.1.conv2.weight"),
    ("maskrcnn_mobilenet_v3_fpn", MobileNet_V3_Large_Weights.IMAGENET1K_V1, mobilenet_v3_large,
     "features.13.block.1.0.weight"),
])
def test_default_uses_a_cached_imagenet_backbone(offline, name, enum, network, key):
    path = cached_weights_path(enum)
    path.parent.mkdir(parents=True)
    torch.manual_seed(3)
    state = network().state_dict()
    torch.save(state, path)
    built = build_model(name, 2, weights="default", min_size=128)
    assert built.pretrained and built.weights_source == f"ImageNet backbone from {path}"
    assert offline == []
    body = built.model.backbone.body  # the classifier network's feature layers, classifier dropped
    body_state = body.state_dict()
    assert torch.equal(body_state[key.removeprefix("features.")], state[key])
    norms = [m for m in body.modules() if "BatchNorm" in type(m).__name__]
    assert norms and all(isinstance(m, FrozenBatchNorm2d) for m in norms)
    first_norm = next(k for k in body_state if k.endswith("running_mean"))
    assert torch.equal(body_state[first_norm], state[("features." if "mobilenet" in name else "") + first_norm])
    assert any(not p.requires_grad for p in body.parameters())  # early stages frozen, as torchvision


def test_default_downloads_through_torch_hub_into_its_cache(offline, monkeypatch):
    """Online: torch.hub.load_state_dict_from_url fetches torchvision's file into
    $TORCH_HOME/hub/checkpoints under its own name, asking for the hash check its name carries."""
    torch.manual_seed(5)
    state = resnet18().state_dict()
    calls = []

    def download(url, dst, hash_prefix=None, progress=True):
        calls.append((url, Path(dst).parent, hash_prefix, progress))
        torch.save(state, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    built = build_model("mininet_r18_fpn", 2, weights="default", min_size=128)
    path = cached_weights_path(ResNet18_Weights.IMAGENET1K_V1)
    assert path.is_file() and built.weights_source == f"ImageNet backbone from {path}"
    assert calls == [(ResNet18_Weights.IMAGENET1K_V1.url, path.parent, path.name.split("-")[-1].split(".")[0], True)]
    assert torch.equal(built.model.backbone.body.state_dict()["layer3.0.conv1.weight"], state["layer3.0.conv1.weight"])
    build_model("mininet_r18_fpn", 2, weights="default", min_size=128)
    assert len(calls) == 1  # the second build reads the cache


def test_a_failed_hash_check_is_named_and_falls_back(offline, monkeypatch):
    def bad_hash(url, dst, hash_prefix=None, progress=True):
        raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got "0badc0de")')

    monkeypatch.setattr(torch.hub, "download_url_to_file", bad_hash)
    built = build_model("mininet_r18_fpn", 2, weights="default", min_size=128)
    assert not built.pretrained
    assert "ImageNet weights unusable" in built.weights_source and "invalid hash value" in built.weights_source
    assert "training from scratch" in built.weights_source
    assert not any(cached_weights_path(ResNet18_Weights.IMAGENET1K_V1).parent.glob("*.pth"))


def test_a_damaged_cached_file_is_named(offline):
    path = cached_weights_path(ResNet18_Weights.IMAGENET1K_V1)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"half a download")
    built = build_model("mininet_r18_fpn", 2, weights="default", min_size=128)
    assert not built.pretrained and str(path) in built.weights_source and "cannot be read" in built.weights_source
    assert offline == []  # a file in the cache is never downloaded over
