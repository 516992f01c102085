"""``synthetic``: images made offline by AutoGAN-style generators (Zhang, Karaman, Chang, WIFS 2019).

AutoGAN simulates the artefacts of GAN generators without a GAN: an auto-encoder whose decoder
uses a generator's up-sampling layers, trained on real images. Its outputs carry the periodic
spectral peaks of up-sampling and none of a camera pipeline. Four families, named after their
up-sampling layer, so detectors can be trained on some and tested on others:

- ``transposed``: transposed convolution (kernel 4, stride 2), as in DCGAN / ProGAN-era generators;
- ``nearest``: nearest-neighbour up-sampling + 3x3 convolution (StyleGAN-like "resize-conv");
- ``bilinear``: bilinear up-sampling + 3x3 convolution;
- ``pixelshuffle``: sub-pixel convolution (a 3x3 convolution to 4x channels + pixel shuffle).

Encoder: 3x3 conv, then two stride-2 4x4 convs (1/4 resolution); decoder: two up-sampling stages
of the family, the last of which emits the RGB image (as DCGAN's last transposed convolution does:
no smoothing layer after it to hide its traces), then a sigmoid. The families do not leave equal traces: transposed convolution and pixel shuffle leave clear peaks
at 1/2 or 1/4 of the sampling rate, resize-convolutions (``nearest``, ``bilinear``) weaker ones,
as in real generators. Trained with an L1 reconstruction loss (Adam 1e-3)
on random crops of the scene pool (photographs and dead-leaves scenes of their own seeds). Weights
are trained by ``spoc-bench train dataset synthetic`` and shipped in ``datasets/weights/`` as
safetensors with a manifest (sha256, recipe, data version, final loss).

The dataset renders every scene view of each split (the same views as ``simcam``) through every
family and saves it as a JPEG with libjpeg's tables at a quality drawn from 85..97 (4:2:0), since
real and fake files must share a format (a JPEG-vs-PNG difference is a known shortcut).
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from spoc_bench.registry import register_dataset

from ._generated import GeneratedDataset, cache_folder, write
from ._scenes import GENERATOR_FAMILIES as FAMILIES
from ._scenes import scene_content, scene_views

WEIGHTS_DIR = Path(__file__).parent / "weights"
WIDTHS = (24, 48, 96)
BATCH = 8  # views rendered together (batched convolutions are about 3x faster on a CPU)
RECIPE = {"loss": "L1", "optimizer": "Adam", "lr": 1e-3, "batch": 16, "crop": 64, "steps": 1500,
          "data": "scene pool: photographs at scale 2/3 and dead-leaves scenes (training seeds)"}
DATA_VERSION = "scenes-v1"


def build_generator(family: str):
    """The auto-encoder of a family (a torch module)."""
    import torch.nn as nn

    if family not in FAMILIES:
        raise ValueError(f"unknown generator family {family!r}; known: {', '.join(FAMILIES)}")
    a, b, c = WIDTHS

    def up(inputs: int, outputs: int) -> nn.Module:
        if family == "transposed":
            return nn.ConvTranspose2d(inputs, outputs, 4, stride=2, padding=1)
        if family == "pixelshuffle":
            return nn.Sequential(nn.Conv2d(inputs, outputs * 4, 3, padding=1), nn.PixelShuffle(2))
        mode = {"nearest": "nearest", "bilinear": "bilinear"}[family]
        resize = nn.Upsample(scale_factor=2, mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))
        return nn.Sequential(resize, nn.Conv2d(inputs, outputs, 3, padding=1))

    return nn.Sequential(
        nn.Conv2d(3, a, 3, padding=1), nn.ReLU(),
        nn.Conv2d(a, b, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(b, c, 4, stride=2, padding=1), nn.ReLU(),
        up(c, b), nn.ReLU(), up(b, 3), nn.Sigmoid(),
    )


def weights_file(family: str, folder: Path = WEIGHTS_DIR) -> Path:
    return folder / f"autogan-{family}.safetensors"


def load_generator(family: str, folder: Path = WEIGHTS_DIR):
    """The generator of ``family``, its weights verified against their manifest."""
    from spoc_bench.weights import read_safetensors

    path = weights_file(family, folder)
    if not path.exists():
        raise FileNotFoundError(f"generator weights {path} are missing; train them with "
                                f"`spoc-bench train dataset synthetic`")
    model = build_generator(family)
    model.load_state_dict(read_safetensors(path))
    return model.eval()


@functools.lru_cache(maxsize=8)
def weights_digest(families: tuple[str, ...]) -> str:
    """A short digest of the families' verified weight files (read once per process)."""
    from spoc_bench.weights import verified_sha256

    digests = "".join(verified_sha256(weights_file(f)) if weights_file(f).exists() else "missing" for f in families)
    return hashlib.sha256(digests.encode()).hexdigest()[:12]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@register_dataset("synthetic")
class Synthetic(GeneratedDataset):
    """AutoGAN-style generator images (4 up-sampling families), same scene splits as simcam."""

    version = "1"

    def __init__(self, families: tuple[str, ...] = FAMILIES, size: int = 256, views: tuple[int, int, int] = (48, 24, 24),
                 crops_per_photo: int = 4, photo_scale: float = 2 / 3, seed: int = 0, root: str | None = None):
        unknown = set(families) - set(FAMILIES)
        if unknown:
            raise ValueError(f"unknown generator families {sorted(unknown)}; known: {', '.join(FAMILIES)}")
        self.families, self.size, self.views = tuple(families), size, tuple(views)
        self.crops_per_photo, self.photo_scale, self.seed, self.root = crops_per_photo, photo_scale, seed, root

    def weights_digest(self) -> str:
        return weights_digest(self.families)

    @property
    def folder(self) -> Path:
        views = "-".join(map(str, self.views))
        return cache_folder(self.root, f"synthetic-v{self.version}-{self.size}px-{views}views-{self.crops_per_photo}"
                                       f"crops-seed{self.seed}-{'+'.join(self.families)}-{self.weights_digest()}")

    def render(self, staging: Path) -> list[dict]:
        import torch

        from spoc_bench.images import encode, jpeg_container

        views = scene_views(self.views, self.crops_per_photo)
        generators = {family: load_generator(family) for family in self.families}
        rows = []
        rng = np.random.default_rng([self.seed, 7])
        for start in self.rendering(range(0, len(views), BATCH), unit="batch"):
            chunk = views[start:start + BATCH]
            contents = [scene_content(scene, view, self.size, self.photo_scale, self.crops_per_photo, self.seed)
                        for _, scene, view in chunk]
            batch = torch.from_numpy(np.stack(contents)).permute(0, 3, 1, 2).float()
            for family, generator in generators.items():
                with torch.inference_mode():
                    outputs = generator(batch).permute(0, 2, 3, 1).numpy()
                for (split, scene, view), output in zip(chunk, outputs):
                    pixels = np.clip(np.floor(output * 255 + 0.5), 0, 255).astype(np.uint8)
                    file = f"{split}/{family}/{scene}_{view}.jpg"
                    write(staging / file, encode(pixels, jpeg_container(int(rng.integers(85, 98)))))
                    rows.append(dict(id=f"{family}/{scene}_{view}", split=split, source="synthetic", camera="",
                                     device="", scene=scene, generator=family, file=file))
        return rows

    @classmethod
    def train(cls, families: tuple[str, ...] = FAMILIES, steps: int = RECIPE["steps"], seed: int = 0,
              out: str | None = None, device: str = "cpu", log=print) -> list[Path]:
        """Train the generators of ``families`` and write their safetensors and manifest."""
        folder = Path(out) if out else WEIGHTS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        crops = training_crops(seed)
        written = []
        for family in families:
            written.append(train_family(family, crops, steps, seed, folder, device, log))
        return written


def training_crops(seed: int, count: int = 2048, size: int = 64) -> np.ndarray:
    """Random crops of the scene pool: every photograph and dead-leaves scenes of training seeds."""
    from ._scenes import PHOTOS, dead_leaves, load_photo, random_crops

    rng = np.random.default_rng([seed, 1234])
    pool = [load_photo(name, 2 / 3) for name in PHOTOS] + [dead_leaves(192, rng) for _ in range(24)]
    crops = [crop for image in pool for crop in random_crops(image, size, count // len(pool) + 1, rng)]
    return np.stack(crops[:count]).astype(np.float32)


def train_family(family: str, crops: np.ndarray, steps: int, seed: int, folder: Path, device: str, log) -> Path:
    import torch
    from safetensors.torch import save_file

    from spoc_bench.images import atomic_write

    torch.manual_seed(seed)
    model = build_generator(family).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=RECIPE["lr"])
    data = torch.from_numpy(crops).permute(0, 3, 1, 2).to(device)
    generator = torch.Generator().manual_seed(seed)
    started, recent = time.perf_counter(), []
    for step in range(steps):
        batch = data[torch.randint(len(data), (RECIPE["batch"],), generator=generator)]
        loss = (model(batch) - batch).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        recent = (recent + [loss.item()])[-100:]
        if (step + 1) % 250 == 0:
            log(f"{family}: step {step + 1}/{steps}, L1 {np.mean(recent):.4f}")
    path = weights_file(family, folder)
    temporary = path.with_suffix(".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(temporary))
    temporary.replace(path)
    manifest = {"file": path.name, "sha256": file_sha256(path), "family": family, "recipe": {**RECIPE, "steps": steps},
                "seed": seed, "data_version": DATA_VERSION, "training_seconds": round(time.perf_counter() - started, 1),
                "device": device, "final_l1": round(float(np.mean(recent)), 5), "torch": torch.__version__}
    atomic_write(path.with_suffix(".json"), json.dumps(manifest, indent=2).encode())
    return path
