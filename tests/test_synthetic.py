import json

import numpy as np
import pytest
from typer.testing import CliRunner

import spoc_bench
from spoc_bench.cli import app
from spoc_bench.datasets._scenes import load_photo
from spoc_bench.datasets.synthetic import FAMILIES, WEIGHTS_DIR, build_generator, file_sha256, load_generator
from spoc_bench.images import read_image


def test_shipped_weights_match_their_manifests():
    for family in FAMILIES:
        manifest = json.loads((WEIGHTS_DIR / f"autogan-{family}.json").read_text())
        assert manifest["sha256"] == file_sha256(WEIGHTS_DIR / manifest["file"])
        assert manifest["family"] == family and manifest["final_l1"] < 0.05
        assert {"recipe", "data_version", "training_seconds", "seed"} <= set(manifest)


@pytest.mark.parametrize("family", FAMILIES)
def test_generators_keep_the_size_and_reconstruct(family):
    import torch

    generator = load_generator(family)
    scene = torch.from_numpy(load_photo("astronaut", 0.25)[:64, :64].copy())
    image = scene.permute(2, 0, 1)[None].float()
    with torch.no_grad():
        output = generator(image)
    assert output.shape == image.shape
    assert (output - image).abs().mean() < 0.08


@pytest.mark.parametrize("family", ["transposed", "pixelshuffle"])
def test_up_sampling_leaves_periodic_spectral_peaks(family):
    """A last layer that up-samples by 2 leaves periodic peaks (at 1/2 or 1/4 of the sampling rate,
    on the axes or the diagonal) in the spectrum of the residual; resize-conv families leave weaker ones."""
    import torch

    photo = load_photo("hubble", 0.5)
    crops = torch.from_numpy(np.stack([photo[k * 64:k * 64 + 128, 100:228] for k in range(4)])).permute(0, 3, 1, 2)
    with torch.no_grad():
        residuals = (load_generator(family)(crops.float()) - crops).mean(1).numpy()
    spectrum = np.mean([np.abs(np.fft.fft2(r)) for r in residuals], axis=0)

    def prominence(u, v):  # the frequency against its neighbours along the first axis
        return spectrum[u, v] / np.mean([spectrum[u + d, v] for d in (-2, -1, 1, 2)])

    peaks = [prominence(64, 64), (prominence(64, 0) + prominence(0, 64)) / 2, (prominence(32, 0) + prominence(0, 32)) / 2]
    assert max(peaks) > 2


def test_training_writes_safetensors_and_manifest(tmp_path):
    result = CliRunner().invoke(app, ["train", "dataset", "synthetic", "-o", "families=[nearest]", "-o", "steps=3",
                                      "-o", f"out={tmp_path}"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "autogan-nearest.json").read_text())
    assert manifest["recipe"]["steps"] == 3 and manifest["sha256"] == file_sha256(tmp_path / manifest["file"])
    assert load_generator("nearest", tmp_path)(__import__("torch").rand(1, 3, 16, 16)).shape == (1, 3, 16, 16)
    assert sum(p.numel() for p in build_generator("nearest").parameters()) < 500_000


def test_synthetic_images_are_jpegs_of_each_family(tmp_path):
    dataset = spoc_bench.build_dataset("synthetic", size=64, views=(2, 1, 1), crops_per_photo=1, root=str(tmp_path))
    dataset.prepare()
    test = dataset.samples("defender-test")
    assert sorted(s.generator for s in test) == sorted(FAMILIES) and {s.source for s in test} == {"synthetic"}
    pixels, container, _ = read_image(test[0].path)
    assert pixels.shape == (64, 64, 3) and container.is_jpeg


def test_missing_weights_name_the_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="spoc-bench train dataset synthetic"):
        load_generator("nearest", tmp_path)


def test_show_writes_a_sheet(tmp_path, demo_root):
    result = CliRunner().invoke(app, ["show", "demo", "--data-root", str(demo_root), "--out", str(tmp_path / "s.png"),
                                      "--per-class", "4"])
    assert result.exit_code == 0, result.output
    from PIL import Image

    with Image.open(tmp_path / "s.png") as sheet:
        assert sheet.width > 500 and sheet.height > 5 * 150  # five rows: 3 cameras, 2 generators


def test_shipped_weights_round_trip_with_manifest(tmp_path):
    import torch

    from spoc_bench.weights import file_sha256 as sha, load_weights, save_weights

    path = save_weights({"w": torch.arange(4.0)}, "detector", "probe", "simcam", {"recipe": {"steps": 1}}, tmp_path)
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["sha256"] == sha(path) and manifest["command"] == "spoc-bench train detector probe"
    assert torch.equal(load_weights("detector", "probe", "simcam", tmp_path)["w"], torch.arange(4.0))
    with pytest.raises(FileNotFoundError, match="spoc-bench train detector other"):
        load_weights("detector", "other", "simcam", tmp_path)
