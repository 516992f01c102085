"""Presets: whole grids by name. Flags given beside a preset replace its parts."""

from __future__ import annotations

from .perturbations import FIELD_GRID

SMOKE_PERTURBATIONS = ("none", "jpeg:90", "resize:0.5", "blur:1")
ROBUSTNESS_PERTURBATIONS = ("none", "jpeg:90", "jpeg:70", "resize:0.5", "blur:1")
BASELINE_ATTACKS = ("jpeg-mimic", "prnu-copy", "cfa-resynth", "spectral-match", "trace-transplant")  # black-box, under a second per image
GRADIENT_ATTACKS = ("fgsm-white-box", "fgsm-transfer", "pgd-white-box", "pgd-transfer")
QUERY_ATTACKS = ("square-query", "hopskipjump-query")
# the default preset runs an attack when it makes an image in at most this many seconds on 2 CPU cores
# with every detector it is made with (spoc_bench/throughput.json): pgd-white-box on noiseprint and
# the query attacks take longer, and run in the paper preset only
FAST_ATTACK_SECONDS = 10.0
FAST_GRADIENT_ATTACKS = ("fgsm-white-box", "fgsm-transfer", "pgd-transfer")
CAMERA_DETECTORS = ("jpeg-table", "bondi2017", "mislnet", "noiseprint")
SYNTHETIC_DETECTORS = ("spectrum", "dct", "wang2020", "gragnaniello2021")

PRESETS: dict[str, dict] = {
    "smoke": {
        "datasets": ["simcam"],
        "attacks": ["identity", "spoc"],
        "detectors": ["jpeg-table", "spectrum", "bondi2017"],
        "perturbations": list(SMOKE_PERTURBATIONS),
        "n": 48,
        "description": "the CI regression: under 7 minutes on 2 CPU cores once simcam is generated",
    },
    "default": {
        "datasets": ["simcam"],
        "attacks": ["identity", "spoc", "mislgan", *BASELINE_ATTACKS, *FAST_GRADIENT_ATTACKS],
        "detectors": list(CAMERA_DETECTORS + SYNTHETIC_DETECTORS),
        "perturbations": list(ROBUSTNESS_PERTURBATIONS),
        "n": 32,
        "description": "what `spoc-bench run` does: every shipped detector, SpoC, MISLGAN, the baselines and the "
                       "gradient attacks of at most 10 s per image towards every camera, 5 perturbations",
    },
    "paper": {
        "datasets": ["simcam"],
        "attacks": ["identity", "spoc", "mislgan", *BASELINE_ATTACKS, *GRADIENT_ATTACKS, *QUERY_ATTACKS],
        "detectors": list(CAMERA_DETECTORS + SYNTHETIC_DETECTORS),
        "perturbations": list(FIELD_GRID),
        "n": None,
        "description": "every test image and the field's whole perturbation grid (GPU or cluster)",
    },
}


def preset(name: str) -> dict:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return {k: v for k, v in PRESETS[name].items() if k != "description"}
