"""Evidence that simcam's traces are real: how well simple probes separate its cameras and its
generator families, trained on ``defender-train`` and measured on ``defender-test``.

    .venv/bin/python benchmarks/evidence.py [--noiseprint-dir DIR] [--markdown FILE]

Camera probes (accuracy over the 8 models, chance 0.125): ``jpeg-table`` (the detector),
``global-stats`` (logistic regression on per-channel mean and standard deviation: a global
statistic, which should NOT separate the models), ``residual-stats`` (logistic regression on
noise-residual statistics: per-channel residual energy by CFA phase, neighbour correlations, 8x8
blockiness), ``noiseprint:grip`` (official weights, QF-matched network, nearest fingerprint; only
with the weights). Synthetic probe: the ``spectrum`` detector, AUC of real vs each family, trained
on all families (in-family) or on two families and tested on the other two (cross-family).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import spoc_bench
from spoc_bench.images import to_tensor
from spoc_bench.metrics import auc_ci, mean_ci

TRAIN_FAMILIES = ("transposed", "nearest")


def global_stats(pixels: np.ndarray) -> np.ndarray:
    values = pixels.reshape(-1, 3).astype(np.float64)
    return np.r_[values.mean(0), values.std(0)]


def residual_stats(pixels: np.ndarray) -> np.ndarray:
    """Statistics of the per-channel residual (image minus 3x3 median) that CFA interpolation,
    denoising, sharpening and JPEG shape: energy per 2x2 phase, neighbour correlations, blockiness."""
    from scipy.ndimage import median_filter

    image = pixels.astype(np.float64)
    features = []
    for channel in range(3):
        plane = image[..., channel]
        r = plane - median_filter(plane, size=3, mode="reflect")
        energy = r.var() + 1e-9
        phases = [(r[i::2, j::2] ** 2).mean() / energy for i in (0, 1) for j in (0, 1)]
        correlations = [np.corrcoef(r[:, :-k].ravel(), r[:, k:].ravel())[0, 1] for k in (1, 2)]
        correlations += [np.corrcoef(r[:-k].ravel(), r[k:].ravel())[0, 1] for k in (1, 2)]
        block = np.abs(np.diff(plane, axis=1))
        blockiness = block[:, 7::8].mean() / (block.mean() + 1e-9)
        features += [np.log(energy), *phases, *correlations, blockiness]
    grey = image @ (0.299, 0.587, 0.114)
    chroma = image - grey[..., None]
    features += [np.log(np.abs(np.diff(chroma, axis=1)).mean() + 1e-9), np.log(np.abs(np.diff(grey, axis=1)).mean() + 1e-9)]
    return np.nan_to_num(np.array(features))


def probe_accuracy(features, train_items, test_items, seed: int = 0):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    model.fit(np.stack([features(i.pixels) for i in train_items]), [i.sample.camera for i in train_items])
    predicted = model.predict(np.stack([features(i.pixels) for i in test_items]))
    return mean_ci(predicted == np.array([i.sample.camera for i in test_items]), seed)


def detector_accuracy(detector, dataset, test_items, seed: int = 0):
    detector.fit(dataset)
    correct = []
    for start in range(0, len(test_items), 32):
        batch = test_items[start:start + 32]
        probabilities = detector.predict(to_tensor([i.pixels for i in batch]), [i.container for i in batch])
        predicted = np.array(detector.classes)[probabilities.detach().numpy().argmax(axis=1)]
        correct += list(predicted == np.array([i.sample.camera for i in batch]))
    return mean_ci(correct, seed)


class FamilyView:
    """The dataset as a detector sees it when trained on some generator families only."""

    def __init__(self, dataset, families):
        self.dataset, self.families, self.name = dataset, set(families), dataset.name

    def samples(self, split):
        return [s for s in self.dataset.samples(split) if s.source == "real" or s.generator in self.families]

    def items(self, samples, skipped=None):
        return self.dataset.items(samples, skipped)


def spectrum_aucs(dataset, test_items, train_families):
    detector = spoc_bench.build_detector("spectrum").fit(FamilyView(dataset, train_families))
    scores = detector.predict(to_tensor([i.pixels for i in test_items])).numpy()[:, 1]
    real = scores[[i.sample.source == "real" for i in test_items]]
    results = {}
    for family in sorted({i.sample.generator for i in test_items if i.sample.generator}):
        fake = scores[[i.sample.generator == family for i in test_items]]
        results[family] = auc_ci(real, fake)
    return results


def fmt(result) -> str:
    value, low, high, n = result
    return f"{value:.3f} [{low:.3f}, {high:.3f}] | {n}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--noiseprint-dir", default=os.environ.get("SPOC_BENCH_NOISEPRINT_DIR"))
    parser.add_argument("--markdown", help="also write the table to this file")
    arguments = parser.parse_args()

    dataset = spoc_bench.build_dataset("simcam")
    started = time.perf_counter()
    dataset.prepare()
    print(f"simcam ready in {time.perf_counter() - started:.1f} s (generated on first use)")
    train = list(dataset.items([s for s in dataset.samples("defender-train") if s.source == "real"]))
    test_all = list(dataset.items(dataset.samples("defender-test")))
    test = [i for i in test_all if i.sample.source == "real"]

    lines = ["| probe | task | metric | value [95% CI] | n |", "|---|---|---|---|---|"]
    lines.append(f"| jpeg-table | 8 camera models | acc | {fmt(detector_accuracy(spoc_bench.build_detector('jpeg-table'), dataset, test))} |")
    lines.append(f"| global-stats (mean, std per channel) | 8 camera models | acc | {fmt(probe_accuracy(global_stats, train, test))} |")
    lines.append(f"| residual-stats | 8 camera models | acc | {fmt(probe_accuracy(residual_stats, train, test))} |")
    if arguments.noiseprint_dir:
        noiseprint = spoc_bench.build_detector("noiseprint", weights="grip", weights_dir=arguments.noiseprint_dir)
        lines.append(f"| noiseprint:grip (nearest fingerprint) | 8 camera models | acc | {fmt(detector_accuracy(noiseprint, dataset, test))} |")
    for label, families in (("in-family", None), (f"trained on {'+'.join(TRAIN_FAMILIES)}", TRAIN_FAMILIES)):
        families = families or dataset.generators
        for family, result in spectrum_aucs(dataset, test_all, families).items():
            kind = "in-family" if family in families else "cross-family"
            lines.append(f"| spectrum ({label}) | real vs {family} ({kind}) | auc | {fmt(result)} |")
    table = "\n".join(lines)
    print(table)
    if arguments.markdown:
        with open(arguments.markdown, "w") as stream:
            stream.write(table + "\n")


if __name__ == "__main__":
    main()
