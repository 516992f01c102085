"""Throughput, arithmetic rate and peak memory of every detector and attack on 256 x 256 images, batch 32.

    .venv/bin/python benchmarks/throughput.py [--device cuda] [--precision fp32,bf16] [--only bondi2017,pgd-white-box@mislnet] [--repeats 3] [--record]

Each plugin runs in a child process of its own, so its peak memory (the process's maximum resident
set, and on a GPU torch's peak allocation) is its own. Images: 32 of simcam's defender-test real
photographs (256 x 256) for the detectors, 32 of its synthetic images for the attacks (what a run
attacks), decoded before timing. A detector that fits on data (fingerprints,
classifiers) is fitted on simcam's defender-train first; the fit is timed apart. One warm-up batch,
then ``repeats`` timed batches; images/s = 32 x repeats / time. Attacks are fitted on their target's
attacker-split samples (SpoC: target ``alpha-1``) and timed on the attack alone (no file saving).
An attack is handed what the runner would hand it: the transfer attacks the attacker's surrogates;
a white-box or query attack the fitted detector (or its counted oracle) it is timed with, named
after an ``@`` (``pgd-white-box@noiseprint:simcam``). A query attack is timed on
``QUERY_IMAGES`` images, one at a time and once (its oracle keeps its answers, so a repeat would be
free), as the runner makes them.
A plugin without weights is reported as such.

``--precision``: each plugin is measured in each precision listed (``spoc_bench/precision.py``: bf16
is torch's bfloat16 autocast with channels-last inputs, as ``spoc-bench run --precision bf16`` runs
it); a bf16 row gives its speed-up over the fp32 row. The arithmetic: the floating-point operations
of one image (torch's FLOP counter over a pass on ``FLOP_IMAGES`` images, backward passes included;
convolutions and matrix products only, so a plugin that computes in NumPy shows none), the rate
they were done at (GFLOP/s), and that rate as a share of the peak of this process: a dense
2,048 x 2,048 matrix product in the same precision, timed in the same process just before. These
machines are shared and noisy; the share is the figure to compare. Query attacks are not counted
(a pass is a thousand queries), nor the gradient attacks (the counter refuses ``autograd.grad``).

``--record`` writes each plugin's fp32 images/s and fit time into ``spoc_bench/throughput.json``
(under ``cpu``, or ``cuda`` for a GPU), from which a run estimates its cost (``spoc_bench/cost.py``).
"""

from __future__ import annotations

import argparse
import json
import math
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
FLOP_IMAGES = 2
PEAK_SIDE = 2048


def images(dataset, count: int, source: str):
    from spoc_bench.images import to_tensor

    samples = [s for s in dataset.samples("defender-test") if s.source == source][:count]
    items = list(dataset.items(samples))
    return to_tensor([i.pixels for i in items]), [i.container for i in items]


def measure(kind: str, spec: str, batch: int, repeats: int, device: str, precision: str = "fp32") -> dict:
    """One plugin's figures, in this process."""
    import torch

    import spoc_bench
    from spoc_bench import registry
    from spoc_bench.precision import computing, memory_format

    dataset = spoc_bench.build_dataset("simcam")
    dataset.prepare()
    pixels, containers = images(dataset, batch, "real" if kind == "detector" else "synthetic")
    pixels = memory_format(pixels, precision)
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
    peak = peak_gflops(precision, device)
    with torch.no_grad(), computing(precision, device):
        if repeats > 1 or kind == "detector":
            run()  # warm-up
        synchronise(device)
        started = time.perf_counter()
        for _ in range(repeats):
            run()
        synchronise(device)
        seconds = time.perf_counter() - started
        count = None if "oracle" in getattr(plugin, "needs", ()) else flops_per_image(plugin, kind, pixels, containers)
    images_per_s = len(pixels) * repeats / seconds
    return {"plugin": f"{kind}:{spec}", "precision": precision, "images_per_s": images_per_s, "fit_s": fit_seconds,
            "gflop_per_image": count / 1e9 if count else None, "peak_gflops": peak,
            "gflops": count * images_per_s / 1e9 if count else None,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None,
            "threads": torch.get_num_threads(), "device": device}


def synchronise(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def peak_gflops(precision: str, device: str, repeats: int = 10) -> float:
    """GFLOP/s of a dense square matrix product in ``precision`` on ``device``, in this process."""
    import torch

    from spoc_bench.precision import computing

    a, b = (torch.randn(PEAK_SIDE, PEAK_SIDE, device=device) for _ in range(2))
    with torch.no_grad(), computing(precision, device):
        a @ b  # warm-up
        synchronise(device)
        started = time.perf_counter()
        for _ in range(repeats):
            a @ b
        synchronise(device)
    return 2 * PEAK_SIDE ** 3 * repeats / (time.perf_counter() - started) / 1e9


def flops_per_image(plugin, kind: str, pixels, containers) -> float | None:
    """Floating-point operations per image of one pass (torch's counter: convolutions, products);
    None where the counter cannot follow the pass (it refuses ``torch.autograd.grad``, which the
    gradient attacks call)."""
    from torch.utils.flop_counter import FlopCounterMode

    chosen = pixels[:FLOP_IMAGES]
    try:
        with FlopCounterMode(display=False) as counter:
            plugin.predict(chosen, containers[:FLOP_IMAGES]) if kind == "detector" else plugin(chosen)
    except RuntimeError:
        return None
    return counter.get_total_flops() / len(chosen)


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


def child(kind: str, spec: str, precision: str, arguments) -> dict:
    command = [sys.executable, __file__, "--one", f"{kind}={spec}", "--batch", str(arguments.batch),
               "--repeats", str(arguments.repeats), "--device", arguments.device, "--precision", precision]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        reason = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return {"plugin": f"{kind}:{spec}", "precision": precision, "error": reason}
    return json.loads(done.stdout.strip().splitlines()[-1])


def significant(value: float | None, digits: int = 3) -> str:
    """``value`` with at least ``digits`` significant digits (all of its whole part)."""
    if not value:
        return "" if value is None else "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


def row(result: dict, fp32: dict | None, device: str) -> str:
    """A result as a row of the printed table."""
    if "error" in result:
        return f"| {result['plugin']} | {result['precision']} | not measured: {result['error'][:140]} |"
    faster = f"{result['images_per_s'] / fp32['images_per_s']:.2f}x" if fp32 and result["precision"] != "fp32" else ""
    share = f"{result['gflops'] / result['peak_gflops']:.0%}" if result["gflops"] else ""
    gpu = f" {result['peak_gpu_mib']:.0f} |" if device == "cuda" else ""
    return (f"| {result['plugin']} | {result['precision']} | {significant(result['images_per_s'])} | {faster} | "
            f"{result['fit_s']:.1f} | {significant(result['gflop_per_image'])} | {significant(result['gflops'])} | "
            f"{share} | {result['peak_gflops']:,.0f} | {result['peak_rss_mib']:.0f} |{gpu}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precision", default="fp32", help="comma-separated: fp32, bf16 or auto")
    parser.add_argument("--only", default="", help="comma-separated plugin specs")
    parser.add_argument("--record", action="store_true", help="write the figures into spoc_bench/throughput.json")
    parser.add_argument("--one", default="", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.one:
        kind, spec = arguments.one.split("=", 1)
        print(json.dumps(measure(kind, spec, arguments.batch, arguments.repeats, arguments.device,
                                 arguments.precision)))
        return
    from spoc_bench.precision import resolve

    precisions = list(dict.fromkeys(resolve(p, arguments.device) for p in arguments.precision.split(",")))
    chosen = set(filter(None, arguments.only.split(",")))
    plan = [("detector", d) for d in DETECTORS] + [("attack", a) for a in ATTACKS + PER_DETECTOR]
    gpu = arguments.device == "cuda"
    print(f"| plugin | precision | images/s ({arguments.device}, batch {arguments.batch}, 256 px) | speed-up | "
          f"fit (s) | GFLOP/image | GFLOP/s | of peak | peak GFLOP/s | peak RSS (MiB) |{' peak GPU (MiB) |' if gpu else ''}")
    print(f"|---|---|---|---|---|---|---|---|---|---|{'---|' if gpu else ''}")
    results = []
    for kind, spec in plan:
        if chosen and spec not in chosen:
            continue
        fp32 = None
        for precision in precisions:
            result = child(kind, spec, precision, arguments)
            print(row(result, fp32, arguments.device), flush=True)
            if precision == "fp32" and "error" not in result:
                fp32 = result
                results.append((kind, spec, result))
    if arguments.record:
        record(results, arguments.device)


def record(results: list, device: str) -> None:
    """Merge the measured fp32 figures into the table the cost estimate reads."""
    from spoc_bench.cost import THROUGHPUT, plugin_key
    from spoc_bench.images import atomic_write

    table = json.loads(THROUGHPUT.read_text())
    figures = table["devices"].setdefault("cpu" if device == "cpu" else "cuda", {})
    for kind, spec, result in results:
        figures[plugin_key(kind, *spec.split("@"))] = {"images_per_s": float(f"{result['images_per_s']:.3g}"),
                                                      "fit_s": round(result["fit_s"], 1)}
    atomic_write(THROUGHPUT, (json.dumps(table, indent=2) + "\n").encode())
    print(f"recorded {len(results)} plugin(s) in {THROUGHPUT}")


if __name__ == "__main__":
    main()
