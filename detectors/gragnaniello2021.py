"""Gragnaniello et al. 2021 (ICME, "Are GAN generated images easy to detect? A critical analysis of
the state-of-the-art"): Wang et al.'s detector without down-sampling in the stem (the first
convolution and the max-pool at stride 1), so the network keeps the high-frequency traces that the
first strides would alias away; logits per position averaged (equal to the global-pooled logit, the
last layer being linear); images at full resolution, never resized.

Without the stem's two strides every later layer sees 16 times the positions: a ResNet-50 of this
kind costs about 16 times a plain one, too much to train on a CPU. The shipped tag ``simcam-r18w16``
(the default) is the same design on a ResNet-18 (basic blocks [2, 2, 2, 2]) at a quarter of the width
(702,225 parameters, 2.8 MB), trained by ``spoc-bench train detector gragnaniello2021`` with 64-px
crops by Wang et al.'s recipe (``detectors/_synthetic_cnn.py``); the paper's ResNet-50 trains by the
same command on a GPU (``-o depth=50 -o width=64 -o crop=96``, tag ``simcam-r50w64``; not shipped).

Shipped weights (``-o threads=2 -o steps=6000``, 1,213 s on a 2-core CPU): defender-test AUC 1.000
[1.000, 1.000] in-family (transposed, nearest) and cross-family (bilinear, pixelshuffle), n = 216
each (manifest). The first weights (800 steps, 307 s) had 0.992-0.995 in-family and 0.989-0.991
cross-family, and were blind after a 1-px blur (AUC 0.41 in-family; now 0.67).

Official weights (not shipped; GRIP-UNINA's non-profit licence): the authors' ResNet-50 "nodown"
trained on ProGAN or StyleGAN2 images, ``gandetection_resnet50nodown_progan.pth`` and
``gandetection_resnet50nodown_stylegan2.pth`` (https://github.com/grip-unina/GANimageDetection, the
download link in its README), imported once with ``spoc-bench weights import gragnaniello2021 FILE``
into the cache's ``weights/gragnaniello2021`` (``--to`` elsewhere, then ``weights_dir=``). The tag is the
file name without ``.pth`` (``gragnaniello2021:gandetection_resnet50nodown_progan``); ``official`` is the
StyleGAN2 one, the authors' default. Their ``resnet50nodown.py`` is this design exactly
(``stride0=1``: 7x7 conv and 3x3 max-pool at stride 1; ``fc`` a ``ChannelLinear`` of one output after
the global average pooling, the same ``[1, 2048]`` weight as a linear layer). One departure: for
images larger than 1536 px on both sides their ``apply`` averages the logits of 1024-px tiles, this
detector takes the whole image. The conversion: ``detectors/_synthetic_import.py``.
"""

from __future__ import annotations

from spoc_bench.registry import register_detector

from ._synthetic_cnn import SyntheticCNN


@register_detector("gragnaniello2021")
class Gragnaniello2021(SyntheticCNN):
    """Synthetic-image detector: ResNet without stem down-sampling, full resolution (Gragnaniello et al., ICME 2021)."""

    STEM_STRIDE = 1
    DEFAULTS = {"tag": "simcam-r18w16", "depth": 18, "width": 16, "crop": 64}

    def __init__(self, weights: str = "simcam-r18w16", weights_dir: str | None = None):
        super().__init__(weights, weights_dir)
