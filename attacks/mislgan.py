"""MISLGAN (Chen, Zhao, Stamm, "MISLGAN: an anti-forensic camera model falsification framework using
a generative adversarial network", ICASSP 2019): a generator built around a **synthetic
colour-filter-array block** (the image is re-sampled on the target camera's Bayer lattice, one colour
per pixel, and a learned network re-interpolates the two missing colours) trained against a
discriminator and an ensemble of camera-model CNNs, so that camera-model identifiers attribute its
output to the target camera. No official code; this is the project's implementation of the design.

Threat model: **black-box**. Knowledge: ``target_samples`` only (the runner hands it no detector);
training reads the ``attacker`` split alone (other devices and scenes than any detector saw), never
the defender's. The output is saved as the target saves (``saves_like_target``: its most common JPEG
tables and chroma subsampling).

Generator (:class:`CfaGenerator`):

- **synthetic CFA block**: the input is multiplied by the target's Bayer masks (layout RGGB, GRBG,
  GBRG or BGGR, anchored at the image's top-left corner as cameras and ``cfa-resynth`` anchor it), so
  each pixel keeps one colour and the other two are zero; no parameters;
- **learned re-interpolation**: ``layers`` full-resolution 3x3 convolutions (width ``width``, ReLU,
  no down-sampling: any image size) that read the mosaic and its 3 mask channels (6 channels: the
  masks tell the network the 2x2 phase that convolutions are blind to) and output RGB;
- **bound**: output = bilinear demosaicing of the mosaic + ``scale`` (0.1) * tanh(network). The
  bilinear kernels keep every sampled value, so at each pixel's sampled colour the output is within
  0.1 of the input; everything else is interpolated. The output is a function of the mosaic alone:
  whatever the input held at the positions the target's CFA does not sample is discarded, as in a
  camera. (Clamped to [0, 1] by :class:`Attack`.)

Layout: estimated at training from the target's attacker-split sample images with ``cfa-resynth``'s
estimate (re-mosaic on each layout, re-interpolate, keep the one that reproduces the samples best;
right for all 8 simcam cameras) and stored in the weights' manifest. At attack time the manifest's
layout is used, since it is the one the network learned to interpolate; only weights without a
manifest have it estimated again from ``target_samples``.

Training (:meth:`MislGan.train`), per target: batches of ``crop``-px crops of the attacker's synthetic
images (``_spoc_nets.grid_crops``; crop origins on the 16-px grid minus an 8-px margin, so the 2x2
CFA phase and the 8x8 JPEG grid of the image are kept) go through the generator; the ``margin`` px
border is cut off so that no loss sees a crop border (zero padding), and the centre goes through a
differentiable JPEG save with the target's tables (``_diffjpeg.DiffJpeg``; 8-bit rounding alone for a
lossless target) before every loss. Generator loss = ``content`` (50) x L1(saved output, input) +
``camera`` (1) x the mean cross-entropy towards the target of the attacker's ensemble of camera-model
CNNs + ``adversarial`` (0.1) x the non-saturating GAN loss of a discriminator
(``_spoc_nets.Discriminator``, high-passed patches, spectrally normalised) that tells the target's
real patches from saved outputs. The ensemble is SpoC's attacker-side surrogates (``embedder`` and
``constrained``, trained on the attacker split, frozen; trained first when missing, exactly as
``spoc-bench train attack spoc`` trains them, and shared with it). The generator has 4 convolutions
of width 32 (receptive field 9 px, with the bilinear block 11: inside the 8-px margin). Adam 1e-3
(0.5, 0.999) with a cosine decay, batches of 8 crops of 80 px (64-px centre), 200 steps. (The
paper's exact widths, loss weights and schedule are not public in a form read here: these are this
project's choices, each a ``train`` keyword or a ``RECIPE`` entry.)

Attacker-side validation (nothing of the defender): every 4th scene of the attacker's synthetic
images is held out of training (``spoc.held_out``); every ``validate_every`` (50) steps the held-out
images go whole through the generator and the real save (8-bit, the target's JPEG tables), and the
manifest records the share that each surrogate (mean log-probability over 64-px tiles) and SpoC's
``PhaseJudge`` (in no loss) attribute to the target, with the PSNR to the input. The checkpoint kept
is the one ranked first by ``spoc.score`` (the quality bound ``min_psnr`` first, 32 dB). Measured on
simcam towards ``alpha-1`` (default recipe, 32 held-out inputs): both surrogates named the target on
all of them from step 50 on, the phase judge on none, at 32.4-32.8 dB (the same inputs bilinearly
re-interpolated and saved, without the network: 34.5 dB; only saved: 39.8 dB).

Cost, float32, default recipe, measured on the 2-core CPU while another job kept both cores busy
(so upper bounds): 0.40 s/step with 1 thread, 1.9 s/step with 2 (the two threads wait on the other
job); a validation takes 5-7 s; one target (``alpha-1``) trained in 105 s with 1 thread, about 2
minutes with the set-up (``-o threads=1`` on a loaded machine). The surrogates, when missing, take
longer than a generator (SpoC's recipes: 2,000 and 800 steps).

Weights: ``spoc-bench train attack mislgan [-o target=NAME] [-o steps=N]`` trains one generator per
target (every camera of the dataset when none is named), stored as
``attacks/weights/mislgan-<dataset>-<target>.safetensors`` with a manifest (recipe, target, layout,
data split and config, saved-as tables, training seconds, validation checks, seed).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Sequence

import numpy as np

from spoc_bench.contracts import Attack, Item, typical_container
from spoc_bench.registry import register_attack
from spoc_bench.weights import load_weights, save_weights, verified_sha256, weights_path

RECIPE = {"steps": 200, "batch": 8, "crop": 80, "margin": 8, "lr": 1e-3, "betas": (0.5, 0.999), "content": 50.0,
          "camera": 1.0, "adversarial": 0.1, "layers": 4, "width": 32, "scale": 0.1, "masks": True,
          "validate_every": 50, "min_psnr": 32.0}
SURROGATE_STEPS = {"embedder": 2000, "constrained": 800}  # as SpoC's recipes train them when missing
LAYOUTS = ("RGGB", "GRBG", "GBRG", "BGGR")


@register_attack("mislgan")
class MislGan(Attack):
    """MISLGAN (Chen et al. 2019): synthetic CFA re-mosaic + learned re-interpolation GAN; black-box, needs target samples.

    Fitted: ``layout_``, the Bayer layout of the weights' manifest, and ``generator_``, the target's
    :class:`CfaGenerator`.
    """

    threat_model = "black-box"
    needs = frozenset({"target_samples"})
    saves_like_target = True

    def __init__(self, weights: str = "simcam", weights_dir: str | None = None, device: str = "cpu"):
        self.weights, self.weights_dir, self.device = weights, weights_dir, device

    def weights_file(self, target: str):
        """``<weights_dir>/mislgan-<weights>-<target>.safetensors`` (its manifest: the same stem's ``.json``)."""
        return weights_path("attack", "mislgan", f"{self.weights}-{target}", self.weights_dir)

    def weights_id(self, target: str) -> str:
        path = self.weights_file(target)
        return verified_sha256(path) if path.exists() else "missing"

    def fit(self, target: str, target_samples: Sequence[Item] = (), **knowledge) -> "MislGan":
        super().fit(target, target_samples)
        # a missing file raises the error that names `spoc-bench train attack mislgan`
        state = load_weights("attack", "mislgan", f"{self.weights}-{target}", self.weights_dir)
        beside = self.weights_file(target).with_suffix(".json")
        manifest = json.loads(beside.read_text()) if beside.is_file() else {}
        self.layout_ = manifest.get("layout") or estimate_layout(target, target_samples)
        scale = manifest.get("recipe", {}).get("scale", RECIPE["scale"])
        self.generator_ = CfaGenerator.from_state(state, self.layout_, scale).to(self.device)
        return self

    def forward(self, images):
        """The target's generator on ``images`` (run on ``device``), returned on the CPU."""
        return self.generator_(images.to(self.device)).cpu()

    @classmethod
    def train(cls, target: str | None = None, dataset: str = "simcam", dataset_options: dict | None = None,
              steps: int = RECIPE["steps"], batch: int = RECIPE["batch"], lr: float = RECIPE["lr"], seed: int = 0,
              content: float = RECIPE["content"], camera: float = RECIPE["camera"],
              adversarial: float = RECIPE["adversarial"], validate_every: int = RECIPE["validate_every"],
              embedder_steps: int = SURROGATE_STEPS["embedder"], surrogate_steps: int = SURROGATE_STEPS["constrained"],
              threads: int | None = None, out: str | None = None, device: str = "cpu", precision: str = "fp32",
              log=print) -> list:
        """Train one generator per target (every camera when none is named) from the attacker split
        alone, after SpoC's attacker-side surrogates where they are missing. ``precision``: the
        arithmetic of the networks' training steps (``spoc_bench/precision.py``; the save's stand-in
        stays in float32), recorded in the recipe."""
        import torch

        from spoc_bench import build_dataset
        from spoc_bench.precision import resolve

        from .spoc import load_surrogates, train_constrained, train_embedder

        if threads:
            torch.set_num_threads(threads)
        source = build_dataset(dataset, **(dataset_options or {}))
        source.prepare()
        split = list(source.items(source.samples("attacker")))
        by_source = {kind: [item for item in split if item.sample.source == kind] for kind in ("real", "synthetic")}
        cameras = sorted({item.sample.camera for item in by_source["real"]})
        chosen = [target] if target else cameras
        if not set(chosen) <= set(cameras):
            raise ValueError(f"mislgan: unknown target {target!r}; cameras of {dataset}'s attacker split: {cameras}")
        shared = {"dataset": dataset, "config": source.config(), "seed": seed, "out": out, "device": device, "log": log}
        precision = resolve(precision, device)
        written = []
        for name, trainer, count in (("embedder", train_embedder, embedder_steps),
                                     ("constrained", train_constrained, surrogate_steps)):
            if not weights_path("attack", "spoc", f"{dataset}-{name}", out).exists():
                written.append(trainer(by_source["real"], cameras, count, **shared, precision=precision))
        ensemble = load_surrogates(dataset, len(cameras), out, device)
        recipe = {**RECIPE, "steps": steps, "batch": batch, "lr": lr, "content": content, "camera": camera,
                  "adversarial": adversarial, "validate_every": validate_every, "precision": precision}
        from tqdm import tqdm

        # the bar's estimate of the time left is what the generators trained so far took
        for name in tqdm(chosen, desc="mislgan: generators", unit="target", file=sys.stderr, disable=None):
            written.append(train_one(ensemble, cameras, name, by_source["real"], by_source["synthetic"], recipe,
                                     **shared))
        return written


# ------------------------------------------------------------------------------------ the generator
class CfaGenerator:
    """The synthetic CFA block (fixed Bayer masks of ``layout``) followed by the learned
    re-interpolation ``body`` (an ``nn.Sequential`` of 3x3 convolutions): output = bilinear
    demosaicing of the mosaic + ``scale`` * tanh(body(mosaic [, masks]))."""

    def __init__(self, layout: str, layers: int = RECIPE["layers"], width: int = RECIPE["width"],
                 scale: float = RECIPE["scale"], masks: bool = RECIPE["masks"]):
        import torch.nn as nn

        if layout not in LAYOUTS:
            raise ValueError(f"mislgan: layout must be one of {LAYOUTS}, got {layout!r}")
        modules: list = []
        channels = 6 if masks else 3
        for _ in range(layers - 1):
            modules += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
        modules.append(nn.Conv2d(channels, 3, 3, padding=1))
        self.body, self.layout, self.scale, self.masks = nn.Sequential(*modules), layout, scale, masks

    @classmethod
    def from_state(cls, state: dict, layout: str, scale: float) -> "CfaGenerator":
        weights = [state[key] for key in sorted(state, key=lambda k: int(k.split(".")[1])) if key.endswith(".weight")]
        generator = cls(layout, len(weights), weights[0].shape[0], scale, masks=weights[0].shape[1] == 6)
        generator.body.load_state_dict({key.partition(".")[2]: value for key, value in state.items()})
        for parameter in generator.body.parameters():
            parameter.requires_grad_(False)
        generator.body.eval()
        return generator

    def state_dict(self) -> dict:
        return {f"body.{key}": value.detach().clone() for key, value in self.body.state_dict().items()}

    def to(self, device) -> "CfaGenerator":
        self.body.to(device)
        return self

    def __call__(self, images):
        import torch

        masks = bayer_masks(self.layout, *images.shape[-2:]).to(images)
        mosaic = images * masks
        features = torch.cat([mosaic, masks.expand_as(mosaic)], 1) if self.masks else mosaic
        return bilinear_demosaic(mosaic) + self.scale * torch.tanh(self.body(features))


def bayer_masks(layout: str, height: int, width: int):
    """``[1, 3, H, W]`` 0/1 masks of the R, G, B samples of a Bayer ``layout`` (its four letters are the
    top-left 2x2 cell, row by row), tiled from the top-left corner."""
    import torch

    cell = torch.zeros(3, 2, 2)
    for position, colour in enumerate(layout):
        cell["RGB".index(colour), position // 2, position % 2] = 1
    return cell.repeat(1, -(-height // 2), -(-width // 2))[None, :, :height, :width]


def bilinear_demosaic(mosaic):
    """Bilinear demosaicing of a 3-channel mosaic (zeros where a colour was not sampled), with the
    kernels of colour-demosaicing's ``demosaicing_CFA_Bayer_bilinear`` (the same values inside a 1-px
    border). The borders are mirrored about the edge pixel, so every sampled value is kept, on the
    border too (colour-demosaicing repeats the edge pixel there, which does not keep them)."""
    import torch
    import torch.nn.functional as F

    green = torch.tensor([[0.0, 1, 0], [1, 4, 1], [0, 1, 0]]) / 4
    red_blue = torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4
    kernels = torch.stack([red_blue, green, red_blue])[:, None].to(mosaic)
    return F.conv2d(F.pad(mosaic, (1, 1, 1, 1), mode="reflect"), kernels, groups=3)


def estimate_layout(target: str, samples: Sequence[Item]) -> str:
    """The target's Bayer layout as ``cfa-resynth`` estimates it from its sample images."""
    from .cfa_resynth import CfaResynth

    return CfaResynth().fit(target, samples).layout_


# ------------------------------------------------------------------------------------- training
def train_one(ensemble: dict, cameras: list[str], target: str, real: list[Item], synthetic: list[Item],
              recipe: dict, dataset: str, config: dict, seed: int, out, device: str, log):
    """One target's generator: trained on the attacker's synthetic crops, kept at the checkpoint
    the attacker's validation ranks first; returns the weights' path."""
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from spoc_bench.images import to_tensor
    from spoc_bench.precision import computing

    from ._diffjpeg import DiffJpeg, straight_round
    from ._spoc_nets import Discriminator, grid_crops
    from .spoc import PhaseJudge, held_out, score, validate

    torch.manual_seed(seed)
    goal = cameras.index(target)
    rng = np.random.default_rng([seed, goal])
    samples = [item for item in real if item.sample.camera == target]
    layout = estimate_layout(target, samples)
    container = typical_container([item.container for item in samples])
    if container.is_jpeg:
        save = DiffJpeg(container.qtables, container.subsampling).to(device)
    else:
        def save(pixels):
            return straight_round(pixels.clamp(0, 1) * 255) / 255
    scenes = sorted({item.sample.scene for item in synthetic})
    kept_out = [item for item in synthetic if held_out(item.sample.scene, scenes)] or synthetic
    training = [item.pixels for item in synthetic if not held_out(item.sample.scene, scenes)]
    genuine = [item.pixels for item in samples]
    judge = PhaseJudge(real, cameras)

    generator = CfaGenerator(layout, recipe["layers"], recipe["width"], recipe["scale"], recipe["masks"]).to(device)
    critic = Discriminator(recipe["width"]).to(device)
    adam = {"lr": recipe["lr"], "betas": recipe["betas"]}
    optimise_g = torch.optim.Adam(generator.body.parameters(), **adam)
    optimise_d = torch.optim.Adam(critic.parameters(), **adam)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimise_g, recipe["steps"])
    margin = recipe["margin"]
    side = min([recipe["crop"], *((min(p.shape[:2]) - 16 + margin) // 16 * 16 for p in training + genuine)])
    if side - 2 * margin < 16:
        raise ValueError(f"mislgan: images too small for {recipe['crop']}-px crops with {margin}-px margins")
    inner = slice(margin, side - margin)
    wanted = torch.full((recipe["batch"],), goal, device=device)
    started, window, checks, best = time.perf_counter(), [], [], None
    bar = tqdm(range(1, recipe["steps"] + 1), desc=f"mislgan {target}", unit="step", file=sys.stderr, mininterval=2,
               disable=None)
    for step in bar:
        crops = grid_crops(training, recipe["batch"], side, rng, grid=16, margin=margin).to(device)
        originals = grid_crops(genuine, recipe["batch"], side - 2 * margin, rng, grid=16).to(device)
        with computing(recipe["precision"], device):
            changed = generator(crops)[..., inner, inner]
        saved = save(changed.float())  # each loss judges the pixels of the saved file (the save in float32)
        with computing(recipe["precision"], device):
            critic_loss = F.softplus(-critic(originals)).mean() + F.softplus(critic(saved.detach())).mean()
        optimise_d.zero_grad()
        critic_loss.backward()
        optimise_d.step()
        with computing(recipe["precision"], device):
            terms = {"l1": (saved - crops[..., inner, inner]).abs().mean(),
                     "camera_loss": sum(F.cross_entropy(m(saved), wanted) for m in ensemble.values()) / len(ensemble),
                     "adversarial_loss": F.softplus(-critic(saved)).mean()}
        total = recipe["content"] * terms["l1"] + recipe["camera"] * terms["camera_loss"] \
            + recipe["adversarial"] * terms["adversarial_loss"]
        optimise_g.zero_grad()
        total.backward()
        optimise_g.step()
        schedule.step()
        window.append({name: value.item() for name, value in terms.items()})
        if step % recipe["validate_every"] and step != recipe["steps"]:
            continue
        generator.body.eval()
        outputs = validate(lambda item: generator(to_tensor([item.pixels]).to(device)), kept_out, container, ensemble,
                           judge, goal)
        generator.body.train()
        check = {"step": step, **{name: round(float(np.mean([w[name] for w in window])), 5) for name in terms},
                 **outputs}
        window = []
        checks.append(check)
        if best is None or score(check, recipe["min_psnr"]) > score(best[0], recipe["min_psnr"]):
            best = (check, generator.state_dict())
        log(f"mislgan {target}: " + ", ".join(f"{key} {value}" for key, value in check.items()))
        bar.set_postfix(judge=check.get("phase_judge"), psnr=check.get("psnr"))
    manifest = {"recipe": recipe, "target": target, "layout": layout,
                "data": {"dataset": dataset, "split": "attacker", **config},
                "saved_as": {"qtables": container.qtables, "subsampling": container.subsampling},
                "training_seconds": round(time.perf_counter() - started, 1), "device": device, "seed": seed,
                "crop": side, "attacker_validation": {"inputs": len(kept_out), "checks": checks,
                                                      "kept_step": best[0]["step"]}}
    return save_weights(best[1], "attack", "mislgan", f"{dataset}-{target}", manifest, out)
