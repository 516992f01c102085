"""Any folder of folders: ``<root>/<label>/*.{jpg,jpeg,png,tif,...}`` (a user's own images).

Each label is a camera model, except the labels named in ``synthetic`` (generator families). Splits
are by file: the stem of each file is hashed to ``defender-train`` / ``defender-test`` /
``attacker`` with the given fractions, or every file goes to ``split`` when one is named, or, when
the root's folders are all split names (``<root>/<split>/<label>/*``), the folders decide. Files
whose suffix is not an image's are skipped and counted; unreadable images are skipped when read.

With ``devices=True`` each camera's folder holds one folder per device (``<root>/<camera>/<device>/*``,
the device named ``<camera>/<device>``), and the real images are split by device as ``dresden``
splits them (``protocol``, ``cross-device`` by default; ``train_fraction``, ``attacker_devices``,
``test_devices``); the synthetic labels' files are still hashed by ``fractions``.
"""

from __future__ import annotations

from pathlib import Path

from spoc_bench.contracts import SPLITS, Sample
from spoc_bench.registry import register_dataset

from ._layout import LayoutDataset, as_root, check_fractions, hash_split, sample, subfolders

LAYOUT = "<root>/[<split>/]<label>/*.{jpg,jpeg,png,tif,tiff,bmp,webp}"


@register_dataset("folder")
class Folder(LayoutDataset):
    """Your own images: <root>/<label>/*.jpg|png|tif, a label per camera model (or generator)."""

    layout = LAYOUT

    def __init__(self, root: str | None = None, synthetic: tuple[str, ...] = (), split: str | None = None,
                 fractions: tuple[float, float] = (0.6, 0.25), devices: bool = False, protocol: str = "cross-device",
                 train_fraction: float = 0.7, attacker_devices: tuple[str, ...] | None = None,
                 test_devices: tuple[str, ...] | None = None):
        if split is not None and split not in SPLITS:
            raise ValueError(f"folder: unknown split {split!r}; known: {', '.join(SPLITS)}")
        if devices and split is not None:
            raise ValueError("folder: devices=True splits by device; it cannot be combined with split")
        super().__init__()
        self.root, self.synthetic, self.split = as_root(root), tuple(synthetic), split
        self.fractions = check_fractions(self.name, fractions)
        self.devices = bool(devices)
        self.keep_device_options(protocol, train_fraction, attacker_devices, test_devices, synthetic_root=None)

    def _scan(self, root: Path) -> list[Sample]:
        folders = subfolders(root)
        if not folders:
            raise self.layout_error(root, "has no label folders")
        if self.devices:
            return self._scan_devices(root, folders)
        by_split = all(folder.name in SPLITS for folder in folders)
        samples = []
        for folder in folders:
            for label in subfolders(folder) if by_split else [folder]:
                for path in self.image_files(label):
                    split = folder.name if by_split else self.split or hash_split(path.stem, self.fractions)
                    samples.append(self._sample(root, label.name, path, split))
        return samples

    def _scan_devices(self, root: Path, folders: list[Path]) -> list[Sample]:
        cameras, synthetic = [], []
        for folder in folders:
            if folder.name in self.synthetic:
                synthetic += [self._sample(root, folder.name, path, hash_split(path.stem, self.fractions))
                              for path in self.image_files(folder)]
                continue
            for file in sorted(p for p in folder.iterdir() if p.is_file()):
                self.skip(file, f"not in a device folder (devices=True: {root}/<camera>/<device>/*)")
            for device in subfolders(folder):
                cameras += [sample(root, path, "", "real", camera=folder.name, device=f"{folder.name}/{device.name}")
                            for path in self.image_files(device)]
        return (self.split_devices(cameras, shot=lambda s: s.id) if cameras else []) + synthetic

    def _sample(self, root: Path, label: str, path: Path, split: str) -> Sample:
        if label in self.synthetic:
            return sample(root, path, split, "synthetic", generator=label)
        return sample(root, path, split, "real", camera=label)
