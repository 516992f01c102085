"""The regression check of scores: compare a run's ``summary.csv`` with a committed baseline.

A cell's value may move by what the two bootstrap 95% CIs allow together: with half-widths
``h = (ci_high - ci_low) / 2`` of the baseline and of the run, a move beyond
``sqrt(h_baseline^2 + h_run^2)`` (the half-width of the difference of two independent estimates)
is a regression. A cell measured on few images, or near 0.5, may move more than one measured on
many, or near 0 or 1; a cell whose CIs are both a point may not move at all (beyond rounding).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .images import atomic_write
from .metrics import CELL

KEYS = [*CELL, "metric"]
NUMBERS = ["value", "ci_low", "ci_high"]


def read_summary(path: str | Path) -> pd.DataFrame:
    """A ``summary.csv`` with the key columns and numeric ``value``, ``ci_low``, ``ci_high`` (empty or
    ``nan`` allowed);
    ``FileNotFoundError`` or a ``ValueError`` naming the file and what is expected otherwise."""
    path = Path(path)
    expected = f"expected a summary.csv written by `spoc-bench run` (columns {', '.join(KEYS + NUMBERS)})"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; {expected}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not a readable CSV file ({' '.join(str(error).split())}); {expected}") from None
    missing = [column for column in [*KEYS, *NUMBERS] if column not in frame.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {', '.join(missing)}; {expected}")
    for column in NUMBERS:
        values = pd.to_numeric(frame[column], errors="coerce")
        wrong = frame[column].notna() & values.isna()
        if wrong.any():
            line = int(wrong.to_numpy().argmax()) + 2  # the header is line 1
            raise ValueError(f"{path} line {line}: {column} {frame[column][wrong].iloc[0]!r} is not a number; {expected}")
        frame = frame.assign(**{column: values})
    return frame


def compare(current: pd.DataFrame, baseline: pd.DataFrame) -> list[str]:
    """Every metric of the baseline that is missing from ``current`` or moved beyond what the two CIs allow."""
    current, baseline = (frame.astype({k: str for k in KEYS}) for frame in (current, baseline))
    merged = baseline.merge(current, on=KEYS, how="left", suffixes=("_baseline", ""), indicator="found")
    problems = []
    for row in merged.itertuples(index=False):
        where = " ".join(f"{k}={getattr(row, k)}" for k in KEYS)
        if row.found == "left_only":
            problems.append(f"missing: {where}")
            continue
        old, new = float(row.value_baseline), float(row.value)
        limit = allowed(row.ci_low_baseline, row.ci_high_baseline, row.ci_low, row.ci_high)
        if not close(old, new, limit):
            problems.append(f"moved: {where}: {old:.4g} -> {new:.4g} (|change| {abs(new - old):.4g} > {limit:.4g}, "
                            f"what the CIs [{row.ci_low_baseline:.4g}, {row.ci_high_baseline:.4g}] and "
                            f"[{row.ci_low:.4g}, {row.ci_high:.4g}] allow)")
    return problems


def allowed(low_a: float, high_a: float, low_b: float, high_b: float) -> float:
    """The move two 95% CIs allow: the half-width of the difference's CI (an unknown CI counts as a point)."""
    halves = [(high - low) / 2 for low, high in ((low_a, high_a), (low_b, high_b))]
    return math.hypot(*(h if math.isfinite(h) else 0.0 for h in halves))


def close(old: float, new: float, limit: float) -> bool:
    if math.isnan(old) or math.isnan(new):
        return math.isnan(old) and math.isnan(new)
    if math.isinf(old) or math.isinf(new):
        return old == new
    return abs(new - old) <= limit or math.isclose(old, new, rel_tol=1e-9, abs_tol=1e-12)


def update(current_file: Path, baseline: Path) -> None:
    """Make the run's summary the baseline: its bytes, written atomically."""
    atomic_write(Path(baseline), Path(current_file).read_bytes())
