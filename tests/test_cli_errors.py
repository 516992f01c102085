"""User errors: one clear line on stderr (the option or file, and what would be accepted), exit 2,
never a traceback; damaged weights and cache entries are named, never used silently."""

import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import save_jpeg, textured
from spoc_bench.cli import app
from spoc_bench.weights import WeightsError, load_weights, read_safetensors, verified_sha256

runner = CliRunner()
PACKAGE = Path(__file__).resolve().parents[1]
SUMMARY_COLUMNS = "dataset,attack,threat_model,target,detector,weights,perturbation,metric,value,ci_low,ci_high"


def one_error_line(result, exit_code: int = 2) -> str:
    """The single stderr line of a failed command (asserting exit code, one line, no traceback)."""
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == exit_code, (result.exit_code, result.output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


# ------------------------------------------------------------------------------------ weights
SHIPPED = [("attack", "spoc", "simcam-alpha-1", "attacks"), ("detector", "bondi2017", "simcam", "detectors")]


def copy_shipped(kind, name, tag, folder, tmp_path, manifest=True) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    for suffix in (".safetensors", ".json") if manifest else (".safetensors",):
        shutil.copy(PACKAGE / folder / "weights" / f"{name}-{tag}{suffix}", tmp_path / f"{name}-{tag}{suffix}")
    return tmp_path / f"{name}-{tag}.safetensors"


def tamper(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one weight: still a valid file
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("kind, name, tag, folder", SHIPPED)
@pytest.mark.parametrize("damage", [tamper, truncate])
def test_damaged_shipped_weights_name_the_file_and_the_fix(tmp_path, kind, name, tag, folder, damage):
    path = copy_shipped(kind, name, tag, folder, tmp_path)
    assert load_weights(kind, name, tag, tmp_path)  # intact: loads
    damage(path)
    with pytest.raises(WeightsError) as error:
        load_weights(kind, name, tag, tmp_path)
    message = str(error.value)
    assert str(path) in message and "differs from" in message and str(path.with_suffix(".json")) in message
    assert f"spoc-bench {'train'} {kind} {name}" in message and "git" in message


def test_truncated_weights_without_manifest_are_a_clear_error(tmp_path):
    path = copy_shipped("attack", "spoc", "simcam-alpha-1", "attacks", tmp_path, manifest=False)
    truncate(path)
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        read_safetensors(path)


def test_synthetic_generator_weights_are_verified(tmp_path):
    from spoc_bench.datasets.synthetic import load_generator

    for suffix in (".safetensors", ".json"):
        shutil.copy(PACKAGE / "datasets" / "weights" / f"autogan-nearest{suffix}", tmp_path)
    tamper(tmp_path / "autogan-nearest.safetensors")
    with pytest.raises(WeightsError, match="autogan-nearest.safetensors.*differs from"):
        load_generator("nearest", tmp_path)


def test_verification_runs_once_per_file_version(tmp_path, monkeypatch):
    import spoc_bench.weights as weights_module

    path = copy_shipped("attack", "spoc", "simcam-alpha-1", "attacks", tmp_path)
    calls = []
    real = weights_module.file_sha256
    monkeypatch.setattr(weights_module, "file_sha256", lambda p: calls.append(p) or real(p))
    first = verified_sha256(path)
    assert verified_sha256(path) == first and len(calls) == 1
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new version of the file
    assert verified_sha256(path) == first and len(calls) == 2


def random_noiseprint_npz(folder: Path, quality: int = 90) -> Path:
    from spoc_bench.detectors._noiseprint_weights import noiseprint_shapes

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {name: rng.normal(0, 0.1, shape).astype(np.float32) for name, shape in noiseprint_shapes().items()}
    np.savez(folder / f"noiseprint_qf{quality}.npz", **arrays)
    return folder


def test_tampered_imported_noiseprint_names_the_import_command(tmp_path):
    from spoc_bench.detectors._noiseprint_weights import import_noiseprint, load_noiseprint

    import_noiseprint(random_noiseprint_npz(tmp_path / "npz"), tmp_path / "imported")
    path = tmp_path / "imported" / "noiseprint_qf90.safetensors"
    assert load_noiseprint(path)
    tamper(path)
    with pytest.raises(WeightsError, match="spoc-bench weights import noiseprint PATH"):
        load_noiseprint(path)


def test_damaged_weights_through_the_cli_are_one_line(tmp_path, monkeypatch):
    import spoc_bench.weights as weights_module

    path = copy_shipped("detector", "bondi2017", "simcam", "detectors", tmp_path / "weights")
    tamper(path)
    monkeypatch.setattr(weights_module, "weights_folder", lambda kind: tmp_path / "weights")
    save_jpeg(tmp_path / "in" / "a.jpg", textured(0, 128), 90)
    line = one_error_line(runner.invoke(app, ["detect", "bondi2017", "--input", str(tmp_path / "in")]))
    assert str(path) in line and "spoc-bench train detector bondi2017" in line


# ------------------------------------------------------------------------- command-line errors
@pytest.fixture
def files(tmp_path):
    """A file, CSVs of every kind, a damaged run folder and non-zip .npz archives."""
    (tmp_path / "afile").write_text("x")
    (tmp_path / "ok.csv").write_text(f"{SUMMARY_COLUMNS}\nd,a,n,all,x,w,none,acc,0.5,0.4,0.6\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "columnless.csv").write_text("a,b\n1,2\n")
    (tmp_path / "garbage.csv").write_bytes(b'\x00\xff\xfe garbage\n"unclosed\n')
    (tmp_path / "text.csv").write_text(f"{SUMMARY_COLUMNS}\nd,a,n,all,x,w,none,acc,high,0.4,0.6\n")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "rows.parquet").write_bytes(b"PAR1 not really parquet")
    for name, data in [("garbage", b"not a zip"), ("npy", b"\x93NUMPY\x01\x00")]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "noiseprint_qf90.npz").write_bytes(data)
    (tmp_path / "images").mkdir()
    return tmp_path


BAD_ARGUMENTS = [  # (arguments, what the line names)
    (["run", "--n", "0"], "--n"),
    (["run", "--n", "-5"], "--n"),
    (["run", "--seed", "-1"], "--seed"),
    (["run", "--preset", "nope"], "smoke, default, paper"),
    (["run", "--device", "cuda"], "--device cpu"),
    (["run", "--device", "tpu"], "cpu, cuda or cuda:N"),
    (["run", "--out", "{afile}"], "is a file; give a folder"),
    (["run", "--out", "{afile}/sub"], "is a file, so nothing can be written below it"),
    (["run", "--cache", "{afile}"], "--cache"),
    (["run", "--dataset-opt", "size=[", "--out", "{tmp}/o"], "is not a valid YAML value"),
    (["run", "--dataset-opt", "nonsense", "--out", "{tmp}/o"], "expected KEY=VALUE"),
    (["run", "--dataset-opt", "bogus=1", "--out", "{tmp}/o"], "unknown option 'bogus'; accepted: size"),
    (["run", "--dataset-opt", "size=abc", "--out", "{tmp}/o"], "size='abc' should be an integer"),
    (["run", "--dataset-opt", "views=[a]", "--out", "{tmp}/o"], "should be a list of integers"),
    (["run", "--nope"], "No such option: --nope"),
    (["run", "--executor", "dask"], "--executor 'dask': unknown; use local or ray"),
    (["run", "--address", "auto", "--out", "{tmp}/o"], "--address names a Ray cluster"),
    (["check", "{ok}", "--against", "{tmp}", "--update"], "is a folder"),
    (["check", "{empty}", "--against", "{ok}"], "empty.csv is not a readable CSV file"),
    (["check", "{garbage}", "--against", "{ok}"], "garbage.csv is not a readable CSV file"),
    (["check", "{columnless}", "--against", "{ok}"], "columnless.csv lacks the column(s) dataset"),
    (["check", "{ok}", "--against", "{text}"], "text.csv line 2: value 'high' is not a number"),
    (["check", "{tmp}/none.csv", "--against", "{ok}"], "none.csv not found"),
    (["check", "{ok}"], "Missing option '--against'"),
    (["report", "{tmp}/run"], "rows.parquet is not a readable parquet file"),
    (["report", "{tmp}"], "rows.parquet not found"),
    (["weights", "import", "noiseprint", "{tmp}/garbage", "--to", "{tmp}/w"], "is not an .npz archive"),
    (["weights", "import", "noiseprint", "{tmp}/npy", "--to", "{tmp}/w"], "is not an .npz archive"),
    (["weights", "import", "noiseprint", "{tmp}/nowhere"], "does not exist"),
    (["weights", "import", "noiseprint", "{tmp}/garbage", "--to", "{afile}"], "--to"),
    (["weights", "import", "gizmo", "{tmp}"], "importers: gragnaniello2021, noiseprint, wang2020"),
    (["train", "detector", "bondi2017", "-o", "unknown=1"], "unknown option 'unknown'; accepted: epochs"),
    (["train", "detector", "bondi2017", "-o", "epochs=many"], "epochs='many' should be an integer"),
    (["train", "detector", "bondi2017", "-o", "device=cuda"], "--device"),
    (["train", "detector", "bondi2017", "--device", "cuda"], "--device cpu"),
    (["train", "gizmo", "x"], "use attack, detector, dataset or surrogate"),
    (["train", "detector", "spectrun"], "Did you mean 'spectrum'"),
    (["show", "simcam", "--per-class", "0"], "--per-class"),
    (["show", "simcam", "--split", "test"], "defender-train, defender-test, attacker"),
    (["show", "simcam", "--out", "{tmp}"], "is a folder"),
    (["show", "attack"], "needs the attack's name"),
    (["detect", "bondi2017", "--input", "{tmp}/images", "--csv", "{tmp}"], "is a folder"),
    (["detect", "bondi2017", "--input", "{tmp}/images", "--csv", "{afile}/s.csv"], "is a file"),
    (["detect", "bondi2017", "--input", "{tmp}/images", "--device", "cuda:0"], "--device cpu"),
    (["detect", "gizmo", "--input", "{tmp}/images"], "unknown detector 'gizmo'"),
    (["attack", "spoc", "--target", "x", "--input", "{tmp}/images", "--output", "{afile}"], "--output"),
    (["list", "gizmos"], "unknown kind 'gizmos'"),
    (["gizmo"], "No such command 'gizmo'"),
]


@pytest.mark.parametrize("arguments, named", BAD_ARGUMENTS, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_bad_arguments_are_one_line_without_traceback(files, monkeypatch, arguments, named):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a CPU-only torch, wherever this runs
    places = {"tmp": files, "afile": files / "afile", **{p.stem: p for p in files.glob("*.csv")}}
    line = one_error_line(runner.invoke(app, [a.format(**places) for a in arguments]))
    assert line.startswith("error: ") and named in line, line


def test_internal_bugs_are_one_line_and_a_traceback_with_debug(files, monkeypatch):
    import spoc_bench.check

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(spoc_bench.check, "compare", broken)
    arguments = ["check", str(files / "ok.csv"), "--against", str(files / "ok.csv")]
    line = one_error_line(runner.invoke(app, arguments), exit_code=1)
    assert "internal error: RuntimeError: a bug" in line and "--debug" in line
    debug = runner.invoke(app, ["--debug", *arguments])
    assert isinstance(debug.exception, RuntimeError)
    monkeypatch.setenv("SPOC_BENCH_DEBUG", "1")
    assert isinstance(runner.invoke(app, arguments).exception, RuntimeError)


def test_the_installed_command_prints_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "spoc_bench.cli", "run", "--n", "-5"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "--n" in result.stderr


# -------------------------------------------------------------------------- cache and staging
def test_corrupt_cache_entry_is_reported_and_recomputed(tmp_path, caplog):
    from spoc_bench.cache import Cache

    cache, frame = Cache(tmp_path), pd.DataFrame({"a": [1, 2]})
    cache.save_frame("rows", "ab" * 20, frame)
    cache.path("rows", "ab" * 20, ".parquet").write_bytes(b"PAR1 damaged")
    with caplog.at_level(logging.WARNING, logger="spoc_bench"):
        assert cache.load_frame("rows", "ab" * 20) is None
    assert "unreadable" in caplog.text and "recomputing" in caplog.text
    cache.save_frame("rows", "ab" * 20, frame)
    assert cache.load_frame("rows", "ab" * 20).equals(frame)


def staging_folder(parent: Path, name: str, owner: str | None = None, age: float = 0) -> Path:
    folder = parent / name
    folder.mkdir(parents=True)
    if owner is not None:
        (folder / ".owner").write_text(owner)
    if age:
        os.utime(folder, (time.time() - age, time.time() - age))
    return folder


def test_only_abandoned_staging_folders_are_removed(tmp_path):
    import socket

    from spoc_bench.datasets._generated import STALE_SECONDS, remove_stale_staging

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()
    dead = staging_folder(tmp_path, ".tiny-dead", f"{host} {gone.pid}")
    live = staging_folder(tmp_path, ".tiny-live", f"{host} {os.getpid()}", age=2 * STALE_SECONDS)
    old = staging_folder(tmp_path, ".tiny-old", age=2 * STALE_SECONDS)
    fresh = staging_folder(tmp_path, ".tiny-fresh")
    elsewhere = staging_folder(tmp_path, ".tiny-elsewhere", "another-host 1")
    other = staging_folder(tmp_path, ".other-dead", f"{host} {gone.pid}")
    remove_stale_staging(tmp_path, ".tiny-")
    assert not dead.exists() and not old.exists()
    assert live.exists() and fresh.exists() and elsewhere.exists() and other.exists()


def test_a_generated_dataset_cleans_up_and_keeps_no_owner_file(tmp_path):
    from spoc_bench.datasets._generated import GeneratedDataset, write

    class Tiny(GeneratedDataset):
        name = "tiny"

        @property
        def folder(self) -> Path:
            return tmp_path / "tiny"

        def render(self, staging: Path) -> list[dict]:
            write(staging / "a.txt", b"a")
            return [dict(id="a", split="attacker", source="real", camera="", device="", scene="s",
                         generator="", file="a.txt")]

    abandoned = staging_folder(tmp_path, ".tiny-killed", age=2 * 24 * 3600)
    Tiny().prepare()
    assert not abandoned.exists() and sorted(p.name for p in (tmp_path / "tiny").iterdir()) == ["a.txt", "index.csv"]
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes to read-only folders")
@pytest.mark.parametrize("option", ["--out", "--cache"])
def test_read_only_folder_is_one_line(tmp_path, option):
    (tmp_path / "locked").mkdir(mode=0o500)
    line = one_error_line(runner.invoke(app, ["run", option, str(tmp_path / "locked" / "sub")]))
    assert option in line and "is not writable" in line


@pytest.mark.parametrize("overrides", [{"n": 0}, {"n": -5}, {"n": 2.5}, {"seed": -1}])
def test_python_api_refuses_bad_numbers(overrides):
    from spoc_bench.runner import resolve_grid

    with pytest.raises(ValueError, match=next(iter(overrides))):
        resolve_grid("smoke", **overrides)
