"""bondi2017: the network's layer shapes, patch selection (deterministic, on the JPEG grid, favouring
mid-intensity textured patches), differentiable predictions, the shipped weights on a few simcam
defender-test images, and the training recipe (a couple of steps on a small simcam)."""

import json

import numpy as np
import pytest
import torch

import spoc_bench
from spoc_bench.detectors._bondi2017_net import PATCH, SCALE, BondiNet
from spoc_bench.training import validation_scenes
from spoc_bench.detectors.bondi2017 import Bondi2017, extract_patches, patch_quality, select_positions
from spoc_bench.weights import file_sha256, pack_classes, save_weights, unpack_classes, weights_path

CLASSES = tuple(f"cam-{k}" for k in range(8))


def random_weights(folder, tag="random", seed=0):
    torch.manual_seed(seed)
    net = BondiNet(len(CLASSES))
    net.mean.uniform_(100, 150)
    save_weights({**net.state_dict(), "meta.classes": pack_classes(CLASSES)}, "detector", "bondi2017", tag, {}, folder)
    return net


# ------------------------------------------------------------------------------- architecture
def test_layer_shapes_parameters_and_linearity():
    net = BondiNet(8)
    sides, x = [], torch.zeros(2, 3, PATCH, PATCH)
    for layer in net.features:
        x = layer(x)
        sides.append((type(layer).__name__, x.shape[1], x.shape[-1]))
    assert sides == [("Conv2d", 32, 61), ("MaxPool2d", 32, 31), ("Conv2d", 48, 27), ("MaxPool2d", 48, 14),
                     ("Conv2d", 64, 10), ("MaxPool2d", 64, 5), ("Conv2d", 128, 1)]
    kernels = [m.kernel_size for m in net.features if isinstance(m, torch.nn.Conv2d)]
    assert kernels == [(4, 4), (5, 5), (5, 5), (5, 5)]
    # no non-linearity after the convolutions; FC 128 + ReLU, then FC n_models
    assert {type(m) for m in net.features} == {torch.nn.Conv2d, torch.nn.MaxPool2d}
    assert [type(m).__name__ for m in net.classifier] == ["Flatten", "Linear", "ReLU", "Linear"]
    assert net.classifier[1].out_features == 128 and net.classifier[3].out_features == 8
    assert net(torch.rand(3, 3, PATCH, PATCH)).shape == (3, 8)
    assert sum(p.numel() for p in net.parameters()) == 339_352


def test_normalisation_subtracts_the_mean_and_scales():
    net = BondiNet(8)
    net.mean.fill_(128.0)
    patch = torch.rand(1, 3, PATCH, PATCH)
    assert torch.allclose(net.normalise(patch), (patch * 255 - 128) * SCALE)
    assert SCALE == 0.0125


def test_class_names_round_trip():
    assert unpack_classes(pack_classes(("alpha-1", "beta-2", "zeta"))) == ("alpha-1", "beta-2", "zeta")


# ---------------------------------------------------------------------------- patch selection
def test_selection_is_deterministic_on_the_grid_and_per_image():
    images = torch.rand(3, 3, 200, 264)
    positions = select_positions(images, 32, 32)
    assert positions.shape == (3, 32, 2)
    assert torch.equal(positions, select_positions(images.clone(), 32, 32))
    assert torch.equal(positions[1:2], select_positions(images[1:2], 32, 32))  # independent of the batch
    assert (positions % 8 == 0).all() and (positions % 32 == 0).all()
    assert (positions[..., 0] + PATCH <= 200).all() and (positions[..., 1] + PATCH <= 264).all()
    for row in positions:
        assert len({tuple(p) for p in row.tolist()}) == 32
    patches = extract_patches(images, positions, 32)
    y, x = positions[2, 5].tolist()
    assert torch.equal(patches[2, 5], images[2, :, y:y + PATCH, x:x + PATCH])
    with pytest.raises(ValueError, match="multiple of 8"):
        select_positions(images, 32, 12)


def test_quality_favours_mid_intensity_and_texture():
    def q(image):
        return float(patch_quality(image, 32)[0, 0, 0])

    flat = lambda value: torch.full((1, 3, 64, 64), value)
    noise = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) - 0.5
    assert q(flat(0.5)) == pytest.approx(0.7 * 4 * 0.25)  # alpha beta mu (1 - mu) at mu = 1/2, no texture
    assert q(flat(1.0)) == pytest.approx(0.0) and q(flat(0.0)) == pytest.approx(0.0)  # saturated, black
    assert q(flat(0.5)) > q(flat(0.3)) > q(flat(0.1)) > 0
    assert q(0.5 + 0.4 * noise) > q(0.5 + 0.1 * noise) > q(flat(0.5))
    sigma = float((0.5 + 0.4 * noise).std(dim=(-2, -1), unbiased=False).mean())
    assert q(0.5 + 0.4 * noise) == pytest.approx(0.7 + 0.3 * (1 - 0.01 ** sigma), abs=2e-3)


def test_selection_takes_the_best_windows_and_breaks_ties_in_raster_order():
    flat = torch.full((1, 3, 256, 256), 0.5)
    assert select_positions(flat, 5, 32)[0].tolist() == [[0, 0], [0, 32], [0, 64], [0, 96], [0, 128]]
    image = flat.clone()
    image[..., 64:192, 128:256] += 0.4 * (torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0)) - 0.5)
    best = select_positions(image, 9, 32)[0]
    assert {tuple(p) for p in best.tolist()} == {(y, x) for y in (64, 96, 128) for x in (128, 160, 192)}
    assert select_positions(image, 100, 32).shape == (1, 49, 2)  # fewer candidates than asked: all
    assert select_positions(torch.rand(1, 3, 64, 70), 32, 32).tolist() == [[[0, 0]]]
    with pytest.raises(ValueError, match="smaller"):
        select_positions(torch.rand(1, 3, 63, 100))


def test_validation_scenes_are_whole_scenes_of_about_a_sixth():
    scenes = [f"photo-{k // 4}" for k in range(20)] + [f"leaves-{k}" for k in range(28)]
    chosen = validation_scenes(scenes, seed=0)
    assert chosen == validation_scenes(scenes, seed=0)
    held = sum(s in chosen for s in scenes)
    assert 8 <= held <= 12 and len(set(chosen)) < len(set(scenes))


# -------------------------------------------------------------------------------- predictions
def test_predict_is_the_softmax_of_mean_patch_log_probabilities_and_differentiable(tmp_path):
    net = random_weights(tmp_path).eval()
    detector = Bondi2017(weights="random", weights_dir=str(tmp_path))
    assert detector.classes == CLASSES and not detector.needs_fit and detector.min_size == PATCH
    images = torch.rand(2, 3, 128, 160, requires_grad=True)
    probabilities = detector.predict(images)
    assert probabilities.shape == (2, 8) and probabilities.dtype == torch.float32
    assert torch.allclose(probabilities.sum(1), torch.ones(2))
    positions = select_positions(images, 32, 32)
    with torch.no_grad():
        logp = net(extract_patches(images, positions).reshape(-1, 3, PATCH, PATCH)).log_softmax(1).view(2, -1, 8)
    assert torch.allclose(probabilities, logp.mean(1).softmax(1), atol=1e-6)
    probabilities[:, 3].sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    covered = torch.zeros(2, 128, 160, dtype=torch.bool)
    for n, row in enumerate(positions.tolist()):
        for y, x in row:
            covered[n, y:y + PATCH, x:x + PATCH] = True
    assert (images.grad.abs().sum(1)[~covered] == 0).all()  # only the selected patches matter


def test_log_predict_keeps_a_gradient_where_a_probability_rounds_to_zero(tmp_path):
    net = random_weights(tmp_path)
    with torch.no_grad():
        net.classifier[-1].weight.mul_(1e4)  # logits far apart: softmax rounds the unlikely classes to 0
    save_weights({**net.state_dict(), "meta.classes": pack_classes(CLASSES)}, "detector", "bondi2017", "sharp", {},
                 tmp_path)
    detector = Bondi2017(weights="sharp", weights_dir=str(tmp_path))
    images = torch.rand(1, 3, 96, 96, requires_grad=True)
    log_probabilities = detector.log_predict(images)
    unlikely = int(log_probabilities[0].argmin())
    assert detector.predict(images)[0, unlikely] == 0 and torch.isfinite(log_probabilities).all()
    assert torch.allclose(log_probabilities.exp(), detector.predict(images))
    log_probabilities[0, unlikely].backward()
    assert images.grad.abs().sum() > 0


def test_weights_id_is_the_file_hash_and_a_missing_file_names_the_command(tmp_path):
    random_weights(tmp_path)
    detector = Bondi2017(weights="random", weights_dir=str(tmp_path))
    assert detector.weights_id() == file_sha256(weights_path("detector", "bondi2017", "random", tmp_path))
    missing = Bondi2017(weights="simcam", weights_dir=str(tmp_path / "nowhere"))
    for call in (missing.weights_id, lambda: missing.classes):
        with pytest.raises(FileNotFoundError, match="spoc-bench train detector bondi2017"):
            call()


def test_registered_and_listed_without_importing_torch_modules():
    assert "bondi2017" in spoc_bench.list_detectors("bondi*")


# ---------------------------------------------------------------------- shipped weights, training
def defender_test_views(indices):
    """A few views of simcam's default defender-test split rendered through every camera into memory,
    exactly as the cached dataset holds them (a few seconds, without generating the whole dataset):
    [(pixels, container, camera)]."""
    from spoc_bench.datasets._camera import render
    from spoc_bench.datasets._scenes import scene_content, scene_views
    from spoc_bench.datasets.simcam import CAMERAS, DEVICES, SimCam
    from spoc_bench.images import decode, encode

    simcam = SimCam(generators=())
    views = list(enumerate(scene_views(simcam.views, simcam.crops_per_photo)))
    test_views = [(index, view) for index, view in views if view[0] == "defender-test"]
    out = []
    for index, (split, scene, view) in (test_views[k] for k in indices):
        content = scene_content(scene, view, simcam.size, simcam.photo_scale, simcam.crops_per_photo, simcam.seed)
        for camera in CAMERAS:
            device = f"{camera.name}-d{DEVICES[split][index % len(DEVICES[split])]}"
            rng = np.random.default_rng([simcam.seed, index, *camera.name.encode()])
            pixels, container = render(content, camera, device, rng)
            out.append((decode(encode(pixels, container)), container, camera.name))  # saved as the camera saves
    return out


def test_shipped_weights_identify_simcam_defender_test_images():
    path = weights_path("detector", "bondi2017", "simcam")
    manifest = json.loads(path.with_suffix(".json").read_text())
    detector = Bondi2017()
    assert detector.weights_id() == manifest["sha256"] == file_sha256(path)
    assert manifest["defender_test_accuracy"] >= 0.95 and path.stat().st_size < 4_000_000
    assert set(detector.classes) == {"alpha-1", "alpha-2", "beta-1", "beta-2", "gamma", "delta", "epsilon", "zeta"}
    images = defender_test_views([0, 9, 20])  # a photograph and two dead-leaves scenes
    from spoc_bench.images import to_tensor

    with torch.no_grad():
        probabilities = detector.predict(to_tensor([p for p, _, _ in images]), [c for _, c, _ in images])
    predicted = [detector.classes[k] for k in probabilities.argmax(1).tolist()]
    accuracy = np.mean([p == camera for p, (_, _, camera) in zip(predicted, images)])
    assert accuracy >= 0.85, list(zip(predicted, [c for _, _, c in images]))


def test_train_a_couple_of_steps_writes_weights_and_manifest(tmp_path):
    def small_training(out, **options):
        return Bondi2017.train(epochs=1, max_steps=2, tag="smoke", out=str(out), root=str(tmp_path / "data"), size=64,
                               views=(4, 2, 2), crops_per_photo=1, threads=1, log=lambda _: None, **options)

    written = small_training(tmp_path / "weights")
    path = tmp_path / "weights" / "bondi2017-smoke.safetensors"
    assert written == [path, path.with_suffix(".json")]
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["sha256"] == file_sha256(path)
    assert manifest["recipe"]["lr"] == 0.01 and manifest["recipe"]["batch"] == 128 and manifest["recipe"]["max_steps"] == 2
    assert manifest["data_version"]["name"].startswith("simcam-v1-64px-4-2-2views-1crops")
    assert manifest["train_images"] + manifest["validation_images"] == 32 and manifest["validation_images"] >= 8
    for key in ("training_seconds", "final_validation_accuracy", "defender_test_accuracy", "validation_scenes", "classes"):
        assert key in manifest
    assert manifest["defender_test_images"] == 16
    detector = Bondi2017(weights="smoke", weights_dir=str(tmp_path / "weights"))
    assert detector.predict(torch.rand(1, 3, 64, 64)).shape == (1, 8)
    # deterministic on the CPU: the same recipe and seed give the same file
    assert file_sha256(small_training(tmp_path / "again")[0]) == file_sha256(path)
    shifted = small_training(tmp_path / "shifted", augment=True)[0]  # 64-px images: only the origin (0, 0) fits
    assert file_sha256(shifted) == file_sha256(path)
    assert json.loads(shifted.with_suffix(".json").read_text())["recipe"]["augmentation"].startswith("grid shifts")
    assert manifest["recipe"]["precision"] == "fp32"
    half = small_training(tmp_path / "bf16", precision="bf16")[0]  # the steps in bfloat16: other weights
    assert json.loads(half.with_suffix(".json").read_text())["recipe"]["precision"] == "bf16"
    assert file_sha256(half) != file_sha256(path)
