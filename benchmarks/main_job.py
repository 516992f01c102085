"""The main job (`make run`) timed as a new user meets it: a fresh clone of this repository's HEAD,
`make install`, then `make run` with an empty results cache.

    python3 benchmarks/main_job.py [--keep]

The rendered datasets are reused from the usual cache (``$SPOC_BENCH_CACHE`` or
``~/.cache/spoc-bench``, under ``datasets/``) where they are there; the script says whether they
were (warm) or had to be rendered (cold). Prints the wall time of each stage (clone, install, run)
and, from the run's ``run.json``, the time inside it by part (fitting, attacks, detection) and
the number of detector fits. ``--keep`` leaves the clone in place and prints its path.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARM_CHECK = ("from spoc_bench.registry import datasets; d = datasets.build('simcam'); "
              "print(all((f / 'index.csv').exists() for f in (d.folder, d.synthetic().folder)))")


def timed(stages: dict, name: str, command: list[str], cwd: Path) -> None:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True)
    stages[name] = time.perf_counter() - started


def main(keep: bool = False) -> None:
    work = Path(tempfile.mkdtemp(prefix="spoc-main-job-"))
    clone, results = work / "spoc-bench", work / "results-cache"
    stages: dict[str, float] = {}
    timed(stages, "clone", ["git", "clone", "--quiet", str(ROOT), str(clone)], work)
    timed(stages, "make install", ["make", "install"], clone)
    warm = subprocess.run([str(clone / ".venv/bin/python"), "-c", WARM_CHECK], capture_output=True, text=True,
                          check=True).stdout.strip() == "True"
    print(f"dataset cache: {'warm (reused)' if warm else 'cold (rendered in make run)'}; results cache: empty")
    arguments = f"ARGS={main_job_arguments(clone / 'Makefile')} --quiet --cache {results}"
    timed(stages, "make run", ["make", "run", arguments], clone)
    report(stages, json.loads((clone / "runs/main/run.json").read_text()))
    if keep:
        print(f"clone kept in {clone}")
    else:
        shutil.rmtree(work)


def main_job_arguments(makefile: Path) -> str:
    """The main job's ``spoc-bench run`` arguments, as the Makefile gives them (``ARGS ?= ...``)."""
    for line in makefile.read_text().splitlines():
        if line.startswith("ARGS ?="):
            return line.split("=", 1)[1].strip()
    raise ValueError(f"{makefile}: no `ARGS ?= ...` line (the main job's arguments)")


def report(stages: dict, manifest: dict) -> None:
    for name, seconds in stages.items():
        print(f"{name:<14} {seconds:8.1f} s")
    inside = manifest["timings_s"]
    for part in ("detector_fit", "attack_fit", "attack", "detect", "total"):
        print(f"  run: {part:<12} {inside.get(part, 0.0):8.1f} s")
    print(f"  run: detector fits {manifest.get('detector_fits')}; precision {manifest['grid'].get('precision')}")
    print(f"total (clone + install + run) {sum(stages.values()):.1f} s; make run alone {stages['make run']:.1f} s")


if __name__ == "__main__":
    main(keep="--keep" in sys.argv[1:])
