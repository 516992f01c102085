"""The contracts every plugin implements: Dataset, Detector, Attack.

Like scikit-learn estimators, every parameter of a plugin is an explicit ``__init__`` keyword kept
as an attribute of the same name, so its configuration can be printed, hashed and rebuilt.
"""

from __future__ import annotations

import inspect
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from .images import Container, ImageError, encode, read_image, to_uint8
from .progress import bar

SPLITS = ("defender-train", "defender-test", "attacker")
SOURCES = ("real", "synthetic", "attacked")
# in order of what the attacker knows of the measured detector: nothing (and no attack), nothing,
# a surrogate of its own, the detector's answers to queries, the detector itself
THREAT_MODELS = ("none", "black-box", "transfer", "query", "white-box")
ATTACK_NEEDS = frozenset({"target_samples", "synthetic_samples", "surrogate", "oracle", "detector"})


class Plugin:
    name: str = "?"  # set by the registry decorator
    cpus: int = 1  # CPU cores one task of this plugin takes on a Ray worker (``--executor ray``)
    gpus: float = 1.0  # the share of a GPU one task takes on a GPU run, where the plugin runs on the device
    uses_networks: bool = True  # False: no network computes in it, so the run's precision changes none of its results

    def config(self) -> dict:
        """The ``__init__`` keywords and their current values (what rebuilds this plugin)."""
        parameters = inspect.signature(type(self).__init__).parameters.values()
        named = (p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        return {name: getattr(self, name) for name in named if name != "self"}

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({arguments})"


# --------------------------------------------------------------------------------------- datasets
@dataclass(frozen=True)
class Sample:
    """One image of a dataset, not yet read. ``stamp`` changes when its content may have changed."""

    id: str
    split: str
    source: str  # "real" or "synthetic"
    camera: str | None = None  # camera model of a real image
    device: str | None = None
    scene: str | None = None
    generator: str | None = None  # generator family of a synthetic image
    path: Path | None = None
    stamp: str = ""


@dataclass
class Item:
    """A sample with its pixels (``uint8 [H, W, 3]``), container facts and the file's bytes."""

    sample: Sample
    pixels: np.ndarray
    container: Container
    data: bytes = b""


class Dataset(Plugin):
    """Named splits of samples. Attacker images never share a device or a scene with the defender's."""

    version = "1"

    def prepare(self) -> None:
        """Generate or check the files (called once before anything is read)."""

    def samples(self, split: str) -> list[Sample]:
        raise NotImplementedError

    def read(self, sample: Sample) -> Item:
        return Item(sample, *read_image(sample.path))

    def split_report(self) -> dict | None:
        """For a dataset of camera devices: the protocol and the devices each split holds (see
        ``datasets/_layout.split_report``); None where splits are not made by device."""
        return None

    def items(self, samples: Sequence[Sample], skipped: list | None = None) -> Iterator[Item]:
        """Read ``samples``; unreadable files are recorded in ``skipped`` as (path, reason) or raise."""
        for sample in samples:
            try:
                yield self.read(sample)
            except ImageError as error:
                if skipped is None:
                    raise
                skipped.append((error.path, error.reason))


def check_disjoint(dataset: Dataset) -> None:
    """Refuse a dataset whose attacker split shares a device or a scene with a defender split, or
    whose cross-device defender splits share a device."""
    attacker = dataset.samples("attacker")
    defender = [s for split in ("defender-train", "defender-test") for s in dataset.samples(split)]
    for field in ("device", "scene"):
        shared = {getattr(s, field) for s in attacker} & {getattr(s, field) for s in defender} - {None}
        if shared:
            raise ValueError(
                f"dataset {dataset.name!r}: attacker and defender splits share {field}s "
                f"{sorted(shared)[:5]}; the attacker must not hold the defender's data"
            )
    report = dataset.split_report() or {}
    if report.get("protocol") == "cross-device":
        devices = report["devices"]
        shared = set(devices["defender-train"]) & set(devices["defender-test"])
        if shared:
            raise ValueError(f"dataset {dataset.name!r}: the cross-device protocol's train and test splits share "
                             f"devices {sorted(shared)[:5]}")


# -------------------------------------------------------------------------------------- detectors
class Detector(Plugin):
    """``predict(images) -> probabilities [N, len(classes)]``; differentiable where the model is."""

    task: str = "camera"  # "camera" or "synthetic" (classes are then ("real", "synthetic"))
    min_size: int = 1  # smallest height and width the detector accepts
    weights: str = "fit"  # the weights tag; "fit" means fitted by ``fit`` on the dataset
    differentiable: bool = False  # predict passes gradients back to its input images (white-box attacks need it)

    @property
    def classes(self) -> tuple[str, ...]:
        raise NotImplementedError

    @property
    def needs_fit(self) -> bool:
        return self.weights == "fit"

    def weights_id(self) -> str:
        """sha256 of the weights (for cache keys); empty where fitted on the dataset."""
        return ""

    def fit(self, dataset: Dataset) -> "Detector":
        return self

    def fitted_state(self) -> dict | None:
        """What ``fit`` learnt, as numpy arrays by name, for the runner to cache on disk and hand to
        :meth:`load_fitted` in a later run; None where it is not cacheable (then every run fits)."""
        return None

    def load_fitted(self, state: dict) -> "Detector":
        """Restore what :meth:`fitted_state` returned, instead of calling ``fit``."""
        raise NotImplementedError

    def fitting(self, dataset: Dataset, samples: Sequence[Sample], skipped: list, what: str) -> Iterator[Item]:
        """The items ``fit`` reads, with the bar of this detector's fitting (``what``: what it fits)."""
        return bar(dataset.items(samples, skipped), f"fit {self.name} {what}", len(samples), "img")

    def predict(self, images, containers: Sequence[Container] | None = None):
        raise NotImplementedError

    def log_predict(self, images, containers: Sequence[Container] | None = None):
        """The log of :meth:`predict`, what gradient attacks follow. A differentiable detector returns
        a log-softmax here: the log of a probability that rounds to 0 has no gradient."""
        return self.predict(images, containers).clamp_min(1e-12).log()


# ---------------------------------------------------------------------------------------- attacks
class Attack(Plugin):
    """Turns images into images of the same size that a detector should attribute to ``target``.

    Subclasses override :meth:`forward` (float pixels in, float pixels out) and, where they need
    it, :meth:`fit`. ``needs`` declares what the attack receives: ``target_samples`` (the target
    camera's attacker-split images), ``synthetic_samples``, ``surrogate`` (a detector the attacker
    trained), ``oracle`` (an :class:`Oracle` of the attacked detector: query or white-box only),
    ``detector`` (the attacked detector itself: white-box only). The runner hands an attack
    nothing it did not declare.
    """

    threat_model: str = "black-box"
    needs: frozenset = frozenset()
    saves_like_target: bool = False  # write the output with the target camera's JPEG settings
    uses_target: bool = True  # False: the output does not depend on the target (computed once)
    version: str = "1"  # raise it when a change of code changes the attack's images (their cache key)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.threat_model not in THREAT_MODELS:
            raise TypeError(f"{cls.__name__}: threat_model must be one of {THREAT_MODELS}")
        if not set(cls.needs) <= ATTACK_NEEDS:
            raise TypeError(f"{cls.__name__}: unknown needs {set(cls.needs) - ATTACK_NEEDS}")
        if "detector" in cls.needs and cls.threat_model != "white-box":
            raise TypeError(f"{cls.__name__}: only a white-box attack may receive the attacked detector")
        if "oracle" in cls.needs and cls.threat_model not in ("query", "white-box"):
            raise TypeError(f"{cls.__name__}: only a query or white-box attack may query the attacked detector")

    target: str | None = None
    target_container: Container | None = None

    def weights_id(self, target: str) -> str:
        """sha256 of the weights used for ``target`` (for cache keys); empty where there are none."""
        return ""

    def fit(self, target: str, target_samples: Sequence[Item] = (), **knowledge) -> "Attack":
        self.target = target
        self.target_container = typical_container([i.container for i in target_samples])
        return self

    def forward(self, images):
        """Float pixels ``[N, 3, H, W]`` in [0, 1] -> attacked pixels of the same shape."""
        raise NotImplementedError

    def __call__(self, images):
        import torch

        with torch.no_grad():
            attacked = self.forward(images)
        if attacked.shape != images.shape:
            raise RuntimeError(f"attack {self.name!r} changed the image size: {tuple(images.shape)} -> {tuple(attacked.shape)}")
        return attacked.clamp(0, 1)

    def save(self, images, inputs: Sequence[Item]) -> list[tuple[bytes, Container]]:
        """Encode attacked pixels as the attacker saves them: 8-bit, in :meth:`output_container`.

        An image whose pixels and container did not change keeps its input file's bytes, when its
        format is one :func:`encode` writes (so the bytes are in the format the suffix names).
        """
        saved = []
        for pixels, item in zip(to_uint8(images), inputs):
            container = self.output_container(item.container)
            unchanged = (item.data and container == item.container and container.format == container.saved_format
                         and np.array_equal(pixels, item.pixels))
            saved.append((item.data if unchanged else encode(pixels, container), container))
        return saved

    def output_container(self, container: Container) -> Container:
        if self.saves_like_target and self.target_container is not None:
            return self.target_container
        return container.lossless()


class Oracle:
    """What a query attack is handed of the measured detector: its answers, counted; never its
    weights or gradients (answers are NumPy arrays computed without autograd).

    ``probabilities(images)`` gives the scores (score-based attacks), ``predict(images)`` the class
    indices (decision-based attacks); images are float ``[N, 3, H, W]`` in [0, 1], with the container
    facts the attacker will write where it writes any. Each distinct image asked counts one query in
    ``queries``; asking again for an image already asked is answered from memory, as an attacker
    keeps its answers, and not counted.
    """

    def __init__(self, detector: Detector):
        self.classes: tuple[str, ...] = tuple(detector.classes)
        self.queries = 0
        self._predict = detector.predict
        self._answers: dict[bytes, np.ndarray] = {}

    def probabilities(self, images, containers: Sequence[Container] | None = None) -> np.ndarray:
        import hashlib

        import torch

        pixels = np.ascontiguousarray(np.asarray(images, dtype=np.float32))
        facts = list(containers) if containers is not None else [None] * len(pixels)
        keys = [hashlib.sha1(image.tobytes() + repr(fact).encode()).digest() for image, fact in zip(pixels, facts)]
        new = list({key: i for i, key in enumerate(keys) if key not in self._answers}.values())
        if new:
            with torch.no_grad():
                asked = self._predict(torch.from_numpy(pixels[new]), None if containers is None else [facts[i] for i in new])
            self._answers.update(zip((keys[i] for i in new), asked.detach().cpu().double().numpy()))
            self.queries += len(new)
        return np.stack([self._answers[key] for key in keys])

    def predict(self, images, containers: Sequence[Container] | None = None) -> np.ndarray:
        return self.probabilities(images, containers).argmax(axis=1)


def typical_container(containers: Sequence[Container]) -> Container | None:
    """The most common container facts among a camera's images (how that camera saves)."""
    if not containers:
        return None
    return Counter(containers).most_common(1)[0][0]
