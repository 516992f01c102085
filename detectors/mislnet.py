"""MISLnet (Bayar & Stamm, "Constrained convolutional neural networks: a new approach towards general
purpose image manipulation detection", IEEE TIFS 13(11), 2018), used as a camera-model identifier: a
constrained first layer of prediction-error filters suppresses the scene, a conventional CNN
classifies what is left.

**Network** (``detectors/_mislnet_net.py``): constrained conv, 3 filters of 5x5 (every slice's centre
weight fixed to -1, its other 24 weights renormalised to sum to 1 after every optimiser step) -> conv
96@7x7 stride 2 + BN + tanh + max pool 3x3/2 -> conv 64@5x5 + BN + tanh + max pool -> conv 64@5x5 + BN +
tanh + max pool -> conv 128@1x1 + BN + tanh + max pool -> FC 200 + tanh -> FC 200 + tanh -> softmax. The
number of constrained filters (3) is the project's recollection of the TIFS 2018 paper, which could
not be read here: **unverified**, as are the paddings and the kind of the last pooling (see the
network module).

**Input.** The paper's input is a 256 x 256 patch of one colour layer (the green layer or grey
levels, as recalled: unverified). Images here are RGB and the colour traces (demosaicing, chroma
subsampling, colour processing) belong to the camera model, so by default all three channels enter
the constrained layer (``channels="rgb"``: each filter has one 5x5 prediction-error slice per input
channel, each slice constrained); ``channels="green"`` trains the paper's one-layer variant. The
number of channels and the input size are read from the weights file. An image of another size is
cut to its central ``size`` x ``size`` window, whose corner is moved down to a multiple of 8 so that
the JPEG 8 x 8 grid (and the CFA's 2 x 2 period) keep the phase they have in the full image; images
smaller than that are refused (``min_size``). Pixels enter as 8-bit values (x 255).

**Weights** (tag ``simcam``, shipped in ``detectors/weights/mislnet-simcam.safetensors`` with a JSON
manifest): trained by ``spoc-bench train detector mislnet`` (:meth:`MISLNetDetector.train`) on
simcam's ``defender-train`` split only, with whole scenes held out for validation (the same scenes as
``bondi2017``'s). Our choices for a 320-image training set on a CPU (the paper, as recalled: lr 0.001,
momentum 0.95, batch 64, on far more patches; unverified):

- SGD, momentum 0.9, weight decay 5e-4, batch 16, 30 epochs; lr 0.01, divided by 10 for the last third
  of the epochs; the constrained layer learns at a tenth of that (``constrained_lr=0.1``). BatchNorm
  after conv2 makes the loss blind to the scale of the prediction errors, so nothing holds the 24 free
  weights back; once they take both signs their sum, the divisor of the renormalisation, can come
  near 0 and the projection blows them up (measured: at the full lr, the largest weight went from 1
  to 637 within 60 steps; at a tenth it stayed at the centre's 1). The layer starts from positive
  weights for the same reason (see ``_mislnet_net.py``).
- Augmentation: cyclic shifts of each training input by random multiples of 8 in y and x (the JPEG
  8 x 8 grid and the CFA 2 x 2 period keep their phase; one wrap-around seam is added). Flips or odd
  shifts would change the CFA phase, one of the traces being learnt.
- BatchNorm statistics for evaluation are recomputed after every epoch over 128 training images (16 per
  model) in one pass without gradients ("precise BN"); running averages over batches of 16 images
  made the validation accuracy swing between epochs.
- The epoch of best validation accuracy is kept (ties: lower validation loss).

The manifest records the recipe, the data version, the time, the validation accuracy and the
``defender-test`` accuracy measured once after training (never used to choose anything). Shipped
weights (``-o epochs=240 --device cuda``, 78 s on an NVIDIA H200): validation accuracy 0.969 (64 images,
epoch 140), defender-test accuracy 0.938 (180 of 192): **below the issue's target of 0.95**. They
were kept by validation accuracy, then loss, over runs of 60 and 120 epochs (0.906 and 0.969 with a
higher loss; 0.823 and 0.885 on defender-test). 320 whole images are few for this network: the
validation accuracy swings between epochs. The first CPU training (30 epochs, 919 s) reached 0.849;
one without the lower constrained-layer lr, the shifts and the BatchNorm recalibration reached 0.844
on validation (0.823 on defender-test) with its constrained weights blown up to 63.
"""

from __future__ import annotations

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


NAME = "mislnet"
GRID = 8
CHANNELS = {"rgb": (0, 1, 2), "green": (1,)}
RECIPE = {"optimizer": "SGD", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "batch": 16, "epochs": 30,
          "lr_schedule": "x0.1 for the last third of the epochs", "channels": "rgb", "input_size": 256,
          "constraint": "after initialisation and every optimiser step",
          "constrained_lr": 0.1, "augment": True,
          "augmentation": "cyclic shifts of the input by random multiples of 8 in y and x",
          "evaluation_batchnorm": "statistics recomputed after every epoch over 128 training images (16 per model)",
          "initialisation": "constrained layer: uniform [0, 1) then the constraint; others: torch defaults",
          "selection": "best validation accuracy (ties: lower validation loss)",
          "validation": "whole scenes of defender-train held out (about 1/6 of its images)"}


def central_crop(images, size: int):
    """The central ``size`` x ``size`` window of ``[N, C, H, W]``, its corner moved down to a multiple
    of 8 (a view: differentiable)."""
    height, width = images.shape[-2:]
    if height < size or width < size:
        raise ValueError(f"{NAME}: images of {height}x{width} px are smaller than the network's input of {size} px")
    top, left = (height - size) // 2 // GRID * GRID, (width - size) // 2 // GRID * GRID
    return images[..., top:top + size, left:left + size]


def recalibrate(net, batches) -> None:
    """Replace the BatchNorm running statistics by their averages over ``batches`` (a pass in train mode
    without gradients: "precise BN"); the network is left in eval mode."""
    import torch

    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average
    net.train()
    with torch.no_grad():
        for batch in batches:
            net(batch)
    for norm in norms:
        norm.momentum = 0.1
    net.eval()


@register_detector("mislnet")
class MISLNetDetector(ShippedDetectorWeights, Detector):
    """Camera model by MISLnet, a CNN whose first layer learns prediction-error filters (Bayar & Stamm, TIFS 2018)."""

    task = "camera"
    differentiable = True
    device = "cpu"  # the runner sets it

    def __init__(self, weights: str = "simcam", weights_dir: str | None = None):
        if weights == "fit":
            raise ValueError(f"{NAME}: trained weights only (tag 'simcam'); train others with "
                             f"`spoc-bench train detector {NAME}`")
        self.weights, self.weights_dir = weights, weights_dir
        self._network = None

    # ------------------------------------------------------------------------------ weights
    def network(self):
        """The frozen network (eval mode) on ``device``."""
        if self._network is None:
            from spoc_bench.detectors._mislnet_net import MISLNet
            from spoc_bench.weights import load_weights

            state = load_weights("detector", NAME, self.weights, self.weights_dir)
            self._classes = unpack_classes(state.pop("meta.classes"))
            self._size = int(state.pop("meta.size"))
            self._network = MISLNet.from_state(state, self._size).requires_grad_(False).eval()
        return self._network.to(self.device)

    @property
    def classes(self) -> tuple[str, ...]:
        self.network()
        return self._classes

    @property
    def min_size(self) -> int:
        self.network()
        return self._size

    def fit(self, dataset: Dataset) -> "MISLNetDetector":
        return self  # trained weights; nothing is fitted on the benchmark's data

    def predict(self, images, containers: Sequence[Container] | None = None):
        return self.log_predict(images).exp()

    def log_predict(self, images, containers: Sequence[Container] | None = None):
        import torch

        net = self.network()
        pixels = central_crop(images.to(self.device, torch.float32), self._size)
        if net.channels == 1:
            pixels = pixels[:, 1:2]
        return net(pixels).float().log_softmax(dim=1)

    # ----------------------------------------------------------------------------- training
    @classmethod
    def train(cls, epochs: int = RECIPE["epochs"], seed: int = 0, tag: str = "simcam", out: str | None = None,
              channels: str = RECIPE["channels"], input_size: int = RECIPE["input_size"], root: str | None = None,
              size: int = SIMCAM["size"], views=SIMCAM["views"], crops_per_photo: int = SIMCAM["crops_per_photo"],
              max_steps: int | None = None, threads: int | None = None, augment: bool = RECIPE["augment"],
              constrained_lr: float = RECIPE["constrained_lr"], device: str = "cpu", precision: str = "fp32",
              log=print) -> list[Path]:
        """Train on simcam's defender-train (scenes held out for validation) and write the weights
        (``<out or detectors/weights>/mislnet-<tag>.safetensors``) and their manifest.

        ``channels``: ``rgb`` or ``green``; ``input_size``: the network's input size (central crops);
        ``root``/``size``/``views``/``crops_per_photo`` choose the simcam data (default: the default
        dataset in the cache); ``max_steps`` stops early (for tests); ``threads`` sets torch's CPU
        threads while training (the shipped weights: 1); ``precision`` the training steps' arithmetic
        (``spoc_bench/precision.py``; the shipped weights: fp32)."""
        import torch
        import torch.nn.functional as F

        from spoc_bench.detectors._mislnet_net import MISLNet
        from spoc_bench.precision import resolve

        precision = resolve(precision, device)

        if channels not in CHANNELS:
            raise ValueError(f"{NAME}: channels must be one of {', '.join(CHANNELS)}, got {channels!r}")
        started = time.perf_counter()
        dataset = training_data("simcam", root, size=size, views=tuple(views), crops_per_photo=crops_per_photo)
        pixels, classes, labels, held_out, is_val = training_split(dataset, seed)
        crops = central_crop(images_tensor(pixels), input_size)[:, list(CHANNELS[channels])].contiguous()  # uint8
        train_index, val_index = np.flatnonzero(~is_val), np.flatnonzero(is_val)
        log(f"{NAME}: {len(train_index)} training images, {len(val_index)} validation images of scenes "
            f"{held_out}; {len(classes)} models; input {input_size} px, {channels}")

        # BatchNorm statistics for evaluation: recomputed after every epoch over a fixed set of training
        # images, 16 per model (batches of 16 give running averages too noisy to evaluate with)
        rng = np.random.default_rng([seed, 5])
        recalibration = np.sort(np.concatenate([rng.permutation(train_index[labels[train_index].numpy() == k])[:16]
                                                for k in range(len(classes))]))

        def to_input(indices):
            return crops[torch.as_tensor(indices)].to(device).float() / 255

        generator = torch.Generator().manual_seed(seed)

        def epoch_batches(epoch):
            order = train_index[torch.randperm(len(train_index), generator=generator).numpy()]
            for start in range(0, len(order), RECIPE["batch"]):
                chosen = order[start:start + RECIPE["batch"]]
                batch = to_input(chosen)
                if augment:  # cyclic shifts by multiples of 8: the JPEG and CFA grids keep their phase
                    shifts = torch.randint(0, input_size // GRID, (len(chosen), 2), generator=generator) * GRID
                    batch = torch.stack([image.roll(tuple(shift.tolist()), dims=(-2, -1))
                                         for image, shift in zip(batch, shifts)])
                yield batch, labels[chosen].to(device)

        def validate():
            recalibrate(net, [to_input(recalibration[s:s + 32]) for s in range(0, len(recalibration), 32)])
            with torch.no_grad():
                logits = torch.cat([net(to_input(val_index[s:s + 32])).cpu() for s in range(0, len(val_index), 32)])
            return (float(F.cross_entropy(logits, labels[val_index])),
                    float((logits.argmax(1) == labels[val_index]).double().mean()),
                    {"constrained_max_abs": round(float(net.constrained.weight.detach().abs().max()), 4)})

        options = {"epochs": epochs, "seed": seed, "tag": tag, "channels": channels, "input_size": input_size,
                   "size": size, "views": list(views), "crops_per_photo": crops_per_photo, "max_steps": max_steps,
                   "threads": threads, "augment": augment, "constrained_lr": constrained_lr, "device": device,
                   "precision": precision}
        with deterministic(seed, threads):
            threads_used = torch.get_num_threads()
            net = MISLNet(len(classes), len(CHANNELS[channels]), input_size).to(device)
            constrained = list(net.constrained.parameters())
            others = [p for p in net.parameters() if all(p is not q for q in constrained)]
            optimiser = torch.optim.SGD([{"params": constrained, "scale": constrained_lr}, {"params": others, "scale": 1.0}],
                                        lr=RECIPE["lr"], momentum=RECIPE["momentum"], weight_decay=RECIPE["weight_decay"])
            kept = sgd_epochs(net, optimiser, epochs, epoch_batches, validate, NAME, log, started, max_steps,
                              after_step=lambda net: net.constrained.constrain(), precision=precision)
        seconds = time.perf_counter() - started
        state = {**kept.state, "meta.classes": pack_classes(classes), "meta.size": torch.tensor(input_size)}
        recipe = {**RECIPE, "epochs": epochs, "channels": channels, "input_size": input_size, "augment": augment,
                  "augmentation": RECIPE["augmentation"] if augment else "none",
                  "constrained_lr": constrained_lr, "precision": precision,
                  **({"max_steps": max_steps} if max_steps is not None else {})}
        manifest = {"recipe": recipe, "seed": seed, "data_version": data_version(dataset), "classes": list(classes),
                    "validation_scenes": held_out, "train_images": len(train_index),
                    "validation_images": len(val_index), "device": device, "torch": torch.__version__,
                    "threads": threads_used, "options": options, "training_seconds": round(seconds, 1),
                    **kept.manifest()}
        return save_and_test(cls, state, tag, manifest, Path(out) if out else None, dataset, device, log)
