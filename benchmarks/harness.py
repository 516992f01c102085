"""Harness figures of the runner on the smoke preset: cold run, warm (fully cached) run, overhead.

    .venv/bin/python benchmarks/harness.py

Prints the wall time of a cold run (empty cache), of a second run of the same grid (which must
recompute nothing: target under 3 s, measured as a separate process, start-up included), and the
harness overhead = wall time / time inside attack and detector calls (target under 1.3).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed_run(cache: Path, out: Path) -> float:
    command = [sys.executable, "-m", "spoc_bench.cli", "run", "--preset", "smoke", "-q", "--out", str(out)]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "SPOC_BENCH_CACHE": str(cache)})
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        timed_run(folder / "cache", folder / "warm-up")  # builds the demo dataset once
        (folder / "cache" / "rows").rename(folder / "rows-old")
        (folder / "cache" / "attacked").rename(folder / "attacked-old")
        cold = timed_run(folder / "cache", folder / "cold")
        warm = timed_run(folder / "cache", folder / "warm")
        manifest = json.loads((folder / "cold" / "run.json").read_text())
    timings = manifest["timings_s"]
    inside = sum(timings.get(k, 0) for k in ("attack", "attack_fit", "detect", "detector_fit"))
    print(f"smoke preset, {os.cpu_count()} CPU cores")
    print(f"cold run (dataset cached, no rows): {cold:6.2f} s wall (process), {timings['total']:.2f} s in run()")
    print(f"second run of the finished grid:    {warm:6.2f} s wall (process)   target < 3 s")
    print(f"time inside attacks and detectors:  {inside:6.2f} s  {json.dumps({k: round(v, 3) for k, v in timings.items()})}")
    print(f"harness overhead (run() / inside):  {timings['total'] / inside:6.2f}     target < 1.3")


if __name__ == "__main__":
    main()
