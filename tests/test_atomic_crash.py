"""Crash safety, deterministically: the writer process dies at each exact point of a save.

A kill during a real save rarely lands between the write and the rename, so the fault is injected
there on purpose: a child process saves over an existing annotation and is killed (os._exit, no
clean-up, like SIGKILL) at the chosen point. Afterwards the file must hold the old content or the new
content, whole. The same harness run on a writer that rewrites the file in place must fail, which
proves the harness can see a torn file.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

OLD = {"version": "5.0.0", "shapes": [{"label": "car", "points": [[1, 1], [9, 1], [9, 9]]}] * 50}
NEW = {"version": "5.0.0", "shapes": [{"label": "sign board", "points": [[2, 2], [8, 2], [8, 8]]}] * 80}

# Child process: patch the named function so that the process dies when it is reached, then save.
CHILD = r"""
import json, os, sys
sys.path.insert(0, {root!r})
point, writer, path = sys.argv[1], sys.argv[2], sys.argv[3]
new = json.loads(sys.argv[4])

def die_before(func):
    def wrapper(*a, **k):
        os._exit(137)
    return wrapper

def die_after(func):
    def wrapper(*a, **k):
        func(*a, **k)
        os._exit(137)
    return wrapper

if point == "before_rename":
    os.replace = die_before(os.replace)
elif point == "after_rename":
    os.replace = die_after(os.replace)
elif point == "before_fsync":
    os.fsync = die_before(os.fsync)

if writer == "atomic":
    from core.atomic import atomic_write_json
    atomic_write_json(path, new)
else:  # a writer that rewrites the file in place, dying half-way through its bytes
    data = (json.dumps(new, indent=2) + "\n").encode()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
        f.flush()
        if point != "none":
            os._exit(137)
        f.write(data[len(data) // 2:])
os._exit(0)
"""


def _save_and_die(tmp_path: Path, point: str, writer: str) -> tuple[int, Path]:
    target = tmp_path / "photo.json"
    target.write_text(json.dumps(OLD, indent=2) + "\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT)), point, writer, str(target),
                           json.dumps(NEW)], capture_output=True, text=True, timeout=60)
    return proc.returncode, target


def _whole(target: Path) -> str:
    """'old' or 'new' when the file holds one of the two documents whole; else 'torn'."""
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return "torn"
    return "old" if data == OLD else "new" if data == NEW else "torn"


@pytest.mark.parametrize("point, expected", [
    ("before_fsync", "old"),   # the temporary file is not even durable yet
    ("before_rename", "old"),  # written and fsync'd, the rename not done: the old file stays
    ("after_rename", "new"),   # renamed, killed before the folder's fsync
    ("none", "new"),
])
def test_atomic_writer_leaves_old_or_new_whole_at_every_kill_point(tmp_path, point, expected):
    code, target = _save_and_die(tmp_path, point, "atomic")
    assert code == (0 if point == "none" else 137)
    assert _whole(target) == expected


def test_the_harness_catches_a_writer_that_is_not_atomic(tmp_path):
    code, target = _save_and_die(tmp_path, "half_written", "in_place")
    assert code == 137
    assert _whole(target) == "torn"
    code, target = _save_and_die(tmp_path, "none", "in_place")
    assert code == 0 and _whole(target) == "new"
