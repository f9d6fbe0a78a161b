"""Projects: folder scan, project file, sidecars, atomic saves, bad input, read-only folders."""
from __future__ import annotations

import json
import os
import stat

import pytest
from PIL import Image

from core.annotation import Shape
from core.errors import AnnotationError, ProjectError
from core.project import PROJECT_FILE, Project


def _img(path, size=(64, 48)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (100, 120, 140)).save(path)


def test_open_folder_creates_project_file_with_default_labels(tmp_path):
    _img(tmp_path / "a.jpg")
    p = Project.open(tmp_path)
    assert (tmp_path / PROJECT_FILE).exists()
    assert p.label_names() == ["car", "sign board"]
    data = json.loads((tmp_path / PROJECT_FILE).read_text())
    assert [l["name"] for l in data["labels"]] == ["car", "sign board"]
    assert all(l["color"].startswith("#") for l in data["labels"])


def test_nested_folders_non_ascii_and_spaces(tmp_path):
    for rel in ["a.jpg", "sub dir/b.png", "ünïcødé/çà.jpeg", "deep/er/c.webp", "x.TIF"]:
        _img(tmp_path / rel)
    (tmp_path / "notes.txt").write_text("x")
    p = Project.open(tmp_path)
    names = [str(x) for x in p.image_paths()]
    assert sorted(names) == sorted(["a.jpg", "sub dir/b.png", "ünïcødé/çà.jpeg", "deep/er/c.webp", "x.TIF"])
    ann = p.new_annotation("ünïcødé/çà.jpeg")
    ann.shapes.append(Shape("car", [[1, 1], [10, 1], [10, 10]]))
    p.save_annotation("ünïcødé/çà.jpeg", ann)
    assert (tmp_path / "ünïcødé" / "çà.json").exists()
    again = p.load_annotation("ünïcødé/çà.jpeg")
    assert again.image_path == "çà.jpeg" and again.shapes[0].same_content(ann.shapes[0])


def test_duplicate_names_in_different_folders_do_not_collide(tmp_path):
    _img(tmp_path / "north/img.jpg")
    _img(tmp_path / "south/img.jpg")
    p = Project.open(tmp_path)
    for folder, label in (("north", "car"), ("south", "sign board")):
        ann = p.new_annotation(f"{folder}/img.jpg")
        ann.shapes.append(Shape(label, [[1, 1], [9, 1], [9, 9]]))
        p.save_annotation(f"{folder}/img.jpg", ann)
    assert p.load_annotation("north/img.jpg").shapes[0].label == "car"
    assert p.load_annotation("south/img.jpg").shapes[0].label == "sign board"
    assert p.sidecar_conflicts() == {}


def test_same_stem_in_one_folder_is_reported(tmp_path):
    _img(tmp_path / "a.jpg")
    _img(tmp_path / "a.png")
    conflicts = Project.open(tmp_path).sidecar_conflicts()
    assert list(conflicts.values()) == [[type(list(conflicts)[0])("a.jpg"), type(list(conflicts)[0])("a.png")]]


def test_save_is_atomic_and_keeps_mode(tmp_path):
    _img(tmp_path / "a.jpg")
    p = Project.open(tmp_path)
    ann = p.new_annotation("a.jpg")
    p.save_annotation("a.jpg", ann)
    os.chmod(tmp_path / "a.json", 0o640)
    ann.shapes.append(Shape("car", [[1, 1], [10, 1], [10, 10]]))
    p.save_annotation("a.jpg", ann)
    assert stat.S_IMODE(os.stat(tmp_path / "a.json").st_mode) == 0o640
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_corrupt_annotation_is_reported_and_left_alone(tmp_path):
    _img(tmp_path / "a.jpg")
    _img(tmp_path / "b.jpg")
    (tmp_path / "a.json").write_text('{"shapes": [ {"label": "car", "points": [[1, 2], [3')
    before = (tmp_path / "a.json").read_bytes()
    p = Project.open(tmp_path)
    results = {str(img): (ann, err) for img, ann, err in p.iter_annotations()}
    ann, err = results["a.jpg"]
    assert ann is None and isinstance(err, AnnotationError) and "a.json" in str(err)
    assert results["b.jpg"] == (None, None)  # unannotated, not broken
    assert (tmp_path / "a.json").read_bytes() == before


def test_labels_not_in_project_are_added_with_a_colour(tmp_path):
    p = Project.open(tmp_path)
    assert p.ensure_labels({"car", "bus"}) == ["bus"]
    assert p.color_of("bus").startswith("#")
    assert "bus" in [l["name"] for l in json.loads((tmp_path / PROJECT_FILE).read_text())["labels"]]
    assert Project.open(tmp_path).label_names() == ["car", "sign board", "bus"]


def test_missing_image_size_is_filled_from_the_image(tmp_path):
    _img(tmp_path / "a.jpg", size=(70, 30))
    (tmp_path / "a.json").write_text(json.dumps({"shapes": [], "imagePath": "a.jpg", "imageData": None}))
    ann = Project.open(tmp_path).load_annotation("a.jpg")
    assert (ann.image_width, ann.image_height) == (70, 30)


@pytest.mark.skipif(os.geteuid() == 0 and not os.environ.get("MASKLAB_TEST_AS_ROOT_RO"),
                    reason="root ignores directory permissions; see test_read_only_folder_via_failing_write")
def test_read_only_folder(tmp_path):  # pragma: no cover - runs for non-root users
    _img(tmp_path / "a.jpg")
    os.chmod(tmp_path, 0o555)
    try:
        p = Project.open(tmp_path)
        assert not p.is_writable() and p.save_error
        with pytest.raises(AnnotationError):
            p.save_annotation("a.jpg", p.new_annotation("a.jpg"))
    finally:
        os.chmod(tmp_path, 0o755)


def test_read_only_folder_via_failing_write(tmp_path, monkeypatch):
    """As root, permissions do not stop writes; simulate the OS refusing them instead."""
    _img(tmp_path / "a.jpg")
    p = Project.open(tmp_path)
    ann = p.new_annotation("a.jpg")
    ann.shapes.append(Shape("car", [[1, 1], [10, 1], [10, 10]]))
    p.save_annotation("a.jpg", ann)
    before = (tmp_path / "a.json").read_bytes()

    import core.atomic as atomic

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    ann.shapes.clear()
    with pytest.raises(AnnotationError, match="Permission denied") as err:
        p.save_annotation("a.jpg", ann)
    assert "a.json" in str(err.value)
    assert (tmp_path / "a.json").read_bytes() == before
    assert p.save() is False and "Permission denied" in p.save_error


def test_unreadable_project_file(tmp_path):
    (tmp_path / PROJECT_FILE).write_text("{nope")
    with pytest.raises(ProjectError, match="unreadable"):
        Project.open(tmp_path)


def test_demo_project(demo_project):
    p = Project.open(demo_project)
    images = p.image_paths()
    assert len(images) == 8
    anns = [p.load_annotation(i) for i in images]
    assert sum(a is None for a in anns) == 2  # left for the user to label
    labelled = [a for a in anns if a is not None]
    assert sum(1 for a in labelled if not a.shapes) == 1  # one negative
    labels = {s.label for a in labelled for s in a.shapes}
    assert labels == {"car", "sign board"}
    for a in labelled:
        for s in a.shapes:
            x1, y1, x2, y2 = s.bbox()
            assert 0 <= x1 < x2 <= a.image_width and 0 <= y1 < y2 <= a.image_height


def test_open_without_create_writes_nothing(tmp_path):
    _img(tmp_path / "a.jpg")
    p = Project.open(tmp_path, create=False)
    assert p.label_names() == ["car", "sign board"]
    assert not (tmp_path / PROJECT_FILE).exists()
    with pytest.raises(ProjectError, match="not a folder"):
        Project.open(tmp_path / "missing", create=False)


def test_two_processes_saving_the_project_file_keep_each_others_changes(tmp_path):
    """A training run writes the split while the window, opened earlier, recolours a label."""
    window = Project.open(tmp_path)
    trainer = Project.open(tmp_path)
    trainer.settings["split"] = {"seed": 0, "assign": {"a.jpg": "val"}}
    trainer.save()
    window.labels[0].color = "#123456"
    window.settings["anchors"] = {"sizes": [[32]], "aspect_ratios": [[1.0]]}
    window.save()
    data = json.loads((tmp_path / PROJECT_FILE).read_text())
    assert data["settings"]["split"] == {"seed": 0, "assign": {"a.jpg": "val"}}  # not undone
    assert data["settings"]["anchors"]["sizes"] == [[32]] and data["labels"][0]["color"] == "#123456"
    assert window.settings["split"]["assign"] == {"a.jpg": "val"}  # the window sees it now
    trainer.ensure_labels({"bus"})  # the trainer's own label change wins for labels it did change
    assert Project.open(tmp_path).label_names() == ["car", "sign board", "bus"]
    assert Project.open(tmp_path).labels[0].color == "#123456"


def test_refresh_takes_other_processes_changes_and_renames_keep_their_place(tmp_path):
    window = Project.open(tmp_path)
    trainer = Project.open(tmp_path)
    trainer.settings["split"] = {"assign": {"a.jpg": "val"}}
    trainer.save()
    window.refresh()
    assert window.settings["split"] == {"assign": {"a.jpg": "val"}}
    trainer.settings["split"] = {"assign": {"a.jpg": "train"}}  # a second run redraws it
    trainer.save()
    window.labels[0].name = "vehicle"  # the window renames while the trainer adds a label
    trainer.ensure_labels({"bus"})
    window.save()
    reopened = Project.open(tmp_path)
    assert reopened.label_names() == ["vehicle", "sign board", "bus"]
    assert reopened.settings["split"] == {"assign": {"a.jpg": "train"}}  # the window's stale copy lost
