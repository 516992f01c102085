"""Trace transplant: replace the image's finest detail, block by block, with the finest detail of the
target camera's own images where their content looks alike.

Method: image analogies (Hertzmann, Jacobs, Oliver, Curless, Salesin, SIGGRAPH 2001) applied to
camera traces. Every image is split into content (a Gaussian low-pass, ``sigma`` px) and residual
(the rest: sensor noise as the camera's demosaicing, denoising, sharpening and JPEG shaped it, and
the finest scene detail). Each ``tile`` x ``tile`` block of the input, on the grid from the top-left
corner (so the 8x8 JPEG blocks and the 2x2 colour-filter phase of the samples are kept), takes the
residual of the block among the target's sample images whose content, with ``context`` px around it,
is nearest (Euclidean, after removing each window's mean colour, which is kept at a fifth of its
weight). The output is the input's content plus the transplanted residuals, saved as the target saves;
``strength`` below 1 keeps that share of the change from the input (a quality knob: the PSNR to the
input rises by -20 log10(strength) dB).

Unlike adding noise or a fingerprint, the transplanted residual is the camera's own response to
similar content: its demosaicing of similar edges, its noise at that brightness.

Threat model: black-box. Knowledge: ``target_samples`` only (the target camera's images in the
attacker split); the runner hands it no detector. The residuals also carry the attacker's device
PRNU, which is not the defender's devices'.

Choices: a block's match is independent of its neighbours' (no coherence term), which keeps the
attack a single nearest-neighbour search; at most ``max_samples`` sample images are used.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from spoc_bench.contracts import Attack, Item
from spoc_bench.registry import register_attack

MEAN_WEIGHT = 0.2  # how much a window's mean colour counts against its shape in a match


@register_attack("trace-transplant")
class TraceTransplant(Attack):
    """Each block's finest detail replaced by that of the target's most alike block (black-box, needs target samples)."""

    threat_model = "black-box"
    needs = frozenset({"target_samples"})
    saves_like_target = True

    def __init__(self, sigma: float = 1.0, tile: int = 8, context: int = 4, max_samples: int = 32,
                 strength: float = 1.0):
        if sigma <= 0 or tile < 1 or context < 0 or max_samples < 1 or not 0 < strength <= 1:
            raise ValueError("trace-transplant: sigma > 0, tile >= 1, context >= 0, max_samples >= 1 and "
                             "0 < strength <= 1")
        self.sigma, self.tile, self.context, self.max_samples = sigma, tile, context, max_samples
        self.strength = strength

    def fit(self, target: str, target_samples: Sequence[Item] = (), **knowledge) -> "TraceTransplant":
        import torch

        super().fit(target, target_samples)
        samples = [item.pixels for item in target_samples[: self.max_samples]]
        if not samples:
            raise ValueError(f"trace-transplant: no sample images of target {target!r}")
        windows, residuals = [], []
        for pixels in samples:
            content, residual = self.split(pixels.astype(np.float64))
            windows.append(self.windows(content))
            residuals.append(blocks(residual, self.tile))
        self.windows_ = torch.cat(windows)
        self.residuals_ = torch.cat(residuals)
        self.norms_ = self.windows_.square().sum(1)
        return self

    def forward(self, images):
        import torch

        return torch.stack([self.transplant(image.permute(1, 2, 0).double().numpy()) for image in images]).to(images.dtype)

    def transplant(self, image: np.ndarray):
        """One ``[H, W, 3]`` image in [0, 1] -> its content plus the nearest blocks' residuals, ``[3, H, W]``."""
        import torch

        content, residual = self.parts(image)
        original = torch.from_numpy(image).permute(2, 0, 1).float()
        return original + self.strength * (content + residual - original)

    def parts(self, image: np.ndarray):
        """One ``[H, W, 3]`` image in [0, 1] -> ``(content, residual)``: its low-pass, and the residuals
        of the target's blocks nearest to it in content; both ``[3, H, W]`` float32, in [0, 1] units."""
        import torch
        import torch.nn.functional as F

        height, width = image.shape[:2]
        padded = pad_to(image * 255, self.tile)
        content, _ = self.split(padded)
        queries = self.windows(content)
        nearest = (self.norms_[None] - 2 * queries @ self.windows_.T).argmin(1)
        chosen = self.residuals_[nearest].T.unsqueeze(0)  # [1, 3 * tile * tile, blocks]
        residual = F.fold(chosen, padded.shape[:2], self.tile, stride=self.tile)[0]
        content = torch.from_numpy(content).permute(2, 0, 1).float()
        return content[:, :height, :width] / 255, residual[:, :height, :width] / 255

    def split(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(content, residual)`` of ``[H, W, 3]`` 8-bit-scaled pixels: a Gaussian low-pass and the rest."""
        from scipy.ndimage import gaussian_filter

        content = gaussian_filter(pixels, (self.sigma, self.sigma, 0), mode="reflect")
        return content, pixels - content

    def windows(self, content: np.ndarray):
        """The matching features of every block: its content with ``context`` px around, shape
        minus mean colour, plus the mean colour at :data:`MEAN_WEIGHT`; ``[blocks, features]``."""
        import torch
        import torch.nn.functional as F

        padded = np.pad(content, ((self.context,) * 2, (self.context,) * 2, (0, 0)), mode="reflect")
        tensor = torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1))).float()[None]
        size = self.tile + 2 * self.context
        unfolded = F.unfold(tensor, size, stride=self.tile)[0].T.reshape(-1, 3, size * size)
        mean = unfolded.mean(2, keepdim=True)
        return torch.cat([(unfolded - mean).flatten(1), MEAN_WEIGHT * mean.flatten(1)], 1)


def pad_to(pixels: np.ndarray, multiple: int) -> np.ndarray:
    """``pixels`` padded (reflected) at the bottom and right to sides that are multiples of ``multiple``."""
    height, width = pixels.shape[:2]
    return np.pad(pixels, ((0, -height % multiple), (0, -width % multiple), (0, 0)), mode="reflect")


def blocks(residual: np.ndarray, tile: int):
    """The ``tile`` x ``tile`` blocks of ``[H, W, 3]`` (sides cropped to multiples of ``tile``) as
    ``[blocks, 3 * tile * tile]`` in :func:`torch.nn.functional.fold`'s order."""
    import torch
    import torch.nn.functional as F

    height, width = residual.shape[0] // tile * tile, residual.shape[1] // tile * tile
    tensor = torch.from_numpy(np.ascontiguousarray(residual[:height, :width].transpose(2, 0, 1))).float()[None]
    return F.unfold(tensor, tile, stride=tile)[0].T
