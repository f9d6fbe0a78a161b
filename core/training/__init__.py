"""Training engine: dataset, split, transforms, trainer, evaluation, prediction, CLI handlers.

Imports torch; nothing here imports Qt."""
from __future__ import annotations

from core.errors import MasklabError


class TrainingError(MasklabError):
    """Training, evaluation or prediction cannot go on; `hint` says what the user can do."""

    def __init__(self, path, reason: str, hint: str = ""):
        super().__init__(path, reason)
        self.hint = hint
