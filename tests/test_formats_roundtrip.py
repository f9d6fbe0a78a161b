"""Export a small project with every shape kind, check COCO with pycocotools, re-import, compare."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from core.annotation import Annotation, Shape
from core.cli import build_parser
from core.errors import FormatError
from core.formats.coco import project_to_coco
from core.formats.yolo import read_names_file, write_yolo
from core.formats.commands import import_into_project, run_export
from core.geometry import encode_labelme_mask, instance_mask, mask_area
from core.project import Project

W, H = 64, 48


def do_import(fmt: str, src: Path, project: Path, *extra: str):
    args = build_parser().parse_args(["import", "--format", fmt, str(src), "--project", str(project), *extra])
    return import_into_project(args)


def make_project(root: Path) -> Project:
    project = Project.open(root)
    project.ensure_labels(["dent"])
    (root / "sub").mkdir()
    for rel in ("a.png", "sub/a.png", "empty.png", "unannotated.png"):
        Image.new("RGB", (W, H), (90, 90, 90)).save(root / rel)
    blob = np.zeros((H, W), bool)
    blob[30:40, 40:60] = True
    blob[34:36, 45:50] = False
    mask_points, mask_png = encode_labelme_mask(blob)
    shapes = [
        Shape("car", [[2.5, 3.25], [20, 4], [18, 22.75], [4, 18]]),
        Shape("dent", [[30, 2], [40, 2], [40, 10]], group_id=7),
        Shape("dent", [[44, 2], [54, 2], [54, 10], [44, 10]], group_id=7),  # two parts, one object
        Shape("car", [[5, 30], [15, 40]], "rectangle", flags={"iscrowd": True}),
        Shape("sign board", mask_points, "mask", mask=mask_png),
    ]
    project.save_annotation("a.png", Annotation("a.png", H, W, shapes))
    project.save_annotation("sub/a.png", Annotation("a.png", H, W, [Shape("car", [[10, 10], [30, 12], [20, 30]], "polygon")]))
    project.save_annotation("empty.png", Annotation("empty.png", H, W, []))
    return project


def instance_masks(project: Project, rel: str) -> list[tuple[str, np.ndarray]]:
    ann = project.load_annotation(rel)
    return sorted(((label, instance_mask(parts, H, W)) for label, parts in ann.instances()),
                  key=lambda item: (item[0], int(np.argmax(item[1].ravel()))))


def test_project_to_coco_loads_and_evaluates_perfectly_in_pycocotools(tmp_path):
    project = make_project(tmp_path / "p")
    data = project_to_coco(project)
    assert [c["name"] for c in data["categories"]] == project.label_names()
    assert [c["id"] for c in data["categories"]] == list(range(1, len(project.label_names()) + 1))
    assert {i["file_name"] for i in data["images"]} == {"a.png", "sub/a.png", "empty.png"}
    assert all((i["width"], i["height"]) == (W, H) for i in data["images"])
    anns = data["annotations"]
    assert len(anns) == 5
    by_label = {}
    for a in anns:
        by_label.setdefault(data["categories"][a["category_id"] - 1]["name"], []).append(a)
    dent = by_label["dent"][0]
    assert len(dent["segmentation"]) == 2  # both parts in one annotation
    sign = by_label["sign board"][0]
    assert isinstance(sign["segmentation"], dict) and isinstance(sign["segmentation"]["counts"], str)
    assert sign["area"] == 200 - 10 and sign["bbox"] == [40.0, 30.0, 20.0, 10.0]
    crowd = [a for a in by_label["car"] if a["iscrowd"]]
    assert len(crowd) == 1 and crowd[0]["bbox"] == [5.0, 30.0, 10.0, 10.0] and crowd[0]["area"] == 100

    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps(data))
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        detections = [{"image_id": a["image_id"], "category_id": a["category_id"], "segmentation": a["segmentation"]
                       if isinstance(a["segmentation"], dict) else None, "score": 0.9} for a in anns if not a["iscrowd"]]
        for det, a in zip(detections, [a for a in anns if not a["iscrowd"]]):
            if det["segmentation"] is None:  # results need RLE; rasterise the polygons like pycocotools
                det["segmentation"] = gt.annToRLE(a)
                det["segmentation"]["counts"] = det["segmentation"]["counts"].decode("ascii")
        dt = gt.loadRes(detections)
        ev = COCOeval(gt, dt, "segm")
        ev.evaluate(); ev.accumulate(); ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)
    # our area equals pycocotools' own rasterisation to within boundary pixels
    for a in anns:
        assert abs(gt.annToMask(gt.anns[a["id"]]).sum() - a["area"]) <= 0.2 * a["area"] + 2


def test_project_to_coco_with_listed_images_and_problems(tmp_path):
    project = make_project(tmp_path / "p")
    (tmp_path / "p" / "broken.png").write_bytes(b"")  # an image that cannot be read
    (tmp_path / "p" / "broken.json").write_text("{ not json")
    problems: list[str] = []
    data = project_to_coco(project, images=["unannotated.png", "a.png"], problems=problems)
    assert [i["file_name"] for i in data["images"]] == ["unannotated.png", "a.png"]
    assert all(a["image_id"] == 2 for a in data["annotations"])
    assert problems == []
    project_to_coco(project, problems=problems)
    assert len(problems) == 1 and "broken.json" in problems[0]


def test_coco_roundtrip_same_instances(tmp_path):
    project = make_project(tmp_path / "p")
    args = build_parser().parse_args(["export", "--format", "coco", "--project", str(tmp_path / "p"),
                                      "--out", str(tmp_path / "out.json")])
    assert run_export(args) == 0
    summary = do_import("coco", tmp_path / "out.json", tmp_path / "q", "--images", str(tmp_path / "p"))
    assert summary.images == 3 and summary.instances == 5
    again = Project.open(tmp_path / "q", create=False)
    for rel in ("a.png", "sub/a.png", "empty.png"):
        before, after = instance_masks(project, rel), instance_masks(again, rel)
        assert [l for l, _ in before] == [l for l, _ in after]
        for (_, m1), (_, m2) in zip(before, after):
            assert np.array_equal(m1, m2)
    ann = again.load_annotation("a.png")
    polygon = next(s for s in ann.shapes if s.label == "car" and not s.flags)
    assert np.allclose(polygon.points, [[2.5, 3.25], [20, 4], [18, 22.75], [4, 18]], atol=1e-6)
    assert [s.flags for s in ann.shapes if s.flags] == [{"iscrowd": True}]
    assert sum(1 for s in ann.shapes if s.shape_type == "mask") == 1
    dents = [s for s in ann.shapes if s.label == "dent"]
    assert len(dents) == 2 and dents[0].group_id is not None and dents[0].group_id == dents[1].group_id


def test_yolo_roundtrip_same_polygons(tmp_path, capsys):
    project = make_project(tmp_path / "p")
    args = build_parser().parse_args(["export", "--format", "yolo", "--project", str(tmp_path / "p"),
                                      "--out", str(tmp_path / "y")])
    assert run_export(args) == 0
    assert "3 images, 6 polygons, 3 classes" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "y" / "images").rglob("*.png")) == ["a.png", "a.png", "empty.png"]
    names = (tmp_path / "y" / "classes.txt").read_text().splitlines()
    assert names == project.label_names()
    assert read_names_file(tmp_path / "y" / "data.yaml") == names
    lines = (tmp_path / "y" / "labels" / "a.txt").read_text().splitlines()
    assert len(lines) == 5  # one line per polygon part (the dent has two), the mask as its outline
    summary = do_import("yolo", tmp_path / "y", tmp_path / "q")
    assert summary.images == 3
    again = Project.open(tmp_path / "q", create=False)
    ann = again.load_annotation("a.png")
    polygon = next(s for s in ann.shapes if s.label == "car" and len(s.points) == 4 and abs(s.points[0][0] - 2.5) < 1e-3)
    assert np.allclose(polygon.points, [[2.5, 3.25], [20, 4], [18, 22.75], [4, 18]], atol=1e-3)  # 6 decimals of a 64 px side
    before, after = instance_masks(project, "a.png"), instance_masks(again, "a.png")
    # YOLO has no groups: the two dent parts come back as two objects; the mask's hole is filled
    assert sorted(l for l, _ in after) == ["car", "car", "dent", "dent", "sign board"]
    union_before = np.logical_or.reduce([m for _, m in before])
    union_after = np.logical_or.reduce([m for _, m in after])
    assert mask_area(union_after ^ union_before) <= 10
    assert again.load_annotation("sub/a.png").label_counts() == {"car": 1}
    assert again.load_annotation("empty.png").shapes == []


def test_exif_rotated_photo_uses_the_oriented_size(tmp_path):
    root = tmp_path / "p"
    project = Project.open(root)
    exif = Image.Exif()
    exif[274] = 6  # stored 60x40 landscape, shown 40x60 portrait
    Image.new("RGB", (60, 40), (200, 10, 10)).save(root / "rot.jpg", exif=exif)
    project.save_annotation("rot.jpg", Annotation("rot.jpg", 60, 40, [Shape("car", [[1, 1], [39, 1], [39, 59]])]))
    data = project_to_coco(project)
    assert (data["images"][0]["width"], data["images"][0]["height"]) == (40, 60)
    assert data["annotations"][0]["bbox"][3] > 40  # a box only a portrait image can hold

    yolo = tmp_path / "y"
    (yolo / "labels").mkdir(parents=True)
    (yolo / "images").mkdir()
    Image.new("RGB", (60, 40)).save(yolo / "images" / "rot.jpg", exif=exif)
    (yolo / "labels" / "rot.txt").write_text("0 0 0 1 0 1 1\n")
    do_import("yolo", yolo, tmp_path / "q", "--names", str(_names_file(tmp_path)))
    shape = Project.open(tmp_path / "q").load_annotation("rot.jpg").shapes[0]
    assert shape.points.tolist() == [[0, 0], [40, 0], [40, 60]]


def _names_file(tmp_path: Path) -> Path:
    path = tmp_path / "names.txt"
    path.write_text("car\n")
    return path


def test_yolo_export_refuses_a_folder_inside_the_project(tmp_path):
    project = make_project(tmp_path / "p")
    with pytest.raises(FormatError, match="outside the project"):
        write_yolo(project, tmp_path / "p" / "export")
    assert not (tmp_path / "p" / "export").exists()


def test_degenerate_outline_exports_as_an_empty_rle_pycocotools_accepts(tmp_path):
    project = Project.open(tmp_path / "p")
    Image.new("RGB", (W, H)).save(tmp_path / "p" / "d.png")
    project.save_annotation("d.png", Annotation("d.png", H, W, [Shape("car", [[3, 3], [9, 9]])]))
    data = project_to_coco(project)
    (ann,) = data["annotations"]
    assert isinstance(ann["segmentation"], dict) and ann["area"] == 0
    assert ann["bbox"] == [3.0, 3.0, 6.0, 6.0]
    (tmp_path / "gt.json").write_text(json.dumps(data))
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(tmp_path / "gt.json"))
    assert gt.annToMask(gt.anns[ann["id"]]).sum() == 0
