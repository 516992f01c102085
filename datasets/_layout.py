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
    synthetic_root: str | None = None  # a camera dataset's folder of generated images (see synthetic_samples)

    def __init__(self):
        self.skipped: list[tuple[str, str]] = []
        self._samples: list[Sample] | None = None
        self._split_report: dict | None = None

    def split_report(self) -> dict | None:
        if self._samples is None:
            self.prepare()
        return self._split_report

    def keep_device_options(self, protocol: str, train_fraction: float, attacker_devices, test_devices,
                            synthetic_root) -> None:
        """Store the options of a camera dataset's device split (:meth:`split_devices`) and its
        ``synthetic_root`` (:meth:`synthetic_samples`)."""
        self.protocol, self.train_fraction = protocol, float(train_fraction)
        self.attacker_devices, self.test_devices = optional_tuple(attacker_devices), optional_tuple(test_devices)
        self.synthetic_root = as_root(synthetic_root)

    def split_devices(self, samples: list[Sample], shot: Callable[[Sample], str]) -> list[Sample]:
        """``samples`` split by :func:`split_by_device` with this dataset's ``protocol``,
        ``train_fraction``, ``attacker_devices`` and ``test_devices``; the report is kept."""
        samples, self._split_report = split_by_device(self.name, samples, self.protocol, self.train_fraction,
                                                      self.attacker_devices, self.test_devices, shot)
        return samples

    def prepare(self) -> None:
        if self.root is None:
            raise ValueError(f"{self.name} dataset: no root given: name its folder with --data-root DIR "
                             f"(or --dataset-opt root=DIR; expected {self.layout})")
        root = Path(self.root)
        if not root.is_dir():
            raise FileNotFoundError(f"{self.name} dataset: {root} is not a directory (expected {self.layout})")
        self.skipped = []
        samples = self._scan(root)
        if not samples:
            raise self.layout_error(root, "holds no image files in the expected places")
        self._samples = samples + self.synthetic_samples()

    def synthetic_samples(self) -> list[Sample]:
        """The generated images under ``synthetic_root`` (``<dir>/[<split>/]<generator>/**``: any
        generator's outputs, or the ``synthetic`` dataset's rendered folder) as synthetic samples, read
        as the ``folder`` loader reads generator labels (split by the split folders, else hashed by
        file stem, 0.6 / 0.25 / 0.15), ids prefixed with ``synthetic/``: what an attack changes, and
        what SpoC learns from on a dataset of real photographs."""
        if self.synthetic_root is None:
            return []
        from .folder import Folder

        root = Path(self.synthetic_root)
        if not root.is_dir():
            raise FileNotFoundError(f"{self.name} dataset: synthetic_root {root} is not a directory "
                                    f"(expected <dir>/[<split>/]<generator>/* image files)")
        folders = subfolders(root)
        by_split = bool(folders) and all(folder.name in SPLITS for folder in folders)
        generators = {label.name for folder in folders for label in (subfolders(folder) if by_split else [folder])}
        inner = Folder(str(root), synthetic=tuple(sorted(generators)))
        inner.prepare()
        self.skipped += inner.skipped
        return [replace(s, id=f"synthetic/{s.id}") for split in SPLITS for s in inner.samples(split)]

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


def as_root(root) -> str | None:
    """A dataset's ``root`` as given (a path as text), or None where none was: published datasets have
    no default folder, so that a forgotten ``--data-root`` never scans the working directory."""
    return None if root is None else str(root)


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


PROTOCOLS = ("cross-device", "same-device")


def split_by_device(dataset: str, samples: list[Sample], protocol: str, train_fraction: float,
                    attacker_devices: Sequence[str] | None, test_devices: Sequence[str] | None,
                    shot: Callable[[Sample], str]) -> tuple[list[Sample], dict]:
    """The camera datasets' splits, and a report of which devices went where.

    ``cross-device`` (Kirchner & Gloe's protocol: a camera model is recognised on devices never seen in
    training): per model, devices in natural order, the attacker takes the last of three or more,
    ``defender-test`` the last of the others and ``defender-train`` the rest; a model with two devices
    has no attacker device (it cannot be an attack target), and a model whose devices are all taken
    leaves ``defender-test`` without it (a class, not tested: the report names it).
    ``attacker_devices`` and ``test_devices`` name devices instead of the default rule.

    ``same-device``: the attacker takes the same devices; the other devices' images are hashed by
    ``shot`` to ``defender-train`` (``train_fraction``) or ``defender-test``, so the test holds shots
    of the training devices (what papers without several devices per model measure).

    Either way the attacker never holds a device the defender saw."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"{dataset} dataset: unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    check_fractions(dataset, (train_fraction,))
    devices: dict[str, list[str]] = {}
    for s in samples:
        devices.setdefault(s.camera, [])
        if s.device not in devices[s.camera]:
            devices[s.camera].append(s.device)
    devices = {camera: sorted(names, key=natural) for camera, names in devices.items()}
    every = {d for names in devices.values() for d in names}
    named = {"attacker": attacker_devices, "test": test_devices}
    for role, wanted in named.items():
        if wanted is not None:
            named[role] = chosen(dataset, f"{role} device(s)", every, wanted)
    attackers = named["attacker"] if named["attacker"] is not None else {
        names[-1] for names in devices.values() if len(names) >= (3 if protocol == "cross-device" else 2)}
    split_of: dict[str, str] = {d: ATTACKER for d in attackers}
    if protocol == "cross-device":
        testers = named["test"] if named["test"] is not None else {
            [d for d in names if d not in attackers][-1] for names in devices.values()
            if len([d for d in names if d not in attackers]) >= 2}
        if testers & attackers:
            raise ValueError(f"{dataset} dataset: devices {sorted(testers & attackers)} named for both the attacker "
                             "and the test")
        if not testers:
            raise ValueError(f"{dataset} dataset: no camera model has two devices besides the attacker's, so none "
                             "is left for a cross-device test; give --dataset-opt protocol=same-device to test on "
                             "other shots of the training devices")
        split_of.update({d: TEST for d in testers})
    split = [replace(s, split=split_of.get(s.device) or (
        TRAIN if protocol == "cross-device" or unit_hash(shot(s)) < train_fraction else TEST)) for s in samples]
    return split, split_report(protocol, devices, split)


def split_report(protocol: str, devices: dict[str, list[str]], samples: list[Sample]) -> dict:
    """Which devices each split holds, and the models the defender's test leaves out or shares devices on."""
    held: dict[str, set[str]] = {split: set() for split in SPLITS}
    for s in samples:
        held[s.split].add(s.device)
    report = {"protocol": protocol, "devices": {split: sorted(held[split], key=natural) for split in SPLITS}}
    untested = sorted(camera for camera, names in devices.items() if not set(names) & held[TEST])
    if untested:
        report["not_tested"] = untested
    no_attacker = sorted(camera for camera, names in devices.items() if not set(names) & held[ATTACKER])
    if no_attacker:
        report["no_attacker_device"] = no_attacker
    return report
