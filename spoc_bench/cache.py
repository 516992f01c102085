"""A content-addressed store: every result lives under the hash of everything that determines it.

Re-running a finished grid finds every key and recomputes nothing; a killed run finds the keys it
had finished; a changed configuration changes only the keys it touches. Every write is atomic.
An entry that cannot be read is reported (a warning on the ``spoc_bench`` logger) and treated as
missing, so it is recomputed and written again.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from pathlib import Path

import pandas as pd

from .images import atomic_write

log = logging.getLogger("spoc_bench")

CODE_VERSION = "1"  # bump when a change of code changes results that are cached


def default_root() -> Path:
    if os.environ.get("SPOC_BENCH_CACHE"):
        return Path(os.environ["SPOC_BENCH_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "spoc-bench"


def key(**parts) -> str:
    """sha256 of the canonical JSON of ``parts`` (and the code version)."""
    text = json.dumps({"code": CODE_VERSION, **parts}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:40]


class Cache:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root else default_root()

    def path(self, kind: str, digest: str, suffix: str = "") -> Path:
        return self.root / kind / digest[:2] / f"{digest}{suffix}"

    def load_frame(self, kind: str, digest: str) -> pd.DataFrame | None:
        """The frame of an entry; None where there is none or it cannot be read (reported)."""
        import pyarrow

        path = self.path(kind, digest, ".parquet")
        if not path.exists():
            return None
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError, pyarrow.ArrowException) as error:
            log.warning("cache entry %s is unreadable (%s: %s); recomputing it",
                        path, type(error).__name__, " ".join(str(error).split()))
            return None

    def save_frame(self, kind: str, digest: str, frame: pd.DataFrame) -> None:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        atomic_write(self.path(kind, digest, ".parquet"), buffer.getvalue())

    def load_arrays(self, kind: str, digest: str) -> dict | None:
        """The arrays of an entry; None where there is none or it cannot be read (reported)."""
        import numpy as np

        path = self.path(kind, digest, ".npz")
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as arrays:
                return {name: arrays[name] for name in arrays.files}
        except (OSError, ValueError) as error:
            log.warning("cache entry %s is unreadable (%s: %s); recomputing it", path, type(error).__name__, error)
            return None

    def save_arrays(self, kind: str, digest: str, arrays: dict) -> None:
        import numpy as np

        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write(self.path(kind, digest, ".npz"), buffer.getvalue())

    def folder(self, kind: str, digest: str) -> Path:
        return self.path(kind, digest)
