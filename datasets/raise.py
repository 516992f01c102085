"""RAISE (Dang-Nguyen et al. 2015): uncompressed photographs of three Nikon bodies (D40, D90, D7000).

Layout: ``<root>/<list>.csv`` (the published CSV, with columns ``File``, ``TIFF``, ``NEF``,
``Device``) beside the TIFF files, anywhere under ``<root>``. ``csv`` names the CSV (relative to
the root, or absolute); by default the one CSV directly in the root. Each row's image is the file
named by the last component of its ``TIFF`` cell (a download URL in the published CSV, or a path),
or ``File`` + ``.TIF`` where that cell is empty, looked up by name (case-insensitively) anywhere
under the root. The camera and the device are the ``Device`` cell (one body per model), the scene
is ``File`` (which Synthbuster also uses). Listed files that are missing are counted in one
``skipped`` entry; images the CSV does not list, and files that are not images, are skipped too.

Splits: RAISE has one body per model, so a cross-device test (``protocol=cross-device``, as
``dresden`` has it) is impossible, and the default ``protocol`` is ``same-device``: the images are
hashed by ``File`` to ``defender-train`` (``train_fraction``) or ``defender-test``, and the table's
line says so. The attacker split is empty unless ``attacker_devices`` (e.g. ``["Nikon D7000"]``)
gives it a whole camera, which the defender then never sees.
"""

from __future__ import annotations

import csv as csv_module
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from spoc_bench.contracts import Sample
from spoc_bench.registry import register_dataset

from ._layout import LayoutDataset, as_root, sample

LAYOUT = "<root>/<list>.csv with columns File,TIFF,NEF,Device, and the TIFF files under <root>"
COLUMNS = ("File", "Device")


@register_dataset("raise")
class Raise(LayoutDataset):
    """RAISE (Nikon D40/D90/D7000 TIFFs listed in the RAISE CSV); attacker gets whole named devices."""

    layout = LAYOUT

    def __init__(self, root: str | None = None, csv: str | None = None, protocol: str = "same-device",
                 train_fraction: float = 0.7, attacker_devices: tuple[str, ...] | None = None,
                 test_devices: tuple[str, ...] | None = None, synthetic_root: str | None = None):
        super().__init__()
        self.root, self.csv = as_root(root), csv
        self.keep_device_options(protocol, train_fraction, attacker_devices, test_devices, synthetic_root)

    def _scan(self, root: Path) -> list[Sample]:
        listing = self._listing(root)
        with open(listing, newline="", encoding="utf-8-sig") as stream:
            rows = list(csv_module.DictReader(stream))
        missing_columns = [c for c in COLUMNS if rows and c not in rows[0]]
        if not rows or missing_columns:
            problem = f"without columns {missing_columns}" if missing_columns else "without rows"
            raise self.layout_error(root, f"has a CSV {listing.name} {problem}")
        images = self._images_by_name(root, listing)
        samples, missing = [], []
        for row in rows:
            name = PurePosixPath(urlparse(row.get("TIFF") or "").path).name or f"{row['File']}.TIF"
            path = images.pop(name.lower(), None)
            if path is None:
                missing.append(name)
                continue
            device = row["Device"].strip()
            samples.append(sample(root, path, "", "real", camera=device, device=device, scene=row["File"]))
        if missing:
            self.skip(listing, f"{len(missing)} listed TIFF file(s) not found under {root}, e.g. {missing[0]}")
        for path in images.values():
            self.skip(path, f"not listed in {listing.name}")
        return self.split_devices(samples, shot=lambda s: s.scene)

    def _listing(self, root: Path) -> Path:
        if self.csv is not None:
            listing = root / self.csv
            if not listing.is_file():
                raise self.layout_error(root, f"has no CSV {self.csv}")
            return listing
        listings = sorted(root.glob("*.csv"))
        if len(listings) != 1:
            names = ", ".join(p.name for p in listings)
            problem = f"has several CSVs ({names}; name one with csv=)" if listings else "has no CSV"
            raise self.layout_error(root, problem)
        return listings[0]

    def _images_by_name(self, root: Path, listing: Path) -> dict[str, Path]:
        images: dict[str, Path] = {}
        for path in self.image_files(root):
            if path.name.lower() in images:
                self.skip(path, f"same name as {images[path.name.lower()]}")
            else:
                images[path.name.lower()] = path
        self.skipped = [(p, r) for p, r in self.skipped if p != str(listing)]
        return images
