"""TensorFlow checkpoints read without TensorFlow.

Noiseprint (Cozzolino & Verdoliva, IEEE TIFS 2020): the official networks are TensorFlow 1
checkpoints in the public repository grip-unina/noiseprint, ``noiseprint/nets/net_jpg{Q}/model.*``
(one network per JPEG quality Q = 51..100, plus 101 for images that are not JPEG).
:func:`import_noiseprint` reads them **without TensorFlow** (:func:`read_tf_checkpoint` parses the
TensorBundle format by hand) and writes ``noiseprint_qf{Q}.safetensors`` with the arrays in PyTorch
layout, named as in :func:`noiseprint_shapes`.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np


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
