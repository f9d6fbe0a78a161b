"""The GUI speed benchmark's own pieces: timing helpers, the seeded synthetic data, the report, and
both sides measured on small data (labelme only where its environment already exists; the test
never builds it)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import bench_gui_speed as bench  # noqa: E402
from _common import fit_scale, summarize, time_calls  # noqa: E402


def test_time_calls_and_summary():
    calls = []
    samples = time_calls(lambda: calls.append(1), repeats=4, warmup=2)
    assert len(samples) == 4 and len(calls) == 6
    assert all(s >= 0 for s in samples)
    stats = summarize([3.0, 1.0, 2.0])
    assert stats == {"median_ms": 2.0, "min_ms": 1.0, "max_ms": 3.0, "n": 3}
    with pytest.raises(ValueError):
        summarize([])


def test_fit_scale_matches_labelme_fit_window():
    # labelme keeps 2 px of the viewport for the scroll area's frame
    assert fit_scale((4032, 3024), (1600, 1000)) == pytest.approx(998 / 3024)
    assert fit_scale((400, 100), (202, 1000)) == pytest.approx(0.5)


def test_polygons_are_seeded_simple_and_inside_the_image():
    from shapely.geometry import Polygon

    a = bench.random_polygons(n=50, vertices=40, image_size=(800, 600), seed=3)
    b = bench.random_polygons(n=50, vertices=40, image_size=(800, 600), seed=3)
    assert len(a) == 50 and all(p.shape == (40, 2) for p in a)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    for p in a:
        assert Polygon(p).is_valid
        assert p[:, 0].min() >= 0 and p[:, 0].max() <= 800
        assert p[:, 1].min() >= 0 and p[:, 1].max() <= 600
    assert not np.array_equal(a[0], bench.random_polygons(n=1, image_size=(800, 600), seed=4)[0])


def test_photo_is_a_deterministic_jpeg_of_the_asked_size(tmp_path):
    from core.images import image_size, load_rgb_array

    first = bench.write_photo(tmp_path / "a.jpg", size=(320, 240), seed=1)
    second = bench.write_photo(tmp_path / "b.jpg", size=(320, 240), seed=1)
    assert image_size(first) == (320, 240)
    assert first.read_bytes() == second.read_bytes()
    pixels = load_rgb_array(first)
    assert pixels.std() > 10  # textured like a photo, not a flat colour


def test_image_folder_has_images_and_readable_sidecars(tmp_path):
    from core.labelme_json import read_annotation
    from core.project import Project

    folder = bench.write_image_folder(tmp_path / "many", n_images=40, n_sidecars=5)
    project = Project.open(folder)
    images = project.image_paths()
    assert len(images) == 40
    annotated = [img for img in images if project.annotation_path(img).exists()]
    assert len(annotated) == 5
    ann = read_annotation(project.annotation_path(annotated[0]))
    assert ann.image_width == 64 and len(ann.shapes) == 1


def test_table_shows_ratios_and_targets():
    labelme = {"labelme_version": "6.3.1", "open_show": {"median_ms": 190.0},
               "full_repaint": {"median_ms": 650.0}, "drag_step": {"median_ms": 600.0},
               "open_folder": {"median_ms": 500.0}}
    masklab = {"open_show": {"median_ms": 100.0}, "full_repaint": {"median_ms": 130.0},
               "drag_step": {"median_ms": 12.0}, "open_folder": {"median_ms": 2500.0}}
    table = bench.format_table(labelme, masklab)
    assert "labelme 6.3.1" in table
    assert "1.90x" in table and "5.00x" in table and "50.00x" in table and "0.20x" in table
    assert "< 130 ms: met" in table
    assert ">= 10x labelme: MISSED" in table
    assert "< 2000 ms: MISSED" in table
    assert "labelme (skipped)" in bench.format_table(None, masklab)


@pytest.fixture
def small_scene(tmp_path):
    (tmp_path / "photo").mkdir()
    photo = bench.write_photo(tmp_path / "photo" / "photo.jpg", size=(640, 480), seed=0)
    polygons = bench.random_polygons(n=30, vertices=40, image_size=(640, 480), seed=0)
    labels = bench.polygon_labels(len(polygons))
    polygons_json = tmp_path / "polygons.json"
    polygons_json.write_text(json.dumps({"polygons": [p.tolist() for p in polygons], "labels": labels}))
    return photo, polygons, labels, polygons_json


def test_masklab_canvas_is_measured_on_small_data(small_scene, qapp):
    import gui.canvas.bench_api  # noqa: F401 (a broken import must fail, not skip)
    photo, polygons, labels, _ = small_scene
    annotation = bench.annotation_with(photo, polygons, labels)
    result = bench.measure_masklab_canvas(photo, annotation, repeats=2, drag_steps=3, viewport=(400, 300))
    assert result["full_repaint"]["n"] == 2 and result["drag_step"]["n"] == 3
    assert result["full_repaint"]["median_ms"] > 0
    opened = bench.measure_masklab_open_show(photo, repeats=1, viewport=(400, 300))
    assert opened["open_show"]["n"] == 1 and opened["open_full"]["n"] == 1
    assert opened["open_full"]["median_ms"] >= opened["open_show"]["median_ms"]


def test_masklab_window_opens_a_folder(tmp_path, qapp):
    import gui.app  # noqa: F401 (a broken import must fail, not skip)
    folder = bench.write_image_folder(tmp_path / "many", n_images=30, n_sidecars=3)
    result = bench.measure_masklab_open_folder(folder)
    assert result["folder_images"] == 30 and result["open_folder"]["median_ms"] > 0


def test_labelme_peer_runs_on_small_data(small_scene, tmp_path):
    python = bench.labelme_python()
    if not python.exists():
        pytest.skip(f"no labelme environment at {python.parent.parent}; "
                    "tests/bench/bench_gui_speed.py creates it on its first run")
    photo, _, _, polygons_json = small_scene
    folder = bench.write_image_folder(tmp_path / "folder", n_images=12, n_sidecars=2)
    result = bench.run_labelme_peer(python, photo, polygons_json, folder, repeats=2, drag_steps=3,
                                    open_repeats=1, work=tmp_path, viewport=(900, 700))
    assert result["labelme_version"] == "6.3.1"
    assert result["shapes"] == 30 and result["vertices"] == 1200
    assert result["full_repaint"]["n"] == 2 and result["drag_step"]["n"] == 3
    assert result["open_show"]["n"] == 1 and result["image_size"] == [640, 480]
    assert result["central_size"] == [900, 700]
    assert result["folder_images"] == 12


def test_a_failing_peer_is_reported_with_its_message(small_scene, tmp_path):
    python = bench.labelme_python()
    if not python.exists():
        pytest.skip(f"no labelme environment at {python.parent.parent}")
    _, _, _, polygons_json = small_scene
    with pytest.raises(bench.BenchError, match="(?s)labelme peer failed.*missing.jpg: Qt could not read"):
        bench.run_labelme_peer(python, tmp_path / "missing.jpg", polygons_json, None, repeats=1,
                               drag_steps=1, open_repeats=1, work=tmp_path, viewport=(400, 300))
