"""What a grid costs before it runs: the images attacks make, the images x detectors x perturbations
detections, and a time from the measured throughput of each plugin.

The throughput is ``throughput.json`` beside this file: images/s (256 x 256, batch 32) and fit
seconds per plugin, on 2 CPU cores (``cpu``) and on an NVIDIA H200 (``cuda``), written by
``benchmarks/throughput.py --record``. The time counts the attacks' and detectors' own work (and
each detector's fit once per dataset); decoding, perturbing and saving add to it, and a plugin
that was never measured is named and left out, so the figure is a lower bound.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path

from .registry import attacks, detectors, split_spec

THROUGHPUT = Path(__file__).with_name("throughput.json")
HOUR = 3600.0


def plugin_key(kind: str, spec: str, detector: str = "") -> str:
    """``detector:noiseprint`` -> ``detector:noiseprint:simcam``: a spec with its weights tag (its
    default where none is given), none for a plugin fitted on the data or without weights. An attack
    made with a detector (white-box, query) is timed per detector: ``attack:pgd-white-box@noiseprint:simcam``."""
    name, tag = split_spec(spec)
    registry = {"attack": attacks, "detector": detectors}[kind]
    default = inspect.signature(registry.get(name).__init__).parameters.get("weights")
    tag = tag or (default.default if default is not None else None)
    key = f"{kind}:{name}" + (f":{tag}" if tag and tag != "fit" else "")
    return key + (f"@{plugin_key('detector', detector).removeprefix('detector:')}" if detector else "")


def measured(device: str) -> dict[str, dict]:
    """The recorded figures of each plugin on ``device`` (``cpu``; ``cuda`` for any GPU)."""
    return json.loads(THROUGHPUT.read_text())["devices"]["cpu" if device == "cpu" else "cuda"]


@dataclass
class Cost:
    attacked: int  # images the attacks make
    images: int  # images the detectors see per perturbation, summed over detectors
    detectors: int
    perturbations: int
    seconds: float
    device: str
    unmeasured: list[str]

    @classmethod
    def of(cls, made: list[tuple], seen: list[tuple[str, int]], perturbations: int, device: str) -> "Cost":
        """``made``: (attack spec, images[, the detector it follows]) per attack job; ``seen``:
        (detector spec, images per perturbation) per dataset and detector."""
        figures = measured(device)
        work = [(plugin_key("attack", spec, *detector), n) for spec, n, *detector in made]
        work += [(plugin_key("detector", s), n * perturbations) for s, n in seen]
        seconds = sum(n / figures[k]["images_per_s"] for k, n in work if k in figures)
        seconds += sum(figures[k]["fit_s"] for k in {plugin_key("detector", s) for s, _ in seen} if k in figures)
        unmeasured = sorted({k for k, _ in work if k not in figures})
        return cls(sum(job[1] for job in made), sum(n for _, n in seen), len({s for s, _ in seen}), perturbations,
                   seconds, device, unmeasured)

    @property
    def detections(self) -> int:
        return self.images * self.perturbations

    def __str__(self) -> str:
        unmeasured = f"; not measured, so not counted: {', '.join(self.unmeasured)}" if self.unmeasured else ""
        return (f"{self.attacked:,} attacked images to make; {self.images // max(self.detectors, 1):,} images x "
                f"{self.detectors} detectors x {self.perturbations} perturbations = {self.detections:,} detections; "
                f"about {duration(self.seconds)} on {'2 CPU cores' if self.device == 'cpu' else 'one H200 GPU'} "
                f"(measured throughput of the attacks and detectors{unmeasured})")


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < HOUR else f"{seconds / HOUR:.1f} h"
