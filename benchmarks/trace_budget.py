"""How much of an image a camera's finest traces take, against SpoC's quality bound.

    .venv/bin/python benchmarks/trace_budget.py [--sigma 1.0] [--split attacker]

For each simcam camera, the PSNR between its real images and the same images with their finest band
removed (a Gaussian blur of ``sigma`` px): the energy of what demosaicing, sharpening, sensor noise
and the JPEG save leave, where camera-model detectors look. The same for the synthetic images of
the split, whose finest band is what an attack may replace. An attack that gives a synthetic image
its target's finest band changes it by about the sum of both energies, so its PSNR to the input is
bounded near the figure printed as ``swap``; SpoC's quality target is 32 dB.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.ndimage import gaussian_filter

import spoc_bench


def fine_band_power(pixels: np.ndarray, sigma: float) -> float:
    """Mean squared difference (in [0, 1] units) between an image and its blur."""
    image = pixels.astype(np.float64) / 255
    return float(((image - gaussian_filter(image, (sigma, sigma, 0))) ** 2).mean())


def psnr(power: float) -> float:
    return 10 * np.log10(1 / power)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sigma", type=float, default=1.0, help="blur that removes the finest band (px)")
    parser.add_argument("--split", default="attacker")
    args = parser.parse_args()
    data = spoc_bench.build_dataset("simcam")
    data.prepare()
    items = list(data.items(data.samples(args.split)))
    synthetic = np.mean([fine_band_power(i.pixels, args.sigma) for i in items if i.sample.source == "synthetic"])
    print(f"simcam {args.split} split, finest band = image minus a {args.sigma}-px Gaussian blur")
    print(f"{'images':12s} {'n':>4s} {'band (dB)':>10s} {'swap (dB)':>10s}")
    print(f"{'synthetic':12s} {sum(i.sample.source == 'synthetic' for i in items):4d} {psnr(synthetic):10.1f}")
    for camera in sorted({i.sample.camera for i in items if i.sample.source == "real"}):
        powers = [fine_band_power(i.pixels, args.sigma) for i in items if i.sample.camera == camera]
        band = float(np.mean(powers))
        print(f"{camera:12s} {len(powers):4d} {psnr(band):10.1f} {psnr(band + synthetic):10.1f}")


if __name__ == "__main__":
    main()
