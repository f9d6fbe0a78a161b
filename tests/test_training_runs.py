"""Reading run folders without torch: summaries, curves (also of resumed runs), deletion."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import ProjectError
from core.training.runs import (BEST, LAST, TOTAL, RunCurves, delete_run, epoch_metric, list_runs,
                                overfitting_since, read_run)


def _epoch(epoch: int, train: float, val: float | None, best: bool, ap: float | None = None, **extra) -> dict:
    metrics = {"segm": {"AP": ap}, "bbox": {"AP": ap}} if ap is not None else None
    return {"type": "epoch", "epoch": epoch, "train_loss": train, "val_loss": val, "metrics": metrics,
            "score": ap if ap is not None else -(val or train), "best": best, **extra}


def _iter(epoch: int, iteration: int, per_epoch: int, loss: float) -> dict:
    return {"type": "iter", "epoch": epoch, "iteration": iteration, "iters_per_epoch": per_epoch,
            "global_iteration": (epoch - 1) * per_epoch + iteration, "loss": loss,
            "losses": {"loss_a": loss * 0.75, "loss_b": loss * 0.25}}


def _write_run(root: Path, name: str, events: list[dict], settings: dict | None = None, tail: str = "") -> Path:
    run = root / "runs" / name
    run.mkdir(parents=True)
    (run / "settings.json").write_text(json.dumps({"settings": settings or {"model": "mininet_r18_fpn", "lr": 0.01},
                                                   "device": "cpu", "weights_source": "offline: ..."}))
    (run / "events.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\n" + tail)
    return run


def test_summary_follows_the_epoch_best_pt_holds(tmp_path):
    events = [{"type": "start", "settings": {"early_stop_patience": 5}},
              _epoch(1, 2.0, 1.5, True, ap=0.10), _epoch(2, 1.5, 1.2, True, ap=0.08), _epoch(3, 1.2, 1.4, False, ap=0.3)]
    run = read_run(_write_run(tmp_path, "20260101-000000-mininet_r18_fpn", events, tail='{"type": "do'))
    assert (run.model, run.epochs_done, run.status, run.device) == ("mininet_r18_fpn", 3, "incomplete", "cpu")
    # best.pt follows the validation loss (the trainer's default): epoch 2, whose AP is 0.08
    assert (run.best_epoch, run.best_score, run.best_score_name) == (2, 0.08, "mask AP")
    assert run.score_text() == "mask AP 0.080 (epoch 2)"
    assert run.checkpoint_for_review() is None
    (run.path / LAST).write_bytes(b"x")
    assert run.checkpoint_for_review() == run.path / LAST
    (run.path / BEST).write_bytes(b"x")
    assert run.checkpoint_for_review() == run.path / BEST


def test_runs_without_metrics_show_the_validation_loss_and_finished_or_failed_status(tmp_path):
    a = _write_run(tmp_path, "20260101-000001-rpn_classic", [_epoch(1, 2.0, 1.75, True), {"type": "done", "status": "finished"}],
                   settings={"model": "rpn_classic", "rpn_loss": "cls"})
    b = _write_run(tmp_path, "20260101-000002-rpn_classic", [{"type": "error", "message": "boom"}],
                   settings={"model": "rpn_classic"})
    (tmp_path / "runs" / "not-a-run").mkdir()
    runs = list_runs(tmp_path)
    assert [r.path for r in runs] == [b, a]  # newest first; folders without settings.json are no runs
    assert runs[0].status == "failed" and runs[1].status == "finished"
    assert runs[1].score_text() == "val loss 1.750 (epoch 1)" and "loss cls" in runs[1].settings_text()
    bad = _write_run(tmp_path, "20260101-000003-x", [])
    (bad / "settings.json").write_text("{not json")
    assert read_run(bad).status == "unreadable settings.json"
    assert list_runs(tmp_path / "elsewhere") == []


def test_curves_place_iterations_at_fractional_epochs_and_mark_best_and_overfitting(tmp_path):
    events = [{"type": "start", "settings": {"early_stop_patience": 2}},
              *[_iter(e, i, 2, 3.0 - e - i / 10) for e in (1, 2, 3, 4) for i in (1, 2)],
              _epoch(1, 2.0, 1.0, True, best_epoch=1), _epoch(2, 1.8, 1.1, False, best_epoch=1),
              _epoch(3, 1.6, 1.3, False, best_epoch=1), {"type": "iter", "epoch": 4, "iteration": 1,
                                                          "iters_per_epoch": 2, "loss": "nan", "losses": {}}]
    curves = RunCurves.read(_write_run(tmp_path, "20260101-000000-m", events))
    xs, ys = curves.losses[TOTAL]
    assert xs[:4] == [0.5, 1.0, 1.5, 2.0] and ys[0] == pytest.approx(1.9)
    assert set(curves.losses) == {TOTAL, "loss_a", "loss_b"}  # "nan" (a string in JSON) is left out
    assert [p.epoch for p in curves.epochs] == [1, 2, 3] and curves.best_epoch == 1
    # no "overfitting" event in this file: the same rule as the trainer's, on the epochs read
    assert curves.overfitting_epoch == 1 == overfitting_since(
        [{"epoch": p.epoch, "train_loss": p.train_loss, "val_loss": p.val_loss} for p in curves.epochs], 2)
    live = RunCurves()
    live.add({"type": "overfitting", "since_epoch": 7})
    live.add(_epoch(8, 1.0, 2.0, False))
    assert live.overfitting_epoch == 7  # the trainer's word wins


def test_a_resumed_run_drops_the_unfinished_epoch_it_trains_again(tmp_path):
    events = [{"type": "start"}, _iter(1, 1, 2, 2.0), _iter(1, 2, 2, 1.9), _epoch(1, 1.9, 1.8, True),
              _iter(2, 1, 2, 1.7),  # cancelled here: epoch 2 is trained again after the resume
              {"type": "start", "resumed_from_epoch": 1}, _iter(2, 1, 2, 1.6), _iter(2, 2, 2, 1.5),
              _epoch(2, 1.55, 1.6, True)]
    curves = RunCurves.read(_write_run(tmp_path, "20260101-000000-m", events))
    xs, ys = curves.losses[TOTAL]
    assert xs == [0.5, 1.0, 1.5, 2.0] and ys == [2.0, 1.9, 1.6, 1.5]
    assert [p.epoch for p in curves.epochs] == [1, 2] and curves.best_epoch == 2


def test_epoch_metric_prefers_mask_ap_then_box_ap_then_recall():
    assert epoch_metric({"metrics": {"segm": {"AP": 0.4}, "bbox": {"AP": 0.5}}}) == (0.4, "mask AP")
    assert epoch_metric({"metrics": {"segm": {"AP": None}, "bbox": {"AP": 0.5}}}) == (0.5, "box AP")
    assert epoch_metric({"metrics": {"recall": {"R@100_IoU0.5": 0.7}}})[0] == 0.7
    assert epoch_metric({"metrics": None}) == (None, "")


def test_delete_run_refuses_what_is_not_a_run_of_the_project(tmp_path):
    run = _write_run(tmp_path, "20260101-000000-m", [])
    other = _write_run(tmp_path / "other", "20260101-000000-m", [])
    with pytest.raises(ProjectError, match="not a run folder"):
        delete_run(tmp_path, other)
    with pytest.raises(ProjectError, match="not a run folder"):
        delete_run(tmp_path, tmp_path / "runs")
    delete_run(tmp_path, run)
    assert not run.exists() and other.exists()
