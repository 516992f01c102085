"""The query attacks (square-query, hopskipjump-query): they see the measured detector only through
its oracle, keep their bound and budget, and raise the target's probability."""

import numpy as np
import pytest
import torch

from spoc_bench.attacks._gradient import LEVEL
from spoc_bench.contracts import Item, Oracle
from spoc_bench.images import Container
from spoc_bench.registry import attacks, register_detector

from test_gradient_attacks import ColourClassifier, GradientTrap, images, run_demo

QUERY_ATTACKS = ("square-query", "hopskipjump-query")
TRAPPED = GradientTrap()  # the model behind OracleOnly, out of the attacks' reach
RUNNER_READS = {"name", "task", "classes", "differentiable", "weights", "needs_fit", "weights_id", "config",
                "fit", "fitted_", "min_size", "device", "predict", "uses_networks",  # building, keying, fitting, predicting
                "log_predict"}  # and what a white-box attack follows


@register_detector("test-oracle-only")
class OracleOnly(ColourClassifier):
    """A camera classifier whose gradients raise, and so does reading any attribute but those the
    runner reads to build, key and call it (the oracle calls ``predict`` and reads ``classes``)."""

    def __init__(self):
        """Holds nothing of its own (not ColourClassifier's model): every answer comes from TRAPPED."""

    def __getattribute__(self, name):
        if name.startswith("__") or name in RUNNER_READS:
            return super().__getattribute__(name)
        raise AssertionError(f"detector.{name} was read: beyond the oracle")

    def weights_id(self):
        return "oracle-only"

    def predict(self, images, containers=None):
        return TRAPPED.predict(images, containers)


def target_samples(detector, target_index=2, n=4):
    """Images the detector names as the target, as the attacker's sample items (for HopSkipJump's start)."""
    pool = images(64, 32, seed=5)
    named = pool[detector.predict(pool).argmax(dim=1) == target_index][:n]
    return [Item(None, (p.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), Container()) for p in named]


def attacked(name, detector, inputs, **options):
    oracle = Oracle(detector)
    attack = attacks.build(name, queries=300, **options).fit("demo-C", target_samples(detector), oracle=oracle)
    return attack(inputs), oracle


@pytest.mark.parametrize("name", QUERY_ATTACKS)
def test_contract_same_size_in_range_within_epsilon_and_budget_deterministic(name):
    detector, inputs = ColourClassifier(), images(4, 32, seed=1)
    outputs, oracle = attacked(name, detector, inputs)
    assert outputs.shape == inputs.shape and outputs.dtype == inputs.dtype
    assert outputs.min() >= 0 and outputs.max() <= 1
    assert (outputs - inputs).abs().max() <= 4 * LEVEL + 1e-6
    assert 0 < oracle.queries <= 4 * 300
    assert torch.equal(outputs, attacked(name, detector, inputs)[0])
    assert not torch.equal(outputs, attacked(name, detector, inputs, seed=1)[0])


@pytest.mark.parametrize("name", QUERY_ATTACKS)
def test_the_attack_raises_the_target_s_probability(name):
    detector, inputs = ColourClassifier(), images(8, 32, seed=1)
    undecided = detector.predict(inputs).argmax(dim=1) != 2
    before = detector.predict(inputs)[undecided, 2]
    after = detector.predict(attacked(name, detector, inputs, epsilon=8)[0])[undecided, 2]
    assert (after >= before - 1e-6).all()
    assert after.mean() > before.mean() + 0.05, (before.mean(), after.mean())


def test_the_oracle_counts_distinct_images_and_gives_no_gradients():
    oracle, inputs = Oracle(ColourClassifier()), images(3, 16).requires_grad_(True)
    answers = oracle.probabilities(inputs.detach().numpy())
    assert isinstance(answers, np.ndarray) and answers.shape == (3, 3) and oracle.queries == 3
    oracle.predict(inputs.detach().numpy()[:2])
    assert oracle.queries == 3
    assert not {name for name in vars(oracle) if not name.startswith("_")} - {"classes", "queries"}


def test_the_runner_hands_only_the_oracle_and_reports_queries(demo_root, tmp_path):
    result = run_demo(demo_root, tmp_path, [*QUERY_ATTACKS, "jpeg-mimic+square-query"], ["test-oracle-only", "spectrum"])
    attacked_rows = result.rows[result.rows.source == "attacked"]
    assert set(attacked_rows.attack) == {*QUERY_ATTACKS, "jpeg-mimic+square-query"}
    assert set(attacked_rows.detector) == {"test-oracle-only"}  # spectrum: no camera to aim at
    assert set(attacked_rows.threat_model) == {"query; saved as the target saves"}
    assert attacked_rows.queries.between(1, 1000).all() and len(attacked_rows) == 9
    assert result.manifest["skipped"]["by_reason"]["query attack skipped: the detector is not a camera-model classifier"] == 3
    assert result.rows[result.rows.source != "attacked"].queries.isna().all()
    with pytest.raises(AssertionError, match="gradients were taken through the measured detector"):
        run_demo(demo_root, tmp_path, ["pgd-white-box"], ["test-oracle-only"])


def test_only_the_paper_preset_runs_the_query_attacks():
    from spoc_bench.presets import QUERY_ATTACKS as PRESET_QUERY_ATTACKS, preset

    assert set(PRESET_QUERY_ATTACKS) == set(QUERY_ATTACKS) and set(QUERY_ATTACKS) <= set(preset("paper")["attacks"])
    assert not set(QUERY_ATTACKS) & (set(preset("smoke")["attacks"]) | set(preset("default")["attacks"]))
