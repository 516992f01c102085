"""Noiseprint: the network, the weights importer (TensorFlow checkpoints read by hand), the JPEG
quality choice, tiling, gradients, and camera identification by fingerprint correlation.

Tests that need the official weights read them from ``../shared/weights/noiseprint-grip`` (beside the
checkout; never copied into the project) and write imported files only under ``tmp_path``.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import spoc_bench
from spoc_bench.contracts import Dataset, Item, Sample
from spoc_bench.images import Container, decode, encode, jpeg_container, to_tensor
from spoc_bench.detectors._noiseprint_weights import import_noiseprint, load_noiseprint, noiseprint_shapes
from spoc_bench.tf_checkpoint import read_sstable, read_tf_checkpoint, snappy_decompress
from spoc_bench.weights import WeightsNotFoundError, file_sha256
from spoc_bench.detectors._noiseprint_net import RECEPTIVE_FIELD, NoiseprintNet, tiled
from spoc_bench.detectors.noiseprint import container_quality, ijg_table, jpeg_quality, nearest_quality
from tests.conftest import textured

GRIP = Path(__file__).resolve().parents[2] / "shared" / "weights" / "noiseprint-grip"
TF_QF101 = GRIP / "tf-original-qf101"
needs_grip = pytest.mark.skipif(
    not (GRIP / "npz").is_dir() or not TF_QF101.is_dir(),
    reason=f"the official Noiseprint weights are not at {GRIP} (the shared folder beside the checkout)")
GOLDEN = json.loads((GRIP / "golden_outputs.json").read_text()) if (GRIP / "golden_outputs.json").is_file() else {}


@pytest.fixture(scope="module")
def from_npz(tmp_path_factory):
    """The converted npz networks imported as safetensors (under a temporary folder)."""
    destination = tmp_path_factory.mktemp("noiseprint-npz")
    import_noiseprint(GRIP / "npz", destination)
    return destination


@pytest.fixture(scope="module")
def from_tf(tmp_path_factory):
    """The untouched TensorFlow QF-101 checkpoint imported as safetensors, laid out as in a clone."""
    clone = tmp_path_factory.mktemp("clone")
    nets = clone / "noiseprint" / "nets" / "net_jpg101"
    nets.mkdir(parents=True)
    for name in ("model.index", "model.data-00000-of-00001"):
        (nets / name).symlink_to(TF_QF101 / name)
    (clone / "LICENSE.txt").symlink_to(GRIP / "LICENSE.txt")
    destination = tmp_path_factory.mktemp("noiseprint-tf")
    manifest = import_noiseprint(clone, destination)
    return destination, manifest


def grey_rgb(pixels: np.ndarray):
    return torch.from_numpy(pixels.astype(np.float32) / 255).expand(1, 3, *pixels.shape).contiguous()


# ------------------------------------------------------------------------------- architecture
def random_net(positive: bool = False) -> NoiseprintNet:
    """Random weights in eval mode: He-normal, or positive (with identity BatchNorm, every ReLU
    then passes, so the network is linear and its gradient does not depend on rounding)."""
    torch.manual_seed(0)
    net = NoiseprintNet().eval().requires_grad_(False)
    for conv in (m for m in net if isinstance(m, torch.nn.Conv2d)):
        if positive:
            conv.weight.uniform_(0, 2.0 / conv.weight[0].numel())
            if conv.bias is not None:
                conv.bias.zero_()
        else:
            torch.nn.init.kaiming_normal_(conv.weight)
    return net


def test_architecture_parameters_and_receptive_field():
    net = NoiseprintNet()
    convs = [m for m in net if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in net if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(convs) == 17 and len(norms) == 15
    assert sum(p.numel() for p in net.parameters()) == 556_097
    assert sum(b.numel() for name, b in net.named_buffers() if "running" in name) == 1_920
    assert [c.bias is not None for c in convs] == [True] + [False] * 15 + [True]
    assert all(n.eps == 1e-5 for n in norms) and sum(isinstance(m, torch.nn.ReLU) for m in net) == 16
    assert (convs[0].in_channels, convs[-1].out_channels) == (1, 1)
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) and c.stride == (1, 1) for c in convs)
    # every path active: the gradient of one output pixel is non-zero exactly on its receptive field
    image = torch.rand(1, 1, 71, 71).requires_grad_(True)
    random_net(positive=True)(image)[0, 0, 35, 35].backward()
    rows, cols = np.nonzero(image.grad[0, 0].numpy())
    assert RECEPTIVE_FIELD == 35
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (18, 52, 18, 52)


def test_tiled_equals_whole_image_and_its_gradient():
    net, image = random_net(), torch.rand(1, 1, 70, 60)  # 2 x 2 tiles of 40
    with torch.no_grad():
        whole = net(image)
        assert torch.allclose(tiled(net, image, tile=40, overlap=34), whole, atol=1e-5)
        assert not torch.allclose(tiled(net, image, tile=40, overlap=8), whole, atol=1e-3)  # too little context
    # with gradients each tile is checkpointed (recomputed in backward); the gradient is the whole
    # image's (checked on a linear network: a ReLU flipped by rounding would change it)
    net, grads = random_net(positive=True), []
    for tile in (40, 1024):
        pixels = image.clone().requires_grad_(True)
        tiled(net, pixels, tile=tile, overlap=34).square().sum().backward()
        grads.append(pixels.grad)
    assert torch.allclose(grads[0], grads[1], rtol=1e-4)


# -------------------------------------------------------------------------------- JPEG quality
def test_quality_is_estimated_from_ijg_tables():
    for quality in (10, 30, 51, 60, 75, 85, 90, 95, 99, 100):
        assert container_quality(jpeg_container(quality)) == quality
        assert container_quality(jpeg_container(quality, "4:4:4")) == quality
    assert all(jpeg_quality(ijg_table(q, baseline=False)) == q for q in range(1, 101))  # 16-bit tables
    assert container_quality(Container()) == 101 and container_quality(None) == 101
    assert container_quality(Container("jpeg", None)) == 101
    near = np.array(jpeg_container(90).qtables[0])
    near[[5, 20, 40]] += 1  # a camera's own table, close to IJG 90
    assert jpeg_quality(near) == 90
    with pytest.raises(ValueError, match="quantisation table"):
        jpeg_quality([0] * 64)
    available = [75, 90, 101]
    assert [nearest_quality(q, available) for q in (30, 80, 83, 85, 95, 100, 101)] == [75, 75, 90, 90, 90, 101, 101]


# -------------------------------------------------------------------------------- the importer
@needs_grip
def test_tf_checkpoint_is_read_without_tensorflow(from_tf):
    variables = read_tf_checkpoint(TF_QF101 / "model")
    assert variables["level_0/conv/weights"].shape == (3, 3, 1, 64)
    assert variables["level_7/bn/moving_variance"].shape == (64,)
    assert variables["level_16/conv/weights"].shape == (3, 3, 64, 1)
    assert b"" in read_sstable((TF_QF101 / "model.index").read_bytes())  # the bundle header
    destination, manifest = from_tf
    imported = load_noiseprint(destination / "noiseprint_qf101.safetensors")
    with np.load(GRIP / "npz" / "noiseprint_qf101.npz", allow_pickle=False) as converted:
        assert set(converted.files) == set(imported) == set(noiseprint_shapes())
        assert max(float(np.abs(imported[k] - converted[k]).max()) for k in converted.files) < 1e-7
    entry = manifest["files"]["noiseprint_qf101.safetensors"]
    assert entry["sha256"] == file_sha256(destination / "noiseprint_qf101.safetensors") and entry["quality"] == 101
    assert "TensorFlow" in entry["source"] and "GRIP-UNINA" in manifest["licence"]
    assert (destination / "LICENSE.txt").read_bytes() == (GRIP / "LICENSE.txt").read_bytes()
    assert json.loads((destination / "manifest.json").read_text())["files"] == manifest["files"]


@needs_grip
def test_importer_takes_the_npz_layout_and_refuses_what_is_not_a_network(from_npz, tmp_path):
    files = sorted(p.name for p in from_npz.glob("noiseprint_qf*.safetensors"))
    assert len(files) == len(list((GRIP / "npz").glob("noiseprint_qf*.npz"))) == 14
    with np.load(GRIP / "npz" / "noiseprint_qf90.npz", allow_pickle=False) as converted:
        imported = load_noiseprint(from_npz / "noiseprint_qf90.safetensors")
        assert all(np.array_equal(imported[k], converted[k]) for k in converted.files)
    with pytest.raises(FileNotFoundError, match="no weights under"):
        import_noiseprint(tmp_path, tmp_path / "out")
    np.savez(tmp_path / "noiseprint_qf90.npz", something=np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="not a Noiseprint network"):
        import_noiseprint(tmp_path, tmp_path / "out")


@needs_grip
def test_corrupt_checkpoints_are_refused(tmp_path):
    index = bytearray((TF_QF101 / "model.index").read_bytes())
    index[100] ^= 0xFF
    (tmp_path / "model.index").write_bytes(bytes(index))
    (tmp_path / "model.data-00000-of-00001").symlink_to(TF_QF101 / "model.data-00000-of-00001")
    with pytest.raises(ValueError, match="CRC32C"):
        read_tf_checkpoint(tmp_path / "model")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model.index").symlink_to(TF_QF101 / "model.index")
    data = bytearray((TF_QF101 / "model.data-00000-of-00001").read_bytes())
    data[5000] ^= 0x01
    (tmp_path / "bad" / "model.data-00000-of-00001").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="CRC32C"):
        read_tf_checkpoint(tmp_path / "bad" / "model")


def test_snappy_blocks_are_decompressed():
    # length 12; literal "abcd"; copy of 8 bytes from 4 back (1-byte offset form)
    assert snappy_decompress(bytes([12, 3 << 2, *b"abcd", ((8 - 4) << 2) | 1, 4])) == b"abcdabcdabcd"
    # 2-byte offset form: copy 3 bytes from 2 back
    assert snappy_decompress(bytes([5, 1 << 2, *b"xy", ((3 - 1) << 2) | 2, 2, 0])) == b"xyxyx"


# ------------------------------------------------------------------------------ golden outputs
@needs_grip
@pytest.mark.parametrize("key", sorted(k for k in GOLDEN if not k.startswith("_")))
def test_golden_outputs_on_the_camera_image(key, from_npz, from_tf):
    from skimage import data

    quality = int(key.split("_")[1].removeprefix("qf"))
    folder = from_tf[0] if quality == 101 else from_npz  # QF 101 from the original TF checkpoint
    detector = spoc_bench.build_detector("noiseprint", weights="grip", weights_dir=str(folder))
    container = Container() if quality == 101 else jpeg_container(quality)
    assert detector.network_quality(container) == quality
    with torch.no_grad():
        out = detector.noiseprint(grey_rgb(data.camera()), [container])[0, 0].double().numpy()
    golden = GOLDEN[key]
    assert list(out.shape) == golden["shape"]
    measured = {"mean": out.mean(), "std": out.std(), "v_100_100": out[100, 100], "v_256_300": out[256, 300]}
    for name, value in measured.items():
        assert abs(value - golden[name]) < 1e-4, (name, value, golden[name])


# ---------------------------------------------------------------------- identification, gradients
class Tiny(Dataset):
    """Two 'cameras' that save at different JPEG qualities, a synthetic image, an image too small."""

    name = "tiny"

    def __init__(self, size: int = 48):
        self.size = size
        self._items = {}
        specs = [("q95", 95, size, size)] * 3 + [("q95", 95, size + 8, size + 16)] + [("q75", 75, size, size)] * 3
        for index, (camera, quality, height, width) in enumerate(specs):
            container = jpeg_container(quality)
            pixels = decode(encode(textured(index, 64)[:height, :width], container))
            self._add(Sample(f"{camera}-{index}", "defender-train", "real", camera=camera), pixels, container)
        self._add(Sample("small", "defender-train", "real", camera="q75"), textured(20, 16), Container())
        self._add(Sample("gan", "defender-train", "synthetic", generator="gan"), textured(21, 64)[:size, :size], Container())

    def _add(self, sample, pixels, container):
        self._items[sample.id] = Item(sample, pixels, container)

    def samples(self, split):
        return [item.sample for item in self._items.values() if item.sample.split == split]

    def read(self, sample):
        return self._items[sample.id]


@needs_grip
def test_fit_and_predict_on_a_tiny_dataset_with_gradients(from_npz):
    dataset = Tiny()
    detector = spoc_bench.build_detector("noiseprint", weights="grip", weights_dir=str(from_npz), crop=32).fit(dataset)
    assert detector.classes == ("q75", "q95") and detector.counts_ == {"q75": 3, "q95": 4}
    assert [reason for _, reason in detector.skipped_] == ["smaller than the crop of 32 px"]
    assert detector.fingerprints_.shape == (2, 32, 32)
    items = [dataset.read(s) for s in dataset.samples("defender-train") if s.id in ("q95-0", "q75-5")]
    images = to_tensor([i.pixels for i in items]).requires_grad_(True)
    probabilities = detector.predict(images, [i.container for i in items])
    assert probabilities.shape == (2, 2)
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(2))
    assert list(probabilities.argmax(dim=1)) == [1, 0]
    probabilities[:, 0].sum().backward()
    assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    # on a bigger image the gradient covers the window read: the central crop (corner on the
    # 8-pixel grid) and the receptive field's 17 pixels around it, nothing else
    big = to_tensor([textured(7, 96)]).requires_grad_(True)
    detector.predict(big, [jpeg_container(95)])[0, 1].backward()
    rows = np.nonzero(big.grad[0].abs().sum(dim=(0, 2)).numpy())[0]
    cols = np.nonzero(big.grad[0].abs().sum(dim=(0, 1)).numpy())[0]
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (32 - 17, 63 + 17, 32 - 17, 63 + 17)
    with pytest.raises(ValueError, match="smaller than the smallest window of 32 px"):
        detector.predict(torch.rand(1, 3, 20, 20))
    assert len(detector.weights_id()) == 64


@needs_grip
def test_detector_tiling_matches_the_whole_image(from_npz):
    pixels = to_tensor([textured(3, 96)[:80, :72]])
    whole = spoc_bench.build_detector("noiseprint", weights="grip", weights_dir=str(from_npz))
    small_tiles = spoc_bench.build_detector("noiseprint", weights="grip", weights_dir=str(from_npz), tile=48)  # 2 x 2 tiles
    with torch.no_grad():
        assert torch.allclose(small_tiles.noiseprint(pixels), whole.noiseprint(pixels), atol=1e-5)


# ------------------------------------------------------------------------------------ errors
def test_missing_weights_name_the_folder_and_the_import_command(tmp_path, monkeypatch, isolated_cache):
    monkeypatch.delenv("SPOC_BENCH_NOISEPRINT_DIR", raising=False)
    detector = spoc_bench.build_detector("noiseprint", weights="grip")
    with pytest.raises(WeightsNotFoundError) as error:
        detector.weights_id()
    message = str(error.value)
    assert str(isolated_cache / "weights" / "noiseprint-grip") in message
    assert "spoc-bench weights import noiseprint" in message
    monkeypatch.setenv("SPOC_BENCH_NOISEPRINT_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(FileNotFoundError, match="elsewhere"):
        spoc_bench.build_detector("noiseprint", weights="grip").fit(Tiny())
    (tmp_path / "npzonly").mkdir()
    (tmp_path / "npzonly" / "noiseprint_qf90.npz").write_bytes(b"")
    with pytest.raises(WeightsNotFoundError, match="input of the importer"):
        spoc_bench.build_detector("noiseprint", weights="grip", weights_dir=str(tmp_path / "npzonly")).weights_id()


def test_unknown_tags_are_refused():
    with pytest.raises(ValueError, match="unknown weights tag"):
        spoc_bench.build_detector("noiseprint", weights="imagenet")


def test_module_imports_no_torch():
    code = ("import sys, spoc_bench; d = spoc_bench.build_detector('noiseprint'); "
            "assert 'noiseprint' in spoc_bench.list_detectors(); assert 'torch' not in sys.modules, 'torch'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_siamese_loss_rewards_positives_close_and_negatives_far():
    from spoc_bench.detectors._noiseprint_train import siamese_loss

    groups = torch.tensor([0, 0, 1, 1, 2, 2])
    same = torch.zeros(6, 10)
    # all outputs equal: each patch's one positive gets 1/5 of the probability
    assert siamese_loss(same, groups).item() == pytest.approx(np.log(5))
    apart = groups[:, None].float().repeat(1, 10) * 10  # groups 10 apart, positives identical
    assert siamese_loss(apart, groups).item() == pytest.approx(0, abs=1e-6)
    swapped = apart[[0, 2, 1, 3, 4, 5]]  # two patches in the wrong group
    assert siamese_loss(swapped, groups).item() > 10


def test_training_a_couple_of_steps_writes_the_simcam_tag(tmp_path):
    from spoc_bench.detectors.noiseprint import Noiseprint
    from spoc_bench.weights import file_sha256

    written = Noiseprint.train(steps=2, out=str(tmp_path / "w"), root=str(tmp_path / "data"), size=64, views=(4, 2, 2),
                               crops_per_photo=1, threads=1, log=lambda _: None)
    path = tmp_path / "w" / "noiseprint-simcam.safetensors"
    assert written == [path, path.with_suffix(".json")]
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["sha256"] == file_sha256(path) and manifest["recipe"]["steps"] == 2
    assert manifest["defender_test_images"] == 16 and 0 <= manifest["defender_test_accuracy"] <= 1
    assert set(load_noiseprint(path)) == set(noiseprint_shapes())  # the layout of the imported networks
    detector = spoc_bench.build_detector("noiseprint", weights="simcam", weights_dir=str(path.parent), crop=64)
    assert list(detector.weight_files()) == [101] and detector.weights_id()


def test_simcam_tag_without_weights_names_the_training_command(tmp_path):
    detector = spoc_bench.build_detector("noiseprint", weights="simcam", weights_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="spoc-bench train detector noiseprint"):
        detector.weight_files()


@needs_grip
def test_an_image_smaller_than_the_crop_is_compared_on_its_largest_central_window(from_npz):
    detector = spoc_bench.build_detector("noiseprint", weights="grip", weights_dir=str(from_npz), crop=128)
    detector.classes_ = ("a", "b")
    detector.fingerprints_ = torch.randn(2, 128, 128)
    small = to_tensor([textured(3, 92)])  # window 88: the fingerprints' central 88 px from corner 16
    assert detector.min_size == 64 and detector.window(92, 92) == 88
    residual = detector.crops(small, None, 88)[0]
    expected = [float(np.corrcoef(residual.flatten(), f[16:104, 16:104].flatten())[0, 1]) for f in detector.fingerprints_]
    assert detector.correlations(small)[0].tolist() == pytest.approx(expected, abs=1e-5)
    with pytest.raises(ValueError, match="smallest window of 64 px"):
        detector.window(60, 200)


def test_shipped_simcam_weights_are_the_default_and_load():
    from spoc_bench.weights import file_sha256, weights_path

    path = weights_path("detector", "noiseprint", "simcam")
    manifest = json.loads(path.with_suffix(".json").read_text())
    detector = spoc_bench.build_detector("noiseprint")
    assert detector.weights == "simcam" and list(detector.weight_files()) == [101]
    assert manifest["sha256"] == file_sha256(path) and path.stat().st_size < 3_000_000
    assert manifest["defender_test_images"] == 192 and manifest["defender_test_accuracy"] > 0.9  # chance 0.125
    assert manifest["history"][-1]["loss"] < manifest["chance_loss"]
    network = detector.network(101)
    with torch.no_grad():
        out = network(torch.rand(1, 1, 40, 40))
    assert out.shape == (1, 1, 40, 40) and torch.isfinite(out).all()


def test_fitted_fingerprints_round_trip_through_the_cache(tmp_path):
    from spoc_bench.cache import Cache

    dataset = Tiny()
    fitted = spoc_bench.build_detector("noiseprint", crop=32).fit(dataset)
    Cache(tmp_path).save_arrays("fitted", "ab" * 20, fitted.fitted_state())
    loaded = spoc_bench.build_detector("noiseprint", crop=32).load_fitted(Cache(tmp_path).load_arrays("fitted", "ab" * 20))
    assert loaded.classes == fitted.classes and loaded.counts_ == fitted.counts_
    assert torch.equal(loaded.fingerprints_, fitted.fingerprints_)
    items = [dataset.read(s) for s in dataset.samples("defender-train") if s.id in ("q95-0", "q75-5")]
    images, containers = to_tensor([i.pixels for i in items]), [i.container for i in items]
    assert torch.equal(loaded.predict(images, containers), fitted.predict(images, containers))
