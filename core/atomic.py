"""Atomic file writes: a temporary file in the same folder, fsync, then rename over the target.

Temporary files are named `.<name>.<8 random characters>.tmp`, unique per write, so that two
processes writing the same name never share one; a kill leaves one behind at most, and
`remove_stale_temp_files` (run when a project is opened for writing) takes it away.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")  # tempfile.mkstemp's 8 random characters
STALE_TEMP_AGE_S = 60.0  # a write takes milliseconds; an older temporary file was left by a kill
_MAX_PREFIX = 200  # keeps the temporary name within the file system's 255 bytes


def _temp_file(path: Path) -> tuple[int, str]:
    return tempfile.mkstemp(prefix=f".{path.name[:_MAX_PREFIX]}.", suffix=".tmp", dir=path.parent)


def _fsync_folder(folder: Path) -> None:
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a part."""
    path = Path(path)
    fd, tmp = _temp_file(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(path.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, indent: int = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def copy_file_new(source: str | Path, target: str | Path) -> None:
    """Copy `source` to `target`, which must not exist: a complete copy appears at once or not at
    all, and a file that appeared meanwhile (another import) is never replaced (FileExistsError)."""
    target = Path(target)
    fd, tmp = _temp_file(target)
    os.close(fd)
    try:
        shutil.copy2(source, tmp)
        try:
            os.link(tmp, target)  # fails when the target exists: no check-then-replace race
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links
            if target.exists():
                raise FileExistsError(f"{target} appeared while copying") from None
            os.replace(tmp, target)
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    _fsync_folder(target.parent)


def remove_stale_temp_files(folders: Iterable[Path], older_than_s: float = STALE_TEMP_AGE_S) -> list[Path]:
    """Delete the temporary files of interrupted writes in `folders` (not below them) that are
    older than `older_than_s`; returns what was deleted. Younger ones may belong to a write that
    is still running in another process."""
    removed = []
    now = time.time()
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if not TEMP_NAME.match(entry.name):
                continue
            try:
                if entry.is_file(follow_symlinks=False) and now - entry.stat(follow_symlinks=False).st_mtime >= older_than_s:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
            except OSError:
                continue
    return removed
