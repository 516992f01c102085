"""Wang et al. 2020 (CVPR, "CNN-generated images are surprisingly easy to spot... for now"): a
ResNet-50 with one logit, trained with blur and JPEG augmentation on the images of some generators,
tested on others.

Architecture: ResNet-50 (bottleneck blocks [3, 4, 6, 3], usual stem with down-sampling; the full
model has 23,510,081 parameters with its one logit), see ``detectors/_resnet.py``; recipe, data and
the shared code in ``detectors/_synthetic_cnn.py``.

Weight tags: ``simcam-w16`` (the default), the same ResNet-50 at a quarter of the width (first stage
16 channels instead of 64: 1,481,489 parameters, 6 MB), trained by ``spoc-bench train detector
wang2020`` on a CPU with 128-px crops; the full model (``-o width=64 -o crop=224``, tag
``simcam-r50w64``) trains by the same command on a GPU, at 94 MB it is not shipped. The manifest gives
the defender-test AUC per generator family (``transposed`` and ``nearest`` in training,
``bilinear`` and ``pixelshuffle`` held out).

Shipped weights (3,738 steps in a 300 s budget on an NVIDIA H200, beside five other trainers;
``-o steps=40000 -o seconds=300 --device cuda``): defender-test AUC in-family 0.994 [0.984, 1.000]
(transposed) and 0.999 [0.995, 1.000] (nearest), cross-family 0.979 [0.959, 0.993] (bilinear) and
0.989 [0.976, 0.998] (pixelshuffle), n = 216 each. A first CPU training (1,000 steps, 555 s, one
thread) reached 0.973 / 0.968 in-family: 1,000 steps of 32 crops is little for a network trained
from scratch with augmentation that hides the up-sampling traces in part of the batches.

Official weights (not shipped; CC BY-NC-SA 4.0): the authors' ``blur_jpg_prob0.5.pth`` and
``blur_jpg_prob0.1.pth`` (https://github.com/PeterWang512/CNNDetection, ``weights/download_weights.sh``;
trained on ProGAN with blur and JPEG at probability 0.5 or 0.1), imported once with ``spoc-bench weights
import wang2020 blur_jpg_prob0.5.pth`` into the cache's ``weights/wang2020`` (``--to`` elsewhere, then
``weights_dir=``). The tag is the file name without ``.pth`` (``wang2020:blur_jpg_prob0.1``); ``official``
is ``blur_jpg_prob0.5``. Full-size ResNet-50, fed at full resolution (no resize, no crop), as the
authors' ``demo.py`` does. The conversion: ``detectors/_synthetic_import.py``.
"""

from __future__ import annotations

from spoc_bench.registry import register_detector

from ._synthetic_cnn import SyntheticCNN


@register_detector("wang2020")
class Wang2020(SyntheticCNN):
    """Synthetic-image detector: ResNet-50, one logit, blur+JPEG augmentation (Wang et al., CVPR 2020)."""

    STEM_STRIDE = 2
    DEFAULTS = {"tag": "simcam-w16", "depth": 50, "width": 16, "crop": 128}

    def __init__(self, weights: str = "simcam-w16", weights_dir: str | None = None):
        super().__init__(weights, weights_dir)
