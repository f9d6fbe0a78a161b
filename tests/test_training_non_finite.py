"""A diverging run stops with a message naming where and why, and never keeps a non-finite epoch
as best.pt (issue 14, item 18). Real tiny runs of rpn_classic on the demo project."""
from __future__ import annotations

import math

import pytest
import torch

import core.models.registry as registry
from core.project import Project
from core.training import TrainingError
from core.training.checkpoint import load_checkpoint
from core.training.trainer import Trainer, TrainSettings

torch.set_num_threads(2)


def _settings(**kw) -> TrainSettings:
    return TrainSettings(**{"model": "rpn_classic", "image_size": 96, "batch_size": 2, "weights": "none",
                            "augment": "none", "evaluate_ap": False, "warmup_iters": 1, **kw})


def _poison(monkeypatch, when) -> None:
    """Models whose loss term `when(term, grad_enabled, calls)` is made NaN (calls: forward passes so far)."""
    real_build = registry.build_model

    def build(*args, **kwargs):
        built = real_build(*args, **kwargs)
        forward, calls = built.model.forward, [0]

        def poisoned(images, targets=None):
            out = forward(images, targets)
            calls[0] += 1
            if isinstance(out, dict):
                out = {k: v * float("nan") if when(k, torch.is_grad_enabled(), calls[0]) else v for k, v in out.items()}
            return out
        built.model.forward = poisoned
        return built

    monkeypatch.setattr(registry, "build_model", build)


def test_nan_learning_rate_is_refused_before_training(demo_project, tmp_path):
    events: list[dict] = []
    with pytest.raises(TrainingError, match="learning rate nan is not a finite number"):
        Trainer(Project.open(demo_project), _settings(lr=float("nan"), epochs=1, max_iters=1),
                run_dir=tmp_path / "run", on_event=events.append).run()
    assert events[-1]["type"] == "error" and "--lr" in events[-1]["hint"]
    assert not any((tmp_path / "run").glob("*.pt"))


def test_non_finite_term_names_the_term_the_iteration_and_the_lr(demo_project, tmp_path, monkeypatch):
    _poison(monkeypatch, lambda term, grad, calls: term == "loss_rpn_box_reg" and calls == 2)
    with pytest.raises(TrainingError) as info:
        Trainer(Project.open(demo_project), _settings(epochs=1, lr=0.02), run_dir=tmp_path / "run").run()
    message = str(info.value)
    assert "iteration 2" in message and "non-finite: loss_rpn_box_reg;" in message, message
    assert "lr 0.02" in message and "loss_objectness=" in message and "loss_rpn_box_reg=nan" in message
    assert not any((tmp_path / "run").glob("*.pt"))


def test_a_diverged_epoch_is_never_best(demo_project, tmp_path, monkeypatch):
    """Epoch 1 is fine; the validation of epoch 2 is NaN (the weights diverged during it): the run
    stops with that reason, and best.pt and last.pt stay epoch 1's, with finite weights."""
    diverged = [False]  # set once epoch 1 has been reported: every later validation pass is NaN
    _poison(monkeypatch, lambda term, grad_enabled, calls: diverged[0] and not grad_enabled)
    events: list[dict] = []
    project = Project.open(demo_project)

    def sink(event):
        events.append(event)
        diverged[0] = diverged[0] or event["type"] == "epoch"

    with pytest.raises(TrainingError, match=r"validation loss of epoch 2 is nan .*best.pt from epoch 1 is kept"):
        Trainer(project, _settings(epochs=3, lr=0.01, early_stop_patience=0), run_dir=tmp_path / "run",
                on_event=sink).run()
    epochs = [e for e in events if e["type"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1] and epochs[0]["best"] and math.isfinite(epochs[0]["val_loss"])
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    assert best["epoch"] == last["epoch"] == 1 and best["best_epoch"] == 1
    assert all(torch.isfinite(v).all() for v in best["model"].values() if v.is_floating_point())
