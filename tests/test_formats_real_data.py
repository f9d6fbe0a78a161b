"""Every folder of ../shared/data imports with the counts its README gives."""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from core.cli import build_parser
from core.formats import ImportSummary
from core.formats.commands import import_into_project
from core.geometry import validate_polygon
from core.project import Project
from tests.conftest import shared_data


def do_import(fmt: str, src: Path, project: Path, *extra: str) -> ImportSummary:
    args = build_parser().parse_args(["import", "--format", fmt, str(src), "--project", str(project), *extra])
    return import_into_project(args)


def project_label_counts(root: Path) -> tuple[int, Counter]:
    project = Project.open(root, create=False)
    images = 0
    counts: Counter = Counter()
    for _, ann, err in project.iter_annotations():
        assert err is None
        if ann is not None:
            images += 1
            counts.update(ann.label_counts())
    return images, counts


def test_car_damage_via_list_form(tmp_path):
    src = shared_data("car_damage_via")
    summary = do_import("via", src / "all.json", tmp_path / "p", "--link")
    assert (summary.images, summary.instances) == (121, 378)
    assert summary.count("skipped") == 0
    images, counts = project_label_counts(tmp_path / "p")
    assert images == 121
    assert counts == {"roue": 192, "retro": 88, "rayure": 98}
    assert {"roue", "retro", "rayure"} <= set(Project.open(tmp_path / "p").label_names())
    linked = tmp_path / "p" / "car_0.png"
    assert os.path.samefile(linked, src / "car_0.png")  # --link made a hard link (or symlink)


def test_license_plates_via_dict_form_with_polylines_in_two_splits(tmp_path):
    src = shared_data("license_plates_via")
    summary = do_import("via", src, tmp_path / "p", "--link", "--default-label", "plate")
    assert (summary.images, summary.instances) == (60, 61)
    assert summary.count("skipped") == 0
    images, counts = project_label_counts(tmp_path / "p")
    assert images == 60 and counts == {"plate": 61}
    # same-named photos of train/ and val/ keep their folders
    assert (tmp_path / "p" / "train").is_dir() and (tmp_path / "p" / "val").is_dir()
    train = {p.name for p in (tmp_path / "p" / "train").glob("*.json")}
    val = {p.name for p in (tmp_path / "p" / "val").glob("*.json")}
    assert len(train) == 47 and len(val) == 13


def test_vehicle_crops_via_auto_detects_the_label_key(tmp_path):
    src = shared_data("vehicle_crops_via")
    summary = do_import("via", src, tmp_path / "p", "--link")
    assert (summary.images, summary.instances) == (31, 31)
    # the three unannotated samples are reported, not imported
    assert summary.count("not imported") == 3
    assert not (tmp_path / "p" / "samples").exists()
    _, counts = project_label_counts(tmp_path / "p")
    assert counts == {"car": 11, "truck": 13, "bus": 7}


def test_coco128_yolo_seg_repairs_self_intersections_and_reports_orphans(tmp_path):
    src = shared_data("coco128_seg")
    summary = do_import("yolo", src, tmp_path / "p", "--link")
    assert summary.images == 128
    # 941 lines in all: 929 belong to the 128 images, 12 sit in two label files without an image
    assert summary.instances == 929
    orphans = [n for n in summary.notes if "label file without an image" in n.detail]
    assert len(orphans) == 2
    assert sum(int(n.detail.split(": ")[1].split()[0]) for n in orphans) == 12
    # 87 self-intersecting polygons: 86 on imported images (repaired), 1 in an orphan file
    repaired = [n for n in summary.notes if n.kind == "repaired"]
    assert len(repaired) == 86 and all("self-intersecting" in n.detail for n in repaired)
    project = Project.open(tmp_path / "p", create=False)
    _, counts = project_label_counts(tmp_path / "p")
    assert sum(counts.values()) == 929
    assert counts["car"] == 46 and counts["stop sign"] == 2
    for rel, ann, _ in project.iter_annotations():
        for shape in ann.shapes:
            assert validate_polygon(shape.points, ann.image_width, ann.image_height) == [], rel


def test_labelme_examples_copied_with_unknown_keys(tmp_path):
    src = shared_data("labelme_examples")
    summary = do_import("labelme", src, tmp_path / "p")
    assert summary.images == 8 and summary.shapes == 33
    project = Project.open(tmp_path / "p", create=False)
    ann = project.load_annotation("instance_segmentation/2011_000003.jpg")
    assert ann is not None and len(ann.shapes) == 5
    assert sum(1 for s in ann.shapes if s.group_id == 0) == 2  # labelme's grouped parts kept
    frames = [p for p in (tmp_path / "p" / "video_annotation").glob("*.json")]
    assert len(frames) == 5
    assert not (tmp_path / "p" / "video_annotation" / "00000100.jpg").is_symlink()  # copied
    assert np.array_equal(
        np.fromfile(tmp_path / "p" / "video_annotation" / "00000100.jpg", dtype=np.uint8),
        np.fromfile(src / "video_annotation" / "00000100.jpg", dtype=np.uint8),
    )


@pytest.mark.parametrize("fmt", ["coco", "yolo"])
def test_real_data_export_and_reimport_keeps_instances(tmp_path, fmt):
    src = shared_data("car_damage_via")
    do_import("via", src / "all.json", tmp_path / "p", "--link")
    from core.formats.coco import write_coco
    from core.formats.yolo import write_yolo

    project = Project.open(tmp_path / "p", create=False)
    if fmt == "coco":
        counts = write_coco(project, tmp_path / "out" / "coco.json")
        again = do_import("coco", tmp_path / "out" / "coco.json", tmp_path / "q", "--link",
                          "--images", str(tmp_path / "p"))
    else:
        counts = write_yolo(project, tmp_path / "out")
        again = do_import("yolo", tmp_path / "out", tmp_path / "q", "--link")
    assert counts["images"] == 121
    assert (again.images, again.instances) == (121, 378)
    assert project_label_counts(tmp_path / "q")[1] == {"roue": 192, "retro": 88, "rayure": 98}
