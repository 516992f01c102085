"""Apply an attack to every image of a folder (any size) and write each result the way the target
camera saves its files, with a manifest: input, output, target, weights sha256, PSNR, SSIM.

The output folder mirrors the input folder. It may be neither the input folder nor inside it, and
no output may land outside it (through a symbolic link) or inside the input folder. An unreadable
or oversized image is a counted skip, named with its reason in the manifest.
"""

from __future__ import annotations

import json
from pathlib import Path

from .contracts import Attack, Item, Sample
from .images import FORMAT_SUFFIXES, IMAGE_SUFFIXES, ImageError, atomic_write, decode, image_files, read_image, to_tensor
from .metrics import psnr, ssim


def attack_folder(attack: Attack, dataset, target: str, source: Path, destination: Path) -> dict:
    """Fit ``attack`` on the target's attacker-split images of ``dataset``, then attack ``source``."""
    source, destination = Path(source), Path(destination)
    if attack.needs & {"detector", "oracle", "surrogate"}:
        raise ValueError(f"attack {attack.name!r} needs a detector; only attacks that need none apply to a folder")
    check_destination(source, destination)
    skipped: list[dict] = []
    files = image_files(source, skipped)
    check_output_folders(source, destination, files)
    fit_attack(attack, dataset, target)
    records = []
    for path in files:
        try:
            records.append(attack_file(attack, target, path, source, destination))
        except ImageError as error:
            skipped.append({"file": error.path, "reason": error.reason})
    manifest = {"attack": attack.name, "config": attack.config(), "threat_model": attack.threat_model,
                "target": target, "weights_sha256": attack.weights_id(target), "dataset": dataset.name,
                "images": records, "skipped": skipped}
    write(destination / "manifest.json", json.dumps(manifest, indent=2, default=str).encode())
    return manifest


def fit_attack(attack: Attack, dataset, target: str) -> None:
    """Fit ``attack`` on what it needs: the target camera's attacker-split images of ``dataset``."""
    knowledge = {}
    if "target_samples" in attack.needs:
        chosen = [s for s in dataset.samples("attacker") if s.source == "real" and s.camera == target]
        if not chosen:
            raise ValueError(f"no attacker-split images of camera {target!r} in dataset {dataset.name!r}")
        knowledge["target_samples"] = list(dataset.items(chosen, skipped=[]))
    attack.fit(target, **knowledge)


def attack_file(attack: Attack, target: str, path: Path, source: Path, destination: Path) -> dict:
    """Attack one image file, write the result and return its manifest record."""
    pixels, container, data = read_image(path)
    item = Item(Sample(path.name, "input", "synthetic"), pixels, container, data)
    (encoded, saved_as), = attack.save(attack(to_tensor([pixels])), [item])
    output = destination / output_name(path.relative_to(source), saved_as.saved_format)
    result = decode(encoded, str(output))
    write(output, encoded)
    return {"input": str(path), "output": str(output), "target": target, "psnr": psnr(pixels, result),
            "ssim": ssim(pixels, result), "format": saved_as.saved_format, "subsampling": saved_as.subsampling}


def output_name(relative: Path, saved_format: str) -> Path:
    """Where the output of the input at ``relative`` goes, one path per input.

    The input's own path where its suffix already names ``saved_format`` (``c.jpeg`` stays
    ``c.jpeg``) and its stem has no image suffix; otherwise the full name with the format's suffix
    appended (``a.jpg`` saved as PNG is ``a.jpg.png``; ``b.png.jpg`` saved as JPEG is
    ``b.png.jpg.jpg``). Kept names have no image suffix before their last; appended names always
    do, so no two inputs share an output."""
    suffixes = FORMAT_SUFFIXES[saved_format]
    stem = Path(relative.stem)
    if relative.suffix.lower() in suffixes and stem.suffix.lower() not in IMAGE_SUFFIXES:
        return relative
    return relative.with_name(relative.name + suffixes[0])


def check_destination(source: Path, destination: Path) -> None:
    """Refuse an output folder that is the input folder or inside it (symbolic links resolved):
    the originals would be overwritten, or a rerun would attack its own outputs."""
    inputs, outputs = source.resolve(), destination.resolve()
    if outputs == inputs:
        raise ValueError(f"--output {destination} is the input folder {source}; choose another folder, "
                         "or the originals would be overwritten")
    if outputs.is_relative_to(inputs):
        raise ValueError(f"--output {destination} is inside the input folder {source}; choose a folder "
                         "outside it, or a rerun would attack its own outputs")
    if destination.exists() and not destination.is_dir():
        raise ValueError(f"--output {destination} exists and is not a folder")


def check_output_folders(source: Path, destination: Path, files: list[Path]) -> None:
    """Refuse before writing anything where an output folder resolves outside ``destination`` (a
    symbolic link inside it) or inside ``source`` (an input folder inside the output folder)."""
    inputs, outputs = source.resolve(), destination.resolve()
    for folder in sorted({destination / path.relative_to(source).parent for path in files}):
        resolved = folder.resolve()
        if not resolved.is_relative_to(outputs):
            raise ValueError(f"--output: {folder} leads to {resolved}, outside the output folder {destination} "
                             "(a symbolic link); remove the link or choose another folder")
        if resolved.is_relative_to(inputs):
            raise ValueError(f"--output: {folder} is inside the input folder {source}; writing there would "
                             "change the inputs; choose an output folder that does not hold the input folder")


def write(path: Path, data: bytes) -> None:
    """Write ``data`` atomically; an output that cannot be written is an error naming it."""
    try:
        atomic_write(path, data)
    except OSError as error:
        raise ValueError(f"--output: cannot write {path} ({error.strerror or error})") from None
