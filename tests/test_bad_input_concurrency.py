"""Two real processes writing one project at once (issue 14, items 13 and 14): the project file's
read-merge-write is locked, so no label is lost; two imports of the same names never tear an
image or pair one source's image with the other's annotation."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from core.project import Project

ROOT = Path(__file__).resolve().parents[1]

# Both writers wait for the start file, so that their saves really interleave.
ADD_LABELS = """
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from core.project import Project
start = Path({start!r})
Path({start!r} + ".{prefix}").touch()  # imported and ready
while not start.exists():
    time.sleep(0.001)
project = Project.open({project!r})
for i in range({n}):
    project.ensure_labels(["{prefix}%03d" % i])  # one save per label, as the window does
    assert project.save_error is None, project.save_error
"""

IMPORT = """
import sys, time, argparse
from pathlib import Path
sys.path.insert(0, {root!r})
from core.formats.commands import import_into_project
start = Path({start!r})
Path({start!r} + ".{prefix}").touch()  # imported and ready
while not start.exists():
    time.sleep(0.001)
args = argparse.Namespace(format="labelme", src={src!r}, project={project!r}, images=None, label_key=None,
                          default_label=None, names=None, link=False, overwrite=True)
import_into_project(args)
"""


def _run_together(scripts: list[str], start: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", s], stderr=subprocess.PIPE, text=True) for s in scripts]
    deadline = time.monotonic() + 60
    while len(list(start.parent.glob(start.name + ".*"))) < len(scripts) and time.monotonic() < deadline:
        time.sleep(0.01)  # both imported and waiting
    start.touch()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]


def test_two_processes_saving_labels_lose_none(tmp_path):
    project = tmp_path / "project"
    Project.open(project)
    start = tmp_path / "start"
    n = 100
    _run_together([ADD_LABELS.format(root=str(ROOT), start=str(start), project=str(project), n=n, prefix=p)
                   for p in ("a", "b")], start)
    names = set(Project.open(project).label_names())
    expected = {f"{p}{i:03d}" for p in "ab" for i in range(n)}
    assert expected <= names, f"lost {len(expected - names)} labels: {sorted(expected - names)[:10]}"
    assert not list(project.glob(".*.tmp"))


def _source(folder: Path, name: str, color: tuple[int, int, int], n: int) -> None:
    """n images of one colour, each with a LabelMe file whose label names that colour's source."""
    folder.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (64, 48), color).save(folder / f"img_{i:02d}.png")
        (folder / f"img_{i:02d}.json").write_text(json.dumps({
            "shapes": [{"label": name, "points": [[1, 1], [30, 1], [30, 30]], "shape_type": "polygon"}],
            "imagePath": f"img_{i:02d}.png", "imageHeight": 48, "imageWidth": 64}))


def test_two_imports_of_the_same_names_never_mix(tmp_path):
    n = 30
    colors = {"from_a": (200, 0, 0), "from_b": (0, 0, 200)}
    for name, color in colors.items():
        _source(tmp_path / name, name, color, n)
    project = tmp_path / "project"
    Project.open(project)
    start = tmp_path / "start"
    _run_together([IMPORT.format(root=str(ROOT), start=str(start), src=str(tmp_path / name), project=str(project),
                                 prefix=name) for name in colors], start)
    for i in range(n):
        image = project / f"img_{i:02d}.png"
        pixel = Image.open(image).convert("RGB").getpixel((5, 5))  # decodes whole: no torn file
        label = json.loads(image.with_suffix(".json").read_text())["shapes"][0]["label"]
        assert colors[label] == pixel, f"{image.name}: the image of one source, the annotation of the other"
    leftovers = [p.name for p in project.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")]
    assert leftovers == []
