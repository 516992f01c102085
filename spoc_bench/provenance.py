"""Where a run ran, for its ``run.json``: the command line, the git commit of the code (when it runs
from a git checkout), and the machine: CPU model and torch's thread count."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def provenance() -> dict:
    """``command``, ``git`` (absent where the code is not a git checkout's) and ``machine``."""
    checkout = git_checkout()
    return {"command": {"argv": shlex.join(sys.argv), "cwd": os.getcwd()},
            **({"git": checkout} if checkout else {}), "machine": machine()}


def git_checkout(package: Path = PACKAGE) -> dict | None:
    """``{"commit", "dirty"}`` of the checkout whose ``spoc_bench`` folder is ``package`` (dirty:
    tracked files changed since the commit); None for an installed copy, or where git is missing."""

    def git(*arguments: str) -> str:
        return subprocess.run(["git", "-C", str(package), *arguments], capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != package.parent:
            return None  # installed into a folder of some other repository (a virtual environment)
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return None


def machine() -> dict:
    import torch

    return {"platform": platform.platform(), "processor": platform.processor(), "cpu": cpu_model(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
