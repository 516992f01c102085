"""A simulated camera: unprocessing (Brooks et al., CVPR 2019) of a scene to a noisy raw mosaic,
then one camera model's own pipeline, then its own way of saving a JPEG.

    scene sRGB -> linear -> camera RGB (inverse colour matrix, inverse white balance) -> Bayer
    mosaic of the model's CFA -> device PRNU (I + I.K) and hot pixels -> shot/read noise
    (var = x.s + r, Brooks' distributions) -> 12-bit raw -> demosaicing (colour-demosaicing) ->
    white balance -> colour matrix -> tone curve -> chroma / luma denoising -> sharpening ->
    8-bit -> JPEG with the model's quantisation tables and chroma subsampling, EXIF make/model.

Everything a camera model is lives in :class:`CameraModel`; a device adds its PRNU and hot pixels.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from spoc_bench.images import Container

IJG_LUMA = np.array([16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57,
                     69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64,
                     81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99])
IJG_CHROMA = np.array([17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99,
                       99, 99, 47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32)


@dataclass(frozen=True)
class JpegPolicy:
    """How a model writes JPEGs. ``shape`` names the table family: "ijg" (libjpeg's tables at
    ``quality``), "radial" (a maker's own smooth tables: q = base + slope.(u+v)^power) or
    "adaptive" (IJG-shaped tables whose scale is chosen per image from its detail, as some makers
    do)."""

    shape: str = "ijg"
    quality: int = 92
    subsampling: str = "4:2:0"
    base: float = 2.0
    slope: float = 1.0
    power: float = 1.2
    scales: tuple[float, ...] = (0.12, 0.16, 0.2)  # "adaptive": coarser tables for busier images

    def tables(self, pixels: np.ndarray) -> tuple[tuple[int, ...], ...]:
        if self.shape == "ijg":
            scale = (5000 / self.quality if self.quality < 50 else 200 - 2 * self.quality) / 100
            luma, chroma = IJG_LUMA * scale, IJG_CHROMA * scale
        elif self.shape == "radial":
            u, v = np.divmod(np.arange(64), 8)
            luma = self.base + self.slope * (u + v) ** self.power
            chroma = 1.5 * self.base + 1.6 * self.slope * (u + v) ** self.power
        elif self.shape == "adaptive":
            scale = self.scales[int(np.digitize(detail(pixels), (4.0, 8.0)))]
            luma, chroma = IJG_LUMA * scale, IJG_CHROMA * scale
        else:
            raise ValueError(f"unknown JPEG table shape {self.shape!r}")
        return tuple(tuple(int(q) for q in np.clip(np.floor(t + 0.5), 1, 255)) for t in (luma, chroma))

    def container(self, pixels: np.ndarray, make: str, model: str) -> Container:
        return Container("jpeg", self.tables(pixels), self.subsampling, make, model)


def detail(pixels: np.ndarray) -> float:
    """Mean absolute horizontal difference of the luminance (8-bit units): how busy an image is."""
    grey = pixels.astype(np.float64) @ (0.299, 0.587, 0.114)
    return float(np.abs(np.diff(grey, axis=1)).mean())


@dataclass(frozen=True)
class CameraModel:
    name: str
    make: str
    cfa: str = "RGGB"
    demosaic: str = "malvar"  # bilinear | malvar | menon
    white_balance: tuple[float, float] = (2.0, 1.6)  # red and blue gains (green 1)
    colour_matrix: tuple[tuple[float, ...], ...] = ((1.6, -0.45, -0.15), (-0.25, 1.5, -0.25), (-0.05, -0.45, 1.5))
    gamma: float = 2.2
    contrast: float = 0.3  # blend with a smoothstep S-curve
    luma_denoise: float = 0.0  # Gaussian sigma on luminance
    chroma_denoise: float = 1.0  # Gaussian sigma on chrominance
    sharpen: tuple[float, float] = (0.5, 1.0)  # unsharp-mask amount and radius
    prnu: float = 0.01  # standard deviation of the devices' PRNU
    jpeg: JpegPolicy = JpegPolicy()


def device_traces(model: CameraModel, device: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A device's PRNU factor K (one per photosite) and hot-pixel offsets, fixed by its name."""
    seed = int(hashlib.sha256(f"{model.name}/{device}".encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(seed)
    prnu = rng.normal(0, model.prnu, (size, size))
    hot = np.zeros((size, size))
    count = max(1, size * size // 20000)
    hot.flat[rng.choice(size * size, size=count, replace=False)] = rng.uniform(0.1, 0.4, count)
    return prnu, hot


def render(scene: np.ndarray, model: CameraModel, device: str, rng: np.random.Generator,
           shot: float | None = None) -> tuple[np.ndarray, Container]:
    """A scene (float sRGB [0, 1], square) as the device of ``model`` would save it; ``shot`` fixes
    the shot-noise level (drawn per image when None)."""
    raw = unprocess(scene, model)
    prnu, hot = device_traces(model, device, raw.shape[0])
    raw = raw * (1 + prnu) + hot
    raw = add_sensor_noise(raw, rng, shot)
    raw = np.round(np.clip(raw, 0, 1) * 4095) / 4095
    image = develop(raw, model)
    pixels = np.clip(np.floor(image * 255 + 0.5), 0, 255).astype(np.uint8)
    return pixels, model.jpeg.container(pixels, model.make, model.name)


def unprocess(scene: np.ndarray, model: CameraModel) -> np.ndarray:
    from colour_demosaicing import mosaicing_CFA_Bayer

    linear = np.clip(scene, 0, 1) ** 2.2
    camera_rgb = linear @ np.linalg.inv(np.array(model.colour_matrix)).T
    red, blue = model.white_balance
    camera_rgb = camera_rgb / np.array([red, 1.0, blue])
    return mosaicing_CFA_Bayer(np.clip(camera_rgb, 0, 1), model.cfa)


def add_sensor_noise(raw: np.ndarray, rng: np.random.Generator, shot: float | None = None) -> np.ndarray:
    """Shot and read noise with Brooks et al.'s distributions of their levels (shot capped at 0.004);
    ``shot`` fixes the shot level (the read level still follows it)."""
    log_shot = rng.uniform(np.log(1e-4), np.log(0.004)) if shot is None else np.log(shot)
    log_read = 2.18 * log_shot + 1.20 + rng.normal(0, 0.26)
    variance = np.maximum(raw, 0) * np.exp(log_shot) + np.exp(log_read)
    return raw + rng.normal(0, 1, raw.shape) * np.sqrt(variance)


def develop(raw: np.ndarray, model: CameraModel) -> np.ndarray:
    from colour_demosaicing import (demosaicing_CFA_Bayer_bilinear, demosaicing_CFA_Bayer_Malvar2004,
                                    demosaicing_CFA_Bayer_Menon2007)
    from scipy.ndimage import gaussian_filter

    demosaic = {"bilinear": demosaicing_CFA_Bayer_bilinear, "malvar": demosaicing_CFA_Bayer_Malvar2004,
                "menon": demosaicing_CFA_Bayer_Menon2007}[model.demosaic]
    rgb = np.clip(demosaic(raw, model.cfa), 0, 1)
    red, blue = model.white_balance
    rgb = np.clip((rgb * np.array([red, 1.0, blue])) @ np.array(model.colour_matrix).T, 0, 1)
    rgb = rgb ** (1 / model.gamma)
    rgb = (1 - model.contrast) * rgb + model.contrast * rgb * rgb * (3 - 2 * rgb)
    ycc = rgb @ RGB_TO_YCC.T
    if model.luma_denoise:
        ycc[..., 0] = gaussian_filter(ycc[..., 0], model.luma_denoise)
    if model.chroma_denoise:
        ycc[..., 1:] = gaussian_filter(ycc[..., 1:], (model.chroma_denoise, model.chroma_denoise, 0))
    amount, radius = model.sharpen
    if amount:
        ycc[..., 0] += amount * (ycc[..., 0] - gaussian_filter(ycc[..., 0], radius))
    return np.clip(ycc @ np.linalg.inv(RGB_TO_YCC).T, 0, 1)


RGB_TO_YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
