"""``--executor ray``: a local Ray cluster runs the grid's cells and writes the local executor's tables,
byte for byte, even when a worker is killed mid-grid (its task is retried)."""

import os
import textwrap

import pandas as pd
import pytest
from typer.testing import CliRunner

import spoc_bench
from spoc_bench.cli import app
from spoc_bench.registry import detectors

ray = pytest.importorskip("ray", reason="Ray is not installed: `pip install -e '.[ray]'` (README: Grids on Ray)")

GRID = ["--preset", "smoke", "--dataset", "demo", "--attack", "identity,jpeg-mimic", "--detector",
        "jpeg-table,spectrum", "--perturb", "none,jpeg:90", "--n", "8", "-q"]

KILLER = '''
    import os
    import signal
    from pathlib import Path

    from spoc_bench.detectors.jpeg_table import JpegTable
    from spoc_bench.registry import register_detector


    @register_detector("killer")
    class Killer(JpegTable):
        """jpeg-table, whose first prediction kills its own process (once: a marker file remembers)."""

        def predict(self, images, containers=None):
            marker = Path(os.environ["KILLER_MARKER"])
            if not marker.exists():
                marker.touch()
                os.kill(os.getpid(), signal.SIGKILL)
            return super().predict(images, containers)
'''


def test_a_local_ray_cluster_writes_the_local_executors_tables(demo_root, tmp_path):
    runner = CliRunner()
    folders = {}
    for executor in ("local", "ray"):
        folders[executor] = tmp_path / executor
        result = runner.invoke(app, ["run", *GRID, "--data-root", str(demo_root), "--executor", executor,
                                     "--out", str(folders[executor]), "--cache", str(tmp_path / f"cache-{executor}")])
        assert result.exit_code == 0, result.output
    assert not ray.is_initialized()  # the Ray it started is shut down
    local, distributed = ((folders[e] / "summary.csv").read_bytes() for e in ("local", "ray"))
    assert distributed == local and local.count(b"\n") > 50
    rows = [pd.read_parquet(folders[e] / "rows.parquet").drop(columns="path") for e in ("local", "ray")]
    pd.testing.assert_frame_equal(*rows)


@pytest.fixture
def killer(tmp_path, monkeypatch):
    """A detector plugin ``killer`` from an installed-looking distribution on PYTHONPATH (so Ray's
    workers, started with this environment, find it too) and its marker file."""
    site = tmp_path / "site"
    (site / "killer_plugin-0.dist-info").mkdir(parents=True)
    (site / "killer_plugin-0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: killer-plugin\nVersion: 0\n")
    (site / "killer_plugin-0.dist-info" / "entry_points.txt").write_text(
        "[spoc_bench.detectors]\nkiller = killer_plugin:Killer\n")
    (site / "killer_plugin.py").write_text(textwrap.dedent(KILLER))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    monkeypatch.setattr(detectors, "_index", None)  # read the entry points again
    monkeypatch.setenv("KILLER_MARKER", str(tmp_path / "killed"))
    return tmp_path / "killed"


def test_a_worker_killed_mid_grid_is_retried_and_the_tables_are_unchanged(demo_root, tmp_path, killer):
    grid = dict(datasets=["demo"], data_root=str(demo_root), attacks=["identity"], detectors=["jpeg-table", "killer"],
                perturbations="none,jpeg:90", n=8, progress=False)
    killer.touch()  # the local run must not kill the test
    local = spoc_bench.run("smoke", out=tmp_path / "local", cache=tmp_path / "cache-local", **grid)
    killer.unlink()
    distributed = spoc_bench.run("smoke", out=tmp_path / "ray", cache=tmp_path / "cache-ray", executor="ray", **grid)
    assert killer.exists()  # a worker did die mid-grid
    assert "killer" in set(local.summary.detector)
    assert (tmp_path / "ray" / "summary.csv").read_bytes() == (tmp_path / "local" / "summary.csv").read_bytes()
    assert distributed.manifest["executor"] == {"name": "ray", "address": None}
