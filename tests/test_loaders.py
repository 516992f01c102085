"""The loaders of published datasets, on small trees that imitate their layouts."""

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import spoc_bench
from spoc_bench.cli import app
from spoc_bench.contracts import SPLITS, check_disjoint

LOADERS = ("dresden", "vision", "raise", "cnndetection", "synthbuster", "genimage")


def write_image(path: Path, seed: int = 0) -> Path:
    """A tiny real image file, its format from the suffix (JPEG, PNG or TIFF)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def write_text(path: Path, text: str = "not an image") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def everything(dataset):
    return [s for split in SPLITS for s in dataset.samples(split)]


def prepared(name, root, **options):
    dataset = spoc_bench.build_dataset(name, root=str(root), **options)
    dataset.prepare()
    check_disjoint(dataset)
    return dataset


def assert_sound(dataset, root: Path):
    samples = everything(dataset)
    assert len({s.id for s in samples}) == len(samples)
    for s in samples:
        assert s.path == root / s.id and s.split in SPLITS
        stat = s.path.stat()
        assert s.stamp == f"{stat.st_size}-{stat.st_mtime_ns}"
    assert type(dataset)(**dataset.config()).config() == dataset.config()


# ---------------------------------------------------------------------------------- cameras
def dresden_tree(root: Path) -> Path:
    devices = {"Nikon_D70s": 2, "Canon_Ixus70": 3, "Agfa_DC-504": 1, "Olympus_mju_1050SW": 2}
    shot = 10000
    for camera, count in devices.items():
        for instance in range(count):
            for _ in range(6):
                shot += 1
                folder = root / camera if shot % 2 else root
                write_image(folder / f"{camera}_{instance}_{shot}.JPG", shot)
    write_text(root / "Nikon_D70s" / "readme.txt")
    write_image(root / "holiday.jpg")
    return root


def devices_of(dataset, split: str) -> set[str]:
    return {s.device for s in dataset.samples(split)}


def test_dresden_tests_the_defender_on_devices_it_never_saw(tmp_path):
    root = dresden_tree(tmp_path / "dresden")
    dataset = prepared("dresden", root)
    assert_sound(dataset, root)
    samples = everything(dataset)
    assert len(samples) == 48 and {s.source for s in samples} == {"real"}
    assert {s.camera for s in samples} == {"Nikon_D70s", "Canon_Ixus70", "Agfa_DC-504", "Olympus_mju_1050SW"}
    # per model, in natural order: the attacker the last of three or more, the test the last of the others
    assert devices_of(dataset, "attacker") == {"Canon_Ixus70_2"}
    assert devices_of(dataset, "defender-test") == {"Nikon_D70s_1", "Canon_Ixus70_1", "Olympus_mju_1050SW_1"}
    assert devices_of(dataset, "defender-train") == {"Nikon_D70s_0", "Canon_Ixus70_0", "Agfa_DC-504_0",
                                                     "Olympus_mju_1050SW_0"}
    assert dataset.split_report() == {
        "protocol": "cross-device",
        "devices": {"defender-train": ["Agfa_DC-504_0", "Canon_Ixus70_0", "Nikon_D70s_0", "Olympus_mju_1050SW_0"],
                    "defender-test": ["Canon_Ixus70_1", "Nikon_D70s_1", "Olympus_mju_1050SW_1"],
                    "attacker": ["Canon_Ixus70_2"]},
        "not_tested": ["Agfa_DC-504"], "no_attacker_device": ["Agfa_DC-504", "Nikon_D70s", "Olympus_mju_1050SW"]}
    assert sorted(dataset.skipped) == [(str(root / "Nikon_D70s" / "readme.txt"), "not an image file (suffix .txt)"),
                                       (str(root / "holiday.jpg"), "name is not Brand_Model_Instance_Shot")]
    again = prepared("dresden", root)
    assert [(s.id, s.split) for s in everything(again)] == [(s.id, s.split) for s in samples]


def test_dresden_same_device_protocol_and_named_devices(tmp_path):
    root = dresden_tree(tmp_path / "dresden")
    same = prepared("dresden", root, protocol="same-device")
    assert devices_of(same, "attacker") == {"Nikon_D70s_1", "Canon_Ixus70_2", "Olympus_mju_1050SW_1"}
    assert devices_of(same, "defender-train") & devices_of(same, "defender-test")  # shots of the same devices
    assert same.split_report()["protocol"] == "same-device"
    chosen = prepared("dresden", root, cameras=["Nikon_D70s"], attacker_devices=["Nikon_D70s_0"],
                      protocol="same-device")
    assert devices_of(chosen, "attacker") == {"Nikon_D70s_0"}
    assert {s.device for s in everything(chosen)} == {"Nikon_D70s_0", "Nikon_D70s_1"}
    everything_train = prepared("dresden", root, train_fraction=1.0, protocol="same-device")
    assert not everything_train.samples("defender-test")
    named = prepared("dresden", root, attacker_devices=["Nikon_D70s_0"], test_devices=["Canon_Ixus70_0"])
    assert devices_of(named, "attacker") == {"Nikon_D70s_0"}
    assert devices_of(named, "defender-test") == {"Canon_Ixus70_0"}
    assert "Nikon_D70s" in named.split_report()["not_tested"]
    with pytest.raises(ValueError, match="unknown attacker device"):
        prepared("dresden", root, attacker_devices=["Nikon_D70s_7"])
    with pytest.raises(ValueError, match="both the attacker and the test"):
        prepared("dresden", root, attacker_devices=["Nikon_D70s_0"], test_devices=["Nikon_D70s_0"])
    with pytest.raises(ValueError, match="unknown protocol 'leave-one-out'"):
        prepared("dresden", root, protocol="leave-one-out")
    with pytest.raises(ValueError, match="protocol=same-device"):
        prepared("dresden", root, cameras=["Agfa_DC-504"])  # one device: no cross-device test possible


def test_a_published_dataset_without_a_root_names_the_option():
    with pytest.raises(ValueError, match="dresden dataset: no root given: name its folder with --data-root"):
        spoc_bench.build_dataset("dresden").prepare()


def vision_tree(root: Path) -> Path:
    for device, camera in (("D01", "Samsung_GalaxyS3Mini"), ("D26", "Samsung_GalaxyS3Mini"), ("D03", "Huawei_P9")):
        for image_type in ("flat", "nat", "natWA"):
            for number in range(1, 5):
                name = f"{device}_I_{image_type}_{number:04d}.jpg"
                write_image(root / f"{device}_{camera}" / "images" / image_type / name)
        write_text(root / f"{device}_{camera}" / "videos" / "flat" / f"{device}_V_flat_0001.mp4")
    write_text(root / "D03_Huawei_P9" / "images" / "nat" / "Thumbs.db")
    write_image(root / "D03_Huawei_P9" / "images" / "nat" / "D01_I_nat_0009.jpg")
    return root


def test_vision_splits_by_device(tmp_path):
    root = vision_tree(tmp_path / "vision")
    dataset = prepared("vision", root)
    assert_sound(dataset, root)
    samples = everything(dataset)
    assert len(samples) == 3 * 2 * 4
    assert {s.camera for s in samples} == {"Samsung_GalaxyS3Mini", "Huawei_P9"}
    # two devices of the Samsung: one to train on, one to test on, none left for the attacker
    assert not dataset.samples("attacker")
    assert {(s.device, s.camera) for s in dataset.samples("defender-test")} == {("D26", "Samsung_GalaxyS3Mini")}
    assert devices_of(dataset, "defender-train") == {"D01", "D03"}
    assert dataset.split_report()["not_tested"] == ["Huawei_P9"]
    same = prepared("vision", root, protocol="same-device")
    assert devices_of(same, "attacker") == {"D26"}
    folder = root / "D03_Huawei_P9" / "images" / "nat"
    assert sorted(dataset.skipped) == [(str(folder / "D01_I_nat_0009.jpg"), "name is not D03_I_nat_NNNN"),
                                       (str(folder / "Thumbs.db"), "not an image file (suffix .db)")]


def test_vision_shared_copies_follow_their_native_image(tmp_path):
    root = vision_tree(tmp_path / "vision")
    dataset = prepared("vision", root, image_types=["nat", "natWA"])
    splits = {s.id: s.split for s in everything(dataset)}
    assert len(splits) == 3 * 2 * 4
    for number in range(1, 5):
        native = f"D01_Samsung_GalaxyS3Mini/images/nat/D01_I_nat_{number:04d}.jpg"
        assert splits[native.replace("nat", "natWA")] == splits[native]
    with pytest.raises(ValueError, match="unknown image type"):
        spoc_bench.build_dataset("vision", root=str(root), image_types=["natFB"])


def raise_tree(root: Path) -> Path:
    rows = []
    for index, device in enumerate(["Nikon D40", "Nikon D90", "Nikon D7000"] * 4):
        name = f"r{index:08x}t"
        rows.append({"File": name, "TIFF": f"http://example.org/RAISE/TIFF/{name}.TIF",
                     "NEF": f"http://example.org/RAISE/NEF/{name}.NEF", "Device": device})
        if index != 11:  # listed but not downloaded
            write_image(root / "TIFF" / f"{name}.TIF", index)
    rows[0]["TIFF"] = ""  # found as File + .TIF
    write_image(root / "TIFF" / "unlisted.TIF")
    write_text(root / "NEF" / f"{rows[0]['File']}.NEF", "raw bytes")
    with open(root / "RAISE_1k.csv", "w", newline="") as stream:
        writer = csv.DictWriter(stream, ["File", "TIFF", "NEF", "Device"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_raise_reads_the_csv_and_keeps_whole_cameras_together(tmp_path):
    root = raise_tree(tmp_path / "raise")
    dataset = prepared("raise", root)
    assert_sound(dataset, root)
    samples = everything(dataset)
    assert len(samples) == 11 and not dataset.samples("attacker")
    assert dataset.split_report()["protocol"] == "same-device"  # one body per model: no cross-device test
    assert {s.camera for s in samples} == {s.device for s in samples} == {"Nikon D40", "Nikon D90", "Nikon D7000"}
    assert samples[0].id.startswith("TIFF/r") and all(s.scene == Path(s.id).stem for s in samples)
    assert sorted(dataset.skipped) == [
        (str(root / "NEF" / "r00000000t.NEF"), "not an image file (suffix .NEF)"),
        (str(root / "RAISE_1k.csv"), f"1 listed TIFF file(s) not found under {root}, e.g. r0000000bt.TIF"),
        (str(root / "TIFF" / "unlisted.TIF"), "not listed in RAISE_1k.csv"),
    ]
    assert dataset.read(samples[0]).pixels.shape == (8, 8, 3)
    held_out = prepared("raise", root, attacker_devices=["Nikon D7000"], csv="RAISE_1k.csv")
    assert {s.device for s in held_out.samples("attacker")} == {"Nikon D7000"}
    assert len(held_out.samples("attacker")) == 3


# -------------------------------------------------------------------------------- detection
def cnndetection_tree(root: Path) -> Path:
    for folder in ("progan/airplane", "progan/cat", "stylegan2"):
        for label in ("0_real", "1_fake"):
            for index in range(5):
                write_image(root / folder / label / f"{index:03d}.png", index)
    write_text(root / "progan" / "cat" / "1_fake" / "notes.md")
    return root


def test_cnndetection_labels_and_paired_splits(tmp_path):
    root = cnndetection_tree(tmp_path / "cnn")
    dataset = prepared("cnndetection", root)
    assert_sound(dataset, root)
    samples = everything(dataset)
    assert len(samples) == 30 and all(dataset.samples(split) for split in SPLITS)
    real = [s for s in samples if s.source == "real"]
    fake = [s for s in samples if s.source == "synthetic"]
    assert all("/0_real/" in s.id and s.camera is None and s.generator is None for s in real)
    assert {s.generator for s in fake} == {"progan", "stylegan2"} and all("/1_fake/" in s.id for s in fake)
    split_of = {s.id: s.split for s in samples}
    assert all(split_of[s.id.replace("1_fake", "0_real")] == s.split for s in fake)
    assert dataset.skipped == [(str(root / "progan" / "cat" / "1_fake" / "notes.md"), "not an image file (suffix .md)")]
    only = prepared("cnndetection", root, generators=["stylegan2"], fractions=(0.5, 0.5))
    assert len(everything(only)) == 10 and not only.samples("attacker")
    with pytest.raises(ValueError, match=r"unknown generator\(s\) \['biggan'\]"):
        prepared("cnndetection", root, generators=["biggan"])


def synthbuster_tree(root: Path) -> Path:
    scenes = [f"r{index:08x}t" for index in range(12)]
    for index, scene in enumerate(scenes):
        write_image(root / "real_RAISE_1k" / f"{scene}.png", index)
        for generator in ("dalle2", "midjourney-v5"):
            write_image(root / generator / f"{scene}.png", index + 100)
    write_text(root / "dalle2" / "prompts.csv", "image,prompt\n")
    return root


def test_synthbuster_keeps_a_scene_in_one_split(tmp_path):
    root = synthbuster_tree(tmp_path / "synthbuster")
    dataset = prepared("synthbuster", root)
    assert_sound(dataset, root)
    samples = everything(dataset)
    assert len(samples) == 36 and len({s.split for s in samples}) == 3
    assert {s.generator for s in samples if s.source == "synthetic"} == {"dalle2", "midjourney-v5"}
    assert all(s.id.startswith("real_RAISE_1k/") and s.generator is None for s in samples if s.source == "real")
    for scene in {s.scene for s in samples}:
        group = [s for s in samples if s.scene == scene]
        assert len(group) == 3 and len({s.split for s in group}) == 1
    assert dataset.skipped == [(str(root / "dalle2" / "prompts.csv"), "not an image file (suffix .csv)")]


def genimage_tree(root: Path) -> Path:
    for generator in ("ADM", "BigGAN/imagenet_ai_0419_biggan"):
        for part in ("train", "val"):
            for label in ("ai", "nature"):
                for index in range(10):
                    name = f"n0144_{part}_{index}.JPEG" if label == "nature" else f"{index:03d}_{part}.png"
                    write_image(root / generator / part / label / name, index)
    write_text(root / "ADM" / "train" / "ai" / "info.json", "{}")
    return root


def test_genimage_maps_train_and_val(tmp_path):
    root = genimage_tree(tmp_path / "genimage")
    dataset = prepared("genimage", root, attacker_fraction=0.3)
    assert_sound(dataset, root)
    samples = everything(dataset)
    assert len(samples) == 80
    assert {s.generator for s in samples if s.source == "synthetic"} == {"ADM", "BigGAN"}
    assert all("/val/" in s.id for s in dataset.samples("defender-test"))
    assert all("/train/" in s.id for s in dataset.samples("defender-train") + dataset.samples("attacker"))
    attacker = dataset.samples("attacker")
    assert attacker and {s.source for s in attacker} == {"real", "synthetic"}
    nature_split = {}
    for s in samples:
        if s.source == "real":  # the same ImageNet photograph lands in the same split for every generator
            assert nature_split.setdefault(s.scene, s.split) == s.split
    assert dataset.skipped == [(str(root / "ADM" / "train" / "ai" / "info.json"), "not an image file (suffix .json)")]
    none = prepared("genimage", root, attacker_fraction=0)
    assert not none.samples("attacker") and len(none.samples("defender-train")) == 40


# ----------------------------------------------------------------------------------- errors
WRONG_LAYOUTS = {  # a tree that is not the dataset's layout, and the message's key words
    "dresden": (lambda root: write_text(root / "notes.txt"), "no image files"),
    "vision": (lambda root: write_image(root / "D01_Samsung" / "flat" / "D01_I_flat_0001.jpg"),
               "no Dxx_Brand_Model/images folders"),
    "raise": (lambda root: write_image(root / "r0001t.TIF"), "has no CSV"),
    "cnndetection": (lambda root: write_image(root / "progan" / "real" / "0.png"), "0_real,1_fake"),
    "synthbuster": (lambda root: write_image(root / "dalle2" / "r0001t.png"), "has no real_RAISE_1k/ folder"),
    "genimage": (lambda root: write_image(root / "ADM" / "ai" / "0.png"), "train,val"),
}
LAYOUT_WORDS = {"dresden": "Brand_Model_Instance_Shot", "vision": "Dxx_I_<type>_NNNN.jpg",
                "raise": "File,TIFF,NEF,Device", "cnndetection": "<generator>/[<class>/]{0_real,1_fake}/*.png",
                "synthbuster": "real_RAISE_1k/",
                "genimage": "<Generator>/[<subset>/]{train,val}/{ai,nature}/*"}


@pytest.mark.parametrize("name", LOADERS)
def test_wrong_layout_names_the_root_and_the_layout(tmp_path, name):
    make_tree, words = WRONG_LAYOUTS[name]
    root = tmp_path / "data"
    with pytest.raises(FileNotFoundError) as missing:
        spoc_bench.build_dataset(name, root=str(root)).prepare()
    assert "is not a directory" in str(missing.value)
    make_tree(root)
    with pytest.raises(ValueError) as wrong:
        spoc_bench.build_dataset(name, root=str(root)).prepare()
    for error in (missing.value, wrong.value):
        assert str(root) in str(error) and LAYOUT_WORDS[name] in str(error) and "\n" not in str(error)
    assert words in str(wrong.value)


def test_raise_csv_without_the_columns(tmp_path):
    write_text(tmp_path / "list.csv", "Name,Camera\nr1,Nikon D90\n")
    with pytest.raises(ValueError, match=r"list.csv without columns \['File', 'Device'\]"):
        spoc_bench.build_dataset("raise", root=str(tmp_path)).prepare()


def test_all_loaders_are_listed_with_a_description():
    output = CliRunner().invoke(app, ["list", "datasets"]).output
    lines = {line.split()[0]: line for line in output.splitlines() if line.startswith("  ")}
    for name in LOADERS:
        assert name in lines and len(lines[name].split()) > 3
