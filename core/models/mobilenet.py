"""Mask R-CNN on a MobileNetV3-Large FPN, for CPU users: torchvision's fasterrcnn_mobilenet_v3_large_fpn
recipe (dilated last stage, FPN over its two last feature maps plus a pooled level, so strides
16, 16 and 32, with five anchor sizes on each) with torchvision's mask branch added."""
from __future__ import annotations

from torch import nn
from torchvision.models import mobilenet_v3_large
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.backbone_utils import _mobilenet_extractor
from torchvision.ops.misc import FrozenBatchNorm2d

from core.anchors.config import AnchorConfig
from core.models.maskrcnn import assemble_maskrcnn, load_backbone_weights
from core.models.specs import MOBILENET_STRIDES
from core.models.weights import WeightsPlan

NAME = "maskrcnn_mobilenet_v3_fpn"
STRIDES = MOBILENET_STRIDES
TRAINABLE_STAGES = 6  # MobileNetV3-Large's stages, torchvision's unit for trainable layers


def build_mobilenet_maskrcnn(num_classes: int, anchors: AnchorConfig, plan: WeightsPlan,
                             trainable_layers: int) -> MaskRCNN:
    if anchors.strides not in (None, STRIDES):
        raise ValueError(f"{NAME} has feature maps at strides {STRIDES}; the anchor settings give {anchors.strides}")
    norm = FrozenBatchNorm2d if plan.pretrained else nn.BatchNorm2d
    body = mobilenet_v3_large(weights=None, norm_layer=norm, dilated=True)
    load_backbone_weights(body, plan)
    backbone = _mobilenet_extractor(body, True, trainable_layers)
    return assemble_maskrcnn(backbone, num_classes, anchors, NAME, levels=len(STRIDES),
                             rpn_pre_nms_top_n={"training": 2000, "testing": 300},
                             rpn_post_nms_top_n={"training": 2000, "testing": 300},
                             rpn_score_thresh=0.05,
                             box_batch_size_per_image=128)  # CPU: the mask head's cost grows with the sampled RoIs
