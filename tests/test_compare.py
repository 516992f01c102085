import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from spoc_bench.cli import app
from spoc_bench.metrics import Measure, difference_ci

runner = CliRunner()


def test_a_paired_bootstrap_sees_a_small_change_an_unpaired_one_cannot():
    hits = pd.Series(np.random.default_rng(0).random(60) < 0.5, index=[f"i{k}" for k in range(60)])
    changed = hits.copy()
    changed.iloc[np.flatnonzero(~hits.to_numpy())[:6]] = True  # six misses become hits: +0.1
    low, high, paired = difference_ci(Measure("mean", (hits,)), Measure("mean", (changed,)))
    assert paired and 0 < low <= 0.1 <= high < 0.2
    elsewhere = changed.set_axis([f"j{k}" for k in range(60)])  # the same values on other images
    low, high, paired = difference_ci(Measure("mean", (hits,)), Measure("mean", (elsewhere,)))
    assert not paired and low < 0 < high


def test_a_paired_cluster_bootstrap_resamples_the_same_inputs():
    frame = pd.DataFrame({"value": [True, False] * 20, "cluster": np.repeat(np.arange(20), 2)},
                         index=[f"a{k}" for k in range(40)])
    low, high, paired = difference_ci(Measure("cluster", (frame,)), Measure("cluster", (frame.assign(value=True),)))
    assert paired and low == high == pytest.approx(0.5)


def edited(run, folder, change):
    """A copy of a run folder whose rows ``change`` edits."""
    shutil.copytree(run, folder)
    rows = pd.read_parquet(folder / "rows.parquet")
    change(rows).to_parquet(folder / "rows.parquet", index=False)
    return folder


def lines(output: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in output.splitlines()[4:]
            if line.startswith("| ")]


def test_compare_lists_the_cells_that_differ_with_their_verdict(demo_run, tmp_path):
    same = runner.invoke(app, ["compare", str(demo_run), str(demo_run)])
    assert same.exit_code == 0 and same.output.startswith("no cell differs: the ") and "are equal" in same.output

    def fooled(rows):  # jpeg-mimic under jpeg:90 now always names its target; one image under none does not
        attacked = (rows.source == "attacked") & (rows.attack == "jpeg-mimic") & (rows.detector == "jpeg-table")
        rows.loc[attacked & (rows.perturbation == "jpeg:90"), "pred"] = rows.target
        first = rows[attacked & (rows.perturbation == "none") & (rows.target == "demo-A") & (rows.pred == "demo-A")].index[0]
        rows.loc[first, "pred"] = "demo-B"
        return rows

    other = edited(demo_run, tmp_path / "b", fooled)
    result = runner.invoke(app, ["compare", str(demo_run), str(other)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("every row: dataset=demo, attack=jpeg-mimic, threat_model=black-box; saved as "
                                    "the target saves, detector=jpeg-table, weights=fit:demo, metric=asr\n")
    table = {(r[0], r[1]): r[2:] for r in lines(result.output)}
    assert set(table) == {("demo-A", "none"), ("all", "none"), ("demo-B", "jpeg:90"), ("demo-C", "jpeg:90"), ("all", "jpeg:90")}
    before = pd.read_csv(demo_run / "summary.csv").set_index(["target", "detector", "perturbation", "metric"]).value
    a, b, difference, interval, bootstrap, verdict = table[("all", "jpeg:90")]
    assert float(a) == pytest.approx(before[("all", "jpeg-table", "jpeg:90", "asr")], abs=1e-4) and float(b) == 1
    assert float(difference) == pytest.approx(1 - float(a), abs=1e-4)
    assert (bootstrap, verdict) == ("paired", "significant") and float(interval.strip("[]").split(",")[0]) > 0
    assert table[("demo-A", "none")][1:] == ["0.9167", "-0.08333", "[-0.25, +0]", "paired", "not significant"]
    assert table[("all", "jpeg:90")][3] == "[+0.6667, +0.6667]"  # every input: 1 of 3 targets before, 3 of 3 after
    assert "5 cell metric(s) differ: 3 significant, 2 not significant" in result.output


def test_compare_without_shared_images_is_unpaired(demo_run, tmp_path):
    def renamed(rows):
        rows["id"], rows["input_id"] = rows.id + "-copy", rows.input_id + "-copy"
        rows.loc[rows.source == "attacked", "psnr"] = rows.psnr - 5
        return rows

    other = edited(demo_run, tmp_path / "b", renamed)
    result = runner.invoke(app, ["compare", str(demo_run), str(other)])
    assert result.exit_code == 0, result.output
    rows = lines(result.output)
    assert rows and {r[-2] for r in rows} == {"unpaired"} and {r[-1] for r in rows} == {"significant"}
    assert result.output.splitlines()[0].endswith("metric=psnr") and all(float(r[-4]) == pytest.approx(-5) for r in rows)


def test_compare_names_a_bad_run_in_one_line(demo_run, tmp_path):
    missing = runner.invoke(app, ["compare", str(demo_run), str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and missing.output.startswith(f"error: {tmp_path / 'nowhere' / 'rows.parquet'} not found")
    lacking = edited(demo_run, tmp_path / "b", lambda rows: rows.drop(columns=["task"]))
    result = runner.invoke(app, ["compare", str(lacking), str(demo_run)])
    assert result.exit_code == 2 and "lacks the column(s) task: it is not the rows of a run" in result.output
    assert len(result.output.strip().splitlines()) == 1
