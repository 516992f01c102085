"""The metrics of the benchmark, each with a bootstrap 95% confidence interval over images.

Camera detectors: ``acc`` (real test images attributed to their own camera), ``asr`` (attacked
images attributed to the target), ``asr_before`` (the inputs, before the attack, attributed to the
target). Synthetic-image detectors: ``auc`` (real vs attacked, synthetic the positive class),
``auc_before`` (real vs inputs), ``acc@0.5`` and ``balanced_acc`` (real and attacked at threshold
0.5). Quality: ``psnr`` and ``ssim`` of attacked images against their inputs.

A (dataset, detector, weights, perturbation) that no attacked image was measured in (a dataset of
real photographs only, or a run whose attacks had no input) still gets its clean figures, in a cell
whose attack is ``none``: ``acc`` of the real images for a camera detector; for a synthetic-image
detector ``auc`` and ``balanced_acc`` of real vs synthetic images where the dataset has both, and
``acc@0.5`` of whichever it has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

VERSION = "3"  # part of the summary's cache key: bump when the same rows give another summary
RESAMPLES = 1000
LEVEL = 0.95
SUMMARY_COLUMNS = ["dataset", "attack", "threat_model", "target", "detector", "weights", "perturbation",
                   "metric", "value", "ci_low", "ci_high", "n"]
CELL = ["dataset", "attack", "threat_model", "target", "detector", "weights", "perturbation"]
ROW_COLUMNS = [*CELL, "id", "source", "task", "camera", "pred", "score"]  # in every run's rows; the summary reads them


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


def auc_statistic(negatives, positives, axis=-1):
    """ROC AUC along ``axis``: Mann-Whitney U / (n0 n1), ties counting one half."""
    from scipy import stats

    return stats.mannwhitneyu(positives, negatives, axis=axis).statistic / (negatives.shape[axis] * positives.shape[axis])


def balanced_statistic(negatives, positives, axis=-1):
    """Balanced accuracy at threshold 0.5 along ``axis``."""
    return ((negatives < 0.5).mean(axis=axis) + (positives >= 0.5).mean(axis=axis)) / 2


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

    if negatives.size < 2 or positives.size < 2:
        return value, value, value, n
    result = stats.bootstrap((negatives, positives), auc_statistic, n_resamples=RESAMPLES, confidence_level=LEVEL,
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

    if negatives.size < 2 or positives.size < 2:
        return value, value, value, n
    result = stats.bootstrap((negatives, positives), balanced_statistic, n_resamples=RESAMPLES, confidence_level=LEVEL,
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


@dataclass(frozen=True)
class Measure:
    """The per-image data one metric of one cell is computed from.

    ``kind`` names the statistic: ``mean`` of ``parts[0]``; ``cluster``, a mean whose bootstrap
    resamples whole clusters (``parts[0]`` has the columns ``value`` and ``cluster``); ``auc`` and
    ``balanced``, of two classes' scores (real, then synthetic). Every part is indexed by image id.
    """

    kind: str
    parts: tuple


STATISTICS = {"mean": lambda values: values.mean(axis=-1),
              "cluster": lambda sums, counts: sums.sum(axis=-1) / counts.sum(axis=-1),
              "auc": auc_statistic, "balanced": balanced_statistic}


def interval(measure: Measure, seed: int = 0) -> tuple[float, float, float, int]:
    """The metric, its bootstrap 95% CI and n."""
    if measure.kind == "cluster":
        (frame,) = measure.parts
        return cluster_mean_ci(frame.value, frame.cluster, frame.index, seed)
    function = {"mean": mean_ci, "auc": auc_ci, "balanced": balanced_ci}[measure.kind]
    return function(*(part.to_numpy() for part in measure.parts), seed=seed)


def units(measure: Measure) -> list[pd.DataFrame]:
    """What a bootstrap resamples: per part, one row per unit (an image, or a cluster's sum and count)."""
    if measure.kind == "cluster":
        (frame,) = measure.parts
        return [frame.groupby("cluster", sort=False).value.agg(["sum", "count"])]
    return [part.to_frame() for part in measure.parts]


def difference_ci(before: Measure, after: Measure, seed: int = 0) -> tuple[float, float, bool]:
    """Percentile bootstrap 95% CI of ``after - before`` and whether it was paired: where a part holds
    the same units in both (the same image ids), each resample draws the same units for both;
    otherwise each is resampled on its own."""
    rng = np.random.default_rng(seed)
    draws, paired = ([], []), True
    for first, second in zip(units(before), units(after)):
        if not len(first) or not len(second):
            return np.nan, np.nan, False
        first_draw = rng.integers(0, len(first), (RESAMPLES, len(first)))
        if first.index.is_unique and second.index.is_unique and set(first.index) == set(second.index):
            second, second_draw = second.loc[first.index], first_draw
        else:
            second_draw, paired = rng.integers(0, len(second), (RESAMPLES, len(second))), False
        draws[0].extend(first[column].to_numpy(float)[first_draw] for column in first.columns)
        draws[1].extend(second[column].to_numpy(float)[second_draw] for column in second.columns)
    with np.errstate(invalid="ignore"):  # inf - inf (a PSNR of identical images) is no difference to test
        differences = STATISTICS[after.kind](*draws[1]) - STATISTICS[before.kind](*draws[0])
    low, high = np.percentile(differences, [50 * (1 - LEVEL), 50 * (1 + LEVEL)])
    return float(low), float(high), paired


def cell_measures(rows: pd.DataFrame):
    """Every (cell, metric, measure) of per-image rows, in the summary's order.

    Attacked rows carry their cell; real and synthetic-input rows belong to every attack measured
    with the same (dataset, detector, weights, perturbation). Where an attack has several targets,
    cells with ``target == "all"`` pool their images; an untargeted attack (one image for every
    target) has the pooled cells only.
    """
    attacked = _with_pooled_targets(rows[rows.source == "attacked"])
    for keys, cell in attacked.groupby(CELL, sort=False):
        context = dict(zip(CELL, keys))
        same = np.ones(len(rows), bool)
        for column in ("dataset", "detector", "weights", "perturbation"):
            same &= (rows[column] == context[column]).to_numpy()
        reals = rows[same & (rows.source == "real").to_numpy()]
        inputs = rows[same & (rows.source == "synthetic").to_numpy()]
        for metric, measure in _cell_measures(context, reals, inputs, cell):
            yield context, metric, measure
    yield from _clean_measures(rows, attacked)


def _clean_measures(rows: pd.DataFrame, attacked: pd.DataFrame):
    """The clean cells (attack ``none``) of every measurement group that has no attacked cell."""
    group = ["dataset", "detector", "weights", "perturbation"]
    measured = set(attacked[group].itertuples(index=False, name=None))
    clean = rows[rows.source.isin(["real", "synthetic"])]
    for keys, frame in clean.groupby(group, sort=False):
        if keys in measured:
            continue
        context = {**dict(zip(group, keys)), "attack": "none", "threat_model": "none", "target": "all"}
        context = {column: context[column] for column in CELL}
        reals, synthetic = (frame[frame.source == source] for source in ("real", "synthetic"))
        if frame.task.iloc[0] == "camera":
            labelled = reals[reals.camera.fillna("") != ""]
            if len(labelled):
                yield context, "acc", Measure("mean", (_per_image(labelled.pred == labelled.camera, labelled.id),))
            continue
        real, fake = (_per_image(part.score, part.id) for part in (reals, synthetic))
        if len(real) and len(fake):
            yield context, "auc", Measure("auc", (real, fake))
            yield context, "balanced_acc", Measure("balanced", (real, fake))
        yield context, "acc@0.5", Measure("mean", (pd.concat([real < 0.5, fake >= 0.5]),))


def summarise(rows: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The long, tidy summary (one metric per row) computed from per-image rows (see
    :func:`cell_measures`)."""
    records = []
    for context, metric, measure in cell_measures(rows):
        value, low, high, n = interval(measure, seed)
        if n:
            records.append({**context, "metric": metric, "value": value, "ci_low": low, "ci_high": high, "n": n})
    return pd.DataFrame.from_records(records, columns=SUMMARY_COLUMNS)


def _with_pooled_targets(attacked: pd.DataFrame) -> pd.DataFrame:
    attacked = attacked.assign(aim=attacked.target)  # the target each image was attacked towards
    others = [c for c in CELL if c != "target"]
    several = attacked.groupby(others, sort=False).target.transform("nunique") > 1
    shared = attacked.duplicated([*others, "id"], keep=False)  # an untargeted attack's image, under every target
    return pd.concat([attacked[~shared], attacked[several].assign(target="all")], ignore_index=True)


def _per_image(values, ids) -> pd.Series:
    return pd.Series(np.asarray(values), index=np.asarray(ids))


def _cell_measures(context, reals, inputs, attacked) -> list[tuple[str, Measure]]:
    task = attacked.task.iloc[0]
    pooled = context["target"] == "all"
    out = []
    if task == "camera":
        out.append(("acc", Measure("mean", (_per_image(reals.pred == reals.camera, reals.id),))))
        before = attacked[["input_id", "aim"]].merge(inputs[["id", "pred"]], left_on="input_id", right_on="id")
        hits = {"asr": (attacked.pred == attacked.aim, attacked.input_id, attacked.id),
                "asr_before": (before.pred == before.aim, before.input_id, before.input_id)}
        for metric, (hit, cluster, ids) in hits.items():
            if pooled:  # (image, target) pairs of one input are not independent: resample inputs
                frame = pd.DataFrame({"value": hit.to_numpy(), "cluster": cluster.to_numpy()}, index=ids.to_numpy())
                out.append((metric, Measure("cluster", (frame,))))
            else:
                out.append((metric, Measure("mean", (_per_image(hit, ids),))))
    if pooled:  # an untargeted attack's image stands once for all targets: count it once
        attacked = attacked.drop_duplicates("id")
    if task == "synthetic":
        real, fake, unattacked = (_per_image(frame.score, frame.id) for frame in (reals, attacked, inputs))
        out += [("auc", Measure("auc", (real, fake))), ("auc_before", Measure("auc", (real, unattacked))),
                ("acc@0.5", Measure("mean", (pd.concat([real < 0.5, fake >= 0.5]),))),
                ("balanced_acc", Measure("balanced", (real, fake)))]
    for metric in ("psnr", "ssim"):
        quality = attacked.dropna(subset=[metric])
        out.append((metric, Measure("mean", (_per_image(quality[metric], quality.id),))))
    return out
