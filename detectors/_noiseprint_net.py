"""The Noiseprint network in PyTorch (kept apart so that ``detectors/noiseprint.py`` imports no torch).

Cozzolino & Verdoliva, IEEE TIFS 2020: a DnCNN without the residual subtraction. 17 levels of 3x3
convolutions (stride 1, zero padding 1 = TensorFlow's SAME), 64 features, 1 channel in (luminance)
and 1 out; level 0: conv + bias + ReLU; levels 1..15: conv + BatchNorm (eval, eps 1e-5, weight =
gamma, bias = the level's bias) + ReLU; level 16: conv + bias. 556,097 trainable parameters
(plus 1,920 BatchNorm running statistics); receptive field 35 x 35.
"""

from __future__ import annotations

import torch
from torch import nn

LEVELS, FEATURES = 17, 64
RECEPTIVE_FIELD = 2 * LEVELS + 1  # 17 convolutions of 3x3: 35 x 35


class NoiseprintNet(nn.Sequential):
    """Luminance ``[N, 1, H, W]`` (values / 256) -> noiseprint ``[N, 1, H, W]``."""

    receptive_field = RECEPTIVE_FIELD

    def __init__(self):
        layers = []
        for level in range(LEVELS):
            inputs = 1 if level == 0 else FEATURES
            outputs = 1 if level == LEVELS - 1 else FEATURES
            batch_norm = 0 < level < LEVELS - 1
            layers.append(nn.Conv2d(inputs, outputs, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(outputs, eps=1e-5))
            if level < LEVELS - 1:
                layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)
        # channels-last runs the 64-feature convolutions about 1.4x faster on CPU (oneDNN); weights
        # and inputs share the format (a mixed pair takes slower paths)
        self.to(memory_format=torch.channels_last)

    def forward(self, luminance: torch.Tensor) -> torch.Tensor:
        return super().forward(luminance.contiguous(memory_format=torch.channels_last))

    def load_arrays(self, arrays: dict) -> "NoiseprintNet":
        """Load the arrays of :func:`spoc_bench.weights.noiseprint_shapes`; freeze; eval mode."""
        convs = [m for m in self if isinstance(m, nn.Conv2d)]
        norms = iter(m for m in self if isinstance(m, nn.BatchNorm2d))
        with torch.no_grad():
            for level, conv in enumerate(convs):
                conv.weight.copy_(torch.as_tensor(arrays[f"level_{level}.conv.weight"]))
                bias = torch.as_tensor(arrays[f"level_{level}.bias"])
                if conv.bias is not None:
                    conv.bias.copy_(bias)
                else:
                    norm = next(norms)
                    norm.weight.copy_(torch.as_tensor(arrays[f"level_{level}.bn.gamma"]))
                    norm.bias.copy_(bias)
                    norm.running_mean.copy_(torch.as_tensor(arrays[f"level_{level}.bn.moving_mean"]))
                    norm.running_var.copy_(torch.as_tensor(arrays[f"level_{level}.bn.moving_variance"]))
        self.requires_grad_(False)
        return self.eval()

    def to_arrays(self) -> dict:
        """The inverse of :meth:`load_arrays`: this network in the layout of the safetensors files."""
        convs = [m for m in self if isinstance(m, nn.Conv2d)]
        norms = iter(m for m in self if isinstance(m, nn.BatchNorm2d))
        arrays = {}
        for level, conv in enumerate(convs):
            arrays[f"level_{level}.conv.weight"] = conv.weight
            if conv.bias is not None:
                arrays[f"level_{level}.bias"] = conv.bias
            else:
                norm = next(norms)
                arrays.update({f"level_{level}.bias": norm.bias, f"level_{level}.bn.gamma": norm.weight,
                               f"level_{level}.bn.moving_mean": norm.running_mean,
                               f"level_{level}.bn.moving_variance": norm.running_var})
        return {name: value.detach().cpu().float().contiguous() for name, value in arrays.items()}


def tiled(net: nn.Module, luminance: torch.Tensor, tile: int = 1024, overlap: int = 34) -> torch.Tensor:
    """``net`` on ``[N, 1, H, W]``, in tiles of ``tile`` x ``tile`` when ``H * W > tile**2``.

    As upstream: each tile is run with ``overlap`` extra pixels on every side that has a
    neighbour, and only its central ``tile`` x ``tile`` part is kept. With ``overlap`` >= 17 (the
    receptive field's radius) the stitched map equals the whole-image map. While gradients are
    recorded, each tile is checkpointed (recomputed in the backward pass), so memory stays bounded
    by one tile's activations there too.
    """
    height, width = luminance.shape[-2:]
    if height * width <= tile * tile:
        return net(luminance)
    checkpointed = torch.is_grad_enabled() and luminance.requires_grad
    rows = []
    for top in range(0, height, tile):
        row = []
        for left in range(0, width, tile):
            y0, x0 = max(top - overlap, 0), max(left - overlap, 0)
            y1, x1 = min(top + tile + overlap, height), min(left + tile + overlap, width)
            clip = luminance[..., y0:y1, x0:x1]
            if checkpointed:
                from torch.utils.checkpoint import checkpoint

                out = checkpoint(net, clip, use_reentrant=False)
            else:
                out = net(clip)
            row.append(out[..., top - y0:top - y0 + min(tile, height - top), left - x0:left - x0 + min(tile, width - left)])
        rows.append(torch.cat(row, dim=-1))
    return torch.cat(rows, dim=-2)
