"""``simcam``: simulated camera models, rendered offline from the scene pool.

Eight camera models in five families, two defender devices and one attacker device each. Every
scene view is rendered through every model (by one of the split's devices, in turn). Families share
components the way makers' product lines do, so some pairs are hard: ``alpha-1``/``alpha-2`` share
CFA, demosaicer and JPEG tables and differ in tone and sharpening; ``beta-1``/``beta-2`` (like a
Nikon D70 and D70s) differ only in denoising and colour, and both pick JPEG tables per image by its
detail; ``gamma`` and ``delta`` both save with libjpeg's standard tables at quality 92 (4:2:0).
So the JPEG tables alone cannot name every model, and no global statistic should either.

Synthetic images come from the ``synthetic`` dataset (AutoGAN-style generators, the families named
in ``generators``), rendered from the same scene views of each split.

Splits are by scene and by device: ``defender-train`` and ``defender-test`` (the defender's two
devices per model, disjoint scenes), ``attacker`` (a third device per model, other scenes).
Generated on first use into the cache, deterministically from ``seed``; nothing is committed.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from spoc_bench.registry import datasets, register_dataset

from ._camera import CameraModel, JpegPolicy
from ._generated import GeneratedDataset, cache_folder, write
from ._scenes import GENERATOR_FAMILIES, scene_content, scene_views

CAMERAS = (
    CameraModel("alpha-1", "Alpha", cfa="RGGB", demosaic="malvar", gamma=2.2, contrast=0.25, sharpen=(0.6, 1.0),
                jpeg=JpegPolicy("radial", base=2.0, slope=0.9, power=1.25, subsampling="4:2:2")),
    CameraModel("alpha-2", "Alpha", cfa="RGGB", demosaic="malvar", gamma=2.4, contrast=0.35, sharpen=(0.9, 0.8),
                jpeg=JpegPolicy("radial", base=2.0, slope=0.9, power=1.25, subsampling="4:2:2")),
    CameraModel("beta-1", "Beta", cfa="GRBG", demosaic="menon", white_balance=(2.1, 1.5), luma_denoise=0.0,
                chroma_denoise=1.5, sharpen=(0.4, 1.2), jpeg=JpegPolicy("adaptive", subsampling="4:2:2")),
    CameraModel("beta-2", "Beta", cfa="GRBG", demosaic="menon", white_balance=(1.9, 1.7), luma_denoise=0.5,
                chroma_denoise=2.0, sharpen=(0.4, 1.2), jpeg=JpegPolicy("adaptive", subsampling="4:2:2")),
    CameraModel("gamma", "Gamma", cfa="BGGR", demosaic="bilinear", contrast=0.2, chroma_denoise=0.7,
                sharpen=(1.0, 0.7), jpeg=JpegPolicy("ijg", quality=92, subsampling="4:2:0")),
    CameraModel("delta", "Delta", cfa="GBRG", demosaic="malvar", contrast=0.4, luma_denoise=0.6,
                chroma_denoise=1.2, sharpen=(0.3, 1.5), jpeg=JpegPolicy("ijg", quality=92, subsampling="4:2:0")),
    CameraModel("epsilon", "Epsilon", cfa="RGGB", demosaic="bilinear", gamma=2.0, contrast=0.3, chroma_denoise=0.0,
                sharpen=(0.0, 1.0), jpeg=JpegPolicy("radial", base=3.0, slope=0.5, power=1.1, subsampling="4:4:4")),
    CameraModel("zeta", "Zeta", cfa="BGGR", demosaic="menon", contrast=0.3, chroma_denoise=1.0, sharpen=(0.7, 1.0),
                jpeg=JpegPolicy("radial", base=1.0, slope=1.2, power=1.3, subsampling="4:2:0")),
)
DEVICES = {"defender-train": (0, 1), "defender-test": (0, 1), "attacker": (2,)}


@register_dataset("simcam")
class SimCam(GeneratedDataset):
    """Simulated camera models (8 models, 5 families, 3 devices each) rendered from the scene pool."""

    version = "1"

    def __init__(self, size: int = 256, views: tuple[int, int, int] = (48, 24, 24), crops_per_photo: int = 4,
                 photo_scale: float = 2 / 3, generators: tuple[str, ...] = GENERATOR_FAMILIES, seed: int = 0,
                 root: str | None = None, workers: int = 2):
        self.size, self.views, self.crops_per_photo = size, tuple(views), crops_per_photo
        self.generators = tuple(generators)
        self.photo_scale, self.seed, self.root, self.workers = photo_scale, seed, root, workers

    @property
    def cameras(self) -> tuple[str, ...]:
        return tuple(c.name for c in CAMERAS)

    @property
    def folder(self) -> Path:
        views = "-".join(map(str, self.views))
        return cache_folder(self.root, f"simcam-v{self.version}-{self.size}px-{views}views-"
                                       f"{self.crops_per_photo}crops-seed{self.seed}")

    def prepare(self) -> None:
        super().prepare()
        if self.generators:
            synthetic = self.synthetic()
            synthetic.prepare()
            self._samples += [s for split in DEVICES for s in synthetic.samples(split)]

    def synthetic(self):
        """The ``synthetic`` dataset of the same scene views, made by the families in ``generators``."""
        return datasets.build("synthetic", families=self.generators, size=self.size, views=self.views,
                              crops_per_photo=self.crops_per_photo, photo_scale=self.photo_scale, seed=self.seed,
                              root=self.root)

    def config(self) -> dict:
        config = super().config()
        config.pop("workers")  # no effect on the images
        if self.generators:  # retrained generators make other images
            config["generator_weights"] = self.synthetic().weights_digest()
        return config

    def render(self, staging: Path) -> list[dict]:
        jobs = [(staging, self.size, self.photo_scale, self.crops_per_photo, self.seed, index, view)
                for index, view in enumerate(scene_views(self.views, self.crops_per_photo))]
        if self.workers <= 1:
            return [row for batch in self.rendering(map(render_view, jobs), len(jobs)) for row in batch]
        with ProcessPoolExecutor(self.workers) as pool:
            batches = pool.map(render_view, jobs, chunksize=4)
            return [row for batch in self.rendering(batches, len(jobs)) for row in batch]


def render_view(job) -> list[dict]:
    """Render one scene view through every camera model (one process's unit of work)."""
    from spoc_bench.images import encode

    from ._camera import render

    staging, size, photo_scale, crops, seed, index, (split, scene, view) = job
    content = scene_content(scene, view, size, photo_scale, crops, seed)
    rows = []
    for camera in CAMERAS:
        device = f"{camera.name}-d{DEVICES[split][index % len(DEVICES[split])]}"
        rng = np.random.default_rng([seed, index, *camera.name.encode()])
        pixels, container = render(content, camera, device, rng)
        file = f"{split}/{camera.name}/{scene}_{view}.jpg"
        write(Path(staging) / file, encode(pixels, container))
        rows.append(dict(id=f"{camera.name}/{scene}_{view}", split=split, source="real", camera=camera.name,
                         device=device, scene=scene, generator="", file=file))
    return rows
