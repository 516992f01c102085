"""Sheets that show the traces before anyone trusts a number.

``dataset_sheet`` draws, for every camera model and generator family of a dataset: one sample
image, its noise residual (the image minus a 3x3 median, amplified) and the mean log power spectrum
of the residuals of up to ``per_class`` images (fftshifted: the centre is the zero frequency; CFA
periodicities and up-sampling leave peaks at the edges and half-way, JPEG at multiples of 1/8).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .contracts import Dataset
from .images import atomic_write


def residual(pixels: np.ndarray) -> np.ndarray:
    from scipy.ndimage import median_filter

    grey = np.asarray(pixels, np.float64) @ (0.299, 0.587, 0.114)
    return grey - median_filter(grey, size=3, mode="reflect")


def mean_log_spectrum(residuals: list[np.ndarray]) -> np.ndarray:
    size = min(min(r.shape) for r in residuals)
    power = [np.abs(np.fft.fft2(r[:size, :size] - r[:size, :size].mean())) ** 2 for r in residuals]
    return np.fft.fftshift(np.log10(np.mean(power, axis=0) + 1e-6))


def dataset_sheet(dataset: Dataset, out: Path, split: str = "defender-train", per_class: int = 16) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = dataset.samples(split)
    labels = sorted({s.camera or s.generator for s in samples if (s.camera or s.generator)},
                    key=lambda label: (not any(s.camera == label for s in samples), label))
    figure, axes = plt.subplots(len(labels), 3, figsize=(7.5, 2.5 * len(labels)), squeeze=False)
    for row, label in zip(axes, labels):
        chosen = [s for s in samples if label in (s.camera, s.generator)][:per_class]
        items = list(dataset.items(chosen, skipped=[]))
        residuals = [residual(item.pixels) for item in items]
        row[0].imshow(items[0].pixels)
        row[1].imshow(np.clip(residuals[0] * 8 + 128, 0, 255), cmap="gray", vmin=0, vmax=255)
        spectrum = mean_log_spectrum(residuals)
        row[2].imshow(spectrum, cmap="magma", vmin=np.percentile(spectrum, 2), vmax=np.percentile(spectrum, 99.8))
        kind = "camera" if items[0].sample.source == "real" else "generator"
        row[0].set_ylabel(f"{label}\n({kind})", fontsize=9)
        for axis in row:
            axis.set_xticks([])
            axis.set_yticks([])
    for axis, title in zip(axes[0], ("sample", "noise residual x8", "mean log spectrum of residuals")):
        axis.set_title(title, fontsize=10)
    figure.suptitle(f"{dataset.name}: {split} (n <= {per_class} images per row for spectra)", fontsize=11)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.4 / len(labels)))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.tmp.png")
    figure.savefig(temporary, dpi=90)
    plt.close(figure)
    atomic_write(out, temporary.read_bytes())
    temporary.unlink()
    return out
