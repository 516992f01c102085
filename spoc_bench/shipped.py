"""Weights this project trains on its own embedded data and ships beside the plugins that use them:
``<plugin folder>/weights/<name>-<tag>.safetensors`` with a JSON manifest of the same stem (sha256,
recipe, data version, training time, final metrics, the command that made them).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from .images import atomic_write

KIND_FOLDERS = {"attack": "attacks", "detector": "detectors", "dataset": "datasets"}


def weights_folder(kind: str) -> Path:
    """The folder of shipped weights of a plugin kind (inside the installed package)."""
    import importlib

    package = importlib.import_module(f"spoc_bench.{KIND_FOLDERS[kind]}")
    return Path(package.__file__).parent / "weights"


def weights_path(kind: str, name: str, tag: str, folder: str | Path | None = None) -> Path:
    return Path(folder or weights_folder(kind)) / f"{name}-{tag}.safetensors"


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_weights(kind: str, name: str, tag: str, folder: str | Path | None = None):
    """The tensors of ``<name>-<tag>.safetensors``; a missing file names the command that trains it."""
    from safetensors.torch import load_file

    path = weights_path(kind, name, tag, folder)
    if not path.exists():
        raise FileNotFoundError(f"{kind} {name!r}: weights {path} are missing; train them with "
                                f"`spoc-bench train {kind} {name}`")
    return load_file(str(path))


def save_weights(tensors: dict, kind: str, name: str, tag: str, manifest: dict,
                 folder: str | Path | None = None) -> Path:
    """Write the tensors and their manifest (sha256 added), each atomically."""
    from safetensors.torch import save

    path = weights_path(kind, name, tag, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}))
    record = {"file": path.name, "sha256": file_sha256(path), "plugin": f"{kind}:{name}", "tag": tag,
              "command": f"spoc-bench train {kind} {name}", "written": time.strftime("%Y-%m-%d"), **manifest}
    atomic_write(path.with_suffix(".json"), json.dumps(record, indent=2, default=str).encode())
    return path


class ShippedDetectorWeights:
    """Mixin for detectors whose ``weights`` tag names a shipped file ``<name>-<tag>.safetensors``
    (in ``weights_dir`` when given): its path and its sha256 (the cache keys' weights id)."""

    weights: str
    weights_dir: str | None = None

    def weights_file(self) -> Path:
        path = weights_path("detector", self.name, self.weights, self.weights_dir)
        if not path.exists():
            load_weights("detector", self.name, self.weights, self.weights_dir)  # raises its clear error
        return path

    def weights_id(self) -> str:
        return file_sha256(self.weights_file())
