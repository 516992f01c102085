"""Perturbations applied alike to real and fake images: ``none``, ``jpeg:Q``, ``resize:F``,
``blur:SIGMA`` and chains such as ``resize:0.5+jpeg:90``.

Every step ends in 8-bit pixels, as a saved file would: ``jpeg:Q`` compresses with the IJG tables of
quality Q (4:2:0) and the image is a JPEG afterwards; ``resize`` (Pillow's bicubic, whose support
widens with the factor when shrinking: anti-aliased) and ``blur``
(Gaussian, reflected borders, radius 4 sigma) leave a losslessly saved image. ``none`` keeps the
image and its container exactly as they are. All steps are deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .images import Container, jpeg_container, save_as

KINDS = {
    "none": "no change: the image as stored",
    "jpeg": "jpeg:Q  re-compress with IJG tables of quality Q (1..100), 4:2:0",
    "resize": "resize:F  bicubic anti-aliased resize by factor F (0.05..8), saved losslessly",
    "blur": "blur:SIGMA  Gaussian blur of standard deviation SIGMA pixels (0..20], saved losslessly",
}
FIELD_GRID = ("none", "jpeg:100", "jpeg:95", "jpeg:90", "jpeg:80", "jpeg:70", "jpeg:60",
              "resize:0.5", "resize:0.75", "resize:1.25", "resize:1.5", "blur:0.5", "blur:1", "blur:2")


CHAIN = "+"  # joins the steps of a chain, here and in attack chains (``spectral-match+jpeg-mimic``)


def chain_parts(text: str) -> list[str]:
    """``"resize:0.5+jpeg:90"`` -> ``["resize:0.5", "jpeg:90"]``: a chain's parts, stripped."""
    return [part.strip() for part in str(text).split(CHAIN)]


class PerturbationError(ValueError):
    pass


@dataclass(frozen=True)
class Step:
    kind: str
    value: float

    def __str__(self) -> str:
        return f"{self.kind}:{self.value:g}"


@dataclass(frozen=True)
class Perturbation:
    steps: tuple[Step, ...] = ()

    def __str__(self) -> str:
        return "+".join(map(str, self.steps)) or "none"

    @property
    def kind(self) -> str:
        return "+".join(s.kind for s in self.steps) or "none"

    @property
    def level(self) -> float | None:
        return self.steps[0].value if len(self.steps) == 1 else None

    def __call__(self, pixels: np.ndarray, container: Container) -> tuple[np.ndarray, Container]:
        """Apply to one ``uint8 [H, W, 3]`` image; returns the new pixels and container facts."""
        for step in self.steps:
            pixels, container = APPLY[step.kind](pixels, container, step.value)
        return pixels, container


def parse(text: str) -> Perturbation:
    """Parse ``none``, ``jpeg:90``, ``resize:0.5+blur:1`` ... strictly, with a clear error."""
    text = str(text).strip()
    if text == "none":
        return Perturbation()
    if not text:
        raise PerturbationError("empty perturbation; use 'none' for no perturbation")
    return Perturbation(tuple(_parse_step(part, text) for part in chain_parts(text)))


def parse_list(text: str) -> list[Perturbation]:
    """``"none,jpeg:90,resize:0.5"`` -> perturbations, duplicates removed, order kept."""
    parsed = [parse(part) for part in str(text).split(",") if part.strip()]
    if not parsed:
        raise PerturbationError(f"no perturbation in {text!r}")
    return list(dict.fromkeys(parsed))


def _parse_step(part: str, whole: str) -> Step:
    kind, colon, value = part.partition(":")
    where = f"in perturbation {whole!r}"
    if kind == "none":
        raise PerturbationError(f"'none' cannot be chained {where}")
    if kind not in KINDS:
        raise PerturbationError(f"unknown perturbation {kind!r} {where}; known: jpeg:Q, resize:F, blur:SIGMA, none")
    if not colon or not value:
        raise PerturbationError(f"{kind!r} needs a value {where}: {KINDS[kind].split()[0]}")
    try:
        number = float(value)
    except ValueError:
        raise PerturbationError(f"{kind}: {value!r} is not a number {where}") from None
    if not math.isfinite(number):
        raise PerturbationError(f"{kind}: {value!r} is not finite {where}")
    if kind == "jpeg" and not (number.is_integer() and 1 <= number <= 100):
        raise PerturbationError(f"jpeg: quality must be an integer in 1..100, got {value!r} {where}")
    if kind == "resize" and not 0.05 <= number <= 8:
        raise PerturbationError(f"resize: factor must be in 0.05..8, got {value!r} {where}")
    if kind == "blur" and not 0 < number <= 20:
        raise PerturbationError(f"blur: sigma must be in (0, 20], got {value!r} {where}")
    return Step(kind, int(number) if kind == "jpeg" else number)


def _jpeg(pixels: np.ndarray, container: Container, quality: float):
    target = jpeg_container(int(quality))
    target = Container(target.format, target.qtables, target.subsampling, container.make, container.model)
    return save_as(pixels, target), target


def _resize(pixels: np.ndarray, container: Container, factor: float):
    from PIL import Image

    height, width = pixels.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    resized = Image.fromarray(pixels).resize(size, Image.Resampling.BICUBIC)  # anti-aliased when shrinking
    return np.asarray(resized, dtype=np.uint8).copy(), container.lossless()


def _blur(pixels: np.ndarray, container: Container, sigma: float):
    from scipy.ndimage import gaussian_filter

    blurred = gaussian_filter(pixels.astype(np.float64), sigma=(sigma, sigma, 0), mode="reflect", truncate=4.0)
    return _to_uint8(blurred), container.lossless()


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


APPLY = {"jpeg": _jpeg, "resize": _resize, "blur": _blur}
