import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from spoc_bench.metrics import auc_ci, balanced_ci, mean_ci, psnr, ssim, summarise


def test_mean_ci_brackets_the_mean_and_narrows_with_n():
    rng = np.random.default_rng(0)
    small, large = rng.random(30) < 0.7, rng.random(3000) < 0.7
    value, low, high, n = mean_ci(small)
    assert low <= value <= high and n == 30
    large_value, large_low, large_high, _ = mean_ci(large)
    assert large_high - large_low < (high - low) / 4
    assert abs(large_value - 0.7) < 0.03


def test_mean_ci_of_a_constant_is_that_constant():
    assert mean_ci(np.ones(10)) == (1.0, 1.0, 1.0, 10)


def test_auc_matches_scikit_learn_and_its_ci_brackets_it():
    rng = np.random.default_rng(1)
    negatives, positives = rng.normal(0, 1, 80), rng.normal(1, 1, 60)
    value, low, high, n = auc_ci(negatives, positives)
    expected = roc_auc_score(np.r_[np.zeros(80), np.ones(60)], np.r_[negatives, positives])
    assert value == pytest.approx(expected) and low < value < high and n == 140
    assert auc_ci([0.1, 0.2], [0.8, 0.9])[:3] == (1.0, 1.0, 1.0)
    assert auc_ci([0.8, 0.9], [0.1, 0.2])[0] == 0.0


def test_balanced_accuracy_at_threshold_one_half():
    value, *_ = balanced_ci([0.1, 0.2, 0.7, 0.3], [0.9, 0.4])
    assert value == pytest.approx((3 / 4 + 1 / 2) / 2)


def test_psnr_and_ssim():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    noisy = np.clip(image.astype(int) + rng.integers(-2, 3, image.shape), 0, 255).astype(np.uint8)
    assert psnr(image, image) == float("inf")
    assert 40 < psnr(image, noisy) < 48
    assert ssim(image, image) == pytest.approx(1.0) and 0.9 < ssim(image, noisy) < 1.0


def rows_for_camera_cell():
    base = dict(dataset="d", detector="det", weights="fit:d", perturbation="none", task="camera")
    reals = [dict(base, source="real", id=f"r{i}", camera="A" if i < 5 else "B", pred="A" if i < 4 else "B",
                  attack="", threat_model="", target="") for i in range(10)]
    inputs = [dict(base, source="synthetic", id=f"s{i}", pred="B", attack="", threat_model="", target="")
              for i in range(4)]
    attacked = [dict(base, source="attacked", id=f"s{i}@x>{t}", input_id=f"s{i}", pred=t if i < 3 else "B",
                     attack="x", threat_model="black-box", target=t, psnr=35.0, ssim=0.95)
                for t in ("A", "B") for i in range(4)]
    return pd.DataFrame(reals + inputs + attacked)


def test_summary_of_a_camera_cell():
    summary = summarise(rows_for_camera_cell())
    value = summary.set_index(["target", "metric"]).value
    assert value[("A", "acc")] == pytest.approx(0.9)  # r4 is an A predicted as B
    assert value[("A", "asr")] == pytest.approx(0.75) and value[("B", "asr")] == 1.0
    assert value[("A", "asr_before")] == 0.0 and value[("B", "asr_before")] == 1.0
    assert value[("all", "asr")] == pytest.approx(7 / 8) and value[("all", "asr_before")] == 0.5
    assert value[("all", "psnr")] == 35.0
    n = summary.set_index(["target", "metric"]).n
    assert n[("all", "asr")] == 8 and n[("A", "acc")] == 10
    assert n[("all", "asr_before")] == 4  # four inputs, each measured against two targets
    assert set(summary.threat_model) == {"black-box"}


def test_summary_of_a_synthetic_cell():
    base = dict(dataset="d", detector="det", weights="w", perturbation="jpeg:90", task="synthetic",
                threat_model="", attack="", target="")
    rows = pd.DataFrame(
        [dict(base, source="real", id=f"r{i}", score=0.1 * i) for i in range(5)]
        + [dict(base, source="synthetic", id=f"s{i}", score=0.9) for i in range(3)]
        + [dict(base, source="attacked", id=f"a{i}", input_id=f"s{i}", score=0.05, attack="x",
                threat_model="black-box", target="A", psnr=30.0, ssim=0.9) for i in range(3)])
    value = summarise(rows).set_index("metric").value
    assert value["auc_before"] == 1.0 and value["auc"] == pytest.approx(0.2)  # 0.05 beats only the real 0.0
    assert value["acc@0.5"] == pytest.approx(5 / 8) and value["balanced_acc"] == pytest.approx(0.5)


def test_cluster_bootstrap_resamples_whole_clusters():
    from spoc_bench.metrics import cluster_mean_ci

    # each cluster (input) is either always right or always wrong: 8 clusters, 8 copies each
    values = np.repeat([1, 0, 1, 1, 0, 1, 0, 1], 8)
    clusters = np.repeat(np.arange(8), 8)
    value, low, high, n = cluster_mean_ci(values, clusters, clusters)
    naive = mean_ci(values)
    assert value == pytest.approx(5 / 8) and n == 8
    assert (high - low) > 1.8 * (naive[2] - naive[1])  # copies are not new evidence


def test_untargeted_attack_is_pooled_once_not_repeated_per_target():
    base = dict(dataset="d", detector="det", weights="w", perturbation="none", task="synthetic")
    rows = pd.DataFrame(
        [dict(base, source="real", id=f"r{i}", score=0.1 * i, attack="", threat_model="", target="") for i in range(5)]
        + [dict(base, source="synthetic", id=f"s{i}", score=0.9, attack="", threat_model="", target="") for i in range(3)]
        + [dict(base, source="attacked", id=f"s{i}@none", input_id=f"s{i}", score=0.9, attack="none",
                threat_model="none", target=t, psnr=np.inf, ssim=1.0) for t in "AB" for i in range(3)])
    summary = summarise(rows)
    assert set(summary.target) == {"all"} and summary.set_index("metric").loc["auc", "n"] == 8
