"""ResNets for the synthetic-image detectors (He et al. 2016), written here because torchvision's
wheels do not run beside this project's CPU build of torch.

``ResNet(depth, width, stem_stride)``: depth 18 (basic blocks [2, 2, 2, 2]) or 50 (bottlenecks
[3, 4, 6, 3], expansion 4); ``width`` is the first stage's width (64 in the paper; stages double
it); ``stem_stride=2`` is the usual stem (7x7 conv stride 2 + 3x3 max-pool stride 2), ``1`` is
Gragnaniello et al.'s variant without down-sampling in the stem (both strides 1). One logit, from
global average pooling and a linear layer (equal to averaging per-position logits, since the layer
is linear). Torchvision's layout and initialisation (Kaiming normal, last BatchNorm of each block
at zero), so a full-size model matches the paper's parameter count.
"""

from __future__ import annotations

import torch
from torch import nn

LAYOUTS = {18: ("basic", (2, 2, 2, 2)), 50: ("bottleneck", (3, 4, 6, 3))}


class Basic(nn.Module):
    expansion = 1

    def __init__(self, inputs: int, width: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(inputs, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width))
        self.shortcut = shortcut(inputs, width, stride)

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inputs: int, width: int, stride: int):
        super().__init__()
        outputs = width * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(inputs, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, outputs, 1, bias=False), nn.BatchNorm2d(outputs))
        self.shortcut = shortcut(inputs, outputs, stride)

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


def shortcut(inputs: int, outputs: int, stride: int) -> nn.Module:
    if stride == 1 and inputs == outputs:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs))


class ResNet(nn.Module):
    """RGB in [0, 1] (normalised inside with ImageNet's mean and std) -> one logit per image."""

    def __init__(self, depth: int = 50, width: int = 64, stem_stride: int = 2):
        super().__init__()
        if depth not in LAYOUTS or width < 1 or stem_stride not in (1, 2):
            raise ValueError(f"ResNet: depth must be one of {sorted(LAYOUTS)}, width >= 1, stem_stride 1 or 2")
        kind, counts = LAYOUTS[depth]
        block = Basic if kind == "basic" else Bottleneck
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        layers: list[nn.Module] = [nn.Conv2d(3, width, 7, stem_stride, 3, bias=False), nn.BatchNorm2d(width),
                                   nn.ReLU(inplace=True), nn.MaxPool2d(3, stem_stride, 1)]
        inputs = width
        for stage, count in enumerate(counts):
            for index in range(count):
                stride = 2 if stage > 0 and index == 0 else 1
                layers.append(block(inputs, width * 2 ** stage, stride))
                inputs = width * 2 ** stage * block.expansion
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(inputs, 1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        for module in self.modules():
            if isinstance(module, (Basic, Bottleneck)):
                nn.init.zeros_(module.body[-1].weight)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.features((images - self.mean) / self.std)
        return self.fc(features.mean(dim=(2, 3))).squeeze(1)
