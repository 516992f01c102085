"""Bondi et al. 2017 (Bondi, Baroffio, Güera, Bestagini, Delp, Tubaro, "First steps toward camera model
identification with convolutional neural networks", IEEE SPL 24(3), 2017; arXiv 1603.01068): a small
CNN classifies 64 x 64 colour patches into camera models; an image's decision accumulates the scores
of its best patches.

**Network** (``detectors/_bondi2017_net.py``): conv 32@4x4 -> max pool 2 -> conv 48@5x5 -> max pool ->
conv 64@5x5 -> max pool -> conv 128@5x5 -> FC 128 + ReLU -> FC n_models -> softmax; no non-linearity
after the convolutions; the input patch has the training patches' pixel-wise mean (0..255 units)
subtracted and is scaled by 0.0125 (a pixel-wise mean over the training patches, stored with the
weights; whether the paper's mean is pixel-wise or a single value: unverified).

**Patch selection** (deterministic, differentiable downstream). Candidate 64 x 64 windows start at
every multiple of ``stride`` (default 32; it must be a multiple of 8, so every patch is aligned to the
8 x 8 JPEG grid of the image, whose blocks start at (0, 0)) and lie wholly inside the image: 7 x 7 = 49
candidates in a 256 x 256 image (the paper cut large photographs into non-overlapping patches; a
256-px image has only 16 of those, so here the candidates overlap by half). Each gets the quality score

    Q = 1/3 sum_c [ alpha beta (mu_c - mu_c^2) + (1 - alpha) (1 - exp(gamma sigma_c)) ]

with mu_c, sigma_c the mean and (population) standard deviation of channel c of the window in [0, 1],
alpha = 0.7, beta = 4, gamma = ln(0.01). The first term peaks at mu = 0.5 (mid intensity: neither dark
nor saturated), the second grows with sigma (texture: 1 - 0.01^sigma). The ``patches`` (default 32)
windows of highest Q are kept; ties go to the earlier window in raster order (a stable sort of scores
computed in float64 on the CPU), so the choice depends only on the pixels. The formula and its
constants are those of the paper as the project recalls them (the paper's text could not be read
here: unverified). Images with fewer candidates use all of them; the smallest image is 64 x 64.

**Image decision.** The patch log-probabilities are averaged and turned back into probabilities:
``p(image) = softmax(mean_k log p_k)`` (a normalised geometric mean of the patch posteriors; its argmax
is the class with the highest sum of patch log-probabilities). It stays differentiable with respect to
the pixels of the selected patches (the selection itself is a discrete choice, made outside the
graph). The paper accumulates patch decisions too (by majority voting, as recalled; unverified);
votes would not be differentiable, which white-box attacks need.

**Weights** (tag ``simcam``, shipped in ``detectors/weights/bondi2017-simcam.safetensors`` with a JSON
manifest): trained by ``spoc-bench train detector bondi2017`` (:meth:`Bondi2017.train`) on simcam's
``defender-train`` split only: scenes held out of it for validation, 24 epochs, SGD (lr 0.01, momentum 0.9, weight
decay 7.5e-4, batch 128, the paper's values), the lr divided by 10 for the last third of the epochs
(our choice: the paper's schedule is not recalled), the epoch of best validation accuracy kept (ties:
lower validation loss). No augmentation by default: the 32 patches of each image are the ones
``predict`` uses. ``-o augment=true`` draws, every epoch, each training image's grid origin among the
multiples of 8 below the stride (patches stay on the JPEG grid).
The manifest records the recipe, the data version, the time, the validation accuracy and the
``defender-test`` accuracy measured once after training (never used to choose anything). Shipped
weights (``-o epochs=48 -o augment=true --device cuda``, 101 s on an NVIDIA H200): validation accuracy
1.000 (64 images, epoch 38), defender-test accuracy 0.953 (183 of 192). They were kept by validation
accuracy over a run of 72 epochs without augmentation (0.969; its defender-test accuracy 0.948). The
first CPU training (24 epochs, no augmentation, 704 s) had 0.953 on validation and 0.948 on test.

The recipe runs on ``spoc_bench/training.py`` (the data, the held-out scenes, the epoch loop, the
manifest), shared with the other trained plugins.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from spoc_bench.contracts import Dataset, Detector
from spoc_bench.images import Container
from spoc_bench.registry import register_detector
from spoc_bench.training import (SIMCAM, data_version, deterministic, images_tensor, save_and_test, sgd_epochs,
                                 training_data, training_split)
from spoc_bench.weights import ShippedDetectorWeights, pack_classes, unpack_classes

NAME = "bondi2017"
PATCH = 64
GRID = 8  # JPEG block size: patch corners sit on multiples of it
ALPHA, BETA, GAMMA = 0.7, 4.0, math.log(0.01)
RECIPE = {"optimizer": "SGD", "lr": 0.01, "momentum": 0.9, "weight_decay": 7.5e-4, "batch": 128, "epochs": 24,
          "lr_schedule": "x0.1 for the last third of the epochs", "patches_per_image": 32, "stride": 32,
          "selection": "best validation accuracy (ties: lower validation loss)", "augmentation": "none",
          "validation": "whole scenes of defender-train held out (about 1/6 of its images)"}
AUGMENTATION = ("grid shifts: every epoch, each training image's stride grid starts at a random multiple of 8 "
                "(0..stride-8) in y and x, and its 32 best windows on that grid are taken")


# ---------------------------------------------------------------------------- patch selection
def select_positions(images, count: int = 32, stride: int = 32):
    """Top-left corners ``[N, K, 2]`` (y, x) of the ``count`` best-scoring 64 x 64 windows on the
    ``stride`` grid of each image (``[N, 3, H, W]`` in [0, 1]); K = min(count, candidates).
    Best first; ties in raster order. Computed in float64 on the CPU, outside the autograd graph."""
    import torch

    quality = patch_quality(images, stride)
    columns = quality.shape[-1]
    flat = quality.flatten(1)
    order = torch.sort(flat, dim=1, descending=True, stable=True).indices[:, :min(count, flat.shape[1])]
    return torch.stack([order // columns * stride, order % columns * stride], dim=-1)


def patch_quality(images, stride: int = 32):
    """The quality score Q (see the module docs) of every candidate window: ``[N, rows, columns]``, the
    window of row i and column j having its corner at (i * stride, j * stride); float64, no gradient."""
    import torch
    import torch.nn.functional as F

    check_stride(stride)
    if min(images.shape[-2:]) < PATCH:
        raise ValueError(f"{NAME}: images of {tuple(images.shape[-2:])} px are smaller than a {PATCH}-px patch")
    x = images.detach().to("cpu", torch.float64)
    mean = F.avg_pool2d(x, PATCH, stride)
    sigma = (F.avg_pool2d(x * x, PATCH, stride) - mean * mean).clamp_min(0).sqrt()
    return (ALPHA * BETA * (mean - mean * mean) + (1 - ALPHA) * (1 - torch.exp(GAMMA * sigma))).mean(dim=1)


def extract_patches(images, positions, stride: int = 32):
    """The windows at ``positions`` (from :func:`select_positions`): ``[N, K, 3, 64, 64]``, views of
    ``images`` (differentiable)."""
    import torch

    windows = images.unfold(2, PATCH, stride).unfold(3, PATCH, stride).permute(0, 2, 3, 1, 4, 5)
    rows = torch.arange(len(images), device=images.device)[:, None]
    positions = positions.to(images.device)
    return windows[rows, positions[..., 0] // stride, positions[..., 1] // stride]


def check_stride(stride: int) -> None:
    if stride < GRID or stride % GRID:
        raise ValueError(f"{NAME}: stride must be a positive multiple of {GRID} (the JPEG grid), got {stride}")


# -------------------------------------------------------------------------------- the detector
@register_detector("bondi2017")
class Bondi2017(ShippedDetectorWeights, Detector):
    """Camera model from the 32 best 64x64 patches by a 4-conv CNN, patch scores accumulated (Bondi et al., SPL 2017)."""

    task = "camera"
    differentiable = True
    device = "cpu"  # the runner sets it
    min_size = PATCH

    def __init__(self, weights: str = "simcam", weights_dir: str | None = None, patches: int = 32, stride: int = 32):
        if weights == "fit":
            raise ValueError(f"{NAME}: trained weights only (tag 'simcam'); train others with "
                             f"`spoc-bench train detector {NAME}`")
        check_stride(stride)
        if patches < 1:
            raise ValueError(f"{NAME}: patches must be >= 1")
        self.weights, self.weights_dir, self.patches, self.stride = weights, weights_dir, patches, stride
        self._network = None

    # ------------------------------------------------------------------------------ weights
    def network(self):
        """The frozen network (eval mode) on ``device``."""
        if self._network is None:
            from spoc_bench.detectors._bondi2017_net import BondiNet
            from spoc_bench.weights import load_weights

            state = load_weights("detector", NAME, self.weights, self.weights_dir)
            self._classes = unpack_classes(state.pop("meta.classes"))
            net = BondiNet(len(self._classes))
            net.load_state_dict(state)
            self._network = net.requires_grad_(False).eval()
        return self._network.to(self.device)

    @property
    def classes(self) -> tuple[str, ...]:
        self.network()
        return self._classes

    def fit(self, dataset: Dataset) -> "Bondi2017":
        return self  # trained weights; nothing is fitted on the benchmark's data

    # ------------------------------------------------------------------------------ predict
    def patch_log_probabilities(self, images):
        """``[N, K, n_models]`` log-probabilities of each image's selected patches."""
        import torch

        net = self.network()
        images = images.to(self.device, torch.float32)
        positions = select_positions(images, self.patches, self.stride)
        patches = extract_patches(images, positions, self.stride)
        n, k = patches.shape[:2]
        return net(patches.reshape(n * k, 3, PATCH, PATCH)).float().log_softmax(dim=1).view(n, k, -1)

    def predict(self, images, containers: Sequence[Container] | None = None):
        return self.log_predict(images).exp()

    def log_predict(self, images, containers: Sequence[Container] | None = None):
        return self.patch_log_probabilities(images).mean(dim=1).log_softmax(dim=1)

    # ----------------------------------------------------------------------------- training
    @classmethod
    def train(cls, epochs: int = RECIPE["epochs"], seed: int = 0, tag: str = "simcam", out: str | None = None,
              root: str | None = None, size: int = SIMCAM["size"], views=SIMCAM["views"],
              crops_per_photo: int = SIMCAM["crops_per_photo"], max_steps: int | None = None,
              threads: int | None = None, augment: bool = False, device: str = "cpu", precision: str = "fp32",
              log=print) -> list[Path]:
        """Train on simcam's defender-train (scenes held out for validation) and write the weights
        (``<out or detectors/weights>/bondi2017-<tag>.safetensors``) and their manifest.

        ``root``/``size``/``views``/``crops_per_photo`` choose the simcam data (default: the default
        dataset in the cache); ``max_steps`` stops early (for tests); ``threads`` sets torch's CPU
        threads while training (the shipped weights: 1); ``precision`` the training steps' arithmetic
        (``spoc_bench/precision.py``; the shipped weights: fp32)."""
        import torch

        from spoc_bench.detectors._bondi2017_net import BondiNet
        from spoc_bench.precision import resolve

        precision = resolve(precision, device)

        started = time.perf_counter()
        dataset = training_data("simcam", root, size=size, views=tuple(views), crops_per_photo=crops_per_photo)
        pixels, classes, labels, held_out, is_val = training_split(dataset, seed)
        stride, count = RECIPE["stride"], RECIPE["patches_per_image"]

        def patches_of(indices, offsets=None):
            """uint8 patches of the images ``indices`` and the image each comes from; with ``offsets``,
            each image's stride grid starts at its offset (multiples of 8: still on the JPEG grid)."""
            groups: dict[tuple, list] = {}
            for index, (top, left) in zip(indices, offsets or [(0, 0)] * len(indices)):
                height, width = pixels[index].shape[:2]  # keep at least one whole window
                top, left = min(top, (height - PATCH) // GRID * GRID), min(left, (width - PATCH) // GRID * GRID)
                groups.setdefault((top, left), []).append(index)
            chunks, owners = [], []
            for (top, left), members in sorted(groups.items()):
                for start in range(0, len(members), 64):
                    chosen = members[start:start + 64]
                    raw = images_tensor([pixels[i] for i in chosen])[..., top:, left:]
                    positions = select_positions(raw.float() / 255, count, stride)
                    found = extract_patches(raw, positions, stride)
                    chunks.append(found.reshape(-1, 3, PATCH, PATCH))
                    owners.append(torch.as_tensor(chosen).repeat_interleave(found.shape[1]))
            return torch.cat(chunks), torch.cat(owners)

        train_images = np.flatnonzero(~is_val).tolist()
        train_patches, train_owner = patches_of(train_images)
        val_images = np.flatnonzero(is_val).tolist()
        val_patches, val_owner = patches_of(val_images)
        log(f"{NAME}: {int((~is_val).sum())} training images ({len(train_patches)} patches), {len(val_images)} "
            f"validation images of scenes {held_out}; {len(classes)} models")
        generator = torch.Generator().manual_seed(seed)
        shifts = torch.Generator().manual_seed(seed + 1)

        def epoch_batches(epoch):
            patches, owners = train_patches, train_owner
            if augment:  # this epoch's grids: origins drawn among the multiples of 8 below the stride
                offsets = torch.randint(0, stride // GRID, (len(train_images), 2), generator=shifts) * GRID
                patches, owners = patches_of(train_images, [tuple(o) for o in offsets.tolist()])
            order = torch.randperm(len(patches), generator=generator)
            for start in range(0, len(order), RECIPE["batch"]):
                chosen = order[start:start + RECIPE["batch"]]
                yield patches[chosen].to(device).float() / 255, labels[owners[chosen]].to(device)

        def validate():
            return (*evaluate(net, val_patches, labels[val_owner], val_owner, val_images, labels, device), {})

        options = {"epochs": epochs, "seed": seed, "tag": tag, "size": size, "views": list(views),
                   "crops_per_photo": crops_per_photo, "max_steps": max_steps, "threads": threads, "augment": augment,
                   "device": device, "precision": precision}
        with deterministic(seed, threads):
            threads_used = torch.get_num_threads()
            net = BondiNet(len(classes))
            net.mean.copy_(train_patches.double().mean(dim=0).float())
            net = net.to(device)
            optimiser = torch.optim.SGD(net.parameters(), lr=RECIPE["lr"], momentum=RECIPE["momentum"],
                                        weight_decay=RECIPE["weight_decay"])
            kept = sgd_epochs(net, optimiser, epochs, epoch_batches, validate, NAME, log, started, max_steps,
                              precision=precision)
        seconds = time.perf_counter() - started
        state = {**kept.state, "meta.classes": pack_classes(classes)}
        folder = Path(out) if out else None
        recipe = {**RECIPE, "epochs": epochs, "precision": precision, **({"augmentation": AUGMENTATION} if augment else {}),
                  **({"max_steps": max_steps} if max_steps is not None else {})}
        manifest = {"recipe": recipe, "seed": seed, "data_version": data_version(dataset), "classes": list(classes),
                    "validation_scenes": held_out, "train_images": int((~is_val).sum()),
                    "validation_images": len(val_images), "device": device, "torch": torch.__version__,
                    "threads": threads_used, "options": options, "training_seconds": round(seconds, 1),
                    **kept.manifest()}
        return save_and_test(cls, state, tag, manifest, folder, dataset, device, log)


def evaluate(net, patches, patch_labels, owners, images, labels, device, batch: int = 512):
    """(mean patch cross-entropy, image accuracy by mean patch log-probability) on held-out patches."""
    import torch
    import torch.nn.functional as F

    net.eval()
    with torch.no_grad():
        logp = torch.cat([net(patches[s:s + batch].to(device).float() / 255).log_softmax(1).cpu()
                          for s in range(0, len(patches), batch)])
    loss = float(F.nll_loss(logp, patch_labels))
    index = torch.as_tensor([images.index(o) for o in owners.tolist()])
    summed = torch.zeros(len(images), logp.shape[1], dtype=torch.float64).index_add_(0, index, logp.double())
    correct = summed.argmax(dim=1) == labels[torch.as_tensor(images)]
    return loss, float(correct.double().mean())
