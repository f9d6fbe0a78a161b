"""Project-wide label changes in core (no Qt): rename, merge, delete across every sidecar, atomic
writes, broken files skipped and never overwritten, exact undo and redo records."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.labels_ops import (LabelChange, apply_to_annotation, apply_to_files, count_uses, labels_after,
                             redo_in_files, undo_annotation, undo_in_files)
from core.project import LabelDef, Project


def disk_labels(root: Path) -> dict[str, list[str]]:
    out = {}
    for p in sorted(root.glob("*.json")):
        if p.name != "masklab.project.json":
            try:
                out[p.name] = [s["label"] for s in json.loads(p.read_text())["shapes"]]
            except ValueError:
                out[p.name] = ["<broken>"]
    return out


@pytest.fixture
def project(demo_project) -> Project:
    (demo_project / "street_004.json").write_bytes(b'{"shapes": [{"label": "car", ')  # broken
    return Project.open(demo_project)


def test_rename_merge_and_label_list():
    labels = [LabelDef("car", "#e6194b"), LabelDef("sign board", "#4363d8"), LabelDef("bus", "#f58231")]
    renamed = labels_after(labels, LabelChange("car", "vehicle"))
    assert [(l.name, l.color) for l in renamed] == [("vehicle", "#e6194b"), ("sign board", "#4363d8"), ("bus", "#f58231")]
    assert [l.name for l in labels_after(labels, LabelChange("bus", "car"))] == ["car", "sign board"]
    assert [l.name for l in labels_after(labels, LabelChange("bus", None))] == ["car", "sign board"]
    assert LabelChange("bus", "car").describe(["car", "bus"]).startswith("Merge")


def test_delete_shapes_everywhere_then_undo_and_redo_exactly(project):
    root = project.root
    before = disk_labels(root)
    broken = (root / "street_004.json").read_bytes()
    cars = sum(v.count("car") for v in before.values())
    use = count_uses(project, "car")
    assert use.shapes == cars and use.images == sum(1 for v in before.values() if "car" in v)
    assert [p.name for p, _ in use.unreadable] == ["street_004.jpg"]

    steps = []
    result = apply_to_files(project, LabelChange("car", None), progress=lambda d, t: steps.append((d, t)))
    after = disk_labels(root)
    assert result.shapes == cars and not any("car" in v for v in after.values())
    assert sum(len(v) for v in after.values()) == sum(len(v) for v in before.values()) - cars
    assert [p.name for p, _ in result.skipped] == ["street_004.jpg"] and "street_004.json" in result.skipped[0][1]
    assert (root / "street_004.json").read_bytes() == broken  # never overwritten
    assert steps[-1][0] == steps[-1][1] == len(project.image_paths())
    assert not list(root.glob("*.tmp*"))  # atomic writes leave no temporary files

    undone = undo_in_files(project, LabelChange("car", None), result.files)
    assert disk_labels(root) == before and set(undone.files) == set(result.files)
    first = json.loads((root / "street_000.json").read_text())["shapes"]
    redone = redo_in_files(project, LabelChange("car", None), result.files)
    assert disk_labels(root) == after and redone.shapes == cars
    undo_in_files(project, LabelChange("car", None), redone.files)
    assert json.loads((root / "street_000.json").read_text())["shapes"] == first  # same shapes, same places


def test_merge_skips_images_held_in_memory(project):
    root = project.root
    held = project.load_annotation("street_000.jpg")
    result = apply_to_files(project, LabelChange("car", "sign board"), skip=[Path("street_000.jpg")])
    assert Path("street_000.jpg") not in result.files
    assert "car" in disk_labels(root)["street_000.json"]  # left to the caller's in-memory copy
    done = apply_to_annotation(held, LabelChange("car", "sign board"))
    assert done is not None and {s.label for s in held.shapes} == {"sign board"}
    undo_annotation(held, LabelChange("car", "sign board"), done)
    assert [s.label for s in held.shapes] == disk_labels(root)["street_000.json"]
    assert apply_to_annotation(held, LabelChange("bus", None)) is None  # nothing to change
