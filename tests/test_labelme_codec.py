"""LabelMe JSON codec: reads labelme 3-7 files, writes labelme's schema, keeps unknown keys."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from core.annotation import Annotation, Shape
from core.errors import AnnotationError
from core.labelme_json import annotation_from_dict, annotation_to_dict, read_annotation, write_annotation
from tests.conftest import shared_data

LABELME_KEYS = ["version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth"]
SHAPE_KEYS = ["label", "points", "group_id", "description", "shape_type", "flags", "mask"]


def _normalise(d):
    """labelme's own writer fills these defaults; compare content after filling them in."""
    d = json.loads(json.dumps(d))
    d["imageData"] = None
    d.setdefault("flags", {})
    for s in d["shapes"]:
        s.setdefault("group_id", None)
        s.setdefault("description", "")
        s.setdefault("shape_type", "polygon")
        s.setdefault("flags", {})
        s.setdefault("mask", None)
        if s["description"] is None:
            s["description"] = ""
        if s["flags"] is None:
            s["flags"] = {}
    return d


def test_real_labelme_files_round_trip_in_content(tmp_path):
    folder = shared_data("labelme_examples")
    files = sorted(folder.rglob("*.json"))
    assert len(files) == 8
    for src in files:
        original = json.loads(src.read_text())
        ann = read_annotation(src)
        out = tmp_path / src.name
        write_annotation(out, ann)
        written = json.loads(out.read_text())
        assert written["imageData"] is None  # never embedded unless asked
        assert _normalise(written) == _normalise(original), src
        assert list(written)[:7] == LABELME_KEYS
        for s in written["shapes"]:
            assert list(s)[:7] == SHAPE_KEYS


def test_unknown_keys_kept_at_both_levels(tmp_path):
    d = {
        "version": "4.5.6", "flags": {"x": True}, "imagePath": "a.jpg", "imageData": None,
        "imageHeight": 10, "imageWidth": 20, "lineColor": [0, 255, 0, 128], "custom": {"k": [1, 2]},
        "shapes": [{"label": "car", "points": [[1, 2], [5, 2], [5, 7]], "shape_type": "polygon",
                    "line_color": None, "fill_color": [1, 2, 3, 4], "group_id": 3, "flags": {"occluded": True}}],
    }
    ann = annotation_from_dict(d)
    assert ann.extra == {"lineColor": [0, 255, 0, 128], "custom": {"k": [1, 2]}}
    assert ann.shapes[0].extra == {"line_color": None, "fill_color": [1, 2, 3, 4]}
    assert ann.shapes[0].occluded and ann.shapes[0].group_id == 3
    out = annotation_to_dict(ann)
    assert out["lineColor"] == [0, 255, 0, 128] and out["shapes"][0]["fill_color"] == [1, 2, 3, 4]
    assert out["version"] == "4.5.6"
    write_annotation(tmp_path / "a.json", ann)
    again = read_annotation(tmp_path / "a.json")
    assert again.shapes[0].same_content(ann.shapes[0]) and again.extra == ann.extra


def test_old_files_without_shape_type_or_size():
    ann = annotation_from_dict({"shapes": [{"label": "a", "points": [[0, 0], [1, 0], [1, 1]]}],
                                "imagePath": "x.jpg", "imageData": None})
    assert ann.shapes[0].shape_type == "polygon" and ann.image_width == 0


def test_image_data_embedded_only_when_asked(tmp_path):
    ann = Annotation("a.jpg", 2, 2, image_data="QUJD")
    write_annotation(tmp_path / "a.json", ann)
    assert json.loads((tmp_path / "a.json").read_text())["imageData"] is None
    write_annotation(tmp_path / "b.json", ann, embed_image=True)
    assert json.loads((tmp_path / "b.json").read_text())["imageData"] == "QUJD"


def test_instances_group_by_label_and_group_id():
    pts = [[0, 0], [4, 0], [4, 4]]
    ann = Annotation("a.jpg", 10, 10, shapes=[
        Shape("car", pts, group_id=1), Shape("car", pts, group_id=1), Shape("car", pts),
        Shape("sign board", pts, group_id=1), Shape("car", [[1, 1]], shape_type="point"),
    ])
    inst = ann.instances()
    assert [(l, len(p)) for l, p in inst] == [("car", 2), ("car", 1), ("sign board", 1)]
    assert ann.label_counts() == {"car": 2, "sign board": 1}


BROKEN = {
    "not_json.json": b"{this is not json",
    "empty.json": b"",
    "list.json": b"[1, 2, 3]",
    "no_shapes.json": b'{"imagePath": "a.jpg"}',
    "nan.json": b'{"shapes": [{"label": "car", "points": [[NaN, 1], [2, 2], [3, 1]]}], "imagePath": "a.jpg"}',
    "string_coords.json": b'{"shapes": [{"label": "car", "points": [["1", "2"], [2, 2], [3, 1]]}], "imagePath": "a.jpg"}',
    "no_label.json": b'{"shapes": [{"points": [[1, 2]]}], "imagePath": "a.jpg"}',
    "bad_size.json": b'{"shapes": [], "imagePath": "a.jpg", "imageHeight": "tall"}',
    "latin1.json": "{\"shapes\": [], \"imagePath\": \"caf\xe9.jpg\"}".encode("latin-1"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_files_raise_with_path_and_reason(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(BROKEN[name])
    with pytest.raises(AnnotationError) as err:
        read_annotation(path)
    assert err.value.path == path
    assert str(path) in str(err.value) and err.value.reason
    assert path.read_bytes() == BROKEN[name]  # reading never changes a file


def test_nan_reason_names_the_point(tmp_path):
    path = tmp_path / "nan.json"
    path.write_bytes(BROKEN["nan.json"])
    with pytest.raises(AnnotationError, match="shape 0: point 0"):
        read_annotation(path)


def test_points_are_numpy_float_arrays():
    s = Shape("car", [[1, 2], [3, 4], [5, 6]])
    assert isinstance(s.points, np.ndarray) and s.points.dtype == np.float64 and s.points.shape == (3, 2)
    rect = Shape("car", [[0, 0], [4, 2]], shape_type="rectangle")
    assert rect.polygon_points().shape == (4, 2) and rect.bbox() == (0, 0, 4, 2)
    circle = Shape("car", [[10, 10], [13, 14]], shape_type="circle")
    assert math.isclose(circle.bbox()[2], 15, abs_tol=1e-6)
