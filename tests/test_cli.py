import pandas as pd
from typer.testing import CliRunner

from spoc_bench.cli import app

runner = CliRunner()


def test_list_kinds():
    result = runner.invoke(app, ["list", "perturbations"])
    assert result.exit_code == 0 and "jpeg:Q" in result.output and "blur:SIGMA" in result.output
    assert runner.invoke(app, ["list", "presets"]).output.count("\n") == 4
    bad = runner.invoke(app, ["list", "gizmos"])
    assert bad.exit_code == 2 and "unknown kind 'gizmos'" in bad.output


def test_unknown_plugin_is_one_clear_line(tmp_path):
    result = runner.invoke(app, ["run", "--detector", "spectrun", "--out", str(tmp_path), "-q"])
    assert result.exit_code == 2
    assert "unknown detector 'spectrun'. Did you mean 'spectrum'" in result.output
    assert "Traceback" not in result.output


def test_malformed_perturbation_is_one_clear_line(tmp_path):
    result = runner.invoke(app, ["run", "--perturb", "none,jpeg:200", "--out", str(tmp_path), "-q"])
    assert result.exit_code == 2 and "jpeg: quality must be an integer in 1..100" in result.output


def test_missing_folder_dataset_names_the_folder(tmp_path):
    result = runner.invoke(app, ["run", "--dataset", "folder", "--data-root", str(tmp_path / "nope"), "-q"])
    assert result.exit_code == 2 and str(tmp_path / "nope") in result.output and "<label>" in result.output


def summary(value: float, half: float = 0.05) -> pd.DataFrame:
    return pd.DataFrame([dict(dataset="d", attack="a", threat_model="none", target="all", detector="x",
                              weights="fit:d", perturbation="none", metric="acc", value=value, ci_low=value - half,
                              ci_high=value + half, n=10)])


def test_check_allows_what_the_two_cis_allow_and_names_every_metric_beyond(tmp_path):
    baseline, run = tmp_path / "baseline.csv", tmp_path / "run" / "summary.csv"
    summary(0.90).to_csv(baseline, index=False)
    run.parent.mkdir()

    def check(value: float, half: float = 0.05):
        summary(value, half).to_csv(run, index=False)
        return runner.invoke(app, ["check", str(run.parent), "--against", str(baseline)])

    # two half-widths of 0.05 allow hypot(0.05, 0.05) = 0.0707
    assert check(0.83).exit_code == 0 and check(0.97).exit_code == 0
    moved = check(0.82)
    assert moved.exit_code == 1 and "moved: dataset=d" in moved.output and "0.9 -> 0.82" in moved.output
    assert "0.08 > 0.07071" in moved.output
    assert check(0.82, half=0.2).exit_code == 0  # a wider CI of the run allows more
    summary(1.0, half=0).to_csv(baseline, index=False)  # a point CI allows no move, beyond rounding
    assert check(1.0, half=0).exit_code == 0 and check(1.0 - 1e-13, half=0).exit_code == 0
    assert check(0.99, half=0).exit_code == 1
    summary(0.90).assign(metric="auc").to_csv(run, index=False)
    missing = runner.invoke(app, ["check", str(run.parent), "--against", str(baseline)])
    assert missing.exit_code == 1 and "missing:" in missing.output


def test_check_update_rewrites_the_baseline_atomically(tmp_path, monkeypatch):
    baseline, run = tmp_path / "reports" / "baseline.csv", tmp_path / "run" / "summary.csv"
    run.parent.mkdir()
    summary(0.5).to_csv(run, index=False)
    created = runner.invoke(app, ["check", str(run.parent), "--against", str(baseline), "--update"])
    assert created.exit_code == 0 and baseline.read_bytes() == run.read_bytes(), created.output
    summary(0.9).to_csv(run, index=False)
    assert runner.invoke(app, ["check", str(run.parent), "--against", str(baseline)]).exit_code == 1
    old = baseline.read_bytes()
    with monkeypatch.context() as patch:  # a write that fails half-way leaves the old baseline whole
        patch.setattr("os.replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
        assert runner.invoke(app, ["check", str(run.parent), "--against", str(baseline), "--update"]).exit_code == 1
    assert baseline.read_bytes() == old and [p.name for p in baseline.parent.iterdir()] == ["baseline.csv"]
    updated = runner.invoke(app, ["check", str(run.parent), "--against", str(baseline), "--update"])
    assert updated.exit_code == 0 and "moved: dataset=d" in updated.output and "updated" in updated.output
    assert baseline.read_bytes() == run.read_bytes()
    assert runner.invoke(app, ["check", str(run.parent), "--against", str(baseline)]).exit_code == 0


def test_report_rerenders_tables_from_rows(tmp_path, demo_root):
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "--preset", "smoke", "--dataset", "demo", "--attack", "identity",
                                 "--detector", "jpeg-table", "--perturb", "none", "--n", "6",
                                 "--data-root", str(demo_root), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    before = (out / "summary.csv").read_text()
    (out / "summary.csv").unlink()
    (out / "summary.tex").unlink()
    rerun = runner.invoke(app, ["report", str(out)])
    assert rerun.exit_code == 0 and (out / "summary.csv").read_text() == before and (out / "summary.tex").exists()


def test_detect_scores_a_folder_and_counts_skips(tmp_path, demo_root):
    from spoc_bench.datasets.demo import Demo

    data = Demo(root=str(demo_root))
    chosen = [s for s in data.samples("defender-test") if s.source == "real"][:6]
    folder = tmp_path / "mine"
    (folder / "nested").mkdir(parents=True)
    for index, item in enumerate(data.items(chosen)):
        (folder / ("nested" if index % 2 else "") / f"{item.sample.id.replace('/', '_')}.jpg").write_bytes(item.data)
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["detect", "jpeg-table", "--input", str(folder), "--dataset", "demo",
                                 "--data-root", str(demo_root), "--csv", str(out)])
    assert result.exit_code == 0, result.output
    assert "scored 6 image(s), skipped 2" in result.output and "notes.txt: not an image file" in result.output
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["file", "height", "width", "predicted", "p_demo-A", "p_demo-B", "p_demo-C"]
    assert scores[["p_demo-A", "p_demo-B", "p_demo-C"]].sum(axis=1).round(6).eq(1).all()
    truth = {s.id.replace("/", "_"): s.camera for s in chosen}
    predicted = {file.rsplit("/", 1)[-1].rsplit(".", 1)[0]: label for file, label in zip(scores.file, scores.predicted)}
    assert predicted == truth  # the demo cameras save with distinct JPEG tables
    printed = runner.invoke(app, ["detect", "jpeg-table", "--input", str(folder), "--dataset", "demo",
                                  "--data-root", str(demo_root)])
    assert printed.exit_code == 0 and all(s.id.replace("/", "_") in printed.output for s in chosen)
    smoothed = runner.invoke(app, ["detect", "jpeg-table", "-o", "smoothing=1000", "--input", str(folder), "--dataset",
                                   "demo", "--data-root", str(demo_root), "--csv", str(tmp_path / "smoothed.csv")])
    assert smoothed.exit_code == 0, smoothed.output
    flatter = pd.read_csv(tmp_path / "smoothed.csv")[["p_demo-A", "p_demo-B", "p_demo-C"]]
    assert (flatter.max(axis=1) < scores[["p_demo-A", "p_demo-B", "p_demo-C"]].max(axis=1)).all()
    unknown = runner.invoke(app, ["detect", "jpeg-table", "-o", "crop=64", "--input", str(folder)])
    assert unknown.exit_code == 2 and "unknown option 'crop'; accepted: smoothing, split" in unknown.output
    (tmp_path / "empty").mkdir()
    empty = runner.invoke(app, ["detect", "bondi2017", "--input", str(tmp_path / "empty")])
    assert empty.exit_code == 2 and "no files found" in empty.output
    missing = runner.invoke(app, ["detect", "bondi2017", "--weights", "nope", "--input", str(folder)])
    assert missing.exit_code == 2 and "spoc-bench train detector bondi2017" in missing.output


def test_csv_floats_keep_every_digit_whatever_numpy_prints(tmp_path):
    import numpy as np

    from spoc_bench.tables import write_tables

    previous = np.get_printoptions()
    np.set_printoptions(legacy="1.13")  # what importing `colour` (simcam's rendering) does
    try:
        write_tables(summary(0.7708333333333334), tmp_path)
    finally:
        np.set_printoptions(**previous)
    assert pd.read_csv(tmp_path / "summary.csv").value[0] == 0.7708333333333334
    assert "0.7708333333333334" in (tmp_path / "summary.csv").read_text()
