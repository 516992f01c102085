"""Durall et al. 2020 ("Watch your up-convolution"): the azimuthal average of the log spectrum,
resampled to a fixed length, classified by logistic regression.

Features: grey image, 2-D FFT, 20·log10|F|, mean over rings of integer radius (azimuthal average),
resampled to ``bins`` points over the normalised radius (so any image size gives the same length),
minus its own mean (a gain is a constant in dB). Classifier: scikit-learn standardisation +
logistic regression with balanced class weights, fitted on the defender's training split (real
against synthetic). Up-sampling leaves periodic peaks and a lifted high-frequency tail here.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from spoc_bench.contracts import Dataset, Detector
from spoc_bench.images import Container
from spoc_bench.registry import register_detector

from ._linear import from_state, standardised_logistic, state_of


@register_detector("spectrum")
class Spectrum(Detector):
    """Synthetic-image detector on the azimuthal log-spectrum profile (Durall et al. 2020), logistic regression."""

    task = "synthetic"
    uses_networks = False
    min_size = 16

    def __init__(self, weights: str = "fit", bins: int = 64, C: float = 1.0, split: str = "defender-train"):
        if weights != "fit":
            raise ValueError(f"spectrum has no pretrained weights (tag {weights!r}); it is fitted with weight tag 'fit'")
        self.weights, self.bins, self.C, self.split = weights, bins, C, split

    @property
    def classes(self) -> tuple[str, ...]:
        return ("real", "synthetic")

    def fit(self, dataset: Dataset) -> "Spectrum":
        samples = [s for s in dataset.samples(self.split) if s.source in ("real", "synthetic")]
        read = [(item.sample.source == "synthetic", azimuthal_profile(item.pixels, self.bins))
                for item in self.fitting(dataset, samples, [], "classifier")]
        labels = np.array([label for label, _ in read], dtype=int)
        if len(set(labels)) < 2:
            raise ValueError(f"spectrum: split {self.split!r} of {dataset.name!r} needs both real and synthetic images")
        features = np.stack([feature for _, feature in read])
        self.model_ = standardised_logistic(self.C).fit(features, labels)
        return self

    def fitted_state(self) -> dict:
        return state_of(self.model_)

    def load_fitted(self, state: dict) -> "Spectrum":
        self.model_ = from_state(state, self.C)
        return self

    def predict(self, images, containers: Sequence[Container] | None = None):
        import torch

        pixels = images.detach().cpu().permute(0, 2, 3, 1).mul(255).numpy()
        features = np.stack([azimuthal_profile(image, self.bins) for image in pixels])
        return torch.tensor(self.model_.predict_proba(features), dtype=torch.float32)


def azimuthal_profile(pixels: np.ndarray, bins: int) -> np.ndarray:
    """Mean of 20·log10|FFT| over rings, resampled to ``bins`` values over radius 0..1, mean removed."""
    grey = np.asarray(pixels, dtype=np.float64) @ np.array([0.299, 0.587, 0.114])
    spectrum = 20 * np.log10(np.abs(np.fft.fftshift(np.fft.fft2(grey))) + 1e-8)
    height, width = grey.shape
    y, x = np.indices(grey.shape)
    radius = np.hypot(y - height // 2, x - width // 2).astype(int)
    limit = min(height, width) // 2
    inside = radius < limit
    profile = np.bincount(radius[inside], spectrum[inside], limit) / np.bincount(radius[inside], minlength=limit)
    resampled = np.interp(np.linspace(0, 1, bins), np.linspace(0, 1, limit), profile)
    return resampled - resampled.mean()
