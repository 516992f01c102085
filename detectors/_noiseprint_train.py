"""Siamese training of the Noiseprint network on simcam's defender-train (the ``simcam`` weights tag).

The recipe of Cozzolino & Verdoliva (TIFS 2020, Sec. III): a batch holds groups of patches; two
patches are a positive pair when they come from the same camera model *and* the same position in
the frame, negative otherwise. With r_i the network's output on patch i and d_ij the mean squared
difference of r_i and r_j, the distance-based logistic loss is

    L = - sum_i log( sum_{j positive for i} exp(-d_ij) / sum_{j != i} exp(-d_ij) ),

so every patch is pulled towards its positives and pushed from all others at once. Here a batch
draws ``positions`` positions (corners on the 8x8 JPEG grid, so JPEG and CFA phases agree), and at
each position ``per_model`` images of every camera model; the distances use the output without a
``margin`` of ``margin`` pixels (the zero padding's border). Choices that differ from the paper,
for a CPU: training starts from the default initialisation (the paper starts from a DnCNN
denoiser, which this project has no weights of), and one network serves every JPEG quality (simcam's
cameras save at their own qualities; the network learns on those files), stored as the network of
quality 101.

What was tried (one CPU thread, losses are running means over 50 steps): 2 positions x 2 images per
model at lr 1e-3 stayed at the chance loss (log 31 = 3.43) for 100 steps, as did outputs scaled by
10 for 80 steps and, after 100 steps of DnCNN-style denoiser pre-training, lr 1e-4 for 50 steps. One
position x 4 images per model (3 positives per patch) at lr 3e-4 left chance (log 31/3 = 2.34) at
once and went on falling: 2.28 after 50 steps, 1.71 after 550, 1.50 after 1,200 (2,707 s; defender-test
accuracy 0.464). That is the default recipe. On a GPU (13-17 ms per step on an H200) the loss went on
slowly to 1.32 at 5,000 steps, then dropped to 0.85 at 6,000 and 0.39 at 17,000: 17,624 steps gave
0.854, and 22,303 steps (``-o steps=60000 -o seconds=290 --device cuda``), the shipped ``simcam``
weights, 0.938.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from spoc_bench.detectors._noiseprint_net import NoiseprintNet
from spoc_bench.training import (adam_cosine, data_version, defender_test_accuracy, deterministic, read_split,
                                 trained_detector, write_manifest)

RECIPE = {"steps": 1200, "patch": 48, "margin": 8, "positions": 1, "per_model": 4, "optimizer": "Adam", "lr": 3e-4,
          "lr_schedule": "cosine to 0", "loss": "distance-based logistic (Cozzolino & Verdoliva 2020)",
          "init": "PyTorch default (no denoiser pre-training)", "qualities": "one network for all (stored as 101)"}
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32) / 256


def siamese_loss(outputs: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """The distance-based logistic loss of ``outputs`` ``[B, D]`` whose rows share a group when positive."""
    distances = torch.cdist(outputs, outputs).square() / outputs.shape[1]
    eye = torch.eye(len(outputs), dtype=torch.bool, device=outputs.device)
    log_p = (-distances).masked_fill(eye, float("-inf")).log_softmax(dim=1)
    positive = (groups[:, None] == groups[None, :]) & ~eye
    return -log_p.masked_fill(~positive, float("-inf")).logsumexp(dim=1).mean()


def chance_loss(models: int, recipe: dict) -> float:
    """The loss of outputs that tell nothing apart: each positive gets 1 / (batch - 1)."""
    batch = models * recipe["positions"] * recipe["per_model"]
    return float(np.log((batch - 1) / (recipe["per_model"] - 1)))


def sample_batch(luma: list[np.ndarray], by_model: list[np.ndarray], recipe: dict, rng: np.random.Generator):
    """Patches ``[B, 1, patch, patch]`` and their group (position x model) ids."""
    size = recipe["patch"]
    height = min(y.shape[0] for y in luma)
    width = min(y.shape[1] for y in luma)
    patches, groups = [], []
    for position in range(recipe["positions"]):
        top = rng.integers(0, (height - size) // 8 + 1) * 8
        left = rng.integers(0, (width - size) // 8 + 1) * 8
        for model, members in enumerate(by_model):
            for index in rng.choice(members, recipe["per_model"], replace=False):
                patches.append(luma[index][top:top + size, left:left + size])
                groups.append(position * len(by_model) + model)
    return torch.from_numpy(np.stack(patches))[:, None], torch.tensor(groups)


def train(dataset, steps: int, seed: int, tag: str, threads: int | None, device: str, log,
          seconds: float | None = None, precision: str = "fp32", **changes) -> tuple[dict, dict]:
    """Train on ``dataset``'s defender-train (``changes``: recipe entries; ``seconds``: a time budget
    that can lower ``steps``; ``precision``: the steps' arithmetic); returns (arrays, manifest)."""
    from spoc_bench.precision import resolve

    unknown = sorted(set(changes) - {"patch", "margin", "positions", "per_model", "lr"})
    if unknown:
        raise ValueError(f"noiseprint: unknown recipe entries {unknown}")
    started = time.perf_counter()
    recipe = {**RECIPE, **changes, "steps": steps, "precision": resolve(precision, device)}
    if recipe["per_model"] < 2 or recipe["patch"] <= 2 * recipe["margin"]:
        raise ValueError("noiseprint: per_model must be >= 2 (positives) and patch larger than twice the margin")
    pixels, cameras, _, _ = read_split(dataset, "defender-train")
    classes = sorted(set(cameras))
    luma = [(p.astype(np.float32) @ LUMA) for p in pixels]
    by_model = [np.flatnonzero(np.array(cameras) == c) for c in classes]
    rng = np.random.default_rng(seed)
    margin = recipe["margin"]
    with deterministic(seed, threads):
        threads_used = torch.get_num_threads()
        net = NoiseprintNet().to(device).train()

        def step_loss(step):
            patches, groups = sample_batch(luma, by_model, recipe, rng)
            outputs = net(patches.to(device))[..., margin:-margin, margin:-margin].flatten(1)
            return siamese_loss(outputs, groups.to(device))

        history = adam_cosine(net.parameters(), step_loss, steps, recipe["lr"], f"noiseprint {tag}", log, started,
                              seconds, recipe["precision"])
    recipe["steps"] = history[-1]["step"]
    if seconds:
        recipe["time_budget_s"] = seconds
    manifest = {"recipe": recipe, "seed": seed, "data_version": data_version(dataset), "split": "defender-train",
                "classes": classes, "train_images": len(pixels), "device": device, "torch": torch.__version__,
                "threads": threads_used, "training_seconds": round(time.perf_counter() - started, 1),
                "history": history, "chance_loss": round(chance_loss(len(classes), recipe), 4)}
    return net.eval().to_arrays(), manifest


def save_and_test(arrays: dict, manifest: dict, tag: str, out: str | None, dataset, device: str, log) -> list[Path]:
    """Write the weights and measure them once on defender-test (fingerprints from defender-train, on
    central windows of 256 px or the images' size where smaller)."""
    from spoc_bench.weights import save_weights

    path = save_weights({k: torch.as_tensor(v) for k, v in arrays.items()}, "detector", "noiseprint", tag,
                        manifest, out)
    crop = min(256, dataset.size // 8 * 8)
    detector = trained_detector("noiseprint", path, device, crop=crop)
    detector.fit(dataset)
    accuracy, n = defender_test_accuracy(detector, dataset)
    manifest.update(defender_test_accuracy=round(accuracy, 5), defender_test_images=n, defender_test_crop=crop)
    write_manifest(path, manifest)
    log(f"noiseprint {tag}: defender-test accuracy {accuracy:.3f} ({n} images)")
    return [path, path.with_suffix(".json")]
