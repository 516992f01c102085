"""The optimisation loop the trained detectors share: Adam with a cosine decay to 0, a running
mean of the loss logged every 50 steps and kept as the manifest's history."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np


def adam_cosine(parameters, step_loss: Callable[[int], "torch.Tensor"], steps: int, lr: float, label: str,
                log, started: float | None = None) -> list[dict]:
    """Run ``steps`` optimiser steps on ``step_loss(step)``; returns the history of mean losses."""
    import torch

    started = time.perf_counter() if started is None else started
    parameters = list(parameters)
    optimiser = torch.optim.Adam(parameters, lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    history, recent = [], []
    for step in range(steps):
        loss = step_loss(step)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        recent = (recent + [loss.item()])[-50:]
        if (step + 1) % 50 == 0 or step + 1 == steps:
            history.append({"step": step + 1, "loss": round(float(np.mean(recent)), 4)})
            log(f"{label}: step {step + 1}/{steps}, loss {np.mean(recent):.4f} ({time.perf_counter() - started:.0f} s)")
    return history
