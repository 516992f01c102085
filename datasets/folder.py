"""Any folder of folders: ``<root>/<label>/*.{jpg,jpeg,png,tif,...}`` (a user's own images).

Each label is a camera model, except the labels named in ``synthetic`` (generator families). Splits
are by file: the stem of each file is hashed to ``defender-train`` / ``defender-test`` /
``attacker`` with the given fractions, or every file goes to ``split`` when one is named, or, when
the root's folders are all split names (``<root>/<split>/<label>/*``), the folders decide. Files
whose suffix is not an image's are skipped and counted; unreadable images are skipped when read.
"""

from __future__ import annotations

from pathlib import Path

from spoc_bench.contracts import SPLITS, Sample
from spoc_bench.registry import register_dataset

from ._layout import LayoutDataset, check_fractions, hash_split, sample, subfolders

LAYOUT = "<root>/[<split>/]<label>/*.{jpg,jpeg,png,tif,tiff,bmp,webp}"


@register_dataset("folder")
class Folder(LayoutDataset):
    """Your own images: <root>/<label>/*.jpg|png|tif, a label per camera model (or generator)."""

    layout = LAYOUT

    def __init__(self, root: str = ".", synthetic: tuple[str, ...] = (), split: str | None = None,
                 fractions: tuple[float, float] = (0.6, 0.25)):
        if split is not None and split not in SPLITS:
            raise ValueError(f"folder: unknown split {split!r}; known: {', '.join(SPLITS)}")
        super().__init__()
        self.root, self.synthetic, self.split = str(root), tuple(synthetic), split
        self.fractions = check_fractions(self.name, fractions)

    def _scan(self, root: Path) -> list[Sample]:
        folders = subfolders(root)
        if not folders:
            raise self.layout_error(root, "has no label folders")
        by_split = all(folder.name in SPLITS for folder in folders)
        samples = []
        for folder in folders:
            for label in subfolders(folder) if by_split else [folder]:
                for path in self.image_files(label):
                    split = folder.name if by_split else self.split or hash_split(path.stem, self.fractions)
                    samples.append(self._sample(root, label.name, path, split))
        return samples

    def _sample(self, root: Path, label: str, path: Path, split: str) -> Sample:
        if label in self.synthetic:
            return sample(root, path, split, "synthetic", generator=label)
        return sample(root, path, split, "real", camera=label)
