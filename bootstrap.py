#!/usr/bin/env python3
"""Set up Masklab's environment when needed, then start the app or run the tests.

    python3 bootstrap.py app [PROJECT]   # the window, on the demo project when none is given
    python3 bootstrap.py test [PYTEST ARGS]

The environment is a virtualenv at $MASKLAB_VENV (default ~/.cache/masklab/venv) holding the
dependencies of pyproject.toml; it is rebuilt only when those change, so both commands are fast
once set up. Needs only Python 3.10+ with venv.
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


def ensure_env() -> Path:
    reqs = requirements()
    digest = hashlib.sha256("\n".join(reqs).encode()).hexdigest()
    py = venv_python()
    if py.exists() and STAMP.exists() and STAMP.read_text().strip() == digest:
        return py
    print(f"masklab: setting up {VENV} (torch and torchvision are large; this takes a few minutes once)", flush=True)
    if not py.exists():
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    subprocess.check_call([str(py), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    subprocess.check_call([str(py), "-m", "pip", "install", *reqs])
    check = subprocess.run([str(py), str(ROOT / "main.py"), "doctor"], cwd=ROOT)
    if check.returncode != 0:
        torch_reqs = [r for r in reqs if r.startswith(("torch==", "torchvision=="))]
        subprocess.check_call([str(py), "-m", "pip", "install", "--force-reinstall", "--no-deps", *torch_reqs])
    STAMP.write_text(digest)
    return py


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("app", "test", "env"):
        print(__doc__)
        return 2
    py = ensure_env()
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(ROOT))
    if argv[0] == "env":
        print(py)
        return 0
    if argv[0] == "app":
        return subprocess.call([str(py), str(ROOT / "main.py"), *argv[1:]], cwd=ROOT, env=env)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return subprocess.call([str(py), "-m", "pytest", *argv[1:]], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
