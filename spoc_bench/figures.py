"""A run's figures, as PNG and PDF under ``<run>/figures/``, each drawn from ``summary.csv``.

- ``robustness-<family>``: the headline metric against the level of each perturbation family the
  run has as a single step (JPEG quality, resize factor, blur sigma), a panel per detector, a line
  per attack with its bootstrap 95% CI as a band; ``none`` is the point at no perturbation.
- ``heatmap``: attack x detector before any perturbation, ASR for camera-model detectors and AUC
  for synthetic-image detectors, each value with its CI.
- ``targets``: the headline metric per target camera, a bar per targeted attack with its CI,
  an untargeted attack as a dashed line.
- ``attack-sheet``: the run's attacked images (:func:`spoc_bench.show.run_sheet`).

The headline metric is the one that says whether a detector was fooled: ``asr`` for a camera-model
detector, ``auc`` for a synthetic-image detector. Rows pool the targets (``target == "all"``) where
a cell has them.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from .latex import METRICS, pooled
from .perturbations import parse
from .show import run_sheet, save

HEADLINE = ("asr", "auc")
FORMATS = (".png", ".pdf")
FAMILIES = {  # the x axis of each family's curve: its label and where "none" sits on it
    "jpeg": ("JPEG quality Q (re-saved with IJG tables)", None),
    "resize": ("resize factor (x, bicubic)", 1.0),
    "blur": ("Gaussian blur sigma (pixels)", 0.0),
}
NONE_BEYOND_JPEG = 5  # "none" sits this far right of the highest JPEG quality
DODGE = 0.012  # attacks' points shifted sideways by this share of the x range, so equal lines stay apart
MARKERS, STYLES = "osD^vP", ("-", "--", "-.", ":")


HEAT_TITLES = {"asr": "camera-model detectors", "auc": "synthetic-image detectors (0.5 = fooled)"}


class Figure(NamedTuple):
    name: str  # the file stem under figures/
    title: str
    caption: str  # with n; for a figure that could not be drawn, why
    drawn: bool = True


def write_figures(summary: pd.DataFrame, rows: pd.DataFrame, folder: Path, dataset_for=None) -> list[Figure]:
    """Every figure the run has data for, written as ``folder/<name>.png`` and ``.pdf``;
    the attack sheet where ``dataset_for`` (a dataset by name) is given and the run attacked images."""
    import matplotlib

    matplotlib.use("Agg")
    headline = pooled(summary[summary.metric.isin(HEADLINE)]).assign(
        kind=lambda frame: [parse(p).kind for p in frame.perturbation],
        level=lambda frame: [parse(p).level for p in frame.perturbation])
    figures = [robustness(headline, family, folder) for family in FAMILIES if (headline.kind == family).any()]
    figures += [heatmap(headline, folder), targets(summary, folder)]
    if dataset_for is not None and "path" in rows and (rows.source == "attacked").any():
        figures.append(attack_sheet(rows, dataset_for, folder))
    return [figure for figure in figures if figure is not None]


def paths(folder: Path, name: str) -> list[Path]:
    return [Path(folder) / f"{name}{suffix}" for suffix in FORMATS]


def panels(count: int, width: float = 4.2, height: float = 3.4):
    import matplotlib.pyplot as plt

    columns = min(count, 3)
    rows = -(-count // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows + 0.8), squeeze=False)
    for axis in axes.flat[count:]:
        axis.set_axis_off()
    return figure, list(axes.flat)


def finish(figure, axes, title: str) -> None:
    """The title above, one legend (every panel's attacks) below the panels."""
    handles = {}
    for axis in axes:
        for handle, label in zip(*axis.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    figure.suptitle(title, fontsize=11)
    figure.legend(handles.values(), handles.keys(), loc="lower center", ncol=min(len(handles), 5), fontsize=8,
                  title="attack", title_fontsize=8, frameon=False)
    rows = -(-len(handles) // 5)
    height = figure.get_figheight()
    figure.tight_layout(rect=(0, (0.35 + 0.2 * rows) / height, 1, 1))


def detector_label(frame: pd.DataFrame) -> str:
    """``detector (weights)``, with the dataset in front where the run has several."""
    first = frame.iloc[0]
    return f"{first.dataset}: " * (frame.dataset.nunique() > 1) + f"{first.detector} ({first.weights})"


def size_text(n: pd.Series) -> str:
    low, high = int(n.min()), int(n.max())
    return f"n = {low}" if low == high else f"n = {low} to {high}"


def curve(frame: pd.DataFrame, family: str) -> pd.DataFrame:
    """One attack's points on a family's axis, ``none`` included, sorted by level: x, value, CI, n."""
    none_at = FAMILIES[family][1]
    if none_at is None:
        none_at = max(100, frame.level.max()) + NONE_BEYOND_JPEG
    x = frame.level.where(frame.kind != "none", none_at)
    return frame.assign(x=x.astype(float)).sort_values("x")


def robustness(headline: pd.DataFrame, family: str, folder: Path) -> Figure:
    """The headline metric against the family's level: a panel per detector, a line per attack."""
    data = headline[headline.kind.isin([family, "none"])]
    groups = list(data.groupby(["dataset", "detector", "weights"], sort=False))
    figure, axes = panels(len(groups))
    for axis, (_, frame) in zip(axes, groups):
        spread = np.ptp(curve(frame, family).x) or 1.0
        for k, (attack, points) in enumerate(frame.groupby("attack", sort=False)):
            points = curve(points, family)
            x = points.x + (k - (frame.attack.nunique() - 1) / 2) * DODGE * spread  # overlapping lines stay visible
            line, = axis.plot(x, points.value, marker=MARKERS[k % len(MARKERS)],
                              linestyle=STYLES[k % len(STYLES)], label=attack)
            axis.fill_between(x, points.ci_low, points.ci_high, color=line.get_color(), alpha=0.2)
        style_curve_axis(axis, frame, family, frame.metric.iloc[0])
    title = f"Robustness to {family}: {'/'.join(METRICS[m].name for m in dict.fromkeys(data.metric))} vs level"
    finish(figure, axes, title)
    save(figure, *paths(folder, f"robustness-{family}"))
    caption = (f"{title}. Lines: means pooled over targets; bands: bootstrap 95% CI over images; "
               f"'none' is the image without the perturbation. {size_text(data.n)} images per point.")
    return Figure(f"robustness-{family}", title, caption)


def style_curve_axis(axis, frame: pd.DataFrame, family: str, metric: str) -> None:
    points = curve(frame, family).drop_duplicates("x")
    labels = ["none" if kind == "none" else f"{level:g}" for kind, level in zip(points.kind, points.level)]
    axis.set_xticks(points.x, labels)
    axis.set_xlabel(FAMILIES[family][0], fontsize=9)
    axis.set_ylabel(METRICS[metric].name, fontsize=9)
    axis.set_ylim(-0.03, 1.03)
    if metric == "auc":
        axis.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        axis.text(points.x.iloc[0], 0.52, "0.5: fooled", fontsize=7, color="grey")
    axis.set_title(detector_label(frame), fontsize=10)
    axis.grid(alpha=0.3)


def reference(headline: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows without perturbation, or the run's first perturbation where it has no ``none``."""
    if headline.empty or (headline.perturbation == "none").any():
        return headline[headline.perturbation == "none"], "none"
    chosen = headline.perturbation.iloc[0]
    return headline[headline.perturbation == chosen], chosen


def heatmap(headline: pd.DataFrame, folder: Path, name: str = "heatmap", title: str = "Attack x detector",
            rows: str = "attack") -> Figure | None:
    """Attack x detector: an ASR panel for camera-model detectors, an AUC panel for synthetic ones;
    written as ``folder/<name>.png`` and ``.pdf``, ``rows`` labelling the attacks' axis."""
    import matplotlib.pyplot as plt

    data, perturbation = reference(headline)
    metrics = [m for m in HEADLINE if (data.metric == m).any()]
    if not metrics:
        return None
    data = data.assign(column=[f"{d}: " * (data.dataset.nunique() > 1) + f"{name}\n({w})"
                               for d, name, w in zip(data.dataset, data.detector, data.weights)])
    attacks = list(dict.fromkeys(data.attack))
    widths = [max(2.0, 1.3 * data[data.metric == m].column.nunique()) for m in metrics]
    title = f"{title} ({perturbation}): brighter = attack more successful"
    width = max(sum(widths) + 2.5 * len(metrics), 0.09 * len(title))  # the title fits however few columns
    figure, axes = plt.subplots(1, len(metrics), figsize=(width, 0.7 * len(attacks) + 2.2),
                                squeeze=False, gridspec_kw={"width_ratios": widths})
    for axis, metric in zip(axes[0], metrics):
        heat(axis, data[data.metric == metric], attacks, metric, rows)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    save(figure, *paths(folder, name))
    caption = (f"{title}. ASR: share of attacked images attributed to the target camera (camera-model detectors); "
               f"AUC: real vs attacked images (synthetic-image detectors; 0.5 = fooled). Cells: mean and "
               f"bootstrap 95% CI, pooled over targets; {size_text(data.n)} images per cell.")
    return Figure(name, title, caption)


def heat(axis, frame: pd.DataFrame, attacks: list[str], metric: str, rows: str = "attack") -> None:
    columns = list(dict.fromkeys(frame.column))
    cells = frame.set_index(["attack", "column"])
    values = np.array([[cells.value.get((a, c), np.nan) for c in columns] for a in attacks], float)
    colours = "viridis" if METRICS[metric].best is max else "viridis_r"  # bright: good for the attacker
    image = axis.imshow(values, cmap=colours, vmin=0, vmax=1, aspect="auto")
    for (i, attack), (j, column) in ((a, c) for a in enumerate(attacks) for c in enumerate(columns)):
        if (attack, column) in cells.index:
            row = cells.loc[(attack, column)]
            shade = "black" if (row.value > 0.5) == (colours == "viridis") else "white"
            axis.text(j, i, f"{row.value:.2f}\n[{row.ci_low:.2f}, {row.ci_high:.2f}]", ha="center", va="center",
                      fontsize=8, color=shade)
    axis.set_xticks(range(len(columns)), columns, fontsize=8)
    axis.set_yticks(range(len(attacks)), attacks, fontsize=9)
    axis.set_xlabel("detector (weights)", fontsize=9)
    axis.set_ylabel(rows, fontsize=9)
    axis.set_title(f"{METRICS[metric].name}: {HEAT_TITLES[metric]}", fontsize=10)
    axis.figure.colorbar(image, ax=axis, fraction=0.08, label=METRICS[metric].name)


def targets(summary: pd.DataFrame, folder: Path) -> Figure | None:
    """The headline metric per target: a group of bars per target, a bar per targeted attack."""
    data, perturbation = reference(summary[summary.metric.isin(HEADLINE)])
    own = data[data.target != "all"]
    if own.empty:
        return None
    groups = list(own.groupby(["dataset", "detector", "weights"], sort=False))
    figure, axes = panels(len(groups), width=max(4.2, 0.9 * own.target.nunique() + 1.5))
    for axis, (key, frame) in zip(axes, groups):
        bars(axis, frame, untargeted(data, own, key))
    title = f"Per target camera ({perturbation}): {'/'.join(METRICS[m].name for m in dict.fromkeys(own.metric))}"
    finish(figure, axes, title)
    save(figure, *paths(folder, "targets"))
    caption = (f"{title}. Bars: mean per target with bootstrap 95% CI; dashed lines: untargeted attacks "
               f"(one image for every target). {size_text(own.n)} attacked images per bar.")
    return Figure("targets", title, caption)


def untargeted(data: pd.DataFrame, own: pd.DataFrame, key: tuple) -> pd.DataFrame:
    """The pooled rows of the attacks without a row per target, for one (dataset, detector, weights)."""
    frame = data[(data.dataset == key[0]) & (data.detector == key[1]) & (data.weights == key[2])]
    return frame[~frame.attack.isin(own.attack)]


def bars(axis, frame: pd.DataFrame, lines: pd.DataFrame) -> None:
    cameras = list(dict.fromkeys(frame.target))
    attacks = list(dict.fromkeys(frame.attack))
    width = 0.8 / len(attacks)
    for k, (attack, points) in enumerate(frame.groupby("attack", sort=False)):
        points = points.set_index("target").reindex(cameras)
        x = np.arange(len(cameras)) + (k - (len(attacks) - 1) / 2) * width
        error = [points.value - points.ci_low, points.ci_high - points.value]
        axis.bar(x, points.value, width, yerr=error, capsize=3, label=attack)
    for k, line in enumerate(lines.itertuples()):
        axis.axhline(line.value, linestyle=STYLES[1 + k % 3], color="dimgrey", linewidth=1.2,
                     label=f"{line.attack} (untargeted)")
    metric = frame.metric.iloc[0]
    axis.set_xticks(range(len(cameras)), cameras, fontsize=8, rotation=30 if len(cameras) > 4 else 0)
    axis.set_xlabel("target camera", fontsize=9)
    axis.set_ylabel(METRICS[metric].name, fontsize=9)
    axis.set_ylim(0, 1.05)
    axis.set_title(detector_label(frame), fontsize=10)
    axis.grid(axis="y", alpha=0.3)


def attack_sheet(rows: pd.DataFrame, dataset_for, folder: Path) -> Figure:
    """The sheet of the run's attacked images; undrawn, with the reason, where the dataset or the
    cached images are gone."""
    title = "Attack sheet: the run's attacked images"
    try:
        run_sheet(rows, dataset_for, *paths(folder, "attack-sheet"))
    except (OSError, ValueError, KeyError, StopIteration) as error:  # ImageError is a ValueError
        return Figure("attack-sheet", title, f"Not drawn: {type(error).__name__}: {error}", drawn=False)
    caption = (f"{title}, as cached and read back (n = 1 image per row). Columns: the input, the attacked image, "
               f"their difference x10, its noise residual x8 (image minus 3x3 median), the residual's log power "
               f"spectrum, and the mean residual spectrum of up to 16 of the target camera's real images "
               f"(attacker split).")
    return Figure("attack-sheet", title, caption)
