"""The network of Bondi et al. 2017 in PyTorch (kept apart so that ``detectors/bondi2017.py`` imports no
torch at import time).

Bondi, Baroffio, Güera, Bestagini, Delp, Tubaro, "First steps toward camera model identification with
convolutional neural networks", IEEE SPL 2017 (arXiv 1603.01068). Input: 64 x 64 x 3 RGB patches,
the training patches' pixel-wise mean subtracted (pixel values 0..255) and the result scaled by 0.0125.

    conv1  32 @ 4x4, stride 1          64 -> 61
    pool   max 2x2, stride 2           61 -> 31
    conv2  48 @ 5x5                    31 -> 27
    pool                               27 -> 14
    conv3  64 @ 5x5                    14 -> 10
    pool                               10 -> 5
    conv4 128 @ 5x5                     5 -> 1
    fc    128 + ReLU
    fc    n_models (softmax outside the module)

No non-linearity after the convolutions. The pooling layers round up (``ceil_mode``, as Caffe's pooling
does), which is what makes the last 5x5 convolution land on a 1x1 map: with rounding down the map
before conv4 would be 4x4. 339,352 trainable parameters for 8 models (1.4 MB in float32).
"""

from __future__ import annotations

import torch
from torch import nn

PATCH = 64
SCALE = 0.0125


class BondiNet(nn.Module):
    """Patches ``[N, 3, 64, 64]`` in [0, 1] -> logits ``[N, n_models]``.

    ``mean`` (a buffer, ``[3, 64, 64]`` in 0..255 units) is the pixel-wise mean of the training
    patches; it is set by the training recipe and travels with the weights.
    """

    def __init__(self, n_models: int):
        super().__init__()
        pool = dict(kernel_size=2, stride=2, ceil_mode=True)
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 4), nn.MaxPool2d(**pool),
            nn.Conv2d(32, 48, 5), nn.MaxPool2d(**pool),
            nn.Conv2d(48, 64, 5), nn.MaxPool2d(**pool),
            nn.Conv2d(64, 128, 5),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, n_models))
        self.register_buffer("mean", torch.zeros(3, PATCH, PATCH))
        # channels-last runs these convolutions about 1.5x faster on a CPU (oneDNN); weights and
        # inputs share the format
        self.to(memory_format=torch.channels_last)

    def normalise(self, patches: torch.Tensor) -> torch.Tensor:
        """[0, 1] pixels -> (255 x - mean) * 0.0125."""
        return (patches * 255.0 - self.mean) * SCALE

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        if patches.shape[-3:] != (3, PATCH, PATCH):
            raise ValueError(f"bondi2017: patches must be [N, 3, {PATCH}, {PATCH}], got {tuple(patches.shape)}")
        x = self.normalise(patches).contiguous(memory_format=torch.channels_last)
        return self.classifier(self.features(x))
