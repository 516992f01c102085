"""Images and their container facts: reading, writing, encoding.

Pixels cross every boundary as float32 tensors ``[N, 3, H, W]`` in ``[0, 1]``; a file is 8-bit RGB.
Each image travels with a :class:`Container` (format, JPEG tables, chroma subsampling, EXIF make and
model), because detectors read those facts and attacks write them.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
SUBSAMPLING_NAMES = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}
EXIF_MAKE, EXIF_MODEL = 0x010F, 0x0110
MAX_PIXELS = 64_000_000  # the default pixel limit; $SPOC_BENCH_MAX_PIXELS replaces it
MAX_PIXELS_VARIABLE = "SPOC_BENCH_MAX_PIXELS"
# how a format is saved and named; any other format is written as PNG
SAVED_FORMATS = {"jpeg": "JPEG", "png": "PNG", "tiff": "TIFF", "webp": "WEBP", "bmp": "BMP"}
FORMAT_SUFFIXES = {"jpeg": (".jpg", ".jpeg"), "png": (".png",), "tiff": (".tif", ".tiff"), "webp": (".webp",),
                   "bmp": (".bmp",)}


class ImageError(ValueError):
    """An image file that cannot be used, with the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class Container:
    """How an image is (or will be) stored. ``qtables`` are 64-value tables in Pillow's order."""

    format: str = "png"
    qtables: tuple[tuple[int, ...], ...] | None = None
    subsampling: str | None = None
    make: str | None = None
    model: str | None = None

    @property
    def is_jpeg(self) -> bool:
        return self.format == "jpeg"

    @property
    def saved_format(self) -> str:
        """The format :func:`encode` writes: this one where Pillow can write it, else PNG."""
        return self.format if self.format in SAVED_FORMATS else "png"

    @property
    def suffix(self) -> str:
        """The file name suffix of the format :func:`encode` writes."""
        return FORMAT_SUFFIXES[self.saved_format][0]

    def lossless(self) -> "Container":
        """The same image saved without loss (what a resize or a blur leaves)."""
        return replace(self, format="png", qtables=None, subsampling=None)


def jpeg_container(quality: int, subsampling: str = "4:2:0", **exif) -> Container:
    """Container facts of a JPEG written by libjpeg at an IJG ``quality``."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, "JPEG", quality=quality, subsampling=subsampling)
    tables = Image.open(buffer).quantization
    return Container("jpeg", tuple(tuple(tables[k]) for k in sorted(tables)), subsampling, **exif)


def container_of(image: Image.Image) -> Container:
    make = model = None
    exif = image.getexif()
    if exif:
        make, model = exif.get(EXIF_MAKE), exif.get(EXIF_MODEL)
        make = str(make).strip("\x00 ") if make else None
        model = str(model).strip("\x00 ") if model else None
    if image.format in ("JPEG", "MPO"):  # MPO: a camera JPEG with extra (preview) frames
        tables = image.quantization
        subsampling = SUBSAMPLING_NAMES.get(JpegImagePlugin.get_sampling(image))
        qtables = tuple(tuple(tables[k]) for k in sorted(tables))
        return Container("jpeg", qtables, subsampling, make, model)
    return Container((image.format or "png").lower(), None, None, make, model)


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """Any Pillow mode to ``uint8 [H, W, 3]``: 16-bit is scaled (not clipped), alpha dropped."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        wide = np.asarray(image, dtype=np.int64)
        top = 65535 if image.mode.startswith("I;16") or wide.max() > 255 else 255
        grey = np.clip(np.round(wide * (255 / top)), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if image.mode == "F":
        grey = np.clip(np.round(np.asarray(image) * 255), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def max_pixels() -> int:
    """The most pixels (width x height) an image may have: ``$SPOC_BENCH_MAX_PIXELS``, else
    :data:`MAX_PIXELS`. Pillow's own ceiling (twice ``Image.MAX_IMAGE_PIXELS``) still applies."""
    value = os.environ.get(MAX_PIXELS_VARIABLE, "").strip()
    if not value:
        return MAX_PIXELS
    try:
        limit = int(value.replace("_", ""))
    except ValueError:
        limit = 0
    if limit <= 0:
        raise ValueError(f"{MAX_PIXELS_VARIABLE}={value!r}: expected a positive whole number of pixels")
    return limit


def check_pixels(image: Image.Image, name: str, limit: int) -> None:
    """Refuse an image with more than ``limit`` pixels before it is decoded."""
    width, height = image.size
    if width * height > limit:
        raise ImageError(name, f"{width}x{height} = {width * height} pixels exceeds the limit of {limit} "
                               f"(a decompression bomb?); set {MAX_PIXELS_VARIABLE} to raise it")


def open_image(data: bytes, name: str = "<bytes>") -> tuple[np.ndarray, Container]:
    """The one decode path: ``data`` as 8-bit RGB pixels (EXIF orientation applied) and its
    container facts. Raises :class:`ImageError` naming ``name`` and the reason for anything unusable,
    an image over the pixel limit included."""
    limit = max_pixels()
    if not data:
        raise ImageError(name, "empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # check_pixels decides
            with Image.open(io.BytesIO(data)) as image:
                check_pixels(image, name, limit)
                image.load()
                container = container_of(image)
                pixels = to_rgb_array(ImageOps.exif_transpose(image))
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(name, "not an image file Pillow can identify") from None
    except Image.DecompressionBombError as error:
        raise ImageError(name, f"refused as a decompression bomb ({error})") from None
    except (OSError, SyntaxError, ValueError, MemoryError) as error:
        raise ImageError(name, f"corrupt or truncated image ({error})") from None
    if pixels.ndim != 3 or min(pixels.shape[:2]) == 0:
        raise ImageError(name, f"unusable shape {pixels.shape}")
    return pixels, container


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, Container, bytes]:
    """Read a file as 8-bit RGB through :func:`open_image` (EXIF orientation applied).

    Returns the pixels, the container facts and the file's bytes. Raises
    :class:`ImageError` naming the file and the reason for anything unreadable.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ImageError(path, f"cannot read file ({error.strerror or error})") from None
    return (*open_image(data, str(path)), data)


def image_files(source: str | os.PathLike, skipped: list[dict]) -> list[Path]:
    """Every file under ``source`` (sorted, any depth) whose suffix is an image's; every other file
    is added to ``skipped`` as ``{"file", "reason"}``. A folder without files is an error naming it."""
    files = sorted(p for p in Path(source).rglob("*") if p.is_file())
    if not files:
        raise FileNotFoundError(f"{source}: no files found")
    images = []
    for path in files:
        if path.suffix.lower() in IMAGE_SUFFIXES:
            images.append(path)
        else:
            skipped.append({"file": str(path), "reason": f"not an image file (suffix {path.suffix or 'none'})"})
    return images


def folder_images(source: str | os.PathLike, skipped: list[dict]):
    """``(path, pixels, container, data)`` of every readable image under ``source`` (sorted, any
    depth); every other file is added to ``skipped`` as ``{"file", "reason"}``. A folder without
    files is an error naming it."""
    for path in image_files(source, skipped):
        try:
            yield (path, *read_image(path))
        except ImageError as error:
            skipped.append({"file": error.path, "reason": error.reason})


def encode(pixels: np.ndarray, container: Container) -> bytes:
    """The bytes of ``pixels`` (``uint8 [H, W, 3]``) saved as ``container`` says, in the format
    ``container.suffix`` names (JPEG with its tables and subsampling; the others without loss)."""
    image = Image.fromarray(pixels, "RGB")
    exif = Image.Exif()
    if container.make:
        exif[EXIF_MAKE] = container.make
    if container.model:
        exif[EXIF_MODEL] = container.model
    buffer = io.BytesIO()
    if container.is_jpeg:
        options = {"subsampling": container.subsampling or "4:2:0", "exif": exif.tobytes()}
        if container.qtables:
            options["qtables"] = [list(table) for table in container.qtables]
        else:
            options["quality"] = 95
        image.save(buffer, "JPEG", **options)
    elif container.saved_format == "bmp":
        image.save(buffer, "BMP")  # BMP holds no EXIF
    else:
        options = {"lossless": True} if container.saved_format == "webp" else {}
        image.save(buffer, SAVED_FORMATS[container.saved_format], exif=exif.tobytes(), **options)
    return buffer.getvalue()


def decode(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """The pixels of encoded ``data``, read exactly as :func:`read_image` reads a file."""
    return open_image(data, name)[0]


def save_as(pixels: np.ndarray, container: Container) -> np.ndarray:
    """What a reader gets back after ``pixels`` are saved with ``container`` (JPEG loss included)."""
    return decode(encode(pixels, container)) if container.is_jpeg else pixels


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename, so no reader sees half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)  # mkstemp makes files private; results are meant to be shared
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def to_tensor(arrays):
    """``uint8 [H, W, 3]`` arrays of one size to a float32 tensor ``[N, 3, H, W]`` in [0, 1]."""
    import torch

    stacked = np.stack([np.asarray(a) for a in arrays])
    return torch.from_numpy(stacked).permute(0, 3, 1, 2).float().div_(255.0)


def to_uint8(pixels) -> list[np.ndarray]:
    """A float tensor ``[N, 3, H, W]`` in [0, 1] to 8-bit arrays (the one place pixels round)."""
    import torch

    array = pixels.detach().clamp(0, 1).mul(255).round().to(torch.uint8)
    return list(array.permute(0, 2, 3, 1).cpu().numpy())
