"""Training, in one place: the training data (a dataset by name; by default simcam's camera images,
labelled defender-train with whole scenes held out for validation, its data version for the
manifests), seeded and deterministic training, the two loops the trained plugins run (Adam with a
cosine decay to 0 and an optional time budget, :func:`adam_cosine`; epochs of SGD on a classifier,
keeping the epoch of best validation, :func:`sgd_epochs`), and the measurement on defender-test
that is written into the manifest after training (reported, never used to choose). Each plugin's
recipe (its network, data, hyper-parameters) lives beside the plugin and calls these."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np

from .contracts import Dataset, Detector

if TYPE_CHECKING:
    import torch

SIMCAM = {"size": 256, "views": (48, 24, 24), "crops_per_photo": 4, "seed": 0}  # the default training data's config
VALIDATION_FRACTION = 1 / 6

TIMED_STEPS = (10, 40)  # a time budget sets the step count from these steps (after warm-up)


def adam_cosine(parameters, step_loss: Callable[[int], "torch.Tensor"], steps: int, lr: float, label: str,
                log, started: float | None = None, seconds: float | None = None, precision: str = "fp32") -> list[dict]:
    """Run ``steps`` optimiser steps on ``step_loss(step)`` (computed in ``precision``, bf16 or fp32);
    returns the history of mean losses (its last entry's ``step`` is the number of steps run). With
    ``seconds``, the loop times steps 10 to 40 and lowers ``steps`` to what fits in ``seconds`` of
    optimisation; the cosine then decays to 0 over that number (before, the decay is at most
    1 - cos(pi * 40 / steps), negligible)."""
    import torch

    from .precision import computing

    started = time.perf_counter() if started is None else started
    loop_started = time.perf_counter()
    parameters = list(parameters)
    device = parameters[0].device
    optimiser = torch.optim.Adam(parameters, lr=lr)
    total = [steps]
    cosine = lambda s: 0.5 * (1 + math.cos(math.pi * min(s / total[0], 1)))  # noqa: E731
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, cosine)
    history, recent, step, timer = [], [], 0, None
    while step < total[0]:
        if seconds and step == TIMED_STEPS[0]:
            timer = time.perf_counter()
        with computing(precision, device.type):
            loss = step_loss(step)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        recent = (recent + [loss.item()])[-50:]
        step += 1
        if seconds and step == TIMED_STEPS[1] < total[0]:
            per_step = (time.perf_counter() - timer) / (TIMED_STEPS[1] - TIMED_STEPS[0])
            remaining = seconds - (time.perf_counter() - loop_started)
            total[0] = min(steps, max(step, step + int(remaining / per_step)))
            log(f"{label}: {per_step * 1000:.1f} ms per step; {total[0]} steps fit in {seconds:.0f} s")
        if step % 50 == 0 or step == total[0]:
            history.append({"step": step, "loss": round(float(np.mean(recent)), 4)})
            log(f"{label}: step {step}/{total[0]}, loss {np.mean(recent):.4f} ({time.perf_counter() - started:.0f} s)")
    return history


@dataclass
class Kept:
    """What :func:`sgd_epochs` kept: the weights of the epoch of best validation, and the history."""

    state: dict
    epoch: int
    accuracy: float
    loss: float
    history: list[dict]

    def manifest(self) -> dict:
        return {"best_epoch": self.epoch, "final_validation_accuracy": round(self.accuracy, 5),
                "final_validation_loss": round(self.loss, 5), "history": self.history}


def sgd_epochs(net, optimiser, epochs: int, batches: Callable[[int], Iterable], validate: Callable[[], tuple],
               label: str, log, started: float, max_steps: int | None = None, after_step=None,
               precision: str = "fp32") -> Kept:
    """Train a classifier ``epochs`` times over ``batches(epoch)`` (``(inputs, labels)`` pairs) with
    cross-entropy; each parameter group's lr is its lr at the start times its ``scale`` (1 where
    none), divided by 10 for the last third of the epochs. After every epoch ``validate()`` gives
    (loss, accuracy, other figures for the history); the epoch of best validation accuracy is kept
    (ties: lower loss). ``after_step(net)`` runs after each optimiser step (a constraint);
    ``max_steps`` stops early (tests). The steps compute in ``precision`` (bf16 or fp32); the
    validation in float32."""
    import torch.nn.functional as F

    from .precision import computing, memory_format

    base = [group["lr"] for group in optimiser.param_groups]
    decay_from = epochs - epochs // 3
    history, kept, steps = [], None, 0
    for epoch in range(epochs):
        for group, lr in zip(optimiser.param_groups, base):
            group["lr"] = lr * group.get("scale", 1.0) * (0.1 if epoch >= decay_from else 1.0)
        net.train()
        losses = []
        for inputs, labels in batches(epoch):
            with computing(precision, inputs.device.type):
                loss = F.cross_entropy(net(memory_format(inputs, precision)), labels)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            if after_step:
                after_step(net)
            losses.append(loss.item())
            steps += 1
            if max_steps is not None and steps >= max_steps:
                break
        val_loss, val_acc, figures = validate()
        record = {"epoch": epoch + 1, "train_loss": round(float(np.mean(losses)), 5), "val_loss": round(val_loss, 5),
                  "val_acc": round(val_acc, 5), **figures}
        history.append(record)
        others = "".join(f", {key} {value}" for key, value in figures.items())
        log(f"{label}: epoch {epoch + 1}/{epochs}: train loss {record['train_loss']:.4f}, validation loss "
            f"{val_loss:.4f}, accuracy {val_acc:.3f}{others} ({time.perf_counter() - started:.0f} s)")
        if kept is None or (val_acc, -val_loss) > (kept.accuracy, -kept.loss):
            kept = Kept({k: v.detach().cpu().clone() for k, v in net.state_dict().items()}, epoch + 1, val_acc,
                        val_loss, history)
        if max_steps is not None and steps >= max_steps:
            break
    return kept


def training_data(name: str = "simcam", root: str | None = None, **options) -> Dataset:
    """The dataset a recipe trains on, built by name through the registry; for simcam its camera
    images only unless ``generators`` is given (detectors of camera models never see a generator),
    rendered on one worker where a ``root`` is given (a test's small copy)."""
    from .registry import datasets

    if name == "simcam":
        options = {"generators": (), "workers": 1 if root else 2, **options}
    return datasets.build(name, root=root, **options)


def data_version(dataset) -> dict:
    config = dataset.config()
    config.pop("root", None)
    return {"name": dataset.folder.name, "config": config}


def read_split(dataset: Dataset, split: str):
    """``(pixels uint8 [N, H, W, 3] list, cameras, scenes, containers)`` of the split's real images."""
    samples = [s for s in dataset.samples(split) if s.source == "real" and s.camera]
    items = list(dataset.items(samples))
    if not items:
        raise ValueError(f"no real images with a camera in split {split!r} of {dataset.name!r}")
    return ([i.pixels for i in items], [i.sample.camera for i in items], [i.sample.scene for i in items],
            [i.container for i in items])


def training_split(dataset: Dataset, seed: int):
    """defender-train's real images for training a camera classifier: ``(pixels, classes, labels
    tensor, held-out scenes, is-validation mask)``, whole scenes held out by ``seed``."""
    import torch

    pixels, cameras, scenes, _ = read_split(dataset, "defender-train")
    classes = tuple(sorted(set(cameras)))
    held_out = validation_scenes(scenes, seed)
    is_val = np.array([s in held_out for s in scenes])
    return pixels, classes, torch.tensor([classes.index(c) for c in cameras]), held_out, is_val


def validation_scenes(scenes: Sequence[str], seed: int, fraction: float = VALIDATION_FRACTION) -> list[str]:
    """Whole scenes drawn (by ``seed``) until they hold ``fraction`` of the images; at least one scene
    is held out and at least one is left for training."""
    counts: dict[str, int] = {}
    for scene in scenes:
        counts[scene] = counts.get(scene, 0) + 1
    if len(counts) < 2:
        raise ValueError("validation needs images of at least two scenes in defender-train")
    order = np.random.default_rng([seed, 17]).permutation(sorted(counts))
    chosen, held = [], 0
    for scene in order[:-1]:
        if chosen and held >= fraction * len(scenes):
            break
        chosen.append(str(scene))
        held += counts[scene]
    return sorted(chosen)


def images_tensor(pixels: Sequence[np.ndarray]):
    """uint8 ``[N, 3, H, W]`` (same-sized images)."""
    import torch

    return torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).contiguous()


class deterministic:
    """Context: seeded torch, deterministic algorithms, ``threads`` CPU threads where given (restored on
    exit). On a CPU the result can still depend on the number of threads (the order of the sums in
    the convolutions), so the manifest records it."""

    def __init__(self, seed: int, threads: int | None = None):
        self.seed, self.threads = seed, threads

    def __enter__(self):
        import torch

        self.previous = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
        torch.manual_seed(self.seed)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
        # warn_only: some CUDA backward passes (pooling) have no deterministic kernel; a GPU run is
        # then repeatable only up to them (the manifest records the device)
        torch.use_deterministic_algorithms(True, warn_only=True)
        if self.threads:
            torch.set_num_threads(self.threads)
        return self

    def __exit__(self, *exc):
        import torch

        torch.use_deterministic_algorithms(self.previous[0])
        torch.set_num_threads(self.previous[1])


def accuracy(probabilities, cameras: Sequence[str], classes: Sequence[str]) -> float:
    predicted = [classes[i] for i in probabilities.argmax(dim=1).tolist()]
    return float(np.mean([p == c for p, c in zip(predicted, cameras)]))


def defender_test_accuracy(detector: Detector, dataset: Dataset, batch: int = 16) -> tuple[float, int]:
    """Accuracy of ``detector`` on the split ``defender-test`` (measured after training, reported only)."""
    import torch

    from .images import to_tensor

    pixels, cameras, _, containers = read_split(dataset, "defender-test")
    outputs = []
    with torch.no_grad():
        for start in range(0, len(pixels), batch):
            outputs.append(detector.predict(to_tensor(pixels[start:start + batch]), containers[start:start + batch]))
    return accuracy(torch.cat(outputs), cameras, detector.classes), len(pixels)


def save_and_test(cls, state: dict, tag: str, manifest: dict, folder: Path | None, dataset: Dataset, device: str,
                  log) -> list[Path]:
    """Save trained weights, then measure them once on defender-test (recorded, never used to choose)."""
    from .weights import save_weights

    path = save_weights(state, "detector", cls.name, tag, manifest, folder)
    detector = trained_detector(cls.name, path, device)
    test_acc, test_n = defender_test_accuracy(detector, dataset)
    manifest.update(defender_test_accuracy=round(test_acc, 5), defender_test_images=test_n)
    log(f"{cls.name}: validation accuracy {manifest['final_validation_accuracy']:.3f} (epoch {manifest['best_epoch']}), "
        f"defender-test accuracy {test_acc:.3f} ({test_n} images), {manifest['training_seconds']:.0f} s of training")
    write_manifest(path, manifest)
    return [path, path.with_suffix(".json")]


def trained_detector(name: str, path: Path, device: str, **params) -> Detector:
    """The detector ``name`` with the weights just written to ``path``, on ``device``."""
    from .registry import detectors

    return detectors.build_spec(f"{name}:{path.stem.removeprefix(name + '-')}", device, weights_dir=str(path.parent),
                                **params)


def write_manifest(path: Path, manifest: dict) -> None:
    """Add the post-training measurements to the manifest :func:`save_weights` wrote (same file hash)."""
    from .images import atomic_write

    record = json.loads(path.with_suffix(".json").read_text())
    record.update(manifest)
    atomic_write(path.with_suffix(".json"), json.dumps(record, indent=2, default=str).encode())
