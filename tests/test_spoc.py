import json

import numpy as np
import pytest
import torch

import spoc_bench
from spoc_bench.images import jpeg_container, to_tensor
from tests.conftest import SIMCAM_TARGETS, shipped_attack_manifest, textured

SMALL = dict(size=64, views=(2, 1, 2), crops_per_photo=1, workers=1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """SpoC trained for a few steps on a tiny simcam (the shipped weights are trained the same way)."""
    folder = tmp_path_factory.mktemp("spoc")
    options = {**SMALL, "root": str(folder / "data")}
    from spoc_bench.attacks.spoc import SpoC

    written = SpoC.train(target="gamma", dataset_options=options, steps=60, embedder_steps=20, surrogate_steps=20,
                         batch=4, validate_every=20, out=str(folder), log=lambda *a: None)
    return folder, written


def test_training_writes_embedder_and_generator_with_manifests(trained):
    folder, written = trained
    assert [p.name for p in written] == ["spoc-simcam-embedder.safetensors", "spoc-simcam-constrained.safetensors",
                                         "spoc-simcam-gamma.safetensors"]
    manifest = json.loads((folder / "spoc-simcam-gamma.json").read_text())
    assert manifest["target"] == "gamma" and manifest["data"]["split"] == "attacker"
    assert manifest["recipe"]["budget_psnr"] == 35.0 and manifest["recipe"]["adversarial"] == 0.1
    assert manifest["saved_as"]["subsampling"] == "4:2:0" and manifest["crop"] == 48  # 64-px images: a 32-px centre on the 16-px grid
    checks = manifest["attacker_validation"]["checks"]
    assert [c["step"] for c in checks] == [0, 20, 40, 60]  # 0: the untrained generator
    assert set(checks[1]) >= {"embedder", "constrained", "phase_judge", "psnr", "camera_loss"}
    embedder = json.loads((folder / "spoc-simcam-embedder.json").read_text())
    assert len(embedder["classes"]) == 8 and embedder["recipe"]["dim"] == 512


def test_training_lowers_the_generators_losses(trained):
    folder, _ = trained
    checks = json.loads((folder / "spoc-simcam-gamma.json").read_text())["attacker_validation"]["checks"]
    assert "camera_loss" not in checks[0]  # step 0: the untrained generator, no loss yet
    # 16-px gains on real residuals can only move the budget around: the losses fall by 3-9 % here
    for loss in ("camera_loss", "spectrum_loss"):
        assert checks[-1][loss] < checks[1][loss]


def test_a_generator_trains_in_bfloat16_where_asked(trained):
    folder, _ = trained
    from spoc_bench.attacks.spoc import SpoC

    options = {**SMALL, "root": str(folder / "data")}
    written = SpoC.train(target="zeta", dataset_options=options, steps=10, batch=4, validate_every=10,
                         out=str(folder), precision="bf16", log=lambda *a: None)
    manifest = json.loads(written[-1].with_suffix(".json").read_text())
    assert [p.name for p in written] == ["spoc-simcam-zeta.safetensors"] and manifest["recipe"]["precision"] == "bf16"
    assert [c["step"] for c in manifest["attacker_validation"]["checks"]] == [0, 10]
    assert json.loads((folder / "spoc-simcam-gamma.json").read_text())["recipe"]["precision"] == "fp32"


def test_attack_keeps_size_content_and_saves_like_the_target(trained):
    folder, _ = trained
    attack = spoc_bench.build_attack("spoc", weights_dir=str(folder), psnr=None)  # the generator's own budget
    assert attack.threat_model == "black-box" and attack.needs == {"target_samples"}
    from spoc_bench.contracts import Item, Sample

    target_container = jpeg_container(92, "4:2:0", make="Gamma", model="gamma")
    camera = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    sample_item = Item(Sample("t", "attacker", "real", camera="gamma"), camera, target_container)
    attack.fit("gamma", [sample_item])
    images = to_tensor([np.random.default_rng(0).integers(0, 256, (72, 40, 3), dtype=np.uint8)])
    out = attack(images)
    mean_square = float(((out - images) ** 2).mean())
    assert out.shape == images.shape and (out != images).any()
    assert mean_square <= 10 ** -3.5 * (1 + 1e-4)  # the quality budget: 35 dB before the save
    saved = attack.save(out, [Item(Sample("s", "defender-test", "synthetic"), np.zeros((72, 40, 3), np.uint8),
                                   jpeg_container(90))])
    assert saved[0][1] == target_container
    assert len(attack.weights_id("gamma")) == 64 and attack.weights_id("alpha-1") == "missing"


def test_attack_brings_every_saved_file_to_its_psnr(trained):
    from spoc_bench.contracts import Item, Sample
    from spoc_bench.images import decode
    from spoc_bench.metrics import psnr

    from spoc_bench.datasets._scenes import load_photo

    folder, _ = trained
    target = Item(Sample("t", "attacker", "real", camera="gamma"), textured(9), jpeg_container(92, "4:2:0"))
    photo = np.round(load_photo("coffee", 0.5) * 255).astype(np.uint8)
    inputs = [photo[:64, :64], photo[64:128, 32:96]]  # smooth enough that the re-save alone stays above 35 dB
    items = [Item(Sample(f"s{i}", "defender-test", "synthetic"), pixels, jpeg_container(90))
             for i, pixels in enumerate(inputs)]
    assert spoc_bench.build_attack("spoc").psnr == 32.0
    for decibels in (33.0, 35.0):
        attack = spoc_bench.build_attack("spoc", weights_dir=str(folder), psnr=decibels).fit("gamma", [target])
        saved = attack.save(attack(to_tensor(inputs)), items)
        measured = [psnr(item.pixels, decode(data)) for (data, _), item in zip(saved, items)]
        assert all(decibels <= value < decibels + 0.1 for value in measured), measured


def test_missing_generator_names_the_training_command(tmp_path):
    attack = spoc_bench.build_attack("spoc", weights_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="spoc-bench train attack spoc"):
        attack.fit("gamma", [])


def test_generator_is_fully_convolutional_and_differentiable():
    from spoc_bench.attacks._spoc_nets import Discriminator, Embedder, Generator

    generator = Generator()
    assert sum(isinstance(m, torch.nn.Conv2d) for m in generator.modules()) == 5
    images, fine, residual = (torch.rand(2, 3, 40, 56, requires_grad=True) for _ in range(3))
    generator(images, fine, residual).sum().backward()
    assert images.grad is not None and images.grad.shape == images.shape and residual.grad.abs().sum() > 0
    assert Discriminator()(torch.rand(2, 3, 64, 64)).shape == (2,)
    assert Embedder(8).embedding(torch.rand(2, 3, 64, 64)).shape == (2, 512)


def test_generator_applies_the_camera_residual_within_its_budget():
    """Untrained, every gain is one half: half the residual added, half the finest band taken away,
    the change scaled down to the budget when it exceeds it."""
    from spoc_bench.attacks._spoc_nets import Generator

    generator = Generator(budget=1e-4)
    images, fine = torch.full((1, 3, 32, 32), 0.5), torch.zeros(1, 3, 32, 32)
    residual = 0.01 * torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        small = generator(images, fine, residual)
        large = generator(images, fine - residual, 10 * residual)
    assert torch.allclose(small - images, residual / 2, atol=1e-7)
    assert abs(float(((large - images) ** 2).mean()) - 1e-4) < 1e-7  # 40 dB before the save


def test_generator_gains_are_phase_locked_and_reload():
    """The learned 8x8 phase bias: on a flat image and a flat residual the change has period 8."""
    from spoc_bench.attacks._spoc_nets import Generator

    generator = Generator(period=8)
    with torch.no_grad():
        generator.phase.normal_()
        generator.body[-1].weight.normal_(0, 0.1)
        images, fine, residual = torch.full((1, 3, 32, 32), 0.5), torch.zeros(1, 3, 32, 32), torch.full((1, 3, 32, 32), 0.01)
        out = generator(images, fine, residual)
    centre = out[0, :, 8:24, 8:24]  # away from the zero padding
    assert torch.allclose(centre[..., :8, :8], centre[..., 8:, 8:], atol=1e-6)
    assert centre.std() > 1e-5
    again = Generator.from_state(generator.state_dict())
    assert torch.equal(again(images, fine, residual), out) and float(again.budget) == float(generator.budget)
    assert Generator.from_state(Generator(period=0).state_dict()).phase is None


@pytest.mark.parametrize("subsampling", ["4:4:4", "4:2:2", "4:2:0"])
def test_differentiable_jpeg_matches_pillow_and_passes_gradients(subsampling):
    from spoc_bench.attacks._diffjpeg import DiffJpeg
    from spoc_bench.images import save_as

    rng = np.random.default_rng(0)
    from spoc_bench.datasets._scenes import load_photo

    photo = load_photo("coffee", 0.5)[:64, :96] * 255 + rng.normal(0, 8, (64, 96, 3))
    pixels = np.clip(photo.round(), 0, 255).astype(np.uint8)
    container = jpeg_container(80, subsampling)
    pillow = save_as(pixels, container).astype(float)
    images = to_tensor([pixels]).requires_grad_()
    ours = DiffJpeg(container.qtables, subsampling)(images)
    error = ((ours[0].detach().permute(1, 2, 0).numpy() * 255 - pillow) ** 2).mean()
    before = ((pixels.astype(float) - pillow) ** 2).mean()
    assert 10 * np.log10(255 ** 2 / error) > 38 and error < before / 4
    ours.sum().backward()
    assert images.grad.abs().mean() > 0.5  # straight-through: about 1 per pixel
    with pytest.raises(ValueError, match="multiples of 16"):
        DiffJpeg(container.qtables, subsampling)(torch.rand(1, 3, 40, 48))


def test_attack_a_folder_writes_target_files_and_a_manifest(trained, tmp_path):
    from PIL import Image

    from spoc_bench.apply import attack_folder

    folder, _ = trained
    source = tmp_path / "in"
    source.mkdir()
    from spoc_bench.datasets._scenes import load_photo

    photo = (load_photo("coffee", 0.5)[:80, :96] * 255).round().astype(np.uint8)
    Image.fromarray(photo).save(source / "a.png")
    (source / "notes.txt").write_text("not an image")
    dataset = spoc_bench.build_dataset("simcam", root=str(folder / "data"), **SMALL)
    dataset.prepare()
    manifest = attack_folder(spoc_bench.build_attack("spoc", weights_dir=str(folder)), dataset, "gamma",
                             source, tmp_path / "out")
    (record,) = manifest["images"]
    from spoc_bench.images import read_image

    pixels, container, _ = read_image(record["output"])
    assert pixels.shape == (80, 96, 3) and container.model == "gamma" and container.is_jpeg
    assert record["psnr"] > 20 and manifest["skipped"][0]["reason"].startswith("not an image")
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["weights_sha256"] == manifest["weights_sha256"]


def test_show_attack_draws_a_row_per_input_and_target(trained, tmp_path):
    from PIL import Image

    from spoc_bench.show import attack_sheet

    folder, _ = trained
    dataset = spoc_bench.build_dataset("simcam", root=str(folder / "data"), **SMALL)
    dataset.prepare()
    path = attack_sheet(spoc_bench.build_attack("spoc", weights_dir=str(folder)), dataset, ["gamma"],
                        tmp_path / "attack.png", per_target=2)
    with Image.open(path) as sheet:
        assert sheet.width > 1000 and sheet.height >= 2 * 200


@pytest.mark.parametrize("target", SIMCAM_TARGETS)
def test_shipped_generator_for_every_simcam_camera_keeps_the_content(target):
    shipped_attack_manifest("spoc", target)
    from spoc_bench.contracts import Item, Sample
    from spoc_bench.datasets._scenes import load_photo

    photo = (load_photo("coffee", 0.5) * 255).round().astype(np.uint8)
    noisy = np.clip(photo + np.random.default_rng(0).normal(0, 6, photo.shape), 0, 255).astype(np.uint8)
    samples = [Item(Sample("s", "attacker", "real", camera=target), noisy[:64, :64], jpeg_container(92))]
    attack = spoc_bench.build_attack("spoc", psnr=None)  # the generator's own budget, without the attack-time rule
    attack.fit(target, samples)
    images = to_tensor([photo[:96, :128]])
    with torch.no_grad():
        out = attack(images)
    psnr = 10 * np.log10(1 / float(((out - images) ** 2).mean()))
    assert out.shape == images.shape and 34.9 < psnr < 60  # it changes the image, within its 35 dB budget


@pytest.mark.parametrize("surrogate", ["embedder", "constrained"])
def test_shipped_surrogate_manifests(surrogate):
    from spoc_bench.weights import weights_path

    manifest = json.loads(weights_path("attack", "spoc", f"simcam-{surrogate}").with_suffix(".json").read_text())
    assert manifest["classes"] == SIMCAM_TARGETS and manifest["data"]["split"] == "attacker"
    assert manifest["final_patch_accuracy"] > 0.8


def test_attacker_validation_holds_out_whole_scenes_and_ranks_quality_first():
    from spoc_bench.attacks.spoc import held_out, score

    scenes = sorted(["retina", "grace_hopper", *(f"leaves-attacker-{k}" for k in range(16))])
    kept = [s for s in scenes if held_out(s, scenes)]
    assert len(kept) == 5 and kept[0] == "grace_hopper"
    assert not held_out("retina", ["retina"])  # one scene: nothing to hold out
    good = {"embedder": 0.5, "constrained": 0.5, "phase_judge": 0.5, "psnr": 33.0}
    better_but_blurred = {"embedder": 1.0, "constrained": 1.0, "phase_judge": 1.0, "psnr": 31.0}
    assert score(good, 32.0) > score(better_but_blurred, 32.0)
    assert score({**good, "phase_judge": 0.8}, 32.0) > score(good, 32.0)
    judged_better = {**good, "embedder": 0.0, "constrained": 0.0, "phase_judge": 0.6}  # the model in no loss first
    assert score(judged_better, 32.0) > score(good, 32.0)
