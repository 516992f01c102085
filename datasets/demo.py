"""A small stand-in dataset built offline from photographs inside installed wheels.

It exists so the core runs on real images before the simulated-camera dataset (``simcam``) does.
Scenes: ten photographs shipped by scikit-image, scikit-learn and matplotlib, halved with
anti-aliasing (so their own traces fade), cut into random crops. Three "cameras" differ by a light
processing step and by how they save (JPEG quality and chroma subsampling); two "generators" halve
a crop and double it back with nearest-neighbour or zero-insertion up-sampling (the periodic
traces of GAN up-sampling), saved as PNG. Splits are by scene; attacker images come from other
scenes and another device of each camera. Generated on first use into the cache, deterministically
from ``seed``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spoc_bench.images import Container, encode, jpeg_container
from spoc_bench.registry import register_dataset

from ._generated import GeneratedDataset, cache_folder, write
from ._scenes import load_photo, random_crops

SCENES = {  # scene -> split (attacker scenes are never the defender's)
    "astronaut": "defender-train", "coffee": "defender-train", "rocket": "defender-train",
    "hubble": "defender-train", "china": "defender-train",
    "chelsea": "defender-test", "immunohistochemistry": "defender-test", "flower": "defender-test",
    "retina": "attacker", "grace_hopper": "attacker",
}
CAMERAS = {  # model -> (processing, JPEG quality, subsampling)
    "demo-A": ("sharpen", 92, "4:2:0"),
    "demo-B": ("soften", 85, "4:4:4"),
    "demo-C": ("gamma", 75, "4:2:2"),
}
GENERATORS = ("nearest", "zero-insertion")


@register_dataset("demo")
class Demo(GeneratedDataset):
    """Stand-in: wheel photographs through 3 JPEG 'cameras' and 2 up-sampling 'generators'."""

    version = "1"

    def __init__(self, size: int = 128, crops: int = 8, seed: int = 0, root: str | None = None):
        self.size, self.crops, self.seed, self.root = size, crops, seed, root

    @property
    def folder(self) -> Path:
        return cache_folder(self.root, f"demo-v{self.version}-{self.size}px-{self.crops}crops-seed{self.seed}")

    def render(self, staging: Path) -> list[dict]:
        rows = []
        rng = np.random.default_rng(self.seed)
        for scene, split in self.rendering(SCENES.items(), len(SCENES), "scene"):
            for index, crop in enumerate(random_crops(load_photo(scene, 0.5), self.size, self.crops, rng)):
                rows += self._render_crop(staging, scene, split, index, crop)
        return rows

    def _render_crop(self, staging: Path, scene: str, split: str, index: int, crop: np.ndarray) -> list[dict]:
        rows = []
        for model, (processing, quality, subsampling) in CAMERAS.items():
            device = f"{model}-{1 if split == 'attacker' else 0}"
            container = jpeg_container(quality, subsampling, make="spoc-bench", model=model)
            file = f"{split}/{model}/{scene}_{index}.jpg"
            write(staging / file, encode(process(crop, processing), container))
            rows.append(dict(id=f"{model}/{scene}_{index}", split=split, source="real", camera=model,
                             device=device, scene=scene, generator="", file=file))
        for generator in GENERATORS:
            file = f"{split}/{generator}/{scene}_{index}.png"
            write(staging / file, encode(upsample_trace(crop, generator), Container()))
            rows.append(dict(id=f"{generator}/{scene}_{index}", split=split, source="synthetic", camera="",
                             device="", scene=scene, generator=generator, file=file))
        return rows


def process(crop: np.ndarray, processing: str) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    blurred = gaussian_filter(crop, sigma=(0.8, 0.8, 0))
    if processing == "sharpen":
        crop = crop + 0.6 * (crop - blurred)
    elif processing == "soften":
        crop = blurred
    elif processing == "gamma":
        crop = np.clip(crop, 0, 1) ** 0.85
    return to_uint8(crop)


def upsample_trace(crop: np.ndarray, generator: str) -> np.ndarray:
    """Halve by 2x2 averages, then double back the way a generator's up-sampling layer does."""
    height, width = crop.shape[0] // 2 * 2, crop.shape[1] // 2 * 2
    small = crop[:height, :width].reshape(height // 2, 2, width // 2, 2, 3).mean(axis=(1, 3))
    if generator == "nearest":
        return to_uint8(small.repeat(2, axis=0).repeat(2, axis=1))
    from scipy.ndimage import convolve

    sparse = np.zeros((height, width, 3))
    sparse[::2, ::2] = small
    kernel = np.array([0.25, 0.5, 0.25])  # a fixed 3-tap "transposed convolution" per axis
    return to_uint8(convolve(sparse, (np.outer(kernel, kernel) * 4)[..., None], mode="reflect"))


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image * 255), 0, 255).astype(np.uint8)
