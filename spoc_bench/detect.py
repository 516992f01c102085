"""Score every image of a folder (any size) with one detector: the predicted class and the
probability of every class, per file. Unreadable or too-small files are counted skips."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .contracts import Detector
from .images import IMAGE_SUFFIXES, ImageError, read_image, to_tensor


def image_files(source: Path) -> list[Path]:
    files = sorted(p for p in Path(source).rglob("*") if p.is_file())
    if not files:
        raise FileNotFoundError(f"{source}: no files to score")
    return files


def detect_folder(detector: Detector, source: Path) -> tuple[pd.DataFrame, list[dict]]:
    """``(scores, skipped)``: a row per image (file, height, width, predicted class, ``p_<class>``
    per class) and ``{"file", "reason"}`` per file that was not scored. ``detector`` is fitted."""
    import torch

    records, skipped = [], []
    for path in image_files(source):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append({"file": str(path), "reason": f"not an image file (suffix {path.suffix or 'none'})"})
            continue
        try:
            pixels, container, _ = read_image(path)
        except ImageError as error:
            skipped.append({"file": error.path, "reason": error.reason})
            continue
        height, width = pixels.shape[:2]
        if min(height, width) < detector.min_size:
            skipped.append({"file": str(path), "reason": f"{height}x{width} px is smaller than {detector.name}'s "
                                                         f"minimum of {detector.min_size} px"})
            continue
        with torch.no_grad():
            probabilities = detector.predict(to_tensor([pixels]), [container])[0].double().cpu().numpy()
        records.append({"file": str(path.relative_to(source)), "height": height, "width": width,
                        "predicted": detector.classes[int(probabilities.argmax())],
                        **{f"p_{c}": float(p) for c, p in zip(detector.classes, probabilities)}})
    columns = ["file", "height", "width", "predicted", *(f"p_{c}" for c in detector.classes)]
    return pd.DataFrame.from_records(records, columns=columns), skipped
