"""The fast gradient sign method (Goodfellow, Shlens, Szegedy, ICLR 2015), targeted at the chosen camera.

Method: one step of ``epsilon`` (in 8-bit levels; default 4, as ``pgd``'s radius, so that the two
compare at one budget) against the sign of the gradient of the cross-entropy to the target camera,
clipped to [0, 1]. The output is then saved as the target camera saves (8-bit, its JPEG tables): the
rounding and the compression are part of the attack's reality and may undo part of it. With ``through_save``
(default) the gradients are taken through a differentiable stand-in of that save.

Two threat models, two names, as for ``pgd``: ``fgsm-white-box`` (the measured detector's gradients;
knowledge ``target_samples`` and ``detector``; computed once per detector, differentiable camera-model
detectors only) and ``fgsm-transfer`` (the attacker's surrogates, SpoC's ``embedder`` and
``constrained``, or one of them with ``surrogates=``; knowledge ``target_samples`` and ``surrogate``).
The step is in ``attacks/_gradient.py``.
"""

from __future__ import annotations

from spoc_bench.registry import register_attack

from ._gradient import LEVEL, SURROGATES, GradientAttack, Transfer, WhiteBox, fgsm


class FGSM(GradientAttack):
    def __init__(self, epsilon: float = 4, through_save: bool = True, surrogates: str = SURROGATES,
                 weights_dir: str | None = None, device: str = "cpu"):
        self.epsilon, self.through_save, self.device = epsilon, through_save, device
        self.surrogates, self.weights_dir = surrogates, weights_dir

    def perturb(self, model, images, target: int):
        return fgsm(model, images, target, self.epsilon * LEVEL)


@register_attack("fgsm-white-box")
class FGSMWhiteBox(WhiteBox, FGSM):
    """Targeted FGSM with the measured detector's gradients (white-box upper bound; one step of 4/255)."""


@register_attack("fgsm-transfer")
class FGSMTransfer(Transfer, FGSM):
    """Targeted FGSM with the attacker's surrogates' gradients, applied to every detector (transfer; 4/255)."""
