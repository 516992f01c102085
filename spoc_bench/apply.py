"""Apply an attack to every image of a folder (any size) and write each result the way the target
camera saves its files, with a manifest: input, output, target, weights sha256, PSNR, SSIM."""

from __future__ import annotations

import json
from pathlib import Path

from .contracts import Attack, Item, Sample
from .images import atomic_write, decode, folder_images, to_tensor
from .metrics import psnr, ssim


def attack_folder(attack: Attack, dataset, target: str, source: Path, destination: Path) -> dict:
    """Fit ``attack`` on the target's attacker-split images of ``dataset``, then attack ``source``."""
    if "detector" in attack.needs or "surrogate" in attack.needs:
        raise ValueError(f"attack {attack.name!r} needs a detector; only attacks that need none apply to a folder")
    knowledge = {}
    if "target_samples" in attack.needs:
        chosen = [s for s in dataset.samples("attacker") if s.source == "real" and s.camera == target]
        if not chosen:
            raise ValueError(f"no attacker-split images of camera {target!r} in dataset {dataset.name!r}")
        knowledge["target_samples"] = list(dataset.items(chosen, skipped=[]))
    attack.fit(target, **knowledge)
    records, skipped = [], []
    for path, pixels, container, data in folder_images(source, skipped):
        item = Item(Sample(path.name, "input", "synthetic"), pixels, container, data)
        (encoded, saved_as), = attack.save(attack(to_tensor([pixels])), [item])
        output = Path(destination) / path.relative_to(source).with_suffix(saved_as.suffix)
        atomic_write(output, encoded)
        result = decode(encoded)
        records.append({"input": str(path), "output": str(output), "target": target, "psnr": psnr(pixels, result),
                        "ssim": ssim(pixels, result), "format": saved_as.format, "subsampling": saved_as.subsampling})
    manifest = {"attack": attack.name, "config": attack.config(), "threat_model": attack.threat_model,
                "target": target, "weights_sha256": attack.weights_id(target), "dataset": dataset.name,
                "images": records, "skipped": skipped}
    atomic_write(Path(destination) / "manifest.json", json.dumps(manifest, indent=2, default=str).encode())
    return manifest
