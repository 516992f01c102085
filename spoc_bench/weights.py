"""Weights: where they live, how they are checked and read, how they are written.

The project's own weights, trained on its embedded data, ship beside the plugins that use them:
``<plugin folder>/weights/<name>-<tag>.safetensors`` with a JSON manifest of the same stem (sha256,
recipe, data version, training time, final metrics, the command that made them). Third-party
weights are never shipped: a plugin's importer (``spoc-bench weights import NAME PATH``) converts the
user's copy of the upstream release into a local folder with a ``manifest.json``.
Every weights file is checked against its manifest before it is read (:func:`verified_sha256`):
the same stem's ``.json`` (``"sha256"``), else the folder's ``manifest.json`` (``"files"`` ->
name -> ``"sha256"``, as ``spoc-bench weights import`` writes it). A file without a manifest is
read unchecked. A file that differs from its manifest, or cannot be read, raises
:class:`WeightsError` naming the file and the fix. Inside :func:`recorded`, every file verified
is noted with its sha256 (the runner writes them into ``run.json``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from .images import atomic_write

KIND_FOLDERS = {"attack": "attacks", "detector": "detectors", "dataset": "datasets"}
_RECORD: ContextVar[dict | None] = ContextVar("spoc_bench_verified_weights", default=None)


def weights_folder(kind: str) -> Path:
    """The folder of shipped weights of a plugin kind (inside the installed package)."""
    import importlib

    package = importlib.import_module(f"spoc_bench.{KIND_FOLDERS[kind]}")
    return Path(package.__file__).parent / "weights"


def local_weights_dir(name: str) -> Path:
    """Where the weights a user makes for a plugin go, never inside the package: imported upstream
    releases and generators trained on the user's own data (``<cache>/weights/<name>``)."""
    from .cache import default_root

    return default_root() / "weights" / name


def weights_path(kind: str, name: str, tag: str, folder: str | Path | None = None) -> Path:
    return Path(folder or weights_folder(kind)) / f"{name}-{tag}.safetensors"


def pack_classes(classes):
    """Class names as a uint8 tensor (so they travel inside the hashed weights file)."""
    import torch

    return torch.tensor(list("\n".join(classes).encode()), dtype=torch.uint8)


def unpack_classes(tensor) -> tuple[str, ...]:
    return tuple(bytes(tensor.tolist()).decode().split("\n"))


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class WeightsNotFoundError(FileNotFoundError):
    """A weights folder or file that is not there; the message names the folder and the fix."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class WeightsError(ValueError):
    """A weights file that differs from its manifest or cannot be read; the message names the file
    and what to do."""


def manifest_entry(path: Path) -> tuple[str | None, Path | None, str]:
    """``(expected sha256, manifest file, how to make the file again)`` of a weights file; the
    sha256 and manifest are None where no manifest lists the file."""
    beside, folder_manifest = path.with_suffix(".json"), path.parent / "manifest.json"
    for manifest in (beside, folder_manifest):
        if not manifest.is_file():
            continue
        try:
            record = json.loads(manifest.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise WeightsError(f"{manifest}: the manifest of {path.name} is not readable JSON ({error}); "
                               f"restore it from git or write the weights again") from None
        entry = record if manifest == beside else (record.get("files") or {}).get(path.name)
        if isinstance(entry, dict) and entry.get("sha256"):
            return entry["sha256"], manifest, remedy(record)
    return None, None, "restore it from git"


def remedy(record: dict) -> str:
    """How to make a weights file again, from its manifest: its training or import command."""
    if str(record.get("command", "")).startswith("spoc-bench weights import"):
        return f"re-import it with `{record['command']}`"
    if record.get("command"):
        return f"retrain it with `{record['command']}` or restore it from git"
    if record.get("model"):
        return f"re-import it with `spoc-bench weights import {record['model']} PATH`"
    return "restore it from git (`git checkout -- <file>`) or write it again"


def verified_sha256(path: str | Path) -> str:
    """The sha256 of a weights file, checked against its manifest once per process for each
    (path, modification time, size); raises :class:`WeightsError` on a mismatch."""
    path = Path(path).resolve()
    stat = path.stat()
    digest = _verified_sha256(path, stat.st_mtime_ns, stat.st_size)
    record = _RECORD.get()
    if record is not None:
        record[str(path)] = digest
    return digest


@contextmanager
def recorded():
    """``{path: sha256}`` of every weights file :func:`verified_sha256` checks inside the block."""
    files: dict[str, str] = {}
    token = _RECORD.set(files)
    try:
        yield files
    finally:
        _RECORD.reset(token)


@functools.lru_cache(maxsize=None)
def _verified_sha256(path: Path, mtime_ns: int, size: int) -> str:
    actual = file_sha256(path)
    expected, manifest, fix = manifest_entry(path)
    if expected is not None and actual != expected:
        raise WeightsError(f"{path}: sha256 {actual[:12]}... differs from {expected[:12]}... in {manifest} "
                           f"(the file was changed, truncated or corrupted); {fix}")
    return actual


def read_safetensors(path: str | Path, framework: str = "torch") -> dict:
    """The tensors of a verified safetensors file (``framework``: torch or numpy)."""
    from safetensors import SafetensorError

    if framework == "torch":
        from safetensors.torch import load_file
    else:
        from safetensors.numpy import load_file
    verified_sha256(path)
    try:
        return load_file(str(path))
    except SafetensorError as error:
        fix = manifest_entry(Path(path))[2]
        raise WeightsError(f"{path}: not a readable safetensors file ({error}); {fix}") from None


def load_weights(kind: str, name: str, tag: str, folder: str | Path | None = None):
    """The tensors of ``<name>-<tag>.safetensors``, verified against its manifest; a missing file
    names the command that trains it."""
    path = weights_path(kind, name, tag, folder)
    if not path.exists():
        raise FileNotFoundError(f"{kind} {name!r}: weights {path} are missing; train them with "
                                f"`spoc-bench train {kind} {name}`")
    return read_safetensors(path)


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
    (in ``weights_dir`` when given): its path and its verified sha256 (the cache keys' weights id)."""

    weights: str
    weights_dir: str | None = None

    def weights_file(self) -> Path:
        path = weights_path("detector", self.name, self.weights, self.weights_dir)
        if not path.exists():
            load_weights("detector", self.name, self.weights, self.weights_dir)  # raises its clear error
        return path

    def weights_id(self) -> str:
        return verified_sha256(self.weights_file())
