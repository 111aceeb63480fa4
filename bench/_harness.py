"""Timing ours against plain PyTorch: interleaved samples, medians, the ratio ours/plain.

Each sample times ``number`` calls of one function with ``time.perf_counter``; samples
of the two functions alternate (A B B A ...) so drifts in machine load hit both alike,
and the median of each side's samples is reported.  On CUDA every sample ends with
``torch.cuda.synchronize()`` so the time covers the work, not only its launch.

Each sample also records the process's CPU time (``time.process_time``).  On a machine
shared with other jobs, wall time includes the moments the benchmark was descheduled;
CPU time does not, so the CPU-time ratio is the steadier figure there (with one torch
thread, it is the time this benchmark actually computed).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import torch


@dataclass(frozen=True)
class Settings:
    """How hard to measure: ``quick`` shrinks sizes and repeats to a smoke test."""

    quick: bool = False
    device: str = "cpu"
    samples: int = 21  # odd, so the median is one measured sample
    threads: int = 1  # one: on a shared 2-core machine a second OpenMP thread waits on other jobs

    def scaled(self, full: int, quick: int) -> int:
        """``full`` normally, ``quick`` in a smoke run."""
        return quick if self.quick else full


@dataclass
class Result:
    """One comparison: median seconds per call of ours and plain, and what was compared."""

    benchmark: str
    case: str
    ours: float | None
    plain: float | None
    target: float | None = None  # the ratio ours/plain should not exceed this
    limit: float | None = None  # or: ours itself should stay under this (in ``unit``)
    unit: str = "s"
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.plain is None or self.plain == 0:
            return None
        return self.ours / self.plain

    @property
    def verdict(self) -> str:
        if self.limit is not None and self.ours is not None:
            if self.ours < self.limit:
                return "met"
            cpu = self.extra.get("ours_cpu")
            return "MISSED in wall time, met in CPU time" if cpu is not None and cpu < self.limit else "MISSED"
        if self.ratio is None or self.target is None:
            return ""
        if self.ratio <= self.target:
            return "met"
        cpu = self.extra.get("cpu_ratio")
        return "MISSED in wall time, met in CPU time" if cpu is not None and cpu <= self.target else "MISSED"


def skipped(benchmark: str, case: str, why: str) -> Result:
    """A result row for a benchmark that could not run, saying why."""
    return Result(benchmark, case, None, None, note=f"skipped: {why}")


def synchronizer(device: str) -> Callable[[], None]:
    """A function that waits for queued work on ``device`` (a no-op on the CPU)."""
    if str(device).startswith("cuda"):
        return torch.cuda.synchronize
    return lambda: None


def sample(fn: Callable[[], object], number: int, sync: Callable[[], None]) -> tuple[float, float]:
    """Wall and CPU seconds per call of ``fn``, averaged over ``number`` back-to-back calls."""
    sync()
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(number):
        fn()
    sync()
    return (time.perf_counter() - start) / number, (time.process_time() - cpu) / number


def calibrate(fn: Callable[[], object], sync: Callable[[], None], budget: float) -> int:
    """How many calls of ``fn`` fill about ``budget`` seconds (at least one)."""
    once = sample(fn, 1, sync)[0]
    number = 1
    while once * number < budget / 4 and number < 1 << 20:
        number *= 2
        once = sample(fn, number, sync)[0]
    return max(1, int(budget / max(once, 1e-9)))


def compare(
    benchmark: str,
    case: str,
    ours: Callable[[], object],
    plain: Callable[[], object],
    settings: Settings,
    *,
    target: float | None = None,
    sample_seconds: float = 0.02,
    warmup: int = 3,
    samples: int | None = None,
    note: str = "",
) -> Result:
    """Median seconds per call of ``ours`` and ``plain``, timed in interleaved samples.

    >>> r = compare("demo", "sum", lambda: sum(range(50)), lambda: sum(range(50)), Settings(quick=True))
    >>> r.ratio is not None and r.ours > 0
    True
    """
    sync = synchronizer(settings.device)
    for _ in range(warmup):
        ours(), plain()
    budget = sample_seconds / 4 if settings.quick else sample_seconds
    number = max(calibrate(ours, sync, budget), calibrate(plain, sync, budget))
    samples = 3 if settings.quick else samples or settings.samples
    times_ours, times_plain = [], []
    for i in range(samples):
        pair = [(ours, times_ours), (plain, times_plain)]
        for fn, times in pair if i % 2 == 0 else reversed(pair):  # ABBAAB: neither always first
            times.append(sample(fn, number, sync))
    cpu_ours = statistics.median(t[1] for t in times_ours)
    cpu_plain = statistics.median(t[1] for t in times_plain)
    return Result(
        benchmark, case, statistics.median(t[0] for t in times_ours), statistics.median(t[0] for t in times_plain),
        target=target, note=note,
        extra={
            "calls_per_sample": number, "samples": samples, "ours_cpu": cpu_ours, "plain_cpu": cpu_plain,
            "cpu_ratio": cpu_ours / cpu_plain if cpu_plain else None,
        },
    )


def machine() -> dict[str, str]:
    """Where the numbers were measured: CPU model, cores, threads, torch version, GPU."""
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    facts = {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "torch threads": str(torch.get_num_threads()),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if torch.cuda.is_available():
        facts["gpu"] = torch.cuda.get_device_name()
    if hasattr(os, "getloadavg"):  # other jobs on the machine: read the numbers with this in mind
        facts["load average (1 min)"] = f"{os.getloadavg()[0]:.1f}"
    return facts


def seconds(value: float | None) -> str:
    """A duration with a readable unit: ``12.3 µs``, ``4.56 ms``, ``1.23 s``."""
    if value is None:
        return "–"
    for scale, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def show(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "s":
        return seconds(value)
    if unit == "B":
        return f"{value / 2**20:.3g} MiB" if value >= 2**20 else f"{value:.0f} B"
    return f"{value:.4g} {unit}"


def table(results: list[Result]) -> str:
    """The results as a markdown table: ours, plain, ratio, target and verdict."""
    lines = [
        "| benchmark | case | ours | plain | ratio | CPU-time ratio | target | verdict / note |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        ratio = "–" if r.ratio is None else f"{r.ratio:.3f}"
        cpu = r.extra.get("cpu_ratio")
        cpu_ratio = "–" if cpu is None else f"{cpu:.3f}"
        target = f"< {show(r.limit, r.unit)}" if r.limit is not None else "–" if r.target is None else f"≤ {r.target:g}"
        cpu_time = f"(CPU time {seconds(r.extra['ours_cpu'])})" if r.limit is not None and "ours_cpu" in r.extra else ""
        remark = " ".join(part for part in (r.verdict, cpu_time, r.note) if part)
        lines.append(
            f"| {r.benchmark} | {r.case} | {show(r.ours, r.unit)} | {show(r.plain, r.unit)} "
            f"| {ratio} | {cpu_ratio} | {target} | {remark} |"
        )
    return "\n".join(lines)
