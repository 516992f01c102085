import json

import numpy as np
import pytest
import torch

import spoc_bench
from spoc_bench.images import jpeg_container, to_tensor

SMALL = dict(size=64, views=(2, 1, 2), crops_per_photo=1, workers=1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """SpoC trained for a few steps on a tiny simcam (the shipped weights are trained the same way)."""
    folder = tmp_path_factory.mktemp("spoc")
    options = {**SMALL, "root": str(folder / "data")}
    from spoc_bench.attacks.spoc import SpoC

    written = SpoC.train(target="gamma", dataset_options=options, steps=3, embedder_steps=3, batch=4,
                         out=str(folder), log=lambda *a: None)
    return folder, written


def test_training_writes_embedder_and_generator_with_manifests(trained):
    folder, written = trained
    assert [p.name for p in written] == ["spoc-simcam-embedder.safetensors", "spoc-simcam-gamma.safetensors"]
    manifest = json.loads((folder / "spoc-simcam-gamma.json").read_text())
    assert manifest["target"] == "gamma" and manifest["data"]["split"] == "attacker"
    assert manifest["recipe"]["content"] == 20.0 and manifest["recipe"]["adversarial"] == 0.1
    embedder = json.loads((folder / "spoc-simcam-embedder.json").read_text())
    assert len(embedder["classes"]) == 8 and embedder["recipe"]["dim"] == 512


def test_attack_keeps_size_content_and_saves_like_the_target(trained):
    folder, _ = trained
    attack = spoc_bench.build_attack("spoc", weights_dir=str(folder))
    assert attack.threat_model == "black-box" and attack.needs == {"target_samples"}
    from spoc_bench.contracts import Item, Sample

    target_container = jpeg_container(92, "4:2:0", make="Gamma", model="gamma")
    sample_item = Item(Sample("t", "attacker", "real", camera="gamma"), np.zeros((8, 8, 3), np.uint8), target_container)
    attack.fit("gamma", [sample_item])
    images = to_tensor([np.random.default_rng(0).integers(0, 256, (72, 40, 3), dtype=np.uint8)])
    out = attack(images)
    assert out.shape == images.shape and (out - images).abs().max() <= 0.1 + 1e-6
    saved = attack.save(out, [Item(Sample("s", "defender-test", "synthetic"), np.zeros((72, 40, 3), np.uint8),
                                   jpeg_container(90))])
    assert saved[0][1] == target_container
    assert len(attack.weights_id("gamma")) == 64 and attack.weights_id("alpha-1") == "missing"


def test_missing_generator_names_the_training_command(tmp_path):
    attack = spoc_bench.build_attack("spoc", weights_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="spoc-bench train attack spoc"):
        attack.fit("gamma", [])


def test_generator_is_fully_convolutional_and_differentiable():
    from spoc_bench.attacks._spoc_nets import Discriminator, Embedder, Generator

    generator = Generator()
    assert sum(isinstance(m, torch.nn.Conv2d) for m in generator.modules()) == 7
    images = torch.rand(2, 3, 40, 56, requires_grad=True)
    generator(images).sum().backward()
    assert images.grad is not None and images.grad.shape == images.shape
    assert Discriminator()(torch.rand(2, 3, 64, 64)).shape == (2,)
    assert Embedder(8).embedding(torch.rand(2, 3, 64, 64)).shape == (2, 512)


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


SIMCAM_TARGETS = ["alpha-1", "alpha-2", "beta-1", "beta-2", "delta", "epsilon", "gamma", "zeta"]


@pytest.mark.parametrize("target", SIMCAM_TARGETS)
def test_shipped_generator_for_every_simcam_camera_keeps_the_content(target):
    from spoc_bench.shipped import file_sha256, weights_path

    path = weights_path("attack", "spoc", f"simcam-{target}")
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["target"] == target and manifest["data"]["split"] == "attacker"
    assert manifest["sha256"] == file_sha256(path) and path.stat().st_size < 1_000_000
    attack = spoc_bench.build_attack("spoc")
    attack.fit(target, [])
    from spoc_bench.datasets._scenes import load_photo

    images = to_tensor([(load_photo("coffee", 0.5)[:96, :128] * 255).round().astype(np.uint8)])
    with torch.no_grad():
        out = attack(images)
    psnr = 10 * np.log10(1 / float(((out - images) ** 2).mean()))
    assert out.shape == images.shape and 25 < psnr < 60  # it changes the image, and keeps it (26.9-39.9 dB)


def test_shipped_embedder_manifest():
    from spoc_bench.shipped import weights_path

    manifest = json.loads(weights_path("attack", "spoc", "simcam-embedder").with_suffix(".json").read_text())
    assert manifest["classes"] == SIMCAM_TARGETS and manifest["data"]["split"] == "attacker"
    assert manifest["final_patch_accuracy"] > 0.8
