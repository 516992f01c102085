"""Datasets rendered once into a folder of the cache and listed by the ``index.csv`` written last.

Rendering goes to a temporary folder that is renamed into place when complete, so a killed run
leaves nothing half-made and two runs that race both end with one complete folder.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from pathlib import Path

from spoc_bench.cache import default_root
from spoc_bench.contracts import Dataset, Sample

FIELDS = ["id", "split", "source", "camera", "device", "scene", "generator", "file"]


def cache_folder(root: str | None, name: str) -> Path:
    return (Path(root) if root else default_root() / "datasets") / name


class GeneratedDataset(Dataset):
    _samples: list[Sample] | None = None

    @property
    def folder(self) -> Path:
        raise NotImplementedError

    def render(self, staging: Path) -> list[dict]:
        """Write every file under ``staging``; return one row (``FIELDS``) per file."""
        raise NotImplementedError

    def prepare(self) -> None:
        if not (self.folder / "index.csv").exists():
            self._build()
        with open(self.folder / "index.csv", newline="") as stream:
            self._samples = [Sample(r["id"], r["split"], r["source"], r["camera"] or None, r["device"] or None,
                                    r["scene"], r["generator"] or None, self.folder / r["file"], self.version)
                             for r in csv.DictReader(stream)]

    def samples(self, split: str) -> list[Sample]:
        if self._samples is None:
            self.prepare()
        return [s for s in self._samples if s.split == split]

    def _build(self) -> None:
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.folder.parent, prefix=f".{self.name}-"))
        try:
            rows = self.render(staging)
            with open(staging / "index.csv", "w", newline="") as stream:
                writer = csv.DictWriter(stream, FIELDS)
                writer.writeheader()
                writer.writerows(rows)
            staging.rename(self.folder)
        except OSError:
            if not (self.folder / "index.csv").exists():  # not a lost race with another run
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
