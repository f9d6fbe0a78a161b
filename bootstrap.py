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
import subprocess
import sys
import venv
from pathlib import Path

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
        return subprocess.call([str(py), str(ROOT / "main.py"), *argv[1:]], cwd=ROOT, env=env)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return subprocess.call([str(py), "-m", "pytest", *argv[1:]], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
