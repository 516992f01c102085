"""Executors run the runner's independent jobs: the attacks' image groups, then the grid's cells.

A job is ``(dataset name, *arguments)`` of a :class:`~spoc_bench.runner.Session` method
(``attacked`` or ``detect``); results come back in the order of the jobs.

- ``local`` runs them in this process, in order.
- ``ray`` runs each as a Ray task (on a local Ray it starts, or on the cluster at ``address``).
  A task takes its plugin's declared CPUs (``Plugin.cpus``) and, on a GPU run, one GPU where the
  plugin runs on the device (``Plugin.gpus`` of one); a task whose worker dies is retried
  (``max_retries``). Workers keep a session of their own per process, read and write the same
  content-addressed cache (a shared file system on a cluster) and hand back what the run's
  manifest learns (rows keys, skipped files, timings), merged here in the order of the jobs, so
  the tables are those of the local executor.
"""

from __future__ import annotations

import importlib.util
import inspect

from .progress import bar
from .registry import attacks, detectors

REGISTRIES = {"attacked": attacks, "detect": detectors}  # the kind of plugin a job's second part names


class LocalExecutor:
    def __enter__(self):
        return self

    def __exit__(self, *exception) -> None:
        return None

    def map(self, session, method: str, jobs: list, description: str = "") -> list:
        return [session.call(method, job) for job in bar(jobs, description, unit="job")]


class RayExecutor:
    def __init__(self, address: str | None = None, max_retries: int = 3):
        if importlib.util.find_spec("ray") is None:
            raise ValueError("--executor ray needs Ray: pip install 'spoc-bench[ray]' (or pip install ray)")
        self.address, self.max_retries = address, max_retries
        self.started = False

    def __enter__(self):
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, logging_level="warning")
            self.started = True
        return self

    def __exit__(self, *exception) -> None:
        import ray

        if self.started:
            ray.shutdown()

    def map(self, session, method: str, jobs: list, description: str = "") -> list:
        import ray

        from .runner import in_worker

        task = ray.remote(in_worker)
        grid, root = ray.put(session.grid), str(session.cache.root.resolve())
        futures = [task.options(**resources(session, method, job), max_retries=self.max_retries)
                   .remote(grid, root, method, job) for job in jobs]
        results = []
        for future in bar(futures, description, unit="job"):
            result, ledger = ray.get(future)
            session.merge(ledger)
            results.append(result)
        return results


def resources(session, method: str, job: tuple) -> dict:
    """The Ray resources of one job: its plugin's CPUs, and its GPU share where it runs on a GPU."""
    plugin = REGISTRIES[method].get(job[1].partition(":")[0])
    uses_device = hasattr(plugin, "device") or "device" in inspect.signature(plugin.__init__).parameters
    on_gpu = session.grid.device != "cpu" and uses_device
    return {"num_cpus": plugin.cpus, "num_gpus": plugin.gpus if on_gpu else 0}


def build_executor(name: str, address: str | None = None):
    if name == "ray":
        return RayExecutor(address)
    if name != "local":
        raise ValueError(f"--executor {name!r}: unknown; use local or ray")
    if address:
        raise ValueError("--address names a Ray cluster: give it with --executor ray")
    return LocalExecutor()
