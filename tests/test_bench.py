"""The benchmark harness and the GPU check run, and compute what they claim (no timing asserted)."""

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bench import gpu_check, mnist_speed
from bench.__main__ import main as bench_main
from bench.__main__ import record, run_all
from bench._harness import Result, Settings, compare, machine, seconds, table
from bench._memory import peak_rss_growth, saved_for_backward
from bench._models import mlp, same_output, sequential_twin


def test_ratio_and_verdicts() -> None:
    assert Result("b", "c", 2e-3, 1e-3).ratio == pytest.approx(2.0)
    assert Result("b", "c", 1.04, 1.0, target=1.05).verdict == "met"
    assert Result("b", "c", 1.06, 1.0, target=1.05).verdict == "MISSED"
    assert Result("b", "c", 0.2, None, limit=0.1).verdict == "MISSED"
    assert Result("b", "c", 0.05, 0.5, limit=0.1).verdict == "met"
    assert Result("b", "c", None, 1.0, target=1.05).ratio is None


def test_compare_interleaves_and_reports_medians_per_call() -> None:
    calls = []
    result = compare("b", "c", lambda: calls.append("A"), lambda: calls.append("B"), Settings(quick=True), warmup=1)
    number, samples = result.extra["calls_per_sample"], result.extra["samples"]
    timed = calls[-2 * number * samples :]  # after the warm-up and calibration calls
    blocks = [timed[i : i + number] for i in range(0, len(timed), number)]
    assert [set(block) for block in blocks] == [{"A"}, {"B"}, {"B"}, {"A"}, {"A"}, {"B"}][: 2 * samples]
    assert result.ours > 0 and result.plain > 0 and result.ratio == pytest.approx(result.ours / result.plain)
    assert result.extra["cpu_ratio"] > 0


def test_twins_compute_the_same_function() -> None:
    torch.manual_seed(0)
    ours = mlp([6, 5, 4], final_relu=False)
    plain = sequential_twin(ours)
    x = torch.randn(3, 6)
    torch.testing.assert_close(ours(x), plain(x))
    with pytest.raises(AssertionError, match="disagree"):
        same_output(ours, lambda x: plain(x) + 1, x)


def test_quick_run_of_the_cheap_benchmarks_gives_ratios(capsys: pytest.CaptureFixture) -> None:
    results = run_all(Settings(quick=True), only=["1", "4", "6"])
    by_benchmark = {r.benchmark.split()[0] for r in results}
    assert by_benchmark == {"1", "4", "6"}
    assert not [r for r in results if r.note.startswith("failed")]
    timed = [r for r in results if r.unit == "s" and not r.note.startswith("skipped")]
    assert timed and all(r.ratio is not None and r.ratio > 0 for r in timed)
    assert "| 1 overhead | forward (no_grad) |" in table(results)


def test_a_failing_benchmark_becomes_a_row_and_the_others_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.overhead

    monkeypatch.setattr(bench.overhead, "run", lambda settings: 1 / 0)
    results = run_all(Settings(quick=True), only=["1", "6"])
    assert results[0].note.startswith("failed: ZeroDivisionError")
    assert any(r.benchmark.startswith("6") for r in results)


def test_record_appends_date_machine_and_table(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# Results\n")
    record([Result("1 overhead", "forward", 1e-4, 1e-4, target=1.05)], Settings(), path)
    text = path.read_text()
    assert text.startswith("# Results\n") and "### `make bench`, 20" in text
    assert f"torch: {torch.__version__}" in text and "cpu:" in text and "| 1.000 | – | ≤ 1.05 | met |" in text
    assert machine()["cores"].isdigit()


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bench_main(["--quick", "--only", "1", "--json", str(tmp_path / "r.json")])
    rows = json.loads((tmp_path / "r.json").read_text())
    assert rows[0]["benchmark"] == "1 overhead" and rows[0]["ratio"] > 0


def test_seconds_are_shown_with_units() -> None:
    assert seconds(1.5) == "1.5 s" and seconds(2.5e-3) == "2.5 ms" and seconds(7e-6) == "7 µs"


def test_saved_for_backward_counts_activations_not_parameters() -> None:
    w = torch.ones(100, requires_grad=True)
    x = torch.ones(10, 100)
    assert saved_for_backward(lambda: (x * w).exp().sum(), exclude=[x, w]) == 10 * 100 * 4  # exp's output
    grown = peak_rss_growth(lambda: torch.ones(1))
    assert grown is None or grown >= 0


def test_step_failures_and_timeouts_are_reported_not_raised(tmp_path: Path) -> None:
    ok = gpu_check.Step("ok", [sys.executable, "-c", "print('fine')"], 30)
    bad = gpu_check.Step("bad", [sys.executable, "-c", "raise SystemExit(3)"], 30)
    slow = gpu_check.Step("slow", [sys.executable, "-c", "import time; time.sleep(30)"], 30)
    with (tmp_path / "log").open("w") as log:
        for step in (ok, bad, slow):
            gpu_check.run_step(step, 1.0 if step is slow else 30, log)
    assert (ok.status, ok.detail) == ("ok", "fine")
    assert bad.status == "FAILED (exit 3)"
    assert slow.status.startswith("TIMEOUT") and slow.seconds < 10
    text = gpu_check.report([ok, bad, slow], ["cpu: test"], "now", 1.0)
    assert "| bad | FAILED (exit 3) |" in text and "| slow | TIMEOUT after 1 s |" in text


def test_example_flags_come_from_the_scripts_help(tmp_path: Path) -> None:
    script = tmp_path / "translation.py"
    script.write_text(
        "import argparse\np = argparse.ArgumentParser()\n"
        "for f in ('--device', '--epochs', '--steps', '--batch'): p.add_argument(f)\n"
        "p.add_argument('--no-progress', action='store_true')\np.parse_args()\n"
    )
    flags = gpu_check.example_flags(script, "cuda", tmp_path, tiny=True)  # --length, --hidden, --plot: not offered
    assert flags == ["--device", "cuda", "--epochs", "1", "--steps", "10", "--batch", "8", "--no-progress"]


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_mnist_speed_runs_on_idx_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 300)
    images = (labels[:, None, None] * 25 + rng.integers(0, 5, (300, 28, 28))).clip(0, 255)  # learnable
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    x, y = mnist_speed.read_split(tmp_path, "test")
    assert x.shape == (300, 784) and float(x.max()) <= 1 and torch.equal(y, torch.from_numpy(labels).long())
    result = mnist_speed.run("cpu", str(tmp_path), budget=1.0, goal=1.01, epochs=2, batch=64, lr=3e-3)
    assert result["status"] == "ok" and result["reached"] is None and result["epochs_run"] == 2
    assert "t10k only" in result["source"]


def test_mnist_speed_says_when_there_is_no_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mnist_speed, "places", lambda data: [tmp_path])
    assert mnist_speed.run("cpu", None, 1.0, 0.98, 1, 64, 1e-3)["status"] == "skipped"


def test_gpu_check_refuses_cuda_without_a_gpu(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert gpu_check.main(["--out", str(tmp_path)]) == 2
    assert "--device cpu" in capsys.readouterr().out


def test_a_miss_in_wall_time_alone_is_called_so() -> None:
    noisy = Result("b", "c", 1.2, 1.0, target=1.05, extra={"cpu_ratio": 1.01})
    assert noisy.verdict == "MISSED in wall time, met in CPU time"
    assert Result("b", "c", 1.2, 1.0, target=1.05, extra={"cpu_ratio": 1.2}).verdict == "MISSED"
    slow_wall = Result("b", "c", 0.12, None, limit=0.1, extra={"ours_cpu": 0.08})
    assert slow_wall.verdict == "MISSED in wall time, met in CPU time"


@pytest.mark.parametrize("module", ["bench._harness", "bench._memory"])
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    failures, tried = doctest.testmod(importlib.import_module(module), extraglobs={"torch": torch})
    assert tried and not failures
