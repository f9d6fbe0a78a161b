"""`main.py doctor` and the torch / torchvision pair check."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path


import core.torch_check as torch_check
from core.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_doctor_reports_versions_ops_device_and_weights():
    out = subprocess.run([sys.executable, str(ROOT / "main.py"), "doctor"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for word in ("torch", "torchvision", "compiled ops  ok", "train device", "weights from"):
        assert word in out.stdout


def test_mismatched_pair_stops_every_command_with_a_fix(monkeypatch, capsys):
    import torchvision.ops

    def broken(*a, **k):
        raise RuntimeError("operator torchvision::nms does not exist")

    monkeypatch.setattr(torchvision.ops, "nms", broken)
    problem = torch_check.torch_problem()
    assert "do not work together" in problem and "pip install --force-reinstall torch torchvision" in problem
    assert main(["stats", "--project", "/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert "torchvision::nms does not exist" in err and "Reinstall torch and torchvision together" in err
    report, ok = torch_check.doctor_report()
    assert not ok and "BROKEN" in report


def test_demo_command(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "main.py"), "demo", str(tmp_path / "d"), "--images", "3"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert len(list((tmp_path / "d").glob("*.jpg"))) == 3
