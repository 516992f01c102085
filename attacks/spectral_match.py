"""Spectral matching: give a synthetic image the power spectrum of real images.

Method: generators' up-sampling lifts the high-frequency tail of the azimuthally averaged spectrum
and leaves periodic peaks (Durall, Keuper, Keuper, "Watch your up-convolution", CVPR 2020; Dong,
Kumar, Liu, "Think twice before detecting GAN-generated fake images from their spectral domain
imprints", CVPR 2022; Wesselkamp et al. 2022). The attack, per image, in the 2-D DFT of each colour
channel (phases kept, only magnitudes scaled, the same scale on the three channels):

1. **peaks**: at the up-sampling frequencies (every multiple of 1/8 cycle per pixel in each
   direction: k/2, k/4 and k/8, within ``peak_radius`` bins), a bin of the grey power spectrum that
   exceeds the median of its ``median_window`` x ``median_window`` neighbourhood by more than
   ``peak_ratio`` is brought down to that median (Dong et al.'s notch);
2. **profile**: each ring of normalised radius at least ``min_radius`` (1 = 0.5 cycle per pixel) is
   scaled so that the mean log power of the image's ring (what Durall et al.'s detector reads)
   matches the reference's, the gain limited to [1/``max_gain``, ``max_gain``] in amplitude; the
   corners beyond the inscribed circle take the last ring's gain.

Reference: the mean azimuthal log-power profile of the target camera's sample images (``needs``
``target_samples``). They are the real images the attacker holds and the camera the output claims to
come from, so the profile includes that camera's own processing and JPEG; a generic real reference
would need images the runner does not hand a black-box attack. The output is saved as the target
saves (its JPEG tables and subsampling), so its file looks like the target's too.

Choices: rings below ``min_radius = 0.25`` keep their power: there the spectrum is the scene's, not
the generator's, and any gain on that energy costs most of the PSNR. ``max_gain = 2`` (6 dB) is a
quality bound: simcam's synthetic images lack 1-3 nats of the cameras' high-frequency power (their
noise and sharpening), and closing that gap fully with a gain (x4 or more) amplifies the
generator's own high frequencies into visible artefacts (about 34 dB at x2 against 29 dB at x4 on
simcam's attacker split).

Threat model: black-box. Knowledge: ``target_samples`` only; the runner hands it no detector.
Deterministic (no randomness).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from spoc_bench.contracts import Attack, Item
from spoc_bench.registry import register_attack

LUMA = np.array([0.299, 0.587, 0.114])
UPSAMPLING_PERIOD = 8  # peaks at multiples of 1/8 cycle per pixel cover 2x, 4x and 8x up-sampling


@register_attack("spectral-match")
class SpectralMatch(Attack):
    """Notch up-sampling peaks and match the azimuthal spectrum to the target's images (black-box, needs target samples)."""

    threat_model = "black-box"
    uses_networks = False
    needs = frozenset({"target_samples"})
    saves_like_target = True

    def __init__(self, bins: int = 128, max_gain: float = 2.0, peak_ratio: float = 4.0, peak_radius: int = 1,
                 median_window: int = 9, min_radius: float = 0.25):
        if max_gain < 1 or peak_ratio <= 1 or bins < 2 or median_window < 3:
            raise ValueError("spectral-match: max_gain >= 1, peak_ratio > 1, bins >= 2 and median_window >= 3")
        self.bins, self.max_gain, self.peak_ratio = bins, max_gain, peak_ratio
        self.peak_radius, self.median_window, self.min_radius = peak_radius, median_window, min_radius

    def fit(self, target: str, target_samples: Sequence[Item] = (), **knowledge) -> "SpectralMatch":
        super().fit(target, target_samples)
        if not target_samples:
            raise ValueError(f"spectral-match: no sample images of target {target!r} for the reference spectrum")
        greys = [item.pixels.astype(np.float64) @ LUMA / 255 for item in target_samples]
        self.reference_ = np.mean([azimuthal_profile(power_spectrum(g), self.bins) for g in greys], axis=0)
        return self

    def forward(self, images):
        import torch

        pixels = images.detach().cpu().double().numpy()
        matched = np.stack([self.match(image) for image in pixels])
        return torch.from_numpy(matched).to(images.dtype)

    def match(self, image: np.ndarray) -> np.ndarray:
        """``[3, H, W]`` in [0, 1] -> the same image with its spectrum brought to the reference."""
        spectra = np.fft.fft2(image)
        power = power_spectrum(np.tensordot(LUMA, image, axes=1))
        notch = peak_notch(power, self.peak_ratio, self.peak_radius, self.median_window)
        gain = notch * ring_gain(power * notch ** 2, self.reference_, self.bins, self.max_gain, self.min_radius)
        return np.clip(np.real(np.fft.ifft2(spectra * gain)), 0, 1)


def power_spectrum(grey: np.ndarray) -> np.ndarray:
    """|DFT|² per pixel of a 2-D plane (unshifted, DC at [0, 0]): a noise's level does not depend
    on the image size, so images of other sizes than the reference's are matched alike."""
    return np.abs(np.fft.fft2(grey)) ** 2 / grey.size


def normalised_radius(shape: tuple[int, int]) -> np.ndarray:
    """Each DFT bin's radius in cycles per pixel, divided by 0.5 (1 = the inscribed circle)."""
    fy, fx = np.meshgrid(np.fft.fftfreq(shape[0]), np.fft.fftfreq(shape[1]), indexing="ij")
    return np.hypot(fy, fx) / 0.5


def ring_index(shape: tuple[int, int], bins: int) -> np.ndarray:
    """The ring (0..bins-1) of every DFT bin over normalised radius 0..1; corners join the last ring."""
    return np.minimum((normalised_radius(shape) * bins).astype(int), bins - 1)


def azimuthal_profile(power: np.ndarray, bins: int) -> np.ndarray:
    """Mean natural-log power per ring (empty rings filled from their neighbours)."""
    rings = ring_index(power.shape, bins).ravel()
    logs = np.log(power.ravel() + 1e-12)
    counts = np.bincount(rings, minlength=bins)
    sums = np.bincount(rings, logs, minlength=bins)
    filled = counts > 0
    centres = np.arange(bins)
    return np.interp(centres, centres[filled], sums[filled] / counts[filled])


def ring_gain(power: np.ndarray, reference: np.ndarray, bins: int, max_gain: float,
              min_radius: float) -> np.ndarray:
    """Amplitude gain per DFT bin that brings each ring's mean log power to the reference's, on the
    rings from normalised radius ``min_radius`` outwards (1 inside)."""
    difference = reference - azimuthal_profile(power, bins)
    gains = np.clip(np.exp(difference / 2), 1 / max_gain, max_gain)
    gains[: int(np.ceil(min_radius * bins))] = 1.0
    return gains[ring_index(power.shape, bins)]


def upsampling_bins(shape: tuple[int, int], radius: int) -> np.ndarray:
    """True at the DFT bins within ``radius`` of a multiple of 1/8 cycle per pixel in both
    directions, DC and its neighbours excluded."""
    rows, columns = near_multiples(shape[0], radius), near_multiples(shape[1], radius)
    near_dc = near_multiples(shape[0], radius, period=1)[:, None] & near_multiples(shape[1], radius, period=1)[None, :]
    return rows[:, None] & columns[None, :] & ~near_dc


def near_multiples(size: int, radius: int, period: int = UPSAMPLING_PERIOD) -> np.ndarray:
    """True at the DFT indices (of a length-``size`` axis) within ``radius`` of k/period cycles per pixel."""
    near = np.zeros(size, dtype=bool)
    for k in range(period):
        centre = round(k * size / period)
        near[np.arange(centre - radius, centre + radius + 1) % size] = True
    return near


def peak_notch(power: np.ndarray, ratio: float, radius: int, window: int) -> np.ndarray:
    """Amplitude gain per DFT bin: at up-sampling bins whose power exceeds ``ratio`` times the local
    median, the gain that brings it down to that median; 1 elsewhere."""
    from scipy.ndimage import median_filter

    median = median_filter(power, size=window, mode="wrap")
    peaks = upsampling_bins(power.shape, radius) & (power > ratio * median)
    gain = np.ones_like(power)
    gain[peaks] = np.sqrt(median[peaks] / power[peaks])
    return gain
