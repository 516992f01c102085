"""Noiseprint (Cozzolino & Verdoliva, "Noiseprint: a CNN-based camera model fingerprint", IEEE
TIFS 2020; arXiv 1808.08396): a fully convolutional network that turns an image into a residual
map, its *noiseprint*, in which the camera model's traces are kept and the scene is suppressed.

The network (``detectors/_noiseprint_net.py``): 17 levels of 3x3 convolutions, 64 features, one
channel in and out, BatchNorm on levels 1..15, ReLU on 0..15, no residual connection; 556,097
parameters; receptive field 35x35. Its input is the luminance Y = (0.299 R + 0.587 G + 0.114 B) / 256
of the 8-bit pixels (the images arrive in [0, 1]: they are multiplied by 255 first).

One network per JPEG quality. The quality of an image is estimated from its luminance quantisation
table by inverting the IJG scaling (see :func:`jpeg_quality`); an image that is not a JPEG (or has no
table) gets 101. The network used is the one of the nearest quality among the files present (ties
go to the higher quality). The choice is made from the containers, outside the autograd graph, so
``predict`` stays differentiable with respect to the pixels.

Big images are processed as upstream does: an image of more than ``tile``² pixels (upstream: more
than 1,050,000 for tiles of 1024) runs in tiles of ``tile`` x ``tile`` with ``overlap`` pixels of
context on each side, stitched (identical to the whole-image map since the overlap exceeds the
receptive field's radius of 17).

Camera-model identification (as REFERENCE.md describes it, with fixed-size windows): ``fit``
averages the noiseprints of each camera's real images in split ``split`` into a fingerprint. Images
of one camera may differ in size, so every noiseprint is a central ``crop`` x ``crop`` window whose
corner is moved down to a multiple of 8 (so the JPEG 8x8 grid and the CFA's 2x2 period keep the same
phase in all images), computed with 17 pixels of context where the image has them. ``predict`` takes
the same window of each test image and computes the normalised cross-correlation (Pearson
correlation: both zero-mean, unit norm, no shift) with every fingerprint; probabilities are
``softmax(correlation / temperature)``. A test image smaller than ``crop`` (e.g. after a 0.5 resize)
is compared on the largest central window it holds (a multiple of 8, at least 64 px) with the
same-sized central window of each fingerprint. Correlations sit close together: the 8x8 JPEG-grid pattern
is shared by all cameras' noiseprints, so on the ``demo`` stand-in (128-px windows) every
correlation lay in 0.89-0.95 and the true camera led the next by 0.002-0.024 (5th-95th percentile;
median 0.008; accuracy 1.0). The default temperature 0.01 turns that median gap into odds of about
2:1 and a gap of 0.024 into 11:1; the decision (the argmax) does not depend on it.

Weight tags: ``grip``, the official weights of GRIP-UNINA (non-profit licence, not shipped: import
them once with ``spoc-bench weights import noiseprint PATH``, see :mod:`spoc_bench.weights`), read
from ``weights_dir``, else ``$SPOC_BENCH_NOISEPRINT_DIR``, else ``<cache>/weights/noiseprint-grip``;
``simcam`` (the default), one network trained by this project with the paper's Siamese recipe on
simcam's defender-train (``spoc-bench train detector noiseprint [--device cuda]``;
``detectors/_noiseprint_train.py``), shipped in ``detectors/weights/noiseprint-simcam.safetensors``
and used for every JPEG quality. Measured once after training (22,303 steps, 290 s on an NVIDIA H200):
defender-test accuracy 0.938 (192 images, chance 0.125), **just below the issue's 0.95 target**
(the official weights, trained from a denoiser on many real cameras, reach 0.854 here). A CPU
training of 1,200 steps (45 min on one thread) reached 0.464: the loss falls slowly until about
5,000 steps, then drops (``detectors/_noiseprint_train.py``).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Sequence

import numpy as np

from spoc_bench.contracts import Dataset, Detector
from spoc_bench.images import Container
from spoc_bench.registry import register_detector

TAGS = ("grip", "simcam")
NON_JPEG_QUALITY = 101
RECEPTIVE_RADIUS = 17  # 17 convolutions of 3x3
MIN_WINDOW = 64  # smallest window compared with the fingerprints (images smaller than crop, e.g. resized)
FIT_BATCH = 8  # windows handed to noiseprint() at once in fit
LUMA = (0.299, 0.587, 0.114)
# ITU-T T.81 Annex K luminance table in natural (row-major) order: the table IJG scales.
IJG_LUMINANCE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
])


def ijg_table(quality: int, baseline: bool = True) -> np.ndarray:
    """The luminance table libjpeg writes at ``quality`` (1..100)."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    table = np.maximum((IJG_LUMINANCE * scale + 50) // 100, 1)
    return np.minimum(table, 255) if baseline else np.minimum(table, 32767)


@lru_cache(maxsize=1)
def _log_ijg_tables() -> np.ndarray:
    """log of the tables of qualities 1..100, rows (1 baseline, 1 16-bit, 2 baseline, ...)."""
    return np.log(np.stack([ijg_table(q, baseline) for q in range(1, 101) for baseline in (True, False)]))


def jpeg_quality(table: Sequence[int]) -> int:
    """The IJG quality (1..100) of a 64-value luminance quantisation table in natural order.

    Method: libjpeg scales the Annex K table T by S(q) = 5000 // q (q < 50) or 200 - 2q (q >= 50),
    entry = clamp((T·S + 50) // 100, 1, 255 when baseline). We invert it by search: the quality
    whose scaled table (baseline or 16-bit) is nearest the given one in sum of |log ratio|. An IJG
    table is matched exactly (distance 0; the 100 tables are distinct); a camera's own table gets
    the IJG quality of the most similar table (the log keeps the large high-frequency entries from
    dominating). Upstream (``jpeg_qtableinv``) bounds S by the same rounding intervals.
    """
    values = np.asarray(table, dtype=np.float64).reshape(-1)
    if values.size != 64 or np.any(values < 1):
        raise ValueError(f"not a JPEG quantisation table: {values.size} values"
                         f"{', some below 1' if values.size and values.min() < 1 else ''}")
    distance = np.abs(_log_ijg_tables() - np.log(values)).sum(axis=1)
    return int(np.argmin(distance)) // 2 + 1


def container_quality(container: Container | None) -> int:
    """:func:`jpeg_quality` of the luminance (first) table; 101 for a non-JPEG or no table."""
    if container is None or not container.is_jpeg or not container.qtables:
        return NON_JPEG_QUALITY
    return jpeg_quality(container.qtables[0])


def nearest_quality(quality: int, available: Sequence[int]) -> int:
    """The available network quality nearest ``quality``; ties go to the higher quality."""
    if not available:
        raise ValueError("no network qualities available")
    return min(available, key=lambda q: (abs(q - quality), -q))


def central_window(height: int, width: int, crop: int, margin: int = RECEPTIVE_RADIUS):
    """The ``crop`` x ``crop`` window near the centre, its corner on a multiple of 8, and the
    input box around it with up to ``margin`` pixels of context.

    Returns ``(y0, y1, x0, x1)`` of the input box and ``(dy, dx)``, the window's corner in it.
    """
    if height < crop or width < crop:
        raise ValueError(f"noiseprint: image of {height}x{width} px is smaller than the crop of {crop} px")
    top, left = (height - crop) // 2 // 8 * 8, (width - crop) // 2 // 8 * 8
    y0, x0 = max(top - margin, 0), max(left - margin, 0)
    y1, x1 = min(top + crop + margin, height), min(left + crop + margin, width)
    return (y0, y1, x0, x1), (top - y0, left - x0)


def luminance(images):
    """``[N, 3, H, W]`` RGB in [0, 1] -> ``[N, 1, H, W]`` Y = (0.299 R + 0.587 G + 0.114 B) / 256 of
    the 8-bit values (differentiable)."""
    weights = images.new_tensor(LUMA).view(1, 3, 1, 1) * (255.0 / 256.0)
    return (images * weights).sum(dim=1, keepdim=True)


@register_detector("noiseprint")
class Noiseprint(Detector):
    """Camera model by correlating Noiseprint residuals with per-camera fingerprints (Cozzolino & Verdoliva, TIFS 2020)."""

    task = "camera"
    differentiable = True
    device = "cpu"  # the runner sets it

    def __init__(self, weights: str = "simcam", weights_dir: str | None = None, crop: int = 256,
                 temperature: float = 0.01, tile: int = 1024, overlap: int = 34, split: str = "defender-train"):
        if weights not in TAGS:
            raise ValueError(f"noiseprint: unknown weights tag {weights!r}; known: {', '.join(TAGS)}")
        if crop < 8 or temperature <= 0 or tile < 1 or overlap < 0:
            raise ValueError("noiseprint: crop must be >= 8, temperature > 0, tile >= 1 and overlap >= 0")
        self.weights, self.weights_dir, self.crop, self.temperature = weights, weights_dir, crop, temperature
        self.tile, self.overlap, self.split = tile, overlap, split
        self.min_size = min(crop, MIN_WINDOW)
        self._networks: dict = {}
        self._files: dict | None = None
        self._weights_id: str | None = None

    # ------------------------------------------------------------------------------- weights
    @classmethod
    def import_weights(cls, source, destination=None) -> dict:
        """``spoc-bench weights import noiseprint PATH``: the official networks (a clone of
        grip-unina/noiseprint, or ``.npz`` files) converted to safetensors in ``destination`` (default:
        the cache's ``weights/noiseprint-grip``); returns the manifest, with ``destination``."""
        from ._noiseprint_weights import import_noiseprint

        return import_noiseprint(source, destination)

    @property
    def needs_fit(self) -> bool:
        return True  # the fingerprints come from the dataset, whatever the network's weights

    def weight_files(self) -> dict:
        """``{quality: path}`` of the network files; a clear error where there are none."""
        if self._files is None and self.weights == "simcam":
            from spoc_bench.weights import load_weights, weights_path

            path = weights_path("detector", "noiseprint", self.weights, self.weights_dir)
            if not path.exists():
                load_weights("detector", "noiseprint", self.weights, self.weights_dir)  # raises its clear error
            self._files = {NON_JPEG_QUALITY: path}  # one network for every quality
        if self._files is None:
            from ._noiseprint_weights import noiseprint_dir, noiseprint_files

            self._files = noiseprint_files(noiseprint_dir(self.weights_dir))
        return self._files

    def weights_id(self) -> str:
        """sha256 over the (name, sha256) of every network file in the folder (the QF chosen per
        image depends on the images, so all of them may be used)."""
        if self._weights_id is None:
            from spoc_bench.weights import verified_sha256

            lines = "".join(f"{path.name}:{verified_sha256(path)}\n" for path in self.weight_files().values())
            self._weights_id = hashlib.sha256(lines.encode()).hexdigest()
        return self._weights_id

    @classmethod
    def train(cls, steps: int = 1200, seed: int = 0, tag: str = "simcam", out: str | None = None,
              root: str | None = None, size: int = 256, views=(48, 24, 24), crops_per_photo: int = 4,
              threads: int | None = None, device: str = "cpu", log=print, seconds: float | None = None,
              precision: str = "fp32", **recipe):
        """Siamese training on simcam's defender-train (``detectors/_noiseprint_train.py``); writes
        ``<out or detectors/weights>/noiseprint-<tag>.safetensors`` and measures it on defender-test.
        ``root``/``size``/``views``/``crops_per_photo`` choose the simcam data (default: the default
        dataset in the cache); ``threads`` sets torch's CPU threads while training; ``seconds``, a time
        budget that can lower ``steps`` (the manifest records the steps run); ``recipe``: entries of
        the recipe to change (``patch``, ``margin``, ``positions``, ``per_model``, ``lr``); ``precision``
        the training steps' arithmetic (``spoc_bench/precision.py``; the shipped weights: fp32)."""
        from spoc_bench.detectors import _noiseprint_train
        from spoc_bench.training import training_data

        dataset = training_data("simcam", root, size=size, views=tuple(views), crops_per_photo=crops_per_photo)
        arrays, manifest = _noiseprint_train.train(dataset, steps, seed, tag, threads, device, log, seconds,
                                                   precision, **recipe)
        return _noiseprint_train.save_and_test(arrays, manifest, tag, out, dataset, device, log)

    def network_quality(self, container: Container | None) -> int:
        """The quality of the network used for an image saved as ``container``."""
        return nearest_quality(container_quality(container), list(self.weight_files()))

    def network(self, quality: int):
        """The frozen network of the file of ``quality`` (one of :meth:`weight_files`), on ``device``."""
        if quality not in self._networks:
            from spoc_bench.detectors._noiseprint_net import NoiseprintNet
            from ._noiseprint_weights import load_noiseprint

            self._networks[quality] = NoiseprintNet().load_arrays(load_noiseprint(self.weight_files()[quality]))
        return self._networks[quality].to(self.device)

    # ----------------------------------------------------------------------------- noiseprints
    def noiseprint(self, images, containers: Sequence[Container] | None = None):
        """The noiseprint maps ``[N, 1, H, W]`` of ``images`` (``[N, 3, H, W]`` in [0, 1]), each with
        the network of its container's quality; differentiable with respect to ``images``."""
        import torch

        from spoc_bench.detectors._noiseprint_net import tiled

        containers = self._containers(images, containers)
        qualities = [self.network_quality(c) for c in containers]
        y = luminance(images.to(self.device, torch.float32))
        maps = [None] * len(qualities)
        # on a CPU one image per forward pass is fastest (measured: batches of 2-8 windows of
        # 290 px took 1.3-2.7x longer per image); an accelerator takes the whole group
        step = 1 if y.device.type == "cpu" else len(qualities)
        for quality in sorted(set(qualities)):
            chosen = [i for i, q in enumerate(qualities) if q == quality]
            network = self.network(quality)
            out = torch.cat([tiled(network, y[chosen[k:k + step]], self.tile, self.overlap)
                             for k in range(0, len(chosen), step)])
            for position, index in enumerate(chosen):
                maps[index] = out[position]
        return torch.stack(maps)

    def window(self, height: int, width: int) -> int:
        """The side of the window compared: ``crop``, or the image's smaller side (down to a
        multiple of 8) where the image is smaller than that; refused below ``min_size``."""
        size = min(self.crop, min(height, width) // 8 * 8)
        if size < self.min_size:
            raise ValueError(f"noiseprint: image of {height}x{width} px is smaller than the smallest window of "
                             f"{self.min_size} px")
        return size

    def crops(self, images, containers: Sequence[Container] | None = None, size: int | None = None):
        """The central ``size`` x ``size`` (default ``crop``) noiseprint windows ``[N, size, size]``
        (see the module docs)."""
        size = size or self.crop
        (y0, y1, x0, x1), (dy, dx) = central_window(*images.shape[-2:], size)
        maps = self.noiseprint(images[..., y0:y1, x0:x1], containers)
        return maps[:, 0, dy:dy + size, dx:dx + size]

    def _containers(self, images, containers):
        if containers is None:
            return [Container()] * len(images)
        if len(containers) != len(images):
            raise ValueError(f"noiseprint: {len(images)} images but {len(containers)} containers")
        return list(containers)

    # ------------------------------------------------------------------------------ the task
    @property
    def classes(self) -> tuple[str, ...]:
        if not hasattr(self, "classes_"):
            raise RuntimeError("noiseprint: call fit(dataset) first (the classes are its cameras)")
        return self.classes_

    def fit(self, dataset: Dataset) -> "Noiseprint":
        """Fingerprint of each camera = mean of the noiseprint windows of its real images in ``split``."""
        import torch

        from spoc_bench.images import to_tensor

        self.weight_files()  # fail before reading the dataset where there are no weights
        samples = [s for s in dataset.samples(self.split) if s.source == "real" and s.camera]
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        pending: dict[tuple, list] = {}
        self.skipped_ = []

        def flush(key):
            group = pending.pop(key)
            windows = to_tensor([window for window, _, _ in group])
            _, _, dy, dx = key
            with torch.no_grad():
                maps = self.noiseprint(windows, [container for _, container, _ in group])
            for residual, (_, _, camera) in zip(maps[:, 0, dy:dy + self.crop, dx:dx + self.crop].double().cpu(), group):
                sums[camera] = sums.get(camera, 0) + residual
                counts[camera] = counts.get(camera, 0) + 1

        for item in self.fitting(dataset, samples, self.skipped_, "fingerprints"):
            height, width = item.pixels.shape[:2]
            if min(height, width) < self.crop:
                self.skipped_.append((item.sample.id, f"smaller than the crop of {self.crop} px"))
                continue
            (y0, y1, x0, x1), (dy, dx) = central_window(height, width, self.crop)
            key = (y1 - y0, x1 - x0, dy, dx)  # same-sized windows run as one batch
            pending.setdefault(key, []).append((item.pixels[y0:y1, x0:x1], item.container, item.sample.camera))
            if len(pending[key]) == FIT_BATCH:
                flush(key)
        for key in list(pending):
            flush(key)
        if not sums:
            raise ValueError(f"noiseprint: no real images of at least {self.crop}x{self.crop} px with a camera "
                             f"label in split {self.split!r} of dataset {dataset.name!r} (crop={self.crop}).")
        self.classes_ = tuple(sorted(sums))
        self.counts_ = {camera: counts[camera] for camera in self.classes_}
        self.fingerprints_ = torch.stack([_normalised(sums[c] / counts[c]) for c in self.classes_]).float()
        return self

    def fitted_state(self) -> dict:
        return {"classes": np.array(self.classes_), "counts": np.array([self.counts_[c] for c in self.classes_]),
                "fingerprints": self.fingerprints_.numpy()}

    def load_fitted(self, state: dict) -> "Noiseprint":
        import torch

        self.classes_ = tuple(str(c) for c in state["classes"])
        self.counts_ = {camera: int(count) for camera, count in zip(self.classes_, state["counts"])}
        self.fingerprints_ = torch.from_numpy(state["fingerprints"])
        return self

    def correlations(self, images, containers: Sequence[Container] | None = None):
        """Normalised cross-correlation ``[N, len(classes)]`` of each image's window with each fingerprint."""
        if not hasattr(self, "fingerprints_"):
            raise RuntimeError("noiseprint: call fit(dataset) first (the fingerprints come from it)")
        from spoc_bench.precision import float32

        size = self.window(*images.shape[-2:])
        maps = self.crops(images, containers, size).float()
        top = (self.crop - size) // 2 // 8 * 8  # the fingerprint's central window of that size
        with float32(maps.device):  # correlations of bfloat16 maps would be rounded to 8 bits
            residuals = _normalised(maps)
            fingerprints = _normalised(self.fingerprints_[:, top:top + size, top:top + size]).to(residuals.device)
            return residuals.flatten(1) @ fingerprints.flatten(1).T

    def predict(self, images, containers: Sequence[Container] | None = None):
        return self.log_predict(images, containers).exp()

    def log_predict(self, images, containers: Sequence[Container] | None = None):
        return (self.correlations(images, containers) / self.temperature).log_softmax(dim=1)


def _normalised(maps):
    """Each map (the last two dimensions) minus its mean, divided by its norm."""
    centred = maps - maps.mean(dim=(-2, -1), keepdim=True)
    return centred / centred.square().sum(dim=(-2, -1), keepdim=True).sqrt().clamp_min(1e-12)
