"""The runner: the whole data flow of a benchmark in one place.

    Dataset --samples--> Attack.fit (target camera's attacker-split images)
       +--synthetic inputs--> Attack --attacked images (cached files)--+
       +--real test images-------------------------------------------> Perturbation
                                                    Detector.predict --> per-image rows (cached)
                                          metrics with bootstrap CIs --> summary, tables, manifest

Each group of images (real test images, synthetic inputs, one attack's output for one target) is
identified by a key over everything that determines it; so are the rows a detector gives it under a
perturbation. Finished keys are read back, never recomputed; a killed run resumes at the first
missing key.
"""

from __future__ import annotations

import platform
import time
from collections import Counter, OrderedDict, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from . import cache as cache_module, chains, precision as precision_module
from .contracts import Attack, Dataset, Detector, Item, Oracle, Sample, check_disjoint
from .executors import build_executor
from .html import write_report
from .images import ImageError, atomic_write, decode, read_image, to_tensor
from .metrics import VERSION as METRICS_VERSION, psnr, ssim, summarise
from .perturbations import Perturbation, parse, parse_list
from .presets import preset as preset_grid
from .progress import bar, shown
from .provenance import provenance
from .registry import attacks, datasets, detectors, split_spec
from .weights import recorded
from .tables import write_tables

BATCH_SIZE = 32
ATTACKED_FILE_NAMES = "escaped"  # part of the attacked images' cache key: how their files are named
DECODED_IMAGES_KEPT = 4096  # about 0.8 GB at 256 x 256


@dataclass
class Grid:
    datasets: list[str]
    attacks: list[str]
    detectors: list[str]
    perturbations: list[Perturbation]
    targets: list[str] | None = None
    n: int | None = None
    seed: int = 0
    device: str = "cpu"
    precision: str = precision_module.DEFAULT  # bf16 or fp32 once resolved (auto: what the device does natively)
    data_root: str | None = None  # passed to each dataset as ``root``
    dataset_options: dict = field(default_factory=dict)  # other dataset keywords


@dataclass
class Group:
    """Images that go through the detectors together: one source, one attack, one target."""

    source: str  # real | synthetic | attacked
    samples: list[Sample]
    key: str
    attack: str = ""
    threat_model: str = ""
    target: str = ""
    quality: pd.DataFrame | None = None  # attacked: input_id, psnr, ssim and the file's path per image
    detector: str = ""  # white-box: the detector spec whose gradients made these images (only it sees them)


@dataclass
class Result:
    rows: pd.DataFrame
    summary: pd.DataFrame
    out: Path | None
    manifest: dict = field(default_factory=dict)


def resolve_grid(preset: str | None = "default", **overrides) -> Grid:
    settings = preset_grid(preset or "default")
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if settings.get("n") is not None and (not isinstance(settings["n"], int) or settings["n"] < 1):
        raise ValueError(f"n={settings['n']!r}: give a whole number of images >= 1 (or None for all)")
    if not isinstance(settings.get("seed", 0), int) or settings.get("seed", 0) < 0:
        raise ValueError(f"seed={settings['seed']!r}: give a whole number >= 0")
    perturbations = settings.pop("perturbations")
    if isinstance(perturbations, str):
        perturbations = parse_list(perturbations)
    settings["perturbations"] = [p if isinstance(p, Perturbation) else parse(p) for p in perturbations]
    for kind in ("datasets", "attacks", "detectors", "targets"):
        if isinstance(settings.get(kind), str):
            settings[kind] = [settings[kind]]
    settings["precision"] = precision_module.resolve(settings.get("precision", precision_module.DEFAULT),
                                                     settings.get("device", "cpu"))
    return Grid(**settings)


def run(preset: str | None = "default", *, out=None, cache=None, executor: str = "local", address: str | None = None,
        approve=None, progress: bool = True, **overrides) -> Result:
    """Run a grid and write its rows, summary tables and manifest to ``out`` (when given).

    ``spoc_bench.run(attacks=[...], detectors=[...], perturbations="none,jpeg:90", n=50)``; keywords
    are the fields of :class:`Grid` and replace the preset's. ``executor``: ``local`` or ``ray``
    (on the Ray cluster at ``address``, else a local one). ``approve(cost)``, where given, sees the
    grid's :class:`~spoc_bench.cost.Cost` before any attack or detection and may raise to stop.
    ``progress=False`` hides every stage's bar (:mod:`spoc_bench.progress`).
    """
    grid = resolve_grid(preset, **overrides)
    check_names(grid)
    session, workers = Session(grid, cache_module.Cache(cache)), build_executor(executor, address)
    started = time.perf_counter()
    with shown(progress):  # every stage's bar: rendering, fitting, attacking, detecting
        plans = [session.plan(name) for name in grid.datasets]
        if approve is not None:
            approve(estimate(plans, grid))
        with workers:
            attacked = iter(workers.map(session, "attacked", [j for p in plans for j in p.attacks], "attack"))
            jobs = [job for plan in plans for job in plan.cells([next(attacked) for _ in plan.attacks])]
            frames = workers.map(session, "detect", jobs, description="detect")
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    summary = session.summary(rows)
    session.timings["total"] = time.perf_counter() - started
    manifest = {**session.manifest(), "executor": {"name": executor, "address": address}}
    if out is not None:
        out = Path(out)
        write_outputs(out, rows, summary, manifest, session.dataset)
    return Result(rows, summary, out, manifest)


@dataclass
class Plan:
    """One dataset's work: its real and synthetic groups, the attack jobs, then the cells."""

    dataset: str
    reals: Group
    inputs: Group
    attacks: list[tuple]  # (dataset, attack spec, target, inputs[, detector]) for Session.attacked
    detectors: list[str]
    perturbations: list[Perturbation]

    def cells(self, attacked: list[Group]) -> list[tuple]:
        """The detection jobs, (dataset, detector, perturbation, group), once the attacks' groups are in:
        per detector, its perturbations over the shared groups and then its own white-box ones."""
        shared = [self.reals, self.inputs] + [g for job, g in zip(self.attacks, attacked) if len(job) == 4]
        jobs = []
        for detector in self.detectors:
            own = [g for job, g in zip(self.attacks, attacked) if len(job) == 5 and job[4] == detector]
            jobs += [(self.dataset, detector, p, g) for p in self.perturbations for g in shared + own]
        return jobs


def in_worker(grid: Grid, cache_root: str, method: str, job: tuple):
    """A job of ``Session.<method>`` in a worker process, with what the run's manifest learns from it.

    The worker keeps one session per grid and cache for as long as it lives (fitted detectors,
    decoded images), like the local executor's one session."""
    identity = cache_module.key(grid=grid.__dict__, cache=cache_root)
    if identity not in WORKER_SESSIONS:
        WORKER_SESSIONS[identity] = Session(grid, cache_module.Cache(cache_root))
    session = WORKER_SESSIONS[identity]
    mark = session.mark()
    return session.call(method, job), session.since(mark)


WORKER_SESSIONS: dict[str, "Session"] = {}


def estimate(plans: list[Plan], grid: Grid):
    """The cost of the planned work: the images the attacks make and those the detectors see (an
    untargeted attack's images, the same for every target, are made and seen once)."""
    from .cost import Cost

    distinct = [(plan, distinct_attacks(plan.attacks)) for plan in plans]
    made = [(job[1], len(job[3].samples), *job[4:]) for _, jobs in distinct for job in jobs]
    seen = [(detector, seen_by(plan, jobs, detector)) for plan, jobs in distinct for detector in plan.detectors]
    return Cost.of(made, seen, len(grid.perturbations), grid.device)


def distinct_attacks(jobs: list[tuple]) -> list[tuple]:
    """The attack jobs whose images differ: one per target, one in all for an untargeted attack."""
    distinct = {}
    for job in jobs:
        targeted = attacks.get(split_spec(job[1])[0]).uses_target
        distinct.setdefault((job[1], job[2] if targeted else "", *job[4:]), job)
    return list(distinct.values())


def seen_by(plan: Plan, jobs: list[tuple], detector: str) -> int:
    """The images ``detector`` sees per perturbation: real, synthetic, and the attacked ones made for
    every detector or (white-box) for it."""
    attacked = sum(len(job[3].samples) for job in jobs if len(job) == 4 or job[4] == detector)
    return len(plan.reals.samples) + len(plan.inputs.samples) + attacked


def check_names(grid: Grid) -> None:
    """Fail before any work on an unknown dataset, attack, detector or weights tag."""
    for name in grid.datasets:
        datasets.get(name)
    parts = [part for spec in grid.attacks for part in chains.part_specs(spec)]
    for registry, specs in ((attacks, parts), (detectors, grid.detectors)):
        for spec in specs:
            registry.build_spec(spec)


def write_outputs(out: Path, rows: pd.DataFrame, summary: pd.DataFrame, manifest: dict, dataset_for) -> None:
    """The rows, the tables, ``run.json``, then the figures and ``index.html`` (``dataset_for``: the
    run's datasets by name, for the attack sheet's inputs)."""
    import io
    import json

    out.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    rows.to_parquet(buffer, index=False)
    atomic_write(out / "rows.parquet", buffer.getvalue())
    write_tables(summary, out, manifest.get("splits"))
    atomic_write(out / "run.json", json.dumps(manifest, indent=2, default=str).encode())
    if len(summary):
        write_report(out, rows, summary, manifest, dataset_for)


class Session:
    """What one run holds: its grid, its cache, built plugins, timings, skipped files and the
    weights files used."""

    def __init__(self, grid: Grid, cache: cache_module.Cache):
        self.grid, self.cache = grid, cache
        self.timings: dict[str, float] = defaultdict(float)
        self.skipped: list[tuple[str, str]] = []
        self.configs: dict[str, dict] = {}
        self.splits: dict[str, dict] = {}  # dataset -> its split report, where it splits by device
        self.weights: dict[str, dict[str, str]] = {}  # plugin -> {weights file: sha256}
        self._datasets: dict[str, Dataset] = {}
        self._detectors: dict[tuple, Detector] = {}
        self._decoded: OrderedDict[Sample, Item] = OrderedDict()
        self.row_keys: list[str] = []  # every per-image rows key, in order (they determine the summary)
        self.fits = 0  # detectors fitted in this run (not read back from the cache)

    # ------------------------------------------------------------------------------- datasets
    def dataset(self, name: str) -> Dataset:
        if name not in self._datasets:
            options = {**self.grid.dataset_options, **({"root": self.grid.data_root} if self.grid.data_root else {})}
            dataset = datasets.build(name, **options)
            dataset.prepare()
            self.skipped += getattr(dataset, "skipped", [])
            check_disjoint(dataset)
            if dataset.split_report():
                self.splits[name] = dataset.split_report()
            self._datasets[name] = dataset
            self.configs[f"dataset:{name}"] = dataset.config()
        return self._datasets[name]

    def dataset_key(self, dataset: Dataset) -> str:
        return cache_module.key(dataset=dataset.name, config=dataset.config(), version=dataset.version)

    def pick(self, dataset: Dataset, source: str, split: str = "defender-test") -> Group:
        """``n`` images of a source from a split, balanced over cameras (or generators), by seed."""
        samples = [s for s in dataset.samples(split) if s.source == source]
        chosen = balanced_choice(samples, self.grid.n, self.grid.seed)
        key = cache_module.key(dataset=self.dataset_key(dataset), images=[(s.id, s.stamp) for s in chosen])
        return Group(source, chosen, key)

    def targets(self, dataset: Dataset) -> list[str]:
        cameras = sorted({s.camera for s in dataset.samples("attacker") if s.source == "real" and s.camera})
        if self.grid.targets:
            unknown = sorted(set(self.grid.targets) - set(cameras))
            if unknown:
                raise ValueError(f"unknown target camera(s) {unknown} in dataset {dataset.name!r}; known: {cameras}")
            return list(self.grid.targets)
        return cameras

    def plan(self, name: str) -> Plan:
        """A dataset's groups and jobs; a white-box or query attack on a detector it cannot attack is a
        counted skip."""
        dataset = self.dataset(name)
        inputs = self.pick(dataset, "synthetic")
        targets, grid = self.targets(dataset), self.grid
        jobs = [(name, spec, target, inputs) for spec in grid.attacks if not self.per_detector(spec) for target in targets]
        own = [spec for spec in grid.attacks if self.per_detector(spec)]
        for detector in grid.detectors if own else []:
            for spec in own:
                refusal = self.per_detector_refusal(dataset, self.build_attack(spec), detector)
                self.skipped += [(f"{spec}>{target} on {detector}", refusal) for target in targets if refusal]
                jobs += [(name, spec, target, inputs, detector) for target in targets if not refusal]
        return Plan(name, self.pick(dataset, "real"), inputs, jobs, grid.detectors, grid.perturbations)

    # ---------------------------------------------------------------------- jobs and workers
    def call(self, method: str, job: tuple):
        """``attacked`` or ``detect`` on a job, ``(dataset name, *arguments)``."""
        name, *arguments = job
        return getattr(self, method)(self.dataset(name), *arguments)

    def mark(self) -> tuple:
        return len(self.row_keys), len(self.skipped), dict(self.timings), self.fits

    def since(self, mark: tuple) -> dict:
        """What this session learnt since ``mark``, for :meth:`merge` into the run's own session."""
        keys, skipped, timings, fits = mark
        return {"row_keys": self.row_keys[keys:], "skipped": self.skipped[skipped:], "fits": self.fits - fits,
                "timings": {k: v - timings.get(k, 0.0) for k, v in self.timings.items()},
                "configs": self.configs, "weights": self.weights}

    def merge(self, ledger: dict) -> None:
        self.row_keys += ledger["row_keys"]
        self.skipped += ledger["skipped"]
        self.fits += ledger["fits"]
        for name, seconds in ledger["timings"].items():
            self.timings[name] += seconds
        self.configs.update(ledger["configs"])
        for plugin, files in ledger["weights"].items():
            self.weights.setdefault(plugin, {}).update(files)

    # -------------------------------------------------------------------------------- attacks
    def build_attack(self, spec: str) -> Attack:
        """The attack ``spec`` names: one plugin (``name`` or ``name:tag``) or a chain of them (``a+b``)."""
        return chains.build(spec, self._build_plugin)

    def _build_plugin(self, spec: str) -> Attack:
        return attacks.build_spec(spec, self.grid.device)

    @staticmethod
    def per_detector(spec: str) -> bool:
        """Whether the attack needs the measured detector or its oracle (its images are then made per
        detector)."""
        return bool(chains.needs(spec) & {"detector", "oracle"})

    def attacked(self, dataset: Dataset, spec: str, target: str, inputs: Group, detector: str = "") -> Group:
        """The attack's images for ``target``; for a white-box or query attack, those made with
        ``detector``'s gradients or answers."""
        attack = self.build_attack(spec)
        self.configs[f"attack:{spec}"] = attack.config()
        aim = target if attack.uses_target else None  # an untargeted attack's output is shared by all targets
        key = cache_module.key(kind="attacked", attack=attack.name, config=attack.config(), target=aim,
                               weights=self.weights_id(f"attack:{spec}", attack.weights_id, target),
                               names=ATTACKED_FILE_NAMES,
                               knowledge=sorted(attack.needs), saves_like_target=attack.saves_like_target,
                               dataset=self.dataset_key(dataset), inputs=inputs.key,
                               **self._knowledge_key(dataset, attack, detector), **self.precision_key_of(attack),
                               **({"version": attack.version} if attack.version != "1" else {}))
        folder = self.cache.folder("attacked", key)
        index = self.cache.load_frame("attacked", key)
        if index is None:
            index = self._run_attack(dataset, attack, target, inputs, folder, detector)
            self.cache.save_frame("attacked", key, index)
        samples = [Sample(row.id, "defender-test", "attacked", camera=target, generator=row.generator,
                          path=folder / row.file, stamp=key) for row in index.itertuples()]
        where = folder.resolve()
        measured = [c for c in ("psnr", "ssim", "queries") if c in index]
        quality = index[["id", "input_id", *measured]].assign(path=[str(where / f) for f in index.file])
        threat = attack.threat_model + ("; saved as the target saves" if attack.saves_like_target else "")
        return Group("attacked", samples, key, spec, threat, target, quality, detector)

    def per_detector_refusal(self, dataset: Dataset, attack: Attack, spec: str) -> str:
        """Why a white-box attack cannot follow this detector's gradients, or a query attack aim its
        answers at a camera ("" where it can)."""
        detector = self.detector(dataset, spec)
        if "detector" in attack.needs and (detector.task != "camera" or not detector.differentiable):
            return "white-box attack skipped: the detector is not a differentiable camera-model classifier"
        if detector.task != "camera":
            return "query attack skipped: the detector is not a camera-model classifier"
        return ""

    def _knowledge_key(self, dataset: Dataset, attack: Attack, detector: str) -> dict:
        """What, beyond the attack itself, determines its images: the detector (its gradients or its
        answers) and the surrogate."""
        key = {}
        if attack.needs & {"detector", "oracle"}:
            fitted = self.detector(dataset, detector)
            key.update(detector=detector, detector_config=fitted.config(),
                       detector_weights=self.weights_id(f"detector:{detector}", fitted.weights_id),
                       detector_fitted_on=self.dataset_key(dataset) if fitted.needs_fit else "")
        if "surrogate" in attack.needs:
            from .attacks._gradient import surrogate_weights_id

            key["surrogate"] = self.weights_id(f"surrogate:{dataset.name}", surrogate_weights_id, dataset.name,
                                               getattr(attack, "weights_dir", None))
        return key

    def weights_id(self, plugin: str, weights_id, *arguments) -> str:
        """``weights_id(*arguments)``, the weights files it verified noted under ``plugin`` (for run.json)."""
        with recorded() as files:
            identity = weights_id(*arguments)
        if files:
            self.weights.setdefault(plugin, {}).update(files)
        return identity

    def _run_attack(self, dataset, attack: Attack, target: str, inputs: Group, folder: Path,
                    detector: str = "") -> pd.DataFrame:
        started = time.perf_counter()
        knowledge = self._knowledge(dataset, attack, target, detector)
        with self.computing():
            attack.fit(target, **knowledge)
        self.timings["attack_fit"] += time.perf_counter() - started
        oracle = knowledge.get("oracle")
        name = attack.name + (f">{target}" if attack.uses_target else "")
        records = []
        with bar(None, f"attack {name}" + (f" with {detector}" if detector else ""), len(inputs.samples),
                 "img") as progress:
            for batch in self.batches(dataset, inputs.samples):
                for items in ([item] for item in batch) if oracle else [batch]:  # queries counted per image
                    asked = oracle.queries if oracle else 0
                    started = time.perf_counter()
                    with self.computing():
                        attacked = attack(self.tensor(items))
                    outputs = attack.save(attacked.float(), items)
                    self.timings["attack"] += time.perf_counter() - started
                    records += [save_attacked(item, data, container, folder, name)
                                | ({"queries": oracle.queries - asked} if oracle else {})
                                for item, (data, container) in zip(items, outputs)]
                    progress.update(len(items))
        columns = ["id", "input_id", "generator", "file", "psnr", "ssim"] + (["queries"] if oracle else [])
        return pd.DataFrame.from_records(records, columns=columns)

    def _knowledge(self, dataset: Dataset, attack: Attack, target: str, detector: str = "") -> dict:
        """Exactly what the attack declared it needs: the attacker's split only, the attacker's own
        surrogate, an oracle of the fitted detector being measured, ``detector`` (query attacks: its
        answers, counted), and (white-box alone) that detector itself."""
        attacker = dataset.samples("attacker")
        knowledge = {}
        if "target_samples" in attack.needs:
            chosen = [s for s in attacker if s.source == "real" and s.camera == target]
            knowledge["target_samples"] = list(dataset.items(chosen, self.skipped))
        if "synthetic_samples" in attack.needs:
            chosen = [s for s in attacker if s.source == "synthetic"]
            knowledge["synthetic_samples"] = list(dataset.items(chosen, self.skipped))
        if "surrogate" in attack.needs:
            from .attacks._gradient import attacker_surrogate

            cameras = sorted({s.camera for s in attacker if s.source == "real" and s.camera})
            knowledge["surrogate"] = attacker_surrogate(dataset.name, cameras, getattr(attack, "weights_dir", None),
                                                        self.grid.device)
        if attack.needs & {"detector", "oracle"} and not detector:
            raise ValueError(f"attack {attack.name!r} is {attack.threat_model}: name the detector it attacks")
        if "oracle" in attack.needs:
            knowledge["oracle"] = Oracle(self._fitted(dataset, detector))
        if "detector" in attack.needs:
            knowledge["detector"] = self._fitted(dataset, detector)
        return knowledge

    # ------------------------------------------------------------------------------ detectors
    def detector(self, dataset: Dataset, spec: str) -> Detector:
        if (dataset.name, spec) not in self._detectors:
            detector = detectors.build_spec(spec, self.grid.device)
            self.configs[f"detector:{spec}"] = detector.config()
            self._detectors[(dataset.name, spec)] = detector
        return self._detectors[(dataset.name, spec)]

    def _fitted(self, dataset: Dataset, spec: str) -> Detector:
        """The detector, fitted on ``dataset`` once per (detector, weights, data): what a fit learnt
        is cached on disk (where the detector can give it), so a later run reads it back."""
        detector = self.detector(dataset, spec)
        if detector.needs_fit and not getattr(detector, "fitted_", False):
            key = cache_module.key(kind="fitted", detector=detector.name, config=detector.config(),
                                   weights=self.weights_id(f"detector:{spec}", detector.weights_id),
                                   data=self.dataset_key(dataset), device=self.grid.device,
                                   **self.precision_key_of(detector))
            state = self.cache.load_arrays("fitted", key)
            if state is None:
                self._fit(dataset, detector, key)
            else:
                detector.load_fitted(state)
            detector.fitted_ = True
        return detector

    def _fit(self, dataset: Dataset, detector: Detector, key: str) -> None:
        started = time.perf_counter()
        with self.computing():
            detector.fit(dataset)
        self.timings["detector_fit"] += time.perf_counter() - started
        self.fits += 1
        state = detector.fitted_state()
        if state is not None:
            self.cache.save_arrays("fitted", key, state)

    def detect(self, dataset: Dataset, spec: str, perturbation: Perturbation, group: Group) -> pd.DataFrame:
        detector = self.detector(dataset, spec)
        weights = detector.weights
        if detector.needs_fit:  # fitted on this dataset: "fit:simcam", or "grip+fit:simcam" for fingerprints
            weights = f"fit:{dataset.name}" if weights == "fit" else f"{weights}+fit:{dataset.name}"
        key = cache_module.key(kind="rows", detector=detector.name, config=detector.config(),
                               weights=self.weights_id(f"detector:{spec}", detector.weights_id),
                               fitted_on=self.dataset_key(dataset) if detector.needs_fit else "",
                               perturbation=str(perturbation), images=group.key, **self.precision_key_of(detector))
        self.row_keys.append(key)
        rows = self.cache.load_frame("rows", key)
        if rows is None:
            rows = self._predict(dataset, spec, perturbation, group)
            self.cache.save_frame("rows", key, rows)
        rows = rows.assign(dataset=dataset.name, attack=group.attack, threat_model=group.threat_model,
                           target=group.target, detector=detector.name, weights=weights, task=detector.task,
                           perturbation=str(perturbation), source=group.source)
        if group.source == "attacked":  # an untargeted attack's rows are computed once, for whichever target came first
            rows = rows.assign(camera=group.target)
        if group.quality is not None:
            rows = rows.merge(group.quality, on="id", how="left")
        return rows

    def _predict(self, dataset: Dataset, spec: str, perturbation: Perturbation, group: Group) -> pd.DataFrame:
        detector = self._fitted(dataset, spec)
        records = []
        for items in self.batches(dataset, group.samples, perturbation, detector.min_size):
            started = time.perf_counter()
            with self.computing():
                probabilities = detector.predict(self.tensor(items), [i.container for i in items])
            self.timings["detect"] += time.perf_counter() - started
            probabilities = probabilities.detach().cpu().double().numpy()
            for item, p in zip(items, probabilities):
                best = int(np.argmax(p))
                records.append({"id": item.sample.id, "camera": item.sample.camera,
                                "generator": item.sample.generator, "pred": detector.classes[best],
                                "score": float(p[-1] if detector.task == "synthetic" else p[best]),
                                "probs": p.astype(np.float32).tolist()})
        return pd.DataFrame.from_records(records, columns=["id", "camera", "generator", "pred", "score", "probs"])

    def summary(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The summary of these rows, read back when the same rows were summarised before."""
        if not len(rows):
            return pd.DataFrame()
        key = cache_module.key(kind="summary", rows=self.row_keys, seed=self.grid.seed, metrics=METRICS_VERSION)
        summary = self.cache.load_frame("summaries", key)
        if summary is None:
            summary = summarise(rows, seed=self.grid.seed)
            self.cache.save_frame("summaries", key, summary)
        return summary

    # ------------------------------------------------------------------------------ plumbing
    def computing(self):
        """The context every network of the run computes in (:mod:`spoc_bench.precision`)."""
        return precision_module.computing(self.grid.precision, self.grid.device)

    def precision_key_of(self, plugin) -> dict:
        """The run's precision in ``plugin``'s cache keys: none where no network computes in it."""
        return precision_module.key(self.grid.precision) if plugin.uses_networks else {}

    def tensor(self, items: Sequence[Item]):
        """The items' pixels as a float batch, in the memory order the precision computes fastest in."""
        return precision_module.memory_format(to_tensor([i.pixels for i in items]), self.grid.precision)

    def batches(self, dataset: Dataset, samples: Sequence[Sample], perturbation: Perturbation | None = None,
                min_size: int = 1):
        """Read, perturb and yield lists of same-sized items, at most BATCH_SIZE long."""
        by_shape: dict[tuple, list[Item]] = defaultdict(list)
        for item in self.read(dataset, samples):
            if perturbation is not None:
                item = Item(item.sample, *perturbation(item.pixels, item.container))
            if min(item.pixels.shape[:2]) < min_size:
                self.skipped.append((item.sample.id, f"smaller than the detector's minimum of {min_size} px"))
                continue
            bucket = by_shape[item.pixels.shape]
            bucket.append(item)
            if len(bucket) == BATCH_SIZE:
                yield by_shape.pop(item.pixels.shape)
        yield from (bucket for bucket in by_shape.values() if bucket)

    def read(self, dataset: Dataset, samples: Sequence[Sample]):
        """Decoded items, kept for the next detector or perturbation (the most recent ones only)."""
        for sample in samples:
            if sample not in self._decoded:
                if sample.source == "attacked":
                    items = self._read_attacked(sample)
                else:
                    items = list(dataset.items([sample], self.skipped))
                if not items:
                    continue
                self._decoded[sample] = items[0]
                if len(self._decoded) > DECODED_IMAGES_KEPT:
                    self._decoded.popitem(last=False)
            self._decoded.move_to_end(sample)
            yield self._decoded[sample]

    def _read_attacked(self, sample: Sample) -> list[Item]:
        """The attacked image's item, or none (a counted skip) where its file cannot be read."""
        try:
            return [Item(sample, *read_image(sample.path))]
        except ImageError as error:
            self.skipped.append((error.path, error.reason))
            return []

    def manifest(self) -> dict:
        import importlib.metadata as metadata

        versions = {"python": platform.python_version()}
        for package in ("spoc-bench", "torch", "numpy", "scipy", "scikit-learn", "scikit-image", "pillow", "pandas"):
            try:
                versions[package] = metadata.version(package)
            except metadata.PackageNotFoundError:
                pass
        unique = list(dict.fromkeys(self.skipped))  # a file is read once per detector and perturbation
        skipped = Counter(reason for _, reason in unique)
        inside = self.timings["attack"] + self.timings["detect"] + self.timings["attack_fit"] + self.timings["detector_fit"]
        return {
            "grid": {**self.grid.__dict__, "perturbations": [str(p) for p in self.grid.perturbations]},
            "configs": self.configs,
            "splits": self.splits,
            "versions": versions,
            **provenance(),
            "weights": self.weights,
            "timings_s": dict(self.timings),
            "detector_fits": self.fits,
            "harness_overhead": self.timings["total"] / inside if inside else None,
            "skipped": {"count": len(unique), "by_reason": dict(skipped),
                        "files": [{"file": f, "reason": r} for f, r in unique]},
            "cache": str(self.cache.root),
        }


def save_attacked(item: Item, data: bytes, container, folder: Path, name: str) -> dict:
    """Write an attacked image's file; its row in the attack's index (``name``: attack>target)."""
    file = file_name(item.sample.id, container.suffix)
    atomic_write(folder / file, data)
    pixels = decode(data, str(folder / file))
    return {"id": f"{item.sample.id}@{name}", "input_id": item.sample.id, "generator": item.sample.generator,
            "file": file, "psnr": psnr(item.pixels, pixels), "ssim": ssim(item.pixels, pixels)}


def file_name(sample_id: str, suffix: str) -> str:
    """A flat file name for a sample id (a relative path), one per id: ``%`` becomes ``%25`` and
    ``/`` becomes ``%2F``, so ``p/q.png`` and ``p__q.png`` (or ``p%2Fq.png``) never share a file."""
    return sample_id.replace("%", "%25").replace("/", "%2F") + suffix


def balanced_choice(samples: Sequence[Sample], n: int | None, seed: int) -> list[Sample]:
    """Shuffle by seed, then interleave classes so any prefix is balanced; keep the first ``n``."""
    ordered = sorted(samples, key=lambda s: s.id)
    order = np.random.default_rng(seed).permutation(len(ordered))
    seen: Counter = Counter()
    ranked = []
    for index in order:
        sample = ordered[index]
        label = sample.camera or sample.generator or ""
        ranked.append((seen[label], len(ranked), sample))
        seen[label] += 1
    chosen = [sample for _, _, sample in sorted(ranked, key=lambda r: r[:2])]
    return chosen if n is None else chosen[:n]
