"""MISLGAN (Chen, Zhao, Stamm 2019): the synthetic-CFA generator, its training, the attack."""

import json
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import spoc_bench
from spoc_bench.contracts import Item, Sample
from spoc_bench.images import jpeg_container, to_tensor
from tests.conftest import SIMCAM_TARGETS, shipped_attack_manifest

SMALL = dict(size=64, views=(2, 1, 2), crops_per_photo=1, workers=1)
LAYOUTS = {"RGGB", "GRBG", "GBRG", "BGGR"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """MISLGAN trained for a few steps on a tiny simcam, with tiny surrogates (the shipped weights
    are trained the same way, at full size)."""
    from spoc_bench.attacks.mislgan import MislGan

    folder = tmp_path_factory.mktemp("mislgan")
    tiny = dict(steps=60, batch=4, validate_every=20, embedder_steps=20, surrogate_steps=20)
    data = {**SMALL, "root": str(folder / "data")}
    return folder, MislGan.train(target="gamma", dataset_options=data, out=str(folder), log=lambda *a: None, **tiny)


def manifest_of(folder):
    return json.loads((folder / "mislgan-simcam-gamma.json").read_text())


def test_training_writes_surrogates_and_generator_with_a_manifest(trained):
    folder, written = trained
    assert [p.name for p in written] == ["spoc-simcam-embedder.safetensors", "spoc-simcam-constrained.safetensors",
                                         "mislgan-simcam-gamma.safetensors"]
    manifest = manifest_of(folder)
    assert manifest["target"] == "gamma" and manifest["data"]["split"] == "attacker"
    assert manifest["data"]["dataset"] == "simcam" and manifest["data"]["size"] == 64
    assert manifest["layout"] in LAYOUTS and manifest["seed"] == 0 and manifest["training_seconds"] > 0
    assert manifest["saved_as"]["subsampling"] == "4:2:0" and len(manifest["saved_as"]["qtables"]) == 2
    assert manifest["recipe"]["steps"] == 60 and manifest["recipe"]["scale"] == 0.1
    assert manifest["recipe"]["precision"] == "fp32"
    assert manifest["command"] == "spoc-bench train attack mislgan"
    validation = manifest["attacker_validation"]
    assert [c["step"] for c in validation["checks"]] == [20, 40, 60] and validation["kept_step"] in (20, 40, 60)
    assert set(validation["checks"][0]) >= {"l1", "camera_loss", "adversarial_loss", "embedder", "constrained",
                                            "phase_judge", "psnr"}


def test_training_lowers_the_camera_loss(trained):
    folder, _ = trained
    checks = manifest_of(folder)["attacker_validation"]["checks"]
    assert checks[-1]["camera_loss"] < checks[0]["camera_loss"]


def fitted(folder, samples=None):
    attack = spoc_bench.build_attack("mislgan", weights_dir=str(folder))
    container = jpeg_container(92, "4:2:0", make="Gamma", model="gamma")
    sample = Sample("t", "attacker", "real", camera="gamma")
    samples = samples or [Item(sample, np.zeros((8, 8, 3), np.uint8), container)]
    return attack.fit("gamma", samples), container


def test_attack_keeps_size_and_range_is_deterministic_and_saves_like_the_target(trained):
    folder, _ = trained
    attack, target_container = fitted(folder)
    assert attack.threat_model == "black-box" and attack.needs == {"target_samples"} and attack.saves_like_target
    images = to_tensor([np.random.default_rng(0).integers(0, 256, (71, 42, 3), dtype=np.uint8)])
    out = attack(images)
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1 and (out != images).any()
    assert torch.equal(out, attack(images))
    saved = attack.save(out, [Item(Sample("s", "defender-test", "synthetic"), np.zeros((71, 42, 3), np.uint8),
                                   jpeg_container(90))])
    assert saved[0][1] == target_container
    assert len(attack.weights_id("gamma")) == 64 and attack.weights_id("alpha-1") == "missing"


def test_output_is_a_re_interpolation_of_the_mosaic_on_the_trained_layout(trained):
    """The design's guarantees: every pixel's sampled colour (on the layout of the manifest) stays
    within 0.1 of the input, and the output depends on the mosaic alone."""
    from spoc_bench.attacks.mislgan import bayer_masks

    folder, _ = trained
    attack, _ = fitted(folder)
    assert attack.layout_ == manifest_of(folder)["layout"]
    rng = np.random.default_rng(1)
    images = to_tensor([rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)])
    masks = bayer_masks(attack.layout_, 48, 64)
    assert torch.equal(masks.sum(1), torch.ones(1, 48, 64))  # one colour per pixel
    out = attack(images)
    assert ((out - images).abs() * masks).max() <= 0.1 + 1e-6
    noise = torch.rand(images.shape, generator=torch.Generator().manual_seed(0))
    unsampled_changed = images * masks + noise * (1 - masks)
    assert torch.allclose(attack(unsampled_changed), out, atol=1e-6)


def test_weights_without_a_manifest_take_the_layout_estimated_from_the_target_samples(trained, tmp_path):
    from spoc_bench.attacks.cfa_resynth import CfaResynth

    folder, _ = trained
    shutil.copy(folder / "mislgan-simcam-gamma.safetensors", tmp_path)
    dataset = spoc_bench.build_dataset("simcam", root=str(folder / "data"), **SMALL)
    dataset.prepare()
    samples = [i for i in dataset.items(dataset.samples("attacker"))
               if i.sample.source == "real" and i.sample.camera == "gamma"]
    attack, _ = fitted(tmp_path, samples)
    assert attack.layout_ == CfaResynth().fit("gamma", samples).layout_


def test_bilinear_block_matches_colour_demosaicing():
    from colour_demosaicing import demosaicing_CFA_Bayer_bilinear, mosaicing_CFA_Bayer

    from spoc_bench.attacks.mislgan import CfaGenerator, bayer_masks, bilinear_demosaic

    image = np.random.default_rng(2).random((20, 26, 3))
    for layout in sorted(LAYOUTS):
        expected = demosaicing_CFA_Bayer_bilinear(mosaicing_CFA_Bayer(image, layout), layout)
        mosaic = torch.from_numpy(image.transpose(2, 0, 1))[None].float() * bayer_masks(layout, 20, 26)
        ours = bilinear_demosaic(mosaic)[0].numpy().transpose(1, 2, 0)
        assert np.abs(ours - expected)[1:-1, 1:-1].max() < 1e-5  # colour-demosaicing repeats the edge pixel
        kept = bayer_masks(layout, 20, 26)[0].numpy().transpose(1, 2, 0)
        assert np.abs((ours - image) * kept).max() < 1e-6  # every sampled value, the border's too
    generator = CfaGenerator("GRBG", layers=4, width=8)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in generator.body.modules()) == 4
    restored = CfaGenerator.from_state(generator.state_dict(), "GRBG", 0.1)
    images = torch.rand(2, 3, 17, 30)
    assert torch.equal(restored(images), generator(images).detach())
    with pytest.raises(ValueError, match="layout must be one of"):
        CfaGenerator("RGBG")


def test_missing_weights_name_the_training_command(tmp_path):
    attack = spoc_bench.build_attack("mislgan", weights_dir=str(tmp_path))
    assert attack.weights_id("gamma") == "missing"
    named = r"mislgan-simcam-gamma\.safetensors are missing; .*`spoc-bench train attack mislgan`"
    with pytest.raises(FileNotFoundError, match=named):
        attack.fit("gamma", [])


def test_cli_lists_it_as_black_box_and_trains_it_with_options():
    from spoc_bench.cli import app

    runner = CliRunner()
    listed = runner.invoke(app, ["list", "attacks"])
    (line,) = [row for row in listed.output.splitlines() if row.split()[:1] == ["mislgan"]]
    assert listed.exit_code == 0 and "black-box" in line
    wrong = runner.invoke(app, ["train", "attack", "mislgan", "-o", "stepz=3"])
    assert wrong.exit_code == 2 and "target" in wrong.output and "steps" in wrong.output


@pytest.mark.parametrize("target", SIMCAM_TARGETS)
def test_shipped_generator_for_every_simcam_camera(target):
    from spoc_bench.datasets._scenes import load_photo

    assert shipped_attack_manifest("mislgan", target)["layout"] in ("RGGB", "GRBG", "GBRG", "BGGR")
    attack = spoc_bench.build_attack("mislgan").fit(target, [])
    images = to_tensor([(load_photo("coffee", 0.5)[:96, :128] * 255).round().astype(np.uint8)])
    with torch.no_grad():
        out = attack(images)
    psnr = 10 * np.log10(1 / float(((out - images) ** 2).mean()))
    assert out.shape == images.shape and 25 < psnr < 60
