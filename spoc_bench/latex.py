"""Paper-ready LaTeX from the summary: booktabs tables a paper can ``\\input``.

One table per metric: the pivot's values as columns (perturbations by default), the other keys
that vary as rows (dataset, detector, attack, target), and what every row shares in the caption
(dataset, threat model, weights, target, n). A metric that cannot depend on a key (``acc`` is
measured on real images, which no attack touches; ``psnr`` before any perturbation or detector)
drops that key where the values agree across it; the metrics that lose the pivot that way share
one table with a column per metric. Rows pool the targets (``target == "all"``) unless asked
for each target. A cell is the mean with its bootstrap 95% CI as offsets, ``0.625^{+0.146}_{-0.125}``
(``\\pm`` where they are equal); the best value of each column is bold (``METRICS``: the attacker's
best for what an attack changes, the detector's for what it measures before any attack).
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

import numpy as np
import pandas as pd

from .metrics import CELL

ROW_KEYS = ["dataset", "detector", "weights", "attack", "threat_model", "target", "perturbation"]
PIVOTS = ("perturbation", "detector", "attack", "target", "dataset")
OWNERS = {"threat_model": "attack", "weights": "detector"}  # told beside the key they belong to
PLURALS = {"threat_model": "Threat models", "weights": "Weights"}
HEADERS = {"dataset": "Dataset", "detector": "Detector", "weights": "Weights", "attack": "Attack",
           "threat_model": "Threat model", "target": "Target", "perturbation": "Perturbation"}


class Metric(NamedTuple):
    name: str  # the column header
    definition: str
    best: object  # max or min: the value set in bold; None: no best (chance level)
    digits: int
    independent: tuple = ()  # groups of keys the metric cannot depend on


METRICS = {
    "acc": Metric("Accuracy", "the share of real test images attributed to their own camera", max, 3,
                  (("attack", "threat_model"), ("target",))),
    "asr": Metric("ASR", "attack success rate, the share of attacked images attributed to the target camera",
                  max, 3),
    "asr_before": Metric("ASR before", "the share of the synthetic inputs attributed to the target before the "
                         "attack (chance level)", None, 3, (("attack", "threat_model"),)),
    "auc": Metric("AUC", "ROC AUC of real test images against attacked images, synthetic the positive class "
                  "(0.5: fooled)", min, 3),
    "auc_before": Metric("AUC before", "ROC AUC of real test images against the synthetic inputs before the "
                         "attack", max, 3, (("attack", "threat_model"), ("target",))),
    "acc@0.5": Metric("Acc.@0.5", "accuracy on real and attacked images at threshold 0.5", min, 3),
    "balanced_acc": Metric("Balanced acc.", "balanced accuracy on real and attacked images at threshold 0.5",
                           min, 3),
    "psnr": Metric("PSNR (dB)", "peak signal-to-noise ratio of each attacked image against its input", max, 1,
                   (("detector", "weights"), ("perturbation",))),
    "ssim": Metric("SSIM", "structural similarity of each attacked image to its input", max, 3,
                   (("detector", "weights"), ("perturbation",))),
}
SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
           "_": r"\_", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}", "<": r"\textless{}",
           ">": r"\textgreater{}", "|": r"\textbar{}", "-": "-{}"}
LEGEND = (r"Means with bootstrap 95\% confidence intervals as offsets, $^{+\mathrm{up}}_{-\mathrm{down}}$ "
          r"(or $\pm$ where equal)")


def tex(text) -> str:
    """``text`` as LaTeX that prints it as it is (a ``-`` before another ``-`` stays a hyphen)."""
    return re.sub(r"[\\{}&%$#_^~<>|]|-(?=-)", lambda match: SPECIAL[match.group()], str(text))


def slug(text) -> str:
    return re.sub(r"[^A-Za-z0-9:.-]+", "-", str(text)).strip("-") or "x"


def latex_tables(summary: pd.DataFrame, pivot: str = "perturbation", per_target: bool = False,
                 metrics: list[str] | None = None, label: str = "tab:summary") -> str:
    """Every table of ``summary`` (a ``summary.csv``), for the metrics named (default all)."""
    targets = summary.target[summary.target != "all"].nunique()
    summary = summary if per_target else pooled(summary)
    frames = [(metric, fold(summary[summary.metric == metric], METRICS[metric].independent))
              for metric in METRICS if metric in set(summary.metric) and (not metrics or metric in metrics)]
    tables = [table(frame, pivot, [metric], f"{label}-{slug(metric)}", targets)
              for metric, frame in frames if pivot in frame]
    shared: dict[tuple, list] = {}  # the metrics without the pivot, by the keys they keep
    for metric, frame in frames:
        if pivot not in frame:
            shared.setdefault(tuple(frame.columns), []).append((metric, frame))
    for group in shared.values():
        names = [metric for metric, _ in group]
        frame = pd.concat([frame for _, frame in group])
        tables.append(table(frame, "metric", names, f"{label}-{'-'.join(slug(m) for m in names)}", targets))
    return "% spoc-bench: \\input this file with \\usepackage{booktabs} in the preamble\n" + "\n".join(tables)


def pooled(summary: pd.DataFrame) -> pd.DataFrame:
    """The rows pooled over targets where a cell has them; a cell with one target keeps its own."""
    others = [summary[column] for column in CELL if column != "target"]
    has_pool = (summary.target == "all").groupby(others, dropna=False, sort=False).transform("any")
    return summary[~has_pool | (summary.target == "all")]


def fold(frame: pd.DataFrame, groups: tuple) -> pd.DataFrame:
    """``frame`` without each group of keys it cannot depend on, where its values agree across the
    group (a white-box attack's PSNR, which differs per detector, keeps the detector)."""
    for group in groups:
        rest = [column for column in CELL if column in frame and column not in group]
        once = frame.drop_duplicates([*rest, "value", "ci_low", "ci_high", "n"])
        if not once.duplicated(rest).any():
            frame = once.drop(columns=list(group))
    return frame


def table(frame: pd.DataFrame, pivot: str, names: list[str], label: str, targets: int) -> str:
    """One ``table`` float: the rows of ``frame`` by its varying keys, a column per value of ``pivot``."""
    keys = [key for key in ROW_KEYS if key in frame and key != pivot]
    varying = [key for key in keys if frame[key].nunique(dropna=False) > 1]
    told = [key for key in varying if key in OWNERS and OWNERS[key] in (*varying, pivot) and owned(frame, key)]
    rows = [key for key in varying if key not in told]
    rows = rows or [next(key for key in ("detector", "attack", "target", "perturbation", "dataset") if key in keys)]
    shared = [key for key in keys if key not in varying and key not in rows]
    columns = list(dict.fromkeys(frame[pivot]))
    body = grid(frame, rows, pivot, columns)
    caption = " ".join([definitions(names), facts(frame, shared, told, targets), sizes(frame), legend(names)])
    return "\n".join([r"\begin{table}[tbp]", r"\centering", r"\small", rf"\caption{{{caption}}}",
                      rf"\label{{{slug(label)}}}", rf"\begin{{tabular}}{{{'l' * len(rows)}{'c' * len(columns)}}}",
                      r"\toprule", *head(rows, pivot, columns), r"\midrule", *body, r"\bottomrule",
                      r"\end{tabular}", r"\end{table}", ""])


def head(rows: list[str], pivot: str, columns: list) -> list[str]:
    """The header lines: the pivot's name over its columns (unless they are metrics), then the names."""
    names = " & ".join([*(HEADERS[key] for key in rows), *(heading(pivot, value) for value in columns)]) + r" \\"
    if pivot == "metric":
        return [names]
    return [" & " * len(rows) + rf"\multicolumn{{{len(columns)}}}{{c}}{{{HEADERS[pivot]}}} \\",
            rf"\cmidrule(lr){{{len(rows) + 1}-{len(rows) + len(columns)}}}", names]


def owned(frame: pd.DataFrame, key: str) -> bool:
    """Whether each value of ``OWNERS[key]`` comes with one value of ``key`` (then the caption says it)."""
    return bool((frame.groupby(OWNERS[key], sort=False)[key].nunique(dropna=False) == 1).all())


def heading(pivot: str, value) -> str:
    return tex(METRICS[value].name) if pivot == "metric" else tex(value)


def grid(frame: pd.DataFrame, rows: list[str], pivot: str, columns: list) -> list[str]:
    """The body lines: the row keys (each shown where it changes) and a cell per column."""
    order = {key: {value: rank for rank, value in enumerate(dict.fromkeys(frame[key]))} for key in rows}
    frame = frame.assign(text=cells(frame, pivot))
    texts = frame.set_index([*rows, pivot]).text
    labels = sorted(dict.fromkeys(zip(*(frame[key] for key in rows))),
                    key=lambda label: [order[key][value] for key, value in zip(rows, label)])
    lines, previous = [], None
    for label in labels:
        if previous is not None and len(rows) > 1 and label[0] != previous[0]:
            lines.append(r"\addlinespace")
        changed = next((i for i, value in enumerate(label) if previous is None or value != previous[i]), len(label))
        shown = [tex(value) if i >= changed else "" for i, value in enumerate(label)]
        values = [texts.get((*label, column), "--") for column in columns]
        lines.append(" & ".join([*shown, *values]) + r" \\")
        previous = label
    return lines


def cells(frame: pd.DataFrame, pivot: str) -> list[str]:
    """Each row's cell text, the best value of its column in bold."""
    digits = [METRICS[metric].digits for metric in frame.metric]
    rounded = pd.Series([round(value, d) for value, d in zip(frame.value, digits)], index=frame.index)
    best = pd.Series(False, index=frame.index)
    for (_, metric), values in rounded.groupby([frame[pivot], frame.metric], sort=False):
        choose, known = METRICS[metric].best, values[np.isfinite(values)]  # identical images (inf) are not ranked
        if choose is not None and known.nunique() > 1:
            best[known.index] = known == choose(known)
    return [cell(value, low, high, d, bold)
            for value, low, high, d, bold in zip(frame.value, frame.ci_low, frame.ci_high, digits, best)]


def cell(value: float, low: float, high: float, digits: int, bold: bool = False) -> str:
    """``$v^{+up}_{-down}$``, ``$v \\pm e$`` where up and down agree, ``$v$`` without spread."""
    if math.isnan(value):
        return "--"
    if math.isinf(value):
        return r"$\infty$" if value > 0 else r"$-\infty$"
    shown = f"{value:.{digits}f}"
    shown = rf"\mathbf{{{shown}}}" if bold else shown
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"${shown}$"
    up, down = (f"{max(spread, 0.0):.{digits}f}" for spread in (high - value, value - low))
    if float(up) == float(down) == 0:
        return f"${shown}$"
    return f"${shown} \\pm {up}$" if up == down else f"${shown}^{{+{up}}}_{{-{down}}}$"


def definitions(names: list[str]) -> str:
    return "; ".join(f"{tex(METRICS[name].name)}: {tex(METRICS[name].definition)}" for name in names) + "."


def facts(frame: pd.DataFrame, shared: list[str], told: list[str], targets: int) -> str:
    """What every row shares, and what belongs to a row's attack or detector (its threat model, weights)."""
    parts = []
    for key in shared:
        value = frame[key].iloc[0]
        if key == "target" and value == "all":
            parts.append(f"pooled over the {targets} targets" if targets else "pooled over the targets")
        elif key in OWNERS and OWNERS[key] in shared:
            continue
        else:
            owned_by = [k for k, owner in OWNERS.items() if owner == key and k in shared]
            extra = f" ({tex(frame[owned_by[0]].iloc[0])})" if owned_by else ""
            parts.append(f"{HEADERS[key].lower()} {tex(value)}{extra}")
    text = (parts[0][:1].upper() + "; ".join(parts)[1:] + ".") if parts else ""
    for key in told:
        pairs = frame[[OWNERS[key], key]].drop_duplicates()
        listed = ", ".join(f"{tex(owner)} ({tex(value)})" for owner, value in pairs.itertuples(index=False))
        text += f" {PLURALS[key]}: {listed}."
    return text.strip()


def sizes(frame: pd.DataFrame) -> str:
    low, high = int(frame.n.min()), int(frame.n.max())
    return f"$n = {low}$ images per cell." if low == high else f"$n = {low}$ to ${high}$ images per cell."


def legend(names: list[str]) -> str:
    best = {METRICS[name].best for name in names} - {None}
    if len(best) != 1:
        return LEGEND + "."
    return LEGEND + f"; bold: the {'highest' if best == {max} else 'lowest'} value of each column."
