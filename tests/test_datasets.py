import numpy as np
import pytest

import spoc_bench
from spoc_bench.contracts import check_disjoint
from tests.conftest import save_jpeg, textured


def test_folder_lists_labels_and_counts_non_images(tmp_path):
    for label in ("canon", "nikon", "gan"):
        for index in range(5):
            save_jpeg(tmp_path / label / f"{label}{index}.jpg", textured(index, 32), 90)
    (tmp_path / "canon" / "notes.txt").write_text("not an image")
    dataset = spoc_bench.build_dataset("folder", root=str(tmp_path), synthetic=("gan",))
    dataset.prepare()
    everything = [s for split in ("defender-train", "defender-test", "attacker") for s in dataset.samples(split)]
    assert len(everything) == 15
    assert {s.camera for s in everything if s.source == "real"} == {"canon", "nikon"}
    assert {s.generator for s in everything if s.source == "synthetic"} == {"gan"}
    assert dataset.skipped == [(str(tmp_path / "canon" / "notes.txt"), "not an image file (suffix .txt)")]
    check_disjoint(dataset)


@pytest.mark.parametrize("make_tree, message", [
    (lambda root: None, "is not a directory"),
    (lambda root: root.mkdir(), "has no label folders"),
    (lambda root: (root / "cam").mkdir(parents=True), "no image files"),
])
def test_folder_errors_name_the_folder_and_the_layout(tmp_path, make_tree, message):
    root = tmp_path / "images"
    make_tree(root)
    with pytest.raises((FileNotFoundError, ValueError)) as error:
        spoc_bench.build_dataset("folder", root=str(root)).prepare()
    assert message in str(error.value) and str(root) in str(error.value) and "<label>/*" in str(error.value)


def test_folder_split_layout(tmp_path):
    for split in ("defender-train", "defender-test"):
        for label in ("cam", "gan"):
            save_jpeg(tmp_path / split / label / f"{split}-{label}.jpg", textured(0, 32), 90)
    dataset = spoc_bench.build_dataset("folder", root=str(tmp_path), synthetic=["gan"])
    assert [s.id for s in dataset.samples("defender-test")] == ["defender-test/cam/defender-test-cam.jpg",
                                                              "defender-test/gan/defender-test-gan.jpg"]
    assert dataset.samples("defender-test")[1].source == "synthetic" and not dataset.samples("attacker")


def test_folder_with_a_device_level_splits_by_device(tmp_path):
    for camera, devices in (("canon", ("a", "b", "c")), ("nikon", ("x", "y")), ("sony", ("s",))):
        for device in devices:
            for index in range(2):
                save_jpeg(tmp_path / camera / device / f"{device}{index}.jpg", textured(index, 32), 90)
    save_jpeg(tmp_path / "canon" / "loose.jpg", textured(0, 32), 90)
    for index in range(4):
        save_jpeg(tmp_path / "gan" / f"g{index}.jpg", textured(index, 32), 90)
    dataset = spoc_bench.build_dataset("folder", root=str(tmp_path), synthetic=["gan"], devices=True)
    dataset.prepare()
    check_disjoint(dataset)
    devices = dataset.split_report()["devices"]
    assert devices == {"defender-train": ["canon/a", "nikon/x", "sony/s"], "defender-test": ["canon/b", "nikon/y"],
                       "attacker": ["canon/c"]}
    real = [s for split in devices for s in dataset.samples(split) if s.source == "real"]
    assert len(real) == 12 and all(s.device.startswith(f"{s.camera}/") for s in real)
    assert sum(s.source == "synthetic" for split in devices for s in dataset.samples(split)) == 4
    assert dataset.skipped[0][0] == str(tmp_path / "canon" / "loose.jpg")
    with pytest.raises(ValueError, match="cannot be combined with split"):
        spoc_bench.build_dataset("folder", root=str(tmp_path), devices=True, split="defender-test")


def test_unreadable_images_are_skipped_and_counted(tmp_path):
    good = save_jpeg(tmp_path / "cam" / "good.jpg", textured(0, 256), 90)
    (tmp_path / "cam" / "broken.jpg").write_bytes(good.read_bytes()[:2000])
    dataset = spoc_bench.build_dataset("folder", root=str(tmp_path), split="defender-test")
    skipped = []
    items = list(dataset.items(dataset.samples("defender-test"), skipped))
    assert [i.sample.id for i in items] == ["cam/good.jpg"]
    assert skipped[0][0].endswith("broken.jpg") and "corrupt" in skipped[0][1]


def test_demo_is_deterministic_split_by_scene_and_device(demo_root, tmp_path):
    dataset = spoc_bench.build_dataset("demo", root=str(demo_root))
    dataset.prepare()
    check_disjoint(dataset)
    test = dataset.samples("defender-test")
    assert {s.source for s in test} == {"real", "synthetic"}
    assert {s.camera for s in test if s.camera} == {"demo-A", "demo-B", "demo-C"}
    again = spoc_bench.build_dataset("demo", root=str(tmp_path))
    again.prepare()
    first, second = dataset.read(test[0]), again.read(again.samples("defender-test")[0])
    assert np.array_equal(first.pixels, second.pixels) and first.container == second.container
    assert first.container.model == test[0].camera
