"""Pretrained weights: where they live, how they are imported, how they are read back.

Third-party weights are never shipped with spoc-bench: a user imports them once from their own copy
of the upstream release into a local folder, and detectors load them from there. The stored format
is safetensors (plain arrays, no code runs when a file is read), beside a ``manifest.json`` that
names each file's sha256, its source and the licence.

Noiseprint (Cozzolino & Verdoliva, IEEE TIFS 2020): the official networks are TensorFlow 1
checkpoints in the public repository grip-unina/noiseprint, ``noiseprint/nets/net_jpg{Q}/model.*``
(one network per JPEG quality Q = 51..100, plus 101 for images that are not JPEG).
:func:`import_noiseprint` reads them **without TensorFlow** (:func:`read_tf_checkpoint` parses the
TensorBundle format by hand) and writes ``noiseprint_qf{Q}.safetensors`` with the arrays in PyTorch
layout, named as in :func:`noiseprint_shapes`.

TensorBundle, as read here: ``<prefix>.index`` is an SSTable in LevelDB's table format (data
blocks of prefix-compressed key/value entries with restart points, each block followed by a
compression byte and a masked CRC32C; an index block of block handles; a 48-byte footer with the
metaindex and index handles as varints and a magic number). The entry of key ``""`` is a
BundleHeaderProto (number of shards, endianness); every other key is a variable name whose value is
a BundleEntryProto (dtype, shape, shard_id, offset, size, crc32c). ``<prefix>.data-SSSSS-of-NNNNN``
holds the raw tensors at those offsets. Protobuf is decoded by hand (varints and the four wire
types used), so neither tensorflow nor protobuf is needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from pathlib import Path

import numpy as np

from .images import atomic_write

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


class WeightsNotFoundError(FileNotFoundError):
    """A weights folder or file that is not there; the message names the folder and the fix."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# ------------------------------------------------------------------------------------- locations
def noiseprint_dir(weights_dir: str | os.PathLike | None = None) -> Path:
    """The Noiseprint weights folder: ``weights_dir``, else ``$SPOC_BENCH_NOISEPRINT_DIR``,
    else ``<cache>/weights/noiseprint-grip`` (cache: ``spoc_bench.cache.default_root()``)."""
    if weights_dir:
        return Path(weights_dir).expanduser()
    if os.environ.get(NOISEPRINT_ENV):
        return Path(os.environ[NOISEPRINT_ENV]).expanduser()
    from .cache import default_root

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


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
    where it has one: :func:`spoc_bench.shipped.verified_sha256`)."""
    from .shipped import read_safetensors

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
        entry = {"quality": quality, "bytes": file.stat().st_size, "sha256": sha256_file(file),
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


# ------------------------------------------------------------------- TensorFlow checkpoints by hand
TF_DTYPES = {1: "f4", 2: "f8", 3: "i4", 4: "u1", 5: "i2", 6: "i1", 9: "i8", 10: "?", 17: "u2", 19: "f2",
             22: "u4", 23: "u8"}
TABLE_MAGIC = 0xDB4775248B80FB57


def read_tf_checkpoint(prefix: str | os.PathLike, verify: bool = True) -> dict[str, np.ndarray]:
    """All numeric variables of a TensorFlow (TensorBundle, V2) checkpoint, read without TensorFlow.

    ``prefix`` is the path without ``.index`` (a path ending in ``.index`` is accepted too).
    ``verify`` checks each tensor's CRC32C. Variables of string or other non-numeric dtypes and
    sliced (partitioned) variables are left out.
    """
    prefix = Path(prefix)
    if prefix.suffix == ".index":
        prefix = prefix.with_suffix("")
    index_file = Path(f"{prefix}.index")
    if not index_file.is_file():
        raise FileNotFoundError(f"{index_file}: no checkpoint index")
    index = index_file.read_bytes()
    if index.startswith(b"version https://git-lfs"):
        raise ValueError(f"{index_file} is a Git LFS pointer, not the checkpoint: run `git lfs pull` in the clone")
    entries = read_sstable(index, str(index_file))
    if b"" not in entries:
        raise ValueError(f"{index_file}: no BundleHeaderProto (not a TensorBundle index)")
    header = _proto_fields(entries.pop(b""))
    shards = _first(header, 1, 1)
    big_endian = _first(header, 2, 0) == 1
    order = ">" if big_endian else "<"
    data: dict[int, bytes] = {}
    variables = {}
    for key, value in entries.items():
        entry = _proto_fields(value)
        dtype = TF_DTYPES.get(_first(entry, 1, 0))
        if dtype is None or 7 in entry:  # non-numeric dtype or a sliced variable
            continue
        shape = tuple(_first(_proto_fields(dim), 1, 0) for dim in _proto_fields(_first(entry, 2, b"")).get(2, []))
        shard, offset, size = _first(entry, 3, 0), _first(entry, 4, 0), _first(entry, 5, 0)
        if shard not in data:
            shard_file = Path(f"{prefix}.data-{shard:05d}-of-{shards:05d}")
            if not shard_file.is_file():
                raise FileNotFoundError(f"{shard_file}: data file of checkpoint {prefix} is missing")
            data[shard] = shard_file.read_bytes()
            if data[shard].startswith(b"version https://git-lfs"):
                raise ValueError(f"{shard_file} is a Git LFS pointer, not the weights: run `git lfs pull` in the clone")
        raw = data[shard][offset:offset + size]
        name = key.decode("utf-8", "replace")
        if len(raw) != size:
            raise ValueError(f"{index_file}: {name} lies past the end of its data file")
        if verify and 6 in entry and _unmask(entry[6][0]) != crc32c(raw):
            raise ValueError(f"{index_file}: {name} fails its CRC32C check (corrupt data file?)")
        array = np.frombuffer(raw, dtype=np.dtype(order + dtype) if dtype != "?" else np.bool_)
        if array.size != int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"{index_file}: {name} holds {array.size} values for shape {shape}")
        variables[name] = array.reshape(shape).astype(np.dtype(dtype), copy=True)
    return variables


def read_sstable(table: bytes, name: str = "table") -> dict[bytes, bytes]:
    """Every key/value of an SSTable in LevelDB's table format (as TensorFlow writes it)."""
    if len(table) < 48 or struct.unpack_from("<Q", table, len(table) - 8)[0] != TABLE_MAGIC:
        raise ValueError(f"{name}: not an SSTable (bad magic number)")
    footer = table[-48:-8]
    _metaindex, position = _block_handle(footer, 0)
    index_handle, _ = _block_handle(footer, position)
    entries = {}
    for _separator, handle in _block_entries(_read_block(table, index_handle, name), name):
        data_handle, _ = _block_handle(handle, 0)
        for key, value in _block_entries(_read_block(table, data_handle, name), name):
            entries[key] = value
    return entries


def _block_handle(data: bytes, position: int) -> tuple[tuple[int, int], int]:
    offset, position = _varint(data, position)
    size, position = _varint(data, position)
    return (offset, size), position


def _read_block(table: bytes, handle: tuple[int, int], name: str) -> bytes:
    """A block's contents, its trailer (compression byte + masked CRC32C of contents and byte) checked."""
    offset, size = handle
    if offset + size + 5 > len(table):
        raise ValueError(f"{name}: block at {offset} runs past the end of the file")
    block = table[offset:offset + size]
    kind = table[offset + size]
    (stored,) = struct.unpack_from("<I", table, offset + size + 1)
    if _unmask(stored) != crc32c(table[offset:offset + size + 1]):
        raise ValueError(f"{name}: block at {offset} fails its CRC32C check")
    if kind == 0:
        return block
    if kind == 1:
        return snappy_decompress(block)
    raise ValueError(f"{name}: block at {offset} uses unknown compression {kind}")


def _block_entries(block: bytes, name: str):
    """(key, value) of a block: entries of (shared, non_shared, value_length) varints + bytes."""
    if len(block) < 4:
        raise ValueError(f"{name}: truncated block")
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 - 4 * restarts
    if end < 0:
        raise ValueError(f"{name}: corrupt block (restart array)")
    position, key = 0, b""
    while position < end:
        shared, position = _varint(block, position)
        unshared, position = _varint(block, position)
        length, position = _varint(block, position)
        if shared > len(key) or position + unshared + length > end:
            raise ValueError(f"{name}: corrupt block entry at {position}")
        key = key[:shared] + block[position:position + unshared]
        position += unshared
        yield key, block[position:position + length]
        position += length


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data):
            raise ValueError("truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 64 bits")


def _proto_fields(data: bytes) -> dict[int, list]:
    """A protobuf message as ``{field number: [values]}``: ints for varint / fixed fields, bytes
    for length-delimited ones (sub-messages, strings, packed arrays)."""
    fields: dict[int, list] = {}
    position = 0
    while position < len(data):
        tag, position = _varint(data, position)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, position = _varint(data, position)
        elif wire == 1:
            (value,) = struct.unpack_from("<Q", data, position)
            position += 8
        elif wire == 2:
            length, position = _varint(data, position)
            value = data[position:position + length]
            if len(value) != length:
                raise ValueError("truncated protobuf field")
            position += length
        elif wire == 5:
            (value,) = struct.unpack_from("<I", data, position)
            position += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def _first(fields: dict[int, list], number: int, default):
    values = fields.get(number)
    return values[0] if values else default


def snappy_decompress(data: bytes) -> bytes:
    """Raw Snappy (the block compression LevelDB tables may use): a varint length, then literals
    and back-references."""
    length, position = _varint(data, 0)
    out = bytearray()
    while position < len(data):
        tag = data[position]
        position += 1
        kind = tag & 3
        if kind == 0:
            size = tag >> 2
            if size >= 60:
                extra = size - 59
                size = int.from_bytes(data[position:position + extra], "little")
                position += extra
            size += 1
            out += data[position:position + size]
            position += size
            continue
        if kind == 1:
            size, distance = ((tag >> 2) & 7) + 4, ((tag >> 5) << 8) | data[position]
            position += 1
        elif kind == 2:
            size, distance = (tag >> 2) + 1, int.from_bytes(data[position:position + 2], "little")
            position += 2
        else:
            size, distance = (tag >> 2) + 1, int.from_bytes(data[position:position + 4], "little")
            position += 4
        if distance == 0 or distance > len(out):
            raise ValueError("corrupt snappy data")
        for _ in range(size):  # byte by byte: a copy may overlap its own output
            out.append(out[-distance])
    if len(out) != length:
        raise ValueError("corrupt snappy data (length)")
    return bytes(out)


_CRC32C_TABLE: list[int] = []


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as LevelDB and TensorFlow use it."""
    if not _CRC32C_TABLE:
        for byte in range(256):
            crc = byte
            for _ in range(8):
                crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
            _CRC32C_TABLE.append(crc)
    table, crc = _CRC32C_TABLE, 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _unmask(masked: int) -> int:
    """LevelDB stores ``rotate_right(crc, 15) + 0xa282ead8``; undo it."""
    rotated = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rotated >> 17) | (rotated << 15)) & 0xFFFFFFFF
