"""Tables are views of ``summary.csv``: Markdown, booktabs LaTeX (:mod:`spoc_bench.latex`), and the CSV itself."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .images import atomic_write
from .latex import latex_tables, slug
from .metrics import CELL, SUMMARY_COLUMNS

METRIC_ORDER = ["acc", "asr_before", "asr", "auc_before", "auc", "acc@0.5", "balanced_acc", "psnr", "ssim"]


def write_tables(summary: pd.DataFrame, out: Path, splits: dict | None = None, **latex) -> None:
    """``summary.csv``, ``summary.md`` and ``summary.tex`` (``latex``: the keywords of
    :func:`~spoc_bench.latex.latex_tables`; labels start ``tab:<folder name>`` unless given);
    ``splits``, the datasets' split reports (``run.json``), a line each under the Markdown table."""
    summary = summary.reindex(columns=SUMMARY_COLUMNS)
    atomic_write(out / "summary.csv", summary.to_csv(index=False, float_format=exact).encode())
    atomic_write(out / "summary.md", to_markdown(wide(summary), note=notes(splits)).encode())
    latex = {"label": f"tab:{slug(Path(out).resolve().name)}", **latex}
    atomic_write(out / "summary.tex", latex_tables(summary, **latex).encode())


def exact(value) -> str:
    """A float as the shortest text that reads back to it, whatever NumPy's print options (importing
    `colour`, as simcam's rendering does, sets NumPy's 1.13 printing, which CSV writing follows: 12 digits)."""
    return repr(float(value))


def cell_text(value: float, low: float, high: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    digits = 1 if abs(value) > 2 else 3
    if math.isinf(value):
        return "inf"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def wide(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per cell, one column per metric ("value [95% CI]"), and n (attacked images; for a
    clean cell, attack ``none``, the images measured)."""
    if summary.empty:
        return pd.DataFrame(columns=[*CELL, "n"])
    text = summary.assign(text=[cell_text(v, lo, hi) for v, lo, hi in
                                zip(summary.value, summary.ci_low, summary.ci_high)])
    table = text.pivot_table(index=CELL, columns="metric", values="text", aggfunc="first", sort=False)
    table = table[[m for m in METRIC_ORDER if m in table.columns]]
    counted = summary[summary.metric.isin(["asr", "psnr"]) | (summary.attack == "none")].groupby(CELL, sort=False).n.max()
    table["n"] = counted.reindex(table.index).fillna(0).astype(int)
    return table.reset_index().fillna("")


NOTE = ("Values are means with bootstrap 95% confidence intervals over images; n = attacked images "
        "(where the attack is none, the images measured).")


def notes(splits: dict | None) -> str:
    """The table's note, then a line per dataset split by device."""
    return "\n\n".join([NOTE, *(split_note(name, report) for name, report in (splits or {}).items())])


def split_note(name: str, report: dict) -> str:
    """One line on a dataset's split: the protocol, each split's devices, the models left out."""
    parts = [f"{name}: {report['protocol']} split"]
    parts += [f"{split} devices {', '.join(devices) or 'none'}" for split, devices in report["devices"].items()]
    if report.get("not_tested"):
        parts.append(f"not tested (no device of their own for the test): {', '.join(report['not_tested'])}")
    if report.get("no_attacker_device"):
        parts.append(f"no attack target (no device for the attacker): {', '.join(report['no_attacker_device'])}")
    return "; ".join(parts) + "."


def to_markdown(table: pd.DataFrame, note: str = NOTE) -> str:
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    lines = ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *lines]) + "\n\n" + note + "\n"
