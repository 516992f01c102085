import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Each test writes its cache under its own temporary folder (and nowhere else)."""
    monkeypatch.setenv("SPOC_BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory):
    """The demo dataset generated once for the whole session."""
    from spoc_bench.datasets.demo import Demo

    root = tmp_path_factory.mktemp("demo")
    Demo(root=str(root)).prepare()
    return root


def textured(seed: int, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size // 8, size // 8, 3)).repeat(8, 0).repeat(8, 1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def save_jpeg(path: Path, pixels: np.ndarray, quality: int, subsampling: str = "4:2:0") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, "JPEG", quality=quality, subsampling=subsampling)
    return path


def jpeg_bytes(pixels: np.ndarray, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def demo_run(demo_root, tmp_path_factory):
    """One small finished run on the demo dataset (its own cache): an untargeted and a targeted
    attack, a camera and a synthetic-image detector, two perturbations."""
    import spoc_bench

    folder = tmp_path_factory.mktemp("demo-run")
    spoc_bench.run("smoke", datasets=["demo"], data_root=str(demo_root), attacks=["identity", "jpeg-mimic"],
                   detectors=["jpeg-table", "spectrum"], perturbations="none,jpeg:90", n=12,
                   out=folder / "run", cache=folder / "cache", progress=False)
    return folder / "run"


SIMCAM_TARGETS = ["alpha-1", "alpha-2", "beta-1", "beta-2", "delta", "epsilon", "gamma", "zeta"]


def shipped_attack_manifest(name: str, target: str) -> dict:
    """The manifest of an attack's shipped weights for a simcam target, checked: its target, the
    attacker split, the file's sha256 and a size fit for the repository."""
    from spoc_bench.weights import file_sha256, weights_path

    path = weights_path("attack", name, f"simcam-{target}")
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["target"] == target and manifest["data"]["split"] == "attacker"
    assert manifest["sha256"] == file_sha256(path) and path.stat().st_size < 1_000_000
    return manifest
