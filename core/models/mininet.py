"""The "mini" Mask R-CNN: a ResNet-18 FPN backbone, RoIAlign and torchvision's box and mask heads,
assembled into torchvision's MaskRCNN and sized for CPU training (small input, fewer RoIs).

What makes it learn where the student's version did not: without pretrained weights the backbone
uses trainable BatchNorm2d (torchvision's FrozenBatchNorm2d default has identity statistics and
the loss diverged), and its RPN is the same assignment the anchor preview shows."""
from __future__ import annotations

from torch import nn
from torchvision.models import resnet18
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.misc import FrozenBatchNorm2d

from core.anchors.config import AnchorConfig
from core.models.maskrcnn import assemble_maskrcnn, load_backbone_weights
from core.models.weights import WeightsPlan

FPN_FEATURES = ["0", "1", "2", "3"]  # RoIAlign reads the four ResNet levels, not the pooled one


def build_mininet(num_classes: int, anchors: AnchorConfig, plan: WeightsPlan, trainable_layers: int) -> MaskRCNN:
    """ResNet-18 + FPN Mask R-CNN (torchvision's resnet_fpn_backbone recipe, with an ImageNet
    ResNet-18 loaded when the plan has one; a full state dict is loaded by the caller)."""
    body = resnet18(weights=None, norm_layer=FrozenBatchNorm2d if plan.pretrained else nn.BatchNorm2d)
    load_backbone_weights(body, plan)
    backbone = _resnet_fpn_extractor(body, trainable_layers)
    return assemble_maskrcnn(
        backbone, num_classes, anchors, "mininet_r18_fpn",
        rpn_pre_nms_top_n={"training": 1000, "testing": 500},
        rpn_post_nms_top_n={"training": 1000, "testing": 300},
        box_roi_pool=MultiScaleRoIAlign(FPN_FEATURES, output_size=7, sampling_ratio=2),
        mask_roi_pool=MultiScaleRoIAlign(FPN_FEATURES, output_size=14, sampling_ratio=2),
        box_batch_size_per_image=128,
    )
