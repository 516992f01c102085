"""Datasets rendered once into a folder of the cache and listed by the ``index.csv`` written last.

Rendering goes to a temporary staging folder that is renamed into place when complete, so a killed
run leaves nothing half-made and two runs that race both end with one complete folder. A staging
folder holds an owner file (host and pid of the process that writes it); the staging folders that
a killed run left (owner gone, or no owner and untouched for ``STALE_SECONDS``) are removed before
the next rendering.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

from spoc_bench.cache import default_root
from spoc_bench.contracts import Dataset, Sample
from spoc_bench.progress import bar

FIELDS = ["id", "split", "source", "camera", "device", "scene", "generator", "file"]
OWNER = ".owner"
STALE_SECONDS = 24 * 3600

log = logging.getLogger("spoc_bench")


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

    def rendering(self, iterable, total: int | None = None, unit: str = "view"):
        """``iterable`` (the units of :meth:`render`'s work) with the bar of this dataset's rendering."""
        return bar(iterable, f"render {self.name}", total, unit)

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
        remove_stale_staging(self.folder.parent, f".{self.name}-")
        staging = Path(tempfile.mkdtemp(dir=self.folder.parent, prefix=f".{self.name}-"))
        try:
            (staging / OWNER).write_text(f"{socket.gethostname()} {os.getpid()}\n")
            rows = self.render(staging)
            with open(staging / "index.csv", "w", newline="") as stream:
                writer = csv.DictWriter(stream, FIELDS)
                writer.writeheader()
                writer.writerows(rows)
            (staging / OWNER).unlink()
            staging.rename(self.folder)
        except OSError:
            if not (self.folder / "index.csv").exists():  # not a lost race with another run
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def remove_stale_staging(parent: Path, prefix: str) -> None:
    """Remove the staging folders ``<parent>/<prefix>*`` that no live process writes (reported)."""
    for staging in parent.glob(f"{prefix}*"):
        if staging.is_dir() and is_stale(staging):
            shutil.rmtree(staging, ignore_errors=True)
            log.warning("removed %s: the staging folder of a dataset rendering that did not finish", staging)


def is_stale(staging: Path) -> bool:
    """Whether a staging folder is abandoned: its owner is a process of this host that is gone, or
    (no owner file, or another host's) it has not changed for ``STALE_SECONDS``."""
    try:
        host, pid = (staging / OWNER).read_text().split()
        if host == socket.gethostname():
            return not process_alive(int(pid))
    except (OSError, ValueError):
        pass
    try:
        return time.time() - staging.stat().st_mtime > STALE_SECONDS
    except OSError:  # removed meanwhile
        return False


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
