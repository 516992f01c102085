"""GenImage (Zhu et al. NeurIPS 2023): ImageNet photographs and images of 8 generators.

Layout: ``<root>/<Generator>/[<subset>/]{train,val}/{ai,nature}/*`` (the published archives add one
folder, e.g. ``ADM/imagenet_ai_0508_adm/train``; both forms are read). ``ai`` images are synthetic,
with the top folder's name as generator; ``nature`` images are real (ImageNet, no camera), their
``scene`` the file stem (the ImageNet image, which several generators' folders share).
``generators`` picks the generator folders (all by default). Files that are not images are
skipped and recorded.

Splits: ``val`` -> ``defender-test``; ``train`` -> ``defender-train``, except an ``attacker_fraction``
of it, chosen by the hash of the file stem, which goes to the ``attacker`` (0 leaves the attacker
split empty). Hashing the stem alone puts an ImageNet photograph that several generators' folders
share in the same split everywhere.
"""

from __future__ import annotations

from pathlib import Path

from spoc_bench.contracts import Sample
from spoc_bench.registry import register_dataset

from ._layout import (ATTACKER, TEST, TRAIN, LayoutDataset, as_root, check_fractions, chosen, optional_tuple, sample,
                      subfolders, unit_hash)

LAYOUT = "<root>/<Generator>/[<subset>/]{train,val}/{ai,nature}/*"
PARTS = {"train": TRAIN, "val": TEST}
LABELS = {"ai": "synthetic", "nature": "real"}


@register_dataset("genimage")
class GenImage(LayoutDataset):
    """GenImage: <root>/<Generator>/{train,val}/{ai,nature}/*; val is the defender's test split."""

    layout = LAYOUT

    def __init__(self, root: str | None = None, generators: tuple[str, ...] | None = None, attacker_fraction: float = 0.1):
        super().__init__()
        self.root, self.generators = as_root(root), optional_tuple(generators)
        self.attacker_fraction = check_fractions(self.name, (attacker_fraction,))[0]

    def _scan(self, root: Path) -> list[Sample]:
        found = {g.name: part_folders(g) for g in subfolders(root)}
        found = {name: folders for name, folders in found.items() if folders}
        if not found:
            raise self.layout_error(root, "has no <Generator>/[<subset>/]{train,val} folders")
        samples = []
        for generator in sorted(chosen(self.name, "generator(s)", found, self.generators)):
            for part in found[generator]:
                for label, source in LABELS.items():
                    if (part / label).is_dir():
                        samples += [self._sample(root, path, PARTS[part.name], source, generator)
                                    for path in self.image_files(part / label)]
        return samples

    def _sample(self, root: Path, path: Path, split: str, source: str, generator: str) -> Sample:
        if split == TRAIN and unit_hash(path.stem) < self.attacker_fraction:
            split = ATTACKER
        if source == "real":
            return sample(root, path, split, source, scene=path.stem)
        return sample(root, path, split, source, generator=generator)


def part_folders(generator: Path) -> list[Path]:
    """``train`` / ``val`` folders directly in ``generator`` or in its subset folders."""
    subsets = [s for s in subfolders(generator) if s.name not in PARTS]
    return sorted(p for folder in [generator, *subsets] for p in (folder / n for n in PARTS) if p.is_dir())
