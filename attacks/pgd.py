"""Projected gradient descent (Madry et al., ICLR 2018), targeted at the chosen camera.

Method: ``steps`` signed-gradient steps of ``step`` that lower the cross-entropy to the target
camera, each followed by a projection onto the L-inf ball of radius ``epsilon`` around the input and
onto [0, 1]; no random start. Epsilon and step are counted in 8-bit levels (defaults: 4, 1, 10 steps).
With ``psnr`` (in dB) the ball is an L2 one instead, the quality bound SpoC is held to: each image's
change keeps a root mean square of at most ``10 ** (-psnr / 20)``, the steps are normalised gradients
of 2.5 radii / ``steps``, and the change is then scaled, as SpoC's is, so that the saved file lies
``psnr`` dB from the input (``attacks.spoc.at_psnr``): a comparison with SpoC at one budget.
The output is then saved as the target camera saves (8-bit, its JPEG tables): the rounding and the
compression are part of the attack's reality and may undo part of it. With ``through_save``
(default) the gradients are taken through a differentiable stand-in of that save.

Two threat models, two names:

- ``pgd-white-box``: the gradients of the very detector being measured (an upper bound). Knowledge:
  ``target_samples`` (for the container) and ``detector``; the runner computes its images once per
  detector and attacks only differentiable camera-model detectors (others are counted skips).
- ``pgd-transfer``: the gradients of the attacker's own frozen classifiers (SpoC's ``embedder`` and
  ``constrained``, trained on the attacker split; their log-probabilities averaged, or one of them
  alone with ``surrogates="embedder"``), applied to every detector. Knowledge: ``target_samples`` and
  ``surrogate``; the runner never hands it a detector.

The steps are in ``attacks/_gradient.py``.
"""

from __future__ import annotations

from spoc_bench.registry import register_attack

from ._gradient import LEVEL, SURROGATES, GradientAttack, Transfer, WhiteBox, pgd, pgd_l2


class PGD(GradientAttack):
    def __init__(self, epsilon: float = 4, step: float = 1, steps: int = 10, through_save: bool = True,
                 psnr: float | None = None, surrogates: str = SURROGATES, weights_dir: str | None = None,
                 device: str = "cpu"):
        self.epsilon, self.step, self.steps, self.through_save = epsilon, step, steps, through_save
        self.psnr, self.surrogates, self.weights_dir, self.device = psnr, surrogates, weights_dir, device

    def perturb(self, model, images, target: int):
        if self.psnr is None:
            return pgd(model, images, target, self.epsilon * LEVEL, self.step * LEVEL, self.steps)
        import torch

        from .spoc import at_psnr

        adversarial = pgd_l2(model, images, target, self.psnr, self.steps).cpu()
        return torch.stack([at_psnr(image, output, self.target_container, self.psnr)
                            for image, output in zip(images.cpu(), adversarial)])


@register_attack("pgd-white-box")
class PGDWhiteBox(WhiteBox, PGD):
    """Targeted PGD with the measured detector's gradients (white-box upper bound; 4/255, 10 steps)."""


@register_attack("pgd-transfer")
class PGDTransfer(Transfer, PGD):
    """Targeted PGD with the attacker's surrogates' gradients, applied to every detector (transfer; 4/255)."""
