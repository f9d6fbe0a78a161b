"""The one place where torch and torchvision are imported, once, under one lock.

Python's import locks are per module. When two threads import torch-using modules at the same
time (the window's start-up check on its thread, a dock on the GUI thread), each can be handed
the other's half-built module: "cannot import name 'StochasticDepth' from partially initialized
module 'torchvision.ops'". So every thread calls `load_torch()` before it imports a module that
imports torch (core.training.*, core.models.* but specs, core.anchors.* but config and boxes):
the first caller imports both packages completely while the others wait, later callers return at
once. The CLI is single-threaded and needs no loader, but going through it is harmless.
"""
from __future__ import annotations

import threading
from types import ModuleType

_LOCK = threading.RLock()  # re-entrant: an import done under the lock may call load_torch() again
_modules: tuple[ModuleType, ModuleType] | None = None
_failure: "TorchImportError | None" = None

# what an import error says when torchvision's compiled library does not fit the installed torch
_MISMATCH_SIGNS = ("torchvision::", "undefined symbol", "_C.so", "image.so", "Could not run")


class TorchImportError(ImportError):
    """torch or torchvision cannot be imported. `mismatch` is True when the cause is a
    torchvision built for another torch (its compiled operators fail), not some other problem."""

    def __init__(self, message: str, mismatch: bool = False):
        super().__init__(message)
        self.mismatch = mismatch


def looks_like_mismatch(error: BaseException) -> bool:
    """Whether an error raised by torchvision's compiled part means "built for another torch"."""
    text = f"{type(error).__name__}: {error}"
    return any(sign in text for sign in _MISMATCH_SIGNS)


def _describe(error: BaseException) -> str:
    first = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def load_torch() -> tuple[ModuleType, ModuleType]:
    """(torch, torchvision), imported completely by the first caller; TorchImportError when they
    cannot be (the same error again on every later call, without a second attempt)."""
    global _modules, _failure
    if _modules is not None:
        return _modules
    with _LOCK:
        if _modules is not None:
            return _modules
        if _failure is not None:
            raise _failure
        try:
            import torch
        except Exception as e:  # ImportError, or a broken binary raising OSError
            _failure = TorchImportError(f"torch cannot be imported ({_describe(e)})")
            raise _failure from e
        try:
            import torchvision
        except Exception as e:
            mismatch = looks_like_mismatch(e)
            what = "was built for another torch" if mismatch else "cannot be imported"
            _failure = TorchImportError(f"torchvision {what} ({_describe(e)}); torch {torch.__version__} "
                                        "imported fine", mismatch=mismatch)
            raise _failure from e
        _modules = (torch, torchvision)
        return _modules


def torch_loaded() -> bool:
    """True once `load_torch()` has succeeded (then torch-using modules import without waiting)."""
    return _modules is not None
