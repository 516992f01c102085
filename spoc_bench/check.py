"""The regression check of scores: compare a run's ``summary.csv`` with a committed baseline."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .metrics import CELL

KEYS = [*CELL, "metric"]
DEFAULT_TOLERANCES = {"psnr": 0.5}  # absolute, in the metric's unit; other metrics use ``tol``


def read_summary(path: str | Path) -> pd.DataFrame:
    """A ``summary.csv`` with the key columns and a numeric ``value`` (empty or ``nan`` allowed);
    ``FileNotFoundError`` or a ``ValueError`` naming the file and what is expected otherwise."""
    path = Path(path)
    expected = f"expected a summary.csv written by `spoc-bench run` (columns {', '.join(KEYS)}, value)"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; {expected}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not a readable CSV file ({' '.join(str(error).split())}); {expected}") from None
    missing = [column for column in [*KEYS, "value"] if column not in frame.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {', '.join(missing)}; {expected}")
    values = pd.to_numeric(frame["value"], errors="coerce")
    wrong = frame["value"].notna() & values.isna()
    if wrong.any():
        line = int(wrong.to_numpy().argmax()) + 2  # the header is line 1
        raise ValueError(f"{path} line {line}: value {frame['value'][wrong].iloc[0]!r} is not a number; {expected}")
    return frame.assign(value=values)


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
