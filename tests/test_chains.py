"""Attack chains (``spectral-match+jpeg-mimic``): the parts in sequence, the last one's save, the
union of the knowledge and the strongest threat model."""

import numpy as np
import pytest
from typer.testing import CliRunner

import spoc_bench
from spoc_bench import chains
from spoc_bench.cli import app
from spoc_bench.images import read_image, to_tensor
from spoc_bench.registry import attacks
from spoc_bench.runner import Grid, Session

CHAIN = "spectral-match+jpeg-mimic"


def demo_session(demo_root):
    session = Session(Grid(["demo"], [], [], [], n=3, data_root=str(demo_root)), spoc_bench.cache.Cache())
    return session, session.dataset("demo")


def test_a_chain_equals_its_parts_applied_by_hand(demo_root):
    session, dataset = demo_session(demo_root)
    inputs = session.pick(dataset, "synthetic")
    group = session.attacked(dataset, CHAIN, "demo-B", inputs)
    first, last = attacks.build("spectral-match"), attacks.build("jpeg-mimic")
    for part in (first, last):
        part.fit("demo-B", **session._knowledge(dataset, part, "demo-B"))
    items = list(dataset.items(inputs.samples))
    by_hand = last.save(last(first(to_tensor([i.pixels for i in items]))), items)
    for sample, (data, container) in zip(group.samples, by_hand):
        pixels, saved_as, stored = read_image(sample.path)
        assert stored == data and saved_as == container and container.is_jpeg
    assert group.attack == CHAIN and group.threat_model == "black-box; saved as the target saves"


def test_the_last_part_decides_the_save_and_the_key_names_every_part(demo_root):
    session, dataset = demo_session(demo_root)
    inputs = session.pick(dataset, "synthetic")
    keys = {spec: session.attacked(dataset, spec, "demo-B", inputs).key
            for spec in (CHAIN, "spectral-match+identity", "spectral-match", "prnu-copy+jpeg-mimic")}
    assert len(set(keys.values())) == 4
    assert not chains.build("spectral-match+identity", attacks.build).saves_like_target
    assert chains.build(CHAIN, attacks.build).saves_like_target


def test_knowledge_is_the_union_and_the_threat_model_the_strongest():
    chain = chains.build("jpeg-mimic+pgd-transfer", attacks.build)
    assert chain.needs == {"target_samples", "surrogate"} and chain.threat_model == "transfer"
    assert chains.needs("identity+pgd-white-box") == {"target_samples", "detector"}
    assert chains.build("identity+pgd-white-box", attacks.build).threat_model == "white-box"
    assert chains.build("identity+identity", attacks.build).threat_model == "none"
    assert chains.strongest(["white-box", "query", "transfer", "black-box"]) == "white-box"
    assert chains.strongest(["black-box", "query", "transfer"]) == "query"
    assert Session.per_detector("jpeg-mimic+pgd-white-box") and not Session.per_detector(CHAIN)


def test_each_part_is_handed_only_what_it_declared():
    seen = {}

    class Recorder:
        def __init__(self, name, needs):
            self.name, self.needs, self.threat_model, self.saves_like_target, self.uses_target = (
                name, frozenset(needs), "black-box", False, True)

        def fit(self, target, **knowledge):
            seen[self.name] = set(knowledge)

    chain = chains.AttackChain([Recorder("a", {"target_samples"}), Recorder("b", {"surrogate"})])
    chain.fit("x", target_samples=[], surrogate=object())
    assert seen == {"a": {"target_samples"}, "b": {"surrogate"}}


@pytest.mark.parametrize("spec, message", [("spectral-match+jpeg-mimc", "unknown attack 'jpeg-mimc'. Did you mean 'jpeg-mimic'?"),
                                           ("spectral-match++jpeg-mimic", "has an empty part")])
def test_a_bad_chain_is_one_error_line(demo_root, tmp_path, spec, message):
    result = CliRunner().invoke(app, ["run", "--dataset", "demo", "--data-root", str(demo_root), "--attack", spec,
                                      "--detector", "jpeg-table", "--perturb", "none", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr


def test_perturbations_still_parse_their_chains():
    from spoc_bench.perturbations import parse

    assert str(parse(" resize:0.5 + jpeg:90 ")) == "resize:0.5+jpeg:90"
    assert np.isclose(parse("blur:1").level, 1)
