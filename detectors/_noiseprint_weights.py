"""Importing the official Noiseprint weights, and reading them back.

Pretrained weights: where they live, how they are imported, how they are read back.

Third-party weights are never shipped with spoc-bench: a user imports them once from their own copy
of the upstream release into a local folder, and detectors load them from there. The stored format
is safetensors (plain arrays, no code runs when a file is read), beside a ``manifest.json`` that
names each file's sha256, its source and the licence.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from spoc_bench.images import atomic_write
from spoc_bench.tf_checkpoint import read_tf_checkpoint
from spoc_bench.weights import WeightsNotFoundError, file_sha256, read_safetensors

NOISEPRINT_ENV = "SPOC_BENCH_NOISEPRINT_DIR"
NOISEPRINT_IMPORT_COMMAND = "spoc-bench weights import noiseprint PATH"
NOISEPRINT_FILE = "noiseprint_qf{quality}.safetensors"
NOISEPRINT_FILE_PATTERN = re.compile(r"^noiseprint_qf(\d+)\.safetensors$")
NOISEPRINT_LEVELS = 17
NOISEPRINT_FEATURES = 64
NOISEPRINT_LICENCE = (
    "Noiseprint weights: (c) Image Processing Research Group of University Federico II of Naples "
    "('GRIP-UNINA'), from https://github.com/grip-unina/noiseprint. Licensed for informational and "
    "non-profit purposes only; keep all original notices (LICENSE.txt); cite D. Cozzolino and "
    "L. Verdoliva, 'Noiseprint: a CNN-based camera model fingerprint', IEEE TIFS 15, 2020. "
    "Not redistributed with spoc-bench."
)


# ------------------------------------------------------------------------------------- locations
def noiseprint_dir(weights_dir: str | os.PathLike | None = None) -> Path:
    """The Noiseprint weights folder: ``weights_dir``, else ``$SPOC_BENCH_NOISEPRINT_DIR``,
    else ``<cache>/weights/noiseprint-grip`` (cache: ``spoc_bench.cache.default_root()``)."""
    if weights_dir:
        return Path(weights_dir).expanduser()
    if os.environ.get(NOISEPRINT_ENV):
        return Path(os.environ[NOISEPRINT_ENV]).expanduser()
    from spoc_bench.cache import default_root

    return default_root() / "weights" / "noiseprint-grip"


def noiseprint_files(folder: str | os.PathLike) -> dict[int, Path]:
    """``{quality: path}`` of the ``noiseprint_qf{Q}.safetensors`` files in ``folder``.

    Raises :class:`WeightsNotFoundError` (naming the folder and the import command) when the
    folder is missing or holds none.
    """
    folder = Path(folder)
    how = (f"Import the official weights with `{NOISEPRINT_IMPORT_COMMAND}` (PATH: your clone of "
           f"grip-unina/noiseprint), or point weights_dir= or ${NOISEPRINT_ENV} at a folder of "
           f"noiseprint_qf{{Q}}.safetensors files.")
    if not folder.is_dir():
        raise WeightsNotFoundError(f"noiseprint: weights folder {folder} does not exist. {how}")
    files = {}
    for path in folder.iterdir():
        match = NOISEPRINT_FILE_PATTERN.match(path.name)
        if match and path.is_file():
            files[int(match.group(1))] = path
    if not files:
        hint = ""
        if list(folder.glob("noiseprint_qf*.npz")) or list(folder.glob("npz/noiseprint_qf*.npz")):
            hint = " It holds .npz files: those are an input of the importer, not loaded directly."
        raise WeightsNotFoundError(f"noiseprint: no noiseprint_qf{{Q}}.safetensors files in {folder}.{hint} {how}")
    return dict(sorted(files.items()))


# ----------------------------------------------------------------------------------- the layout
def noiseprint_shapes() -> dict[str, tuple[int, ...]]:
    """The arrays of one Noiseprint network (PyTorch layout), as stored in the safetensors files.

    ``level_i.conv.weight`` ``[out, in, 3, 3]`` for i = 0..16; ``level_i.bias`` (added after the
    conv for i = 0 and 16, after BatchNorm otherwise); ``level_i.bn.gamma``, ``.moving_mean``,
    ``.moving_variance`` for i = 1..15 (BatchNorm, eps 1e-5, no beta).
    """
    shapes = {}
    for level in range(NOISEPRINT_LEVELS):
        inputs = 1 if level == 0 else NOISEPRINT_FEATURES
        outputs = 1 if level == NOISEPRINT_LEVELS - 1 else NOISEPRINT_FEATURES
        shapes[f"level_{level}.conv.weight"] = (outputs, inputs, 3, 3)
        shapes[f"level_{level}.bias"] = (outputs,)
        if 0 < level < NOISEPRINT_LEVELS - 1:
            for name in ("gamma", "moving_mean", "moving_variance"):
                shapes[f"level_{level}.bn.{name}"] = (outputs,)
    return shapes


def check_noiseprint_arrays(arrays: dict[str, np.ndarray], origin: str) -> dict[str, np.ndarray]:
    """Refuse anything but exactly the arrays of :func:`noiseprint_shapes`; returns float32 copies."""
    expected = noiseprint_shapes()
    missing, extra = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
    if missing or extra:
        raise ValueError(f"{origin}: not a Noiseprint network (missing {missing[:4]}{'...' if len(missing) > 4 else ''},"
                         f" unexpected {extra[:4]}{'...' if len(extra) > 4 else ''})")
    checked = {}
    for name, shape in expected.items():
        array = np.asarray(arrays[name])
        if array.shape != shape:
            raise ValueError(f"{origin}: {name} has shape {array.shape}, expected {shape}")
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"{origin}: {name} has dtype {array.dtype}, expected float32")
        checked[name] = np.ascontiguousarray(array, dtype=np.float32)
    return checked


def load_noiseprint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The checked arrays of one ``noiseprint_qf{Q}.safetensors`` file (verified against its manifest
    where it has one: :func:`spoc_bench.weights.verified_sha256`)."""

    return check_noiseprint_arrays(read_safetensors(path, "numpy"), str(path))


def noiseprint_from_tf(variables: dict[str, np.ndarray], origin: str = "checkpoint") -> dict[str, np.ndarray]:
    """Map the variables of the official TensorFlow graph to :func:`noiseprint_shapes`.

    ``level_i/conv/weights`` (HWIO) -> ``level_i.conv.weight`` (OIHW); ``level_i/bias/beta`` ->
    ``level_i.bias``; ``level_i/bn/{gamma,moving_mean,moving_variance}`` -> ``level_i.bn.*``. Other
    variables (``global_step``, the loss's ``beta`` and ``corr_alpha``, optimiser slots) are left out.
    """
    pattern = re.compile(r"^level_(\d+)/(conv/weights|bias/beta|bn/gamma|bn/moving_mean|bn/moving_variance)$")
    arrays = {}
    for name, value in variables.items():
        match = pattern.match(name)
        if not match:
            continue
        level, what = match.groups()
        if what == "conv/weights":
            arrays[f"level_{level}.conv.weight"] = np.transpose(value, (3, 2, 0, 1))
        elif what == "bias/beta":
            arrays[f"level_{level}.bias"] = value
        else:
            arrays[f"level_{level}.bn.{what.split('/')[1]}"] = value
    return check_noiseprint_arrays(arrays, origin)


# ------------------------------------------------------------------------------------ the import
def import_noiseprint(source: str | os.PathLike, destination: str | os.PathLike | None = None) -> dict:
    """Import the official Noiseprint weights into ``destination`` as safetensors files.

    ``source`` is either a clone of https://github.com/grip-unina/noiseprint (or any folder below
    it), where the TensorFlow 1 checkpoints ``noiseprint/nets/net_jpg{Q}/model.index`` +
    ``model.data-00000-of-00001`` are read without TensorFlow, or a folder of converted
    ``noiseprint_qf{Q}.npz`` files (read with ``allow_pickle=False``). Any checkpoint whose folder
    or file name carries the quality (``jpg{Q}`` or ``qf{Q}``) is taken; where both formats give a
    quality, the TensorFlow original wins. ``destination`` defaults to :func:`noiseprint_dir`
    (``$SPOC_BENCH_NOISEPRINT_DIR`` or ``<cache>/weights/noiseprint-grip``).

    Writes ``noiseprint_qf{Q}.safetensors`` per quality, copies the upstream ``LICENSE.txt`` where
    one is found beside or above the source, and writes ``manifest.json`` (sha256 and source of
    each file, licence notice). Every write is atomic. Returns the manifest (with
    ``"destination"``). Raises ``FileNotFoundError`` when ``source`` holds no weights, and
    ``ValueError`` for a file that is not a Noiseprint network (or fails its checksum).
    """
    from safetensors.numpy import save

    source = Path(source).expanduser()
    if not source.exists():
        raise FileNotFoundError(f"noiseprint import: {source} does not exist (expected a clone of "
                                f"grip-unina/noiseprint or a folder of noiseprint_qf{{Q}}.npz files)")
    destination = noiseprint_dir(destination)
    found = _noiseprint_sources(source)
    if not found:
        raise FileNotFoundError(
            f"noiseprint import: no weights under {source}: expected TensorFlow checkpoints "
            f"noiseprint/nets/net_jpg{{Q}}/model.index + model.data-00000-of-00001 (a clone of "
            f"grip-unina/noiseprint, with its Git LFS files pulled) or noiseprint_qf{{Q}}.npz files")
    destination.mkdir(parents=True, exist_ok=True)
    written = {}
    for quality, (kind, path) in sorted(found.items()):
        if kind == "tf":
            arrays = noiseprint_from_tf(read_tf_checkpoint(path), str(path))
            origin = f"{path}.index (TensorFlow checkpoint)"
        else:
            arrays = check_noiseprint_arrays(read_npz(path), str(path))
            origin = f"{path} (npz)"
        metadata = {"format": "noiseprint-v1", "quality": str(quality), "source": origin,
                    "licence": NOISEPRINT_LICENCE}
        name = NOISEPRINT_FILE.format(quality=quality)
        atomic_write(destination / name, save(arrays, metadata=metadata))
        written[name] = origin
    licence = _find_licence(source)
    if licence is not None:
        atomic_write(destination / "LICENSE.txt", licence.read_bytes())
    manifest = _write_manifest(destination, written, source)
    return {**manifest, "destination": str(destination)}


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` archive (no pickles); ``ValueError`` naming the file otherwise."""
    import zipfile

    expected = "expected numpy.savez output with the arrays of one network (noiseprint_shapes())"
    if not zipfile.is_zipfile(path):
        raise ValueError(f"noiseprint import: {path} is not an .npz archive (not a zip file); {expected}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"noiseprint import: {path} is not a readable .npz archive ({error}); {expected}") from None


def _noiseprint_sources(source: Path) -> dict[int, tuple[str, Path]]:
    """``{quality: ("tf", checkpoint prefix) | ("npz", file)}`` found under ``source``."""
    quality_in = re.compile(r"(?:jpg|qf)[_-]?(\d{2,3})(?!\d)", re.IGNORECASE)
    found: dict[int, tuple[str, Path]] = {}
    if (source / "noiseprint" / "nets").is_dir():  # a clone: only its networks, not all of .git
        source = source / "noiseprint" / "nets"
    paths = [source] if source.is_file() else sorted(source.rglob("*"))
    for path in paths:
        if path.name.endswith(".npz") and path.is_file():
            match = re.fullmatch(r"noiseprint_qf(\d+)\.npz", path.name)
            if match:
                found.setdefault(int(match.group(1)), ("npz", path))
    for path in paths:
        if path.suffix == ".index" and path.is_file():
            prefix = path.with_suffix("")
            match = quality_in.search(prefix.name) or quality_in.search(path.parent.name)
            if not match:
                continue
            quality = int(match.group(1))
            known = found.get(quality)
            if known is not None and known[0] == "tf":
                raise ValueError(f"noiseprint import: two checkpoints for quality {quality}: {known[1]} and {prefix}")
            found[quality] = ("tf", prefix)
    return found


def _find_licence(source: Path) -> Path | None:
    folder = source if source.is_dir() else source.parent
    for candidate in [folder, *folder.parents][:5]:
        for name in ("LICENSE.txt", "LICENSE"):
            if (candidate / name).is_file():
                return candidate / name
    return None


def _write_manifest(destination: Path, written: dict[str, str], source: Path) -> dict:
    path = destination / "manifest.json"
    previous = {}
    if path.is_file():
        try:
            previous = json.loads(path.read_text()).get("files", {})
        except (ValueError, AttributeError):
            previous = {}
    files = {}
    for quality, file in noiseprint_files(destination).items():
        entry = {"quality": quality, "bytes": file.stat().st_size, "sha256": file_sha256(file),
                 "source": written.get(file.name) or previous.get(file.name, {}).get("source", "unknown")}
        files[file.name] = entry
    manifest = {
        "model": "noiseprint",
        "reference": "D. Cozzolino, L. Verdoliva, 'Noiseprint: a CNN-based camera model fingerprint', IEEE TIFS 2020",
        "upstream": "https://github.com/grip-unina/noiseprint (noiseprint/nets/net_jpg{Q})",
        "licence": NOISEPRINT_LICENCE,
        "licence_file": "LICENSE.txt" if (destination / "LICENSE.txt").is_file() else None,
        "last_import_source": str(source),
        "layout": "PyTorch: level_i.conv.weight [out,in,3,3]; level_i.bias; level_i.bn.{gamma,moving_mean,moving_variance}",
        "files": files,
    }
    atomic_write(path, (json.dumps(manifest, indent=1) + "\n").encode())
    return manifest
