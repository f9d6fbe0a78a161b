#!/usr/bin/env python3
"""Set up Masklab's environment when needed, then start the app or run the tests.

    python3 bootstrap.py app [PROJECT]   # the window, on the demo project when none is given
    python3 bootstrap.py test [PYTEST ARGS]
    python3 bootstrap.py lint            # ruff (unused imports, undefined names, bare excepts)
    python3 bootstrap.py lock            # upgrade within pyproject.toml's ranges, rewrite constraints.txt

The environment is a virtualenv at $MASKLAB_VENV (default ~/.cache/masklab/venv) holding the
dependencies of pyproject.toml at the exact versions of constraints.txt (the ones the suite last
passed with); it is re-synced only when those files or the installed versions change, so both
commands are fast once set up. Needs only Python 3.10+ with venv.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import Callable

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("MASKLAB_VENV", Path.home() / ".cache" / "masklab" / "venv"))
STAMP = VENV / "masklab-deps.sha256"
CONSTRAINTS = ROOT / "constraints.txt"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def requirements() -> list[str]:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    if tomllib is not None:
        project = tomllib.loads(text)["project"]
        return list(project["dependencies"]) + list(project["optional-dependencies"]["test"])
    import re  # minimal fallback: the quoted strings of the two lists

    blocks = re.findall(r'^(?:dependencies|test) = \[(.*?)\]', text, re.S | re.M)
    return [s for b in blocks for s in re.findall(r'"([^"]+)"', b)]


def installed_versions() -> list[str]:
    """The distributions in the environment with their versions (from the dist-info folder names,
    which is much faster than asking pip)."""
    sites = list(VENV.glob("lib/python*/site-packages")) + list(VENV.glob("Lib/site-packages"))
    return sorted(p.name[: -len(".dist-info")].lower() for site in sites for p in site.glob("*.dist-info"))


def _digest(reqs: list[str]) -> str:
    constraints = CONSTRAINTS.read_text(encoding="utf-8") if CONSTRAINTS.exists() else ""
    return hashlib.sha256("\n".join(reqs + [constraints]).encode()).hexdigest()


def _stamp_text(reqs: list[str]) -> str:
    return "\n".join([_digest(reqs), *installed_versions()])


def ensure_env(upgrade: bool = False) -> Path:
    """The environment's Python, after installing what pyproject.toml asks for at the versions of
    constraints.txt when the requirements, the constraints or the installed versions changed."""
    reqs = requirements()
    py = venv_python()
    if not upgrade and py.exists() and STAMP.exists() and STAMP.read_text().strip() == _stamp_text(reqs):
        return py
    print(f"masklab: setting up {VENV} (torch and torchvision are large; this takes a few minutes once)", flush=True)
    if not py.exists():
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    subprocess.check_call([str(py), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    pinned = [] if upgrade or not CONSTRAINTS.exists() else ["-c", str(CONSTRAINTS)]
    subprocess.check_call([str(py), "-m", "pip", "install", *(["--upgrade"] if upgrade else []), *pinned, *reqs])
    check = subprocess.run([str(py), str(ROOT / "main.py"), "doctor"], cwd=ROOT)
    if check.returncode != 0:
        torch_reqs = [r for r in reqs if r.startswith(("torch==", "torchvision=="))]
        subprocess.check_call([str(py), "-m", "pip", "install", "--force-reinstall", "--no-deps", *torch_reqs])
    if upgrade:
        frozen = subprocess.run([str(py), "-m", "pip", "freeze", "--exclude-editable"], check=True,
                                capture_output=True, text=True).stdout
        header = CONSTRAINTS.read_text(encoding="utf-8").splitlines()[:2] if CONSTRAINTS.exists() else []
        CONSTRAINTS.write_text("\n".join([*[h for h in header if h.startswith("#")], frozen.strip()]) + "\n",
                               encoding="utf-8")
        print(f"masklab: wrote {CONSTRAINTS.name}; run the tests, then commit it", flush=True)
    STAMP.write_text(_stamp_text(reqs))
    return py


# What Qt's X11 platform plugin (PySide6's libqxcb.so) links and pip does not bring: the library
# file name, and the Debian / Ubuntu package that installs it
QT_XCB_LIBRARIES = (
    ("libxcb.so.1", "libxcb1"), ("libX11-xcb.so.1", "libx11-xcb1"), ("libxcb-cursor.so.0", "libxcb-cursor0"),
    ("libxcb-icccm.so.4", "libxcb-icccm4"), ("libxcb-image.so.0", "libxcb-image0"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1"), ("libxcb-randr.so.0", "libxcb-randr0"),
    ("libxcb-render.so.0", "libxcb-render0"), ("libxcb-render-util.so.0", "libxcb-render-util0"),
    ("libxcb-shape.so.0", "libxcb-shape0"), ("libxcb-shm.so.0", "libxcb-shm0"), ("libxcb-sync.so.1", "libxcb-sync1"),
    ("libxcb-util.so.1", "libxcb-util1"), ("libxcb-xfixes.so.0", "libxcb-xfixes0"), ("libxcb-xkb.so.1", "libxcb-xkb1"),
    ("libxkbcommon.so.0", "libxkbcommon0"), ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libGL.so.1", "libgl1"), ("libEGL.so.1", "libegl1"), ("libfontconfig.so.1", "libfontconfig1"),
    ("libdbus-1.so.3", "libdbus-1-3"),
)


def installed_libraries() -> Callable[[str], bool]:
    """Whether a shared library (by file name) is installed: from `ldconfig -p`, else ctypes."""
    ldconfig = shutil.which("ldconfig") or next((p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig")
                                                  if os.path.exists(p)), None)
    if ldconfig:
        try:
            out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=20).stdout
            names = {line.split()[0] for line in out.splitlines()[1:] if line.strip()}
            if names:
                return names.__contains__
        except (OSError, subprocess.SubprocessError):
            pass
    import ctypes.util

    return lambda name: ctypes.util.find_library(name.removeprefix("lib").split(".so")[0]) is not None


def missing_qt_libraries(env: dict[str, str], platform: str,
                         has_library: Callable[[str], bool] | None = None) -> list[tuple[str, str]]:
    """(library, package) pairs the window would need and the system lacks. Only on Linux when Qt
    may use X11: QT_QPA_PLATFORM unset or xcb (offscreen, wayland or vnc need none of them)."""
    if not platform.startswith("linux"):
        return []
    qpa = env.get("QT_QPA_PLATFORM", "").strip()
    if qpa and not qpa.startswith("xcb"):
        return []
    has_library = has_library or installed_libraries()
    return [(lib, package) for lib, package in QT_XCB_LIBRARIES if not has_library(lib)]


def qt_libraries_hint(missing: list[tuple[str, str]]) -> str:
    libraries = ", ".join(lib for lib, _ in missing)
    packages = " ".join(package for _, package in missing)
    return (f"masklab: the window needs system libraries that are not installed: {libraries}\n"
            f"On Debian or Ubuntu install them with:\n    sudo apt-get install {packages}\n"
            "(elsewhere, install the packages that provide those files; without them Qt can only say "
            "\"could not load the Qt platform plugin xcb\")")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("app", "test", "env", "lint", "lock"):
        print(__doc__)
        return 2
    py = ensure_env(upgrade=argv[0] == "lock")
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(ROOT))
    if argv[0] in ("env", "lock"):
        print(py)
        return 0
    if argv[0] == "lint":
        return subprocess.call([str(py), "-m", "ruff", "check", *argv[1:]], cwd=ROOT, env=env)
    if argv[0] == "app":
        missing = missing_qt_libraries(env, sys.platform)
        if missing:
            print(qt_libraries_hint(missing), file=sys.stderr, flush=True)
        code = subprocess.call([str(py), str(ROOT / "main.py"), *argv[1:]], cwd=ROOT, env=env)
        if code != 0 and missing:  # after Qt's own message, the fix is the last thing on screen
            print(qt_libraries_hint(missing), file=sys.stderr)
        return code
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return subprocess.call([str(py), "-m", "pytest", *argv[1:]], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
