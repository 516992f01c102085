"""The shared optimisation loop: cosine decay and the time budget."""

import math
import time

import pytest
import torch

from spoc_bench.detectors._training import adam_cosine


def quadratic(delay: float = 0.0):
    weight = torch.nn.Parameter(torch.tensor([3.0]))

    def step_loss(step):
        time.sleep(delay)
        return (weight ** 2).sum()

    return weight, step_loss


def test_cosine_decays_to_zero_over_the_steps():
    weight, step_loss = quadratic()
    rates = []
    history = adam_cosine([weight], lambda s: (rates.append(s), step_loss(s))[1], 100, 0.1, "q", lambda _: None)
    assert [h["step"] for h in history] == [50, 100] and history[-1]["loss"] < history[0]["loss"]
    assert rates == list(range(100))


def test_a_time_budget_lowers_the_steps_and_the_history_says_how_many():
    weight, step_loss = quadratic(delay=0.01)
    messages = []
    started = time.perf_counter()
    history = adam_cosine([weight], step_loss, 10_000, 0.1, "q", messages.append, seconds=1.0)
    assert 45 <= history[-1]["step"] <= 100  # about 1 s of 10 ms steps
    assert time.perf_counter() - started < 3
    assert any("steps fit in 1 s" in m for m in messages)


def test_a_generous_budget_keeps_the_steps():
    weight, step_loss = quadratic()
    history = adam_cosine([weight], step_loss, 120, 0.1, "q", lambda _: None, seconds=600)
    assert history[-1]["step"] == 120


def test_the_learning_rate_follows_the_cosine(monkeypatch):
    weight, step_loss = quadratic()
    optimisers, seen = [], []

    class Recorder(torch.optim.Adam):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            optimisers.append(self)

    monkeypatch.setattr(torch.optim, "Adam", Recorder)
    adam_cosine([weight], lambda s: (seen.append(optimisers[0].param_groups[0]["lr"]), step_loss(s))[1], 10, 0.5,
                "q", lambda _: None)
    assert seen == pytest.approx([0.25 * (1 + math.cos(math.pi * s / 10)) for s in range(10)])
