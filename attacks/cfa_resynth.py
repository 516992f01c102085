"""CFA re-synthesis: re-sample the image on the target's Bayer layout and re-interpolate it with
the target's demosaicer, so its colour-filter-array correlations look like the target's.

Method: Kirchner and Böhme ("Synthesis of color filter array pattern in digital images", SPIE
Media Forensics and Security 2009; "Hiding traces of resampling in digital images", IEEE TIFS 2008):
keep one colour per pixel on the camera's Bayer lattice and interpolate the two missing ones, as
the camera did. (Kirchner and Böhme solve a least-squares problem so that the re-interpolated image
stays as close as possible to the input; this attack takes the plain re-sample-and-interpolate
variant they compare it with.)

The target's layout (RGGB, GRBG, GBRG or BGGR) and demosaicer (bilinear, Malvar et al. 2004, Menon
et al. 2007, from colour-demosaicing) are estimated from the target's sample images: every sample
is re-mosaicked on each of the 4 layouts and re-interpolated with each of the 3 demosaicers, and the
(layout, demosaicer) pair whose re-interpolation reproduces the samples best (least mean squared
error over the three channels, borders left out) is taken: on the true layout the camera's own
samples are kept and only the interpolated values are predicted. That total tells the green
lattice apart well but not always red from blue (the colour matrix, chroma denoising and sharpening
blur them); between the chosen layout and its twin with red and blue swapped, the red channel's
error alone decides (see :func:`best_layout_and_demosaicer`). The estimates and the error table are kept in ``layout_``,
``demosaicer_`` and ``errors_``; ``layout`` and ``demosaicer`` given explicitly skip the estimate.

On simcam the layout estimate is right for all 8 cameras; the demosaicer is right for 7 (``gamma``
demosaics bilinearly, then sharpens, which looks like Malvar's gradient correction).

Threat model: black-box. Knowledge: ``target_samples`` only; the runner hands it no detector. The
output is saved as the target saves (its JPEG tables and subsampling).

Choices: the re-sampling works on the 8-bit sRGB image (cameras demosaic linear raw values, which an
attacker does not have); at most ``max_samples`` sample images (centre crops of at most ``crop``
pixels) are used for the estimate, enough on simcam and bounded in time.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from spoc_bench.contracts import Attack, Item
from spoc_bench.registry import register_attack

LAYOUTS = ("RGGB", "GRBG", "GBRG", "BGGR")
DEMOSAICERS = ("bilinear", "malvar", "menon")
SWAPPED_RED_BLUE = {"RGGB": "BGGR", "BGGR": "RGGB", "GRBG": "GBRG", "GBRG": "GRBG"}
BORDER = 8  # pixels left out of the error: demosaicers treat the borders their own way


@register_attack("cfa-resynth")
class CfaResynth(Attack):
    """Re-mosaic on the target's Bayer layout and re-interpolate with its demosaicer, both estimated (black-box, needs target samples)."""

    threat_model = "black-box"
    uses_networks = False
    needs = frozenset({"target_samples"})
    saves_like_target = True

    def __init__(self, layout: str = "auto", demosaicer: str = "auto", max_samples: int = 16, crop: int = 256):
        if layout not in ("auto", *LAYOUTS) or demosaicer not in ("auto", *DEMOSAICERS):
            raise ValueError(f"cfa-resynth: layout must be 'auto' or one of {LAYOUTS}, demosaicer 'auto' or one of {DEMOSAICERS}")
        self.layout, self.demosaicer, self.max_samples, self.crop = layout, demosaicer, max_samples, crop

    def fit(self, target: str, target_samples: Sequence[Item] = (), **knowledge) -> "CfaResynth":
        super().fit(target, target_samples)
        layouts = LAYOUTS if self.layout == "auto" else (self.layout,)
        demosaicers = DEMOSAICERS if self.demosaicer == "auto" else (self.demosaicer,)
        if len(layouts) * len(demosaicers) == 1:
            self.layout_, self.demosaicer_, self.errors_ = layouts[0], demosaicers[0], {}
            return self
        images = [centre_crop(item.pixels, self.crop) for item in target_samples[: self.max_samples]]
        if not images:
            raise ValueError(f"cfa-resynth: no sample images of target {target!r} to estimate its CFA from")
        self.errors_ = {(layout, name): reinterpolation_errors(images, layout, name)
                        for layout in layouts for name in demosaicers}
        self.layout_, self.demosaicer_ = best_layout_and_demosaicer(self.errors_)
        return self

    def forward(self, images):
        import torch

        pixels = images.detach().cpu().double().numpy().transpose(0, 2, 3, 1)
        resampled = [resynthesise(image, self.layout_, self.demosaicer_) for image in pixels]
        return torch.from_numpy(np.stack(resampled).transpose(0, 3, 1, 2)).to(images.dtype)


def demosaic(mosaic: np.ndarray, layout: str, name: str) -> np.ndarray:
    from colour_demosaicing import (demosaicing_CFA_Bayer_bilinear, demosaicing_CFA_Bayer_Malvar2004,
                                    demosaicing_CFA_Bayer_Menon2007)

    function = {"bilinear": demosaicing_CFA_Bayer_bilinear, "malvar": demosaicing_CFA_Bayer_Malvar2004,
                "menon": demosaicing_CFA_Bayer_Menon2007}[name]
    return function(mosaic, layout)


def resynthesise(image: np.ndarray, layout: str, name: str) -> np.ndarray:
    """``[H, W, 3]`` in [0, 1] -> the same image re-mosaicked on ``layout`` and re-interpolated."""
    from colour_demosaicing import mosaicing_CFA_Bayer

    return np.clip(demosaic(mosaicing_CFA_Bayer(image, layout), layout, name), 0, 1)


def reinterpolation_errors(images: Sequence[np.ndarray], layout: str, name: str) -> tuple[float, float, float]:
    """Mean squared error per channel (8-bit units) between uint8 images and their re-synthesis on
    ``layout`` with demosaicer ``name``, borders left out."""
    errors = []
    for pixels in images:
        image = pixels.astype(np.float64) / 255
        difference = (resynthesise(image, layout, name) - image)[BORDER:-BORDER, BORDER:-BORDER]
        errors.append((difference ** 2).mean(axis=(0, 1)) * 255 ** 2)
    return tuple(float(e) for e in np.mean(errors, axis=0))


def best_layout_and_demosaicer(errors: dict) -> tuple[str, str]:
    """The (layout, demosaicer) whose re-synthesis errs least over all channels; then, between that
    layout and its twin with red and blue swapped (same green lattice), the one whose red channel
    errs least. The total decides the green lattice well; red and blue are told apart by red alone
    because cameras amplify red the most (white balance), so red keeps the most of its own samples'
    noise, while blue's error is often ruled by the colour matrix and chroma denoising."""
    layout, name = min(errors, key=lambda key: sum(errors[key]))
    twin = SWAPPED_RED_BLUE[layout]
    if (twin, name) in errors and errors[(twin, name)][0] < errors[(layout, name)][0]:
        layout = twin
    return layout, name


def centre_crop(pixels: np.ndarray, size: int) -> np.ndarray:
    """The centre ``size x size`` of an image (the whole image where smaller), on the 2 x 2 CFA grid."""
    height, width = pixels.shape[:2]
    top, left = max(0, (height - size) // 4 * 2), max(0, (width - size) // 4 * 2)
    return pixels[top:top + size, left:left + size]
