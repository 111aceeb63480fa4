"""``python -m bench``: every benchmark, ours against plain PyTorch, a table, and a record.

Options: ``--quick`` (tiny sizes, a smoke test, nothing recorded), ``--only 1,4``,
``--device cuda``, ``--threads N`` (default 1), ``--no-record``, ``--json PATH``.  A full run appends its
table with the date and machine to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

import torch

from bench._harness import Result, Settings, machine, table

BENCHMARKS = {  # number -> module in this package
    "1": "overhead",
    "2": "compute",
    "3": "training",
    "4": "lstm",
    "5": "compiled",
    "6": "shapes",
}
RESULTS = Path(__file__).with_name("RESULTS.md")


def run_all(settings: Settings, only: list[str] | None = None, out=sys.stdout) -> list[Result]:
    """Run the chosen benchmarks; one that fails becomes a row saying so, the others still run."""
    torch.set_num_threads(settings.threads)
    results: list[Result] = []
    for number, module_name in BENCHMARKS.items():
        if only and number not in only:
            continue
        start = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{module_name}")
            rows = module.run(settings)
        except Exception as err:
            traceback.print_exc(file=sys.stderr)
            rows = [Result(f"{number} {module_name}", "all", None, None, note=f"failed: {type(err).__name__}: {err}")]
        results += rows
        print(f"[bench] {number} {module_name}: {time.perf_counter() - start:.1f} s", file=out, flush=True)
    return results


def record(results: list[Result], settings: Settings, path: Path = RESULTS, *, load_before: str = "") -> str:
    """Append the results, with date and machine, to ``path``; returns the text appended."""
    facts = machine()
    facts["torch threads"] = str(settings.threads)
    if load_before and "load average (1 min)" in facts:
        facts["load average (1 min)"] = f"{load_before} before, {facts['load average (1 min)']} after"
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"\n### `make bench`, {stamp}\n\n"
        + "; ".join(f"{k}: {v}" for k, v in facts.items())
        + f"; device: {settings.device}\n\n{table(results)}\n"
    )
    with path.open("a", encoding="utf-8") as results_file:
        results_file.write(text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few samples; records nothing")
    parser.add_argument("--only", default="", help="comma-separated benchmark numbers, e.g. 1,4")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: steady on a shared machine)")
    parser.add_argument("--no-record", action="store_true", help=f"do not append to {RESULTS.name}")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    settings = Settings(quick=args.quick, device=args.device, threads=args.threads)
    only = [n.strip() for n in args.only.split(",") if n.strip()] or None
    start, load_before = time.perf_counter(), machine().get("load average (1 min)", "")
    results = run_all(settings, only)
    print(table(results))
    print(f"[bench] total {time.perf_counter() - start:.0f} s")
    if args.json:
        rows = [{**dataclasses.asdict(r), "ratio": r.ratio, "verdict": r.verdict} for r in results]
        Path(args.json).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    if not (args.quick or args.no_record):
        record(results, settings, load_before=load_before)
        print(f"[bench] appended to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
