"""Score every image of a folder (any size) with one detector: the predicted class and the
probability of every class, per file. Unreadable or too-small files are counted skips."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .contracts import Detector
from .images import folder_images, to_tensor


def detect_folder(detector: Detector, source: Path) -> tuple[pd.DataFrame, list[dict]]:
    """``(scores, skipped)``: a row per image (file, height, width, predicted class, ``p_<class>``
    per class) and ``{"file", "reason"}`` per file that was not scored. ``detector`` is fitted."""
    import torch

    records, skipped = [], []
    for path, pixels, container, _ in folder_images(source, skipped):
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
