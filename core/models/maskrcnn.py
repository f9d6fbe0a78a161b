"""torchvision Mask R-CNN with a ResNet-50 FPN backbone (v1 and the improved v2), and the one
assembly step every Mask R-CNN here goes through: the RPN is Masklab's (core.anchors.rpn), built
from the AnchorConfig, so training assigns anchors exactly as the anchor preview shows."""
from __future__ import annotations

from typing import Any

from torch import nn
from torchvision.models import resnet50
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops.misc import FrozenBatchNorm2d

from core.anchors.assign import build_anchor_generator
from core.anchors.config import AnchorConfig
from core.anchors.rpn import build_rpn
from core.models.weights import WeightsPlan, load_matching

FPN_LEVELS = 5  # ResNet stages 2..5 plus the max-pooled level: strides 4, 8, 16, 32, 64


def anchors_per_location(anchors: AnchorConfig, levels: int, model_name: str) -> int:
    """The anchor count per feature-map cell, which one shared RPN head needs equal on every level;
    ValueError explaining the mismatch otherwise."""
    if len(anchors.sizes) != levels:
        raise ValueError(f"{model_name} has {levels} feature level(s) but the anchor settings have "
                         f"{len(anchors.sizes)} (sizes {anchors.sizes}); give one tuple of sizes per level")
    counts = set(anchors.num_anchors_per_location)
    if len(counts) != 1:
        raise ValueError(f"{model_name} shares one RPN head across levels, so every level needs the same "
                         f"number of anchors (sizes x ratios); the settings give {anchors.num_anchors_per_location}")
    return counts.pop()


def assemble_maskrcnn(backbone: nn.Module, num_classes: int, anchors: AnchorConfig, model_name: str, *,
                      levels: int = FPN_LEVELS, rpn_conv_depth: int = 1,
                      rpn_pre_nms_top_n: dict[str, int] | None = None,
                      rpn_post_nms_top_n: dict[str, int] | None = None, rpn_score_thresh: float = 0.0,
                      **maskrcnn_kwargs: Any) -> MaskRCNN:
    """torchvision's MaskRCNN around `backbone` (its out_channels feature maps), sized for
    `num_classes` (background included), with Masklab's RPN for `anchors` and the input resize
    of `anchors.min_size` / `anchors.max_size`."""
    k = anchors_per_location(anchors, levels, model_name)
    head = RPNHead(backbone.out_channels, k, conv_depth=rpn_conv_depth)
    pre = rpn_pre_nms_top_n or {"training": 2000, "testing": 1000}
    post = rpn_post_nms_top_n or {"training": 2000, "testing": 1000}
    model = MaskRCNN(backbone, num_classes=num_classes, min_size=anchors.min_size, max_size=anchors.max_size,
                     rpn_anchor_generator=build_anchor_generator(anchors), rpn_head=head,
                     rpn_pre_nms_top_n_train=pre["training"], rpn_pre_nms_top_n_test=pre["testing"],
                     rpn_post_nms_top_n_train=post["training"], rpn_post_nms_top_n_test=post["testing"],
                     rpn_score_thresh=rpn_score_thresh,
                     **maskrcnn_kwargs)
    model.rpn = build_rpn(anchors, backbone.out_channels, head=head, pre_nms_top_n=pre, post_nms_top_n=post,
                          nms_thresh=0.7, score_thresh=rpn_score_thresh)
    return model


def load_backbone_weights(body: nn.Module, plan: WeightsPlan) -> None:
    """ImageNet classification weights into the backbone network before it is wrapped (as
    torchvision's builders do); its classifier layers are ignored."""
    if plan.backbone_state is not None:
        load_matching(body, plan.backbone_state, source=plan.source)


def build_maskrcnn_r50(num_classes: int, anchors: AnchorConfig, plan: WeightsPlan, trainable_layers: int,
                       v2: bool = False) -> MaskRCNN:
    """The layers of torchvision's maskrcnn_resnet50_fpn(_v2) builder (a full detection state dict
    is loaded by the caller). v1: FrozenBatchNorm2d when pretrained weights are loaded, trainable
    BatchNorm2d otherwise (torchvision's rule). v2: BatchNorm2d in the backbone, FPN and heads,
    as torchvision."""
    name = "maskrcnn_r50_fpn_v2" if v2 else "maskrcnn_r50_fpn"
    if not v2:
        body = resnet50(weights=None, norm_layer=FrozenBatchNorm2d if plan.pretrained else nn.BatchNorm2d)
        load_backbone_weights(body, plan)
        backbone = _resnet_fpn_extractor(body, trainable_layers)
        return assemble_maskrcnn(backbone, num_classes, anchors, name)
    body = resnet50(weights=None)
    load_backbone_weights(body, plan)
    backbone = _resnet_fpn_extractor(body, trainable_layers, norm_layer=nn.BatchNorm2d)
    box_head = FastRCNNConvFCHead((backbone.out_channels, 7, 7), [256, 256, 256, 256], [1024],
                                  norm_layer=nn.BatchNorm2d)
    mask_head = MaskRCNNHeads(backbone.out_channels, [256, 256, 256, 256], 1, norm_layer=nn.BatchNorm2d)
    return assemble_maskrcnn(backbone, num_classes, anchors, name, rpn_conv_depth=2,
                             box_head=box_head, mask_head=mask_head)
