"""Receptive field and effective stride from real modules."""
from __future__ import annotations

import pytest
from torch import nn

from core.anchors.config import AnchorConfig
from core.anchors.receptive_field import (format_table, level_for_size, level_receptive_fields,
                                          receptive_field_table, receptive_field_warnings)


def classic_five_conv() -> nn.Sequential:
    """The textbook network: 5x5 convs with 2x2 max-pools between the first four, then 3x3."""
    layers: list[nn.Module] = []
    channels = 3
    for i in range(5):
        layers += [nn.Conv2d(channels, 8, 5, padding=2), nn.ReLU()]
        if i < 4:
            layers.append(nn.MaxPool2d(2, 2))
        channels = 8
    layers += [nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers)


def test_classic_network_has_stride_16_and_field_172():
    table = receptive_field_table(classic_five_conv(), input_size=64)
    assert [row.kind for row in table].count("MaxPool2d") == 4
    assert table[-1].jump == 16 and table[-1].receptive_field == 172
    # the textbook column, layer by layer
    assert [row.receptive_field for row in table] == [5, 6, 14, 16, 32, 36, 68, 76, 140, 172]
    assert "172" in format_table(table).splitlines()[-1]


def test_the_rpn_classic_backbone_of_the_models():
    from core.models import rpn_classic
    table = receptive_field_table(rpn_classic.build_classic_backbone(), input_size=64)
    assert (table[-1].jump, table[-1].receptive_field) == (16, 172)


def test_resnet_walks_the_main_path_only():
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone

    table = receptive_field_table(resnet_fpn_backbone(backbone_name="resnet18", weights=None), input_size=64)
    assert not any("downsample" in row.name for row in table)
    assert table[-1].jump == 32 and table[-1].receptive_field == 435  # ResNet-18's known field
    assert level_receptive_fields(table, [4, 8, 16, 32, 64]) == [43, 99, 211, 435, 435]


def test_dilation_padding_and_strided_conv():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.Conv2d(4, 4, 3, dilation=2, padding=2),
                        nn.AvgPool2d(3, stride=3))
    table = receptive_field_table(net, input_size=32)
    assert [(r.jump, r.receptive_field) for r in table] == [(2, 3), (2, 11), (6, 15)]
    assert table[0].start == pytest.approx(0.5)


def test_warns_when_anchors_exceed_their_level_field():
    config = AnchorConfig.classic_single()
    fields = [172]
    assert receptive_field_warnings([(100.0, 66.0)], config, fields) == []
    warnings = receptive_field_warnings([(300.0, 200.0)], config, fields)
    assert len(warnings) == 1 and "172" in warnings[0]
    fpn = AnchorConfig()
    assert level_for_size(40, fpn) == 0 and level_for_size(600, fpn) == 4
    assert len(receptive_field_warnings([(120.0, 120.0), (500.0, 500.0)], fpn, [43, 99, 211, 435, 435])) == 1
