"""The textbook single-anchor Region Proposal Network: five 5x5 conv + BatchNorm + ReLU blocks with
2x2 max-pools between the first four (stride 16), an intermediate 3x3 conv with 256 channels,
then 1x1 heads for objectness (a logit per anchor; sigmoid, BCE-with-logits loss) and box
regression (4 deltas per anchor). It predicts boxes with scores, no classes and no masks.

It follows the torchvision detection interface: images are resized and normalised by
GeneralizedRCNNTransform, anchors are assigned by Masklab's RPN (the anchor preview's function),
and proposals are decoded, NMS-filtered and scaled back to the photo."""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection.rpn import concat_box_prediction_layers
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from core.anchors.assign import build_anchor_generator
from core.anchors.config import AnchorConfig
from core.anchors.rpn import MasklabRPN
from core.models.maskrcnn import anchors_per_location

BLOCK_CHANNELS = (32, 64, 128, 256, 256)  # the five 5x5 conv blocks
MID_CHANNELS = 256                        # the intermediate 3x3 conv
STRIDE = 16
LOSS_MODES = ("both", "cls", "reg")
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def build_classic_backbone(block_channels: tuple[int, ...] = BLOCK_CHANNELS,
                           mid_channels: int = MID_CHANNELS) -> nn.Sequential:
    """The feature extractor up to and including the intermediate 3x3 conv, as a plain
    nn.Sequential (receptive field 172, effective stride 16); `out_channels` is set for the RPN."""
    layers: list[nn.Module] = []
    in_channels = 3
    for i, channels in enumerate(block_channels):
        layers += [nn.Conv2d(in_channels, channels, kernel_size=5, padding=2, bias=False),
                   nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
        if i < len(block_channels) - 1:
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        in_channels = channels
    layers += [nn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
    backbone = nn.Sequential(*layers)
    backbone.out_channels = mid_channels
    for m in backbone.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return backbone


class ClassicRPNHead(nn.Module):
    """The two 1x1 heads on the intermediate features, in torchvision's RPNHead interface
    (a list of feature maps in, lists of objectness logits and box deltas out)."""

    def __init__(self, in_channels: int, num_anchors: int) -> None:
        super().__init__()
        self.cls_logits = nn.Conv2d(in_channels, num_anchors, kernel_size=1)
        self.bbox_pred = nn.Conv2d(in_channels, num_anchors * 4, kernel_size=1)
        for layer in (self.cls_logits, self.bbox_pred):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, features: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        return [self.cls_logits(f) for f in features], [self.bbox_pred(f) for f in features]


class ClassicProposalNetwork(MasklabRPN):
    """Masklab's RPN with the study's option for the box loss: `reg_all_positives` regresses every
    positive anchor of the image (the loss is then the mean over them) instead of only the
    sampled ones (torchvision: sum over the sampled positives / the sampled mini-batch size)."""

    reg_all_positives = False

    def compute_loss(self, objectness: Tensor, pred_bbox_deltas: Tensor, labels: list[Tensor],
                     regression_targets: list[Tensor]) -> tuple[Tensor, Tensor]:
        objectness_loss, box_loss = super().compute_loss(objectness, pred_bbox_deltas, labels, regression_targets)
        if self.reg_all_positives:
            positive = torch.where(torch.cat(labels, dim=0) >= 1)[0]
            box_loss = F.smooth_l1_loss(pred_bbox_deltas[positive], torch.cat(regression_targets, dim=0)[positive],
                                        beta=1 / 9, reduction="sum") / max(1, positive.numel())
        return objectness_loss, box_loss


class ClassicRPN(nn.Module):
    """Train mode: `model(images, targets)` -> {"loss_objectness", "loss_rpn_box_reg"} (only the
    terms `loss_mode` trains: "both", "cls" or "reg"; `reg_all_positives` regresses every positive
    anchor instead of the sampled ones). Eval mode: a list of {boxes, labels (all 1),
    scores} per image, boxes in the photo's pixels, best first."""

    def __init__(self, anchors: AnchorConfig, loss_mode: str = "both",
                 pre_nms_top_n: dict[str, int] | None = None, post_nms_top_n: dict[str, int] | None = None,
                 nms_thresh: float = 0.7, reg_all_positives: bool = False) -> None:
        super().__init__()
        k = anchors_per_location(anchors, 1, "rpn_classic")
        if anchors.strides not in (None, (STRIDE,)):
            raise ValueError(f"rpn_classic has one feature map at stride {STRIDE}; the anchor settings "
                             f"give strides {anchors.strides}")
        self.loss_mode = loss_mode  # validated by the property setter
        self.transform = GeneralizedRCNNTransform(anchors.min_size, anchors.max_size, IMAGENET_MEAN, IMAGENET_STD)
        self.backbone = build_classic_backbone()
        self.rpn = ClassicProposalNetwork(
            build_anchor_generator(anchors), ClassicRPNHead(self.backbone.out_channels, k), anchors,
            pre_nms_top_n=pre_nms_top_n or {"training": 2000, "testing": 1000},
            post_nms_top_n=post_nms_top_n or {"training": 2000, "testing": 1000},
            nms_thresh=nms_thresh, score_thresh=0.0)
        self.reg_all_positives = reg_all_positives

    @property
    def reg_all_positives(self) -> bool:
        return self.rpn.reg_all_positives

    @reg_all_positives.setter
    def reg_all_positives(self, value: bool) -> None:
        self.rpn.reg_all_positives = bool(value)

    @property
    def loss_mode(self) -> str:
        return self._loss_mode

    @loss_mode.setter
    def loss_mode(self, mode: str) -> None:
        if mode not in LOSS_MODES:
            raise ValueError(f"loss_mode must be one of {', '.join(LOSS_MODES)}, not {mode!r}")
        self._loss_mode = mode

    def forward(self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None):
        if self.training and targets is None:
            raise ValueError("targets are required in training mode")
        original_sizes = [(int(img.shape[-2]), int(img.shape[-1])) for img in images]
        if targets is not None:  # masks are not used: skip resizing them
            targets = [{k: v for k, v in t.items() if k != "masks"} for t in targets]
        image_list, targets = self.transform(images, targets)
        features = OrderedDict([("0", self.backbone(image_list.tensors))])
        if self.training:
            _, losses = self.rpn(image_list, features, targets)
            if self.loss_mode == "cls":
                del losses["loss_rpn_box_reg"]
            elif self.loss_mode == "reg":
                del losses["loss_objectness"]
            return losses

        # torchvision's RegionProposalNetwork.forward drops the scores; these are its steps
        # up to filter_proposals, which returns them
        rpn = self.rpn
        feature_maps = list(features.values())
        objectness, deltas = rpn.head(feature_maps)
        anchors = rpn.anchor_generator(image_list, feature_maps)
        num_anchors_per_level = [o[0].numel() for o in objectness]
        objectness, deltas = concat_box_prediction_layers(objectness, deltas)
        proposals = rpn.box_coder.decode(deltas.detach(), anchors).view(len(anchors), -1, 4)
        boxes, scores = rpn.filter_proposals(proposals, objectness, image_list.image_sizes, num_anchors_per_level)
        detections = [{"boxes": b, "labels": torch.ones(len(b), dtype=torch.int64, device=b.device), "scores": s}
                      for b, s in zip(boxes, scores)]
        return self.transform.postprocess(detections, image_list.image_sizes, original_sizes)


def build_rpn_classic(anchors: AnchorConfig, loss_mode: str = "both") -> ClassicRPN:
    return ClassicRPN(anchors, loss_mode=loss_mode)
