"""The optimisation loop the trained detectors share: Adam with a cosine decay to 0, a running
mean of the loss logged every 50 steps and kept as the manifest's history."""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

TIMED_STEPS = (10, 40)  # a time budget sets the step count from these steps (after warm-up)


def adam_cosine(parameters, step_loss: Callable[[int], "torch.Tensor"], steps: int, lr: float, label: str,
                log, started: float | None = None, seconds: float | None = None) -> list[dict]:
    """Run ``steps`` optimiser steps on ``step_loss(step)``; returns the history of mean losses (its
    last entry's ``step`` is the number of steps run). With ``seconds``, the loop times steps 10 to 40
    and lowers ``steps`` to what fits in ``seconds`` of optimisation; the cosine then decays to 0
    over that number (before, the decay is at most 1 - cos(pi * 40 / steps), negligible)."""
    import torch

    started = time.perf_counter() if started is None else started
    loop_started = time.perf_counter()
    parameters = list(parameters)
    optimiser = torch.optim.Adam(parameters, lr=lr)
    total = [steps]
    cosine = lambda s: 0.5 * (1 + math.cos(math.pi * min(s / total[0], 1)))  # noqa: E731
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, cosine)
    history, recent, step, timer = [], [], 0, None
    while step < total[0]:
        if seconds and step == TIMED_STEPS[0]:
            timer = time.perf_counter()
        loss = step_loss(step)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        recent = (recent + [loss.item()])[-50:]
        step += 1
        if seconds and step == TIMED_STEPS[1] < total[0]:
            per_step = (time.perf_counter() - timer) / (TIMED_STEPS[1] - TIMED_STEPS[0])
            remaining = seconds - (time.perf_counter() - loop_started)
            total[0] = min(steps, max(step, step + int(remaining / per_step)))
            log(f"{label}: {per_step * 1000:.1f} ms per step; {total[0]} steps fit in {seconds:.0f} s")
        if step % 50 == 0 or step == total[0]:
            history.append({"step": step, "loss": round(float(np.mean(recent)), 4)})
            log(f"{label}: step {step}/{total[0]}, loss {np.mean(recent):.4f} ({time.perf_counter() - started:.0f} s)")
    return history
