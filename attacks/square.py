"""Square Attack (Andriushchenko, Croce, Flammarion, Hein, ECCV 2020), score-based, targeted at the
chosen camera.

Method: random search in the L-inf ball of radius ``epsilon`` (8-bit levels; default 4, as ``pgd``):
vertical stripes of +-epsilon first, then squares of +-2 epsilon whose side shrinks with the
iterations, each kept where it lowers the margin log p(best other class) - log p(target); an image
stops as soon as the detector names the target. It sees the measured detector only through the
oracle's probabilities (threat model ``query``; knowledge ``target_samples``, for the target's
container, and ``oracle``); the runner makes its images once per camera-model detector. At most
``queries`` distinct images are asked per input (ART asks again for the image it holds; the oracle
answers that from memory). The output is saved as the target camera saves (8-bit, its JPEG tables):
the rounding and compression are part of the attack and may undo part of it. Deterministic for a
given ``seed``.

The search is ART's ``SquareAttack`` (see ``attacks/_query.py`` for why ART). Too slow for the
default preset: about 150 s per 256 x 256 image (0.13 s a query) against ``bondi2017`` on 2 CPU cores with the
default 1,000 queries; it is in the ``paper`` preset.
"""

from __future__ import annotations

import numpy as np

from spoc_bench.registry import register_attack

from ._gradient import LEVEL
from ._query import QueryAttack

ASKED_BEFORE_THE_SEARCH = 2  # the input, and the input with its first stripes


@register_attack("square-query")
class SquareQuery(QueryAttack):
    """Targeted Square Attack on the measured detector's scores, counted queries (query; 4/255, 1,000 queries)."""

    def __init__(self, epsilon: float = 4, queries: int = 1000, seed: int = 0):
        if queries <= ASKED_BEFORE_THE_SEARCH or epsilon <= 0:
            raise ValueError(f"square-query: epsilon > 0 and queries > {ASKED_BEFORE_THE_SEARCH}")
        self.epsilon, self.queries, self.seed = epsilon, queries, seed

    def perturb(self, image: np.ndarray) -> np.ndarray:
        from art.attacks.evasion import SquareAttack

        search = SquareAttack(self.classifier(self.scores, image.shape), norm=np.inf, eps=self.epsilon * LEVEL,
                              max_iter=self.queries - ASKED_BEFORE_THE_SEARCH, adv_criterion=self.named_target,
                              loss=self.margin, nb_restarts=1, verbose=False)
        return search.generate(image, self.target_one_hot())

    def named_target(self, probabilities: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return probabilities.argmax(axis=1) == targets.argmax(axis=1)

    def margin(self, images: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """log p(best other class) - log p(target): what the search lowers."""
        logs = np.log(np.clip(self.scores(images), 1e-12, None))
        target = logs[:, self.target_index_].copy()
        logs[:, self.target_index_] = -np.inf
        return logs.max(axis=1) - target
