"""spoc-bench: a benchmark suite for attacks on image-forensics detectors.

    import spoc_bench
    result = spoc_bench.run("smoke", out="runs/smoke")       # rows and summary as DataFrames
    detector = spoc_bench.build_detector("noiseprint:grip")  # NAME[:TAG], the tag naming its weights
"""

from __future__ import annotations

from . import registry
from .registry import register_attack, register_dataset, register_detector

__version__ = "0.1.0"


def build_attack(spec: str, **params):
    return registry.attacks.build_spec(spec, **params)


def build_detector(spec: str, **params):
    return registry.detectors.build_spec(spec, **params)


def build_dataset(name: str, **params):
    return registry.datasets.build(name, **params)


def list_attacks(pattern: str = "*") -> list[str]:
    return registry.attacks.names(pattern)


def list_detectors(pattern: str = "*") -> list[str]:
    return registry.detectors.names(pattern)


def list_datasets(pattern: str = "*") -> list[str]:
    return registry.datasets.names(pattern)


def run(preset: str | None = "default", **options):
    """Run a benchmark grid; see :func:`spoc_bench.runner.run`."""
    from .runner import run as run_grid

    return run_grid(preset, **options)


__all__ = ["run", "build_attack", "build_detector", "build_dataset", "list_attacks", "list_detectors", "list_datasets",
           "register_attack", "register_detector", "register_dataset", "__version__"]
