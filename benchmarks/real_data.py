"""The real-data path timed end to end, on photographs named as the Dresden archive names them.

    .venv/bin/python benchmarks/real_data.py [--target gamma] [--work DIR]

simcam's real photographs (the default dataset: 8 models x 3 devices, 768 images of 256 px) are
copied to ``DIR/dresden/Simcam_<model>_<device>_<shot>.jpg``, which the ``dresden`` loader reads as
it reads the archive (and splits by device). The synthetic inputs come from the ``synthetic``
dataset's render (``synthetic_root``). With a cache of its own (``DIR/cache``: no weights or
fitted detector of an earlier run is reused), it then runs, and times, the commands of the README's
"Real data" section: ``train attack spoc --dataset dresden`` for one target (the surrogates first),
and a ``run`` of ``spoc:dresden`` towards that target against ``noiseprint``, ``prnu``,
``jpeg-table`` and ``spectrum``. Prints each command's wall time, the device split and the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import spoc_bench

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("spoc-bench"))


def dresden_tree(folder: Path) -> int:
    """simcam's real photographs renamed ``Simcam_<model>_<device>_<shot>``; returns their count."""
    simcam = spoc_bench.build_dataset("simcam")
    simcam.prepare()
    folder.mkdir(parents=True, exist_ok=True)
    real = [s for split in ("defender-train", "defender-test", "attacker") for s in simcam.samples(split)
            if s.source == "real"]
    for shot, sample in enumerate(real, start=10001):
        device = sample.device.rsplit("-d", 1)[1]
        shutil.copy(sample.path, folder / f"Simcam_{sample.camera}_{device}_{shot}{sample.path.suffix}")
    return len(real)


def timed(label: str, command: list[str], environment: dict) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=environment, check=True)
    seconds = time.perf_counter() - started
    print(f"{label}: {seconds:.0f} s", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", default="gamma", help="the simcam model to attack")
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="spoc-bench-real-"))
    synthetic = spoc_bench.build_dataset("synthetic")
    synthetic.prepare()
    photos = dresden_tree(work / "dresden")
    print(f"{photos} photographs in {work / 'dresden'}; synthetic inputs from {synthetic.folder}")
    environment = {**os.environ, "SPOC_BENCH_CACHE": str(work / "cache")}
    data = ["--dataset", "dresden", "--data-root", str(work / "dresden"), "--dataset-opt",
            f"synthetic_root={synthetic.folder}"]
    target = f"Simcam_{args.target}"
    timed("train attack spoc (surrogates + one generator)",
          [CLI, "train", "attack", "spoc", *data, "-o", f"target={target}"], environment)
    timed("run spoc:dresden", [CLI, "run", *data, "--attack", "spoc:dresden", "--target", target,
                               "--detector", "noiseprint", "--detector", "prnu", "--detector", "jpeg-table",
                               "--detector", "spectrum", "--perturb", "none", "--out", str(work / "run"), "--quiet"],
          environment)
    manifest = json.loads((work / "run" / "run.json").read_text())
    print(json.dumps(manifest["splits"], indent=1))
    print((work / "run" / "summary.md").read_text())


if __name__ == "__main__":
    main()
