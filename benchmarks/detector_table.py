"""The README's detector table: every shipped detector on simcam's defender-test, clean and under
JPEG 90 / 70, resize 0.5 and blur 1 (the robustness baseline attacks are compared with).

    .venv/bin/python benchmarks/detector_table.py [--n N] [--out runs/detectors] [--grip]

Runs ``spoc-bench run --attack identity`` over the default preset's detectors and perturbations
(``--n`` test images per source, balanced; default: all of them, as the ``paper`` preset), then prints, per detector and
perturbation: camera detectors, the accuracy on the real test images; synthetic-image detectors,
the AUC of real vs synthetic for the generator families seen in training (``transposed``,
``nearest``: in-family) and for the held-out ones (``bilinear``, ``pixelshuffle``: cross-family).
Values with bootstrap 95% CIs and n. ``spectrum`` and ``dct`` are fitted on every family of
defender-train (their cross-family AUC: ``benchmarks/detectors_fit.py``).
"""

from __future__ import annotations

import argparse

import pandas as pd

import spoc_bench
from spoc_bench.metrics import auc_ci, mean_ci
from spoc_bench.presets import CAMERA_DETECTORS, ROBUSTNESS_PERTURBATIONS, SYNTHETIC_DETECTORS

IN_FAMILY, CROSS_FAMILY = ("transposed", "nearest"), ("bilinear", "pixelshuffle")
FITTED_ON_ALL = ("spectrum", "dct")


def cell(result) -> str:
    value, low, high, n = result
    return f"{value:.3f} [{low:.3f}, {high:.3f}] (n={n})"


def table(rows: pd.DataFrame) -> pd.DataFrame:
    records = []
    for (detector, weights, perturbation), group in rows.groupby(["detector", "weights", "perturbation"], sort=False):
        reals = group[group.source == "real"]
        fakes = group[group.source == "synthetic"]
        record = {"detector": f"{detector}:{weights}", "perturbation": perturbation}
        if group.task.iloc[0] == "camera":
            record["accuracy (real)"] = cell(mean_ci(reals.pred == reals.camera))
        else:
            if detector in FITTED_ON_ALL:
                record["AUC in-family"] = cell(auc_ci(reals.score, fakes.score))
                record["AUC cross-family"] = "fitted on every family"
            else:
                for label, families in (("AUC in-family", IN_FAMILY), ("AUC cross-family", CROSS_FAMILY)):
                    chosen = fakes[fakes.generator.isin(families)]
                    record[label] = cell(auc_ci(reals.score, chosen.score))
        records.append(record)
    return pd.DataFrame.from_records(records).fillna("")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--out", default="runs/detectors")
    parser.add_argument("--grip", action="store_true", help="add noiseprint:grip (imported official weights)")
    arguments = parser.parse_args()
    extra = ["noiseprint:grip"] if arguments.grip else []
    detectors = [*CAMERA_DETECTORS, *extra, *SYNTHETIC_DETECTORS]
    result = spoc_bench.run("paper", attacks=["identity"], targets=["alpha-1"], n=arguments.n, detectors=detectors,
                            perturbations=list(ROBUSTNESS_PERTURBATIONS), out=arguments.out, progress=False)
    frame = table(result.rows)
    scored = set(zip(frame.detector.str.split(":").str[0], frame.perturbation))
    missing = [{"detector": d, "perturbation": p, "accuracy (real)": "not scored: images below its input size"}
               for d in detectors for p in ROBUSTNESS_PERTURBATIONS if (d.split(":")[0], p) not in scored]
    frame = pd.concat([frame, pd.DataFrame.from_records(missing)], ignore_index=True).fillna("")
    print("| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns))
    for row in frame.itertuples(index=False):
        print("| " + " | ".join(map(str, row)) + " |")


if __name__ == "__main__":
    main()
