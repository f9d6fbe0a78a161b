"""Dataset statistics: histograms, k-means anchors, anchor fit on the real grids."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from core.anchors.assign import generate_anchors
from core.anchors.boxes import annotation_boxes
from core.anchors.config import AnchorConfig
from core.anchors.preview import feature_map_sizes, model_input_geometry
from core.anchors.stats import (BIN_COUNTS, DatasetObjects, anchor_fit, collect_objects, dataset_stats, histogram,
                                input_boxes, kmeans_anchors)
from core.annotation import Annotation, Shape
from core.project import Project
from tests.conftest import shared_data


def test_histogram_mode_row_is_the_mode_bins_own():
    values = np.array([10.0, 11.0, 12.0, 100.0, 1000.0])
    h = histogram(values, 10)
    assert len(h.counts) == 10 and int(h.counts.sum()) == 5 and len(h.edges) == 11
    assert h.mode_index == 0 and h.mode_count == 3 and h.mode_share == pytest.approx(0.6)
    assert h.mode_low == pytest.approx(10.0) and h.mode_high == pytest.approx(10.0 * 100 ** 0.1)
    # mean and variance of the boxes in the mode bin (10, 11, 12), not of the whole dataset
    assert h.mean == pytest.approx(11.0) and h.variance == pytest.approx(np.var([10.0, 11.0, 12.0]))
    assert h.mode_row() == {"bins": 10, "mode_bin": 1, "count": 3, "mean": h.mean, "variance": h.variance,
                            "share": pytest.approx(0.6)}
    same = histogram(np.array([5.0, 5.0]), 20)
    assert same.mode_count == 2 and same.mode_low < 5.0 < same.mode_high and same.variance == 0.0
    assert histogram(np.array([]), 10).mode_count == 0


def test_linear_histogram_mode_bin_against_numpy():
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.uniform(0, 1000, 300), rng.normal(420, 8, 200)])
    for bins in BIN_COUNTS:
        h = histogram(values, bins, scale="linear")
        counts, edges = np.histogram(values, bins=bins)
        np.testing.assert_allclose(h.edges, edges)
        assert np.array_equal(h.counts, counts) and h.mode_index == int(np.argmax(counts))
        inside = values[(values >= edges[h.mode_index]) & (values < edges[h.mode_index + 1])]
        assert h.mean == pytest.approx(inside.mean()) and h.variance == pytest.approx(inside.var())
        assert h.mode_center == pytest.approx((h.mode_low + h.mode_high) / 2)


def test_kmeans_recovers_distinct_shapes():
    rng = np.random.default_rng(0)
    centres = np.array([[20.0, 40.0], [100.0, 50.0], [300.0, 300.0]])
    wh = np.concatenate([c * rng.uniform(0.95, 1.05, (200, 2)) for c in centres])
    found = kmeans_anchors(wh, 3, seed=1)
    np.testing.assert_allclose(found, centres, rtol=0.05)
    assert np.array_equal(found, kmeans_anchors(wh, 3, seed=1))
    assert len(kmeans_anchors(np.array([[10.0, 10.0], [10.0, 10.0]]), 5)) == 1


def _objects(rng, n_images, per_image, sizes):
    img_sizes = [sizes[i % len(sizes)] for i in range(n_images)]
    idx = np.repeat(np.arange(n_images), per_image)
    wh = np.exp(rng.uniform(2.5, 6.0, (len(idx), 2)))
    W = np.array([img_sizes[i][0] for i in idx], dtype=float)
    H = np.array([img_sizes[i][1] for i in idx], dtype=float)
    wh = np.minimum(wh, np.stack([W, H], 1) - 1)
    x, y = rng.uniform(0, 1, len(idx)) * (W - wh[:, 0]), rng.uniform(0, 1, len(idx)) * (H - wh[:, 1])
    boxes = np.stack([x, y, x + wh[:, 0], y + wh[:, 1]], 1)
    labels = [("car", "sign board")[i % 2] for i in range(len(idx))]
    return DatasetObjects(boxes, labels, idx, [f"img{i}.jpg" for i in range(n_images)], img_sizes)


@pytest.mark.parametrize("config", [AnchorConfig(min_size=320, max_size=560), AnchorConfig.classic_single(min_size=320)])
def test_anchor_fit_equals_brute_force_on_every_anchor(config):
    objects = _objects(np.random.default_rng(4), 6, 25, [(640, 480), (500, 375), (300, 700)])
    fit = anchor_fit(objects, config)
    boxes = input_boxes(objects, config)
    for img, size in enumerate(objects.image_sizes):
        rows = np.flatnonzero(objects.image_index == img)
        g = model_input_geometry(size, config)
        anchors, _ = generate_anchors(config, g.padded_hw, feature_map_sizes(g.padded_hw, config))
        iou = box_iou(torch.as_tensor(boxes[rows], dtype=torch.float32), anchors)
        assert np.array_equal(fit.best_iou[rows], iou.max(dim=1).values.double().numpy())
        assert np.array_equal(fit.good_anchors[rows], (iou >= 0.7).sum(dim=1).numpy())
    assert 0 <= fit.share_poor <= 1 and fit.share_good == pytest.approx((fit.good_anchors > 0).mean())
    assert fit.mean_good_anchors == pytest.approx(fit.good_anchors.mean())


def test_input_boxes_follow_the_model_resize():
    objects = DatasetObjects(np.array([[0.0, 0.0, 400.0, 300.0]]), ["car"], np.array([0]), ["a.jpg"], [(4000, 3000)])
    config = AnchorConfig(min_size=600, max_size=1000)
    np.testing.assert_allclose(input_boxes(objects, config), [[0, 0, 80, 60]])


def test_stats_per_label_and_overall_on_the_demo_project(demo_project):
    project = Project.open(demo_project)
    objects = collect_objects(project)
    expected = sum(len(annotation_boxes(ann)) for _, ann, _ in project.iter_annotations() if ann is not None)
    assert len(objects) == expected > 0
    stats = dataset_stats(objects, AnchorConfig(), k=3)
    assert stats.overall.count == len(objects)
    assert sum(g.count for g in stats.per_label) == len(objects)
    assert {g.label for g in stats.per_label} == set(objects.labels)
    assert set(stats.overall.area) == set(BIN_COUNTS) and set(stats.overall.ratio) == set(BIN_COUNTS)
    for g in stats.per_label:
        assert int(g.area[10].counts.sum()) == g.count
    d = stats.to_dict(20)
    assert d["overall"]["suggested"]["mode"]["bins"] == 20 and len(d["overall"]["suggested"]["kmeans"]) <= 3
    only = dataset_stats(objects, AnchorConfig(), label="car")
    assert only.overall.count == objects.labels.count("car") and [g.label for g in only.per_label] == ["car"]


def test_collect_objects_warns_about_broken_sidecars_and_grouped_parts(tmp_path):
    from PIL import Image

    project = Project.open(tmp_path / "p")
    for name in ("a.png", "b.png"):
        Image.new("RGB", (100, 80)).save(project.root / name)
    ann = Annotation("a.png", 80, 100, shapes=[
        Shape("car", [[10, 10], [30, 10], [30, 20]], group_id=1),
        Shape("car", [[50, 40], [60, 40], [60, 70]], group_id=1),   # a second part of the same car
        Shape("car", [[5, 5], [5, 5], [5, 5]]),                     # no area: left out
    ])
    project.save_annotation("a.png", ann)
    (project.root / "b.json").write_text("{not json")
    objects = collect_objects(project)
    assert len(objects) == 1 and objects.boxes.tolist() == [[10, 10, 60, 70]]
    assert any("b.json" in w for w in objects.warnings) and any("without area" in w for w in objects.warnings)


def test_stats_on_real_annotations(tmp_path):
    import shutil

    # a copy: opening a project writes its project file, and the shared data must stay untouched
    root = shutil.copytree(shared_data("labelme_examples") / "instance_segmentation", tmp_path / "voc")
    project = Project.open(root, create=False)
    objects = collect_objects(project)
    assert len(objects) > 5 and not [w for w in objects.warnings if "skipped" in w]
    stats = dataset_stats(objects, AnchorConfig(), k=5)
    assert stats.overall.fit.objects == len(objects)
    assert 0 < stats.overall.fit.share_good <= 1
    assert "person" in {g.label for g in stats.per_label}


def test_suggested_config_keeps_a_trainable_layout_and_round_trips(demo_project):
    from core.anchors.config import set_project_anchor_config
    from core.anchors.suggest import suggested_config
    from gui.anchors.config_text import training_problem

    fpn = suggested_config(AnchorConfig(fg_iou_thresh=0.6), [(100.0, 50.0), (120.0, 60.0), (30.0, 30.0)])
    assert fpn.fg_iou_thresh == 0.6 and len(fpn.sizes) == 5
    assert fpn.aspect_ratios == ((0.5, 1.0),) * 5
    # 30 px lands on level 0 (32), 70.7 and 84.9 px on level 1 (64) and share it (their geometric
    # mean, 77.5); the levels without a suggestion keep their size
    assert fpn.sizes == ((30,), (77,), (128,), (256,), (512,))
    assert training_problem(fpn) is None
    single = suggested_config(AnchorConfig.classic_single(), [(80.0, 52.8)])
    assert single.sizes == ((65,),) and single.aspect_ratios == ((0.66,),) and single.strides == (16,)
    # near-equal ratios (within 15 %) become one, their geometric mean
    merged = suggested_config(AnchorConfig(), [(100.0, 41.0), (100.0, 45.0), (100.0, 47.0), (50.0, 100.0)])
    assert merged.aspect_ratios[0] == (round(float(np.exp(np.log([0.41, 0.45, 0.47]).mean())), 2), 2.0)
    with pytest.raises(ValueError, match="no suggested anchors"):
        suggested_config(AnchorConfig(), [])
    project = Project.open(demo_project)
    set_project_anchor_config(project, single)
    assert AnchorConfig.from_dict(Project.open(demo_project).settings["anchors"]) == single


def test_compute_statistics_suggests_and_fits_in_core(demo_project):
    from core.anchors.suggest import KMEANS, MODE, compute_statistics, suggested_config

    project = Project.open(demo_project)
    config = AnchorConfig(min_size=256, max_size=512)
    result = compute_statistics(project, config, None, 20, 3)
    group = result.group()
    assert set(result.suggestions) == {MODE, KMEANS}
    assert result.suggestions[MODE] == suggested_config(config, [group.mode_shape(20)])
    assert result.fits[MODE].objects == group.count == len(collect_objects(project))
    assert result.rf_model == "mininet_r18_fpn" and len(result.rf_fields) == 5
