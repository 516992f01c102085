"""The README's attack x detector table: every black-box attack of the default preset (SpoC, MISLGAN and
the baselines) towards every simcam camera, measured by every camera-model and synthetic-image
detector, clean and under JPEG 90.

    .venv/bin/python benchmarks/attack_table.py [--n 32] [--out runs/attacks] [--attacks spoc,...]

Runs one grid (``spoc-bench run`` with those attacks, the default preset's detectors plus ``prnu``,
perturbations ``none`` and ``jpeg:90``; n defender-test synthetic inputs per target) and prints, per
perturbation, a Markdown table: the pooled attack success (share of attacked images named as the
target) for the camera-model detectors, the AUC of real vs attacked images for the synthetic-image
detectors, PSNR and SSIM to the input, each with its bootstrap 95% CI; then the real images'
accuracy (and the real-vs-synthetic AUC before any attack) for reference, and each attack's
success per target.
"""

from __future__ import annotations

import argparse

import pandas as pd

import spoc_bench
from spoc_bench.presets import BASELINE_ATTACKS, CAMERA_DETECTORS, SYNTHETIC_DETECTORS

ATTACKS = ("spoc", "mislgan", *BASELINE_ATTACKS)
DETECTORS = (*CAMERA_DETECTORS, "prnu", *SYNTHETIC_DETECTORS)
PERTURBATIONS = ("none", "jpeg:90")


def cell(row) -> str:
    if row.ci_low == row.ci_high == row.value:
        return f"{row.value:.3f}"
    return f"{row.value:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}]"


def pooled(summary: pd.DataFrame, perturbation: str) -> pd.DataFrame:
    """Attack x (detector metric) of the pooled rows under one perturbation."""
    rows = summary[(summary.target == "all") & (summary.perturbation == perturbation) & (summary.attack != "identity")]
    table = {}
    for row in rows.itertuples():
        if row.metric == "asr" or (row.metric == "auc" and row.detector in SYNTHETIC_DETECTORS):
            table.setdefault(row.attack, {})[f"`{row.detector}`"] = cell(row)
        elif row.metric in ("psnr", "ssim"):
            table.setdefault(row.attack, {})[row.metric.upper()] = cell(row)
    columns = [f"`{d}`" for d in DETECTORS] + ["PSNR", "SSIM"]
    frame = pd.DataFrame.from_dict(table, orient="index")
    return frame[[c for c in columns if c in frame.columns]]


def reference(summary: pd.DataFrame, perturbation: str) -> dict:
    """The real images' accuracy per camera detector and the AUC before the attack per synthetic one."""
    rows = summary[(summary.target == "all") & (summary.perturbation == perturbation)]
    values = {}
    for row in rows.itertuples():
        if row.metric == "acc" and row.detector not in SYNTHETIC_DETECTORS:
            values.setdefault(f"`{row.detector}` accuracy (real)", f"{cell(row)} (n = {row.n})")
        elif row.metric == "auc_before":
            values.setdefault(f"`{row.detector}` AUC before", f"{cell(row)} (n = {row.n})")
    return values


def per_target(summary: pd.DataFrame, perturbation: str) -> pd.DataFrame:
    rows = summary[(summary.target != "all") & (summary.perturbation == perturbation) & (summary.metric == "asr")]
    return rows.pivot_table(index=["attack", "detector"], columns="target", values="value").round(3)


def markdown(frame: pd.DataFrame, index: str) -> str:
    lines = [f"| {index} | " + " | ".join(map(str, frame.columns)) + " |", "|---" * (len(frame.columns) + 1) + "|"]
    for label, row in frame.iterrows():
        name = " ".join(f"`{part}`" for part in label) if isinstance(label, tuple) else f"`{label}`"
        lines.append(f"| {name} | " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=32, help="synthetic inputs (defender-test) per target")
    parser.add_argument("--out", default="runs/attacks")
    parser.add_argument("--attacks", default=",".join(ATTACKS))
    arguments = parser.parse_args()
    result = spoc_bench.run("default", attacks=arguments.attacks.split(","), detectors=list(DETECTORS),
                            perturbations=",".join(PERTURBATIONS), n=arguments.n, out=arguments.out)
    summary = result.summary
    for perturbation in PERTURBATIONS:
        table = pooled(summary, perturbation)
        n = int(summary[(summary.target == "all") & (summary.metric == "asr")].n.max())
        print(f"\n### perturbation {perturbation}: pooled over the targets, n = {n} attacked images per attack\n")
        print(markdown(table, "attack"))
        print()
        for label, value in reference(summary, perturbation).items():
            print(f"- {label}: {value}")
        print(f"\nsuccess per target ({perturbation}):\n")
        print(markdown(per_target(summary, perturbation), "attack, detector"))


if __name__ == "__main__":
    main()
