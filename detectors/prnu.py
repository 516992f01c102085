"""PRNU, photo-response non-uniformity (Lukáš, Fridrich, Goljan, "Digital camera identification
from sensor pattern noise", IEEE TIFS 2006; Chen, Fridrich, Goljan, Lukáš, "Determining image origin
and integrity using sensor noise", IEEE TIFS 2008): each sensor multiplies the light it receives by
its own pattern, I = I0 + I0·K + Θ; the pattern K identifies the DEVICE.

Noise residual W = I - F(I), computed per colour channel on the 0..255 scale (as Chen et al. and
the camera-fingerprint toolbox of Goljan do):

* F is Lukáš et al.'s wavelet denoiser: a 4-level ``db4`` decomposition (PyWavelets, mode
  ``symmetric``: the image is mirrored at its borders, so no wrap-around edge enters the residual;
  a periodic transform put the same border pattern into every residual and hence into every
  fingerprint, which made foreign devices correlate); on every detail
  band the local variance of the noise-free coefficient is estimated as
  ``min over w in {3, 5, 7, 9} of max(0, mean_{w x w}(h²) - σ0²)`` and the coefficient is Wiener-shrunk,
  ``h · σ̂² / (σ̂² + σ0²)``, with ``σ0 = sigma = 5``. The approximation band is kept, so the residual
  is the inverse transform of the removed part ``h · σ0² / (σ̂² + σ0²)`` of the detail bands.
* The three channel residuals are combined to grey with the luma weights (0.299, 0.587, 0.114).
* Zero-mean rows and columns: the column means, then the row means are subtracted, and that for
  each of the four 2 x 2 colour-filter-array sub-lattices separately (Chen et al.'s remedy for
  CFA-interpolation patterns shared by all cameras of a model; it implies zero-mean rows and columns
  of the whole residual).
* Wiener filtering in the DFT domain: the DFT magnitudes (scaled by 1/sqrt(pixels)) are shrunk with
  the same local-variance rule, σ0 = the standard deviation of the residual, and the filtered
  magnitudes are put back under the original phases. This flattens the spectrum: strong peaks
  (periodic traces that devices of a model share: JPEG 8 x 8 blocks, demosaicing) are shrunk.

Fingerprint of a device (Chen et al.'s maximum-likelihood estimate), per colour channel
``K_c = Σ W_c·I_c / Σ I_c²`` over the device's real images in split ``split`` (saturated pixels, at 255
with a 4-neighbour at 255 too, are left out of both sums), combined to grey with the luma weights,
then the same zero-mean and DFT-Wiener post-processing. ``fit`` groups images by
``Sample.device`` (by ``Sample.camera`` where a dataset names no device). Every device's images
must share one size (the sensor's); images of another size are skipped and listed in ``skipped_``.

Matching a test image I (grey, 0..255) with residual W against device fingerprint K (at zero
shift: no cropping or scaling search): the normalised correlation ρ(W, I·K) and the PCE,
``sign(C(0)) C(0)² / mean_{s outside an 11 x 11 neighbourhood of 0} C(s)²`` over the circular
cross-correlation C of the zero-mean W and I·K (Goljan 2008; a PCE above about 50-60 is the usual
decision threshold on real cameras). A test image of another size than the fingerprint is compared
on their common top-left region (a resized image will not match: PRNU does not survive resampling).

Probabilities. Both statistics are first turned into the detection SNR they are under "no match":
``z = sign(PCE)·sqrt(|PCE|)`` (peak over the RMS of the correlation plane) or ``z = ρ·sqrt(pixels)``
(``score`` picks which, ``pce`` by default), each about N(0, 1) for a foreign fingerprint. Device
probabilities are ``softmax(z / temperature)`` over devices (``predict_device``, ``device_classes``).
Camera-model probabilities (``predict``, ``classes``: the camera models, what the runner compares
with) are ``softmax(max over the model's devices of z / temperature)``: a model is as likely as its
best-matching device. For Gaussian z with mean μ under a match and 0 otherwise, the posterior of
"exactly one device matches" is softmax(μ·z); ``temperature = 1`` assumes μ = 1 (a cautious choice:
confident only for clear peaks, close to uniform when no fingerprint matches). The argmax (the
decision) does not depend on the temperature.

On simcam (``benchmarks/detectors_fit.py``; 24 images per device, 256 x 256, PRNU σ 0.01 on the raw
mosaic) the test images' PCE with their own device has a median of about 10 (5th-95th percentile
0.6-35) and with the 15 other devices -3.6 to 3.4 (max 16): device accuracy 0.81, model accuracy
0.83. The limit is the fingerprint estimate, not the matching: the same residuals matched against
the simulator's true K give a median PCE of about 55. Real cameras need more pixels (1024 x 1024
crops) and 10+ flat images per device for the same reason.
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Sequence

import numpy as np

from spoc_bench.contracts import Dataset, Detector
from spoc_bench.images import Container
from spoc_bench.registry import register_detector

LUMA = np.array([0.299, 0.587, 0.114])
WINDOWS = (3, 5, 7, 9)  # neighbourhoods of the local variance estimate (Lukáš et al. 2006)
SCORES = ("pce", "correlation")


@register_detector("prnu")
class Prnu(Detector):
    """Camera identification by the sensor's PRNU fingerprint per device (Lukáš et al. 2006; Chen et al. 2008), PCE matching."""

    task = "camera"
    uses_networks = False
    min_size = 32

    def __init__(self, weights: str = "fit", sigma: float = 5.0, wavelet: str = "db4", levels: int = 4,
                 score: str = "pce", temperature: float = 1.0, neighbourhood: int = 11, split: str = "defender-train"):
        if weights != "fit":
            raise ValueError(f"prnu has no pretrained weights (tag {weights!r}); it is fitted with weight tag 'fit'")
        if score not in SCORES:
            raise ValueError(f"prnu: score must be one of {SCORES}, not {score!r}")
        if sigma <= 0 or temperature <= 0 or levels < 1 or neighbourhood < 1 or neighbourhood % 2 == 0:
            raise ValueError("prnu: sigma and temperature must be > 0, levels >= 1, neighbourhood odd and >= 1")
        self.weights, self.sigma, self.wavelet, self.levels = weights, sigma, wavelet, levels
        self.score, self.temperature, self.neighbourhood, self.split = score, temperature, neighbourhood, split

    # ------------------------------------------------------------------------------------ classes
    @property
    def classes(self) -> tuple[str, ...]:
        """Camera models (sorted)."""
        return self.classes_

    @property
    def device_classes(self) -> tuple[str, ...]:
        """Devices (sorted), the columns of :meth:`predict_device`."""
        return self.device_classes_

    # ---------------------------------------------------------------------------------- residuals
    def residual(self, pixels: np.ndarray) -> np.ndarray:
        """``[H, W, 3]`` pixels on 0..255 -> the grey, zero-mean, DFT-Wiener-filtered residual ``[H, W]``."""
        channels = self.channel_residuals(pixels)
        return wiener_dft(zero_mean(channels @ LUMA))

    def channel_residuals(self, pixels: np.ndarray) -> np.ndarray:
        """``[H, W, 3]`` -> ``[H, W, 3]``: I - F(I) per colour channel (wavelet denoiser), 0..255 scale."""
        return channel_residuals(pixels, self.sigma, self.wavelet, self.levels)

    # --------------------------------------------------------------------------------------- fit
    def fit(self, dataset: Dataset) -> "Prnu":
        samples = [s for s in dataset.samples(self.split) if s.source == "real" and s.camera]
        if not samples:
            raise ValueError(f"prnu: no real images with a camera label in split {self.split!r} of {dataset.name!r}")
        numerators: dict[str, np.ndarray] = {}
        denominators: dict[str, np.ndarray] = {}
        counts: Counter = Counter()
        shapes: dict[str, tuple] = {}
        model_of: dict[str, str] = {}
        self.skipped_ = []
        for item in self.fitting(dataset, samples, self.skipped_, "fingerprints"):
            device = item.sample.device or item.sample.camera
            if model_of.setdefault(device, item.sample.camera) != item.sample.camera:
                raise ValueError(f"prnu: device {device!r} appears under two camera models "
                                 f"({model_of[device]!r}, {item.sample.camera!r})")
            image = np.asarray(item.pixels, dtype=np.float64)
            if min(image.shape[:2]) < self.min_size:
                self.skipped_.append((item.sample.id, f"smaller than {self.min_size} px"))
                continue
            shape = shapes.setdefault(device, image.shape)
            if image.shape != shape:
                self.skipped_.append((item.sample.id, f"size {image.shape[:2]} is not the device's {shape[:2]}"))
                continue
            numerator, denominator = fingerprint_terms(image, self.sigma, self.wavelet, self.levels)
            numerators[device] = numerators.get(device, 0) + numerator
            denominators[device] = denominators.get(device, 0) + denominator
            counts[device] += 1
        if not counts:
            raise ValueError(f"prnu: no usable real images in split {self.split!r} of {dataset.name!r}")
        self.device_classes_ = tuple(sorted(counts))
        self.classes_ = tuple(sorted({model_of[d] for d in counts}))
        self.device_models_ = tuple(model_of[d] for d in self.device_classes_)
        self.fingerprints_ = {}
        for device in self.device_classes_:
            self.fingerprints_[device] = fingerprint_from_terms(numerators[device], denominators[device])
        self.counts_ = dict(counts)
        return self

    def fitted_state(self) -> dict:
        state = {"devices": np.array(self.device_classes_), "models": np.array(self.device_models_),
                 "counts": np.array([self.counts_[d] for d in self.device_classes_]),
                 "skipped": np.array([f"{sample}\t{reason}" for sample, reason in self.skipped_], dtype=str)}
        for index, device in enumerate(self.device_classes_):  # one array each: devices may differ in size
            state[f"fingerprint_{index}"] = self.fingerprints_[device]
        return state

    def load_fitted(self, state: dict) -> "Prnu":
        self.device_classes_ = tuple(str(d) for d in state["devices"])
        self.device_models_ = tuple(str(m) for m in state["models"])
        self.classes_ = tuple(sorted(set(self.device_models_)))
        self.counts_ = {d: int(c) for d, c in zip(self.device_classes_, state["counts"])}
        self.fingerprints_ = {d: state[f"fingerprint_{i}"] for i, d in enumerate(self.device_classes_)}
        self.skipped_ = [tuple(str(entry).split("\t", 1)) for entry in state["skipped"]]
        return self

    # ----------------------------------------------------------------------------------- matching
    def match(self, images, containers: Sequence[Container] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(pce, correlation)``, two ``[N, len(device_classes)]`` arrays: every image against every
        device fingerprint (at zero shift)."""
        pixels = _pixels(images)
        pce = np.zeros((len(pixels), len(self.device_classes_)))
        correlation = np.zeros_like(pce)
        for n, image in enumerate(pixels):
            residual = self.residual(image)
            grey = image @ LUMA
            for d, device in enumerate(self.device_classes_):
                fingerprint = self.fingerprints_[device]
                height, width = min(residual.shape[0], fingerprint.shape[0]), min(residual.shape[1], fingerprint.shape[1])
                w = residual[:height, :width]
                expected = grey[:height, :width] * fingerprint[:height, :width]
                pce[n, d], correlation[n, d] = pce_and_correlation(w, expected, self.neighbourhood)
        return pce, correlation

    def device_scores(self, images, containers: Sequence[Container] | None = None) -> np.ndarray:
        """``[N, devices]`` detection SNRs z (see the module docs): ``sign·sqrt|PCE|`` or ``ρ·sqrt(pixels)``."""
        pce, correlation = self.match(images, containers)
        if self.score == "pce":
            return np.sign(pce) * np.sqrt(np.abs(pce))
        height, width = images.shape[-2:]
        pixels = [min(height, f.shape[0]) * min(width, f.shape[1]) for f in self.fingerprints_.values()]
        return correlation * np.sqrt(np.array(pixels, dtype=float))

    def predict_device(self, images, containers: Sequence[Container] | None = None):
        """Device probabilities ``[N, len(device_classes)]``: softmax of z / temperature."""
        import torch

        scores = torch.tensor(self.device_scores(images, containers), dtype=torch.float64)
        return (scores / self.temperature).softmax(dim=1).float()

    def predict(self, images, containers: Sequence[Container] | None = None):
        """Camera-model probabilities ``[N, len(classes)]``: softmax over models of the best device's z / temperature."""
        import torch

        scores = self.device_scores(images, containers)
        models = np.array(self.device_models_)
        per_model = np.stack([scores[:, models == model].max(axis=1) for model in self.classes_], axis=1)
        return (torch.tensor(per_model, dtype=torch.float64) / self.temperature).softmax(dim=1).float()


def _pixels(images) -> np.ndarray:
    """A float tensor ``[N, 3, H, W]`` in [0, 1] (or such an array) -> ``[N, H, W, 3]`` on 0..255."""
    if hasattr(images, "detach"):
        images = images.detach().cpu().double().numpy()
    return np.asarray(images, dtype=np.float64).transpose(0, 2, 3, 1) * 255.0


# ---------------------------------------------------------------------------------- the pieces
def channel_residuals(pixels: np.ndarray, sigma: float = 5.0, wavelet: str = "db4", levels: int = 4) -> np.ndarray:
    """``[H, W, C]`` on 0..255 -> ``[H, W, C]``: I - F(I) per colour channel (wavelet denoiser)."""
    image = np.asarray(pixels, dtype=np.float64)
    return np.stack([wavelet_residual(image[..., c], sigma, wavelet, levels) for c in range(image.shape[-1])], axis=-1)


def fingerprint_terms(image: np.ndarray, sigma: float = 5.0, wavelet: str = "db4",
                      levels: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """One image's terms of Chen et al.'s maximum-likelihood estimate, per channel: ``(W·I, I²)``
    on 0..255, saturated pixels left out of both."""
    image = np.asarray(image, dtype=np.float64)
    usable = ~saturated(image)
    return channel_residuals(image, sigma, wavelet, levels) * image * usable, image ** 2 * usable


def fingerprint_from_terms(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``K = Σ W·I / Σ I²`` per channel, to grey (luma weights), zero-mean and DFT-Wiener filtered."""
    channels = numerator / np.maximum(denominator, 1.0)
    return wiener_dft(zero_mean(channels @ LUMA)).astype(np.float32)


def estimate_fingerprint(images: Sequence[np.ndarray], sigma: float = 5.0, wavelet: str = "db4",
                         levels: int = 4) -> np.ndarray:
    """The grey PRNU fingerprint ``[H, W]`` of one device from its images (``[H, W, 3]`` on 0..255,
    one size)."""
    terms = [fingerprint_terms(image, sigma, wavelet, levels) for image in images]
    return fingerprint_from_terms(sum(t[0] for t in terms), sum(t[1] for t in terms))


def local_wiener(coefficients: np.ndarray, noise_variance: float) -> np.ndarray:
    """The part of ``coefficients`` that Lukáš et al.'s locally adaptive Wiener filter removes:
    ``h · σ0² / (σ̂² + σ0²)``, σ̂² the minimum over w x w windows of ``max(0, mean(h²) - σ0²)``."""
    from scipy.ndimage import uniform_filter

    energy = coefficients ** 2
    variance = np.full(coefficients.shape, np.inf)
    for window in WINDOWS:
        variance = np.minimum(variance, np.maximum(uniform_filter(energy, window, mode="mirror") - noise_variance, 0))
    return coefficients * noise_variance / (variance + noise_variance)


def wavelet_residual(plane: np.ndarray, sigma: float, wavelet: str = "db4", levels: int = 4) -> np.ndarray:
    """I - F(I) for one 2-D plane: the detail-band noise the wavelet denoiser removes."""
    import pywt

    height, width = plane.shape
    with warnings.catch_warnings():  # small images: the coarse bands are mostly border extension, as intended
        warnings.filterwarnings("ignore", message="Level value of .* is too high", category=UserWarning)
        coefficients = pywt.wavedec2(plane, wavelet, mode="symmetric", level=levels)
    noise = [np.zeros_like(coefficients[0])]
    noise += [tuple(local_wiener(band, sigma ** 2) for band in details) for details in coefficients[1:]]
    return pywt.waverec2(noise, wavelet, mode="symmetric")[:height, :width]


def zero_mean(residual: np.ndarray) -> np.ndarray:
    """Subtract column, then row means, on each of the four 2 x 2 sub-lattices (Chen et al. 2008)."""
    out = residual - residual.mean()
    for dy in (0, 1):
        for dx in (0, 1):
            lattice = out[dy::2, dx::2]
            lattice -= lattice.mean(axis=0, keepdims=True)
            lattice -= lattice.mean(axis=1, keepdims=True)
    return out


def wiener_dft(residual: np.ndarray) -> np.ndarray:
    """Wiener filtering in the DFT domain (σ0 = the residual's standard deviation): peaks of the
    magnitude spectrum (periodic, non-unique traces) are shrunk, the phases kept."""
    spectrum = np.fft.fft2(residual)
    magnitude = np.abs(spectrum) / np.sqrt(residual.size)
    filtered = local_wiener(magnitude, float(residual.var()))
    gain = np.divide(filtered, magnitude, out=np.zeros_like(magnitude), where=magnitude > 0)
    return np.real(np.fft.ifft2(spectrum * gain))


def saturated(image: np.ndarray) -> np.ndarray:
    """``[H, W, C]`` True where a channel is at 255 and so is one of its 4-neighbours (clipped light
    carries no PRNU)."""
    top = image >= 254.5
    neighbour = np.zeros_like(top)
    neighbour[1:] |= top[:-1]
    neighbour[:-1] |= top[1:]
    neighbour[:, 1:] |= top[:, :-1]
    neighbour[:, :-1] |= top[:, 1:]
    return top & neighbour


def pce_and_correlation(residual: np.ndarray, expected: np.ndarray, neighbourhood: int = 11) -> tuple[float, float]:
    """PCE at zero shift and normalised correlation of a residual with the expected PRNU term I·K."""
    x = residual - residual.mean()
    y = expected - expected.mean()
    norm = np.sqrt((x ** 2).sum() * (y ** 2).sum())
    correlation = float((x * y).sum() / norm) if norm > 0 else 0.0
    plane = np.fft.irfft2(np.fft.rfft2(x) * np.conj(np.fft.rfft2(y)), s=x.shape)  # C(s) = Σ x(i + s) y(i)
    peak = plane[0, 0]
    half = neighbourhood // 2
    mask = np.ones(plane.shape, dtype=bool)
    rows = np.r_[0:half + 1, plane.shape[0] - half:plane.shape[0]]
    columns = np.r_[0:half + 1, plane.shape[1] - half:plane.shape[1]]
    mask[np.ix_(rows % plane.shape[0], columns % plane.shape[1])] = False
    energy = (plane[mask] ** 2).mean() if mask.any() else 0.0
    pce = float(np.sign(peak) * peak ** 2 / energy) if energy > 0 else 0.0
    return pce, correlation
