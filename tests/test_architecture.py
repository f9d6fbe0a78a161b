"""The house rules: core never imports Qt or gui; modules stay short."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_sources_import_no_qt_and_no_gui():
    for path in (ROOT / "core").rglob("*.py"):
        bad = _imports(path) & {"PySide6", "PyQt5", "PyQt6", "shiboken6", "gui", "pyqtgraph"}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_all_core_modules_import_with_qt_blocked():
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in (ROOT / "core").rglob("*.py") if p.name != "__init__.py"
    )
    code = (
        "import sys, importlib\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'shiboken6', 'gui'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]


def test_modules_stay_short():
    long = []
    for folder in ("core", "gui"):
        for path in (ROOT / folder).rglob("*.py"):
            n = sum(1 for _ in path.open(encoding="utf-8"))
            if n > 650:
                long.append(f"{path.relative_to(ROOT)}: {n} lines")
    assert not long, long


def test_only_the_image_loader_opens_photos():
    offenders = []
    for folder in ("core", "gui"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "images.py":
                continue
            text = path.read_text(encoding="utf-8")
            if re.search(r"Image\.open\((?!(io\.)?BytesIO)", text):  # decoding in-memory mask PNGs is fine
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"photos must be opened through core.images: {offenders}"


MODEL_BUILDERS = {"build_model", "model_from_checkpoint", "load_checkpoint", "load_predictor"}
INFERENCE_CONTEXTS = {"no_grad", "inference_mode"}


def test_only_core_training_and_models_build_models_or_run_inference():
    """The window, the anchors, the RPN lab and the assistant ask core/training for a model's
    output; none of them builds a model, loads a checkpoint or runs a forward pass itself."""
    offenders = []
    for folder in ("core", "gui"):
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(("core/training/", "core/models/")):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call):
                    f = node.func
                    name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
                    if name in MODEL_BUILDERS | INFERENCE_CONTEXTS:
                        offenders.append(f"{rel}:{node.lineno} {name}()")
                elif isinstance(node, ast.ImportFrom) and any(a.name in MODEL_BUILDERS for a in node.names):
                    offenders.append(f"{rel}:{node.lineno} imports {[a.name for a in node.names]}")
    assert not offenders, offenders


def test_tests_never_skip_a_broken_import_of_our_own_modules():
    offenders = []
    for path in (ROOT / "tests").rglob("*.py"):
        for m in re.finditer(r"importorskip\(\s*['\"](core|gui|main)\b", path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(ROOT)}: {m.group(0)}")
    assert not offenders, offenders
