"""The precision setting: what auto means, float32 scores under bf16, and bf16 runs kept apart."""

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import spoc_bench
from spoc_bench import precision, registry
from spoc_bench.cli import app
from tests.conftest import textured


def test_auto_is_bf16_only_where_the_cpu_computes_bfloat16(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert precision.resolve("auto", "cpu") == "bf16"
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2"}))
    assert precision.resolve("auto", "cpu") == "fp32"
    assert precision.resolve("bf16", "cpu") == "bf16" and precision.resolve("fp32", "cuda") == "fp32"
    with pytest.raises(ValueError, match="use one of auto, bf16, fp32"):
        precision.resolve("fp16", "cpu")
    assert precision.key("fp32") == {} and precision.key("bf16") == {"precision": "bf16"}


def images(count: int = 2, size: int = 256):
    return torch.stack([torch.from_numpy(textured(k, size)).permute(2, 0, 1).float() / 255 for k in range(count)])


@pytest.mark.parametrize("spec", ["bondi2017", "mislnet", "wang2020", "gragnaniello2021"])
def test_network_detectors_score_in_float32_under_bf16_and_stay_close(spec):
    detector = registry.detectors.build_spec(spec, "cpu")
    pixels = images()
    with torch.no_grad():
        full = detector.predict(pixels)
        with precision.computing("bf16", "cpu"):
            half = detector.predict(precision.memory_format(pixels, "bf16"))
    assert half.dtype == torch.float32 and full.dtype == torch.float32
    assert torch.allclose(half.sum(dim=1), torch.ones(len(pixels)), atol=1e-5)
    assert (half - full).abs().max() < 0.05 and not torch.equal(half, full)  # bf16 did compute


def test_noiseprint_correlates_in_float32_under_bf16():
    detector = registry.detectors.build_spec("noiseprint", "cpu")
    rng = np.random.default_rng(0)
    fingerprints = rng.normal(size=(3, 256, 256)).astype(np.float32)
    detector.load_fitted({"classes": np.array(["a", "b", "c"]), "counts": np.array([1, 1, 1]),
                          "fingerprints": fingerprints})
    pixels = images(1)
    with torch.no_grad():
        full = detector.correlations(pixels)
        with precision.computing("bf16", "cpu"):
            half = detector.correlations(pixels)
    assert half.dtype == torch.float32
    assert (half - full).abs().max() < 2e-3 and not torch.equal(half, full)


def test_a_bf16_run_is_recorded_and_cached_apart_from_fp32(demo_root, tmp_path):
    grid = dict(datasets=["demo"], data_root=str(demo_root), attacks=["identity"], detectors=["jpeg-table", "wang2020"],
                perturbations="none", n=6, cache=tmp_path / "cache", progress=False)
    fp32 = spoc_bench.run("smoke", precision="fp32", out=tmp_path / "fp32", **grid)
    bf16 = spoc_bench.run("smoke", precision="bf16", out=tmp_path / "bf16", **grid)
    assert fp32.manifest["grid"]["precision"] == "fp32" and bf16.manifest["grid"]["precision"] == "bf16"
    assert bf16.manifest["timings_s"]["detect"] > 0  # its rows are its own, not fp32's read back
    again = spoc_bench.run("smoke", precision="fp32", out=tmp_path / "again", **grid)
    assert again.manifest["timings_s"].get("detect", 0) == 0
    scores = [run.rows.set_index(["id", "detector", "attack"]).score.sort_index() for run in (fp32, bf16)]
    difference = (scores[0] - scores[1]).abs()
    assert difference.xs("jpeg-table", level="detector").max() == 0
    assert 0 < difference.xs("wang2020", level="detector").max() < 0.05


def test_plugins_without_networks_share_their_cache_across_precisions(demo_root, tmp_path):
    grid = dict(datasets=["demo"], data_root=str(demo_root), attacks=["identity", "jpeg-mimic"],
                detectors=["jpeg-table", "spectrum"], perturbations="none", n=6, cache=tmp_path / "cache", progress=False)
    fp32 = spoc_bench.run("smoke", precision="fp32", out=tmp_path / "fp32", **grid)
    bf16 = spoc_bench.run("smoke", precision="bf16", out=tmp_path / "bf16", **grid)
    assert fp32.manifest["timings_s"]["detect"] > 0 and fp32.manifest["timings_s"]["detector_fit"] > 0
    assert all(bf16.manifest["timings_s"].get(stage, 0) == 0 for stage in ("detect", "detector_fit", "attack"))
    pd.testing.assert_frame_equal(fp32.summary, bf16.summary)


def test_an_unknown_precision_is_refused_before_any_work(tmp_path):
    result = CliRunner().invoke(app, ["run", "--precision", "fp16", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "precision 'fp16': use one of auto, bf16, fp32" in result.output
