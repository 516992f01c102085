"""The black-box baseline attacks: jpeg-mimic, prnu-copy, cfa-resynth, spectral-match, trace-transplant."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

import spoc_bench
from spoc_bench.attacks.cfa_resynth import LAYOUTS, reinterpolation_errors
from spoc_bench.attacks.spectral_match import LUMA, azimuthal_profile, power_spectrum, upsampling_bins
from spoc_bench.datasets.simcam import CAMERAS
from spoc_bench.detectors.prnu import channel_residuals, pce_and_correlation, wiener_dft, zero_mean
from spoc_bench.images import decode
from spoc_bench.runner import Grid, Session

BASELINES = ("jpeg-mimic", "prnu-copy", "cfa-resynth", "spectral-match", "trace-transplant")
SMALL = dict(size=128, views=(1, 1, 6), crops_per_photo=1, generators=("transposed", "pixelshuffle"), workers=1)


@pytest.fixture(scope="module")
def simcam(tmp_path_factory):
    dataset = spoc_bench.build_dataset("simcam", root=str(tmp_path_factory.mktemp("simcam")), **SMALL)
    dataset.prepare()
    return dataset


def attacker_items(dataset, **wanted):
    chosen = [s for s in dataset.samples("attacker") if all(getattr(s, k) == v for k, v in wanted.items())]
    return list(dataset.items(chosen))


def knowledge(dataset, attack, target):
    """What the runner hands ``attack`` for ``target``."""
    session = Session(Grid(["simcam"], [attack.name], [], []), spoc_bench.cache.Cache())
    return session._knowledge(dataset, attack, target)


def as_tensor(items):
    return torch.tensor(np.stack([i.pixels for i in items]).transpose(0, 3, 1, 2) / 255, dtype=torch.float32)


@pytest.fixture(scope="module")
def synthetic(simcam):
    return attacker_items(simcam, source="synthetic")[:4]


@pytest.mark.parametrize("name", BASELINES)
def test_contract_black_box_same_size_in_range_deterministic(simcam, synthetic, name):
    first = spoc_bench.build_attack(name)
    assert first.threat_model == "black-box" and first.needs == {"target_samples"} and first.saves_like_target
    handed = knowledge(simcam, first, "gamma")
    assert set(handed) == {"target_samples"}  # no detector, no surrogate, nothing of the defender
    assert {i.sample.split for i in handed["target_samples"]} == {"attacker"}
    assert {i.sample.camera for i in handed["target_samples"]} == {"gamma"}
    images = as_tensor(synthetic)
    outputs = first.fit("gamma", **handed)(images)
    assert outputs.shape == images.shape and outputs.dtype == images.dtype
    assert outputs.min() >= 0 and outputs.max() <= 1
    again = spoc_bench.build_attack(name).fit("gamma", **knowledge(simcam, first, "gamma"))(images)
    assert torch.equal(outputs, again)
    odd = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(0))  # any size, not the samples'
    assert first(odd).shape == odd.shape


@pytest.mark.parametrize("name", BASELINES)
def test_saved_with_the_target_s_tables_and_subsampling(simcam, synthetic, name):
    target = "alpha-1"
    attack = spoc_bench.build_attack(name).fit(target, **knowledge(simcam, spoc_bench.build_attack(name), target))
    data, container = attack.save(attack(as_tensor(synthetic[:1])), synthetic[:1])[0]
    sample = attacker_items(simcam, camera=target)[0].container
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and container == sample
    assert tuple(tuple(image.quantization[k]) for k in sorted(image.quantization)) == sample.qtables
    assert image.getexif()[0x0110] == target


def test_jpeg_mimic_changes_only_the_file(simcam, synthetic):
    attack = spoc_bench.build_attack("jpeg-mimic").fit("epsilon", attacker_items(simcam, camera="epsilon"))
    images = as_tensor(synthetic)
    assert torch.equal(attack(images), images)
    data, container = attack.save(images[:1], synthetic[:1])[0]
    assert container.subsampling == "4:4:4" and container != synthetic[0].container
    assert np.abs(decode(data).astype(int) - synthetic[0].pixels).mean() < 2


def test_trace_transplant_gives_the_target_s_own_residuals(simcam, synthetic):
    samples = attacker_items(simcam, camera="beta-1", source="real")
    attack = spoc_bench.build_attack("trace-transplant").fit("beta-1", samples)
    own = as_tensor(samples[:1])
    assert (attack(own) - own).abs().max() < 1e-4  # a sample's nearest blocks are its own
    images = as_tensor(synthetic[:2])
    outputs = attack.forward(images)
    tile = attack.tile
    for image, output in zip(images, outputs):
        content, _ = attack.split(image.permute(1, 2, 0).double().numpy() * 255)
        residual = output.permute(1, 2, 0).numpy() * 255 - content
        for y, x in ((0, 0), (40, 64), (120, 120)):
            block = torch.from_numpy(residual[y:y + tile, x:x + tile].transpose(2, 0, 1).reshape(-1).copy()).float()
            assert (attack.residuals_ - block).abs().max(1).values.min() < 1e-3  # a block of a sample's residual
    assert (outputs - images).abs().mean() * 255 > 1  # and the input's own residual is gone


def test_trace_transplant_strength_keeps_that_share_of_the_change(simcam, synthetic):
    samples = attacker_items(simcam, camera="gamma", source="real")
    full = spoc_bench.build_attack("trace-transplant").fit("gamma", samples)
    half = spoc_bench.build_attack("trace-transplant", strength=0.5).fit("gamma", samples)
    images = as_tensor(synthetic[:2])
    change, half_change = full.forward(images) - images, half.forward(images) - images
    assert torch.allclose(half_change, 0.5 * change, atol=1e-5)
    assert 10 * np.log10((change.square().mean() / half_change.square().mean()).item()) == pytest.approx(6.02, abs=0.01)
    with pytest.raises(ValueError, match="strength"):
        spoc_bench.build_attack("trace-transplant", strength=0)


def test_cfa_resynth_finds_every_simcam_camera_s_layout_and_writes_it(simcam, synthetic):
    images = as_tensor(synthetic)
    for camera in CAMERAS:
        attack = spoc_bench.build_attack("cfa-resynth").fit(camera.name, attacker_items(simcam, camera=camera.name))
        assert attack.layout_ == camera.cfa, (camera.name, attack.errors_)
        assert set(attack.errors_) == {(layout, d) for layout in LAYOUTS for d in ("bilinear", "malvar", "menon")}
        outputs = (attack(images).numpy().transpose(0, 2, 3, 1) * 255).round().astype(np.uint8)
        # the output's CFA periodicity is the target's: re-synthesis on its layout reproduces it
        own = sum(reinterpolation_errors(outputs, camera.cfa, attack.demosaicer_))
        assert own < 1.0
        assert all(own < 0.1 * sum(reinterpolation_errors(outputs, other, attack.demosaicer_))
                   for other in LAYOUTS if other != camera.cfa)
        again = spoc_bench.build_attack("cfa-resynth").fit(camera.name, [type(synthetic[0])(s.sample, p, s.container)
                                                                          for s, p in zip(synthetic, outputs)])
        assert again.layout_ == camera.cfa


def test_prnu_copy_raises_the_match_with_its_own_fingerprint(simcam, synthetic):
    attack = spoc_bench.build_attack("prnu-copy").fit("zeta", attacker_items(simcam, camera="zeta"))
    assert attack.fingerprint_.shape == (128, 128) and attack.images_used_ == 6

    def pce(pixels):
        residual = wiener_dft(zero_mean(channel_residuals(pixels) @ LUMA))
        return pce_and_correlation(residual, (pixels @ LUMA) * attack.fingerprint_)

    images = as_tensor(synthetic)
    for item, output in zip(synthetic, attack(images)):
        before = pce(item.pixels.astype(float))
        after = pce(output.numpy().transpose(1, 2, 0) * 255)
        assert after[0] > before[0] + 20 and after[1] > before[1]
    weaker = spoc_bench.build_attack("prnu-copy", alpha=0.25).fit("zeta", attacker_items(simcam, camera="zeta"))
    assert (weaker(images) - images).abs().mean() < (attack(images) - images).abs().mean()


def peak_excess(grey, ratio=4.0):
    """Summed log excess of the up-sampling bins' power over ``ratio`` times their local median."""
    from scipy.ndimage import median_filter

    power = power_spectrum(grey)
    median = median_filter(power, size=9, mode="wrap")
    bins = upsampling_bins(power.shape, 1)
    return float(np.log(np.maximum(power[bins] / (ratio * median[bins]), 1)).sum())


def test_spectral_match_removes_upsampling_peaks_and_nears_the_reference(simcam):
    attack = spoc_bench.build_attack("spectral-match").fit("gamma", attacker_items(simcam, camera="gamma"))
    synthetic = attacker_items(simcam, source="synthetic")
    assert {i.sample.generator for i in synthetic} == {"transposed", "pixelshuffle"}
    images = as_tensor(synthetic)
    for before, after in zip(images.numpy(), attack(images).numpy()):
        grey_before, grey_after = np.tensordot(LUMA, before, axes=1), np.tensordot(LUMA, after, axes=1)
        assert peak_excess(grey_after) < 0.2 * peak_excess(grey_before)
        distance = [np.abs(azimuthal_profile(power_spectrum(g), attack.bins) - attack.reference_).mean()
                    for g in (grey_before, grey_after)]
        assert distance[1] < 0.9 * distance[0]
        assert 10 * np.log10(1 / np.mean((before - after) ** 2)) > 28  # a bounded change


def test_baselines_refuse_bad_options():
    with pytest.raises(ValueError):
        spoc_bench.build_attack("cfa-resynth", layout="RGBG")
    with pytest.raises(ValueError):
        spoc_bench.build_attack("spectral-match", max_gain=0.5)
    with pytest.raises(ValueError, match="no sample images"):
        spoc_bench.build_attack("prnu-copy").fit("gamma", [])


def test_default_and_paper_presets_run_the_baselines():
    from spoc_bench.presets import preset

    for name in ("default", "paper"):
        assert set(BASELINES) <= set(preset(name)["attacks"])
    assert not set(BASELINES) & set(preset("smoke")["attacks"])
