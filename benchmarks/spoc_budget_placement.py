"""Where to spend SpoC's 32 dB bound, judged on the attacker's side only: the target's own residuals
(``trace-transplant``'s change) kept everywhere at the scale that reaches the bound, or at full
strength on a subset of blocks as large as the bound allows.

    .venv/bin/python benchmarks/spoc_budget_placement.py [--block 32] [--targets alpha-1,zeta]

Per simcam target: the held-out attacker inputs of SpoC's training and the attacker's models (its two
surrogates and the phase judge), as ``benchmarks/spoc_attacker_side.py`` uses them. Rules:

- ``uniform``: the whole change, scaled so that the saved file lies at 32 dB (:func:`attacks.spoc.at_psnr`);
- ``spoc``: the shipped generator's change, the same way (SpoC as shipped);
- ``textured`` / ``flat`` / ``cheapest`` / ``random``: the change at full strength on ``block``-px
  blocks taken in that order (the content's variance, descending or ascending; the change's energy,
  ascending; a fixed random order), as many as keep the saved file at >= 32 dB (bisection).

Prints per target and pooled the share of the saved outputs each attacker model names the target,
the share of blocks changed and the PSNR. Nothing of the defender is read.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from spoc_attacker_side import attacker_side, for_target  # the benchmark beside this one

from spoc_bench.attacks.spoc import at_psnr, camera_signals, validate
from spoc_bench.images import save_as, to_uint8
from spoc_bench.metrics import psnr

DECIBELS = 32.0
RULES = ("uniform", "spoc", "textured", "flat", "cheapest", "random")


def block_order(image, change, rule: str, block: int, rng) -> torch.Tensor:
    """The blocks' indices (row-major over the whole blocks) in the order ``rule`` spends the budget."""
    def pooled(x):
        return F.avg_pool2d(x[None], block)[0].mean(0).flatten()

    if rule in ("textured", "flat"):
        content = torch.from_numpy(gaussian_filter(image.numpy(), (0, 1, 1))).float()
        variance = pooled(content ** 2) - pooled(content) ** 2
        return (-variance if rule == "textured" else variance).argsort()
    if rule == "cheapest":
        return pooled(change ** 2).argsort()
    return torch.from_numpy(rng.permutation(len(pooled(change))))


def on_blocks(image, change, container, order, block: int):
    """``image`` plus ``change`` on the first blocks of ``order``, as many as keep the saved file at
    >= DECIBELS; and the share of the blocks changed."""
    rows, columns = image.shape[1] // block, image.shape[2] // block
    reference = to_uint8(image[None])[0]

    def output(count: int):
        mask = torch.zeros(rows * columns)
        mask[order[:count]] = 1
        full = torch.zeros(image.shape[1:])
        full[: rows * block, : columns * block] = mask.reshape(rows, columns).repeat_interleave(block, 0).repeat_interleave(block, 1)
        return image + full * change

    def within(count: int) -> bool:
        return psnr(reference, save_as(to_uint8(output(count)[None])[0], container)) >= DECIBELS

    low, high = 0, rows * columns
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if within(middle) else (low, middle - 1)
    return output(low), low / (rows * columns)


def judged(target, cameras, real, synthetic, surrogates, judge, block: int) -> list[dict]:
    container, inputs, traces, generator = for_target(target, real, synthetic)
    changes = {}
    with torch.no_grad():
        for item in inputs:
            signals = camera_signals(traces, item.pixels / 255.0)
            image, content, residual = signals[:3], signals[:3] - signals[3:6], signals[6:]
            changes[item.sample.id] = (image, content + residual - image, generator(*signals[None].split(3, dim=1))[0] - image)
    rows = []
    for rule in RULES:
        rng, shares = np.random.default_rng(0), []

        def attack(item):
            image, transplant, generated = changes[item.sample.id]
            if rule in ("uniform", "spoc"):
                return at_psnr(image, image + (transplant if rule == "uniform" else generated), container, DECIBELS)[None]
            output, share = on_blocks(image, transplant, container, block_order(image, transplant, rule, block, rng), block)
            shares.append(share)
            return output[None]

        check = validate(attack, inputs, container, surrogates, judge, cameras.index(target))
        rows.append({"target": target, "rule": rule, "blocks": round(float(np.mean(shares)), 3) if shares else 1.0, **check})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--block", type=int, default=32)
    parser.add_argument("--targets", default=None, help="comma-separated simcam cameras (default: all)")
    args = parser.parse_args()
    cameras, real, synthetic, surrogates, judge = attacker_side()
    rows = []
    for target in args.targets.split(",") if args.targets else cameras:
        rows += judged(target, cameras, real, synthetic, surrogates, judge, args.block)
        print(pd.DataFrame(rows[-len(RULES):]).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    columns = ["blocks", "embedder", "constrained", "phase_judge", "psnr"]
    print(f"\npooled over {table.target.nunique()} targets (means of the per-target shares):\n"
          + table.groupby("rule", sort=False)[columns].mean().round(3).to_string())


if __name__ == "__main__":
    main()
