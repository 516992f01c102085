"""Executors run the runner's independent jobs. ``local`` runs them in this process, in order.

A distributed executor (Ray) is not built yet; asking for one says so.
"""

from __future__ import annotations

from typing import Callable, Iterable

from .progress import bar


class LocalExecutor:
    def map(self, function: Callable, jobs: Iterable, description: str = "") -> list:
        jobs = list(jobs)
        return [function(job) for job in bar(jobs, description, unit="job")]


EXECUTORS = {"local": LocalExecutor}


def build_executor(name: str):
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; available: {', '.join(EXECUTORS)}")
    return EXECUTORS[name]()
