"""JPEG ballistics (Farid 2006/2008; Kee, Johnson, Farid 2011): a camera model is told by the
quantisation tables and chroma subsampling it writes.

``fit`` counts, for every container signature (all tables + subsampling) in the defender's training
images, how often each camera wrote it. ``predict`` returns, for an image's signature, the
camera frequencies (Laplace-smoothed); an unseen signature gets the nearest known one by the L1
distance of the tables (an unseen non-JPEG gets the training prior). Pixels are never looked at.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Sequence

import numpy as np

from spoc_bench.contracts import Dataset, Detector
from spoc_bench.images import Container
from spoc_bench.registry import register_detector


@register_detector("jpeg-table")
class JpegTable(Detector):
    """Camera model from JPEG quantisation tables and chroma subsampling (Farid's JPEG ballistics)."""

    task = "camera"
    uses_networks = False

    def __init__(self, weights: str = "fit", smoothing: float = 1.0, split: str = "defender-train"):
        if weights != "fit":
            raise ValueError(f"jpeg-table has no pretrained weights (tag {weights!r}); it is fitted with weight tag 'fit'")
        self.weights, self.smoothing, self.split = weights, smoothing, split

    @property
    def classes(self) -> tuple[str, ...]:
        return self.classes_

    def fit(self, dataset: Dataset) -> "JpegTable":
        counts: dict[tuple, Counter] = defaultdict(Counter)
        samples = [s for s in dataset.samples(self.split) if s.source == "real" and s.camera]
        for item in self.fitting(dataset, samples, [], "table counts"):
            counts[signature(item.container)][item.sample.camera] += 1
        if not counts:
            raise ValueError(f"jpeg-table: no real images with a camera label in split {self.split!r} of {dataset.name!r}")
        self.classes_ = tuple(sorted({camera for counter in counts.values() for camera in counter}))
        self.table_ = {sig: self._smoothed(counter) for sig, counter in counts.items()}
        self.prior_ = self._smoothed(sum(counts.values(), Counter()))
        return self

    def _smoothed(self, counter: Counter) -> np.ndarray:
        counts = np.array([counter[c] for c in self.classes_], dtype=float) + self.smoothing
        return counts / counts.sum()

    def predict(self, images, containers: Sequence[Container] | None = None):
        import torch

        if containers is None:
            containers = [Container()] * len(images)
        return torch.tensor(np.stack([self._lookup(signature(c)) for c in containers]), dtype=torch.float32)

    def _lookup(self, key: tuple) -> np.ndarray:
        if key in self.table_:
            return self.table_[key]
        if key[0] is None:
            return self.prior_
        known = [k for k in self.table_ if k[0] is not None and len(k[0]) == len(key[0])]
        if not known:
            return self.prior_
        nearest = min(known, key=lambda k: np.abs(np.subtract(k[0], key[0])).sum() + (k[1] != key[1]))
        return self.table_[nearest]


def signature(container: Container) -> tuple:
    return (container.qtables if container.is_jpeg else None, container.subsampling)
