"""The regression check of scores: compare a run's ``summary.csv`` with a committed baseline."""

from __future__ import annotations

import math

import pandas as pd

from .metrics import CELL

KEYS = [*CELL, "metric"]
DEFAULT_TOLERANCES = {"psnr": 0.5}  # absolute, in the metric's unit; other metrics use ``tol``


def compare(current: pd.DataFrame, baseline: pd.DataFrame, tol: float = 0.02,
            tolerances: dict[str, float] | None = None) -> list[str]:
    """Every metric of the baseline that is missing from ``current`` or moved beyond tolerance."""
    tolerances = {**DEFAULT_TOLERANCES, **(tolerances or {})}
    current, baseline = (frame.astype({k: str for k in KEYS}) for frame in (current, baseline))
    merged = baseline.merge(current, on=KEYS, how="left", suffixes=("_baseline", ""), indicator="found")
    problems = []
    for row in merged.itertuples(index=False):
        where = " ".join(f"{k}={getattr(row, k)}" for k in KEYS)
        if row.found == "left_only":
            problems.append(f"missing: {where}")
            continue
        old, new = float(row.value_baseline), float(row.value)
        limit = tolerances.get(row.metric, tol)
        if not _close(old, new, limit):
            problems.append(f"moved: {where}: {old:.4g} -> {new:.4g} (|change| {abs(new - old):.4g} > {limit:g})")
    return problems


def _close(old: float, new: float, limit: float) -> bool:
    if math.isnan(old) or math.isnan(new):
        return math.isnan(old) and math.isnan(new)
    if math.isinf(old) or math.isinf(new):
        return old == new
    return abs(new - old) <= limit
