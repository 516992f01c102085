"""Progress: every long stage of a run shows a bar on stderr that names it; ``--quiet`` shows none."""

from typer.testing import CliRunner

from spoc_bench.cli import app

STAGES = ("render demo", "attack identity", "fit jpeg-table", "fit spectrum", "detect")


def small_run(tmp_path, name: str) -> list[str]:
    """A run that renders a small demo dataset of its own, attacks, fits two detectors and detects."""
    folder = tmp_path / name
    return ["run", "--preset", "smoke", "--dataset", "demo", "--data-root", str(folder / "data"),
            "--dataset-opt", "size=64", "--dataset-opt", "crops=2", "--attack", "identity",
            "--detector", "jpeg-table,spectrum", "--perturb", "none", "--n", "4",
            "--out", str(folder / "out"), "--cache", str(folder / "cache")]


def test_a_run_names_every_stage_on_stderr(tmp_path):
    result = CliRunner().invoke(app, small_run(tmp_path, "shown"))
    assert result.exit_code == 0, result.output
    for stage in STAGES:
        assert stage in result.stderr, f"no bar for {stage!r} in {result.stderr!r}"


def test_a_quiet_run_shows_no_bar(tmp_path):
    result = CliRunner().invoke(app, [*small_run(tmp_path, "quiet"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert "wrote" in result.stdout
