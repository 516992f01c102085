"""The transfer matrix of the gradient attacks: each attack made with the gradients of one model (each
of the attacker's surrogates, their ensemble, or one of the defender's differentiable camera-model
detectors), towards every simcam camera, measured by every detector.

    .venv/bin/python benchmarks/transfer_matrix.py [--n 8] [--attacks pgd,fgsm] [--out runs/transfer]

Rows are sources, columns measured detectors. A row made with a defender's detector is white-box on
its own column (an upper bound, as ``pgd-white-box`` measures it) and a transfer from that detector
on the others: an attacker who holds one of the defender's models, a stronger threat model than
``pgd-transfer``'s, labelled as such. The surrogate rows are ``fgsm-transfer`` / ``pgd-transfer`` with
``surrogates=`` one or both of SpoC's attacker-side models.

The images are made and measured through the runner's session (its cache, its fitted detectors, its
rows); only the pairing differs: every set of attacked images goes to every detector. Writes
``OUT/summary.csv`` (every cell, per target too), ``OUT/transfer-matrix.csv`` (the cells pooled over
the targets: the source as ``attack``, the measured ``detector``, ``asr``, ``auc``, ``psnr`` and
``ssim`` with CI and n) and
``OUT/transfer-matrix.png`` / ``.pdf`` (attack success for camera-model detectors, AUC real vs attacked
for synthetic-image ones; no perturbation), and prints the matrices as Markdown, per perturbation
(default: none and JPEG 90).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import matplotlib
import pandas as pd

from spoc_bench import cache as cache_module
from spoc_bench.attacks._gradient import SURROGATES
from spoc_bench.figures import HEADLINE, heatmap
from spoc_bench.images import atomic_write
from spoc_bench.metrics import summarise
from spoc_bench.presets import CAMERA_DETECTORS, SYNTHETIC_DETECTORS
from spoc_bench.progress import shown
from spoc_bench.registry import attacks
from spoc_bench.runner import Session, resolve_grid

SURROGATE_SOURCES = (*SURROGATES.split("+"), SURROGATES)  # each of the attacker's surrogates, then both
WHITE_BOX_SOURCES = ("bondi2017", "mislnet", "noiseprint")
DETECTORS = (*CAMERA_DETECTORS, "prnu", *SYNTHETIC_DETECTORS)


def sources(attack: str) -> list[tuple[str, str, str]]:
    """``(row label, attack spec, white-box detector or "")`` for one gradient attack."""
    rows = [(f"{attack} on surrogate {names}", f"{attack}-transfer", names) for names in SURROGATE_SOURCES]
    return rows + [(f"{attack} on detector {name}", f"{attack}-white-box", name) for name in WHITE_BOX_SOURCES]


class MatrixSession(Session):
    """The runner's session, building the transfer attacks with ``surrogates`` (their models' names)."""

    surrogates = SURROGATES

    def _build_plugin(self, spec: str):
        if spec.endswith("-transfer"):
            return attacks.build_spec(spec, self.grid.device, surrogates=self.surrogates)
        return super()._build_plugin(spec)


def attacked_groups(session: MatrixSession, gradient_attacks: list[str]) -> list:
    """Every source's attacked images for every target, each group labelled with its source."""
    dataset = session.dataset("simcam")
    inputs, groups = session.pick(dataset, "synthetic"), []
    for attack in gradient_attacks:
        for label, spec, source in sources(attack):
            session.surrogates = source if spec.endswith("-transfer") else MatrixSession.surrogates
            detector = "" if spec.endswith("-transfer") else source
            groups += [dataclasses.replace(session.attacked(dataset, spec, target, inputs, detector), attack=label)
                       for target in session.targets(dataset)]
    return groups


def measured(session: Session, groups: list) -> pd.DataFrame:
    """Every detector's rows, under every perturbation of the grid, for the real images, the synthetic
    inputs and every attacked group."""
    dataset = session.dataset("simcam")
    shared = [session.pick(dataset, "real"), session.pick(dataset, "synthetic")]
    frames = [session.detect(dataset, detector, perturbation, group) for detector in DETECTORS
              for perturbation in session.grid.perturbations for group in shared + groups]
    return pd.concat(frames, ignore_index=True)


def matrix(summary: pd.DataFrame, metric: str, perturbation: str) -> pd.DataFrame:
    rows = summary[(summary.target == "all") & (summary.metric == metric) & summary.attack.str.contains(" on ")
                   & (summary.perturbation == perturbation)]
    cells = {(r.attack, r.detector): f"{r.value:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]" for r in rows.itertuples()}
    columns = list(dict.fromkeys(rows.detector))
    return pd.DataFrame([[cells.get((a, d), "") for d in columns] for a in dict.fromkeys(rows.attack)],
                        index=list(dict.fromkeys(rows.attack)), columns=[f"`{c}`" for c in columns])


def quality(summary: pd.DataFrame) -> pd.DataFrame:
    """PSNR and SSIM of each source's saved images to their inputs (the same for every detector)."""
    rows = summary[(summary.target == "all") & summary.metric.isin(["psnr", "ssim"]) & summary.attack.str.contains(" on ")]
    rows = rows.drop_duplicates(["attack", "metric"])
    cells = {(r.attack, r.metric): f"{r.value:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]" for r in rows.itertuples()}
    return pd.DataFrame([[cells[(a, m)] for m in ("psnr", "ssim")] for a in dict.fromkeys(rows.attack)],
                        index=list(dict.fromkeys(rows.attack)), columns=["PSNR (dB)", "SSIM"])


def markdown(frame: pd.DataFrame) -> str:
    lines = ["| gradients of | " + " | ".join(frame.columns) + " |", "|---" * (len(frame.columns) + 1) + "|"]
    return "\n".join(lines + [f"| {label} | " + " | ".join(row) + " |" for label, row in frame.iterrows()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=8, help="synthetic inputs (defender-test), each attacked towards every target")
    parser.add_argument("--attacks", default="pgd,fgsm")
    parser.add_argument("--perturbations", default="none,jpeg:90")
    parser.add_argument("--out", default="runs/transfer")
    arguments = parser.parse_args()
    matplotlib.use("Agg")
    started = time.perf_counter()
    grid = resolve_grid("default", attacks=[], detectors=list(DETECTORS), perturbations=arguments.perturbations,
                       n=arguments.n)
    session = MatrixSession(grid, cache_module.Cache(None))
    with shown(True):
        rows = measured(session, attacked_groups(session, arguments.attacks.split(",")))
    summary = summarise(rows, seed=grid.seed)
    out = Path(arguments.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "summary.csv", summary.to_csv(index=False).encode())
    pooled = summary[summary.attack.str.contains(" on ") & (summary.target == "all")]
    matrix_rows = pooled[pooled.metric.isin([*HEADLINE, "psnr", "ssim"])]
    atomic_write(out / "transfer-matrix.csv", matrix_rows.to_csv(index=False).encode())
    headline = pooled[pooled.metric.isin(HEADLINE)]
    heatmap(headline, out, "transfer-matrix", "Transfer matrix: gradients of the row's model, measured by the column",
            "gradients of")
    n = int(headline[headline.metric == "asr"].n.max())
    print(f"n = {n} attacked images per cell ({arguments.n} inputs x {len(session.targets(session.dataset('simcam')))} "
          f"targets); {time.perf_counter() - started:.0f} s\n")
    for perturbation in map(str, grid.perturbations):
        for metric, title in (("asr", "attack success (share named the target)"), ("auc", "AUC real vs attacked")):
            print(f"### {title}, {perturbation}\n\n{markdown(matrix(summary, metric, perturbation))}\n")
    print(f"### quality of the saved images\n\n{markdown(quality(summary))}\n")
    print(f"wrote {out / 'summary.csv'}, {out / 'transfer-matrix.csv'} and {out / 'transfer-matrix.png'}")


if __name__ == "__main__":
    main()
