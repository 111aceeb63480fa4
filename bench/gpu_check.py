"""``make gpu-check``: one prepared script for a CUDA machine; every step time-limited.

Steps (each a subprocess with its own time limit; a failing or slow step is reported
in the table and the rest still run):

1. the machine: GPU, driver, torch, CUDA and cuDNN versions;
2. the CUDA-marked tests (``pytest -m cuda tests``);
3. MNIST to 98% test accuracy with the data on the GPU (``bench.mnist_speed``);
4. each example (mnist, char_rnn, translation) for a few seconds on ``--device``;
5. benchmarks 1-5 (``python -m bench --only N --device cuda``; cuDNN is the LSTM reference).

It installs nothing and needs no network.  The table (markdown), the benchmark tables
and a log of every step's output go to ``--out`` (default ``bench/gpu/``).  Dry run on a
machine without a GPU: ``python -m bench.gpu_check --device cpu --tiny --out /tmp/gpu``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch

from bench._harness import Result, machine, table
from bench.mnist_speed import mnist_folder

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


@dataclass
class Step:
    """One step of the check: a command, its time limit, and how to read what it printed."""

    name: str
    argv: list[str]
    limit: float
    read: str = "tail"  # tail | pytest | bench | mnist
    json_path: Path | None = None
    status: str = "not run"
    seconds: float = 0.0
    detail: str = ""
    rows: list[dict] = field(default_factory=list)


def run_step(step: Step, limit: float, log) -> None:
    """Run ``step`` for at most ``limit`` seconds; fill in its status, time and detail."""
    log.write(f"\n===== {step.name}: {' '.join(step.argv)} (limit {limit:.0f} s)\n")
    log.flush()
    start = time.perf_counter()
    proc = subprocess.Popen(
        step.argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True, env=child_env(),
    )
    try:
        output, _ = proc.communicate(timeout=limit)
        step.status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the step and anything it started
        output, _ = proc.communicate()
        step.status = f"TIMEOUT after {limit:.0f} s"
    step.seconds = time.perf_counter() - start
    log.write(output)
    log.flush()
    lines = [line for line in output.splitlines() if line.strip()]
    step.detail = lines[-1][:200] if lines else ""
    try:
        globals()[f"_read_{step.read}"](step, lines)
    except Exception as err:  # a step's odd output must not stop the check
        step.detail = f"could not read the output ({type(err).__name__}: {err}); last line: {step.detail}"


def _read_tail(step: Step, lines: list[str]) -> None:
    pass


def _read_pytest(step: Step, lines: list[str]) -> None:
    summary = next((line for line in reversed(lines) if " in " in line and ("passed" in line or "skipped" in line or "failed" in line or "error" in line)), None)
    step.detail = (summary or step.detail).strip("= ")
    if step.status.startswith("FAILED (exit 5)"):
        step.status, step.detail = "skipped", "no CUDA-marked tests collected"


def _read_bench(step: Step, lines: list[str]) -> None:
    step.rows = json.loads(step.json_path.read_text(encoding="utf-8"))
    parts = []
    for row in step.rows:
        if row["ratio"] is not None:
            parts.append(f"{row['case']}: {row['ratio']:.2f}{' ' + row['verdict'] if row['verdict'] else ''}")
        elif row["note"].startswith(("skipped", "failed")):
            parts.append(f"{row['case']}: {row['note']}")
    step.detail = "; ".join(parts)
    if any(row["note"].startswith("failed") for row in step.rows):
        step.status = "FAILED"


def _read_mnist(step: Step, lines: list[str]) -> None:
    result = json.loads(step.json_path.read_text(encoding="utf-8"))
    if result["status"] == "skipped":
        step.status, step.detail = "skipped", result["why"]
        return
    reached = result["reached"]
    if reached:
        verdict = "met" if reached["seconds"] < 5 else "MISSED (over 5 s)"
        step.detail = (
            f"{reached['accuracy']:.2%} test accuracy after {reached['epoch']} epochs, "
            f"{reached['seconds']:.2f} s of training: {verdict}"
        )
    else:
        step.detail = (
            f"goal {result['goal']:.0%} not reached: best {result['best_accuracy']:.2%} in "
            f"{result['epochs_run']} epochs, {result['train_seconds']:.2f} s"
        )
    step.detail += f" ({result['source']})"


# Per example: the flags for a run of a few seconds (from each script's argparse), then tiny ones.
EXAMPLE_FLAGS = {
    "mnist": ({"--epochs": "1"}, {"--epochs": "1"}),
    "char_rnn": (  # the real shape (two LSTMs of 256, 50 steps, batches of 50) on a short text
        {"--epochs": "1", "--chars": "30000", "--sample": "100"},
        {"--epochs": "1", "--chars": "4000", "--hidden": "16", "--nunroll": "10", "--nbatch": "4", "--sample": "40"},
    ),
    "translation": (
        {"--epochs": "2", "--steps": "30"},
        {"--epochs": "1", "--length": "3", "--hidden": "16", "--steps": "10", "--batch": "8"},
    ),
}


def child_env() -> dict[str, str]:
    """The environment for steps: this checkout's fluxtorch first on the path, output unbuffered."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


def example_flags(script: Path, device: str, scratch: Path, tiny: bool) -> list[str] | None:
    """The flags that make ``script`` a run of a few seconds, kept to those its --help lists."""
    try:
        shown = subprocess.run(
            [PY, str(script), "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60, env=child_env()
        ).stdout
    except subprocess.TimeoutExpired:
        return None
    full, small = EXAMPLE_FLAGS.get(script.stem, ({"--epochs": "1"}, {"--epochs": "1"}))
    wanted: dict[str, str | None] = {
        "--device": device, **(small if tiny else full), "--plot": str(scratch / f"{script.stem}.png"),
        "--no-progress": None,
    }
    if script.stem == "mnist":
        folder = mnist_folder(None)
        if folder is not None:
            wanted["--data"] = str(folder)
        else:
            wanted["--offline"] = None
    listed = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", shown))
    flags: list[str] = []
    for flag, value in wanted.items():
        if flag in listed:
            flags += [flag] if value is None else [flag, value]
    return flags


def plan(device: str, tiny: bool, scratch: Path) -> list[Step]:
    """Every step, in the order they run, with its time limit in seconds."""
    quick = ["--quick"] if tiny else []
    steps = [
        Step(  # -v: each test's outcome reaches the log as it ends, so a timeout still shows which passed
            "CUDA-marked tests", [PY, "-m", "pytest", "-m", "cuda", "-v", "-p", "no:cacheprovider", "tests"], 150, "pytest",
        ),
        Step(
            "MNIST to 98%, data on the device",
            [PY, "-m", "bench.mnist_speed", "--device", device, "--json", str(scratch / "mnist.json"),
             *(["--epochs", "1", "--seconds", "2"] if tiny else [])],
            90, "mnist", scratch / "mnist.json",
        ),
    ]
    for name in ("mnist", "char_rnn", "translation"):
        script = ROOT / "examples" / f"{name}.py"
        if not script.is_file():
            steps.append(Step(f"example {name}.py", [], 0, status="skipped", detail=f"examples/{name}.py not present"))
            continue
        flags = example_flags(script, device, scratch, tiny)
        if flags is None:
            steps.append(Step(f"example {name}.py", [], 0, status="FAILED", detail="--help did not answer in 60 s"))
            continue
        steps.append(Step(f"example {name}.py", [PY, str(script.relative_to(ROOT)), *flags], 120))
    for number, limit in (("1", 60), ("2", 60), ("4", 90), ("3", 60), ("5", 180)):
        out = scratch / f"bench{number}.json"
        steps.append(
            Step(
                f"benchmark {number}", [PY, "-m", "bench", "--only", number, "--device", device, "--no-record",
                                        "--json", str(out), *quick], limit, "bench", out,
            )
        )
    return steps


def environment(device: str) -> list[str]:
    """Lines describing the machine, the software and the device."""
    facts = machine()
    lines = [f"{k}: {v}" for k, v in facts.items()]
    lines.append(f"CUDA available: {torch.cuda.is_available()} (torch built for CUDA {torch.version.cuda})")
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        lines.append(f"device 0: {props.name}, {props.total_memory / 2**30:.0f} GiB, compute capability {props.major}.{props.minor}")
        lines.append(f"cuDNN: {torch.backends.cudnn.version()}")
        try:
            smi = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version,clocks.max.sm,power.limit", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=10,
            ).stdout.strip()
            lines.append(f"nvidia-smi (driver, max SM clock, power limit): {smi}")
        except (OSError, subprocess.TimeoutExpired):
            pass
    lines.append(f"checked on: {device}")
    return lines


def report(steps: list[Step], env: list[str], stamp: str, total: float) -> str:
    """The markdown written to ``--out``: the environment, the step table, the benchmark tables."""
    text = [f"# GPU check, {stamp}", "", *[f"- {line}" for line in env], "", f"Total: {total:.0f} s", ""]
    text += ["| step | status | seconds | result |", "| --- | --- | ---: | --- |"]
    for s in steps:
        detail = s.detail.replace("|", "\\|")
        text.append(f"| {s.name} | {s.status} | {s.seconds:.1f} | {detail} |")
    rows = [
        Result(**{k: v for k, v in row.items() if k not in ("ratio", "verdict")})
        for s in steps for row in s.rows
    ]
    if rows:
        text += ["", "## Benchmarks on the device (ours / plain PyTorch)", "", table(rows)]
    return "\n".join(text) + "\n"


def write(out: Path, steps: list[Step], env: list[str], stamp: str, total: float) -> str:
    """Write the report (markdown and JSON) as it stands; returns the markdown."""
    text = report(steps, env, stamp, total)
    (out / "gpu_check.md").write_text(text, encoding="utf-8")
    summary = [{"step": s.name, "status": s.status, "seconds": round(s.seconds, 2), "detail": s.detail} for s in steps]
    (out / "gpu_check.json").write_text(json.dumps({"stamp": stamp, "environment": env, "steps": summary}, indent=1), encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "bench" / "gpu"), help="folder for the report (default bench/gpu)")
    p.add_argument("--device", default="cuda", help="cuda (default), or cpu for a dry run")
    p.add_argument("--tiny", action="store_true", help="smallest sizes: a dry run that only proves every step works")
    p.add_argument("--budget", type=float, default=450, help="seconds for the whole check (default 450)")
    args = p.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here. Fix: run it on a GPU machine, or dry-run with --device cpu --tiny.")
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    env = environment(args.device)
    print("\n".join(env), flush=True)
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as scratch, (out / "gpu_check.log").open("w") as log:
        steps = plan(args.device, args.tiny, Path(scratch))
        for step in steps:
            if step.status != "not run":
                continue
            left = args.budget - (time.perf_counter() - began)
            if left < 10:
                step.status, step.detail = "not run", "the check's time budget was spent"
                continue
            run_step(step, min(step.limit, left), log)
            print(f"[gpu-check] {step.name}: {step.status} in {step.seconds:.1f} s — {step.detail}", flush=True)
            write(out, steps, env, stamp, time.perf_counter() - began)  # kept if the check is killed later
    text = write(out, steps, env, stamp, time.perf_counter() - began)
    print("\n" + text)
    print(f"[gpu-check] written to {out}/gpu_check.md, gpu_check.json, gpu_check.log")
    return 0 if all(s.status in ("ok", "skipped") for s in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
