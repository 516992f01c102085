"""JPEG mimicry: save the image the way the target camera saves its JPEGs.

Method: a camera's JPEG quantisation tables and chroma subsampling often name its maker or its model
(Farid, "Digital image ballistics from JPEG quantization", 2006; Kee, Johnson, Farid, "Digital image
authentication from JPEG headers", IEEE TIFS 2011). The attack re-compresses its input with the
target's own tables and subsampling and writes the target's EXIF make and model; the pixels are
otherwise unchanged (the only change is the compression itself).

Threat model: black-box. Knowledge: ``target_samples`` only (the target camera's images in the
attacker split); the runner hands it no detector.

Choices: the container written is the target's most common one among its sample images
(:func:`spoc_bench.contracts.typical_container`); a camera that picks its tables per image (as
simcam's ``beta`` models do) is mimicked by its most frequent table, not by its per-image rule.
"""

from __future__ import annotations

from spoc_bench.contracts import Attack
from spoc_bench.registry import register_attack


@register_attack("jpeg-mimic")
class JpegMimic(Attack):
    """Re-compress with the target camera's JPEG tables and chroma subsampling (black-box, needs target samples)."""

    threat_model = "black-box"
    uses_networks = False
    needs = frozenset({"target_samples"})
    saves_like_target = True

    def __init__(self):
        pass

    def forward(self, images):
        return images
