"""A differentiable stand-in for saving an image as a JPEG with given quantisation tables.

Forward, it does what libjpeg does to an 8-bit RGB image: JFIF RGB -> YCbCr, chroma down-sampling
(4:4:4, 4:2:2 or 4:2:0, by averaging), an 8x8 DCT-II per block, quantisation by the tables, and back
(chroma up-sampled by libjpeg's "fancy" triangular interpolation). Backward, every rounding passes the
gradient straight through (Bengio et al.'s straight-through estimator), so a network trained through
it learns what survives the tables. Runs in float32 whatever the autocast (bf16 cannot hold DCT
coefficients to the unit). Images must be aligned on the JPEG grid, with sides that are multiples
of 16 (4:2:0 needs whole 16x16 macro-blocks).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

RGB_TO_YCC = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
CHROMA_FACTORS = {"4:4:4": (1, 1), "4:2:2": (1, 2), "4:2:0": (2, 2)}


def dct_matrix() -> torch.Tensor:
    """The orthonormal 8-point DCT-II matrix (rows are frequencies)."""
    k = torch.arange(8, dtype=torch.float64)
    matrix = torch.cos(math.pi * (2 * k[None, :] + 1) * k[:, None] / 16) * math.sqrt(2 / 8)
    matrix[0] /= math.sqrt(2)
    return matrix.float()


def straight_round(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def fancy_upsample(planes: torch.Tensor, factors: tuple[int, int]) -> torch.Tensor:
    """libjpeg's default chroma up-sampling: each new sample is 3/4 of its nearest stored sample and
    1/4 of the next one along each doubled axis (edges repeated), separable."""
    for axis, factor in ((2, factors[0]), (3, factors[1])):
        if factor == 2:
            n = planes.shape[axis]
            before = torch.cat([planes.narrow(axis, 0, 1), planes.narrow(axis, 0, n - 1)], axis)
            after = torch.cat([planes.narrow(axis, 1, n - 1), planes.narrow(axis, n - 1, 1)], axis)
            pair = torch.stack([0.75 * planes + 0.25 * before, 0.75 * planes + 0.25 * after], axis + 1)
            planes = pair.flatten(axis, axis + 1)
    return planes


class DiffJpeg(torch.nn.Module):
    """``forward(images)``: float ``[N, 3, H, W]`` in [0, 1] -> what a reader gets back after the image is
    saved with ``qtables`` (two 64-value tables, luma then chroma, in natural order) and ``subsampling``."""

    def __init__(self, qtables: Sequence[Sequence[int]], subsampling: str = "4:2:0"):
        super().__init__()
        if subsampling not in CHROMA_FACTORS:
            raise ValueError(f"unknown chroma subsampling {subsampling!r}; known: {sorted(CHROMA_FACTORS)}")
        luma, chroma = (torch.tensor(t, dtype=torch.float32).reshape(8, 8) for t in (qtables[0], qtables[-1]))
        self.register_buffer("luma", luma)
        self.register_buffer("chroma", chroma)
        self.register_buffer("dct", dct_matrix())
        self.register_buffer("rgb_to_ycc", RGB_TO_YCC.clone())
        self.register_buffer("offsets", torch.tensor([0.0, 128.0, 128.0]).view(1, 3, 1, 1))
        self.factors = CHROMA_FACTORS[subsampling]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        if height % 16 or width % 16:
            raise ValueError(f"DiffJpeg: sides must be multiples of 16, got {height} x {width}")
        with torch.autocast(images.device.type, enabled=False):
            pixels = straight_round(images.float().clamp(0, 1) * 255)
            ycc = torch.einsum("ij,njhw->nihw", self.rgb_to_ycc, pixels) + self.offsets
            ycc = straight_round(ycc.clamp(0, 255))  # libjpeg keeps 8-bit samples between its stages
            down = self.factors
            chroma = F.avg_pool2d(ycc[:, 1:], down) if down != (1, 1) else ycc[:, 1:]
            luma = self.quantise(ycc[:, :1] - 128, self.luma) + 128
            chroma = self.quantise(chroma - 128, self.chroma) + 128
            ycc = straight_round(torch.cat([luma, fancy_upsample(chroma, down)], dim=1).clamp(0, 255))
            rgb = torch.einsum("ij,njhw->nihw", torch.linalg.inv(self.rgb_to_ycc), ycc - self.offsets)
            return straight_round(rgb.clamp(0, 255)) / 255

    def quantise(self, planes: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        n, c, h, w = planes.shape
        blocks = planes.reshape(n, c, h // 8, 8, w // 8, 8).transpose(3, 4)
        coefficients = self.dct @ blocks @ self.dct.T
        coefficients = straight_round(coefficients / table) * table
        blocks = self.dct.T @ coefficients @ self.dct
        return blocks.transpose(3, 4).reshape(n, c, h, w)
