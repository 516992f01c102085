"""Time to generate the embedded datasets from nothing (target for simcam's default: < 2 min on 2 cores).

    .venv/bin/python benchmarks/datasets.py
"""

from __future__ import annotations

import os
import tempfile
import time

import spoc_bench


def main() -> None:
    print(f"{os.cpu_count()} CPU cores")
    with tempfile.TemporaryDirectory() as root:
        for name, options in (("simcam", {"generators": ()}), ("synthetic", {}), ("demo", {})):
            dataset = spoc_bench.build_dataset(name, root=root, **options)
            started = time.perf_counter()
            dataset.prepare()
            seconds = time.perf_counter() - started
            count = sum(len(dataset.samples(split)) for split in ("defender-train", "defender-test", "attacker"))
            print(f"{name:<10} {count:5d} images in {seconds:6.1f} s  ({options or 'defaults'})")


if __name__ == "__main__":
    main()
