"""Any folder of folders: ``<root>/<label>/*.{jpg,jpeg,png,tif,...}`` (a user's own images).

Each label is a camera model, except the labels named in ``synthetic`` (generator families). Splits
are by file: the stem of each file is hashed to ``defender-train`` / ``defender-test`` /
``attacker`` with the given fractions, or every file goes to ``split`` when one is named, or, when
the root's folders are all split names (``<root>/<split>/<label>/*``), the folders decide. Files
whose suffix is not an image's are skipped and counted; unreadable images are skipped when read.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from spoc_bench.contracts import SPLITS, Dataset, Sample
from spoc_bench.images import IMAGE_SUFFIXES
from spoc_bench.registry import register_dataset

LAYOUT = "<root>/[<split>/]<label>/*.{jpg,jpeg,png,tif,tiff,bmp,webp}"


@register_dataset("folder")
class Folder(Dataset):
    """Your own images: <root>/<label>/*.jpg|png|tif, a label per camera model (or generator)."""

    def __init__(self, root: str = ".", synthetic: tuple[str, ...] = (), split: str | None = None,
                 fractions: tuple[float, float] = (0.6, 0.25)):
        if split is not None and split not in SPLITS:
            raise ValueError(f"folder: unknown split {split!r}; known: {', '.join(SPLITS)}")
        self.root, self.synthetic, self.split, self.fractions = str(root), tuple(synthetic), split, tuple(fractions)
        self.skipped: list[tuple[str, str]] = []
        self._samples: list[Sample] | None = None

    def prepare(self) -> None:
        root = Path(self.root)
        if not root.is_dir():
            raise FileNotFoundError(f"folder dataset: {root} is not a directory (expected {LAYOUT})")
        labels = subfolders(root)
        if not labels:
            raise ValueError(f"folder dataset: {root} has no label folders (expected {LAYOUT})")
        self.skipped, samples = [], []
        by_split = all(label.name in SPLITS for label in labels)
        for folder in labels:
            for label in subfolders(folder) if by_split else [folder]:
                for path in sorted(p for p in label.rglob("*") if p.is_file()):
                    if path.suffix.lower() not in IMAGE_SUFFIXES:
                        self.skipped.append((str(path), f"not an image file (suffix {path.suffix or 'none'})"))
                        continue
                    samples.append(self._sample(root, label.name, path, folder.name if by_split else None))
        if not samples:
            raise ValueError(f"folder dataset: no image files under {root} (expected {LAYOUT})")
        self._samples = samples

    def _sample(self, root: Path, label: str, path: Path, split: str | None) -> Sample:
        stat = path.stat()
        relative = path.relative_to(root).as_posix()
        synthetic = label in self.synthetic
        split = split or self.split or self._split_of(path.stem)
        return Sample(relative, split, "synthetic" if synthetic else "real",
                      camera=None if synthetic else label, generator=label if synthetic else None,
                      scene=path.stem, path=path, stamp=f"{stat.st_size}-{stat.st_mtime_ns}")

    def _split_of(self, stem: str) -> str:
        position = int(hashlib.sha256(stem.encode()).hexdigest()[:8], 16) / 16**8
        train, test = self.fractions
        return SPLITS[0] if position < train else SPLITS[1] if position < train + test else SPLITS[2]

    def samples(self, split: str) -> list[Sample]:
        if self._samples is None:
            self.prepare()
        return [s for s in self._samples if s.split == split]


def subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
