"""Frank et al. 2020's DCT detector: features of any size, real vs up-sampled images, families."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from sklearn.metrics import roc_auc_score

import spoc_bench
from spoc_bench.contracts import Dataset, Item, Sample
from spoc_bench.detectors.dct import dct_features, pooling
from spoc_bench.images import Container, to_tensor

SIZE = 64


def camera_like(seed: int, size: int = SIZE) -> np.ndarray:
    """Smooth structure plus fine sensor-like noise: a full, decaying spectrum."""
    rng = np.random.default_rng(seed)
    scene = sum(gaussian_filter(rng.normal(0, 1, (size, size, 3)), s) * s for s in (1, 3, 8))
    scene = 128 + 40 * scene / scene.std() + rng.normal(0, 3, scene.shape)
    return np.clip(np.round(scene), 0, 255).astype(np.uint8)


def upsampled(seed: int, family: str, size: int = SIZE) -> np.ndarray:
    """A camera-like image halved and doubled back as a generator's up-sampling layer would."""
    image = camera_like(seed, size).astype(float)
    small = image.reshape(size // 2, 2, size // 2, 2, 3).mean(axis=(1, 3))
    if family == "nearest":
        big = small.repeat(2, 0).repeat(2, 1)
    else:  # "zeros": zero insertion + a 3-tap kernel (a transposed convolution)
        from scipy.ndimage import convolve

        big = np.zeros_like(image)
        big[::2, ::2] = small
        kernel = np.outer([0.5, 1, 0.5], [0.5, 1, 0.5])[..., None]
        big = convolve(big, kernel, mode="reflect")
    return np.clip(np.round(big), 0, 255).astype(np.uint8)


class Periodic(Dataset):
    """Real images and two families of up-sampled ones, in train and test splits."""

    name = "periodic"

    def __init__(self):
        self._items = {}
        for split, seeds in (("defender-train", range(0, 24)), ("defender-test", range(100, 116))):
            for seed in seeds:
                self._add(Sample(f"real-{seed}", split, "real", camera="cam"), camera_like(seed))
                for family in ("nearest", "zeros"):
                    self._add(Sample(f"{family}-{seed}", split, "synthetic", generator=family), upsampled(seed + 500, family))

    def _add(self, sample, pixels):
        self._items[sample.id] = Item(sample, pixels, Container())

    def samples(self, split):
        return [item.sample for item in self._items.values() if item.sample.split == split]

    def read(self, sample):
        return self._items[sample.id]


@pytest.fixture(scope="module")
def periodic():
    return Periodic()


def scores(detector, dataset, split="defender-test"):
    items = list(dataset.items(dataset.samples(split)))
    probabilities = detector.predict(to_tensor([i.pixels for i in items])).numpy()
    assert probabilities.shape == (len(items), 2)
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    return probabilities[:, 1], [i.sample for i in items]


def test_pooling_is_the_block_mean_and_any_size_gives_the_same_length():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(16, 16))
    pooled = pooling(16, 4) @ values @ pooling(16, 4).T
    assert np.allclose(pooled, values.reshape(4, 4, 4, 4).mean(axis=(1, 3)))
    assert np.allclose(pooling(3, 8).sum(axis=1), 1)  # fewer coefficients than cells: shared
    for shape in ((64, 64), (40, 90), (300, 20), (9, 9)):
        assert dct_features(rng.integers(0, 256, (*shape, 3)), 64, 16).shape == (256,)


def test_features_are_the_log_magnitude_orthonormal_dct():
    from scipy.fft import dctn

    pixels = camera_like(3, 16)
    grey = pixels.astype(float) @ [0.299, 0.587, 0.114]
    expected = np.log(np.abs(dctn(grey, type=2, norm="ortho")) + 1e-12)
    assert np.allclose(dct_features(pixels, 16, 16), expected.ravel())
    # a larger image is cut to its central crop
    big = np.zeros((20, 20, 3), np.uint8)
    big[2:18, 2:18] = pixels
    assert np.allclose(dct_features(big, 16, 16), expected.ravel())


def test_dct_separates_upsampled_images_and_generalises_across_families(periodic):
    detector = spoc_bench.build_detector("dct", crop=SIZE, block=2).fit(periodic)
    assert detector.classes == ("real", "synthetic")
    assert detector.n_train_ == {"real": 24, "synthetic": 48}
    score, samples = scores(detector, periodic)
    assert roc_auc_score([s.source == "synthetic" for s in samples], score) > 0.95

    nearest_only = spoc_bench.build_detector("dct", crop=SIZE, block=2, families=("nearest",)).fit(periodic)
    assert nearest_only.n_train_ == {"real": 24, "synthetic": 24}
    score, samples = scores(nearest_only, periodic)
    keep = [s.source == "real" or s.generator == "zeros" for s in samples]
    labels = [s.source == "synthetic" for s, k in zip(samples, keep) if k]
    assert roc_auc_score(labels, score[keep]) > 0.8  # the unseen family is still caught


def test_dct_accepts_other_sizes(periodic):
    detector = spoc_bench.build_detector("dct", crop=SIZE, block=4).fit(periodic)
    for size in (32, 48, 96):
        probabilities = detector.predict(to_tensor([camera_like(7, size), upsampled(8, "nearest", size)]))
        assert probabilities.shape == (2, 2) and np.isfinite(probabilities.numpy()).all()


def test_dct_refuses_bad_options(periodic):
    with pytest.raises(ValueError, match="no pretrained weights"):
        spoc_bench.build_detector("dct", weights="frank")
    with pytest.raises(ValueError, match="multiple of block"):
        spoc_bench.build_detector("dct", crop=64, block=5)
    with pytest.raises(ValueError, match="bilinear"):
        spoc_bench.build_detector("dct", families=("bilinear",)).fit(periodic)


def test_dct_on_the_demo_dataset(demo_root):
    dataset = spoc_bench.build_dataset("demo", root=str(demo_root))
    detector = spoc_bench.build_detector("dct", crop=128).fit(dataset)
    score, samples = scores(detector, dataset)
    assert roc_auc_score([s.source == "synthetic" for s in samples], score) > 0.95


@pytest.mark.parametrize("name, options", [("dct", {"crop": SIZE, "block": 2}), ("spectrum", {})])
def test_fitted_state_round_trips_through_the_cache(periodic, tmp_path, name, options):
    from spoc_bench.cache import Cache

    fitted = spoc_bench.build_detector(name, **options).fit(periodic)
    Cache(tmp_path).save_arrays("fitted", "cd" * 20, fitted.fitted_state())
    loaded = spoc_bench.build_detector(name, **options).load_fitted(Cache(tmp_path).load_arrays("fitted", "cd" * 20))
    assert getattr(loaded, "n_train_", None) == getattr(fitted, "n_train_", None)
    images = to_tensor([camera_like(11), upsampled(12, "nearest"), upsampled(13, "zeros")])
    assert np.array_equal(loaded.predict(images).numpy(), fitted.predict(images).numpy())
    assert not np.allclose(fitted.predict(images).numpy()[:, 1], fitted.predict(images).numpy()[0, 1])
