"""PRNU fingerprint-copy: add an estimate of the target's sensor noise to the image.

Method: the fingerprint-copy attack of Goljan, Fridrich and Chen ("Defending against fingerprint-copy
attack in sensor-based camera identification", IEEE TIFS 2011; Lukáš, Fridrich, Goljan's sensor model
I = I0 + I0·K + Θ, IEEE TIFS 2006). The attacker estimates the device's PRNU K from its own images of
the target camera, with the maximum-likelihood estimator ``K = Σ W·I / Σ I²`` (Chen et al., IEEE TIFS
2008) over wavelet-denoiser residuals W, then zero-mean rows and columns and Wiener filtering in the
DFT, exactly as the ``prnu`` detector estimates its fingerprints (the same functions of
``detectors/prnu.py``: db4, 4 levels, σ0 = 5), and writes ``I' = I + alpha·I·K`` on every colour
channel. The output is saved as the target saves (its JPEG tables and subsampling).

Threat model: black-box. Knowledge: ``target_samples`` only; the runner hands it no detector.

What to expect: PRNU identifies a *device*. The attacker's images come from another device of the
target model than the defender's (simcam's ``attacker`` split is device ``-d2``; the defender's are
``-d0`` and ``-d1``), so the copied fingerprint matches none of the defender's device fingerprints:
it can fool device-level PRNU matching only where the attacker's and defender's devices coincide (a
camera the attacker had access to). What K also carries of the model (residual demosaicing and JPEG
traces the zero-mean and Wiener steps leave) may move camera-model identifiers slightly.

Choices: ``alpha = 1`` adds the estimate at the scale the estimator gives it, the strength a genuine
image of the device would carry as far as the attacker can tell (on simcam its standard deviation is
about 0.004, below the simulated sensors' 0.01 on the raw mosaic, which demosaicing, denoising and
the Wiener filtering shrink); the change is then below one grey level on average.
Sample images of another size than the most common one are left out; the fingerprint is laid on the
image from its top-left corner (the detector compares at zero shift there) and wrapped around when
the image is larger than the fingerprint.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

from spoc_bench.contracts import Attack, Item
from spoc_bench.registry import register_attack


@register_attack("prnu-copy")
class PrnuCopy(Attack):
    """Add the target's PRNU, estimated from its sample images, scaled by alpha (black-box, needs target samples)."""

    threat_model = "black-box"
    uses_networks = False
    needs = frozenset({"target_samples"})
    saves_like_target = True

    def __init__(self, alpha: float = 1.0, sigma: float = 5.0, wavelet: str = "db4", levels: int = 4):
        self.alpha, self.sigma, self.wavelet, self.levels = alpha, sigma, wavelet, levels

    def fit(self, target: str, target_samples: Sequence[Item] = (), **knowledge) -> "PrnuCopy":
        from spoc_bench.detectors.prnu import estimate_fingerprint

        super().fit(target, target_samples)
        if not target_samples:
            raise ValueError(f"prnu-copy: no sample images of target {target!r} to estimate its PRNU from")
        size = Counter(item.pixels.shape for item in target_samples).most_common(1)[0][0]
        images = [item.pixels for item in target_samples if item.pixels.shape == size]
        self.fingerprint_ = estimate_fingerprint(images, self.sigma, self.wavelet, self.levels)
        self.images_used_ = len(images)
        return self

    def forward(self, images):
        import torch

        height, width = images.shape[-2:]
        pattern = fitted_to(self.fingerprint_, height, width)
        gain = torch.as_tensor(1 + self.alpha * pattern, dtype=images.dtype)
        return images * gain


def fitted_to(fingerprint: np.ndarray, height: int, width: int) -> np.ndarray:
    """``fingerprint`` cropped from its top-left corner, or wrapped around, to ``height x width``."""
    rows, columns = fingerprint.shape
    padded = np.pad(fingerprint, ((0, max(0, height - rows)), (0, max(0, width - columns))), mode="wrap")
    return padded[:height, :width]
