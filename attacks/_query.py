"""What the query attacks (``square-query``, ``hopskipjump-query``) share: the attack class that
holds the oracle of the measured detector, aims at the target camera, attacks one image at a time
with a fixed seed, and keeps the output in the L-inf ball of ``epsilon`` 8-bit levels.

The searches themselves are adversarial-robustness-toolbox's (ART): it installs beside this
project's CPU torch and asks nothing of a model but a function from images to answers, which is
what the oracle gives. torchattacks is not used: it depends on torchvision, whose PyPI build is
CUDA and does not load beside this CPU torch ("operator torchvision::nms does not exist").
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Sequence

import numpy as np

from spoc_bench.contracts import Attack, Item, Oracle

from ._gradient import LEVEL


@contextmanager
def seeded(seed: int):
    """NumPy's global random state (where ART draws) set to ``seed``, and restored afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


class QueryAttack(Attack):
    """A targeted attack that sees the measured detector only through its oracle (threat model
    ``query``); subclasses set ``epsilon``, ``queries`` (the budget per image) and ``seed``, and
    override :meth:`perturb` (one image ``[1, 3, H, W]`` in, one out)."""

    threat_model = "query"
    needs = frozenset({"target_samples", "oracle"})
    saves_like_target = True
    uses_target = True

    def fit(self, target: str, target_samples: Sequence[Item] = (), oracle: Oracle | None = None,
            **knowledge) -> "QueryAttack":
        super().fit(target, target_samples)
        if oracle is None:
            raise ValueError(f"{self.name}: fit needs the oracle of the attacked detector")
        if target not in oracle.classes:
            raise ValueError(f"{self.name}: target {target!r} is not among the detector's classes {list(oracle.classes)}")
        self.oracle_, self.target_index_ = oracle, oracle.classes.index(target)
        return self

    def forward(self, images):
        import torch

        outputs = []
        for image in images.detach().cpu().numpy().astype(np.float32):
            with seeded(self.seed):
                adversarial = self.perturb(image[None])
            bound = self.epsilon * LEVEL
            outputs.append(np.clip(np.clip(adversarial, image - bound, image + bound), 0, 1))
        return torch.from_numpy(np.concatenate(outputs)).to(images.dtype)

    def scores(self, images: np.ndarray) -> np.ndarray:
        """The oracle's probabilities for ``images`` in the target's container facts (score-based)."""
        return self.oracle_.probabilities(images, self.containers(len(images)))

    def labels(self, images: np.ndarray) -> np.ndarray:
        """The oracle's decisions for ``images`` in the target's container facts (decision-based)."""
        return self.oracle_.predict(images, self.containers(len(images)))

    def containers(self, n: int):
        """What the output's file will claim (the target's JPEG tables), where the attack knows it."""
        return None if self.target_container is None else [self.target_container] * n

    def target_one_hot(self) -> np.ndarray:
        return np.eye(len(self.oracle_.classes), dtype=np.float32)[[self.target_index_]]

    def classifier(self, answers, shape):
        """ART's view of the oracle: a black box from images ``[N, 3, H, W]`` in [0, 1] to ``answers``."""
        from art.estimators.classification import BlackBoxClassifierNeuralNetwork

        return BlackBoxClassifierNeuralNetwork(answers, tuple(shape[1:]), len(self.oracle_.classes),
                                               clip_values=(0.0, 1.0))

    def perturb(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError
