"""Progress bars: one style for every long stage (a tqdm bar on stderr that says what it is doing,
removed when done) and one switch.

Bars belong to runs: ``run(progress=True)`` shows every bar made inside the run and
``run(progress=False)`` (``spoc-bench run --quiet``) hides them all; dataset rendering, detector
fitting, attack generation and detection call :func:`bar` and take no flag of their own. Outside a
run (``spoc-bench detect``, whose stderr holds only its skipped files) bars are hidden unless the
caller shows them with :func:`shown`.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterable

_SHOWN: ContextVar[bool] = ContextVar("spoc_bench_progress", default=False)


@contextmanager
def shown(enabled: bool):
    """Show (``True``) or hide (``False``) the bars made inside the block."""
    token = _SHOWN.set(enabled)
    try:
        yield
    finally:
        _SHOWN.reset(token)


def bar(iterable: Iterable | None = None, description: str = "", total: int | None = None, unit: str = "it"):
    """A tqdm bar over ``iterable`` (or one to ``update`` by hand, to ``total``) named ``description``."""
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=description, total=total, unit=unit, leave=False, disable=not _SHOWN.get())
