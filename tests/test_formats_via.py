"""VIA layouts: 2.x project files, list regions, checkbox attributes, circles, folders."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from shapely.geometry import Polygon

from core.cli import build_parser
from core.formats.commands import import_into_project
from core.images import load_rgb_array
from core.project import Project


def do_import(src: Path, project: Path, *extra: str):
    args = build_parser().parse_args(["import", "--format", "via", str(src), "--project", str(project), *extra])
    return import_into_project(args)


def write_image(path: Path, colour: tuple[int, int, int] = (0, 0, 0)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (50, 40), colour).save(path)


def test_via2_project_file_with_list_regions_and_checkbox_attributes(tmp_path):
    write_image(tmp_path / "src" / "a.png")
    project_file = {
        "_via_settings": {"ui": {}},
        "_via_img_metadata": {
            "a.png-1": {"filename": "a.png", "size": -1, "file_attributes": {}, "regions": [
                {"shape_attributes": {"name": "circle", "cx": 20, "cy": 20, "r": 5},
                 "region_attributes": {"type": {"bus": True, "car": False}}},
                {"shape_attributes": {"name": "polyline", "all_points_x": [1, 9, 9, 1], "all_points_y": [1, 1, 9, 1]},
                 "region_attributes": {"type": {}}},
            ]},
        },
        "_via_attributes": {"region": {"type": {"type": "checkbox"}}},
    }
    (tmp_path / "src" / "project.json").write_text(json.dumps(project_file))
    summary = do_import(tmp_path / "src" / "project.json", tmp_path / "p", "--default-label", "thing")
    assert (summary.images, summary.instances) == (1, 2)
    ann = Project.open(tmp_path / "p").load_annotation("a.png")
    circle, polyline = ann.shapes
    assert circle.label == "bus" and circle.shape_type == "polygon" and len(circle.points) == 32
    assert abs(Polygon(circle.points).area - np.pi * 25) < 1.0
    # the polyline's repeated first point is dropped: a closed triangle
    assert polyline.label == "thing" and polyline.points.tolist() == [[1, 1], [9, 1], [9, 9]]


def test_via_folder_keeps_relative_folders_and_lists_other_json(tmp_path):
    src = tmp_path / "src"
    for split, colour in (("a", (255, 0, 0)), ("b", (0, 255, 0))):
        write_image(src / split / "x.png", colour)
        data = [{"filename": "x.png", "regions": {"0": {
            "shape_attributes": {"name": "rect", "x": 1, "y": 2, "width": 5, "height": 6},
            "region_attributes": {"cls": split}}}}]
        (src / split / "via.json").write_text(json.dumps(data))
    (src / "notes.json").write_text(json.dumps({"comment": "not VIA"}))
    summary = do_import(src, tmp_path / "p")
    assert summary.images == 2
    assert [str(n) for n in summary.notes if n.kind == "not imported"] == [
        "notes.json: not a VIA file: image record 0 has no 'filename'"]
    project = Project.open(tmp_path / "p")
    assert project.load_annotation("a/x.png").shapes[0].label == "a"
    assert project.load_annotation("b/x.png").shapes[0].label == "b"
    red = load_rgb_array(tmp_path / "p" / "a" / "x.png")[0, 0]
    green = load_rgb_array(tmp_path / "p" / "b" / "x.png")[0, 0]
    assert red.tolist() == [255, 0, 0] and green.tolist() == [0, 255, 0]
    rect = project.load_annotation("a/x.png").shapes[0]
    assert rect.points.tolist() == [[1, 2], [6, 2], [6, 8], [1, 8]]


def test_via_images_folder_option_and_points_outside_are_clipped(tmp_path):
    write_image(tmp_path / "photos" / "a.png")
    data = {"a.png": {"filename": "a.png", "regions": [
        {"shape_attributes": {"name": "polygon", "all_points_x": [-10, 30, 30], "all_points_y": [5, 5, 30]},
         "region_attributes": {}}]}}
    (tmp_path / "via.json").write_text(json.dumps(data))
    summary = do_import(tmp_path / "via.json", tmp_path / "p", "--images", str(tmp_path / "photos"))
    assert summary.images == 1 and summary.count("repaired") == 1
    shape = Project.open(tmp_path / "p").load_annotation("a.png").shapes[0]
    assert shape.label == "object" and shape.points[:, 0].min() == 0
