import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

import spoc_bench
from spoc_bench.contracts import Detector
from spoc_bench.registry import register_detector
from spoc_bench.runner import balanced_choice, resolve_grid
from pathlib import Path

from PIL import Image

from tests.conftest import save_jpeg, textured

SMALL = dict(datasets=["demo"], attacks=["identity"], detectors=["jpeg-table", "spectrum"], perturbations="none,jpeg:90", n=12)


@pytest.fixture
def demo_env(demo_root):
    return {**SMALL, "data_root": str(demo_root)}


def test_run_writes_every_output_and_sensible_numbers(demo_env, tmp_path):
    result = spoc_bench.run("smoke", out=tmp_path / "out", progress=False, **demo_env)
    for name in ("rows.parquet", "summary.csv", "summary.tex", "summary.md", "run.json"):
        assert (tmp_path / "out" / name).exists(), name
    summary = result.summary.set_index(["target", "detector", "perturbation", "metric"]).value
    assert summary[("all", "jpeg-table", "none", "acc")] == 1.0
    assert summary[("all", "jpeg-table", "jpeg:90", "acc")] < 0.7  # recompression erases the tables
    assert summary[("all", "spectrum", "none", "auc")] > 0.95
    # identity: attacked images are the inputs, so asr equals asr_before; untargeted, it is pooled only
    assert summary[("all", "jpeg-table", "none", "asr")] == summary[("all", "jpeg-table", "none", "asr_before")]
    assert set(result.summary.target) == {"all"}
    assert "\\toprule" in (tmp_path / "out" / "summary.tex").read_text()
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["grid"]["perturbations"] == ["none", "jpeg:90"] and manifest["versions"]["torch"]
    assert set(result.rows.source) == {"real", "synthetic", "attacked"}


def test_second_run_recomputes_nothing_and_same_seed_gives_identical_rows(demo_env, tmp_path, monkeypatch):
    first = spoc_bench.run("smoke", out=tmp_path / "a", progress=False, **demo_env)
    from spoc_bench.detectors.spectrum import Spectrum

    def refuse(*args, **kwargs):
        raise AssertionError("a finished cell was recomputed")

    monkeypatch.setattr(Spectrum, "predict", refuse)
    monkeypatch.setattr(Spectrum, "fit", refuse)
    second = spoc_bench.run("smoke", out=tmp_path / "b", progress=False, **demo_env)
    pd.testing.assert_frame_equal(first.rows, second.rows)
    assert second.manifest["timings_s"].get("detect", 0) == 0


def test_a_changed_perturbation_recomputes_only_its_cells(demo_env, tmp_path, monkeypatch):
    spoc_bench.run("smoke", progress=False, **demo_env)
    from spoc_bench.detectors.spectrum import Spectrum

    calls = []
    original = Spectrum.predict
    monkeypatch.setattr(Spectrum, "predict", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    spoc_bench.run("smoke", progress=False, **{**demo_env, "perturbations": "none,jpeg:90,blur:1"})
    assert len(calls) == 3  # blur:1 only: real images, inputs, attacked images (identity: one set for all targets)


def test_killed_run_resumes_to_identical_tables(demo_env, tmp_path):
    command = [sys.executable, "-m", "spoc_bench.cli", "run", "--preset", "smoke", "-q", "--n", "24", "--attack", "identity",
               "--dataset", "demo", "--data-root", demo_env["data_root"],
               "--perturb", "none,jpeg:90,resize:0.5,blur:1"]
    environment = {**os.environ, "SPOC_BENCH_CACHE": str(tmp_path / "killed-cache")}
    process = subprocess.Popen([*command, "--out", str(tmp_path / "killed")], env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = tmp_path / "killed-cache" / "rows"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(rows.rglob("*.parquet"))) < 3 and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished_before = len(list(rows.rglob("*.parquet")))
    assert finished_before >= 3
    subprocess.run([*command, "--out", str(tmp_path / "resumed")], env=environment, check=True,
                   stdout=subprocess.DEVNULL)
    fresh = {**os.environ, "SPOC_BENCH_CACHE": str(tmp_path / "fresh-cache")}
    subprocess.run([*command, "--out", str(tmp_path / "fresh")], env=fresh, check=True, stdout=subprocess.DEVNULL)
    resumed = (tmp_path / "resumed" / "summary.csv").read_text()
    assert resumed == (tmp_path / "fresh" / "summary.csv").read_text()
    for frame in (tmp_path / "killed-cache").rglob("*.parquet"):  # a kill leaves no half-written file
        pd.read_parquet(frame)


def test_two_runs_sharing_one_cache_agree_with_a_run_alone(demo_env, tmp_path):
    command = [sys.executable, "-m", "spoc_bench.cli", "run", "--preset", "smoke", "-q", "--n", "12", "--attack", "identity",
               "--dataset", "demo", "--data-root", demo_env["data_root"], "--perturb", "none,jpeg:90"]
    shared = {**os.environ, "SPOC_BENCH_CACHE": str(tmp_path / "shared-cache")}
    together = [subprocess.Popen([*command, "--out", str(tmp_path / name)], env=shared, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE) for name in ("first", "second")]
    for process in together:
        assert process.wait(timeout=300) == 0, process.stderr.read().decode()
    alone = {**os.environ, "SPOC_BENCH_CACHE": str(tmp_path / "own-cache")}
    subprocess.run([*command, "--out", str(tmp_path / "alone")], env=alone, check=True, stdout=subprocess.DEVNULL)
    expected = (tmp_path / "alone" / "summary.csv").read_bytes()
    assert (tmp_path / "first" / "summary.csv").read_bytes() == expected
    assert (tmp_path / "second" / "summary.csv").read_bytes() == expected


def test_folder_run_counts_bad_files_and_small_images(tmp_path):
    root = tmp_path / "images"
    for split in ("defender-train", "defender-test", "attacker"):
        for camera, quality in (("cam90", 90), ("cam70", 70)):
            for index in range(6):
                save_jpeg(root / split / camera / f"{split}{camera}_{index}.jpg", textured(index), quality)
        (root / split / "gan").mkdir()
        for index in range(6):
            Image.fromarray(textured(50 + index)[::2, ::2].repeat(2, 0).repeat(2, 1)).save(root / split / "gan" / f"{split}{index}.png")
    test = root / "defender-test"
    (test / "cam90" / "broken.jpg").write_bytes((test / "cam90" / "defender-testcam90_0.jpg").read_bytes()[:300])
    (test / "cam90" / "readme.md").write_text("hello")
    Image.fromarray(textured(1, 8)).save(test / "gan" / "tiny.png")
    result = spoc_bench.run("smoke", progress=False, out=tmp_path / "out", data_root=str(root),
                            dataset_options={"synthetic": ["gan"]}, **{**SMALL, "datasets": ["folder"], "n": None})
    files = {Path(f["file"]).name: f["reason"] for f in result.manifest["skipped"]["files"]}
    assert files["readme.md"] == "not an image file (suffix .md)"
    assert "corrupt" in files["broken.jpg"]
    assert result.manifest["skipped"]["count"] == 4  # readme, broken, tiny and its (untargeted) attacked copy
    acc = result.summary.set_index(["target", "detector", "perturbation", "metric"]).value
    assert acc[("all", "jpeg-table", "none", "acc")] == 1.0
    assert "smaller than" in files["tiny.png"]


def test_balanced_choice_interleaves_classes():
    from spoc_bench.contracts import Sample

    samples = [Sample(f"{c}{i}", "s", "real", camera=c) for c in "AB" for i in range(10)]
    chosen = balanced_choice(samples, 6, seed=3)
    assert sorted(s.camera for s in chosen) == ["A", "A", "A", "B", "B", "B"]
    assert balanced_choice(samples, 6, seed=3) == chosen


def test_grid_flags_replace_preset_parts():
    grid = resolve_grid("smoke", detectors=["spectrum"], perturbations="jpeg:70")
    assert grid.detectors == ["spectrum"] and [str(p) for p in grid.perturbations] == ["jpeg:70"]
    assert grid.attacks == ["identity", "spoc"]


def test_run_json_records_the_command_commit_machine_and_weights(demo_env, tmp_path):
    import shlex

    import torch

    from spoc_bench.weights import file_sha256, weights_path

    grid = {**demo_env, "detectors": ["jpeg-table", "wang2020"], "perturbations": "none", "n": 4}
    spoc_bench.run("smoke", out=tmp_path / "out", progress=False, **grid)
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["command"] == {"argv": shlex.join(sys.argv), "cwd": os.getcwd()}
    assert manifest["machine"]["cpu"] and manifest["machine"]["torch_threads"] == torch.get_num_threads()
    weights = weights_path("detector", "wang2020", "simcam-w16")
    assert manifest["weights"] == {"detector:wang2020": {str(weights.resolve()): file_sha256(weights)}}
    checkout = Path(spoc_bench.__file__).resolve().parent.parent
    if (checkout / ".git").exists() and shutil.which("git"):
        head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True)
        assert manifest["git"]["commit"] == head.stdout.strip() and isinstance(manifest["git"]["dirty"], bool)
    else:
        assert "git" not in manifest


def test_no_git_commit_for_an_installed_copy_or_without_git(tmp_path, monkeypatch):
    from spoc_bench.provenance import git_checkout, provenance

    (tmp_path / "plain" / "spoc_bench").mkdir(parents=True)
    assert git_checkout(tmp_path / "plain" / "spoc_bench") is None  # not in a repository
    if shutil.which("git"):
        installed = tmp_path / "repository" / ".venv" / "site-packages" / "spoc_bench"
        installed.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", str(tmp_path / "repository")], check=True)
        assert git_checkout(installed) is None  # inside some repository, but not its spoc_bench folder
    monkeypatch.setenv("PATH", str(tmp_path / "plain"))  # no git at all
    assert "git" not in provenance() and provenance()["command"]["argv"]


@register_detector("test-mean-colour")
class MeanColour(Detector):
    """A camera detector fitted on the dataset: each camera's mean colour (counts its fits)."""

    task, fits = "camera", 0

    def fit(self, dataset):
        MeanColour.fits += 1
        real = [item for item in dataset.items(dataset.samples("defender-train")) if item.sample.source == "real"]
        self.classes_ = tuple(sorted({item.sample.camera for item in real}))
        self.means_ = np.stack([np.mean([item.pixels.mean(axis=(0, 1)) for item in real if item.sample.camera == c],
                                        axis=0) for c in self.classes_]).astype(np.float32) / 255
        return self

    @property
    def classes(self):
        return self.classes_

    def fitted_state(self):
        return {"classes": np.array(self.classes_), "means": self.means_}

    def load_fitted(self, state):
        self.classes_, self.means_ = tuple(str(c) for c in state["classes"]), state["means"]
        return self

    def predict(self, images, containers=None):
        distances = torch.cdist(images.mean(dim=(2, 3)), torch.from_numpy(self.means_))
        return (-distances * 100).softmax(dim=1)


def test_fitted_detectors_are_cached_so_a_later_run_fits_nothing(demo_root, tmp_path, monkeypatch):
    grid = dict(datasets=["demo"], data_root=str(demo_root), attacks=["identity"], detectors=["test-mean-colour"], n=4)
    MeanColour.fits = 0
    first = spoc_bench.run("smoke", perturbations="none", progress=False, **grid)
    assert MeanColour.fits == 1 and first.manifest["detector_fits"] == 1
    # a changed grid computes new rows with the cached fit: no fitting, the same numbers as a fresh fit
    second = spoc_bench.run("smoke", perturbations="none,jpeg:90", progress=False, **grid)
    assert MeanColour.fits == 1 and second.manifest["detector_fits"] == 0
    assert second.manifest["timings_s"].get("detector_fit", 0) == 0
    fresh = spoc_bench.run("smoke", perturbations="none,jpeg:90", cache=tmp_path / "fresh", progress=False, **grid)
    assert MeanColour.fits == 2
    pd.testing.assert_frame_equal(second.summary, fresh.summary)
    pd.testing.assert_frame_equal(second.rows.drop(columns="path"), fresh.rows.drop(columns="path"))
