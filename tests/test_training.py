"""The shared training loops: Adam with a cosine decay and a time budget; SGD epochs that keep the best."""

import math
import time

import pytest
import torch

from spoc_bench.training import adam_cosine, sgd_epochs


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


def separable_classes(seed: int = 0):
    """Two well separated 2-d classes and a linear classifier."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.cat([torch.randn(64, 2, generator=generator) + 2, torch.randn(64, 2, generator=generator) - 2])
    return inputs, torch.arange(2).repeat_interleave(64), torch.nn.Linear(2, 2)


def test_sgd_epochs_decay_the_rate_for_the_last_third_and_keep_the_best_epoch():
    inputs, labels, net = separable_classes()
    optimiser = torch.optim.SGD([{"params": [net.weight], "scale": 0.5}, {"params": [net.bias]}], lr=0.1)
    rates, accuracies = [], iter([0.5, 0.9, 0.9, 0.7, 0.8, 0.6])

    def batches(epoch):
        rates.append([group["lr"] for group in optimiser.param_groups])
        yield from ((inputs[s:s + 32], labels[s:s + 32]) for s in range(0, 128, 32))

    def validate():
        return 0.5, next(accuracies), {"norm": 1}

    messages = []
    kept = sgd_epochs(net, optimiser, 6, batches, validate, "toy", messages.append, time.perf_counter())
    assert sum(rates, []) == pytest.approx([0.05, 0.1] * 4 + [0.005, 0.01] * 2)
    assert kept.epoch == 2 and kept.accuracy == 0.9  # the first of equal accuracies at equal loss
    assert [h["epoch"] for h in kept.history] == list(range(1, 7)) and kept.history[0]["norm"] == 1
    assert kept.manifest()["best_epoch"] == 2 and "norm 1" in messages[0]
    assert not torch.equal(kept.state["weight"], net.weight.detach())  # the kept epoch's weights, not the last


def test_sgd_epochs_learn_and_stop_after_max_steps():
    inputs, labels, net = separable_classes()
    optimiser = torch.optim.SGD(net.parameters(), lr=0.5)
    steps = []

    def batches(epoch):
        for s in range(0, 128, 32):
            steps.append(s)
            yield inputs[s:s + 32], labels[s:s + 32]

    def validate():
        with torch.no_grad():
            logits = net(inputs)
        return torch.nn.functional.cross_entropy(logits, labels).item(), (logits.argmax(1) == labels).float().mean().item(), {}

    kept = sgd_epochs(net, optimiser, 10, batches, validate, "toy", lambda _: None, time.perf_counter())
    assert kept.accuracy >= 0.95 and kept.history[-1]["train_loss"] < kept.history[0]["train_loss"]
    steps.clear()
    stopped = sgd_epochs(net, optimiser, 10, batches, validate, "toy", lambda _: None, time.perf_counter(), max_steps=6)
    assert len(steps) == 6 and len(stopped.history) == 2


def test_the_loops_compute_in_the_precision_asked():
    inputs, labels, net = separable_classes()
    seen = []
    net.register_forward_hook(lambda module, args, output: seen.append(output.dtype))
    adam_cosine(net.parameters(), lambda s: torch.nn.functional.cross_entropy(net(inputs), labels), 2, 0.1, "q",
                lambda _: None, precision="bf16")
    sgd_epochs(net, torch.optim.SGD(net.parameters(), lr=0.1), 1, lambda e: [(inputs, labels)],
               lambda: (0.5, 0.5, {}), "toy", lambda _: None, time.perf_counter(), precision="bf16")
    assert seen == [torch.bfloat16] * 3
    adam_cosine(net.parameters(), lambda s: torch.nn.functional.cross_entropy(net(inputs), labels), 1, 0.1, "q",
                lambda _: None)
    assert seen[-1] == torch.float32
