"""The CNNDetection test set (Wang et al. CVPR 2020): real and fake images of 13 generators.

Layout: ``<root>/<generator>/[<class>/]{0_real,1_fake}/*.png`` (ProGAN, StyleGAN, CycleGAN, ...
have class folders, the others not). Images in ``0_real`` are real (no camera: they come from
LSUN, ImageNet, CelebA, ...), those in ``1_fake`` synthetic, with the generator folder's name as
generator. ``generators`` picks the generator folders (all by default). Files that are not images
are skipped and recorded.

Splits: each image is hashed by ``<generator>/<class>/<file stem>`` to ``defender-train``,
``defender-test`` (``fractions``) or ``attacker`` (the rest); a real and a fake file of the same
name in the same folder (the image-to-image generators' pairs) therefore share a split.
"""

from __future__ import annotations

from pathlib import Path

from spoc_bench.contracts import Sample
from spoc_bench.registry import register_dataset

from ._layout import LayoutDataset, as_root, check_fractions, chosen, hash_split, optional_tuple, sample, subfolders

LAYOUT = "<root>/<generator>/[<class>/]{0_real,1_fake}/*.png"
LABELS = {"0_real": "real", "1_fake": "synthetic"}


@register_dataset("cnndetection")
class CNNDetection(LayoutDataset):
    """CNNDetection test set: <root>/<generator>/[<class>/]{0_real,1_fake}/*.png, split by hash."""

    layout = LAYOUT

    def __init__(self, root: str | None = None, generators: tuple[str, ...] | None = None,
                 fractions: tuple[float, float] = (0.6, 0.25)):
        super().__init__()
        self.root, self.generators = as_root(root), optional_tuple(generators)
        self.fractions = check_fractions(self.name, fractions)

    def _scan(self, root: Path) -> list[Sample]:
        found = {g.name: label_folders(g) for g in subfolders(root)}
        found = {name: folders for name, folders in found.items() if folders}
        if not found:
            raise self.layout_error(root, "has no <generator>/[<class>/]{0_real,1_fake} folders")
        samples = []
        for generator in sorted(chosen(self.name, "generator(s)", found, self.generators)):
            for folder in found[generator]:
                source = LABELS[folder.name]
                group = folder.parent.relative_to(root).as_posix()
                for path in self.image_files(folder):
                    split = hash_split(f"{group}/{path.stem}", self.fractions)
                    samples.append(sample(root, path, split, source,
                                          generator=generator if source == "synthetic" else None))
        return samples


def label_folders(generator: Path) -> list[Path]:
    """``0_real`` / ``1_fake`` folders directly in ``generator`` or in its class folders."""
    classes = [c for c in subfolders(generator) if c.name not in LABELS]
    return sorted(p for folder in [generator, *classes] for p in (folder / n for n in LABELS) if p.is_dir())
