"""SpoC's shipped generators judged on the attacker's side only, with and without the attack-time
PSNR rule: how the attacker can choose how to use its generators without asking the defender.

    .venv/bin/python benchmarks/spoc_attacker_side.py [--psnr 32] [--targets alpha-1,zeta]

Per simcam target: the held-out attacker inputs of its generator's training (every 4th scene of the
attacker split), the generator, its two surrogates and the phase judge (fitted on the attacker's
real images, in no loss), exactly as the training's checks (``attacks/spoc.validate``). Each input
goes through the generator at its own pre-save budget (``psnr=None``) and brought to ``--psnr`` dB
after the save (:func:`attacks.spoc.at_psnr`); prints, per target and pooled, the share of the saved
outputs each attacker model names the target, and the mean PSNR. Nothing of the defender is read.
"""

from __future__ import annotations

import argparse

import pandas as pd

import spoc_bench
from spoc_bench.attacks._spoc_nets import Generator
from spoc_bench.attacks.spoc import (PhaseJudge, at_psnr, camera_signals, held_out, load_surrogates, validate,
                                     validation_unit)
from spoc_bench.attacks.trace_transplant import TraceTransplant
from spoc_bench.contracts import typical_container
from spoc_bench.weights import load_weights


def attacker_side() -> tuple[list[str], list, list, dict, PhaseJudge]:
    """simcam's attacker split and the attacker's models: ``(cameras, real, synthetic, surrogates, judge)``."""
    data = spoc_bench.build_dataset("simcam")
    data.prepare()
    attacker = list(data.items(data.samples("attacker")))
    real = [i for i in attacker if i.sample.source == "real"]
    synthetic = [i for i in attacker if i.sample.source == "synthetic"]
    cameras = sorted({i.sample.camera for i in real})
    return cameras, real, synthetic, load_surrogates("simcam", len(cameras), None, "cpu"), PhaseJudge(real, cameras)


def for_target(target: str, real: list, synthetic: list) -> tuple:
    """``(container, held-out inputs, traces, generator)``: what SpoC's checks use for ``target``."""
    target_items = [i for i in real if i.sample.camera == target]
    container = typical_container([i.container for i in target_items])
    scenes = sorted({validation_unit(i) for i in synthetic})
    inputs = [i for i in synthetic if held_out(validation_unit(i), scenes)]
    traces = TraceTransplant().fit(target, target_items)
    generator = Generator.from_state(load_weights("attack", "spoc", f"simcam-{target}")).eval()
    return container, inputs, traces, generator


def judged(target: str, cameras: list[str], real: list, synthetic: list, surrogates: dict, judge: PhaseJudge,
           decibels: float) -> list[dict]:
    container, inputs, traces, generator = for_target(target, real, synthetic)
    signals = {i.sample.id: camera_signals(traces, i.pixels / 255.0)[None] for i in inputs}

    def own_budget(item):
        return generator(*signals[item.sample.id].split(3, dim=1))

    def at_bound(item):
        image = signals[item.sample.id][0, :3]
        return at_psnr(image, own_budget(item)[0], container, decibels)[None]

    rows = []
    for rule, attack in (("own budget (35 dB before the save)", own_budget), (f"{decibels:g} dB after the save", at_bound)):
        check = validate(attack, inputs, container, surrogates, judge, cameras.index(target))
        rows.append({"target": target, "rule": rule, "inputs": len(inputs), **check})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--psnr", type=float, default=32.0)
    parser.add_argument("--targets", default=None, help="comma-separated simcam cameras (default: all)")
    args = parser.parse_args()
    cameras, real, synthetic, surrogates, judge = attacker_side()
    rows = []
    for target in args.targets.split(",") if args.targets else cameras:
        rows += judged(target, cameras, real, synthetic, surrogates, judge, args.psnr)
        print(pd.DataFrame(rows[-2:]).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    pooled = table.groupby("rule", sort=False)[["embedder", "constrained", "phase_judge", "psnr"]].mean()
    print("\nphase judge per target:\n"
          + table.pivot(index="target", columns="rule", values="phase_judge")[table.rule.unique()].round(3).to_string())
    print(f"\npooled over {table.target.nunique()} targets (means of the per-target shares):\n"
          + pooled.round(3).to_string())


if __name__ == "__main__":
    main()
