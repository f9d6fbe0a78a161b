"""Broken sources give a FormatError naming the file, or a per-item note; a project's saved data
is never changed by a failed or partial import."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from core.annotation import Annotation, Shape
from core.cli import build_parser
from core.errors import FormatError
from core.formats.commands import import_into_project, run_import
from core.project import Project

W, H = 40, 30


def do_import(fmt: str, src: Path, project: Path, *extra: str):
    args = build_parser().parse_args(["import", "--format", fmt, str(src), "--project", str(project), *extra])
    return import_into_project(args)


def write_image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (W, H), (10, 20, 30)).save(path)
    return path


@pytest.fixture
def saved_project(tmp_path) -> tuple[Path, dict[Path, bytes]]:
    """A project with an annotated `x.png`, and a snapshot of every file in it."""
    root = tmp_path / "project"
    project = Project.open(root)
    write_image(root / "x.png")
    project.save_annotation("x.png", Annotation("x.png", H, W, [Shape("car", [[1, 1], [9, 1], [9, 9]])]))
    return root, snapshot(root)


def snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def coco_source(tmp_path: Path, data: object) -> Path:
    write_image(tmp_path / "src" / "x.png")
    path = tmp_path / "src" / "coco.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def coco_data(**changes) -> dict:
    data = {
        "images": [{"id": 1, "file_name": "x.png", "width": W, "height": H}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "segmentation": [[2, 2, 20, 2, 20, 20]]}],
        "categories": [{"id": 3, "name": "dent"}],
    }
    data.update(changes)
    return data


def test_coco_not_json(tmp_path, saved_project):
    root, before = saved_project
    src = coco_source(tmp_path, '{"images": [')
    with pytest.raises(FormatError) as e:
        do_import("coco", src, root, "--overwrite")
    assert e.value.path == src and "not valid JSON" in e.value.reason
    assert snapshot(root) == before


@pytest.mark.parametrize("data, message", [
    ({"images": []}, "missing key 'annotations'"),
    (coco_data(categories=[{"id": 3}]), "category 0 has no 'name'"),
    (coco_data(images=[{"id": 1}]), "image 0 has no 'file_name'"),
    (coco_data(annotations=[{"id": 1, "image_id": 1}]), "annotation 0 has no 'category_id'"),
    ([1, 2], "expected a JSON object"),
])
def test_coco_missing_keys(tmp_path, saved_project, data, message):
    root, before = saved_project
    src = coco_source(tmp_path, data)
    with pytest.raises(FormatError, match=message) as e:
        do_import("coco", src, root, "--overwrite")
    assert e.value.path == src
    assert snapshot(root) == before


def test_coco_per_item_problems_are_reported(tmp_path):
    data = coco_data(annotations=[
        {"id": 1, "image_id": 1, "category_id": 3, "segmentation": [[2, 2, 20, 2, 20, 20]]},
        {"id": 2, "image_id": 99, "category_id": 3, "segmentation": [[2, 2, 20, 2, 20, 20]]},
        {"id": 3, "image_id": 1, "category_id": 42, "segmentation": [[2, 2, 20, 2, 20, 20]]},
        {"id": 4, "image_id": 1, "category_id": 3, "segmentation": [[2, 2, 20, 2, 20]]},
        {"id": 5, "image_id": 1, "category_id": 3, "segmentation": {"size": [H, W], "counts": [5, 7]}},
        {"id": 6, "image_id": 1, "category_id": 3, "segmentation": {"size": [H, W], "counts": [50, 20, W * H - 70]},
         "iscrowd": 1},
    ])
    data["images"].append({"id": 2, "file_name": "missing.png"})
    summary = do_import("coco", coco_source(tmp_path, data), tmp_path / "p")
    details = [str(n) for n in summary.notes if n.kind == "skipped"]
    assert any("annotation 2" in d and "image_id 99 is not in 'images'" in d for d in details)
    assert any("annotation 3" in d and "category_id 42" in d for d in details)
    assert any("annotation 4" in d and "even number" in d for d in details)
    assert any("annotation 5" in d and "summing to height*width" in d for d in details)
    assert any("missing.png" in d and "image file not found" in d for d in details)
    assert summary.images == 1 and summary.instances == 2
    ann = Project.open(tmp_path / "p").load_annotation("x.png")
    crowd = [s for s in ann.shapes if s.shape_type == "mask"]
    assert len(crowd) == 1 and crowd[0].flags == {"iscrowd": True}


def via_source(tmp_path: Path, regions: list) -> Path:
    write_image(tmp_path / "via" / "x.png")
    path = tmp_path / "via" / "via.json"
    data = {"x.png123": {"filename": "x.png", "size": 123, "regions": regions, "file_attributes": {}}}
    path.write_text(json.dumps(data))  # json writes NaN as the bare token NaN, as some tools do
    return path


def polygon_region(xs, ys, label="car"):
    return {"shape_attributes": {"name": "polygon", "all_points_x": xs, "all_points_y": ys},
            "region_attributes": {"kind": label}}


def test_via_nan_and_string_coordinates_are_skipped_with_reasons(tmp_path):
    src = via_source(tmp_path, [
        polygon_region([1, 10, 10], [1, 1, 10]),
        polygon_region([1, float("nan"), 10], [1, 1, 10]),
        polygon_region([1, "ten", 10], [1, 1, 10]),
        polygon_region([1, 10], [1, 1, 10]),
        {"shape_attributes": {"name": "point", "cx": 3, "cy": 4}, "region_attributes": {}},
        {"shape_attributes": {"name": "rect", "x": 2, "y": 3, "width": 10, "height": 5},
         "region_attributes": {"kind": "sign"}},
        {"shape_attributes": {"name": "ellipse", "cx": 20, "cy": 15, "rx": 8, "ry": 4, "theta": 0.3},
         "region_attributes": {"kind": ""}},
    ])
    summary = do_import("via", src, tmp_path / "p")
    details = [str(n) for n in summary.notes if n.kind == "skipped"]
    assert any("region 1" in d and "nan" in d.lower() for d in details)
    assert any("region 2" in d and "'ten', not a number" in d for d in details)
    assert any("region 3" in d and "2 x and 3 y" in d for d in details)
    assert any("region 4" in d and "'point' has no area" in d for d in details)
    ann = Project.open(tmp_path / "p").load_annotation("x.png")
    assert [s.label for s in ann.shapes] == ["car", "sign", "object"]  # empty class: default label
    assert len(ann.shapes[1].points) == 4 and len(ann.shapes[2].points) == 32


def test_via_ambiguous_label_key_and_not_via(tmp_path, saved_project):
    root, before = saved_project
    region = polygon_region([1, 10, 10], [1, 1, 10])
    region["region_attributes"]["colour"] = "red"
    src = via_source(tmp_path, [region])
    with pytest.raises(FormatError, match="--label-key"):
        do_import("via", src, root)
    summary = do_import("via", src, tmp_path / "p2", "--label-key", "colour")
    assert summary.instances == 1 and "red" in Project.open(tmp_path / "p2").label_names()
    summary = do_import("via", src, tmp_path / "p3", "--label-key", "cls")
    assert summary.count("label key unused") == 1
    assert Project.open(tmp_path / "p3").load_annotation("x.png").shapes[0].label == "object"
    src.write_text(json.dumps({"a": 1}))
    with pytest.raises(FormatError, match="no 'filename'"):
        do_import("via", src, root)
    assert snapshot(root) == before


def test_yolo_bad_lines_are_reported(tmp_path, saved_project):
    src = tmp_path / "yolo"
    write_image(src / "images" / "x.png")
    (src / "labels").mkdir()
    (src / "classes.txt").write_text("car\nbus\n")
    (src / "labels" / "x.txt").write_text(
        "0 0.1 0.1 0.5 0.1 0.5 0.5\n"
        "1 0.1 0.1 0.5 0.1 0.5\n"
        "7 0.1 0.1 0.5 0.1 0.5 0.5\n"
        "car 0.1 0.1 0.5 0.1 0.5 0.5\n"
        "1 0.1 0.1 0.5 0.1 nan 0.5\n"
        "1 0.5 0.5 0.2 0.2\n"
    )
    summary = do_import("yolo", src, tmp_path / "p")
    details = [str(n) for n in summary.notes if n.kind == "skipped"]
    assert any("line 2" in d and "odd number of coordinates (5)" in d for d in details)
    assert any("line 3" in d and "class id 7 is not in the names file" in d for d in details)
    assert any("line 4" in d and "not 'class x1 y1" in d for d in details)
    assert any("line 5" in d and "not a finite number" in d for d in details)
    ann = Project.open(tmp_path / "p").load_annotation("x.png")
    assert [(s.label, s.shape_type) for s in ann.shapes] == [("car", "polygon"), ("bus", "rectangle")]
    assert ann.shapes[1].points.tolist() == [[16.0, 12.0], [24.0, 18.0]]

    root, before = saved_project
    with pytest.raises(FormatError, match="empty lines"):
        (src / "names.txt").write_text("car\n\nbus\n")
        do_import("yolo", src, root, "--names", str(src / "names.txt"))
    assert snapshot(root) == before


def test_yolo_names_from_data_yaml(tmp_path):
    src = tmp_path / "yolo"
    write_image(src / "a.png")
    (src / "a.txt").write_text("1 0.1 0.1 0.5 0.1 0.5 0.5\n")
    (src / "data.yaml").write_text("path: .\nnames:\n  0: person\n  1: 'stop sign'\nnc: 2\n")
    do_import("yolo", src, tmp_path / "p")
    assert Project.open(tmp_path / "p").load_annotation("a.png").shapes[0].label == "stop sign"
    (src / "data.yaml").write_text("names: ['cat', 'dog']\n")
    do_import("yolo", src, tmp_path / "p2")
    assert Project.open(tmp_path / "p2").load_annotation("a.png").shapes[0].label == "dog"


def test_existing_annotations_kept_unless_overwrite(tmp_path, saved_project):
    root, before = saved_project
    src = coco_source(tmp_path, coco_data())
    summary = do_import("coco", src, root)
    assert summary.count("kept existing annotation") == 1 and summary.images == 0
    assert snapshot(root)[root / "x.json"] == before[root / "x.json"]
    summary = do_import("coco", src, root, "--overwrite")
    assert summary.images == 1
    assert Project.open(root).load_annotation("x.png").shapes[0].label == "dent"


def test_labelme_broken_sidecars_and_missing_images(tmp_path):
    src = tmp_path / "lm"
    write_image(src / "good.png")
    write_image(src / "plain.png")
    good = {"version": "5.5.0", "flags": {"seen": True}, "shapes": [
        {"label": "car", "points": [[1, 1], [9, 1], [9, 9]], "shape_type": "polygon", "custom": 5}],
        "imagePath": "good.png", "imageData": None, "imageHeight": H, "imageWidth": W, "tool": "x"}
    (src / "good.json").write_text(json.dumps(good))
    (src / "orphan.json").write_text(json.dumps(dict(good, imagePath="gone.png")))
    (src / "broken.json").write_text("{")
    summary = do_import("labelme", src, tmp_path / "p")
    details = [str(n) for n in summary.notes if n.kind == "skipped"]
    assert any("broken.json" in d and "not valid JSON" in d for d in details)
    assert any("orphan.json" in d and "'gone.png' not found" in d for d in details)
    assert summary.images == 2  # good.png with its annotation, plain.png copied alone
    project = Project.open(tmp_path / "p")
    ann = project.load_annotation("good.png")
    assert ann.extra == {"tool": "x"} and ann.flags == {"seen": True}
    assert ann.shapes[0].extra == {"custom": 5}
    assert (tmp_path / "p" / "plain.png").exists() and project.load_annotation("plain.png") is None


def test_run_import_prints_a_summary_and_errors_name_the_file(tmp_path, capsys):
    src = coco_source(tmp_path, coco_data())
    args = build_parser().parse_args(["import", "--format", "coco", str(src), "--project", str(tmp_path / "p")])
    assert run_import(args) == 0
    out = capsys.readouterr().out
    assert "images: 1 (1 copied, 0 linked)" in out and "instances: 1" in out and "labels added: dent" in out
    src.write_text("nope")
    with pytest.raises(FormatError) as e:
        run_import(args)
    assert str(src) in str(e.value)


def test_link_makes_hard_links(tmp_path):
    src = coco_source(tmp_path, coco_data())
    do_import("coco", src, tmp_path / "p", "--link")
    assert os.path.samefile(tmp_path / "p" / "x.png", tmp_path / "src" / "x.png")


def test_yolo_without_names_and_with_stray_text_files(tmp_path):
    src = tmp_path / "yolo"
    write_image(src / "a.png")
    (src / "a.txt").write_text("3 0.1 0.1 0.5 0.1 0.5 0.5\n-1 0.1 0.1 0.5 0.1 0.5 0.5\n")
    (src / "README.txt").write_text("Dataset notes, not labels\n")
    (src / "orphan.txt").write_text("0 0.1 0.1 0.5 0.1 0.5 0.5\n")
    summary = do_import("yolo", src, tmp_path / "p")
    assert summary.count("no class names") == 1
    skipped = [str(n) for n in summary.notes if n.kind == "skipped"]
    assert skipped == ["a.txt line 2: class id -1 is not in 0, 1, 2, ...",
                       "orphan.txt: label file without an image: 1 line(s) not imported"]
    assert Project.open(tmp_path / "p").load_annotation("a.png").shapes[0].label == "class_3"


def test_options_of_another_format_are_refused(tmp_path):
    src = coco_source(tmp_path, coco_data())
    with pytest.raises(FormatError, match="--names applies to --format yolo, not coco"):
        do_import("coco", src, tmp_path / "p", "--names", "classes.txt")
    with pytest.raises(FormatError, match="--images applies to --format coco or via, not yolo"):
        do_import("yolo", tmp_path / "src", tmp_path / "p", "--images", str(tmp_path))
    assert not (tmp_path / "p").exists()
