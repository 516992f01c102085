"""The networks of SpoC, its attacker-side surrogate, and the patch sampling they train on (torch is
imported here)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from spoc_bench.detectors._mislnet_net import ConstrainedConv2d


def high_pass(images: torch.Tensor) -> torch.Tensor:
    """The image minus its 3x3 mean, x10: where camera traces live."""
    return (images - F.avg_pool2d(images, 3, stride=1, padding=1, count_include_pad=False)) * 10


class Generator(nn.Module):
    """SpoC's generator: full-resolution 3x3 convolutions (no down-sampling, any image size) that
    decide, per pixel and colour channel, how much of two given signals to apply to the image:

    - ``fine``, the image's own finest band (the image minus its low-pass: where a generator's
      up-sampling leaves its traces), taken away;
    - ``residual``, the target camera's finest band for the same place (its demosaicing, noise,
      sharpening and save, as ``trace-transplant`` picks them from the target's sample images), added:

        change = sigmoid(b) * residual - sigmoid(a) * fine,   output = images + limit(change),

    where ``limit`` scales each image's change down to a mean square of at most ``budget`` (the
    quality bound, as a PSNR of ``-10 log10(budget)`` dB before the save). The generator writes no
    texture of its own, only gains on the camera's own traces: what it learns from the attacker's
    surrogates cannot be a pattern that only those surrogates take for the camera.

    ``cell`` > 1 averages the gains' logits over ``cell`` x ``cell`` blocks from the top-left corner
    (SpoC's recipe: 16), so the gains can only allocate the budget between regions, not draw a
    pattern. The first layer's features can get a learned bias per position in the ``period`` x
    ``period`` grid (8: the JPEG block, which also fixes the 2x2 colour-filter phase), tiled from the
    top-left corner; ``period`` 0 (SpoC's recipe) leaves it out. The last layer starts at zero:
    every gain starts at one half.
    """

    def __init__(self, layers: int = 5, width: int = 32, period: int = 8, budget: float = 10 ** -3.5, cell: int = 1):
        super().__init__()
        self.first = nn.Conv2d(9, width, 3, padding=1)
        self.phase = nn.Parameter(torch.zeros(1, width, period, period)) if period else None
        blocks: list[nn.Module] = []
        for _ in range(layers - 2):
            blocks += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
        blocks.append(nn.Conv2d(width, 6, 3, padding=1))
        nn.init.zeros_(blocks[-1].weight)
        nn.init.zeros_(blocks[-1].bias)
        self.body = nn.Sequential(*blocks)
        self.register_buffer("budget", torch.tensor(float(budget)))
        self.register_buffer("cell", torch.tensor(int(cell)))

    @classmethod
    def from_state(cls, state: dict) -> "Generator":
        period = state["phase"].shape[-1] if "phase" in state else 0
        layers = 1 + sum(1 for key in state if key.startswith("body.") and key.endswith(".weight"))
        generator = cls(layers, state["first.weight"].shape[0], period, float(state["budget"]), int(state["cell"]))
        generator.load_state_dict(state)
        return generator

    def gains(self, images: torch.Tensor, fine: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """``[N, 6, H, W]`` in (0, 1): the share of ``fine`` taken away (channels 0-2) and of
        ``residual`` added (3-5)."""
        features = self.first(torch.cat([images, fine * 10, residual * 10], 1))
        if self.phase is not None:
            height, width = features.shape[-2:]
            period = self.phase.shape[-1]
            tiled = self.phase.repeat(1, 1, -(-height // period), -(-width // period))
            features = features + tiled[..., :height, :width]
        logits = self.body(F.relu(features))
        cell = int(self.cell)
        if cell > 1:  # one gain per cell x cell block: a coarse allocation that can write no pattern
            height, width = logits.shape[-2:]
            logits = F.interpolate(F.avg_pool2d(logits, cell, ceil_mode=True), scale_factor=cell, mode="nearest")
            logits = logits[..., :height, :width]
        return torch.sigmoid(logits)

    def forward(self, images: torch.Tensor, fine: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        gains = self.gains(images, fine, residual)
        change = gains[:, 3:] * residual - gains[:, :3] * fine
        return images + limit(change, self.budget)


def limit(change: torch.Tensor, budget: torch.Tensor) -> torch.Tensor:
    """``change`` scaled down, image by image, to a mean square of at most ``budget``."""
    power = change.square().mean(dim=(1, 2, 3), keepdim=True)
    return change * torch.sqrt(budget / power.clamp(min=1e-12)).clamp(max=1)


class Discriminator(nn.Module):
    """Tells the target camera's real patches from generated ones (both as saved files), looking at
    high-passed images; spectrally normalised (Miyato et al. 2018) so that it cannot win outright;
    a PatchGAN logit map, averaged."""

    def __init__(self, width: int = 32):
        super().__init__()
        norm = nn.utils.spectral_norm
        self.body = nn.Sequential(
            norm(nn.Conv2d(3, width, 3, padding=1)), nn.LeakyReLU(0.2),
            norm(nn.Conv2d(width, width * 2, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            norm(nn.Conv2d(width * 2, width * 4, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            norm(nn.Conv2d(width * 4, 1, 3, padding=1)),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(high_pass(images)).mean(dim=(1, 2, 3))


class Embedder(nn.Module):
    """A camera-model classifier whose penultimate layer is the ``dim``-dimensional camera feature."""

    def __init__(self, classes: int, dim: int = 512, width: int = 32):
        super().__init__()

        def block(inputs: int, outputs: int, stride: int) -> list[nn.Module]:
            return [nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU()]

        self.features = nn.Sequential(*block(3, width, 1), *block(width, width, 1), *block(width, width * 2, 2),
                                      *block(width * 2, width * 4, 2), *block(width * 4, width * 8, 2))
        self.embed = nn.Linear(width * 8, dim)
        self.head = nn.Linear(dim, classes)

    def embedding(self, images: torch.Tensor) -> torch.Tensor:
        return self.embed(self.features(high_pass(images)).mean(dim=(2, 3)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(self.embedding(images)))


class ConstrainedSurrogate(nn.Module):
    """An attacker-side camera-model classifier in Bayar & Stamm's manner: a constrained
    prediction-error first layer (centre -1, neighbours summing to 1), then a small strided
    convolution stack with batch norm and tanh, global average pooling; any patch size."""

    def __init__(self, classes: int, width: int = 48, filters: int = 6):
        super().__init__()
        self.constrained = ConstrainedConv2d(3, filters)

        def block(inputs: int, outputs: int, stride: int) -> list[nn.Module]:
            return [nn.Conv2d(inputs, outputs, 3, stride, 1), nn.BatchNorm2d(outputs), nn.Tanh()]

        self.features = nn.Sequential(*block(filters, width, 1), *block(width, width, 2),
                                      *block(width, width * 2, 2), *block(width * 2, width * 4, 2))
        self.head = nn.Linear(width * 4, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.constrained(images * 255)).mean(dim=(2, 3)))


def grid_crops(images: list[np.ndarray], count: int, size: int, rng: np.random.Generator, grid: int = 8,
               margin: int = 0) -> torch.Tensor:
    """``count`` random ``size`` x ``size`` crops whose inner part (``margin`` px in from each side)
    starts on the ``grid`` (the JPEG blocks: 8, or 16 for 4:2:0 chroma)."""
    chosen = rng.integers(0, len(images), count)
    crops = []
    for index in chosen:
        image = images[index]
        low = -(-margin // grid)  # the first grid line with room for the margin
        y = rng.integers(low, (image.shape[0] - size + margin) // grid + 1) * grid - margin
        x = rng.integers(low, (image.shape[1] - size + margin) // grid + 1) * grid - margin
        crops.append(image[y:y + size, x:x + size])
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div_(255)


def tiles(images: torch.Tensor, size: int = 64) -> torch.Tensor:
    """The ``size`` x ``size`` tiles of ``[N, C, H, W]`` on a grid from the top-left corner,
    ``[N * tiles, C, size, size]`` (image by image)."""
    n, c, h, w = images.shape
    rows, columns = h // size, w // size
    grid = images[..., :rows * size, :columns * size].reshape(n, c, rows, size, columns, size)
    return grid.permute(0, 2, 4, 1, 3, 5).reshape(-1, c, size, size)
