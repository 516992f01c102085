"""How far a perfect camera-trace insertion gets on simcam: the synthetic inputs re-rendered by the
target camera's own simulated pipeline, measured by the defender's camera-model detectors.

    .venv/bin/python benchmarks/spoc_ceiling.py [--targets alpha-1,gamma] [--n 32] [--out runs/ceiling]

Attacks compared (all saved with the target's JPEG tables, like SpoC's outputs):

- ``jpeg-mimic``: the input unchanged, saved as the target saves;
- ``rerender``: the input taken as the scene and developed by the target's pipeline (unprocessing,
  its CFA, PRNU of an unseen device, sensor noise at a level drawn as simcam draws it, demosaicing,
  tone, denoising, sharpening), which knows every parameter of the camera: no black-box attack can
  know more;
- ``rerender-noisy``: the same with the shot noise fixed at simcam's highest level (0.004);
- ``trace-transplant-half``: the baseline ``trace-transplant`` keeping half of its change (``strength``
  0.5, about 6 dB closer to the input): what the target's own residuals give near SpoC's 32 dB bound;
- ``spoc``: the shipped generators;
- ``pgd-white-box-at-bound``: targeted PGD with the gradients of the very detector measured, in an L2
  ball at SpoC's quality bound (20 steps through the save's stand-in, the saved file scaled to 32.0
  dB from the input, as SpoC's is): what knowing the detector buys at the same budget;
- ``pgd-transfer-at-bound``: the same steps with the attacker's surrogates' gradients (SpoC's
  ``embedder`` and ``constrained``): whether their adversarial directions carry to the defender's
  detectors when the whole bound is spent on them.

``--attacks`` picks some of them (default all).

Prints the pooled attack success with its 95% interval per detector, and PSNR: how much of a
camera's signature on these smooth synthetic inputs is carried by its noise, fine detail and save,
and at what cost in PSNR (``docs/spoc-ablation.md`` has the figures).
"""

from __future__ import annotations

import argparse

import numpy as np

import spoc_bench
from spoc_bench.attacks.pgd import PGDTransfer, PGDWhiteBox
from spoc_bench.attacks.trace_transplant import TraceTransplant
from spoc_bench.contracts import Attack
from spoc_bench.registry import register_attack

DETECTORS = ("bondi2017", "mislnet", "noiseprint:simcam")


@register_attack("rerender")
class Rerender(Attack):
    """The input developed by the target's own simulated pipeline (knows the camera's parameters)."""

    needs = frozenset({"target_samples"})  # only to learn how the target saves
    saves_like_target = True

    def __init__(self, shot: float | None = None, device_name: str = "unseen"):
        self.shot, self.device_name = shot, device_name

    def fit(self, target: str, target_samples=(), **knowledge) -> "Rerender":
        from spoc_bench.datasets.simcam import CAMERAS

        super().fit(target, target_samples)
        self.camera = next(c for c in CAMERAS if c.name == target)
        return self

    def forward(self, images):
        import torch

        from spoc_bench.datasets._camera import render

        developed = []
        for index, image in enumerate(images):
            scene = image.permute(1, 2, 0).double().numpy()
            pixels, _ = render(scene, self.camera, f"{self.camera.name}-{self.device_name}",
                               np.random.default_rng(index), shot=self.shot)
            developed.append(torch.from_numpy(pixels).permute(2, 0, 1).float() / 255)
        return torch.stack(developed)


@register_attack("rerender-noisy")
class RerenderNoisy(Rerender):
    """:class:`Rerender` at simcam's highest shot-noise level."""

    def __init__(self, shot: float | None = 0.004, device_name: str = "unseen"):
        super().__init__(shot, device_name)


@register_attack("trace-transplant-half")
class TraceTransplantHalf(TraceTransplant):
    """:class:`TraceTransplant` keeping half of its change."""

    def __init__(self, strength: float = 0.5):
        super().__init__(strength=strength)


@register_attack("pgd-white-box-at-bound")
class PGDWhiteBoxAtBound(PGDWhiteBox):
    """:class:`PGDWhiteBox` in the L2 ball of SpoC's bound, 32 dB, with 20 steps."""

    def __init__(self, psnr: float | None = 32.0, steps: int = 20, **options):
        super().__init__(psnr=psnr, steps=steps, **options)


@register_attack("pgd-transfer-at-bound")
class PGDTransferAtBound(PGDTransfer):
    """:class:`PGDTransfer` in the L2 ball of SpoC's bound, 32 dB, with 20 steps."""

    def __init__(self, psnr: float | None = 32.0, steps: int = 20, **options):
        super().__init__(psnr=psnr, steps=steps, **options)


ATTACKS = ("jpeg-mimic", "rerender", "rerender-noisy", "trace-transplant-half", "spoc", "pgd-white-box-at-bound",
           "pgd-transfer-at-bound")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default="", help="comma-separated cameras (default every camera)")
    parser.add_argument("--n", type=int, default=32, help="synthetic inputs (defender-test)")
    parser.add_argument("--out", default="runs/ceiling")
    parser.add_argument("--attacks", default=",".join(ATTACKS), help="comma-separated, of: " + ", ".join(ATTACKS))
    parser.add_argument("--detectors", default=",".join(DETECTORS), help="comma-separated")
    parser.add_argument("--precision", default="fp32", help="fp32, bf16 or auto")
    args = parser.parse_args()
    targets = [t for t in args.targets.split(",") if t] or None
    result = spoc_bench.run("default", attacks=args.attacks.split(","),
                            detectors=args.detectors.split(","), perturbations="none", targets=targets, n=args.n,
                            precision=args.precision, out=args.out, progress=False)
    summary = result.summary
    pooled = summary[(summary.target == "all") & summary.metric.isin(["asr", "psnr"])]
    print(f"simcam, n = {args.n} inputs per target, targets: {targets or 'all'}; 95% bootstrap intervals")
    for row in pooled.itertuples():
        print(f"{row.attack:15s} {row.detector:11s} {row.metric:5s} {row.value:7.3f} "
              f"[{row.ci_low:.3f}, {row.ci_high:.3f}]  n = {row.n}")


if __name__ == "__main__":
    main()
