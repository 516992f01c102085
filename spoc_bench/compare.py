"""Two runs compared: the summary cells whose values differ, each with the bootstrap's verdict.

Both runs' cells are computed from their per-image rows (``rows.parquet``), as the summary is. For
each (cell, metric) whose value differs, a percentile bootstrap gives the 95% CI of B - A: paired
where both runs measured the same images (the same ids: same dataset, seed and n), resampling each
image in both at once, and unpaired otherwise. A CI that excludes 0 is a significant difference.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .metrics import CELL, STATISTICS, Measure, cell_measures, difference_ci, units

KEYS = [*CELL, "metric"]
COLUMNS = [*KEYS, "a", "b", "difference", "ci_low", "ci_high", "bootstrap", "verdict"]


def measures(rows: pd.DataFrame) -> dict[tuple, Measure]:
    """Each (cell, metric) of the rows with a measure over at least one image."""
    return {(*context.values(), metric): measure for context, metric, measure in cell_measures(rows)
            if any(len(part) for part in measure.parts)}


def point(measure: Measure) -> float:
    """The metric's value from its per-unit data (the summary's value)."""
    arrays = [frame[column].to_numpy(float) for frame in units(measure) for column in frame.columns]
    if not all(array.size for array in arrays):
        return math.nan
    return float(STATISTICS[measure.kind](*arrays))


def compare_runs(a: dict[tuple, Measure], b: dict[tuple, Measure], seed: int = 0) -> pd.DataFrame:
    """One row per (cell, metric) of :func:`measures` whose value differs between A and B, or that
    one of them lacks, in A's order and then B's."""
    records = []
    for key in [*a, *(key for key in b if key not in a)]:
        first, second = (point(m[key]) if key in m else math.nan for m in (a, b))
        if key not in b or key not in a:
            records.append([*key, first, second, math.nan, math.nan, math.nan, "",
                            "only in A" if key in a else "only in B"])
        elif not same(first, second):
            low, high, paired = difference_ci(a[key], b[key], seed)
            records.append([*key, first, second, second - first, low, high, "paired" if paired else "unpaired",
                            verdict(second - first, low, high)])
    return pd.DataFrame.from_records(records, columns=COLUMNS)


def same(first: float, second: float) -> bool:
    if math.isnan(first) or math.isnan(second):
        return math.isnan(first) and math.isnan(second)
    return first == second or math.isclose(first, second, rel_tol=1e-9, abs_tol=1e-12)


def verdict(difference: float, low: float, high: float) -> str:
    if not (np.isfinite(difference) and np.isfinite(low) and np.isfinite(high)):
        return "not testable"
    return "significant" if low > 0 or high < 0 else "not significant"


def shown(table: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The table to print, its numbers as text, without the keys every row shares (returned apart)."""
    shared = {key: table[key].iloc[0] for key in KEYS if len(table) and table[key].nunique(dropna=False) == 1}
    text = table.drop(columns=list(shared)).drop(columns=["ci_low", "ci_high"])
    text["a"], text["b"] = table.a.map(number), table.b.map(number)
    text["difference"] = table.difference.map(lambda value: number(value, "+"))
    text.insert(text.columns.get_loc("difference") + 1, "95% CI of B - A", [
        f"[{number(low, '+')}, {number(high, '+')}]" if np.isfinite(low) and np.isfinite(high) else ""
        for low, high in zip(table.ci_low, table.ci_high)])
    return text.rename(columns={"a": "A", "b": "B", "difference": "B - A"}), shared


def number(value: float, sign: str = "") -> str:
    return "" if math.isnan(value) else f"{value:{sign}.4g}"
