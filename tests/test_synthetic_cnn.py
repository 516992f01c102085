"""wang2020 and gragnaniello2021: the ResNets, the augmentation, predict, and a short training."""

import json

import numpy as np
import pytest
import torch

import spoc_bench
from spoc_bench.detectors._resnet import ResNet
from spoc_bench.detectors._synthetic_cnn import augment
from spoc_bench.weights import file_sha256, weights_path

SMALL = dict(size=64, views=(4, 2, 2), crops_per_photo=1)


def test_full_size_resnet50_has_the_papers_parameter_count():
    assert sum(p.numel() for p in ResNet(50, 64).parameters()) == 23_510_081  # torchvision's, with one logit
    assert sum(p.numel() for p in ResNet(18, 64).parameters()) == 11_177_025


def test_no_downsampling_stem_keeps_sixteen_times_the_positions():
    usual, kept = ResNet(18, 8, stem_stride=2).features, ResNet(18, 8, stem_stride=1).features
    image = torch.rand(1, 3, 64, 64)
    assert usual(image).shape[-1] == 2 and kept(image).shape[-1] == 8


def test_augment_crops_and_stays_uint8():
    pixels = np.random.default_rng(0).integers(0, 256, (80, 90, 3), dtype=np.uint8)
    rng = np.random.default_rng(1)
    outs = [augment(pixels, 32, rng) for _ in range(20)]
    assert all(o.shape == (32, 32, 3) and o.dtype == np.uint8 for o in outs)
    changed = [not any((o == pixels[y:y + 32, x:x + 32]).all() or (o == pixels[y:y + 32, x:x + 32][:, ::-1]).all()
                       for y in range(49) for x in range(59)) for o in outs[:8]]
    assert any(changed)  # some crops were blurred or compressed


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from spoc_bench.detectors.gragnaniello2021 import Gragnaniello2021

    folder = tmp_path_factory.mktemp("grag")
    written = Gragnaniello2021.train(steps=2, width=4, crop=32, out=str(folder), root=str(folder / "data"),
                                     threads=1, log=lambda _: None, **SMALL)
    return folder, written


def test_training_writes_weights_a_manifest_and_per_family_auc(trained):
    folder, written = trained
    path = folder / "gragnaniello2021-simcam-r18w4.safetensors"
    assert written == [path, path.with_suffix(".json")]
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["sha256"] == file_sha256(path) and manifest["recipe"]["stem_stride"] == 1
    assert manifest["train_families"] == ["transposed", "nearest"] and manifest["recipe"]["width"] == 4
    assert set(manifest["defender_test_auc"]) == {"transposed", "nearest", "bilinear", "pixelshuffle"}
    assert all(0 <= v["auc"] <= 1 and v["n"] > 0 for v in manifest["defender_test_auc"].values())


def test_predict_any_size_probabilities_and_gradients(trained):
    folder, _ = trained
    detector = spoc_bench.build_detector("gragnaniello2021", weights="simcam-r18w4", weights_dir=str(folder))
    assert detector.classes == ("real", "synthetic") and detector.task == "synthetic"
    for size in [(40, 56), (64, 64)]:
        images = torch.rand(2, 3, *size, requires_grad=True)
        probabilities = detector.predict(images)
        assert probabilities.shape == (2, 2) and torch.allclose(probabilities.sum(1), torch.ones(2))
        probabilities[:, 1].sum().backward()
        assert images.grad is not None and images.grad.abs().sum() > 0


def test_missing_weights_name_the_training_command(tmp_path):
    detector = spoc_bench.build_detector("wang2020", weights_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="spoc-bench train detector wang2020"):
        detector.predict(torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match="trained weights only"):
        spoc_bench.build_detector("wang2020", weights="fit")


@pytest.mark.parametrize("name,tag", [("wang2020", "simcam-w16"), ("gragnaniello2021", "simcam-r18w16")])
def test_shipped_weights_separate_real_from_synthetic(name, tag):
    path = weights_path("detector", name, tag)
    if not path.exists():
        pytest.fail(f"{path} is not shipped")
    manifest = json.loads(path.with_suffix(".json").read_text())
    detector = spoc_bench.build_detector(name)
    assert detector.weights == tag and detector.weights_id() == manifest["sha256"] and path.stat().st_size < 8_000_000
    in_family = [manifest["defender_test_auc"][f]["auc"] for f in manifest["train_families"]]
    assert min(in_family) >= 0.99, manifest["defender_test_auc"]
