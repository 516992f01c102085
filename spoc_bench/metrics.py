"""The metrics of the benchmark, each with a bootstrap 95% confidence interval over images.

Camera detectors: ``acc`` (real test images attributed to their own camera), ``asr`` (attacked
images attributed to the target), ``asr_before`` (the inputs, before the attack, attributed to the
target). Synthetic-image detectors: ``auc`` (real vs attacked, synthetic the positive class),
``auc_before`` (real vs inputs), ``acc@0.5`` and ``balanced_acc`` (real and attacked at threshold
0.5). Quality: ``psnr`` and ``ssim`` of attacked images against their inputs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RESAMPLES = 1000
LEVEL = 0.95
SUMMARY_COLUMNS = ["dataset", "attack", "threat_model", "target", "detector", "weights", "perturbation",
                   "metric", "value", "ci_low", "ci_high", "n"]
CELL = ["dataset", "attack", "threat_model", "target", "detector", "weights", "perturbation"]


def mean_ci(values, seed: int = 0) -> tuple[float, float, float, int]:
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return np.nan, np.nan, np.nan, 0
    value = float(values.mean())
    if values.size == 1 or np.all(values == values[0]) or not np.isfinite(value):
        return value, value, value, values.size
    from scipy import stats  # here, not at the top: a fully cached run needs no metric (0.4 s of imports)

    result = stats.bootstrap((values,), np.mean, n_resamples=RESAMPLES, confidence_level=LEVEL,
                             method="percentile", random_state=seed, vectorized=True)
    return value, float(result.confidence_interval.low), float(result.confidence_interval.high), values.size


def cluster_mean_ci(values, clusters, ids, seed: int = 0) -> tuple[float, float, float, int]:
    """Mean over rows with a percentile bootstrap that resamples whole clusters (e.g. every row made
    from one input image); ``n`` counts the distinct ``ids``."""
    values = np.asarray(values, dtype=float)
    codes, _ = pd.factorize(pd.Series(clusters))
    n = int(pd.Series(ids).nunique())
    if values.size == 0:
        return np.nan, np.nan, np.nan, 0
    value = float(values.mean())
    sums, counts = np.bincount(codes, values), np.bincount(codes)
    if counts.size < 2 or np.all(values == values[0]):
        return value, value, value, n
    draws = np.random.default_rng(seed).integers(0, counts.size, (RESAMPLES, counts.size))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    low, high = np.percentile(means, [50 * (1 - LEVEL), 50 * (1 + LEVEL)])
    return value, float(low), float(high), n


def auc_ci(negatives, positives, seed: int = 0) -> tuple[float, float, float, int]:
    """ROC AUC with positives the synthetic class; a stratified bootstrap resamples each class."""
    from scipy import stats
    from sklearn.metrics import roc_auc_score

    negatives, positives = np.asarray(negatives, float), np.asarray(positives, float)
    n = negatives.size + positives.size
    if negatives.size == 0 or positives.size == 0:
        return np.nan, np.nan, np.nan, n
    labels = np.r_[np.zeros(negatives.size), np.ones(positives.size)]
    value = float(roc_auc_score(labels, np.r_[negatives, positives]))

    def auc(neg, pos, axis=-1):  # Mann-Whitney U / (n0 n1) is the AUC, ties counting one half
        return stats.mannwhitneyu(pos, neg, axis=axis).statistic / (neg.shape[axis] * pos.shape[axis])

    if negatives.size < 2 or positives.size < 2:
        return value, value, value, n
    result = stats.bootstrap((negatives, positives), auc, n_resamples=RESAMPLES, confidence_level=LEVEL,
                             method="percentile", random_state=seed, vectorized=True, paired=False)
    return value, float(result.confidence_interval.low), float(result.confidence_interval.high), n


def balanced_ci(negatives, positives, seed: int = 0):
    """Balanced accuracy at threshold 0.5, bootstrapped per class like the AUC."""
    from scipy import stats
    from sklearn.metrics import balanced_accuracy_score

    negatives, positives = np.asarray(negatives, float), np.asarray(positives, float)
    n = negatives.size + positives.size
    if negatives.size == 0 or positives.size == 0:
        return np.nan, np.nan, np.nan, n
    labels = np.r_[np.zeros(negatives.size), np.ones(positives.size)]
    value = float(balanced_accuracy_score(labels, np.r_[negatives, positives] >= 0.5))

    def balanced(neg, pos, axis=-1):
        return ((neg < 0.5).mean(axis=axis) + (pos >= 0.5).mean(axis=axis)) / 2

    if negatives.size < 2 or positives.size < 2:
        return value, value, value, n
    result = stats.bootstrap((negatives, positives), balanced, n_resamples=RESAMPLES, confidence_level=LEVEL,
                             method="percentile", random_state=seed, vectorized=True, paired=False)
    return value, float(result.confidence_interval.low), float(result.confidence_interval.high), n


def psnr(reference: np.ndarray, image: np.ndarray) -> float:
    from skimage.metrics import peak_signal_noise_ratio

    if np.array_equal(reference, image):
        return float("inf")
    return float(peak_signal_noise_ratio(reference, image, data_range=255))


def ssim(reference: np.ndarray, image: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    if np.array_equal(reference, image):
        return 1.0
    window = min(7, *reference.shape[:2])
    window -= 1 - window % 2  # an odd window no larger than the image
    if window < 3:
        return float("nan")
    return float(structural_similarity(reference, image, channel_axis=2, data_range=255, win_size=window))


def summarise(rows: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The long, tidy summary (one metric per row) computed from per-image rows.

    Attacked rows carry their cell; real and synthetic-input rows belong to every attack measured
    with the same (dataset, detector, weights, perturbation). Where an attack has several targets,
    rows with ``target == "all"`` pool their images.
    """
    attacked = _with_pooled_targets(rows[rows.source == "attacked"])
    records = []
    for keys, cell in attacked.groupby(CELL, sort=False):
        context = dict(zip(CELL, keys))
        same = np.ones(len(rows), bool)
        for column in ("dataset", "detector", "weights", "perturbation"):
            same &= (rows[column] == context[column]).to_numpy()
        reals = rows[same & (rows.source == "real").to_numpy()]
        inputs = rows[same & (rows.source == "synthetic").to_numpy()]
        records += _cell_metrics(context, reals, inputs, cell, seed)
    return pd.DataFrame.from_records(records, columns=SUMMARY_COLUMNS)


def _with_pooled_targets(attacked: pd.DataFrame) -> pd.DataFrame:
    attacked = attacked.assign(aim=attacked.target)  # the target each image was attacked towards
    others = [c for c in CELL if c != "target"]
    several = attacked.groupby(others, sort=False).target.transform("nunique") > 1
    return pd.concat([attacked, attacked[several].assign(target="all")], ignore_index=True)


def _cell_metrics(context, reals, inputs, attacked, seed):
    task = attacked.task.iloc[0]
    out = []

    def add(metric, result):
        value, low, high, n = result
        if n:
            out.append({**context, "metric": metric, "value": value, "ci_low": low, "ci_high": high, "n": n})

    pooled = context["target"] == "all"
    if task == "camera":
        add("acc", mean_ci(reals.pred == reals.camera, seed))
        before = attacked[["input_id", "aim"]].merge(inputs[["id", "pred"]], left_on="input_id", right_on="id")
        if pooled:  # (image, target) pairs of one input are not independent: resample inputs
            add("asr", cluster_mean_ci(attacked.pred == attacked.aim, attacked.input_id, attacked.id, seed))
            add("asr_before", cluster_mean_ci(before.pred == before.aim, before.input_id, before.input_id, seed))
        else:
            add("asr", mean_ci(attacked.pred == attacked.aim, seed))
            add("asr_before", mean_ci(before.pred == before.aim, seed))
    if pooled:  # an untargeted attack's image stands once for all targets: count it once
        attacked = attacked.drop_duplicates("id")
    if task == "synthetic":
        add("auc", auc_ci(reals.score, attacked.score, seed))
        add("auc_before", auc_ci(reals.score, inputs.score, seed))
        add("acc@0.5", mean_ci(np.r_[reals.score < 0.5, attacked.score >= 0.5], seed))
        add("balanced_acc", balanced_ci(reals.score, attacked.score, seed))
    add("psnr", mean_ci(attacked.psnr.dropna(), seed))
    add("ssim", mean_ci(attacked.ssim.dropna(), seed))
    return out
