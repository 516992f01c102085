"""SpoC (Cozzolino, Thies, Rössler, Nießner, Verdoliva, CVPR Workshops 2021, arXiv 1911.12069):
a GAN that inserts the traces of one chosen camera model into a synthetic image, so that camera-model
identifiers name that camera and synthetic-image detectors call it real, without any knowledge of
the detectors: only sample images of the target camera.

Networks (``attacks/_spoc_nets.py``):

- a **generator** that writes no texture of its own. For every input it is handed two signals: the
  input's finest band (the input minus a 1-px Gaussian low-pass: where up-sampling leaves its
  traces) and the target camera's finest band for the same place, block by block the residual of
  the target's sample image whose content looks most alike (``trace-transplant``'s search: the
  camera's own demosaicing, noise, sharpening and save for similar content). Five full-resolution
  3x3 convolutions over the input and both signals give, per 16x16 block and colour channel, the
  share of the input's band to take away and of the camera's to add; in training the change is
  scaled down, image by image, to a mean square of at most ``budget_psnr`` (35 dB before the save).
  At attack time each change is scaled instead so that the file, saved as the target saves, lies
  ``psnr`` dB from its input (default 32, the quality bound SpoC is held to: spent in full and never
  crossed by any image; :func:`at_psnr`). Content is kept by that hard budget rather than by a content loss. Gains
  on a coarse grid can only allocate the budget between regions and between removing and adding;
  they cannot draw a pattern that only the attacker's surrogates take for the camera;
- a **discriminator**: the target camera's real patches against generated ones (both as saved
  files), on high-passed patches, spectrally normalised, PatchGAN logits averaged;
- the attacker's **surrogates**, trained once, offline, on the attacker's own images (the
  ``attacker`` split: other devices and scenes than any detector saw): the 512-d **embedder** of the
  paper (a strided CNN on high-passed patches whose penultimate layer is the camera feature) and a
  **constrained** classifier (Bayar & Stamm's prediction-error first layer, a small CNN).

Every loss judges what the target camera's file would hold: the generator's output goes through a
differentiable stand-in of the save (``attacks/_diffjpeg.py``: 8-bit samples, the target's JPEG tables
and chroma subsampling, libjpeg's chroma interpolation; straight-through rounding). The generator
minimises camera (1 - cosine to the target's mean embedding, plus the cross-entropy of both
surrogates towards the target, halved; x1) + residual spectrum (L1 between the log power spectra of
the batch's high-passed luminance and of the target's images; x1) + non-saturating adversarial loss
(x0.1); Adam 1e-3 (0.5, 0.999) with a cosine decay, batches of 16 80-px crops of the attacker's
synthetic images whose 64-px centre, on the 16-px grid, is all the losses see (so no crop border is
in view), 225 steps. The JPEG tables and subsampling are the target's most common ones among its
sample images (``saves_like_target``: the attack's output is saved with them).

**Attacker-side validation** (nothing of the defender): every 4th scene of the attacker's split (every
4th file where scenes are unknown) is held out of training; before training and every
``validate_every`` steps the held-out inputs go whole through the generator and the real save, and the manifest records the share of them that
each surrogate, and a ``PhaseJudge`` that is in no loss (a logistic regression on residual
statistics per 8x8 grid position, fitted on the attacker's real images), attribute to the target,
with the PSNR. The generator kept is the checkpoint that the attacker ranks first by :func:`score`:
the quality bound ``min_psnr`` first, then the phase judge (the model in no loss), then the
surrogates.

Knowledge: ``target_samples`` only, for the camera residuals (at attack time, the images the runner
hands it; in training, the target's images in the attacker split). The runner hands a black-box
attack no detector, and training reads the ``attacker`` split alone. Weights: ``spoc-bench train
attack spoc [-o target=NAME]`` trains the surrogates when missing, then one generator per target
(every camera when none is named); stored as ``spoc-<dataset>-<target>.safetensors`` (and
``-embedder``, ``-constrained``) with manifests, in ``attacks/weights/`` for simcam (shipped) and in
the cache's ``weights/spoc/`` for a user's dataset (``--dataset dresden``; a camera dataset's
synthetic inputs come from its ``synthetic_root`` folder); the tag to run is the dataset's name
(``--attack spoc:dresden``). The configurations tried, with their attacker-side figures, are in
``docs/spoc-ablation.md``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from spoc_bench.contracts import Attack, Item, typical_container
from spoc_bench.registry import register_attack
from spoc_bench.weights import (WeightsNotFoundError, load_weights, local_weights_dir, save_weights, verified_sha256,
                                weights_path)

RECIPE = {"steps": 225, "batch": 16, "crop": 80, "margin": 8, "lr": 1e-3, "betas": (0.5, 0.999), "embedding": 1.0,
          "spectrum": 1.0, "adversarial": 0.1, "width": 32, "layers": 5, "period": 0, "cell": 16, "budget_psnr": 35.0,
          "validate_every": 75, "min_psnr": 32.0}
EMBEDDER_RECIPE = {"steps": 2000, "batch": 32, "crop": 64, "lr": 1e-3, "dim": 512, "width": 32}
SURROGATE_RECIPE = {"steps": 800, "batch": 64, "crop": 64, "lr": 1e-3, "width": 48, "filters": 6}
SHIPPED_DATASETS = ("simcam",)  # generators for other datasets' cameras go to the cache, not the package
VALIDATION_EVERY = 4  # every 4th of the attacker's scenes (sorted) is held out of generator training


@register_attack("spoc")
class SpoC(Attack):
    """SpoC (Cozzolino et al. 2021): a GAN injecting the target camera's traces; black-box, needs target samples."""

    threat_model = "black-box"
    needs = frozenset({"target_samples"})
    saves_like_target = True

    def __init__(self, weights: str = "simcam", weights_dir: str | None = None, psnr: float | None = 32.0,
                 device: str = "cpu"):
        self.weights, self.weights_dir, self.psnr, self.device = weights, weights_dir, psnr, device

    def weights_file(self, target: str) -> Path:
        """The generator for ``target``: in ``weights_dir`` when given, else shipped, else among the
        generators trained on the user's own data (:func:`~spoc_bench.weights.local_weights_dir`)."""
        tag = f"{self.weights}-{target}"
        if self.weights_dir:
            return weights_path("attack", "spoc", tag, self.weights_dir)
        shipped = weights_path("attack", "spoc", tag)
        return shipped if shipped.exists() else weights_path("attack", "spoc", tag, local_weights_dir("spoc"))

    def weights_id(self, target: str) -> str:
        path = self.weights_file(target)
        return verified_sha256(path) if path.exists() else "missing"

    def fit(self, target: str, target_samples: Sequence[Item] = (), **knowledge) -> "SpoC":
        from ._spoc_nets import Generator
        from .trace_transplant import TraceTransplant

        super().fit(target, target_samples)
        path = self.weights_file(target)
        if not path.exists():
            raise WeightsNotFoundError(
                f"spoc: no generator {path.name} for target {target!r} (weights tag {self.weights!r}; looked in "
                f"{path.parent}). Train one on the dataset that holds the target with `spoc-bench train attack "
                f"spoc --dataset NAME --data-root DIR -o target={target}` and run it as --attack spoc:NAME")
        state = load_weights("attack", "spoc", f"{self.weights}-{target}", path.parent)
        self.generator_ = Generator.from_state(state).eval().to(self.device)
        self.traces_ = TraceTransplant().fit(target, target_samples)
        return self

    def forward(self, images):
        import torch

        signals = torch.stack([camera_signals(self.traces_, image.permute(1, 2, 0).double().numpy()) for image in images])
        outputs = self.generator_(*signals.to(self.device).split(3, dim=1)).cpu()
        if self.psnr is None:
            return outputs
        return torch.stack([at_psnr(image, output, self.target_container, self.psnr)
                            for image, output in zip(images, outputs)])

    @classmethod
    def train(cls, target: str | None = None, dataset: str = "simcam", dataset_options: dict | None = None,
              steps: int = RECIPE["steps"], batch: int = RECIPE["batch"], lr: float = RECIPE["lr"],
              budget_psnr: float = RECIPE["budget_psnr"], adversarial: float = RECIPE["adversarial"],
              embedding: float = RECIPE["embedding"], spectrum: float = RECIPE["spectrum"],
              validate_every: int = RECIPE["validate_every"],
              embedder_steps: int = EMBEDDER_RECIPE["steps"], surrogate_steps: int = SURROGATE_RECIPE["steps"],
              threads: int | None = None, seed: int = 0, out: str | None = None, device: str = "cpu",
              precision: str = "fp32", log=print) -> list:
        """Train the attacker's surrogates (when missing) and one generator per target, from the
        attacker split alone. They are written to ``out``; by default beside the plugin for simcam
        (shipped) and to the cache's ``weights/spoc`` for any other dataset (the user's own data),
        where :meth:`weights_file` finds them. ``precision``: the arithmetic of the networks' training
        steps (``spoc_bench/precision.py``; the save's stand-in and the spectrum stay in float32; the
        shipped weights: fp32)."""
        import torch

        import spoc_bench
        from spoc_bench.precision import resolve

        precision = resolve(precision, device)

        if threads:
            torch.set_num_threads(threads)
        if out is None and dataset not in SHIPPED_DATASETS:
            out = str(local_weights_dir("spoc"))
        data = spoc_bench.build_dataset(dataset, **(dataset_options or {}))
        data.prepare()
        attacker = list(data.items(data.samples("attacker")))
        real = [i for i in attacker if i.sample.source == "real"]
        synthetic = [i for i in attacker if i.sample.source == "synthetic"]
        cameras = sorted({i.sample.camera for i in real})
        targets = [target] if target else cameras
        unknown = sorted(set(targets) - set(cameras))
        if unknown:
            raise ValueError(f"spoc: unknown target(s) {unknown}; cameras of {dataset}'s attacker split: {cameras}")
        if not synthetic:
            raise ValueError(f"spoc: {dataset}'s attacker split holds no synthetic images to learn from; a camera "
                             "dataset takes them from a folder of generated images with the dataset option "
                             "synthetic_root=DIR (`spoc-bench train attack spoc --dataset-opt synthetic_root=DIR`)")
        context = {"dataset": dataset, "config": data.config(), "seed": seed, "out": out, "device": device, "log": log}
        written = []
        if not weights_path("attack", "spoc", f"{dataset}-embedder", out).exists():
            written.append(train_embedder(real, cameras, embedder_steps, **context, precision=precision))
        if not weights_path("attack", "spoc", f"{dataset}-constrained", out).exists():
            written.append(train_constrained(real, cameras, surrogate_steps, **context, precision=precision))
        surrogates = load_surrogates(dataset, len(cameras), out, device)
        recipe = {**RECIPE, "steps": steps, "batch": batch, "lr": lr, "budget_psnr": budget_psnr, "adversarial": adversarial,
                  "embedding": embedding, "spectrum": spectrum, "validate_every": validate_every, "precision": precision}
        from tqdm import tqdm

        # the bar's estimate of the time left is what the generators trained so far took
        for name in tqdm(targets, desc="spoc: generators", unit="target", file=sys.stderr, disable=None):
            written.append(train_generator(surrogates, cameras, name, real, synthetic, recipe, **context))
        return written


# --------------------------------------------------------------------------- attacker-side surrogates
def train_classifier(model, real: list[Item], cameras: list[str], recipe: dict, label: str, after_step=None,
                     seed: int = 0, device: str = "cpu", log=print) -> tuple[object, float, float]:
    """Train a camera-model classifier on grid-aligned crops of the attacker's real images, classes
    balanced in every batch (steps in ``recipe["precision"]``); returns it with its final patch
    accuracy and training time."""
    import torch
    import torch.nn.functional as F

    from spoc_bench.precision import computing

    from ._spoc_nets import grid_crops

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    by_camera = [[i.pixels for i in real if i.sample.camera == c] for c in cameras]
    model = model.to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    started, recent = time.perf_counter(), []
    per_class = max(1, recipe["batch"] // len(cameras))
    labels = torch.arange(len(cameras), device=device).repeat_interleave(per_class)
    for step in range(recipe["steps"]):
        crops = torch.cat([grid_crops(images, per_class, recipe["crop"], rng) for images in by_camera]).to(device)
        with computing(recipe["precision"], device):
            logits = model(crops)
            loss = F.cross_entropy(logits, labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if after_step:
            after_step(model)
        recent = (recent + [(logits.argmax(1) == labels).float().mean().item()])[-100:]
        if (step + 1) % 250 == 0:
            log(f"{label}: step {step + 1}/{recipe['steps']}, loss {loss.item():.3f}, patch accuracy {np.mean(recent):.3f}")
    return model.eval(), float(np.mean(recent)), time.perf_counter() - started


def train_embedder(real, cameras, steps, dataset, config, seed, out, device, log, precision="fp32"):
    from ._spoc_nets import Embedder

    recipe = {**EMBEDDER_RECIPE, "steps": steps, "precision": precision}
    model = Embedder(len(cameras), recipe["dim"], recipe["width"])
    model, accuracy, seconds = train_classifier(model, real, cameras, recipe, "embedder", seed=seed, device=device, log=log)
    manifest = {"recipe": recipe, "classes": cameras, "data": {"dataset": dataset, "split": "attacker", **config},
                "training_seconds": round(seconds, 1), "device": device, "final_patch_accuracy": round(accuracy, 4),
                "seed": seed}
    return save_weights(model.state_dict(), "attack", "spoc", f"{dataset}-embedder", manifest, out)


def train_constrained(real, cameras, steps, dataset, config, seed, out, device, log, precision="fp32"):
    from ._spoc_nets import ConstrainedSurrogate

    recipe = {**SURROGATE_RECIPE, "steps": steps, "precision": precision}
    model = ConstrainedSurrogate(len(cameras), recipe["width"], recipe["filters"])
    model, accuracy, seconds = train_classifier(model, real, cameras, recipe, "constrained surrogate",
                                                after_step=lambda m: m.constrained.constrain(),
                                                seed=seed, device=device, log=log)
    manifest = {"recipe": recipe, "classes": cameras, "data": {"dataset": dataset, "split": "attacker", **config},
                "training_seconds": round(seconds, 1), "device": device, "final_patch_accuracy": round(accuracy, 4),
                "seed": seed}
    return save_weights(model.state_dict(), "attack", "spoc", f"{dataset}-constrained", manifest, out)


SURROGATES = {"embedder": (train_embedder, EMBEDDER_RECIPE), "constrained": (train_constrained, SURROGATE_RECIPE)}


def train_surrogate(name: str, dataset: str = "simcam", dataset_options: dict | None = None, steps: int | None = None,
                    seed: int = 0, out: str | None = None, device: str = "cpu", precision: str = "fp32",
                    log=print) -> list:
    """Train (or retrain) one of the attacker's surrogates, ``embedder`` or ``constrained``, on
    ``dataset``'s attacker split: ``spoc-bench train surrogate NAME``. Written where SpoC's weights go
    (beside the plugin for simcam, else the cache's ``weights/spoc``), where SpoC, MISLGAN and the
    transfer attacks load them; generators trained against the previous file keep working but were
    not trained against this one."""
    import spoc_bench

    if name not in SURROGATES:
        raise ValueError(f"unknown surrogate {name!r}; the attacker's surrogates are {', '.join(SURROGATES)}")
    if out is None and dataset not in SHIPPED_DATASETS:
        out = str(local_weights_dir("spoc"))
    data = spoc_bench.build_dataset(dataset, **(dataset_options or {}))
    data.prepare()
    real = [i for i in data.items(data.samples("attacker")) if i.sample.source == "real"]
    cameras = sorted({i.sample.camera for i in real})
    if len(cameras) < 2:
        raise ValueError(f"surrogate {name}: {dataset}'s attacker split has real images of {len(cameras)} camera(s); "
                         "a camera classifier needs two or more")
    trainer, recipe = SURROGATES[name]
    from spoc_bench.precision import resolve

    return [trainer(real, cameras, steps or recipe["steps"], dataset, data.config(), seed, out, device, log,
                    resolve(precision, device))]


def load_surrogates(dataset: str, classes: int, folder, device: str) -> dict:
    """The attacker's frozen camera classifiers: ``embedder`` and ``constrained``."""
    from ._spoc_nets import ConstrainedSurrogate, Embedder

    models = {"embedder": Embedder(classes, EMBEDDER_RECIPE["dim"], EMBEDDER_RECIPE["width"]),
              "constrained": ConstrainedSurrogate(classes, SURROGATE_RECIPE["width"], SURROGATE_RECIPE["filters"])}
    for name, model in models.items():
        model.load_state_dict(load_weights("attack", "spoc", f"{dataset}-{name}", folder))
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        models[name] = model.eval().to(device)
    return models


# --------------------------------------------------------------------------------- the generator
def validation_unit(item: Item) -> str:
    """What the attacker's validation holds out whole: a scene (with every view of it), or the file
    where scenes are unknown (a folder of generated images)."""
    return item.sample.scene or item.sample.id


def held_out(scene: str, scenes: list[str]) -> bool:
    """Whether a scene's inputs are kept for the attacker's validation (every 4th scene, sorted)."""
    return len(scenes) > 1 and scenes.index(scene) % VALIDATION_EVERY == 0


def train_generator(surrogates: dict, cameras: list[str], target: str, real: list[Item], synthetic: list[Item],
                    recipe: dict, dataset: str, config: dict, seed: int, out, device: str, log):
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from spoc_bench.precision import computing

    from ._diffjpeg import DiffJpeg
    from ._spoc_nets import Discriminator, Generator, grid_crops
    from .trace_transplant import TraceTransplant

    torch.manual_seed(seed)
    target_index = cameras.index(target)
    rng = np.random.default_rng([seed, target_index])
    target_items = [i for i in real if i.sample.camera == target]
    target_pixels = [i.pixels for i in target_items]
    container = typical_container([i.container for i in target_items])
    save = (DiffJpeg(container.qtables, container.subsampling) if container.is_jpeg else torch.nn.Identity()).to(device)
    scenes = sorted({validation_unit(i) for i in synthetic})
    traces = TraceTransplant().fit(target, target_items)
    with_signals = [(i, camera_signals(traces, i.pixels / 255.0)) for i in
                    tqdm(synthetic, desc=f"spoc {target}: camera residuals", unit="image", file=sys.stderr,
                         mininterval=2, disable=None)]
    inputs = [signals.permute(1, 2, 0).mul(255).numpy() for i, signals in with_signals
              if not held_out(validation_unit(i), scenes)]
    validation = [i for i in synthetic if held_out(validation_unit(i), scenes)] or synthetic
    signals_of = {i.sample.id: signals for i, signals in with_signals}
    judge = PhaseJudge(real, cameras)

    generator = Generator(recipe["layers"], recipe["width"], recipe["period"], 10 ** (-recipe["budget_psnr"] / 10),
                          recipe["cell"]).to(device)
    discriminator = Discriminator(recipe["width"]).to(device)
    options = {"lr": recipe["lr"], "betas": recipe["betas"]}
    g_optimiser = torch.optim.Adam(generator.parameters(), **options)
    d_optimiser = torch.optim.Adam(discriminator.parameters(), **options)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(g_optimiser, recipe["steps"])
    embedder, constrained = surrogates["embedder"], surrogates["constrained"]
    margin, batch = recipe["margin"], recipe["batch"]
    # the largest crop whose centre can start on the 16-px grid inside every image
    size = min([recipe["crop"]] + [(min(p.shape[:2]) - 16 + margin) // 16 * 16 for p in inputs + target_pixels])
    if size - 2 * margin < 16:
        raise ValueError(f"spoc: images of {size} px are too small to train on (crops of {recipe['crop']} px, "
                         f"{margin} px margins)")
    with torch.no_grad():
        reference = embedder.embedding(grid_crops(target_pixels, 128, size - 2 * margin, rng).to(device)).mean(0, keepdim=True)
    centre = slice(margin, size - margin)
    target_spectrum = residual_spectrum(torch.cat([grid_crops(target_pixels, 64, size - 2 * margin, rng, grid=16)
                                                   for _ in range(4)]).to(device)).detach()
    labels = torch.full((batch,), target_index, device=device)
    started, history, checks, best = time.perf_counter(), [], [], None

    def checkpoint(step: int):
        """Validate on the attacker's held-out inputs; keep the generator if the attacker ranks it first."""
        nonlocal best
        losses = dict(zip(("camera_loss", "spectrum_loss", "adversarial_loss"),
                          (round(float(v), 4) for v in np.mean(history, axis=0)))) if history else {}

        def attack(item):
            return generator(*signals_of[item.sample.id][None].to(device).split(3, dim=1))

        generator.eval()
        check = {"step": step, **losses, **validate(attack, validation, container, surrogates, judge, target_index)}
        generator.train()
        checks.append(check)
        if best is None or score(check, recipe["min_psnr"]) > score(best[0], recipe["min_psnr"]):
            best = (check, {k: v.detach().clone() for k, v in generator.state_dict().items()})
        log(f"spoc {target}: step {step}/{recipe['steps']}, " + ", ".join(f"{k} {v}" for k, v in check.items() if k != "step"))
        return check

    checkpoint(0)  # the untrained generator (every gain one half) is a candidate too
    bar = tqdm(range(recipe["steps"]), desc=f"spoc {target}", unit="step", file=sys.stderr, mininterval=2,
               disable=None)
    for step in bar:
        crops = grid_crops(inputs, batch, size, rng, grid=16, margin=margin).to(device)
        reals = grid_crops(target_pixels, batch, size - 2 * margin, rng, grid=16).to(device)
        with computing(recipe["precision"], device):
            changed = generator(*crops.split(3, dim=1))[..., centre, centre]
        saved = save(changed.float())  # every loss judges the saved file's pixels (the save in float32)
        with computing(recipe["precision"], device):
            d_loss = F.softplus(-discriminator(reals)).mean() + F.softplus(discriminator(saved.detach())).mean()
        d_optimiser.zero_grad()
        d_loss.backward()
        d_optimiser.step()
        with computing(recipe["precision"], device):
            embedding = embedder.embedding(saved)
            camera_loss = (1 - F.cosine_similarity(embedding, reference).mean()
                           + F.cross_entropy(embedder.head(F.relu(embedding)), labels)
                           + F.cross_entropy(constrained(saved), labels)) / 2
            adversarial_loss = F.softplus(-discriminator(saved)).mean()
        spectrum_loss = (residual_spectrum(saved) - target_spectrum).abs().mean()
        g_loss = (recipe["embedding"] * camera_loss + recipe["spectrum"] * spectrum_loss
                  + recipe["adversarial"] * adversarial_loss)
        g_optimiser.zero_grad()
        g_loss.backward()
        g_optimiser.step()
        decay.step()
        history = (history + [(camera_loss.item(), spectrum_loss.item(), adversarial_loss.item())])[-50:]
        if (step + 1) % recipe["validate_every"] == 0 or step + 1 == recipe["steps"]:
            check = checkpoint(step + 1)
            bar.set_postfix(judge=check["phase_judge"], psnr=check["psnr"])
    manifest = {"recipe": recipe, "target": target, "data": {"dataset": dataset, "split": "attacker", **config},
                "saved_as": {"qtables": container.qtables, "subsampling": container.subsampling},
                "training_seconds": round(time.perf_counter() - started, 1), "device": device, "seed": seed,
                "crop": size, "attacker_validation": {"inputs": len(validation), "checks": checks,
                                                      "kept_step": best[0]["step"]}}
    return save_weights(best[1], "attack", "spoc", f"{dataset}-{target}", manifest, out)


def at_psnr(image, attacked, container, decibels: float, halvings: int = 12):
    """``image + scale * (attacked - image)``, the scale in [0, 4] as large as keeps the 8-bit file,
    saved as ``container`` says, at least ``decibels`` from ``image`` (bisection: the PSNR falls as
    the scale grows); the input itself where its re-save alone already falls below ``decibels``."""
    from spoc_bench.images import save_as, to_uint8
    from spoc_bench.metrics import psnr

    reference, change = to_uint8(image[None])[0], attacked - image

    def saved_psnr(scale: float) -> float:
        pixels = to_uint8((image + scale * change)[None])[0]
        return psnr(reference, save_as(pixels, container) if container is not None else pixels)

    low, high = 0.0, 4.0
    if saved_psnr(high) >= decibels:
        return image + high * change
    for _ in range(halvings):
        middle = (low + high) / 2
        low, high = (middle, high) if saved_psnr(middle) >= decibels else (low, middle)
    return image + low * change


def residual_spectrum(images):
    """The log of the mean power spectrum of the batch's high-passed luminance: where demosaicing,
    sharpening, noise and JPEG blocks leave their marks, and up-sampling its peaks."""
    import torch

    from ._spoc_nets import high_pass

    luminance = high_pass(images).mul(images.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1)
    power = torch.fft.rfft2(luminance, norm="ortho").abs().square().mean(0)
    return torch.log(power + 1e-4)


def score(check: dict, min_psnr: float) -> tuple:
    """How the attacker ranks checkpoints: first whether the quality bound is met, then the share of
    held-out outputs that its phase judge (a model in no loss: the attacker's estimate of transfer)
    attributes to the target, then the mean share of the surrogates in the loss, then the PSNR."""
    surrogates = float(np.mean([check["embedder"], check["constrained"]]))
    return check["psnr"] >= min_psnr, check["phase_judge"], surrogates, check["psnr"]


# ----------------------------------------------------------------------- attacker-side validation
def phase_features(images) -> np.ndarray:
    """Per colour channel, the 3x3 high-pass residual's log mean magnitude and its normalised mean at
    each of the 64 positions of the 8x8 grid: the periodic traces of demosaicing, sharpening and
    JPEG blocks, averaged over the image (so neither scene nor single device dominates)."""
    import torch.nn.functional as F

    residual = (images - F.avg_pool2d(images, 3, 1, 1, count_include_pad=False)) * 255
    n, c, h, w = residual.shape
    grid = residual[..., :h // 8 * 8, :w // 8 * 8].reshape(n, c, h // 8, 8, w // 8, 8)
    magnitude, mean = grid.abs().mean(dim=(2, 4)).reshape(n, -1), grid.mean(dim=(2, 4)).reshape(n, -1)
    return np.concatenate([magnitude.clamp(min=1e-6).log().numpy(), (mean / magnitude.mean(1, keepdim=True)).numpy()], 1)


class PhaseJudge:
    """A logistic regression on :func:`phase_features`, fitted on the attacker's real images: a
    camera classifier of another kind than the surrogates in the loss, so its verdict on generated
    images is the attacker's own estimate of transfer."""

    def __init__(self, real: list[Item], cameras: list[str]):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from spoc_bench.images import to_tensor

        features = np.concatenate([phase_features(to_tensor([i.pixels])) for i in real])
        labels = [cameras.index(i.sample.camera) for i in real]
        self.model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)).fit(features, labels)

    def predict(self, images) -> np.ndarray:
        return self.model.predict(phase_features(images))


def camera_signals(traces, image: np.ndarray):
    """``[9, H, W]`` float32 for one ``[H, W, 3]`` image in [0, 1]: the image, its finest band (the
    image minus ``traces``' low-pass) and the target camera's residual for the same place (the
    residual of the target's block most alike in content), as :class:`~._spoc_nets.Generator` takes them."""
    import torch

    content, residual = traces.parts(image)
    pixels = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()
    return torch.cat([pixels, pixels - content, residual])


def validate(attack, inputs: list[Item], container, surrogates: dict, judge: PhaseJudge, target: int) -> dict:
    """Whole held-out inputs through ``attack`` (an item -> its output, ``[1, 3, H, W]``) and the real
    save (8-bit, the target's JPEG): the share of them that each surrogate (mean log-probability over
    64-px tiles) and the phase judge name the target, and the mean PSNR to the input."""
    import torch

    from spoc_bench.images import save_as, to_tensor, to_uint8

    from ._spoc_nets import tiles

    hits, psnrs = {name: [] for name in [*surrogates, "phase_judge"]}, []
    with torch.no_grad():
        for item in inputs:  # one by one: real datasets mix image sizes
            pixels = to_tensor([item.pixels])
            output = attack(item).clamp(0, 1).cpu()
            saved = to_tensor([save_as(p, container) for p in to_uint8(output)])
            for name, model in surrogates.items():
                device = next(model.parameters()).device
                patches = tiles(saved, min(64, *saved.shape[-2:])).to(device)
                hits[name].append(model(patches).log_softmax(1).mean(0).argmax().item() == target)
            hits["phase_judge"].append(judge.predict(saved)[0] == target)
            psnrs.append(10 * np.log10(1 / max(float(((saved - pixels) ** 2).mean()), 1e-10)))
    return {**{name: round(float(np.mean(h)), 3) for name, h in hits.items()}, "psnr": round(float(np.mean(psnrs)), 2)}
