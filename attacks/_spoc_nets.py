"""The three networks of SpoC and the patch sampling they train on (torch is imported here)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Generator(nn.Module):
    """Full-resolution 3x3 convolutions (no down-sampling) predicting a bounded residual:
    output = input + ``scale`` * tanh(residual), so the content stays."""

    def __init__(self, layers: int = 7, width: int = 32, scale: float = 0.1):
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU()]
        for _ in range(layers - 2):
            blocks += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
        blocks.append(nn.Conv2d(width, 3, 3, padding=1))
        self.body, self.scale = nn.Sequential(*blocks), scale

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images + self.scale * torch.tanh(self.body(images))


class Discriminator(nn.Module):
    """Tells the target camera's real patches from generated ones, looking at high-passed images
    (the image minus its 3x3 mean), where camera traces live; a PatchGAN logit map, averaged."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, width * 2, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width * 2, width * 4, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width * 4, 1, 3, padding=1),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        high = images - F.avg_pool2d(images, 3, stride=1, padding=1, count_include_pad=False)
        return self.body(high * 10).mean(dim=(1, 2, 3))


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
        high = images - F.avg_pool2d(images, 3, stride=1, padding=1, count_include_pad=False)
        return self.embed(self.features(high * 10).mean(dim=(2, 3)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(self.embedding(images)))


def grid_crops(images: list[np.ndarray], count: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    """``count`` random ``size`` x ``size`` crops whose corners lie on the 8x8 JPEG grid."""
    chosen = rng.integers(0, len(images), count)
    crops = []
    for index in chosen:
        image = images[index]
        y = rng.integers(0, (image.shape[0] - size) // 8 + 1) * 8
        x = rng.integers(0, (image.shape[1] - size) // 8 + 1) * 8
        crops.append(image[y:y + size, x:x + size])
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div_(255)
