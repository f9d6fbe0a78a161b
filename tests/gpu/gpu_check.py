"""GPU readiness in one table (issue 11): for each model, training iterations in float32 and under
bf16 autocast (the engine's channels-last), images/s beside the torchvision-tutorial loop on the
same data in the same run, peak memory, the preview-equals-training check on the device,
evaluate and predict; then `torchrun --nproc_per_node=1` (NCCL on a GPU, gloo on the CPU).

    python tests/gpu/gpu_check.py            # CUDA, each model at its own input size (tests/gpu/check.sh)
    python tests/gpu/gpu_check.py --cpu      # the same end to end on the CPU, tiny sizes and iterations

Exit code 0 when every check passed, 1 otherwise; --json writes the rows too.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.anchors.commands import preview_image  # noqa: E402
from core.demo import generate_demo  # noqa: E402
from core.models.registry import MODEL_NAMES, model_spec  # noqa: E402
from core.project import Project  # noqa: E402
from core.training.evaluate import evaluate_checkpoint, headline  # noqa: E402
from core.training.predict import load_predictor, write_project_predictions  # noqa: E402
from core.training.progress import ImageProgress  # noqa: E402
from core.training.trainer import Trainer, TrainSettings  # noqa: E402
from tests.anchor_training_probe import SEED, make_car_project  # noqa: E402
from tests.bench.bench_training import engine_train, tutorial_train  # noqa: E402

CAR_PHOTOS = ["car_0.png", "car_1.jpeg", "car_10.jpg", "car_8.jpg"]
EXIF_COPY = "exif6_car_8.jpg"


@dataclass
class Plan:
    device: torch.device
    iters: int
    batch: int
    sizes: dict[str, int | None]  # model -> input size (None: the model's own)
    equality_photos: int  # photos per model for the preview check
    demo_images: int  # trained on, evaluated and predicted


def gpu_plan(iters: int) -> Plan:
    return Plan(torch.device("cuda"), iters, 4, {m: None for m in MODEL_NAMES}, len(CAR_PHOTOS) + 1, 8)


def cpu_plan(iters: int) -> Plan:
    return Plan(torch.device("cpu"), iters, 2, {m: 96 for m in MODEL_NAMES}, 1, 3)


def peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource  # POSIX; the CPU figure is the process's peak resident size so far

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


# -- the preview equals training, on the device -------------------------------------------------
class _Stop(Exception):
    pass


def device_targets(run: Any, index: int, dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    """A real training forward pass of train image `index` on the run's device (autocast to `dtype`
    when given) up to the RPN's sampling: its labels, ground-truth boxes and sampled anchors."""
    model, device = run.learner.model, run.device
    rpn, got = model.rpn, {}
    assign, sampler = rpn.assign_targets_to_anchors, rpn.fg_bg_sampler

    def assign_hook(anchors, targets):
        labels, matched = assign(anchors, targets)
        got["labels"], got["boxes"] = labels[0].cpu(), targets[0]["boxes"].cpu()
        return labels, matched

    def sampler_hook(labels):
        torch.manual_seed(SEED)
        pos, neg = sampler(labels)
        got["pos"], got["neg"] = pos[0].bool().cpu(), neg[0].bool().cpu()
        raise _Stop

    rpn.assign_targets_to_anchors, rpn.fg_bg_sampler = assign_hook, sampler_hook
    image, target = run.data.train_ds[index]
    model.train()
    try:
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            model([image.to(device)], [{k: v.to(device) for k, v in target.items()}])
    except _Stop:
        pass
    finally:
        del rpn.assign_targets_to_anchors
        rpn.fg_bg_sampler = sampler
    return got


def preview_equals_training(project: Project, model: str, plan: Plan) -> str:
    """"ok N/N" when the labels and boxes of every photo agree anchor for anchor in float32 and
    under bf16 autocast (and, on the CPU, the sampled mini-batch; CUDA draws other random numbers,
    so there only the sampled counts must agree); else what differed."""
    settings = TrainSettings(model=model, weights="none", augment="none", device=plan.device.type, seed=0, workers=0)
    run = Trainer(project, settings)._prepare(plan.device, resume=None)  # as tests/anchor_training_probe.py
    names = run.data.train_ds.images[:plan.equality_photos]
    problems, checked = [], 0
    for name in names:
        preview = preview_image(project, Path(name), None, model, seed=SEED).preview
        for precision, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
            got = device_targets(run, run.data.train_ds.images.index(name), dtype)
            labels = got["labels"].numpy()
            differ = int((labels != preview.labels).sum()) if labels.shape == preview.labels.shape else -1
            boxes_equal = got["boxes"].dtype == torch.float32 and bool(
                (got["boxes"].numpy() == preview.gt_boxes_input).all())
            sampled = (got["pos"] | got["neg"]).numpy()
            if plan.device.type == "cpu":
                sample_ok = bool((sampled == preview.sampled).all())
            else:
                shown = preview.labels[preview.sampled]
                sample_ok = int(got["pos"].sum()) == int((shown == 1).sum()) and int(got["neg"].sum()) == int((shown == 0).sum())
            checked += 1
            if differ or not boxes_equal or not sample_ok:
                problems.append(f"{name} {precision}: {differ} labels, boxes {'=' if boxes_equal else '!='}, "
                                f"sample {'=' if sample_ok else '!='}")
    del run
    return f"ok {checked}/{checked}" if not problems else "FAIL " + "; ".join(problems)


# -- evaluate and predict ----------------------------------------------------------------------
def evaluate_and_predict(project: Project, checkpoint: Path, device: torch.device) -> tuple[str, str]:
    times: dict[str, list[float]] = {"evaluate": [], "predict": []}

    def timer(task: str) -> ImageProgress:
        return ImageProgress(task, lambda e: times[task].append(e["elapsed_s"]) if e["type"] == "image" else None)

    metrics = evaluate_checkpoint(checkpoint, project, split="train", device=device.type, progress=timer("evaluate"))
    score = headline(metrics)
    predictor = load_predictor(checkpoint, device.type)
    names = [p.as_posix() for p in project.image_paths()]
    report = timer("predict")
    report(0, len(names), "")
    written = write_project_predictions(predictor, project, names, 0.5, progress=report)
    per_image = {k: v[-1] / len(v) if v else float("nan") for k, v in times.items()}
    kind = "AP" if "segm" in metrics or "bbox" in metrics else "R@100"
    evaluate = f"{kind} {score:.2f} {per_image['evaluate'] * 1000:.0f}ms/img" if score is not None else "no score"
    predict = f"{len(written)} files {per_image['predict'] * 1000:.0f}ms/img"
    return evaluate, predict


# -- torchrun ----------------------------------------------------------------------------------
def torchrun_check(project: Project, plan: Plan, run_dir: Path) -> str:
    """`torchrun --nproc_per_node=1 main.py train`: one process under DDP over NCCL (gloo on the CPU)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NCCL_DEBUG": "INFO", "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
               str(ROOT / "main.py"), "train", "--project", str(project.root), "--model", "mininet_r18_fpn",
               "--epochs", "1", "--max-iters", str(plan.iters), "--batch-size", str(plan.batch), "--weights", "none",
               "--augment", "none", "--device", plan.device.type, "--out", str(run_dir), "--json-progress"]
    if plan.sizes["mininet_r18_fpn"]:
        command += ["--image-size", str(plan.sizes["mininet_r18_fpn"])]
    t0 = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=400)
    seconds = time.perf_counter() - t0
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    done = [e for e in events if e["type"] == "done"]
    if proc.returncode != 0 or not done or done[-1]["status"] != "finished" or not (run_dir / "last.pt").exists():
        return f"FAIL exit {proc.returncode}: {(proc.stderr or proc.stdout)[-400:]!r}"
    rates = [e["images_per_s"] for e in events if e["type"] == "iter"]
    backend = "nccl" if "NCCL INFO" in proc.stderr + proc.stdout else ("gloo" if plan.device.type == "cpu" else "no NCCL seen")
    if plan.device.type == "cuda" and backend != "nccl":
        return f"FAIL: finished but NCCL never initialised ({seconds:.0f}s)"
    return f"ok {backend} {rates[-1]:.1f}img/s {seconds:.0f}s"


# -- the table ---------------------------------------------------------------------------------
COLUMNS = [("model", 26), ("px", 5), ("fp32 img/s", 11), ("bf16 img/s", 11), ("tutorial", 9), ("x tut", 6),
           ("peak MB fp32/bf16", 18), ("preview=training", 17), ("evaluate", 20), ("predict", 20)]


def print_table(rows: list[dict[str, Any]], torchrun: str, header: str) -> None:
    print("\n" + header)
    print(" ".join(f"{name:<{width}}" for name, width in COLUMNS))
    print(" ".join("-" * width for _, width in COLUMNS))
    for row in rows:
        print(" ".join(f"{str(row.get(name, '-')):<{width}}" for name, width in COLUMNS))
    print(f"{'torchrun --nproc_per_node=1 (mininet_r18_fpn)':<{COLUMNS[0][1] + COLUMNS[1][1] + 1}} {torchrun}")


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def check_model(name: str, plan: Plan, project: Project, images: list[str], equality_project: Project,
                tmp: Path) -> dict[str, Any]:
    spec = model_spec(name)
    size = plan.sizes[name] or spec.default_min_size
    row: dict[str, Any] = {"model": name, "px": size}
    device = plan.device
    rates: dict[str, float] = {}
    peaks = []
    for precision, amp in (("fp32", False), ("bf16", True)):
        if precision == "bf16" and device.type != "cuda":
            row["bf16 img/s"] = "cuda only"
            continue
        reset_peak(device)
        rates[precision] = engine_train(project, name, plan.batch, plan.iters, device, size,
                                        tmp / f"{name}-{precision}", amp=amp)
        peaks.append(f"{peak_mb(device):.0f}")
        row[f"{precision} img/s"] = fmt(rates[precision])
    row["peak MB fp32/bf16"] = "/".join(peaks)
    tutorial = tutorial_train(project, images, name, plan.batch, plan.iters, device, size)
    row["tutorial"] = fmt(tutorial)
    row["x tut"] = f"{max(rates.values()) / tutorial:.2f}"
    row["preview=training"] = preview_equals_training(equality_project, name, plan)
    row["evaluate"], row["predict"] = evaluate_and_predict(project, tmp / f"{name}-fp32" / "last.pt", device)
    return row


def equality_project(data: Path, tmp: Path, fallback: Project) -> tuple[Project, str]:
    source = data / "car_damage_via"
    if not source.is_dir():
        return fallback, f"preview check on the demo project ({source} is absent)"
    project = make_car_project(tmp / "cars", source, CAR_PHOTOS, exif_copy_of="car_8.jpg")
    return project, f"preview check on {len(CAR_PHOTOS) + 1} car_damage_via photos (one EXIF-rotated)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true", help="run on the CPU with tiny sizes and iterations")
    ap.add_argument("--models", nargs="*", default=list(MODEL_NAMES))
    ap.add_argument("--iters", type=int, default=None, help="timed iterations per run (default 20 GPU, 1 CPU)")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="real photos (car_damage_via)")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    if not args.cpu and not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU is usable here; run with --cpu for the CPU version", file=sys.stderr)
        return 2
    plan = cpu_plan(args.iters or 1) if args.cpu else gpu_plan(args.iters or 20)
    if args.cpu:
        torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    device_name = torch.cuda.get_device_name(0) if plan.device.type == "cuda" else "CPU"
    header = (f"Masklab GPU check on {device_name}: torch {torch.__version__}, batch {plan.batch}, "
              f"{plan.iters} timed iterations after 1 warm-up"
              + ("; engine channels-last, bf16 = the engine's autocast" if plan.device.type == "cuda" else ""))
    rows, failed, t_start = [], False, time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        project = generate_demo(tmp / "demo", n_images=plan.demo_images, seed=0, unlabelled=0, negatives=0)
        images = [p.as_posix() for p in project.image_paths()]
        project.settings["split"] = {"seed": 0, "ratios": {}, "assign": {i: "train" for i in images}}
        project.save()
        cars, where = equality_project(args.data, tmp, project)
        header += f"; {where}"
        for name in args.models:
            t0 = time.perf_counter()
            try:
                row = check_model(name, plan, project, images, cars, tmp)
            except Exception as e:  # one model's failure still leaves the others' rows
                traceback.print_exc()
                row = {"model": name, "fp32 img/s": f"FAIL {type(e).__name__}: {e}"[:60]}
            row["seconds"] = round(time.perf_counter() - t0, 1)
            failed |= any(str(v).startswith("FAIL") for v in row.values()) or "evaluate" not in row
            rows.append(row)
            print(f"[{time.perf_counter() - t_start:5.0f}s] {json.dumps(row)}", flush=True)
        try:
            torchrun = torchrun_check(project, plan, tmp / "torchrun")
        except Exception as e:
            torchrun = f"FAIL {type(e).__name__}: {e}"
        failed |= torchrun.startswith("FAIL")
    print_table(rows, torchrun, header)
    print(f"total {time.perf_counter() - t_start:.0f}s: {'FAILED' if failed else 'all checks passed'}")
    if args.json:
        args.json.write_text(json.dumps({"header": header, "rows": rows, "torchrun": torchrun}, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
