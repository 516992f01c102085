"""Attack chains: ``spectral-match+jpeg-mimic`` runs its parts in sequence, with the perturbations'
syntax for chains (:func:`spoc_bench.perturbations.chain_parts`); each part may carry its weights
tag (``spoc:simcam-alpha-1+jpeg-mimic``).

- Pixels: the output of one part (float, in [0, 1], same size) is the input of the next; no 8-bit
  rounding or compression in between.
- Saving: the last part's :meth:`~spoc_bench.contracts.Attack.save` decides the file, so the chain
  ``saves_like_target`` exactly when its last part does (``spectral-match+jpeg-mimic`` saves as the
  target saves; a chain ending in ``identity`` saves losslessly).
- Knowledge: ``needs`` is the union of the parts' needs; the runner hands the chain that union and
  the chain hands each part only what that part declared.
- Threat model: the strongest of the parts', in the order of
  :data:`~spoc_bench.contracts.THREAT_MODELS` (white-box > query > transfer > black-box > none): a
  chain is as informed as its best-informed part.
- Cache keys: the chain's ``name`` joins its parts' names and its ``config`` lists each part's name
  and configuration; its ``weights_id`` joins the parts'.
"""

from __future__ import annotations

from typing import Callable, Sequence

from .contracts import THREAT_MODELS, Attack
from .perturbations import CHAIN, chain_parts
from .registry import attacks, split_spec


def is_chain(spec: str) -> bool:
    return CHAIN in spec


def part_specs(spec: str) -> list[str]:
    """The parts of an attack spec (one part where it is not a chain); an empty part is refused."""
    parts = chain_parts(spec)
    if not all(parts):
        raise ValueError(f"attack chain {spec!r} has an empty part; join attack names with {CHAIN!r}, "
                         f"e.g. spectral-match+jpeg-mimic")
    return parts


def needs(spec: str) -> frozenset:
    """What the attack (or every part of the chain) ``spec`` declares it needs."""
    return frozenset().union(*(attacks.get(split_spec(part)[0]).needs for part in part_specs(spec)))


def strongest(threat_models: Sequence[str]) -> str:
    return max(threat_models, key=THREAT_MODELS.index)


def build(spec: str, build_part: Callable[[str], Attack]) -> Attack:
    """The attack named by ``spec``: ``build_part(spec)``, or a chain of ``build_part`` of each part."""
    if not is_chain(spec):
        return build_part(spec)
    return AttackChain([build_part(part) for part in part_specs(spec)])


class AttackChain(Attack):
    """Attacks applied one after the other; the last one saves (see the module's docstring)."""

    def __init__(self, parts: Sequence[Attack]):
        self.parts = list(parts)
        self.name = CHAIN.join(part.name for part in self.parts)
        self.threat_model = strongest([part.threat_model for part in self.parts])
        self.needs = frozenset().union(*(part.needs for part in self.parts))
        self.saves_like_target = self.parts[-1].saves_like_target
        self.uses_target = any(part.uses_target for part in self.parts)
        self.uses_networks = any(getattr(part, "uses_networks", True) for part in self.parts)

    def config(self) -> dict:
        return {"parts": [{"name": part.name, **part.config()} for part in self.parts]}

    def weights_id(self, target: str) -> str:
        return CHAIN.join(part.weights_id(target) for part in self.parts)

    def fit(self, target: str, **knowledge) -> "AttackChain":
        self.target = target
        for part in self.parts:
            part.fit(target, **{need: value for need, value in knowledge.items() if need in part.needs})
        return self

    def forward(self, images):
        for part in self.parts:
            images = part(images)
        return images

    def save(self, images, inputs):
        return self.parts[-1].save(images, inputs)
