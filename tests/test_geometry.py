"""Geometry: rasterising against pycocotools, labelme masks, mask to polygons, validate / repair."""
from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as coco_mask
from shapely.geometry import Point, Polygon

from core.annotation import Shape
from core.geometry import (
    decode_labelme_mask,
    encode_labelme_mask,
    instance_mask,
    mask_area,
    mask_box,
    mask_to_polygons,
    polygon_to_mask,
    repair_polygon,
    validate_polygon,
)


def coco_rasterise(points: np.ndarray, height: int, width: int) -> np.ndarray:
    rles = coco_mask.frPyObjects([np.asarray(points, dtype=np.float64).ravel().tolist()], height, width)
    return coco_mask.decode(coco_mask.merge(rles)).astype(bool)


def random_star_polygon(rng: np.random.Generator, cx: float, cy: float, r_max: float) -> np.ndarray:
    n = int(rng.integers(3, 14))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = rng.uniform(r_max * 0.2, r_max, n)
    return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)


def test_polygon_to_mask_matches_pycocotools_except_on_the_boundary():
    rng = np.random.default_rng(0)
    total_pixels = differing = 0
    for _ in range(150):
        h, w = int(rng.integers(20, 90)), int(rng.integers(20, 90))
        pts = random_star_polygon(rng, w / 2, h / 2, min(h, w) * 0.6)  # sometimes past the edge
        ours = polygon_to_mask(pts, h, w)
        ref = coco_rasterise(pts, h, w)
        assert ours.shape == ref.shape == (h, w)
        total_pixels += ref.sum()
        differing += (ours != ref).sum()
        outline = Polygon(pts).exterior
        for row, col in zip(*np.nonzero(ours != ref)):
            # every disagreement is a pixel whose centre is within a pixel of the outline
            assert outline.distance(Point(col + 0.5, row + 0.5)) <= 1.0
    assert differing / total_pixels < 0.03


def test_polygon_to_mask_pixel_centre_convention():
    square = np.array([[2, 3], [6, 3], [6, 5], [2, 5]], dtype=float)
    mask = polygon_to_mask(square, 10, 10)
    expected = np.zeros((10, 10), bool)
    expected[3:5, 2:6] = True
    assert np.array_equal(mask, expected)
    assert mask_area(mask) == 8
    assert mask_box(mask) == (2.0, 3.0, 6.0, 5.0)  # exclusive far edges
    assert np.array_equal(mask, coco_rasterise(square, 10, 10))


def test_polygon_to_mask_degenerate_inputs_give_empty_masks():
    assert not polygon_to_mask(np.zeros((0, 2)), 5, 5).any()
    assert not polygon_to_mask(np.array([[1, 1], [3, 3]]), 5, 5).any()
    assert not polygon_to_mask(np.array([[1, 1], [3, 3], [1, 3]]), 0, 5).any()
    assert not polygon_to_mask(np.array([[-9, -9], [-5, -9], [-5, -5]]), 5, 5).any()
    assert polygon_to_mask(np.array([[0, 0], [2, 0], [2, 2]]), 5, 7).shape == (5, 7)


def test_mask_box_empty_and_single_pixel():
    mask = np.zeros((8, 8), bool)
    assert mask_box(mask) is None
    mask[5, 3] = True
    assert mask_box(mask) == (3.0, 5.0, 4.0, 6.0)


def test_labelme_mask_roundtrip_and_clipping():
    rng = np.random.default_rng(1)
    mask = np.zeros((40, 50), bool)
    mask[7:30, 11:45] = rng.random((23, 34)) > 0.4
    points, b64 = encode_labelme_mask(mask)
    shape = Shape("blob", points, "mask", mask=b64)
    assert np.array_equal(decode_labelme_mask(shape, 40, 50), mask)
    # placed in a smaller image, the crop is clipped instead of failing
    small = decode_labelme_mask(shape, 20, 20)
    assert np.array_equal(small, mask[:20, :20])
    with pytest.raises(ValueError):
        encode_labelme_mask(np.zeros((4, 4), bool))
    with pytest.raises(ValueError, match="not a base64 image"):
        decode_labelme_mask(Shape("bad", points, "mask", mask="bm90IGEgcG5n"), 40, 50)
    with pytest.raises(ValueError, match="no 'mask' data"):
        decode_labelme_mask(Shape("none", points, "mask"), 40, 50)


def test_instance_mask_unions_all_part_kinds():
    h, w = 60, 80
    poly = Shape("a", [[2, 2], [12, 2], [12, 12], [2, 12]], "polygon", group_id=1)
    rect = Shape("a", [[30, 30], [40, 35]], "rectangle", group_id=1)
    circle = Shape("a", [[60, 20], [65, 20]], "circle", group_id=1)
    blob = np.zeros((h, w), bool)
    blob[50:55, 5:9] = True
    points, b64 = encode_labelme_mask(blob)
    masked = Shape("a", points, "mask", mask=b64, group_id=1)
    union = instance_mask([poly, rect, circle, masked], h, w)
    assert union[5, 5] and union[32, 35] and union[20, 60] and union[52, 6]
    assert not union[25, 20]
    expected = (polygon_to_mask(poly.points, h, w) | polygon_to_mask(rect.polygon_points(), h, w)
                | polygon_to_mask(circle.polygon_points(), h, w) | blob)
    assert np.array_equal(union, expected)
    assert mask_area(union) == int(expected.sum())


def test_mask_to_polygons_rasterises_back_to_the_same_pixels():
    rng = np.random.default_rng(2)
    for _ in range(20):
        pts = random_star_polygon(rng, 40, 40, 35)
        mask = polygon_to_mask(pts, 80, 80)
        polys = mask_to_polygons(mask, tolerance=0, min_area=0)
        back = np.zeros_like(mask)
        for p in polys:
            back |= polygon_to_mask(p, 80, 80)
        holes_filled = back & ~mask
        assert not (mask & ~back).any()  # nothing lost
        # only pixels inside holes can be added (outer contours only)
        assert holes_filled.sum() <= 0.02 * mask.sum() + 4


def test_mask_to_polygons_simplifies_drops_small_parts_and_fills_holes():
    mask = np.zeros((100, 100), bool)
    mask[10:60, 10:60] = True
    mask[30:40, 30:40] = False  # a hole
    mask[80, 80] = True  # a 1-pixel speck
    mask[70:75, 5:95] = True  # a second part
    polys = mask_to_polygons(mask, tolerance=1.0, min_area=4.0)
    assert len(polys) == 2
    assert len(polys[0]) == 4  # the square's outline, holes filled
    assert Polygon(polys[0]).area == pytest.approx(2500)
    assert Polygon(polys[1]).area == pytest.approx(450)
    assert mask_to_polygons(np.zeros((5, 5), bool)) == []


def test_validate_polygon_reports_each_problem():
    assert validate_polygon([[1, 1], [8, 1], [8, 8]], 10, 10) == []
    assert "fewer than 3" in validate_polygon([[1, 1], [1, 1], [2, 2]], 10, 10)[0]
    assert "zero area" in validate_polygon([[0, 0], [1, 1], [2, 2]], 10, 10)[0]
    bowtie = [[0, 0], [8, 8], [8, 0], [0, 8]]
    assert any("self-intersecting" in p for p in validate_polygon(bowtie, 10, 10))
    outside = validate_polygon([[1, 1], [12, 1], [8, 8]], 10, 10)
    assert outside == ["has 1 point(s) outside the 10x10 image"]
    assert "not finite" in validate_polygon([[1, 1], [np.nan, 1], [8, 8]], 10, 10)[0]


def test_repair_polygon_makes_valid_clips_and_drops_slivers():
    bowtie = [[0, 0], [8, 8], [8, 0], [0, 8]]
    parts = repair_polygon(bowtie, 10, 10)
    assert len(parts) == 2
    assert all(validate_polygon(p, 10, 10) == [] for p in parts)
    assert sum(Polygon(p).area for p in parts) == pytest.approx(32)

    clipped = repair_polygon([[-5, -5], [5, -5], [5, 5], [-5, 5]], 10, 10)
    assert len(clipped) == 1 and Polygon(clipped[0]).area == pytest.approx(25)
    assert repair_polygon([[20, 20], [30, 20], [30, 30]], 10, 10) == []  # all outside
    assert repair_polygon([[0, 0], [1, 1], [2, 2]], 10, 10) == []  # zero area
    sliver = repair_polygon([[0, 0], [9, 0], [9, 0.05]], 10, 10)
    assert sliver == []


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Reference: background not 4-connected to the border becomes foreground."""
    outside = np.zeros_like(mask)
    outside[0, :], outside[-1, :], outside[:, 0], outside[:, -1] = ~mask[0, :], ~mask[-1, :], ~mask[:, 0], ~mask[:, -1]
    while True:
        grown = outside.copy()
        grown[1:, :] |= outside[:-1, :]
        grown[:-1, :] |= outside[1:, :]
        grown[:, 1:] |= outside[:, :-1]
        grown[:, :-1] |= outside[:, 1:]
        grown &= ~mask
        if np.array_equal(grown, outside):
            return ~outside
        outside = grown


@pytest.mark.parametrize("seed", range(6))
def test_mask_to_polygons_exact_on_irregular_masks(seed):
    """Random blobs with branches, holes and diagonal contacts: the outlines cover the whole
    mask and add nothing but hole pixels. (A hole walled only by pixels touching at corners
    may stay open: geometrically those pixels are separate squares.)"""
    rng = np.random.default_rng(seed)
    mask = rng.random((30, 40)) < (0.35 + 0.1 * seed)
    mask[0, :] = mask[-1, :] = False
    mask[:, 0] = mask[:, -1] = False
    mask[10:15, 10:15] = True
    mask[12, 12] = False  # a hole with solid walls
    polys = mask_to_polygons(mask, tolerance=0, min_area=0)
    back = np.zeros_like(mask)
    for p in polys:
        assert Polygon(p).is_valid
        back |= polygon_to_mask(p, *mask.shape)
    assert not (mask & ~back).any()
    assert not (back & ~fill_holes(mask)).any()
    assert back[12, 12]


def test_mask_to_polygons_u_shape_is_one_polygon():
    mask = np.zeros((20, 20), bool)
    mask[2:18, 2:6] = True
    mask[2:18, 14:18] = True
    mask[14:18, 2:18] = True
    polys = mask_to_polygons(mask, tolerance=0)
    assert len(polys) == 1 and len(polys[0]) == 8
    assert Polygon(polys[0]).area == mask.sum()
