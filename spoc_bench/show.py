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
        panels = (items[0].pixels, np.clip(residuals[0] * 8 + 128, 0, 255), mean_log_spectrum(residuals))
        for axis, panel, colours in zip(row, panels, (None, "gray", "magma")):
            show_panel(axis, panel, colours)
        kind = "camera" if items[0].sample.source == "real" else "generator"
        row[0].set_ylabel(f"{label}\n({kind})", fontsize=9)
    for axis, title in zip(axes[0], ("sample", "noise residual x8", "mean log spectrum of residuals")):
        axis.set_title(title, fontsize=10)
    figure.suptitle(f"{dataset.name}: {split} (n <= {per_class} images per row for spectra)", fontsize=11)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.4 / len(labels)))
    return _save(figure, out)


def attack_sheet(attack, dataset: Dataset, targets: list[str], out: Path, per_target: int = 2) -> Path:
    """For a few held-out synthetic inputs per target: the input, the attacked image (saved as the
    attacker saves it), their difference x10, its noise residual, the log spectrum of that residual,
    and beside it the mean residual spectrum of the target camera's real (attacker-split) images."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .images import decode, to_tensor

    from .runner import balanced_choice

    synthetic = [s for s in dataset.samples("defender-test") if s.source == "synthetic"]
    inputs = balanced_choice(synthetic, per_target, seed=0)  # one generator family after another
    items = list(dataset.items(inputs, skipped=[]))
    rows = len(targets) * len(items)
    figure, axes = plt.subplots(rows, 6, figsize=(15, 2.5 * rows), squeeze=False)
    row = 0
    for target in targets:
        chosen = [s for s in dataset.samples("attacker") if s.source == "real" and s.camera == target]
        target_items = list(dataset.items(chosen[:16], skipped=[]))
        attack.fit(target, target_samples=target_items)
        saved = attack.save(attack(to_tensor([i.pixels for i in items])), items)
        target_spectrum = mean_log_spectrum([residual(i.pixels) for i in target_items])
        for item, (data, _) in zip(items, saved):
            result = decode(data)
            difference = np.clip((result.astype(float) - item.pixels) * 10 + 128, 0, 255).astype(np.uint8)
            panels = [item.pixels, result, difference, np.clip(residual(result) * 8 + 128, 0, 255),
                      mean_log_spectrum([residual(result)]), target_spectrum]
            for axis, panel, colours in zip(axes[row], panels, (None, None, None, "gray", "magma", "magma")):
                show_panel(axis, panel, colours)
            axes[row][0].set_ylabel(f"-> {target}\n({item.sample.generator})", fontsize=9)
            row += 1
    titles = ("input", f"{attack.name} output", "difference x10", "residual x8", "its log spectrum",
              "target camera's spectrum")
    for axis, title in zip(axes[0], titles):
        axis.set_title(title, fontsize=10)
    figure.tight_layout()
    return _save(figure, out)


def show_panel(axis, panel: np.ndarray, colours: str | None) -> None:
    """An image as it is; a residual on a fixed grey scale; a spectrum stretched to its 2-99.8% range."""
    if colours == "magma":
        axis.imshow(panel, cmap=colours, vmin=np.percentile(panel, 2), vmax=np.percentile(panel, 99.8))
    else:
        axis.imshow(panel, cmap=colours, vmin=0, vmax=255)
    axis.set_xticks([])
    axis.set_yticks([])


def _save(figure, out: Path) -> Path:
    import matplotlib.pyplot as plt

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.tmp.png")
    figure.savefig(temporary, dpi=90)
    plt.close(figure)
    atomic_write(out, temporary.read_bytes())
    temporary.unlink()
    return out
