"""The fitted detectors ``dct`` (Frank et al. 2020) and ``prnu`` (Lukáš et al. 2006; Chen et al.
2008) on simcam: trained on ``defender-train``, measured on ``defender-test``.

    .venv/bin/python benchmarks/detectors_fit.py

``dct``: AUC of real vs each generator family (synthetic positive), trained on all families
(in-family) and on ``transposed`` + ``nearest`` only (tested on ``bilinear`` and ``pixelshuffle``:
cross-family; the pooled cross-family AUC too). ``prnu``: accuracy of the camera model (8 models,
chance 0.125) and of the device (16 defender devices, chance 0.0625) on the real test images, and how
many device errors stay within the right model. Values with bootstrap 95% CIs and n; fit time per
training image and predict time per test image (wall clock; reading and decoding the files is
outside the timings).
"""

from __future__ import annotations

import time

import numpy as np

import spoc_bench
from spoc_bench.images import to_tensor
from spoc_bench.metrics import auc_ci, mean_ci

TRAIN_FAMILIES = ("transposed", "nearest")
BATCH = 32


class Preloaded:
    """The dataset with its items read once (so the fit timings do not include JPEG decoding)."""

    def __init__(self, dataset, splits=("defender-train",)):
        self.dataset, self.name = dataset, dataset.name
        self.cache = {s.id: item for split in splits for s, item in
                      zip(dataset.samples(split), dataset.items(dataset.samples(split)))}

    def samples(self, split):
        return self.dataset.samples(split)

    def items(self, samples, skipped=None):
        return (self.cache[s.id] if s.id in self.cache else self.dataset.read(s) for s in samples)


def batched(function, items):
    return np.concatenate([function(to_tensor([i.pixels for i in items[k:k + BATCH]])) for k in range(0, len(items), BATCH)])


def fmt(result) -> str:
    value, low, high, n = result
    return f"{value:.3f} [{low:.3f}, {high:.3f}] | {n}"


def timed(function, *arguments):
    started = time.perf_counter()
    result = function(*arguments)
    return result, time.perf_counter() - started


def main() -> None:
    dataset = spoc_bench.build_dataset("simcam")
    started = time.perf_counter()
    dataset.prepare()
    print(f"simcam ready in {time.perf_counter() - started:.1f} s (generated on first use)")
    data = Preloaded(dataset)
    test_all = list(dataset.items(dataset.samples("defender-test")))
    test_real = [i for i in test_all if i.sample.source == "real"]
    train = dataset.samples("defender-train")

    lines = ["| detector | task | metric | value [95% CI] | n |", "|---|---|---|---|---|"]
    timings = []

    # ------------------------------------------------------------------------------------ dct
    for label, families in (("in-family, trained on all families", None), (f"trained on {'+'.join(TRAIN_FAMILIES)}", TRAIN_FAMILIES)):
        detector = spoc_bench.build_detector("dct", families=families)
        _, fit_time = timed(detector.fit, data)
        n_fit = sum(detector.n_train_.values())
        scores, predict_time = timed(batched, lambda x: detector.predict(x).numpy()[:, 1], test_all)
        timings.append(f"dct ({label}): fit {1000 * fit_time / n_fit:.1f} ms per training image ({n_fit} images), "
                       f"predict {1000 * predict_time / len(test_all):.1f} ms per image ({len(test_all)} images)")
        real = scores[[i.sample.source == "real" for i in test_all]]
        tested = dataset.generators if families is None else tuple(f for f in dataset.generators if f not in families)
        for family in tested:
            fake = scores[[i.sample.generator == family for i in test_all]]
            kind = "in-family" if families is None else "cross-family"
            lines.append(f"| dct ({label}) | real vs {family} ({kind}) | auc | {fmt(auc_ci(real, fake))} |")
        if families is not None:
            fake = scores[[i.sample.source == "synthetic" and i.sample.generator in tested for i in test_all]]
            lines.append(f"| dct ({label}) | real vs {'+'.join(tested)} (cross-family, pooled) | auc | {fmt(auc_ci(real, fake))} |")
        else:
            fake = scores[[i.sample.source == "synthetic" for i in test_all]]
            lines.append(f"| dct ({label}) | real vs all families (pooled) | auc | {fmt(auc_ci(real, fake))} |")

    # ----------------------------------------------------------------------------------- prnu
    detector = spoc_bench.build_detector("prnu")
    _, fit_time = timed(detector.fit, data)
    n_fit = sum(detector.counts_.values())
    (pce, correlation), predict_time = timed(detector.match, to_tensor([i.pixels for i in test_real]))
    timings.append(f"prnu: fit {1000 * fit_time / n_fit:.1f} ms per training image ({n_fit} images, "
                   f"{len(detector.device_classes)} devices), predict {1000 * predict_time / len(test_real):.1f} ms per image "
                   f"({len(test_real)} images, all devices matched)")
    devices = np.array(detector.device_classes)
    models = np.array(detector.device_models_)
    true_device = np.array([i.sample.device for i in test_real])
    true_model = np.array([i.sample.camera for i in test_real])
    for name, statistic in (("PCE", pce), ("correlation", correlation)):
        best = statistic.argmax(axis=1)  # the predict() decision (softmax is monotone)
        lines.append(f"| prnu ({name}) | 8 camera models | acc | {fmt(mean_ci(models[best] == true_model))} |")
        lines.append(f"| prnu ({name}) | 16 devices | acc | {fmt(mean_ci(devices[best] == true_device))} |")
    probabilities = batched(lambda x: detector.predict(x).numpy(), test_real)
    check = np.array(detector.classes)[probabilities.argmax(axis=1)] == models[pce.argmax(axis=1)]
    best = pce.argmax(axis=1)
    rows = np.arange(len(test_real))
    own = pce[rows, [list(devices).index(d) for d in true_device]]
    foreign = np.ma.masked_array(pce, mask=devices[None, :] == true_device[:, None])
    print("\n".join(lines))
    print()
    print(f"prnu: device errors within the right model: {int(((devices[best] != true_device) & (models[best] == true_model)).sum())}"
          f" of {int((devices[best] != true_device).sum())}; predict() agrees with the max-PCE model on {check.mean():.3f}")
    print(f"prnu: PCE with the own device, 5/50/95th percentiles {np.percentile(own, [5, 50, 95]).round(1).tolist()}; "
          f"with the 15 other devices {np.percentile(foreign.compressed(), [5, 50, 95]).round(1).tolist()}, "
          f"max {foreign.max():.1f}; own PCE > 60 on {np.mean(own > 60):.3f} of the images")
    per_model = {m: float(np.mean(devices[best][true_model == m] == true_device[true_model == m])) for m in sorted(set(true_model))}
    print("prnu: device accuracy per model " + ", ".join(f"{m} {v:.2f}" for m, v in per_model.items()))
    print("\n".join(timings))
    print(f"(train split: {sum(s.source == 'real' for s in train)} real, {sum(s.source == 'synthetic' for s in train)} synthetic images)")


if __name__ == "__main__":
    main()
