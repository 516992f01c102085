import numpy as np
import pytest

import spoc_bench
from spoc_bench.contracts import check_disjoint
from spoc_bench.datasets._camera import JpegPolicy, detail
from spoc_bench.datasets.simcam import CAMERAS
from spoc_bench.images import read_image

SMALL = dict(size=64, views=(4, 2, 2), crops_per_photo=1, generators=(), workers=1)


@pytest.fixture(scope="module")
def small_simcam(tmp_path_factory):
    dataset = spoc_bench.build_dataset("simcam", root=str(tmp_path_factory.mktemp("simcam")), **SMALL)
    dataset.prepare()
    return dataset


def test_every_view_through_every_camera_with_disjoint_splits(small_simcam):
    check_disjoint(small_simcam)
    for split, views in zip(("defender-train", "defender-test", "attacker"), SMALL["views"]):
        samples = small_simcam.samples(split)
        assert len(samples) == views * len(CAMERAS)
        assert {s.camera for s in samples} == set(small_simcam.cameras)
    devices = {split: {s.device for s in small_simcam.samples(split)} for split in ("defender-train", "attacker")}
    assert all(d.endswith("-d2") for d in devices["attacker"]) and not devices["attacker"] & devices["defender-train"]


def test_files_carry_the_model_s_container(small_simcam):
    by_camera = {s.camera: s for s in small_simcam.samples("defender-test")}
    pixels, container, _ = read_image(by_camera["epsilon"].path)
    assert pixels.shape == (64, 64, 3)
    assert (container.make, container.model, container.subsampling) == ("Epsilon", "epsilon", "4:4:4")
    alpha1, alpha2 = (read_image(by_camera[name].path)[1] for name in ("alpha-1", "alpha-2"))
    assert alpha1.qtables == alpha2.qtables  # one maker's product line shares its tables
    gamma, delta = (read_image(by_camera[name].path)[1] for name in ("gamma", "delta"))
    from spoc_bench.images import jpeg_container

    assert gamma.qtables == delta.qtables == jpeg_container(92).qtables


def test_generation_is_deterministic(small_simcam, tmp_path):
    again = spoc_bench.build_dataset("simcam", root=str(tmp_path), **SMALL)
    again.prepare()
    first, second = small_simcam.samples("attacker")[5], again.samples("attacker")[5]
    assert first.id == second.id
    assert np.array_equal(read_image(first.path)[0], read_image(second.path)[0])


def test_adaptive_tables_follow_image_detail():
    policy = JpegPolicy("adaptive")
    flat = np.full((32, 32, 3), 120, np.uint8)
    busy = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert detail(flat) < 4 < 8 < detail(busy)
    assert policy.tables(flat)[0][0] < policy.tables(busy)[0][0]
    assert JpegPolicy("radial", base=2, slope=1, power=1).tables(flat)[0][:3] == (2, 3, 4)  # base + (u + v)


def test_devices_of_a_model_differ_only_by_their_sensor(small_simcam):
    from spoc_bench.datasets._camera import device_traces

    k0, _ = device_traces(CAMERAS[0], "alpha-1-d0", 64)
    k1, _ = device_traces(CAMERAS[0], "alpha-1-d1", 64)
    assert abs(k0.std() - CAMERAS[0].prnu) < 0.002 and abs(np.corrcoef(k0.ravel(), k1.ravel())[0, 1]) < 0.1


def test_simcam_and_synthetic_share_the_scene_plan_without_importing_each_other():
    import ast
    from pathlib import Path

    folder = Path(spoc_bench.datasets.__file__).parent
    for module, other in (("simcam", "synthetic"), ("synthetic", "simcam")):
        tree = ast.parse((folder / f"{module}.py").read_text())
        imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        assert not any(name.rpartition(".")[2] == other for name in imported), f"{module} imports {other}"
