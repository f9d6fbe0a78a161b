"""`pip install .` gives a working `masklab` command, with no top-level `core` or `gui` package."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None

ROOT = Path(__file__).resolve().parents[1]


def _package_folders() -> set[str]:
    found = {"masklab", "masklab.resources", "masklab.resources.icons"}
    for top in ("core", "gui"):
        for init in (ROOT / top).rglob("__init__.py"):
            found.add("masklab." + ".".join(init.parent.relative_to(ROOT).parts))
    return found


@pytest.mark.skipif(tomllib is None, reason="tomllib needs Python 3.11")
def test_pyproject_lists_every_package_folder():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = _package_folders()
    assert listed == folders, (f"add to [tool.setuptools] packages: {sorted(folders - listed)}; "
                               f"remove: {sorted(listed - folders)}")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel built from this tree, installed into an empty folder (dependencies come from the
    test environment, as they would from the user's)."""
    work = tmp_path_factory.mktemp("install")
    source = work / "source"  # a copy, so that the build leaves nothing in this tree
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "build", "runs", "__pycache__", ".whl"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(work / "dist"), str(source)], check=True, capture_output=True, timeout=300)
    wheel = next((work / "dist").glob("masklab-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert all(n.startswith(("masklab/", "masklab-")) for n in names), "only the masklab folder is installed"
    assert "masklab/resources/default_labels.json" in names
    target = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    return target


def _env(site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)  # the installed copy only, not this source tree
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def _masklab(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(site / "bin" / "masklab"), *args], cwd=cwd, env=_env(site),
                          capture_output=True, text=True, timeout=300)


def test_installed_command_runs_every_subcommand(installed, tmp_path):
    from core.cli import COMMANDS

    for command in COMMANDS:
        out = _masklab(installed, command, "--help", cwd=tmp_path)
        assert out.returncode == 0, f"masklab {command} --help: {out.stderr[-1500:]}"
    out = _masklab(installed, "demo", str(tmp_path / "demo"), "--images", "4", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-1500:]
    out = _masklab(installed, "stats", "--project", str(tmp_path / "demo"), "--json", cwd=tmp_path)
    assert out.returncode == 0 and '"' in out.stdout, out.stderr[-1500:]
    # the project got its labels from the installed resources/default_labels.json
    assert "sign board" in (tmp_path / "demo" / "masklab.project.json").read_text()
    code = "import main, core, gui; print(core.__file__); print(gui.__file__)"
    probe = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(installed / 'masklab')!r}); {code}"],
                           cwd=tmp_path, env=_env(installed), capture_output=True, text=True, timeout=60)
    assert str(installed) in probe.stdout and str(ROOT) not in probe.stdout, probe.stdout + probe.stderr


def test_installed_window_starts_and_stays_up(installed, tmp_path):
    _masklab(installed, "demo", str(tmp_path / "demo"), "--images", "2", cwd=tmp_path)
    proc = subprocess.Popen([str(installed / "bin" / "masklab"), str(tmp_path / "demo")], cwd=tmp_path,
                            env=_env(installed), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(6)
    alive = proc.poll() is None
    proc.kill()
    output = proc.communicate()[0]
    assert alive, output[-2000:]
    assert "Traceback" not in output, output[-2000:]
