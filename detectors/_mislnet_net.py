"""MISLnet, the constrained CNN of Bayar & Stamm, in PyTorch (kept apart so that
``detectors/mislnet.py`` imports no torch at import time).

Bayar & Stamm, "Constrained convolutional neural networks: a new approach towards general purpose
image manipulation detection", IEEE TIFS 2018, used for camera-model identification. Layers, for a
``size`` x ``size`` input (256 in the paper) with ``channels`` colour channels (see ``mislnet.py``):

    constrained conv  3 @ 5x5, stride 1, no padding, no bias     256 -> 252
    conv2  96 @ 7x7, stride 2, no padding + BN + tanh            252 -> 123
    max pool 3x3, stride 2                                       123 -> 61
    conv3  64 @ 5x5, stride 1, padding 2 + BN + tanh               61 -> 61
    max pool 3x3, stride 2                                        61 -> 30
    conv4  64 @ 5x5, stride 1, padding 2 + BN + tanh               30 -> 30
    max pool 3x3, stride 2                                        30 -> 14
    conv5 128 @ 1x1 + BN + tanh                                   14 -> 14
    max pool 3x3, stride 2                                        14 -> 6
    fc 200 + tanh, fc 200 + tanh, fc n_models (softmax outside the module)

The constrained layer: every 5x5 slice (one output filter, one input channel) is a prediction-error
filter: its centre weight is -1 and its other 24 weights sum to 1, so it outputs (a prediction of the
pixel from its neighbours) - (the pixel). :meth:`ConstrainedConv2d.constrain` enforces it; the training
recipe calls it at initialisation and after every optimiser step (as the paper does).

Unverified against the paper's text (it could not be read here): the padding of each layer (hence the
map sizes above and the 128 x 6 x 6 = 4,608 inputs of the first fully connected layer), and whether
the last pooling layer is a max or an average pooling; the layer list itself is the project's
reference (REFERENCE.md).
"""

from __future__ import annotations

import torch
from torch import nn

CONSTRAINED_FILTERS = 3
KERNEL = 5
CENTRE = KERNEL // 2


class ConstrainedConv2d(nn.Conv2d):
    """A bias-free 5x5 convolution whose slices are prediction-error filters (centre -1, rest sum 1)."""

    def __init__(self, in_channels: int, out_channels: int = CONSTRAINED_FILTERS, kernel_size: int = KERNEL):
        super().__init__(in_channels, out_channels, kernel_size, bias=False)
        # positive random weights, then the constraint: every slice starts as a random weighted average
        # of the neighbours minus the pixel. (A zero-mean initialisation can make the 24 weights sum to
        # nearly 0, and the renormalisation then blows them up.) The paper's initialisation: unverified.
        with torch.no_grad():
            self.weight.uniform_(0, 1)
        self.constrain()

    @torch.no_grad()
    def constrain(self) -> None:
        """Centre weight of each slice to 0, the rest divided by their sum, then the centre to -1."""
        weight = self.weight
        centre = self.kernel_size[0] // 2
        weight[:, :, centre, centre] = 0
        weight.div_(weight.sum(dim=(2, 3), keepdim=True))
        weight[:, :, centre, centre] = -1


def feature_size(size: int) -> int:
    """Side of the map entering the fully connected layers, for a ``size`` x ``size`` input."""
    side = size - (KERNEL - 1)  # constrained conv
    side = (side - 7) // 2 + 1  # conv2, stride 2
    for _ in range(4):  # four 3x3 / 2 max poolings (conv3..conv5 keep the size)
        side = (side - 3) // 2 + 1
    if side < 1:
        raise ValueError(f"mislnet: an input of {size} px is too small for the network")
    return side


class MISLNet(nn.Module):
    """Pixels ``[N, channels, size, size]`` in [0, 1] -> logits ``[N, n_models]`` (pixels are
    multiplied by 255 first: the constrained layer sees 8-bit values, as in the paper)."""

    def __init__(self, n_models: int, channels: int = 3, size: int = 256):
        super().__init__()
        self.channels, self.size = channels, size
        self.constrained = ConstrainedConv2d(channels)

        def block(inputs, outputs, kernel, stride=1, padding=0):
            return [nn.Conv2d(inputs, outputs, kernel, stride, padding), nn.BatchNorm2d(outputs), nn.Tanh(),
                    nn.MaxPool2d(3, 2)]

        self.features = nn.Sequential(*block(CONSTRAINED_FILTERS, 96, 7, stride=2), *block(96, 64, 5, padding=2),
                                      *block(64, 64, 5, padding=2), *block(64, 128, 1))
        side = feature_size(size)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(128 * side * side, 200), nn.Tanh(),
                                        nn.Linear(200, 200), nn.Tanh(), nn.Linear(200, n_models))
        self.to(memory_format=torch.channels_last)  # about 1.4x faster on a CPU (oneDNN)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        if pixels.shape[-3:] != (self.channels, self.size, self.size):
            raise ValueError(f"mislnet: input must be [N, {self.channels}, {self.size}, {self.size}], "
                             f"got {tuple(pixels.shape)}")
        x = (pixels * 255.0).contiguous(memory_format=torch.channels_last)
        return self.classifier(self.features(self.constrained(x)))

    @classmethod
    def from_state(cls, state: dict, size: int) -> "MISLNet":
        """A network for ``size`` x ``size`` inputs shaped after the tensors of ``state``; loaded."""
        net = cls(state["classifier.5.weight"].shape[0], state["constrained.weight"].shape[1], size)
        net.load_state_dict(state)
        return net
