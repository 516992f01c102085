"""HopSkipJump (Chen, Jordan, Wainwright, IEEE S&P 2020), decision-based, targeted at the chosen camera.

Method: start from an image the detector already names as the target and walk it towards the input
along the decision boundary: a binary search to the boundary, a gradient-direction estimate from
the labels of ``init_eval`` (growing with the iterations, at most ``max_eval``) random
perturbations, and a geometric step; in the L-inf norm. The start is the first of the target
camera's attacker-split images (``target_samples``, resized to the input's size, nearest to the
input first) that the detector names as the target; where none is, the input is returned. It sees
only the oracle's decisions, never a score (threat model ``query``; knowledge ``target_samples``
and ``oracle``); the runner makes its images once per camera-model detector.

Budget and bound: the walk stops when ``queries`` distinct images have been asked for an input (the
iteration that would go past it is dropped) or when it is within ``epsilon`` 8-bit levels of the
input; its result is then projected onto that L-inf ball (default 4, as ``pgd`` and
``square-query``), so the output keeps the bound. HopSkipJump minimises the distance rather than
working within a radius: on natural images a walk that ends outside the ball loses part or all of
its effect in that projection, which is the attack's reality at this budget. The output is saved
as the target camera saves (8-bit, its JPEG tables). Deterministic for a given ``seed``.

The walk is ART's ``HopSkipJump``, resumed one iteration at a time (see ``attacks/_query.py`` for
why ART). Too slow for the default preset: about 115 s per 256 x 256 image (0.13 s a query) against
``bondi2017`` on 2 CPU cores with the default 1,000 queries; it is in the ``paper`` preset.
"""

from __future__ import annotations

import numpy as np

from spoc_bench.registry import register_attack

from ._gradient import LEVEL
from ._query import QueryAttack


class BudgetSpent(Exception):
    pass


@register_attack("hopskipjump-query")
class HopSkipJumpQuery(QueryAttack):
    """Targeted HopSkipJump on the measured detector's decisions, counted queries (query; 4/255, 1,000 queries)."""

    def __init__(self, epsilon: float = 4, queries: int = 1000, init_eval: int = 50, max_eval: int = 500,
                 seed: int = 0):
        if queries < 1 or epsilon <= 0 or not 0 < init_eval <= max_eval:
            raise ValueError("hopskipjump-query: epsilon > 0, queries >= 1 and 0 < init_eval <= max_eval")
        self.epsilon, self.queries, self.init_eval, self.max_eval, self.seed = epsilon, queries, init_eval, max_eval, seed

    def fit(self, target, target_samples=(), **knowledge) -> "HopSkipJumpQuery":
        super().fit(target, target_samples, **knowledge)
        self.starts_ = [item.pixels for item in target_samples]
        return self

    def perturb(self, image: np.ndarray) -> np.ndarray:
        from art.attacks.evasion import HopSkipJump

        self.spent_from_ = self.oracle_.queries
        try:
            current = self.start(image)
            walk = HopSkipJump(self.classifier(self.decisions, image.shape), targeted=True, norm=np.inf, max_iter=1,
                               max_eval=self.max_eval, init_eval=self.init_eval, init_size=1, verbose=False)
            while current is not None and np.abs(current - image).max() > self.epsilon * LEVEL:
                current = walk.generate(image, self.target_one_hot(), x_adv_init=current.copy(), resume=True)
        except BudgetSpent:
            pass
        return image if current is None else current

    def start(self, image: np.ndarray) -> np.ndarray | None:
        """The target's sample image nearest to ``image`` that the detector names as the target."""
        for candidate in [image, *sorted(self.resized_starts(image.shape), key=lambda c: np.abs(c - image).sum())]:
            if self.decisions(candidate).argmax() == self.target_index_:
                return candidate
        return None

    def resized_starts(self, shape) -> list[np.ndarray]:
        import torch
        import torch.nn.functional as F

        resized = [F.interpolate(torch.from_numpy(pixels.transpose(2, 0, 1)[None] / 255).float(), size=shape[2:],
                                 mode="bilinear", antialias=True, align_corners=False) for pixels in self.starts_]
        return [r.clamp(0, 1).numpy() for r in resized]

    def decisions(self, images: np.ndarray) -> np.ndarray:
        """One-hot of the detector's decision per image (no score); refuses to go past the budget."""
        if self.oracle_.queries - self.spent_from_ + len(images) > self.queries:
            raise BudgetSpent
        return np.eye(len(self.oracle_.classes), dtype=np.float32)[self.labels(images)]
