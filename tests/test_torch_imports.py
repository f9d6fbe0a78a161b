"""torch is imported in one place (core.torch_loader), once, and never by two threads at once.

The static check: every import in gui/ of a module that imports torch (directly or through the
modules it imports at load time) either sits in a module that is itself only imported that way,
or follows a call of `load_torch()` in the same function. The window's own modules import no torch.
The loader test: many threads asking at once get the same complete modules.
"""
from __future__ import annotations

import ast
import functools
import subprocess
import sys
import threading
from pathlib import Path

from core.torch_loader import TorchImportError, load_torch, looks_like_mismatch

ROOT = Path(__file__).resolve().parents[1]
TORCH_PACKAGES = {"torch", "torchvision"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_modules() -> dict[str, Path]:
    return {_module_name(p): p for folder in ("core", "gui") for p in (ROOT / folder).rglob("*.py")}


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: dict[str, Path]) -> set[str]:
    """The modules an import statement loads (project modules by full name, torch by package)."""
    if isinstance(node, ast.Import):
        names = {a.name for a in node.names}
    else:
        base = node.module or ""
        if node.level:
            package = module if is_package else module.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}" if node.module else package
        names = {base} | {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known}
    loaded = set()
    for name in names:
        if name.split(".")[0] in TORCH_PACKAGES:
            loaded.add(name.split(".")[0])
        parts = name.split(".")
        loaded.update(".".join(parts[:k]) for k in range(1, len(parts) + 1) if ".".join(parts[:k]) in known)
    return loaded


def _load_time_imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Modules imported when `module` is imported: top-level statements, not TYPE_CHECKING."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or _is_type_checking(node):
            if isinstance(node, ast.ClassDef):
                pending.extend(node.body)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found |= _targets(node, module, path.name == "__init__.py", known)
        else:
            pending.extend(n for n in ast.iter_child_nodes(node) if isinstance(n, ast.stmt))
    return found


@functools.cache
def torch_using_modules() -> frozenset[str]:
    known = _project_modules()
    direct = {m: _load_time_imports(m, p, known) for m, p in known.items()}
    using = set(TORCH_PACKAGES)
    changed = True
    while changed:
        changed = False
        for m, deps in direct.items():
            if m not in using and deps & using:
                using.add(m)
                changed = True
    return frozenset(using)


FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _own_nodes(func: ast.AST):
    """The nodes of a function's body, without descending into functions defined in it."""
    pending = list(ast.iter_child_nodes(func))
    while pending:
        node = pending.pop()
        yield node
        if not isinstance(node, FUNCTIONS):
            pending.extend(ast.iter_child_nodes(node))


def _is_load_torch_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] == "load_torch"


def _unguarded_imports(path: Path, module: str, using: set[str], known: dict[str, Path]) -> list[str]:
    """Imports of torch-using modules inside functions that do not call load_torch() first (in
    the function itself, or in an enclosing function before the inner one is defined)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    bad = []

    def visit(func: ast.AST, guarded: bool) -> None:
        nodes = list(_own_nodes(func))
        calls = [n.lineno for n in nodes if _is_load_torch_call(n)]
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                loads = _targets(node, module, is_package, known) & using
                if loads and not guarded and not any(c < node.lineno for c in calls):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {sorted(loads)} "
                               "without calling load_torch() first")
            elif isinstance(node, FUNCTIONS):
                visit(node, guarded or any(c < node.lineno for c in calls))

    for node in _own_nodes(tree):  # the functions of the module and of its classes
        if isinstance(node, FUNCTIONS):
            visit(node, False)
    return bad


def test_the_analysis_sees_the_torch_modules():
    using = torch_using_modules()
    assert {"core.training.predict", "core.models.registry", "core.anchors.preview", "core.training.trainer"} <= using
    assert not {"core.models.specs", "core.training.split", "core.project", "core.torch_loader"} & using


def test_window_modules_import_no_torch_at_load_time():
    using = torch_using_modules()
    for module in ("gui.app", "gui.main_window", "gui.training", "gui.training.panel", "gui.review",
                   "gui.anchors", "core.cli"):
        assert module not in using, f"{module} imports torch when it is imported (the window would wait for it)"


def test_every_torch_import_in_the_window_goes_through_the_loader():
    using = torch_using_modules()
    known = _project_modules()
    bad = []
    for module, path in known.items():
        if module.startswith("gui") and module not in using:
            bad += _unguarded_imports(path, module, using, known)
    # a torch-using gui module is fine as long as whoever imports it calls load_torch() first:
    # the loop above checks those importers, since they import a module in `using`
    assert not bad, "\n".join(bad)


def test_the_window_starts_without_torch():
    code = "import sys, gui.app, gui.main_window; print(sorted(set(TORCH) & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", f"TORCH = {sorted(TORCH_PACKAGES)!r}; {code}"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr[-2000:]


def test_threads_asking_at_once_get_one_complete_import():
    results, errors = [], []
    barrier = threading.Barrier(6)

    def ask() -> None:
        barrier.wait()
        try:
            torch, torchvision = load_torch()
            from torchvision.ops import StochasticDepth, nms  # the name the race used to lose

            results.append((id(torch), id(torchvision), StochasticDepth, nms))
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 6 and len({r[:2] for r in results}) == 1


def test_mismatch_is_told_from_other_import_failures():
    assert looks_like_mismatch(RuntimeError("operator torchvision::nms does not exist"))
    assert looks_like_mismatch(OSError("/x/torchvision/_C.so: undefined symbol: _ZN3c10"))
    partial = ImportError("cannot import name 'StochasticDepth' from partially initialized module 'torchvision.ops'")
    assert not looks_like_mismatch(partial)
    assert not looks_like_mismatch(ModuleNotFoundError("No module named 'torchvision'"))
    assert TorchImportError("x", mismatch=True).mismatch and not TorchImportError("x").mismatch


def test_the_check_says_a_mismatch_only_for_a_mismatch(monkeypatch):
    import core.torch_check as torch_check

    def failing(error: TorchImportError):
        def load():
            raise error
        return load

    monkeypatch.setattr(torch_check, "load_torch", failing(TorchImportError(
        "torch cannot be imported (ModuleNotFoundError: No module named 'torch')")))
    problem = torch_check.find_torch_problem()
    assert not problem.mismatch and "No module named 'torch'" in problem.message
    assert "do not work together" not in problem.message and "force-reinstall" not in problem.message

    monkeypatch.setattr(torch_check, "load_torch", failing(TorchImportError(
        "torchvision was built for another torch (RuntimeError: operator torchvision::nms does not exist)",
        mismatch=True)))
    problem = torch_check.find_torch_problem()
    assert problem.mismatch and "do not work together" in problem.message
    assert "pip install --force-reinstall torch torchvision" in problem.message
