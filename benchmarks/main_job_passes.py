"""Noiseprint forward passes and seconds of the main job, by stage.

    .venv/bin/python benchmarks/main_job_passes.py OUT CACHE

Runs the main job (``--attack spoc --detector noiseprint``, default preset otherwise) into ``OUT``
with results cache ``CACHE`` (give an empty folder to count a first run), counting every
``NoiseprintNet`` forward pass by what it was for: the fingerprint fit, or scoring one source
(real, synthetic, attacked) under one perturbation. Prints a JSON table and writes it to
``OUT/passes.json``. The counts are exact; the seconds include whatever else the machine runs.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter

from spoc_bench import runner
from spoc_bench.detectors import _noiseprint_net, noiseprint

STAGE = ["other"]
PASSES, IMAGES, SECONDS = Counter(), Counter(), Counter()


def counting(forward):
    def counted(self, luminance):
        PASSES[STAGE[0]] += 1
        return forward(self, luminance)
    return counted


def staged(name_of, function):
    """``function`` with its calls' passes and seconds put under the stage ``name_of(*arguments)``."""
    def wrapper(*arguments):
        previous, STAGE[0] = STAGE[0], name_of(*arguments)
        started = time.perf_counter()
        try:
            return function(*arguments)
        finally:
            SECONDS[STAGE[0]] += time.perf_counter() - started
            STAGE[0] = previous
    return wrapper


def predicting(predict):
    def counted(session, dataset, spec, perturbation, group):
        IMAGES[f"score {group.source}, {perturbation}"] += len(group.samples)
        return predict(session, dataset, spec, perturbation, group)
    return counted


def main(out: str, cache: str) -> None:
    _noiseprint_net.NoiseprintNet.forward = counting(_noiseprint_net.NoiseprintNet.forward)
    noiseprint.Noiseprint.fit = staged(lambda *_: "fit fingerprints (defender-train)", noiseprint.Noiseprint.fit)
    runner.Session._predict = staged(lambda _s, _d, _spec, perturbation, group: f"score {group.source}, {perturbation}",
                                     predicting(runner.Session._predict))
    runner.Session._run_attack = staged(lambda *_: "attack", runner.Session._run_attack)
    started = time.perf_counter()
    result = runner.run(None, out=out, cache=cache, progress=False, attacks=["spoc"], detectors=["noiseprint"])
    table = {"total_s": round(time.perf_counter() - started, 1), "detector_fits": result.manifest["detector_fits"],
             "stages": {stage: {"images": IMAGES.get(stage), "passes": PASSES.get(stage, 0),
                                "seconds": round(SECONDS.get(stage, 0.0), 1)} for stage in sorted(set(SECONDS) | set(PASSES))}}
    print(json.dumps(table, indent=1))
    (result.out / "passes.json").write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:3])
