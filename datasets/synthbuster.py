"""Synthbuster (Bammey 2023): diffusion-model images made from the prompts of RAISE-1k photographs.

Layout: ``<root>/<generator>/r<RAISEid>t.png`` (``dalle2``, ``midjourney-v5``, ``stable-diffusion-xl``,
...) beside ``<root>/real_RAISE_1k/`` holding the real RAISE-1k images (any image format, named by
their RAISE ``File``). Real images have no camera here (the RAISE CSV, read by the ``raise``
dataset, has it); synthetic ones have the folder's name as generator. The ``scene`` is the file's
stem, the RAISE id, so a real photograph and its synthetic versions share a scene (and the
``raise`` dataset's scene). ``generators`` picks the generator folders (all by default); files that
are not images (e.g. prompt lists) are skipped and recorded.

Splits: each scene is hashed to ``defender-train``, ``defender-test`` (``fractions``) or
``attacker`` (the rest), so a real image and all its synthetic versions fall in the same split.
"""

from __future__ import annotations

from pathlib import Path

from spoc_bench.contracts import Sample
from spoc_bench.registry import register_dataset

from ._layout import LayoutDataset, as_root, check_fractions, chosen, hash_split, optional_tuple, sample, subfolders

LAYOUT = "<root>/<generator>/r<RAISEid>t.png beside <root>/real_RAISE_1k/"


@register_dataset("synthbuster")
class Synthbuster(LayoutDataset):
    """Synthbuster: <root>/<generator>/r<RAISEid>t.png beside real_RAISE_1k/; split by RAISE scene."""

    layout = LAYOUT

    def __init__(self, root: str | None = None, generators: tuple[str, ...] | None = None,
                 real_folder: str = "real_RAISE_1k", fractions: tuple[float, float] = (0.6, 0.25)):
        super().__init__()
        self.root, self.generators, self.real_folder = as_root(root), optional_tuple(generators), real_folder
        self.fractions = check_fractions(self.name, fractions)

    def _scan(self, root: Path) -> list[Sample]:
        if not (root / self.real_folder).is_dir():
            raise self.layout_error(root, f"has no {self.real_folder}/ folder")
        found = [f.name for f in subfolders(root) if f.name != self.real_folder]
        if not found:
            raise self.layout_error(root, "has no generator folders")
        folders = [(self.real_folder, "real")]
        folders += [(g, "synthetic") for g in sorted(chosen(self.name, "generator(s)", found, self.generators))]
        samples = []
        for folder, source in folders:
            for path in self.image_files(root / folder):
                samples.append(sample(root, path, hash_split(path.stem, self.fractions), source, scene=path.stem,
                                      generator=folder if source == "synthetic" else None))
        return samples
