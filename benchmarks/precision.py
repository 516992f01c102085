"""A grid's tables and time in fp32 and in bf16, side by side (``--precision`` of `spoc-bench run`).

    .venv/bin/python benchmarks/precision.py [--preset smoke] [--attack A,B] [--detector D,E] [--n 16] [--perturb P,Q]

Each precision runs with an empty results cache of its own, so both compute everything (the rendered
datasets are reused). Prints the seconds inside each run by part (detector fits, attacks, detection)
and the speed-up, then every summary cell that moved between the two by more than `spoc-bench
check` allows (the two CIs' half-widths combined, ``spoc_bench/check.py``), and per metric the
largest move. Default grid: the smoke preset's attacks and perturbations, the network detectors
besides its own, 16 images per source.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd

DETECTORS = "jpeg-table,spectrum,bondi2017,mislnet,noiseprint,wang2020,gragnaniello2021"
PARTS = ("detector_fit", "attack_fit", "attack", "detect")


def run(precision: str, arguments, work: Path):
    import spoc_bench

    return spoc_bench.run(arguments.preset, precision=precision, n=arguments.n, out=work / precision,
                          cache=work / f"cache-{precision}", progress=False,
                          attacks=arguments.attack.split(",") if arguments.attack else None,
                          detectors=arguments.detector.split(","),
                          perturbations=arguments.perturb or None)


def moves(fp32: pd.DataFrame, bf16: pd.DataFrame) -> pd.DataFrame:
    """Every common cell, its two values and how far the check lets it move."""
    from spoc_bench.check import KEYS, allowed

    both = fp32.merge(bf16, on=KEYS, suffixes=("_fp32", "_bf16")).dropna(subset=["value_fp32", "value_bf16"])
    both["move"] = (both.value_bf16 - both.value_fp32).abs()
    both["allowed"] = [allowed(a, b, c, d) for a, b, c, d in
                       both[["ci_low_fp32", "ci_high_fp32", "ci_low_bf16", "ci_high_bf16"]].itertuples(index=False)]
    return both


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="smoke")
    parser.add_argument("--attack", default="")
    parser.add_argument("--detector", default=DETECTORS)
    parser.add_argument("--perturb", default="")
    parser.add_argument("--n", type=int, default=16)
    arguments = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="spoc-precision-"))
    results = {p: run(p, arguments, work) for p in ("fp32", "bf16")}
    print("| part | fp32 (s) | bf16 (s) | speed-up |\n|---|---|---|---|")
    for part in (*PARTS, "total"):
        fp32, bf16 = (results[p].manifest["timings_s"].get(part, 0.0) for p in ("fp32", "bf16"))
        print(f"| {part} | {fp32:.1f} | {bf16:.1f} | {fp32 / bf16 if bf16 else float('nan'):.2f}x |")
    table = moves(results["fp32"].summary, results["bf16"].summary)
    beyond = table[table.move > table.allowed + 1e-9]
    print(f"\n{len(table)} cells compared; {len(beyond)} moved by more than `spoc-bench check` allows")
    for row in beyond.itertuples(index=False):
        print(f"  {row.attack} > {row.target} on {row.detector} ({row.perturbation}) {row.metric}: "
              f"{row.value_fp32:.3f} -> {row.value_bf16:.3f} (allowed {row.allowed:.3f})")
    largest = table.groupby("metric").move.max().sort_values(ascending=False)
    print("largest move per metric: " + ", ".join(f"{metric} {move:.3f}" for metric, move in largest.items()))
    print(f"runs in {work}")


if __name__ == "__main__":
    main()
