"""PRNU: the residual's pieces, and device identification of images carrying a known sensor pattern."""

import zlib

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

import spoc_bench
from spoc_bench.contracts import Dataset, Item, Sample
from spoc_bench.detectors.prnu import pce_and_correlation, saturated, wavelet_residual, wiener_dft, zero_mean
from spoc_bench.images import Container, to_tensor

SIZE = 96
DEVICES = {"m1-d0": "m1", "m1-d1": "m1", "m2-d0": "m2", "m2-d1": "m2"}


def pattern(device: str, size: int = SIZE) -> np.ndarray:
    return np.random.default_rng(zlib.crc32(device.encode())).normal(0, 0.01, (size, size))


def shot(device: str, seed: int, size: int = SIZE) -> np.ndarray:
    """A flat-ish scene (smooth shading, a little texture) seen through the device's PRNU, 8-bit."""
    rng = np.random.default_rng(seed)
    shading = gaussian_filter(rng.normal(0, 1, (size, size, 3)), 12)
    scene = 140 + 30 * shading / shading.std() + gaussian_filter(rng.normal(0, 4, (size, size, 3)), 1)
    scene = scene * (1 + pattern(device, size))[..., None] + rng.normal(0, 1.5, scene.shape)
    return np.clip(np.round(scene), 0, 255).astype(np.uint8)


class Sensors(Dataset):
    """Four devices of two models; 6 training and 2 test images per device."""

    name = "sensors"

    def __init__(self):
        self._items = {}
        for index, (device, model) in enumerate(DEVICES.items()):
            for k in range(8):
                split = "defender-train" if k < 6 else "defender-test"
                sample = Sample(f"{device}/{k}", split, "real", camera=model, device=device)
                self._items[sample.id] = Item(sample, shot(device, 100 * index + k), Container())
        stray = Sample("m1-d0/odd", "defender-train", "real", camera="m1", device="m1-d0")  # another size
        self._items[stray.id] = Item(stray, shot("m1-d0", 999, SIZE)[:64, :80], Container())

    def samples(self, split):
        return [item.sample for item in self._items.values() if item.sample.split == split]

    def read(self, sample):
        return self._items[sample.id]


@pytest.fixture(scope="module")
def fitted():
    dataset = Sensors()
    return dataset, spoc_bench.build_detector("prnu").fit(dataset)


def test_residual_pieces():
    flat = np.full((64, 64), 120.0)
    assert np.abs(wavelet_residual(flat, 5.0)).max() < 1e-6
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 5, (64, 64))
    smooth = gaussian_filter(rng.normal(0, 30, (64, 64)), 6)
    residual = wavelet_residual(smooth + noise, 5.0)
    assert residual.shape == (64, 64)
    assert np.corrcoef(residual.ravel(), noise.ravel())[0, 1] > 0.6  # the noise is what is removed
    assert wavelet_residual(rng.normal(0, 1, (37, 50)), 5.0).shape == (37, 50)  # any size
    centred = zero_mean(rng.normal(3, 1, (32, 48)))
    for dy in (0, 1):
        for dx in (0, 1):
            lattice = centred[dy::2, dx::2]
            assert np.allclose(lattice.mean(axis=0), 0) and np.allclose(lattice.mean(axis=1), 0)
    # the DFT Wiener filter shrinks a periodic trace more than the noise around it
    grid = np.zeros((256, 256))
    grid[::8, ::8] = 10
    mixed = rng.normal(0, 1, grid.shape) + grid
    filtered = wiener_dft(mixed)
    assert abs(np.corrcoef(filtered.ravel(), grid.ravel())[0, 1]) < 0.5 * np.corrcoef(mixed.ravel(), grid.ravel())[0, 1]
    image = np.zeros((4, 4, 1))
    image[0, :2] = 255
    image[3, 3] = 255
    assert saturated(image)[..., 0].sum() == 2  # a lone bright pixel is not clipped light


def test_pce_of_a_pattern_with_itself_and_with_noise():
    rng = np.random.default_rng(1)
    k = rng.normal(size=(64, 64))
    pce, rho = pce_and_correlation(k + rng.normal(size=k.shape), k)
    assert pce > 500 and rho > 0.6
    pce, rho = pce_and_correlation(rng.normal(size=k.shape), k)
    assert abs(pce) < 20 and abs(rho) < 0.05


def test_fitted_state_round_trips_through_the_cache(fitted, tmp_path):
    from spoc_bench.cache import Cache

    dataset, detector = fitted
    Cache(tmp_path).save_arrays("fitted", "ef" * 20, detector.fitted_state())
    loaded = spoc_bench.build_detector("prnu", **detector.config()).load_fitted(Cache(tmp_path).load_arrays("fitted", "ef" * 20))
    assert loaded.device_classes == detector.device_classes and loaded.classes == detector.classes
    assert loaded.counts_ == detector.counts_ and loaded.skipped_ == detector.skipped_
    images = to_tensor([i.pixels for i in dataset.items(dataset.samples("defender-test"))])
    assert np.array_equal(loaded.predict_device(images).numpy(), detector.predict_device(images).numpy())


def test_prnu_names_the_device_with_a_high_pce(fitted):
    dataset, detector = fitted
    assert detector.classes == ("m1", "m2")
    assert detector.device_classes == tuple(sorted(DEVICES))
    assert detector.counts_ == {device: 6 for device in DEVICES}
    assert [s for s, _ in detector.skipped_] == ["m1-d0/odd"]
    test = list(dataset.items(dataset.samples("defender-test")))
    images = to_tensor([i.pixels for i in test])
    pce, correlation = detector.match(images)
    truth = np.array([detector.device_classes.index(i.sample.device) for i in test])
    rows = np.arange(len(test))
    assert (pce.argmax(axis=1) == truth).all() and (correlation.argmax(axis=1) == truth).all()
    assert pce[rows, truth].min() > 100  # far above the usual threshold of 50-60
    others = pce.copy()
    others[rows, truth] = 0
    assert np.abs(others).max() < 15  # foreign devices: PCE near 0
    devices = detector.predict_device(images).numpy()
    assert devices.shape == (len(test), 4) and np.allclose(devices.sum(axis=1), 1, atol=1e-5)
    assert (devices.argmax(axis=1) == truth).all() and devices.max(axis=1).min() > 0.99
    models = detector.predict(images)
    assert isinstance(models, torch.Tensor) and models.dtype == torch.float32
    assert [detector.classes[k] for k in models.numpy().argmax(axis=1)] == [i.sample.camera for i in test]
    by_correlation = spoc_bench.build_detector("prnu", score="correlation").fit(dataset).predict(images).numpy()
    assert [detector.classes[k] for k in by_correlation.argmax(axis=1)] == [i.sample.camera for i in test]


def test_prnu_is_flat_on_foreign_images_and_accepts_other_sizes(fitted):
    _, detector = fitted
    foreign = to_tensor([shot("other-device", 7), shot("another", 8)])
    assert detector.predict(foreign).numpy().max() < 0.95  # no fingerprint matches: no confident answer
    crop = to_tensor([shot("m2-d1", 5)[:64, :72]])  # a top-left crop still matches its device
    assert detector.device_classes[int(detector.predict_device(crop).argmax())] == "m2-d1"
    bigger = to_tensor([np.pad(shot("m2-d0", 6), ((0, 16), (0, 8), (0, 0)), mode="edge")])
    assert detector.predict(bigger).shape == (1, 2)


def test_prnu_refuses_bad_options():
    with pytest.raises(ValueError, match="no pretrained weights"):
        spoc_bench.build_detector("prnu", weights="dresden")
    with pytest.raises(ValueError, match="score"):
        spoc_bench.build_detector("prnu", score="peak")
