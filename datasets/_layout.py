"""Helpers shared by the loaders of published datasets (the leading underscore keeps this module
out of the registry): a base class that checks the root and lists samples once, file walking that
records what it skips, deterministic hash splits, and the device rule of the camera datasets.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from spoc_bench.contracts import SPLITS, Dataset, Sample
from spoc_bench.images import IMAGE_SUFFIXES

TRAIN, TEST, ATTACKER = SPLITS


class LayoutDataset(Dataset):
    """A dataset read from files laid out as ``layout`` says; subclasses implement ``_scan``."""

    layout = ""  # the expected layout, spelled out in every error

    def __init__(self):
        self.skipped: list[tuple[str, str]] = []
        self._samples: list[Sample] | None = None

    def prepare(self) -> None:
        root = Path(self.root)
        if not root.is_dir():
            raise FileNotFoundError(f"{self.name} dataset: {root} is not a directory (expected {self.layout})")
        self.skipped = []
        samples = self._scan(root)
        if not samples:
            raise self.layout_error(root, "holds no image files in the expected places")
        self._samples = samples

    def _scan(self, root: Path) -> list[Sample]:
        raise NotImplementedError

    def samples(self, split: str) -> list[Sample]:
        if self._samples is None:
            self.prepare()
        return [s for s in self._samples if s.split == split]

    def layout_error(self, root: Path, problem: str) -> ValueError:
        return ValueError(f"{self.name} dataset: {root} {problem} (expected {self.layout})")

    def skip(self, path: Path, reason: str) -> None:
        self.skipped.append((str(path), reason))

    def image_files(self, folder: Path) -> Iterator[Path]:
        """Every image file under ``folder`` (nested folders too), sorted; other files are skipped."""
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                yield path
            else:
                self.skip(path, f"not an image file (suffix {path.suffix or 'none'})")


def sample(root: Path, path: Path, split: str, source: str, **labels) -> Sample:
    """A sample whose id is its path relative to ``root`` and whose stamp is size and mtime."""
    stat = path.stat()
    return Sample(path.relative_to(root).as_posix(), split, source, path=path,
                  stamp=f"{stat.st_size}-{stat.st_mtime_ns}", **labels)


def subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def chosen(dataset: str, what: str, found: Iterable[str], wanted: Sequence[str] | None) -> set[str]:
    """``wanted`` (all of ``found`` when None), refusing names that are not there."""
    found = set(found)
    if wanted is None:
        return found
    unknown = sorted(set(wanted) - found)
    if unknown:
        raise ValueError(f"{dataset} dataset: unknown {what} {unknown}; found: {sorted(found, key=natural)}")
    return set(wanted)


def optional_tuple(values) -> tuple | None:
    return None if values is None else tuple([values] if isinstance(values, str) else values)


# ------------------------------------------------------------------------------------- splits
def unit_hash(key: str) -> float:
    """A stable position in [0, 1) for ``key`` (the same on every machine and every run)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 16**8


def check_fractions(dataset: str, fractions: Sequence[float]) -> tuple[float, ...]:
    fractions = tuple(float(f) for f in fractions)
    if any(f < 0 for f in fractions) or sum(fractions) > 1:
        raise ValueError(f"{dataset} dataset: split fractions {fractions} must be >= 0 and sum to at most 1")
    return fractions


def hash_split(key: str, fractions: tuple[float, float]) -> str:
    """``defender-train`` / ``defender-test`` / ``attacker`` by the hash of ``key``: the first two
    take ``fractions`` of the keys, the attacker the rest."""
    position, (train, test) = unit_hash(key), fractions
    return TRAIN if position < train else TEST if position < train + test else ATTACKER


def natural(text: str) -> tuple:
    """Sort key that orders embedded numbers by value (``cam_2`` before ``cam_10``)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def default_attacker_devices(samples: Sequence[Sample]) -> set[str]:
    """For each camera model with several devices, its last device in natural order."""
    devices: dict[str, set[str]] = {}
    for s in samples:
        devices.setdefault(s.camera, set()).add(s.device)
    return {max(names, key=natural) for names in devices.values() if len(names) > 1}


def split_by_device(dataset: str, samples: list[Sample], train_fraction: float,
                    attacker_devices: Sequence[str] | None, shot: Callable[[Sample], str]) -> list[Sample]:
    """The camera datasets' rule: whole devices go to the attacker (``attacker_devices``, or by
    default the last device of each model that has several); the other devices' images are hashed
    by ``shot`` to ``defender-train`` (``train_fraction`` of them) or ``defender-test``. So the
    attacker never holds a device the defender saw, and a model with one device is a defender class
    the attacker has no images of."""
    check_fractions(dataset, (train_fraction,))
    attackers = (default_attacker_devices(samples) if attacker_devices is None
                 else chosen(dataset, "attacker device(s)", {s.device for s in samples}, attacker_devices))
    return [replace(s, split=ATTACKER if s.device in attackers
                    else TRAIN if unit_hash(shot(s)) < train_fraction else TEST) for s in samples]
