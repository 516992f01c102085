"""Throughput and peak memory of every detector and attack on 256 x 256 images, batch 32.

    .venv/bin/python benchmarks/throughput.py [--device cuda] [--only bondi2017,pgd-white-box@mislnet] [--repeats 3] [--record]

Each plugin runs in a child process of its own, so its peak memory (the process's maximum resident
set, and on a GPU torch's peak allocation) is its own. Images: 32 of simcam's defender-test real
photographs (256 x 256), decoded before timing. A detector that fits on data (fingerprints,
classifiers) is fitted on simcam's defender-train first; the fit is timed apart. One warm-up batch,
then ``repeats`` timed batches; images/s = 32 x repeats / time. Attacks are fitted on their target's
attacker-split samples (SpoC: target ``alpha-1``) and timed on the attack alone (no file saving).
An attack is handed what the runner would hand it: the transfer attacks the attacker's surrogates;
a white-box or query attack the fitted detector (or its counted oracle) it is timed with, named
after an ``@`` (``pgd-white-box@noiseprint:simcam``). A query attack is timed on
``QUERY_IMAGES`` images, one at a time and once (its oracle keeps its answers, so a repeat would be
free), as the runner makes them.
A plugin without weights is reported as such. ``--record`` writes each measured plugin's images/s
and fit time into ``spoc_bench/throughput.json`` (under ``cpu``, or ``cuda`` for a GPU), from which
a run estimates its cost (``spoc_bench/cost.py``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

DETECTORS = ("jpeg-table", "spectrum", "dct", "wang2020", "gragnaniello2021", "prnu", "bondi2017", "mislnet",
             "noiseprint:simcam", "noiseprint:grip")
ATTACKS = ("identity", "spoc", "mislgan", "jpeg-mimic", "prnu-copy", "cfa-resynth", "spectral-match", "trace-transplant",
           "fgsm-transfer", "pgd-transfer")
ATTACKED = ("bondi2017", "mislnet", "noiseprint:simcam")  # the differentiable camera-model detectors
PER_DETECTOR = tuple(f"{attack}@{detector}" for attack in ("fgsm-white-box", "pgd-white-box", "square-query",
                                                            "hopskipjump-query") for detector in ATTACKED)
TARGET = "alpha-1"
QUERY_IMAGES = 2


def images(dataset, count: int):
    from spoc_bench.images import to_tensor

    samples = [s for s in dataset.samples("defender-test") if s.source == "real"][:count]
    items = list(dataset.items(samples))
    return to_tensor([i.pixels for i in items]), [i.container for i in items]


def measure(kind: str, spec: str, batch: int, repeats: int, device: str) -> dict:
    """One plugin's figures, in this process."""
    import torch

    import spoc_bench
    from spoc_bench import registry

    dataset = spoc_bench.build_dataset("simcam")
    dataset.prepare()
    pixels, containers = images(dataset, batch)
    fit_seconds = 0.0
    if kind == "detector":
        plugin = registry.detectors.build_spec(spec, device)
        if plugin.needs_fit:
            started = time.perf_counter()
            plugin.fit(dataset)
            fit_seconds = time.perf_counter() - started
        run = lambda: plugin.predict(pixels, containers)  # noqa: E731
    else:
        name, _, detector = spec.partition("@")
        plugin = registry.attacks.build_spec(name, device)
        plugin.fit(TARGET, **knowledge(plugin, dataset, detector, device))
        if "oracle" in plugin.needs:
            pixels, repeats = pixels[:QUERY_IMAGES], 1
        run = lambda: [plugin(image[None]) for image in pixels] if "oracle" in plugin.needs else plugin(pixels)  # noqa: E731
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        if repeats > 1 or kind == "detector":
            run()  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(repeats):
            run()
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
    return {"plugin": f"{kind}:{spec}", "images_per_s": len(pixels) * repeats / seconds, "fit_s": fit_seconds,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None,
            "threads": torch.get_num_threads(), "device": device}


def knowledge(attack, dataset, detector: str, device: str) -> dict:
    """What the runner hands ``attack`` (``Session._knowledge``): the target's attacker-split samples,
    the attacker's surrogates, the fitted ``detector`` or its oracle."""
    from spoc_bench import registry
    from spoc_bench.attacks._gradient import attacker_surrogate
    from spoc_bench.contracts import Oracle

    attacker = [s for s in dataset.samples("attacker") if s.source == "real"]
    handed = {"target_samples": list(dataset.items([s for s in attacker if s.camera == TARGET]))}
    if "surrogate" in attack.needs:
        handed["surrogate"] = attacker_surrogate(dataset.name, sorted({s.camera for s in attacker}), None, device)
    if attack.needs & {"detector", "oracle"}:
        fitted = registry.detectors.build_spec(detector, device)
        if fitted.needs_fit:
            fitted.fit(dataset)
        if "oracle" in attack.needs:
            handed["oracle"] = Oracle(fitted)
        if "detector" in attack.needs:
            handed["detector"] = fitted
    return handed


def child(kind: str, spec: str, arguments) -> dict:
    command = [sys.executable, __file__, "--one", f"{kind}={spec}", "--batch", str(arguments.batch),
               "--repeats", str(arguments.repeats), "--device", arguments.device]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        reason = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return {"plugin": f"{kind}:{spec}", "error": reason}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated plugin specs")
    parser.add_argument("--record", action="store_true", help="write the figures into spoc_bench/throughput.json")
    parser.add_argument("--one", default="", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.one:
        kind, spec = arguments.one.split("=", 1)
        print(json.dumps(measure(kind, spec, arguments.batch, arguments.repeats, arguments.device)))
        return
    chosen = set(filter(None, arguments.only.split(",")))
    plan = [("detector", d) for d in DETECTORS] + [("attack", a) for a in ATTACKS + PER_DETECTOR]
    print(f"| plugin | images/s ({arguments.device}, batch {arguments.batch}, 256 px) | fit (s) | peak RSS (MiB) |"
          f"{' peak GPU (MiB) |' if arguments.device == 'cuda' else ''}")
    print(f"|---|---|---|---|{'---|' if arguments.device == 'cuda' else ''}")
    results = []
    for kind, spec in plan:
        if chosen and spec not in chosen:
            continue
        result = child(kind, spec, arguments)
        if "error" in result:
            print(f"| {result['plugin']} | not measured: {result['error'][:140]} | | |")
            continue
        results.append((kind, spec, result))
        gpu = f" {result['peak_gpu_mib']:.0f} |" if arguments.device == "cuda" else ""
        print(f"| {result['plugin']} | {result['images_per_s']:.1f} | {result['fit_s']:.1f} | "
              f"{result['peak_rss_mib']:.0f} |{gpu}", flush=True)
    if arguments.record:
        record(results, arguments.device)


def record(results: list, device: str) -> None:
    """Merge the measured figures into the table the cost estimate reads."""
    from spoc_bench.cost import THROUGHPUT, plugin_key
    from spoc_bench.images import atomic_write

    table = json.loads(THROUGHPUT.read_text())
    figures = table["devices"].setdefault("cpu" if device == "cpu" else "cuda", {})
    for kind, spec, result in results:
        figures[plugin_key(kind, *spec.split("@"))] = {"images_per_s": round(result["images_per_s"], 1),
                                           "fit_s": round(result["fit_s"], 1)}
    atomic_write(THROUGHPUT, (json.dumps(table, indent=2) + "\n").encode())
    print(f"recorded {len(results)} plugin(s) in {THROUGHPUT}")


if __name__ == "__main__":
    main()
