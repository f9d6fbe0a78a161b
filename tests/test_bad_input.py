"""Bad input through the real command line (issue 14): every row is one hostile or unlucky input,
the command it goes through, the exit code, and words the message must contain. A crash (a
traceback) fails every row, and so does a row whose project files change when they must not.

To add a case, add one `Case(...)` line to CASES: `make(proj, tmp)` writes the bad input (`proj`
is a fresh 8-image demo project, `tmp` a scratch folder with `src/` for import sources); `argv`
may use {proj}, {tmp} and {src}; `kept` lists project files that must stay byte-identical.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from PIL import Image

from core.cli import main

ROOT = Path(__file__).resolve().parents[1]
LONG = "a" * 300


# -- inputs ---------------------------------------------------------------------------------
def deep_json(path: Path) -> None:
    path.write_text("[" * 100_000 + "]" * 100_000)


def huge_coordinate(path: Path) -> None:
    """A LabelMe file whose first point is 10**400: valid JSON, no float can hold it."""
    data = json.loads(path.read_text())
    data["shapes"][0]["points"][0] = ["HUGE", 5]
    path.write_text(json.dumps(data).replace('"HUGE"', str(10**400)))


def png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that claims width x height: a decompression bomb needs no more than its header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def small_png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30), (10, 20, 30)).save(path)
    return path


def coco_source(src: Path, images: list[dict] | None = None, annotations: list[dict] | None = None,
                categories: list[dict] | None = None, raw: str | None = None) -> None:
    small_png(src / "x.png")
    data = {
        "images": images if images is not None else [{"id": 1, "file_name": "x.png", "width": 40, "height": 30}],
        "annotations": annotations if annotations is not None else [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[2, 2, 20, 2, 20, 20]]}],
        "categories": categories if categories is not None else [{"id": 1, "name": "dent"}],
    }
    text = json.dumps(data)
    (src / "coco.json").write_text(text.replace('"RAW"', raw) if raw else text)


def coco_named(name: str, file: str | None = None) -> Callable[[Path, Path], None]:
    """A COCO source listing one image under `name`, present in src/ as `file`."""
    def make(proj: Path, tmp: Path) -> None:
        coco_source(tmp / "src", images=[{"id": 1, "file_name": name, "width": 40, "height": 30}])
        if file:
            small_png(tmp / "src" / "x.png").rename(tmp / "src" / file)
    return make


def via_source(src: Path, shape: dict) -> None:
    small_png(src / "x.png")
    record = {"filename": "x.png", "size": 1, "regions": [{"shape_attributes": shape, "region_attributes": {}}]}
    (src / "via.json").write_text(json.dumps({"x.png1": record}))


def yolo_source(src: Path, data_yaml: str) -> None:
    small_png(src / "images" / "a.png")
    (src / "labels").mkdir(parents=True)
    (src / "labels" / "a.txt").write_text("1 0.1 0.1 0.5 0.1 0.5 0.5\n")
    (src / "data.yaml").write_text(data_yaml)


def labelme_source(proj: Path, tmp: Path, change: Callable[[Path], None], image: str = "street_000.jpg") -> None:
    src = tmp / "src"
    shutil.copy(proj / image, src / image)
    shutil.copy(proj / image.replace(".jpg", ".json"), src / image.replace(".jpg", ".json"))
    change(src / image.replace(".jpg", ".json"))


def clashing_png(proj: Path, tmp: Path) -> None:
    """street_001.png (with its own LabelMe file) to import beside the project's street_001.jpg."""
    src = tmp / "src"
    Image.open(proj / "street_001.jpg").save(src / "street_001.png")
    data = json.loads((proj / "street_002.json").read_text())
    data["imagePath"] = "street_001.png"
    (src / "street_001.json").write_text(json.dumps(data))


def anchor_config(tmp: Path, **values) -> None:
    (tmp / "anchors.json").write_text(json.dumps({"sizes": [[32], [64], [128], [256], [512]], **values}))


def stale_temp_files(proj: Path, tmp: Path) -> None:
    old = proj / ".street_000.json.k2j4h6g8.tmp"
    old.write_text('{"shapes": [')  # what a kill during a save leaves behind
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    (proj / ".street_001.json.a1b2c3d4.tmp").write_text("{")  # a save running right now
    coco_source(tmp / "src")


def stale_temp_files_gone(proj: Path, tmp: Path) -> None:
    assert not (proj / ".street_000.json.k2j4h6g8.tmp").exists()
    assert (proj / ".street_001.json.a1b2c3d4.tmp").exists()


def sidecar(change: Callable[[Path], None], image: str = "street_000") -> Callable[[Path, Path], None]:
    return lambda proj, tmp: change(proj / f"{image}.json")


# -- the table ------------------------------------------------------------------------------
@dataclass
class Case:
    id: str
    argv: str
    code: int
    says: tuple[str, ...]
    make: Callable[[Path, Path], None] | None = None
    kept: tuple[str, ...] = ()  # project files that must not change
    check: Callable[[Path, Path], None] | None = None


EXPORT = "export --format coco --project {proj} --out {tmp}/out.json"
ANCHORS = "anchors --project {proj} --image street_000.jpg --json"
IMPORT = "import --project {proj} --format"
TRAIN = "train --project {proj} --model rpn_classic --weights none"
CASES = [
    # 1, 2: a sidecar nested 100,000 deep, a coordinate of 10**400
    Case("deep-json-export", EXPORT, 0, ("street_000.json", "nested 100000 deep"), sidecar(deep_json)),
    Case("deep-json-anchors", ANCHORS, 1, ("street_000.json", "nested 100000 deep"), sidecar(deep_json)),
    Case("deep-json-import", IMPORT + " labelme {src}", 0, ("street_000.json", "nested 100000 deep"),
         lambda p, t: labelme_source(p, t, deep_json)),
    Case("deep-json-coco", IMPORT + " coco {src}/coco.json", 1, ("coco.json", "nested"),
         lambda p, t: (coco_source(t / "src"), deep_json(t / "src" / "coco.json"))),
    Case("deep-project-file", "stats --project {proj}", 1, ("masklab.project.json", "nested 100000 deep"),
         lambda p, t: deep_json(p / "masklab.project.json")),
    Case("huge-int-export", EXPORT, 0, ("street_000.json", "not finite"), sidecar(huge_coordinate)),
    Case("huge-int-anchors", ANCHORS, 1, ("street_000.json", "not finite"), sidecar(huge_coordinate)),
    Case("huge-int-import", IMPORT + " labelme {src}", 0, ("street_000.json", "not finite"),
         lambda p, t: labelme_source(p, t, huge_coordinate)),
    Case("huge-int-coco", IMPORT + " coco {src}/coco.json", 0, ("polygon contains 1000000", "not a finite number"),
         lambda p, t: coco_source(t / "src", annotations=[{"id": 1, "image_id": 1, "category_id": 1,
                                                          "segmentation": ["RAW"]}], raw=f"[{10**400}, 1, 5, 5, 9, 1]")),
    Case("huge-image-size", ANCHORS, 1, ("street_000.json", "imageWidth", "not an integer from 0"),
         sidecar(lambda f: f.write_text(f.read_text().replace('"imageWidth": 640', f'"imageWidth": {10**400}')))),
    # 5: malformed import sources
    Case("coco-image-id-list", IMPORT + " coco {src}/coco.json", 1, ("coco.json", "image 0", "'id' is [1], not an integer"),
         lambda p, t: coco_source(t / "src", images=[{"id": [1], "file_name": "x.png"}])),
    Case("coco-category-id-object", IMPORT + " coco {src}/coco.json", 1, ("category 0", "'id' is {}, not an integer"),
         lambda p, t: coco_source(t / "src", categories=[{"id": {}, "name": "dent"}])),
    Case("coco-annotation-id-list", IMPORT + " coco {src}/coco.json", 1, ("annotation 0", "'category_id' is [1]"),
         lambda p, t: coco_source(t / "src", annotations=[{"image_id": 1, "category_id": [1], "segmentation": []}])),
    Case("via-rect-x-empty", IMPORT + " via {src}/via.json", 0, ("region 0", "'x' is [], not one number"),
         lambda p, t: via_source(t / "src", {"name": "rect", "x": [], "y": 1, "width": 5, "height": 5})),
    Case("via-huge-int", IMPORT + " via {src}/via.json", 0, ("region 0", "not a finite number"),
         lambda p, t: via_source(t / "src", {"name": "circle", "cx": 10**400, "cy": 1, "r": 5})),
    Case("yaml-names-5", IMPORT + " yolo {src}", 1, ("data.yaml", "'names' is 5"),
         lambda p, t: yolo_source(t / "src", "names: 5\n")),
    Case("yaml-names-none", IMPORT + " yolo {src}", 1, ("data.yaml", "'names' is None"),
         lambda p, t: yolo_source(t / "src", "names:\n")),
    Case("yaml-names-mixed-keys", IMPORT + " yolo {src}", 1, ("data.yaml", "the keys must be the class ids"),
         lambda p, t: yolo_source(t / "src", "names:\n  0: car\n  bus: 1\n")),
    Case("yaml-not-yaml", IMPORT + " yolo {src}", 1, ("data.yaml", "not valid YAML at line"),
         lambda p, t: yolo_source(t / "src", "names: [car, bus\n")),
    Case("yaml-inline-list", IMPORT + " yolo {src}", 0, ("labels added: bus",),
         lambda p, t: yolo_source(t / "src", "path: .\nnames: [car, bus]  # two classes\n")),
    Case("yaml-block-list-column-0", IMPORT + " yolo {src}", 0, ("labels added: bus",),
         lambda p, t: yolo_source(t / "src", "names:\n- car\n- bus\n")),
    # 6: a 300-character file name
    Case("long-name-coco-file-name", IMPORT + " coco {src}/coco.json", 0, ("skipped", "304 bytes long"),
         coco_named(LONG + ".png")),
    Case("long-name-image-arg", "anchors --project {proj} --image " + LONG + ".jpg", 2, ("--image", "bytes long")),
    Case("long-name-out", "export --format coco --project {proj} --out {tmp}/" + LONG + ".json", 2, ("--out", "bytes long")),
    Case("long-name-project", "stats --project {tmp}/" + LONG, 2, ("--project", "bytes long")),
    # 7: image bombs
    Case("png-bomb-anchors", "anchors --project {proj} --image bomb.png --json", 1,
         ("bomb.png", "900000000 pixels", "over the limit"), lambda p, t: png_header_only(p / "bomb.png", 30000, 30000)),
    Case("png-bomb-15000-anchors", "anchors --project {proj} --image bomb.png --json", 1,
         ("bomb.png", "15000 x 15000", "over the limit"), lambda p, t: png_header_only(p / "bomb.png", 15000, 15000)),
    Case("png-bomb-import", IMPORT + " coco {src}/coco.json", 0, ("x.png", "over the limit"),
         lambda p, t: (coco_source(t / "src"), png_header_only(t / "src" / "x.png", 30000, 30000))),
    Case("coco-rle-40000", IMPORT + " coco {src}/coco.json", 0, ("RLE size [40000, 40000] differs",),
         lambda p, t: coco_source(t / "src", annotations=[{"id": 1, "image_id": 1, "category_id": 1, "segmentation":
                                                          {"size": [40000, 40000], "counts": [1_600_000_000]}}])),
    # 9, 10: photo.jpg and photo.png would share photo.json
    Case("clash-import-overwrite", IMPORT + " labelme {src} --overwrite", 0,
         ("street_001.png", "street_001.jpg is already in the project", "rename"), clashing_png,
         kept=("street_001.json",), check=lambda p, t: not (p / "street_001.png").exists() or pytest.fail("imported")),
    Case("clash-in-source", IMPORT + " coco {src}/coco.json", 0, ("several images named x.*",),
         lambda p, t: (coco_source(t / "src", images=[{"id": 1, "file_name": "x.png"}, {"id": 2, "file_name": "x.jpg"}]),
                       Image.new("RGB", (40, 30)).save(t / "src" / "x.jpg"))),
    # 11: outputs over the project's files or among its images
    Case("out-over-annotation", "export --format coco --project {proj} --out {proj}/street_000.json", 2,
         ("--out", "would replace the annotation file street_000.json"), kept=("street_000.json",)),
    Case("out-in-project", "export --format coco --project {proj} --out {proj}/x.json", 2, ("--out", "inside the project")),
    Case("out-over-project-file", "export --format coco --project {proj} --out {proj}/masklab.project.json", 2,
         ("--out", "would replace the project file"), kept=("masklab.project.json",)),
    Case("out-over-photo", "anchors --project {proj} --image street_000.jpg --out {proj}/street_001.jpg", 2,
         ("--out", "would replace the project's image street_001.jpg"), kept=("street_001.jpg",)),
    Case("plots-into-project", "stats --project {proj} --plots {proj}", 2, ("--plots", "is the project folder")),
    Case("yolo-out-in-project", "export --format yolo --project {proj} --out {proj}/yolo", 2, ("--out", "inside the project")),
    Case("overlay-in-project", "predict --checkpoint {tmp}/x.pt --project {proj} --overlay {proj}/overlays", 2,
         ("--overlay", "inside the project")),
    Case("train-out-existing-file", TRAIN + " --out {proj}/street_000.jpg", 2, ("--out", "is an existing file")),
    # 15: import names that cannot become project images
    Case("windows-absolute-name", IMPORT + " coco {src}/coco.json", 0, ("absolute Windows path",), coco_named("C:\\data\\x.png")),
    Case("name-under-runs", IMPORT + " coco {src}/coco.json", 0, ("does not scan folders named 'runs'",), coco_named("runs/x.png")),
    Case("name-under-predictions", IMPORT + " coco {src}/coco.json", 0, ("folders named 'predictions'",),
         coco_named("predictions/x.png")),
    Case("hidden-name", IMPORT + " coco {src}/coco.json", 0, ("'.hidden.png' starts with '.'",), coco_named(".hidden.png", ".hidden.png")),
    Case("image-named-json", IMPORT + " coco {src}/coco.json", 0, (".json is not an image type",), coco_named("new.json", "new.json"),
         check=lambda p, t: not (p / "new.json").exists() or pytest.fail("new.json imported")),
    # 16: temporary files left by a kill are removed by the next writer (only when old enough)
    Case("stale-temp-files", IMPORT + " coco {src}/coco.json", 0, ("images: 1",), stale_temp_files,
         check=stale_temp_files_gone),
    # 17: values out of range
    Case("lr-negative", TRAIN + " --lr -1", 2, ("--lr", "above 0")),
    Case("lr-nan", TRAIN + " --lr nan", 2, ("--lr", "finite")),
    Case("lr-inf", TRAIN + " --lr inf", 2, ("--lr", "finite")),
    Case("batch-size-negative", TRAIN + " --batch-size -2", 2, ("--batch-size", "at least 1")),
    Case("batch-size-0", TRAIN + " --batch-size 0", 2, ("--batch-size", "at least 1")),
    Case("workers-negative", TRAIN + " --workers -1", 2, ("--workers", "at least 0")),
    Case("epochs-0", TRAIN + " --epochs 0", 2, ("--epochs", "at least 1")),
    Case("epochs-negative", TRAIN + " --epochs -1", 2, ("--epochs", "at least 1")),
    Case("image-size-0", TRAIN + " --image-size 0", 2, ("--image-size", "at least 1")),
    Case("epochs-not-a-number", TRAIN + " --epochs ten", 2, ("--epochs", "not an integer")),
    Case("bins-0", "stats --project {proj} --bins 0", 2, ("--bins", "at least 1")),
    Case("score-2", "predict --checkpoint {tmp}/x.pt --project {proj} --score 2", 2, ("--score", "from 0 to 1")),
    Case("demo-images-negative", "demo {tmp}/demo --images -5", 2, ("--images", "at least 1")),
    Case("anchor-size-negative", "anchors --project {proj} --image street_000.jpg --config {tmp}/anchors.json", 2,
         ("--config", "anchors.json", "every anchor size must be above 0"),
         lambda p, t: anchor_config(t, sizes=[[-32], [64], [128], [256], [512]])),
    Case("anchor-ratio-zero", "anchors --project {proj} --image street_000.jpg --config {tmp}/anchors.json", 2,
         ("--config", "every ratio must be a finite number above 0"), lambda p, t: anchor_config(t, aspect_ratios=[[0.0]])),
]


def _prepare(case: Case, demo_project: Path, tmp_path: Path) -> tuple[list[str], dict[str, bytes]]:
    tmp = tmp_path / "work"
    (tmp / "src").mkdir(parents=True)
    if case.make is not None:
        case.make(demo_project, tmp)
    kept = {name: (demo_project / name).read_bytes() for name in case.kept}
    argv = [a.format(proj=demo_project, tmp=tmp, src=tmp / "src") for a in case.argv.split()]
    return argv, kept


def _verify(case: Case, code: int, text: str, demo_project: Path, tmp_path: Path, kept: dict[str, bytes]) -> None:
    assert "Traceback" not in text, text
    assert code == case.code, text
    for words in case.says:
        assert words in text, f"{words!r} not in:\n{text}"
    for name, content in kept.items():
        assert (demo_project / name).read_bytes() == content, f"{name} changed"
    if case.check is not None:
        case.check(demo_project, tmp_path / "work")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, demo_project, tmp_path, capsys):
    argv, kept = _prepare(case, demo_project, tmp_path)
    code = main(argv)
    out, err = capsys.readouterr()
    _verify(case, code, out + err, demo_project, tmp_path, kept)


SUBPROCESS_CASES = ("deep-json-export", "lr-nan", "out-over-project-file")


@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_bad_input_through_main_py(case_id: str, demo_project, tmp_path):
    """The same rows through a real `python main.py` process: the exit code the shell sees."""
    case = next(c for c in CASES if c.id == case_id)
    argv, kept = _prepare(case, demo_project, tmp_path)
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), *argv], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    _verify(case, proc.returncode, proc.stdout + proc.stderr, demo_project, tmp_path, kept)
