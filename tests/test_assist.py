"""GrabCut assist on real photos (IoU against the ground truth, thresholds from
tests/bench/bench_assist.py), clicks, bad boxes, the method choice, the uncertainty ranking and
`main.py assist`."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import shared_data


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return np.count_nonzero(a & b) / max(1, np.count_nonzero(a | b))


def _objects(name: str, limit: int):
    import sys

    shared_data(name)
    sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))
    from bench_assist import corrective_click, objects  # the benchmark's own data and click rule

    return list(objects(name, limit)), corrective_click


@pytest.mark.parametrize("name, margin", [("car_damage_via", 0.05), ("vehicle_crops_via", 0.05)])
def test_grabcut_beats_the_filled_box_on_real_objects(name, margin):
    """bench_assist.py over every object: car_damage_via box 0.634 -> GrabCut 0.721, vehicle_crops_via
    0.742 -> 0.823; on these first 12 the gap is of the same size, so 0.05 leaves room."""
    from core.assist.grabcut import grabcut_mask
    from core.geometry import mask_box
    from core.images import load_rgb_array

    items, corrective_click = _objects(name, 12)
    boxes, cuts, clicked = [], [], []
    for path, _, gt in items:
        rgb = load_rgb_array(path)
        box = mask_box(gt)
        x1, y1, x2, y2 = (int(v) for v in box)
        filled = np.zeros_like(gt)
        filled[y1:y2, x1:x2] = True
        boxes.append(_iou(filled, gt))
        pred = grabcut_mask(rgb, box).full(*gt.shape)
        cuts.append(_iou(pred, gt))
        click = corrective_click(pred, gt)
        pos, neg = ([click[0]], []) if click and click[1] else ([], [click[0]] if click else [])
        clicked.append(_iou(grabcut_mask(rgb, box, pos, neg).full(*gt.shape), gt))
    assert np.mean(cuts) >= np.mean(boxes) + margin, (np.mean(boxes), np.mean(cuts))
    assert np.mean(clicked) >= np.mean(cuts) + 0.01, (np.mean(cuts), np.mean(clicked))  # bench: +0.03 / +0.03


def test_grabcut_box_rules():
    from core.assist import AssistError
    from core.assist.grabcut import grabcut_mask

    rng = np.random.default_rng(0)
    photo = rng.integers(0, 40, (120, 160, 3), dtype=np.uint8)
    photo[30:90, 50:110] = (220, 30, 30)
    whole = grabcut_mask(photo, (-20, -20, 400, 400))  # clipped to the photo, which is all box
    assert whole.mask.any()
    crop = grabcut_mask(photo, (40, 20, 120, 100))
    disk = crop.full(120, 160)
    square = np.zeros((120, 160), bool)
    square[30:90, 50:110] = True
    assert _iou(disk, square) > 0.9
    grown = grabcut_mask(photo, (40, 20, 80, 100), positive=[(105, 60)])  # a click right of the box
    assert grown.full(120, 160)[60, 104]
    with pytest.raises(AssistError, match="less than 2x2"):
        grabcut_mask(photo, (500, 500, 600, 600))
    with pytest.raises(AssistError, match="finite"):
        grabcut_mask(photo, (0, 0, float("nan"), 10))


def test_method_choice_falls_back_and_is_remembered(demo_project):
    from core.assist.methods import remember_choice, resolve_method
    from core.project import Project
    project = Project.open(demo_project)
    choice = resolve_method(project)
    assert choice.method == "grabcut" and "no checkpoint" in choice.notes[0]
    run_name = "20260101-000000-mininet_r18_fpn"
    ckpt = demo_project / "runs" / run_name / "best.pt"  # only found here, not loaded
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"")
    assert resolve_method(project).checkpoint == ckpt
    remember_choice(project, "grabcut")
    assert resolve_method(Project.open(demo_project)).method == "grabcut"
    remember_choice(project, "model", run_name)
    assert json.loads(project.project_file.read_text())["settings"]["assist"] == {"method": "model", "run": run_name}
    remember_choice(project, "model", "gone")
    choice = resolve_method(project)
    assert choice.checkpoint == ckpt and "gone" in choice.notes[0]


def test_uncertainty_is_the_sum_of_score_entropies(demo_project):
    from core.assist.uncertainty import binary_entropy, most_uncertain, rank_images
    from core.project import Project

    assert binary_entropy(0.5) == pytest.approx(1.0) and binary_entropy(1.0) == 0.0
    assert binary_entropy(0.9) == pytest.approx(binary_entropy(0.1)) == pytest.approx(0.469, abs=1e-3)
    preds = demo_project / "predictions"
    preds.mkdir()
    files = {"street_000.jpg": [0.99, 0.98], "street_001.jpg": [0.5], "street_002.jpg": [0.6, 0.55, 0.7],
             "street_003.jpg": []}
    for image, scores in files.items():
        (preds / image).with_suffix(".json").write_text(json.dumps(
            {"imagePath": f"../{image}", "shapes": [{"label": "car", "score": s} for s in scores]}))
    (preds / "broken.json").write_text("{")
    ranking = rank_images(Project.open(demo_project))
    assert set(ranking) == set(files)
    assert max(ranking, key=ranking.get) == "street_002.jpg" and ranking["street_003.jpg"] == 0
    assert most_uncertain(ranking) == "street_002.jpg"
    assert most_uncertain(ranking, after="street_002.jpg") == "street_001.jpg"
    assert most_uncertain(ranking, skip={"street_002.jpg"}) == "street_001.jpg"


def test_cli_prints_and_writes_only_when_asked(demo_project, capsys):
    from core.cli import main
    from core.labelme_json import read_annotation

    sidecar = demo_project / "street_002.json"
    before = sidecar.read_bytes() if sidecar.exists() else None
    shapes_before = len(read_annotation(sidecar).shapes) if before else 0
    args = ["assist", "--project", str(demo_project), "--image", "street_002.jpg", "--box", "150,100,330,230",
            "--method", "grabcut", "--label", "car", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "grabcut" and out["written"] is None
    assert (sidecar.read_bytes() if sidecar.exists() else None) == before
    points = np.array(out["polygons"][0])
    assert points.shape[1] == 2 and len(points) >= 4
    assert (points >= (150, 100) - np.array(1)).all() and (points <= (330, 230) + np.array(1)).all()
    assert main(args + ["--write", "--positive", "240,165"]) == 0
    written = json.loads(capsys.readouterr().out)["written"]
    ann = read_annotation(written)  # the labelme-compatible codec
    assert len(ann.shapes) == shapes_before + 1
    assert (ann.shapes[-1].label, ann.shapes[-1].shape_type) == ("car", "polygon")
    assert ann.image_path == "street_002.jpg" and ann.image_width == 640


def test_cli_bad_input_says_what(demo_project, capsys):
    from core.cli import main

    assert main(["assist", "--project", str(demo_project), "--image", "street_000.jpg", "--box", "1,2,3"]) == 2
    assert "expected 4 comma-separated numbers" in capsys.readouterr().err
    assert main(["assist", "--project", str(demo_project), "--image", "street_000.jpg", "--box", "900,900,990,990",
                 "--method", "grabcut"]) == 1
    err = capsys.readouterr().err
    assert "street_000.jpg" in err and "less than 2x2" in err
    assert main(["assist", "--project", str(demo_project), "--image", "nope.jpg", "--box", "1,2,30,40"]) == 1
    assert "no image 'nope.jpg'" in capsys.readouterr().err
