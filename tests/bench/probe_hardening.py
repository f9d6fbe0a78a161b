"""Probe of issue 14 from outside: bad inputs, two concurrent writers, kills during saves.

Not part of the suite (about 2 minutes on 2 cores). Prints, for each kind of probe, the tries,
the crashes (a traceback or an exception that is not Masklab's own "file: reason" error) and the
files damaged (unparsable, torn, a label or an annotation lost or mixed up). Exit code 1 when any
crash or damage was found.

    QT_QPA_PLATFORM=offscreen ~/.cache/masklab/venv/bin/python tests/bench/probe_hardening.py [--kills 50] [--fuzz 300]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.atomic import TEMP_NAME, remove_stale_temp_files  # noqa: E402
from core.cli import main as cli_main  # noqa: E402
from core.demo import generate_demo  # noqa: E402
from core.errors import MasklabError  # noqa: E402
from core.project import Project  # noqa: E402


def bad_input_table(work: Path) -> tuple[int, list[str]]:
    """Every row of tests/test_bad_input.py through core.cli.main, each on a fresh demo copy."""
    from tests.test_bad_input import CASES

    template = work / "template"
    generate_demo(template, n_images=8, seed=0)
    crashes = []
    for case in CASES:
        case_dir = work / "cases" / case.id
        proj, tmp = case_dir / "demo", case_dir / "work"
        shutil.copytree(template, proj)
        (tmp / "src").mkdir(parents=True)
        if case.make is not None:
            case.make(proj, tmp)
        kept = {name: (proj / name).read_bytes() for name in case.kept}
        argv = [a.format(proj=proj, tmp=tmp, src=tmp / "src") for a in case.argv.split()]
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = cli_main(argv)
        except BaseException as e:  # noqa: BLE001 - any escape is the crash being counted
            crashes.append(f"{case.id}: {type(e).__name__}: {e}"[:300])
            continue
        text = out.getvalue() + err.getvalue()
        if code != case.code or not all(w in text for w in case.says):
            crashes.append(f"{case.id}: exit {code}, said {text.strip()[-200:]!r}")
        changed = [name for name, content in kept.items() if (proj / name).read_bytes() != content]
        if changed:
            crashes.append(f"{case.id}: changed {changed}")
    return len(CASES), crashes


def _mutations(rng: random.Random, text: str) -> bytes:
    data = json.loads(text)
    kind = rng.randrange(10)
    if kind == 0:
        return text[: rng.randrange(len(text))].encode()  # cut short
    if kind == 1:
        depth = rng.choice([50, 101, 5000, 100_000])
        return ("[" * depth + "]" * depth).encode()
    shape = data["shapes"][0] if data["shapes"] else {}
    values = [10**400, -(10**400), float("nan"), "1", None, [], {}, [[1]], True, 1e308 * 10, 2**63]
    value = rng.choice(values)
    if kind == 2 and shape:
        shape["points"][0][rng.randrange(2)] = value
    elif kind == 3 and shape:
        shape[rng.choice(["label", "points", "group_id", "flags", "shape_type"])] = value
    elif kind == 4:
        data[rng.choice(["imageWidth", "imageHeight", "shapes", "flags", "imagePath"])] = value
    elif kind == 5 and shape:
        shape["points"] = [[rng.uniform(-1e6, 1e6), rng.uniform(-1e6, 1e6)] for _ in range(rng.randrange(0, 6))]
    elif kind == 6:
        data["extra"] = json.loads("[" * 99 + "]" * 99)
    elif kind == 7:
        return text.encode()[:40] + b"\xff\xfe" + text.encode()[40:]  # not UTF-8
    elif kind == 8:
        data = rng.choice([[], "text", 5, None])
    else:
        data["shapes"] = [shape] * rng.randrange(0, 3)
    return json.dumps(data, allow_nan=True).replace("Infinity", "1e999").encode()


def fuzz_sidecars(work: Path, tries: int, seed: int = 1) -> tuple[int, list[str]]:
    """Mutated LabelMe files read by the project loader and exported: MasklabError or success only."""
    from core.formats.coco import project_to_coco

    proj = work / "fuzz"
    generate_demo(proj, n_images=2, seed=1, unlabelled=0)
    original = (proj / "street_000.json").read_text()
    rng = random.Random(seed)
    project = Project.open(proj)
    crashes = []
    for i in range(tries):
        mutated = _mutations(rng, original)
        (proj / "street_000.json").write_bytes(mutated)
        try:
            try:
                project.load_annotation("street_000.jpg")
            except MasklabError:
                pass
            project_to_coco(project, problems=[])
        except BaseException as e:  # noqa: BLE001
            crashes.append(f"try {i}: {type(e).__name__}: {str(e)[:120]} <- {mutated[:80]!r}")
    return tries, crashes


WRITER = """
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from core.project import Project
start = Path({start!r})
while not start.exists():
    time.sleep(0.001)
project = Project.open({project!r})
for i in range({n}):
    project.ensure_labels(["{prefix}%03d" % i])
"""


def concurrent_writers(work: Path, n: int = 100) -> tuple[int, list[str]]:
    proj, start = work / "writers", work / "writers_start"
    Project.open(proj)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER.format(root=str(ROOT), start=str(start), project=str(proj),
                                                                   n=n, prefix=p)]) for p in "ab"]
    time.sleep(1.5)
    start.touch()
    for p in procs:
        p.wait(timeout=300)
    names = set(Project.open(proj).label_names())
    lost = sorted({f"{p}{i:03d}" for p in "ab" for i in range(n)} - names)
    return 2 * n, [f"lost label {name}" for name in lost]


SAVER = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from core.annotation import Annotation, Shape
from core.project import Project
project = Project.open({project!r})
variants = [Annotation("street_000.jpg", 480, 640, [Shape("car", [[1, 1], [90, 1], [90, 90]])] * k) for k in (3, 40)]
print("ready", flush=True)
i = 0
while True:
    project.save_annotation("street_000.jpg", variants[i % 2])
    project.ensure_labels(["label%05d" % i])
    i += 1
"""


def kills_during_saves(work: Path, kills: int, seed: int = 2) -> tuple[int, list[str], int]:
    """Kill -9 a process that saves an annotation and the project file in a loop; after each kill
    both files must parse and the annotation must be one of the two versions written whole."""
    proj = work / "kills"
    generate_demo(proj, n_images=1, seed=3, unlabelled=0)
    rng = random.Random(seed)
    damaged, leftovers = [], 0
    for k in range(kills):
        proc = subprocess.Popen([sys.executable, "-c", SAVER.format(root=str(ROOT), project=str(proj))],
                                stdout=subprocess.PIPE, text=True)
        proc.stdout.readline()  # "ready": its imports are done, saves start now
        time.sleep(rng.uniform(0.005, 0.3))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        try:
            shapes = json.loads((proj / "street_000.json").read_text())["shapes"]
            if len(shapes) not in (3, 40) and k > 0:
                damaged.append(f"kill {k}: street_000.json has {len(shapes)} shapes")
            labels = json.loads((proj / "masklab.project.json").read_text())["labels"]
            if not isinstance(labels, list):
                damaged.append(f"kill {k}: project file labels {labels!r}")
        except (OSError, ValueError, KeyError) as e:
            damaged.append(f"kill {k}: {e}")
        leftovers += sum(1 for p in proj.iterdir() if TEMP_NAME.match(p.name))
        remove_stale_temp_files([proj], older_than_s=0)  # what the next open does once they are old
    left = [p.name for p in proj.iterdir() if TEMP_NAME.match(p.name)]
    if left:
        damaged.append(f"temporary files not cleaned: {left}")
    return kills, damaged, leftovers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--fuzz", type=int, default=300)
    args = parser.parse_args()
    failed = False
    with tempfile.TemporaryDirectory(prefix="masklab_probe_") as tmp:
        work = Path(tmp)
        t = time.time()
        tries, crashes = bad_input_table(work)
        print(f"bad inputs (the table, real CLI in-process): tries {tries}, crashes {len(crashes)}, "
              f"files damaged {sum('changed' in c for c in crashes)}  [{time.time() - t:.0f} s]")
        t = time.time()
        ftries, fcrashes = fuzz_sidecars(work, args.fuzz)
        print(f"fuzzed LabelMe files (load + COCO export): tries {ftries}, crashes {len(fcrashes)}, "
              f"files damaged 0  [{time.time() - t:.0f} s]")
        t = time.time()
        wtries, lost = concurrent_writers(work)
        print(f"2 concurrent writers, labels saved: tries {wtries}, crashes 0, labels lost {len(lost)}  "
              f"[{time.time() - t:.0f} s]")
        t = time.time()
        ktries, damaged, leftovers = kills_during_saves(work, args.kills)
        print(f"kill -9 during saves: tries {ktries}, crashes 0, files damaged {len(damaged)}, "
              f"temporary files left by kills {leftovers} (all removed by the cleanup)  [{time.time() - t:.0f} s]")
        for line in crashes + fcrashes + lost + damaged:
            print("  " + line)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
