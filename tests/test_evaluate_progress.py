"""`evaluate` and `predict` say up front how long they will take and show progress: JSON lines with
--json-progress, a tqdm bar on a terminal, a line per image otherwise (issue 14, item 19)."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

import core.training.progress as progress_module
from core.cli import main as cli_main
from core.project import Project
from core.training.progress import ImageProgress, TerminalProgress, format_duration
from core.training.trainer import Trainer, TrainSettings

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, demo_template) -> tuple[Path, Path]:
    """The demo project and a one-iteration rpn_classic checkpoint of it."""
    import shutil

    project_dir = tmp_path_factory.mktemp("progress") / "demo"
    shutil.copytree(demo_template, project_dir)
    s = TrainSettings(model="rpn_classic", epochs=1, max_iters=1, image_size=96, batch_size=2, weights="none",
                      augment="none", evaluate_ap=False)
    result = Trainer(Project.open(project_dir), s, run_dir=project_dir / "runs" / "r").run()
    return project_dir, result.last_checkpoint


def _events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_evaluate_json_progress_estimates_then_counts_then_scores(trained, capsys):
    project, checkpoint = trained
    assert cli_main(["evaluate", "--checkpoint", str(checkpoint), "--project", str(project), "--split", "train",
                     "--device", "cpu", "--json-progress"]) == 0
    out = capsys.readouterr().out
    events = _events(out)
    assert len(events) == len(out.splitlines())  # nothing but JSON lines on stdout
    begin, estimate, *images, result = events
    total = begin["images"]
    assert begin["type"] == "begin" and begin["task"] == "evaluate" and begin["split"] == "train" and total >= 2
    assert begin["device"] == "cpu"
    assert estimate["type"] == "estimate" and estimate["first_image_s"] > 0
    assert estimate["expected_s"] == pytest.approx(estimate["first_image_s"] * total, abs=0.1)
    assert [e["done"] for e in images] == list(range(1, total + 1))
    assert all(e["type"] == "image" and e["total"] == total and e["image"] for e in images)
    assert images[-1]["eta_s"] == 0 and images[-1]["elapsed_s"] >= estimate["first_image_s"]
    assert result["type"] == "result" and set(result["metrics"]) == {"recall"}


def test_predict_json_progress(trained, capsys):
    project, checkpoint = trained
    assert cli_main(["predict", "--checkpoint", str(checkpoint), "--project", str(project), "--device", "cpu",
                     "--json-progress", "--score", "0.9", "--images", "street_000.jpg", "street_001.jpg"]) == 0
    events = _events(capsys.readouterr().out)
    assert [e["type"] for e in events] == ["begin", "estimate", "image", "image", "result"]
    assert [e["image"] for e in events if e["type"] == "image"] == ["street_000.jpg", "street_001.jpg"]
    assert events[-1]["written"] == 2


def test_json_progress_failure_is_one_error_event(trained, tmp_path, capsys):
    project, _ = trained
    missing = tmp_path / "missing.pt"
    assert cli_main(["evaluate", "--checkpoint", str(missing), "--project", str(project), "--json-progress"]) == 1
    events = _events(capsys.readouterr().out)
    assert [e["type"] for e in events] == ["error"] and "missing.pt" in events[0]["message"]


def test_estimate_extrapolates_the_first_image_and_eta_follows_the_later_ones(monkeypatch):
    clock = iter([10.0, 12.0, 13.0, 14.5, 15.5])  # start, then after images 1..4
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: next(clock))
    events: list[dict] = []
    report = ImageProgress("evaluate", events.append)
    for done, name in enumerate(["", "a", "b", "c", "d"]):
        report(done, 4, name)
    assert events[1] == {"type": "estimate", "task": "evaluate", "images": 4, "first_image_s": 2.0, "expected_s": 8.0}
    assert [e["eta_s"] for e in events[2:]] == [6.0, 2.0, 1.2, 0.0]  # 3 x 2 s; then 1, 1.25, 1.17 s per later image


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_shows_a_bar_and_the_estimate():
    stream = _Terminal()
    sink = TerminalProgress(stream)
    report = ImageProgress("predict", sink, device="cpu")
    for done in range(4):
        report(done, 3, f"img{done}.jpg")
    text = stream.getvalue()
    assert text.startswith("predict: 3 images on cpu\n")
    assert "expected to take about" in text and "3/3" in text and "img/s" in text or "s/img" in text

    plain = io.StringIO()  # not a terminal (a log file, the GUI): a line per image, no bar
    report = ImageProgress("predict", TerminalProgress(plain))
    for done in range(3):
        report(done, 2, f"img{done}.jpg")
    lines = plain.getvalue().splitlines()
    assert lines[0] == "predict: 2 images" and lines[1].startswith("expected to take about")
    assert lines[2].startswith("[1/2] img1.jpg (about ") and lines[3] == "[2/2] img2.jpg (about 0.0 s left)"


@pytest.mark.parametrize("seconds, text", [(4.26, "4.3 s"), (42, "42 s"), (125, "2 min 05 s"), (7300, "2 h 01 min")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
