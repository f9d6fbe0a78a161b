"""`main.py stats` and `main.py anchors` end to end, on the demo project and on real photos."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from core.cli import main
from tests.conftest import ROOT, shared_data


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_anchors_json_and_png_on_the_demo_project(demo_project, tmp_path, capsys):
    out_png = tmp_path / "overlay.png"
    code, out, err = _run(capsys, "anchors", "--project", str(demo_project), "--image", "street_000.jpg",
                          "--out", str(out_png), "--json")
    assert code == 0, err
    result = json.loads(out)
    counts = result["counts"]
    assert set(counts) == {"positive", "negative", "ignore"}
    assert sum(counts.values()) == result["anchors"] and counts["positive"] > 0
    assert sum(level["positive"] for level in result["per_level"]) == counts["positive"]
    assert sum(obj["positive"] for obj in result["per_object"]) == counts["positive"]
    assert len(result["per_object"]) == len(result["labels"]) > 0
    assert result["sampled"]["positive"] + result["sampled"]["negative"] <= 256
    assert result["input_size"] == {"width": 341, "height": 256}  # mininet_r18_fpn, the default model, at 256 px
    with Image.open(out_png) as img:
        assert img.size == (640, 480)
        pixels = np.asarray(img.convert("RGB")).reshape(-1, 3)
    assert (np.abs(pixels - [255, 220, 0]).sum(axis=1) < 60).any()  # positive anchors drawn in yellow


def test_anchors_classic_config_and_text_output(demo_project, capsys):
    code, out, _ = _run(capsys, "anchors", "--project", str(demo_project), "--image", "street_001.jpg",
                        "--config", "classic", "--json")
    assert code == 0
    result = json.loads(out)
    assert len(result["per_level"]) == 1 and result["per_level"][0]["stride"] == [16, 16]
    # the classic RPN's own input size (rpn_classic trains at 320/640), stated in the output
    assert result["model"] == "rpn_classic" and (result["min_size"], result["max_size"]) == (320, 640)
    assert result["input_size"] == {"width": 426, "height": 320}
    code, out, _ = _run(capsys, "anchors", "--project", str(demo_project), "--image", "street_001.jpg",
                        "--config", "classic")
    assert code == 0 and "rpn_classic at input 320/640" in out and "model input 426x320" in out
    code, out, _ = _run(capsys, "anchors", "--project", str(demo_project), "--image", "street_001.jpg")
    assert code == 0 and "positive" in out and "mininet_r18_fpn at input 256/512" in out and "model input 341x256" in out
    code, out, _ = _run(capsys, "anchors", "--project", str(demo_project), "--image", "street_001.jpg",
                        "--model", "maskrcnn_mobilenet_v3_fpn", "--json")
    result = json.loads(out)
    assert code == 0 and result["model"] == "maskrcnn_mobilenet_v3_fpn" and result["input_size"]["height"] == 320
    assert [level["stride"][0] for level in result["per_level"]] == [16, 16, 32]


def test_anchors_when_the_sidecar_records_another_size(demo_project, capsys):
    """Issue 14, item 3: the photo was downscaled after labelling; training scales the sidecar's
    coordinates to the photo, and so does the preview (it used to fail to broadcast)."""
    from core.labelme_json import read_annotation

    photo = demo_project / "street_003.jpg"
    before = json.loads(main_json(capsys, demo_project, "street_003.jpg"))
    with Image.open(photo) as img:
        img.resize((img.width // 2, img.height // 2)).save(photo, quality=95)
    code, out, err = _run(capsys, "anchors", "--project", str(demo_project), "--image", "street_003.jpg", "--json")
    assert code == 0 and "records 640x480 but the image is 320x240" in err
    after = json.loads(out)
    assert after["image_size"] == {"width": 320, "height": 240} and after["input_size"] == before["input_size"]
    assert len(after["per_object"]) == len(read_annotation(demo_project / "street_003.json").instances())
    assert after["counts"]["positive"] > 0


def main_json(capsys, project, image: str) -> str:
    code, out, err = _run(capsys, "anchors", "--project", str(project), "--image", image, "--json")
    assert code == 0, err
    return out


def test_a_7x4800_strip_in_stats_and_anchors(demo_project, capsys):
    """Issue 14, item 4: the resize makes a 7 px side 0 or 1 px; training keeps one pixel row, and
    the preview and the statistics follow it instead of dividing by zero."""
    from core.anchors.stats import collect_objects
    from core.annotation import Annotation, Shape
    from core.project import Project

    project = Project.open(demo_project)
    Image.new("RGB", (4800, 7), "gray").save(demo_project / "strip.png")
    project.save_annotation("strip.png", Annotation("strip.png", 7, 4800, shapes=[
        Shape("car", [[100, 0], [2600, 0], [2600, 7], [100, 7]])]))
    for config in ([], ["--config", "classic"]):
        code, out, err = _run(capsys, "anchors", "--project", str(demo_project), "--image", "strip.png", "--json",
                              *config)
        assert code == 0, err
        result = json.loads(out)
        assert result["frame_size"]["height"] == 1 and result["anchors"] > 0
    code, out, err = _run(capsys, "stats", "--project", str(demo_project), "--json")
    assert code == 0, err
    assert json.loads(out)["overall"]["objects"] == len(collect_objects(Project.open(demo_project)))


def test_anchors_config_file_and_errors(demo_project, tmp_path, capsys):
    config = tmp_path / "anchors.json"
    config.write_text(json.dumps({"sizes": [[48], [96], [192], [384], [768]], "aspect_ratios": [[0.4, 1.0]],
                                  "min_size": 480, "max_size": 800}))
    code, out, _ = _run(capsys, "anchors", "--project", str(demo_project), "--image", "street_002.jpg",
                        "--config", str(config), "--json")
    assert code == 0 and json.loads(out)["per_level"][0]["sizes"] == [48]

    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    code, _, err = _run(capsys, "anchors", "--project", str(demo_project), "--image", "street_002.jpg",
                        "--config", str(broken))
    assert code == 2 and "broken.json" in err and "JSON" in err  # an argument error (issue 14, item 17)
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({"fg_iou_thresh": 0.2, "bg_iou_thresh": 0.5}))
    code, _, err = _run(capsys, "anchors", "--project", str(demo_project), "--image", "street_002.jpg",
                        "--config", str(invalid))
    assert code == 2 and "invalid.json" in err
    code, _, err = _run(capsys, "anchors", "--project", str(demo_project), "--image", "nothere.jpg", "--json")
    assert code == 1 and "nothere.jpg" in err
    code, _, err = _run(capsys, "anchors", "--project", str(tmp_path / "missing"), "--image", "a.jpg")
    assert code == 1 and "missing" in err


def test_anchors_on_an_unannotated_image_counts_all_negative(demo_project, capsys):
    unlabelled = sorted(p.name for p in demo_project.glob("*.jpg") if not p.with_suffix(".json").exists())
    code, out, _ = _run(capsys, "anchors", "--project", str(demo_project), "--image", unlabelled[0], "--json")
    result = json.loads(out)
    assert code == 0 and result["counts"]["positive"] == 0 and result["counts"]["negative"] == result["anchors"]


def test_stats_json_text_and_plots(demo_project, tmp_path, capsys):
    plots = tmp_path / "plots"
    code, out, err = _run(capsys, "stats", "--project", str(demo_project), "--json", "--plots", str(plots), "--k", "3")
    assert code == 0, err
    result = json.loads(out)
    overall = result["overall"]
    assert overall["objects"] > 0 and sorted(int(b) for b in overall["area"]) == list(range(10, 101, 10))
    assert overall["area"]["20"]["mode"]["count"] >= 1 and 0 < overall["area"]["20"]["mode"]["share"] <= 1
    assert {g["label"] for g in result["per_label"]} <= {"car", "sign board"}
    assert 0 <= overall["anchor_fit"]["share_with_anchor_at_good_iou"] <= 1
    assert result["receptive_field"]["level_fields"] == [43, 99, 211, 435, 435]
    assert result["model"] == "mininet_r18_fpn" and result["min_size"] == 256
    for name in ("area_model_log", "area_photo_linear", "aspect_ratio_model_log", "aspect_ratio_photo_linear"):
        table = overall["mode_tables"][name]
        assert [row["bins"] for row in table] == list(range(10, 101, 10))
        assert all(1 <= row["mode_bin"] <= row["bins"] and row["count"] >= 1 for row in table)
    assert overall["area_photo"]["10"]["scale"] == "linear" and overall["area"]["10"]["scale"] == "log"
    assert set(result["suggestions"]) == {"mode", "kmeans"}
    pngs = sorted(p.name for p in plots.glob("*.png"))
    groups = 1 + len(result["per_label"])
    assert len(pngs) == 4 * groups and "all_area_model_log.png" in pngs and "label_car_area_photo_linear.png" in pngs
    with Image.open(plots / "all_area_model_log.png") as img:  # ten panels: 10, 20, ..., 100 bins
        assert img.size[0] >= 5 * 300 and img.size[1] >= 2 * 200

    code, out, _ = _run(capsys, "stats", "--project", str(demo_project), "--label", "car")
    assert code == 0 and "label 'car'" in out and "k-means anchors" in out and "RF" in out
    assert "mode bin" in out and "variance" in out and "Suggested anchor settings for label 'car'" in out
    code, _, err = _run(capsys, "stats", "--project", str(demo_project), "--label", "boat")
    assert code == 1 and "boat" in err and "car" in err


def test_anchors_on_real_photos(tmp_path, capsys):
    """On a copy of the LabelMe examples (opening a project writes its project file; the shared
    data must stay untouched)."""
    import shutil

    root = shutil.copytree(shared_data("labelme_examples") / "instance_segmentation", tmp_path / "voc")
    out_png = tmp_path / "real.png"
    code, out, err = _run(capsys, "anchors", "--project", str(root), "--image", "2011_000003.jpg",
                          "--out", str(out_png), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["counts"]["positive"] > 0 and "person" in result["labels"]
    with Image.open(out_png) as img, Image.open(root / "2011_000003.jpg") as photo:
        assert img.size == photo.size


def test_main_py_entry_point(demo_project):
    """The script itself, once: `main.py anchors --json` prints one JSON object on stdout."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "anchors", "--project", str(demo_project),
                           "--image", "street_000.jpg", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads(proc.stdout)["counts"]) == {"positive", "negative", "ignore"}
