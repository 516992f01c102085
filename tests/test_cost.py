"""The cost estimate of a grid, the paper preset's --yes above an hour, and Ray's resources per plugin."""

import pytest
from typer.testing import CliRunner

import spoc_bench.cost
from spoc_bench.cli import app
from spoc_bench.cost import Cost, plugin_key
from spoc_bench.executors import build_executor, resources
from spoc_bench.runner import Session, resolve_grid
from spoc_bench.cache import Cache


def test_plugin_keys_carry_the_default_weights_tag():
    assert plugin_key("detector", "noiseprint") == "detector:noiseprint:simcam"
    assert plugin_key("detector", "noiseprint:grip") == "detector:noiseprint:grip"
    assert plugin_key("detector", "jpeg-table") == "detector:jpeg-table"  # fitted on the data: no tag
    assert plugin_key("attack", "identity") == "attack:identity"
    assert plugin_key("attack", "pgd-white-box", "noiseprint") == "attack:pgd-white-box@noiseprint:simcam"


def test_an_attack_made_with_a_detector_costs_what_it_was_timed_at_with_that_detector(monkeypatch):
    figures = {"attack:pgd-white-box@bondi2017:simcam": {"images_per_s": 0.5, "fit_s": 0},
               "attack:pgd-white-box@noiseprint:simcam": {"images_per_s": 0.1, "fit_s": 0}}
    monkeypatch.setattr(spoc_bench.cost, "measured", lambda device: figures)
    cost = Cost.of([("pgd-white-box", 8, "bondi2017"), ("pgd-white-box", 8, "noiseprint"),
                    ("pgd-white-box", 8, "mislnet")], [], perturbations=1, device="cpu")
    assert cost.seconds == pytest.approx(8 / 0.5 + 8 / 0.1)
    assert cost.unmeasured == ["attack:pgd-white-box@mislnet:simcam"]


def test_cost_counts_images_detections_and_time_from_the_recorded_throughput():
    cost = Cost.of([("spoc", 96), ("identity", 96), ("square-query", 96)], [("noiseprint", 300), ("jpeg-table", 300)],
                   perturbations=2, device="cpu")
    assert (cost.attacked, cost.images, cost.detectors, cost.detections) == (288, 600, 2, 1200)
    # spoc 1.6 img/s, identity 7640, noiseprint 3.6 (+97 s fit), jpeg-table 449704 (+0.3 s fit)
    expected = 96 / 1.6 + 96 / 7640 + 600 / 3.6 + 97.0 + 600 / 449704 + 0.3
    assert cost.seconds == pytest.approx(expected)
    assert cost.unmeasured == ["attack:square-query"]  # timed per detector only
    text = str(cost)
    assert "300 images x 2 detectors x 2 perturbations = 1,200 detections" in text and "about 5 min" in text
    assert "not counted: attack:square-query" in text
    assert Cost.of([], [("noiseprint", 300)], 2, "cuda").seconds == pytest.approx(600 / 834 + 1.9)


PAPER = ["run", "--preset", "paper", "--dataset", "demo", "--attack", "identity", "--detector", "jpeg-table",
         "--perturb", "none", "--n", "4", "-q"]


def test_the_paper_preset_prints_its_cost_and_needs_yes_above_an_hour(demo_root, tmp_path, monkeypatch,
                                                                        isolated_cache):
    runner = CliRunner()
    arguments = [*PAPER, "--data-root", str(demo_root), "--out", str(tmp_path / "out")]
    fast = runner.invoke(app, arguments)
    assert fast.exit_code == 0 and "estimated cost: 4 attacked images to make; 12 images x 1 detectors x 1 perturbations = 12 detections" in fast.output
    slow = {"detector:jpeg-table": {"images_per_s": 12 / 3601, "fit_s": 0}}
    monkeypatch.setattr(spoc_bench.cost, "measured", lambda device: slow)
    refused = runner.invoke(app, [*arguments, "--cache", str(tmp_path / "fresh")])
    assert refused.exit_code == 2 and "about 1.0 h" in refused.output
    assert refused.output.strip().splitlines()[-1].startswith("error: --preset paper: estimated 1.0 h, over an hour; "
                                                              "pass --yes")
    assert not (tmp_path / "fresh" / "rows").exists() and not (tmp_path / "fresh" / "attacked").exists()
    assert runner.invoke(app, [*arguments, "--cache", str(tmp_path / "fresh"), "--yes"]).exit_code == 0
    other = runner.invoke(app, ["run", *PAPER[3:], "--data-root", str(demo_root), "--out", str(tmp_path / "o2")])
    assert other.exit_code == 0 and "estimated cost" not in other.output  # other presets print no estimate


def test_ray_resources_follow_each_plugin_and_the_device():
    cpu, gpu = (Session(resolve_grid("smoke", device=d), Cache()) for d in ("cpu", "cuda"))
    assert resources(cpu, "detect", ("simcam", "bondi2017")) == {"num_cpus": 1, "num_gpus": 0}
    assert resources(gpu, "detect", ("simcam", "bondi2017:simcam")) == {"num_cpus": 1, "num_gpus": 1.0}
    assert resources(gpu, "detect", ("simcam", "jpeg-table")) == {"num_cpus": 1, "num_gpus": 0}
    assert resources(gpu, "attacked", ("simcam", "spoc", "alpha-1")) == {"num_cpus": 1, "num_gpus": 1.0}
    assert resources(gpu, "attacked", ("simcam", "jpeg-mimic", "alpha-1")) == {"num_cpus": 1, "num_gpus": 0}


def test_unknown_executors_and_a_lone_address_are_refused():
    with pytest.raises(ValueError, match="use local or ray"):
        build_executor("dask")
    with pytest.raises(ValueError, match="--address names a Ray cluster"):
        build_executor("local", "auto")
