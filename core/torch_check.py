"""Checks that torch and torchvision are a working pair, and the `doctor` report."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from core.torch_loader import TorchImportError, load_torch

REINSTALL_HINT = (
    "Reinstall torch and torchvision together so they match, for example:\n"
    "    python -m pip install --force-reinstall torch torchvision\n"
    "(or run `python3 bootstrap.py app`, which sets up a matching pair in its own environment)."
)
INSTALL_HINT = "`python3 bootstrap.py app` sets up torch and torchvision in Masklab's own environment."


@dataclass(frozen=True)
class TorchProblem:
    """Why torch cannot be used. `mismatch`: torchvision was built for another torch (reinstalling
    the pair fixes it); otherwise the message says what failed, as it failed."""

    message: str
    mismatch: bool


def _first_line(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def find_torch_problem() -> TorchProblem | None:
    """None when torch and torchvision import completely and torchvision's compiled ops run."""
    try:
        torch, torchvision = load_torch()
    except TorchImportError as e:
        if e.mismatch:
            return TorchProblem(f"torch and torchvision do not work together: {e}.\n{REINSTALL_HINT}", True)
        return TorchProblem(f"{e}.\n{INSTALL_HINT}", False)
    try:
        from torchvision.ops import nms

        nms(torch.zeros((1, 4)), torch.zeros(1), 0.5)
    except Exception as e:  # the import was complete: a failing operator is a build mismatch
        return TorchProblem(f"torch {torch.__version__} and torchvision {torchvision.__version__} do not work "
                            f"together ({_first_line(e)}).\n{REINSTALL_HINT}", True)
    return None


def torch_problem() -> str | None:
    """The message of `find_torch_problem()`, or None when torch works."""
    problem = find_torch_problem()
    return problem.message if problem else None


def weights_dir() -> Path:
    """Where torchvision's weights API reads and caches checkpoints."""
    load_torch()
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def doctor_report() -> tuple[str, bool]:
    """A human-readable report and whether everything works."""
    lines = [f"python        {sys.version.split()[0]} ({sys.executable})"]
    problem = find_torch_problem()
    ok = problem is None
    torch = torchvision = None
    try:
        torch, torchvision = load_torch()
    except TorchImportError:
        pass
    torch = torch or sys.modules.get("torch")
    if torch is not None and hasattr(torch, "__version__"):
        lines.append(f"torch         {torch.__version__} (CUDA build: {torch.version.cuda or 'no'})")
    else:
        lines.append("torch         not importable")
    lines.append(f"torchvision   {torchvision.__version__}" if torchvision is not None else "torchvision   not importable")
    if problem:
        lines.append("compiled ops  BROKEN" if problem.mismatch else "compiled ops  not checked")
        lines.append(problem.message)
    else:
        lines.append("compiled ops  ok (torchvision::nms runs)")
        if torch.cuda.is_available():
            name = torch.cuda.get_device_name(0)
            lines.append(f"train device  cuda ({torch.cuda.device_count()} x {name})")
        else:
            lines.append(f"train device  cpu ({os.cpu_count()} cores; training will be slow, no CUDA device found)")
        wdir = weights_dir()
        found = sorted(p.name for p in wdir.glob("*.pth")) if wdir.is_dir() else []
        lines.append(f"weights from  {wdir} ({len(found)} file(s){': ' + ', '.join(found) if found else ''})")
        lines.append("              or a file given with --weights PATH; downloaded there on first use when online")
    for mod in ("PySide6", "shapely", "PIL", "numpy", "pycocotools"):
        try:
            m = __import__(mod)
            lines.append(f"{mod:<13} {getattr(m, '__version__', 'ok')}")
        except Exception as e:
            ok = ok and mod != "PySide6"
            lines.append(f"{mod:<13} missing ({e})")
    return "\n".join(lines), ok
