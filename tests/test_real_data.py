"""Real-camera datasets end to end: a Dresden-named tree of simcam photographs (three devices per
model) run through the runner and the CLI, on the cross-device protocol."""

import json
import shutil

import pytest
from typer.testing import CliRunner

import spoc_bench
from spoc_bench.cli import app
from tests.conftest import save_jpeg, textured

SMALL = dict(size=64, views=(4, 2, 2), crops_per_photo=1, generators=(), workers=1)


@pytest.fixture(scope="module")
def dresden_root(tmp_path_factory):
    """simcam's real images renamed as Dresden names them: ``Simcam_<model>_<device>_<shot>``."""
    simcam = spoc_bench.build_dataset("simcam", root=str(tmp_path_factory.mktemp("simcam")), **SMALL)
    simcam.prepare()
    root = tmp_path_factory.mktemp("dresden")
    shot = 10000
    for split in ("defender-train", "defender-test", "attacker"):
        for sample in simcam.samples(split):
            shot += 1
            instance = sample.device.rsplit("-d", 1)[1]
            shutil.copy(sample.path, root / f"Simcam_{sample.camera}_{instance}_{shot}{sample.path.suffix}")
    return root


def test_a_run_on_real_photographs_reports_clean_accuracy_on_unseen_devices(dresden_root, tmp_path):
    result = spoc_bench.run(datasets=["dresden"], data_root=str(dresden_root), attacks=["identity"],
                            detectors=["jpeg-table"], perturbations="none", targets=None, n=None,
                            out=tmp_path / "run", progress=False)
    devices = result.manifest["splits"]["dresden"]["devices"]
    assert result.manifest["splits"]["dresden"]["protocol"] == "cross-device"
    assert all(d.endswith("_0") for d in devices["defender-train"])
    assert all(d.endswith("_1") for d in devices["defender-test"]) and len(devices["defender-test"]) == 8
    assert all(d.endswith("_2") for d in devices["attacker"])
    summary = result.summary
    assert list(summary.attack.unique()) == ["none"] and list(summary.metric.unique()) == ["acc"]
    tested = result.rows[result.rows.source == "real"]
    assert summary.n.iloc[0] == len(tested) > 0
    assert tested.id.str.contains("_1_").all()  # only the test devices' shots
    assert summary.value.iloc[0] == pytest.approx((tested.pred == tested.camera).mean())
    markdown = (tmp_path / "run" / "summary.md").read_text()
    assert "| none | none | all | jpeg-table |" in markdown
    assert "dresden: cross-device split; defender-train devices Simcam_alpha-1_0" in markdown
    assert json.loads((tmp_path / "run" / "run.json").read_text())["splits"]["dresden"]["devices"] == devices


def test_the_cli_names_the_split_and_refuses_a_missing_root(dresden_root, tmp_path):
    cli = CliRunner()
    ran = cli.invoke(app, ["run", "--dataset", "dresden", "--data-root", str(dresden_root), "--attack", "identity",
                           "--detector", "jpeg-table", "--perturb", "none", "--out", str(tmp_path / "run"), "--quiet"])
    assert ran.exit_code == 0, ran.output
    assert "| none | none | all | jpeg-table |" in ran.output and "cross-device split" in ran.output
    missing = cli.invoke(app, ["run", "--dataset", "dresden", "--attack", "identity", "--detector", "jpeg-table",
                               "--perturb", "none", "--out", str(tmp_path / "other"), "--quiet"])
    assert missing.exit_code == 2 and "no root given: name its folder with --data-root" in missing.output


def test_a_run_with_nothing_to_summarise_says_why_and_fails(tmp_path):
    for index in range(2):
        good = save_jpeg(tmp_path / "images" / "cam" / f"{index}.jpg", textured(index, 64), 90)
        good.write_bytes(good.read_bytes()[:300])  # every image truncated: nothing can be measured
    ran = CliRunner().invoke(app, ["run", "--dataset", "folder", "--data-root", str(tmp_path / "images"),
                                   "--dataset-opt", "split=defender-test", "--attack", "identity", "--detector",
                                   "wang2020", "--perturb", "none", "--out", str(tmp_path / "run"), "--quiet"])
    assert ran.exit_code == 2, ran.output
    assert "nothing to summarise: no image was measured" in ran.output


@pytest.fixture(scope="module")
def generated_root(tmp_path_factory):
    """A folder of generated images laid out ``<split>/<generator>/*.jpg`` (the ``synthetic`` dataset's render)."""
    synthetic = spoc_bench.build_dataset("synthetic", root=str(tmp_path_factory.mktemp("synthetic")), size=64,
                                         views=(4, 2, 2), crops_per_photo=1, families=("transposed", "nearest"))
    synthetic.prepare()
    return synthetic.folder


def test_a_camera_dataset_takes_its_synthetic_images_from_a_folder(dresden_root, generated_root):
    dresden = spoc_bench.build_dataset("dresden", root=str(dresden_root), synthetic_root=str(generated_root))
    for split in ("defender-train", "defender-test", "attacker"):
        synthetic = [s for s in dresden.samples(split) if s.source == "synthetic"]
        assert synthetic and all(s.id.startswith(f"synthetic/{split}/") and s.generator in ("transposed", "nearest")
                                 for s in synthetic)
    missing = spoc_bench.build_dataset("dresden", root=str(dresden_root), synthetic_root=str(dresden_root / "none"))
    with pytest.raises(FileNotFoundError, match="synthetic_root .*none is not a directory"):
        missing.prepare()


def test_spoc_trains_for_a_real_camera_into_the_cache_and_attacks_its_synthetic_inputs(
        dresden_root, generated_root, tmp_path, monkeypatch):
    from spoc_bench.attacks.spoc import SpoC

    monkeypatch.setenv("SPOC_BENCH_CACHE", str(tmp_path / "cache"))
    quick = dict(target="Simcam_gamma", dataset="dresden", steps=4, batch=4, embedder_steps=4, surrogate_steps=4,
                 validate_every=2, log=lambda *a: None)
    with pytest.raises(ValueError, match="holds no synthetic images to learn from.*synthetic_root"):
        SpoC.train(dataset_options={"root": str(dresden_root)}, **quick)
    options = {"root": str(dresden_root), "synthetic_root": str(generated_root)}
    written = SpoC.train(dataset_options=options, **quick)
    folder = tmp_path / "cache" / "weights" / "spoc"
    assert [p.name for p in written] == ["spoc-dresden-embedder.safetensors", "spoc-dresden-constrained.safetensors",
                                         "spoc-dresden-Simcam_gamma.safetensors"] and written[2].parent == folder
    manifest = json.loads((folder / "spoc-dresden-Simcam_gamma.json").read_text())
    assert manifest["data"]["dataset"] == "dresden" and manifest["data"]["split"] == "attacker"
    held_out = manifest["attacker_validation"]["inputs"]
    attacker_inputs = [s for s in spoc_bench.build_dataset("dresden", **options).samples("attacker")
                       if s.source == "synthetic"]
    assert 0 < held_out < len(attacker_inputs)  # files held out of training where scenes are unknown

    with pytest.raises(FileNotFoundError, match=r"spoc-simcam-Simcam_gamma.*spoc-bench train attack spoc --dataset NAME"):
        SpoC().fit("Simcam_gamma", [])
    result = spoc_bench.run(datasets=["dresden"], data_root=str(dresden_root),
                            dataset_options={"synthetic_root": str(generated_root)}, attacks=["spoc:dresden"],
                            detectors=["jpeg-table"], perturbations="none", targets=["Simcam_gamma"], n=None,
                            out=tmp_path / "run", progress=False)
    attacked = result.rows[result.rows.source == "attacked"]
    assert len(attacked) > 0 and attacked.input_id.str.startswith("synthetic/defender-test/").all()
    cells = result.summary.set_index(["attack", "metric"]).value
    assert 0 <= cells["spoc:dresden", "asr"] <= 1 and cells["spoc:dresden", "psnr"] > 25
    assert 0 <= cells["spoc:dresden", "acc"] <= 1  # the clean accuracy on the test devices, beside the attack


def test_train_takes_the_dataset_from_the_same_options_as_run(dresden_root, tmp_path, monkeypatch):
    monkeypatch.setenv("SPOC_BENCH_CACHE", str(tmp_path / "cache"))
    cli = CliRunner()
    spoc = cli.invoke(app, ["train", "attack", "spoc", "--dataset", "dresden", "--data-root", str(dresden_root),
                            "-o", "target=Simcam_gamma"])
    assert spoc.exit_code == 2 and "dresden's attacker split holds no synthetic images" in spoc.output
    wrong = cli.invoke(app, ["train", "attack", "spoc", "--dataset", "dresden", "--dataset-opt", "colour=red"])
    assert wrong.exit_code == 2 and "--dataset-opt for dataset 'dresden': unknown option 'colour'" in wrong.output
    none = cli.invoke(app, ["train", "dataset", "synthetic", "--data-root", str(dresden_root)])
    assert none.exit_code == 2 and "reads no dataset" in none.output


def test_train_surrogate_trains_one_attacker_model_on_the_attacker_split_into_the_cache(dresden_root, tmp_path,
                                                                                       monkeypatch):
    from safetensors.torch import load_file

    monkeypatch.setenv("SPOC_BENCH_CACHE", str(tmp_path / "cache"))
    cli = CliRunner()
    made = cli.invoke(app, ["train", "surrogate", "constrained", "--dataset", "dresden", "--data-root", str(dresden_root),
                            "-o", "steps=3"])
    assert made.exit_code == 0, made.output
    path = tmp_path / "cache" / "weights" / "spoc" / "spoc-dresden-constrained.safetensors"
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["recipe"]["steps"] == 3 and manifest["data"]["split"] == "attacker"
    assert len(manifest["classes"]) == 8 and all(c.startswith("Simcam_") for c in manifest["classes"])
    assert load_file(path)  # a real safetensors file, where the transfer attacks look for it
    assert not path.with_name("spoc-dresden-embedder.safetensors").exists()  # only the one named
    unknown = cli.invoke(app, ["train", "surrogate", "resnet", "--dataset", "dresden"])
    assert unknown.exit_code == 2 and "the attacker's surrogates are embedder, constrained" in unknown.output
