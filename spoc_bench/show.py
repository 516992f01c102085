"""Sheets that show the traces before anyone trusts a number.

``dataset_sheet`` draws, for every camera model and generator family of a dataset: one sample
image, its noise residual (the image minus a 3x3 median, amplified) and the mean log power spectrum
of the residuals of up to ``per_class`` images (fftshifted: the centre is the zero frequency; CFA
periodicities and up-sampling leave peaks at the edges and half-way, JPEG at multiples of 1/8).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

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
    return save(figure, out)


class SheetRow(NamedTuple):
    """One row of an attack sheet: its label, the input, the attacked image (as saved and decoded)
    and the target camera's mean residual spectrum (None for an untargeted attack)."""

    label: str
    input: np.ndarray
    output: np.ndarray
    target_spectrum: np.ndarray | None


def attack_sheet(attack, dataset: Dataset, targets: list[str], out: Path, per_target: int = 2) -> Path:
    """For a few held-out synthetic inputs per target: the input, the attacked image (saved as the
    attacker saves it), their difference x10, its noise residual, the log spectrum of that residual,
    and beside it the mean residual spectrum of the target camera's real (attacker-split) images."""
    from .images import decode, to_tensor
    from .runner import balanced_choice

    synthetic = [s for s in dataset.samples("defender-test") if s.source == "synthetic"]
    inputs = balanced_choice(synthetic, per_target, seed=0)  # one generator family after another
    items = list(dataset.items(inputs, skipped=[]))
    entries = []
    for target in targets:
        target_items = target_images(dataset, target)
        attack.fit(target, target_samples=target_items)
        saved = attack.save(attack(to_tensor([i.pixels for i in items])), items)
        spectrum = mean_log_spectrum([residual(i.pixels) for i in target_items])
        entries += [SheetRow(f"-> {target}\n({item.sample.generator})", item.pixels, decode(data), spectrum)
                    for item, (data, _) in zip(items, saved)]
    return draw_sheet(entries, f"{attack.name} output", out)


def run_sheet(rows, dataset_for, *paths: Path, rows_wanted: int = 6) -> Path:
    """The attack sheet of a finished run, from its attacked images (``rows.parquet``'s ``path``):
    one input (the same for every attack), each attack towards as many of its targets as fit in
    ``rows_wanted`` rows. ``dataset_for(name)`` gives the run's prepared dataset (for the inputs
    and the targets' spectra)."""
    from .images import read_image
    from .registry import attacks
    from .runner import split_spec

    attacked = rows[rows.source == "attacked"].drop_duplicates(["attack", "target", "input_id"])
    first = attacked.iloc[0]
    attacked = attacked[(attacked.dataset == first.dataset) & (attacked.input_id == first.input_id)]
    dataset = dataset_for(first.dataset)
    source = next(s for s in dataset.samples("defender-test") if s.id == first.input_id)
    pixels = next(iter(dataset.items([source], skipped=[]))).pixels
    per_attack = max(1, rows_wanted // attacked.attack.nunique())
    entries = []
    for attack, chosen in attacked.groupby("attack", sort=False):
        targeted = attacks.get(split_spec(attack)[0]).uses_target
        for row in chosen.head(per_attack if targeted else 1).itertuples():
            spectrum = mean_log_spectrum([residual(i.pixels) for i in target_images(dataset, row.target)])
            label = f"{attack}\n-> {row.target if targeted else 'any target'}"
            entries.append(SheetRow(label, pixels, read_image(row.path)[0], spectrum if targeted else None))
    title = f"{first.dataset}: input {first.input_id} ({source.generator}), one image per row"
    return draw_sheet(entries, "attacked (as saved)", *paths, title=title)


def target_images(dataset: Dataset, target: str, count: int = 16) -> list:
    """Up to ``count`` of the target camera's real images from the attacker's split."""
    chosen = [s for s in dataset.samples("attacker") if s.source == "real" and s.camera == target]
    return list(dataset.items(chosen[:count], skipped=[]))


def draw_sheet(entries: list[SheetRow], output_title: str, *paths: Path, title: str = "") -> Path:
    """The sheet's six panels per row (input, output, difference x10, residual x8, its log spectrum,
    the target's spectrum), written to each of ``paths``; returns the first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(entries), 6, figsize=(15, 2.5 * len(entries) + (0.4 if title else 0)),
                                squeeze=False)
    for row, entry in zip(axes, entries):
        difference = np.clip((entry.output.astype(float) - entry.input) * 10 + 128, 0, 255).astype(np.uint8)
        panels = [entry.input, entry.output, difference, np.clip(residual(entry.output) * 8 + 128, 0, 255),
                  mean_log_spectrum([residual(entry.output)]), entry.target_spectrum]
        for axis, panel, colours in zip(row, panels, (None, None, None, "gray", "magma", "magma")):
            if panel is None:
                axis.text(0.5, 0.5, "untargeted:\nno target", ha="center", va="center", fontsize=9)
                axis.set_axis_off()
            else:
                show_panel(axis, panel, colours)
        row[0].set_ylabel(entry.label, fontsize=9)
    titles = ("input", output_title, "difference x10", "residual x8", "its log spectrum", "target camera's spectrum")
    for axis, heading in zip(axes[0], titles):
        axis.set_title(heading, fontsize=10)
    if title:
        figure.suptitle(title, fontsize=11)
    figure.tight_layout(rect=(0, 0, 1, 1 - (0.3 if title else 0) / figure.get_figheight()))
    return save(figure, *paths)


def show_panel(axis, panel: np.ndarray, colours: str | None) -> None:
    """An image as it is; a residual on a fixed grey scale; a spectrum stretched to its 2-99.8% range."""
    if colours == "magma":
        axis.imshow(panel, cmap=colours, vmin=np.percentile(panel, 2), vmax=np.percentile(panel, 99.8))
    else:
        axis.imshow(panel, cmap=colours, vmin=0, vmax=255)
    axis.set_xticks([])
    axis.set_yticks([])


def save(figure, *paths: Path, dpi: int = 90) -> Path:
    """Write ``figure`` to each path (its suffix names the format: .png, .pdf), atomically; close it."""
    import io

    import matplotlib.pyplot as plt

    for path in paths:
        buffer = io.BytesIO()
        figure.savefig(buffer, format=Path(path).suffix[1:], dpi=dpi)
        atomic_write(Path(path), buffer.getvalue())
    plt.close(figure)
    return Path(paths[0])
