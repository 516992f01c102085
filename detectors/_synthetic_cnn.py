"""What ``wang2020`` and ``gragnaniello2021`` share: a ResNet with one logit (``_resnet.py``) that
tells real images from synthetic ones, its shipped weights, and the training recipe of Wang et al.
2020 on simcam.

**Recipe** (Wang et al. 2020, as REFERENCE.md gives it, with the departures a CPU and a small data
set ask for, each a parameter): binary cross-entropy; Adam; batches of ``batch`` random crops of
``crop`` px with horizontal flips; each crop blurred with probability 0.5 (Gaussian, sigma ~ U[0, 3])
and JPEG-compressed with probability 0.5 (quality ~ U[30, 100]), in that order. Departures: training
from scratch (no ImageNet weights offline) at lr 1e-3 with a cosine decay (the paper fine-tunes at
1e-4), crops smaller than the paper's 224 px, and batches balanced between real and synthetic
(simcam's defender-train holds 384 real images and 48 per generator family).

**Data:** simcam's ``defender-train``: every real image and the synthetic images of ``families``
(default ``transposed`` and ``nearest``); ``bilinear`` and ``pixelshuffle`` are kept out, so the
cross-family AUC measures generalisation to unseen up-sampling. After training, the AUC of real vs
synthetic on ``defender-test`` is measured once per family (in-family and cross-family) and written
to the manifest; it chooses nothing.

**Any size at test time:** the whole image goes through the network (global average pooling), as
both papers test at full resolution.

**Weights:** a tag names a file ``<name>-<tag>.safetensors``: shipped (``simcam-*``, trained here) or
imported from the authors' checkpoints (``spoc-bench weights import NAME FILE.pth``; the tag is the
file name without ``.pth``, ``official`` the default release): ``_synthetic_import.py``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from spoc_bench.contracts import Dataset, Detector
from spoc_bench.datasets.synthetic import FAMILIES as GENERATOR_FAMILIES
from spoc_bench.training import (SIMCAM, adam_cosine, data_version, deterministic, trained_detector, training_data,
                                 write_manifest)
from spoc_bench.images import Container
from spoc_bench.weights import ShippedDetectorWeights

TRAIN_FAMILIES = ("transposed", "nearest")
RECIPE = {"loss": "binary cross-entropy", "optimizer": "Adam", "lr": 1e-3, "lr_schedule": "cosine to 0", "batch": 32,
          "balanced": "half real, half synthetic per batch", "flip": "horizontal, p=0.5",
          "blur": {"p": 0.5, "sigma": [0.0, 3.0]}, "jpeg": {"p": 0.5, "quality": [30, 100]}, "init": "scratch"}


class SyntheticCNN(ShippedDetectorWeights, Detector):
    """Base of the ResNet synthetic-image detectors; subclasses set the architecture defaults."""

    task = "synthetic"
    min_size = 32
    device = "cpu"  # the runner sets it
    STEM_STRIDE = 2
    DEFAULTS: dict = {}

    def __init__(self, weights: str = "simcam", weights_dir: str | None = None):
        if weights == "fit":
            raise ValueError(f"{self.name}: trained weights only; train them with `spoc-bench train detector {self.name}`")
        self.weights, self.weights_dir = weights, weights_dir
        self._network = None

    @property
    def classes(self) -> tuple[str, ...]:
        return ("real", "synthetic")

    def weights_file(self) -> Path:
        """The tag's file: in ``weights_dir`` when given, else shipped, else imported (``official`` is
        the default upstream release); a clear error naming the train and import commands otherwise."""
        from spoc_bench.detectors._synthetic_import import find_weights

        return find_weights(self.name, self.weights, self.weights_dir)

    @classmethod
    def import_weights(cls, source, destination=None) -> dict:
        """``spoc-bench weights import NAME FILE``: the authors' ``.pth`` checkpoint converted to
        ``<name>-<tag>.safetensors`` (tag: the file name without ``.pth``) in ``destination`` (default:
        the cache's ``weights/<name>``, where the detector finds it by tag); returns the manifest, with
        ``files`` and ``destination``. See ``detectors/_synthetic_import.py``."""
        from ._synthetic_import import import_synthetic

        return import_synthetic(cls, source, destination)

    def network(self):
        if self._network is None:
            from spoc_bench.detectors._resnet import ResNet
            from spoc_bench.weights import read_safetensors

            state = read_safetensors(self.weights_file())
            depth, width, stem_stride = state.pop("meta.arch").tolist()
            net = ResNet(depth, width, stem_stride)
            net.load_state_dict(state)
            self._network = net.requires_grad_(False).eval()
        return self._network.to(self.device)

    def predict(self, images, containers: Sequence[Container] | None = None):
        import torch

        synthetic = torch.sigmoid(self.network()(images.to(self.device, torch.float32)).float())
        return torch.stack([1 - synthetic, synthetic], dim=1)

    @classmethod
    def train(cls, steps: int = 800, depth: int | None = None, width: int | None = None, crop: int | None = None,
              families=TRAIN_FAMILIES, seed: int = 0, tag: str | None = None, out: str | None = None,
              root: str | None = None, size: int = SIMCAM["size"], views=SIMCAM["views"],
              crops_per_photo: int = SIMCAM["crops_per_photo"], threads: int | None = None, device: str = "cpu",
              seconds: float | None = None, precision: str = "fp32", log=print) -> list[Path]:
        """Train with the recipe above; writes ``<out or detectors/weights>/<name>-<tag>.safetensors``
        (tag: the default one for the default architecture, else ``simcam-r<depth>w<width>``).
        ``seconds``: a time budget that can lower ``steps`` (the manifest records the steps run);
        ``precision``: the training steps' arithmetic (``spoc_bench/precision.py``; shipped: fp32)."""
        arch = {**cls.DEFAULTS, **{k: v for k, v in dict(depth=depth, width=width, crop=crop).items() if v}}
        default_arch = depth is None and width is None
        tag = tag or (cls.DEFAULTS["tag"] if default_arch else f"simcam-r{arch['depth']}w{arch['width']}")
        dataset = training_data("simcam", root, size=size, views=tuple(views), crops_per_photo=crops_per_photo,
                                generators=GENERATOR_FAMILIES)
        return fit_and_save(cls, dataset, steps, arch, tuple(families), seed, tag, out, threads, device, log,
                            seconds, precision)


def augment(pixels: np.ndarray, crop: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``crop`` (flipped with p 0.5), blurred and JPEG-compressed, each with p 0.5."""
    from spoc_bench.images import Container
    from spoc_bench.perturbations import parse

    height, width = pixels.shape[:2]
    top, left = rng.integers(0, height - crop + 1), rng.integers(0, width - crop + 1)
    out = pixels[top:top + crop, left:left + crop]
    if rng.random() < 0.5:
        out = out[:, ::-1]
    out = np.ascontiguousarray(out)
    if rng.random() < RECIPE["blur"]["p"]:
        sigma = rng.uniform(*RECIPE["blur"]["sigma"])
        if sigma > 0.05:
            out, _ = parse(f"blur:{sigma:.3f}")(out, Container())
    if rng.random() < RECIPE["jpeg"]["p"]:
        low, high = RECIPE["jpeg"]["quality"]
        out, _ = parse(f"jpeg:{int(rng.integers(low, high + 1))}")(out, Container())
    return out


def fit_and_save(cls, dataset: Dataset, steps: int, arch: dict, families: tuple, seed: int, tag: str, out, threads,
                 device, log, seconds: float | None = None, precision: str = "fp32") -> list[Path]:
    import torch
    import torch.nn.functional as F

    from spoc_bench.precision import resolve

    from spoc_bench.detectors._resnet import ResNet
    from spoc_bench.weights import save_weights

    started = time.perf_counter()
    precision = resolve(precision, device)
    dataset.prepare()
    samples = [s for s in dataset.samples("defender-train")
               if s.source == "real" or (s.source == "synthetic" and s.generator in families)]
    items = list(dataset.items(samples))
    real = [i.pixels for i in items if i.sample.source == "real"]
    synthetic = [i.pixels for i in items if i.sample.source == "synthetic"]
    if not real or not synthetic:
        raise ValueError(f"{cls.name}: defender-train needs real images and synthetic images of {list(families)}")
    rng = np.random.default_rng(seed)
    half = RECIPE["batch"] // 2
    labels = torch.cat([torch.zeros(half), torch.ones(half)]).to(device)
    with deterministic(seed, threads):
        threads_used = torch.get_num_threads()
        net = ResNet(arch["depth"], arch["width"], cls.STEM_STRIDE).to(device).train()

        def step_loss(step):
            chosen = ([real[k] for k in rng.integers(0, len(real), half)]
                      + [synthetic[k] for k in rng.integers(0, len(synthetic), half)])
            batch = torch.from_numpy(np.stack([augment(p, arch["crop"], rng) for p in chosen]))
            logits = net(batch.permute(0, 3, 1, 2).float().div(255).to(device))
            return F.binary_cross_entropy_with_logits(logits, labels)

        history = adam_cosine(net.parameters(), step_loss, steps, RECIPE["lr"], cls.name, log, started, seconds,
                              precision)
    steps = history[-1]["step"]
    state = {**net.state_dict(), "meta.arch": torch.tensor([arch["depth"], arch["width"], cls.STEM_STRIDE])}
    manifest = {"recipe": {**RECIPE, "steps": steps, **arch, "stem_stride": cls.STEM_STRIDE, "precision": precision,
                           **({"time_budget_s": seconds} if seconds else {})},
                "parameters": sum(p.numel() for p in net.parameters()), "train_families": list(families),
                "train_images": {"real": len(real), "synthetic": len(synthetic)}, "seed": seed,
                "data_version": data_version(dataset), "device": device, "torch": torch.__version__,
                "threads": threads_used, "training_seconds": round(time.perf_counter() - started, 1),
                "history": history}
    path = save_weights(state, "detector", cls.name, tag, manifest, out)
    detector = trained_detector(cls.name, path, device)
    manifest["defender_test_auc"] = defender_test_auc(detector, dataset)
    write_manifest(path, manifest)
    log(f"{cls.name}: defender-test AUC {manifest['defender_test_auc']}")
    return [path, path.with_suffix(".json")]


def defender_test_auc(detector: Detector, dataset: Dataset, batch: int = 16) -> dict:
    """AUC [95% CI] of real vs each generator family on defender-test (and n)."""
    import torch

    from spoc_bench.images import to_tensor
    from spoc_bench.metrics import auc_ci

    samples = dataset.samples("defender-test")
    items = list(dataset.items(samples))
    scores = []
    with torch.no_grad():
        for start in range(0, len(items), batch):
            chunk = items[start:start + batch]
            scores += detector.predict(to_tensor([i.pixels for i in chunk]))[:, 1].tolist()
    scores = np.array(scores)
    is_real = np.array([i.sample.source == "real" for i in items])
    families = sorted({i.sample.generator for i in items if i.sample.source == "synthetic"})
    result = {}
    for family in families:
        family_scores = scores[np.array([i.sample.generator == family for i in items])]
        value, low, high, n = auc_ci(scores[is_real], family_scores)
        result[family] = {"auc": round(value, 4), "ci": [round(low, 4), round(high, 4)], "n": n}
    return result
