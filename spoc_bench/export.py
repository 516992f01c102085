"""Export a run's attacked images from the cache as files named by attack, target and input.

``rows.parquet`` gives each attacked row the ``path`` of its image in the cache. Each image is
copied once, byte for byte, to ``<attack>/<target>/<input id>`` under the destination: the input
id is the sample's id (a relative path, e.g. ``transposed/astronaut_0``) with the saved format's
suffix appended unless it already ends in it; the target folder is ``untargeted`` for an attack
whose image serves every target (``identity``), and a white-box attack, whose images differ per
detector, has a ``<detector>:<weights>`` folder below the target. ``index.csv`` lists every file.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pandas as pd

from .apply import output_name
from .chains import part_specs
from .images import FORMAT_SUFFIXES, atomic_write
from .registry import attacks, split_spec
from .runner import Session, file_name
from .tables import exact

INDEX_COLUMNS = ["file", "id", "input_id", "attack", "threat_model", "target", "detector", "psnr", "ssim", "cached"]
FORMATS = {suffix: name for name, suffixes in FORMAT_SUFFIXES.items() for suffix in suffixes}
UNTARGETED = "untargeted"


def export_attacked(rows: pd.DataFrame, destination: Path) -> pd.DataFrame:
    """Copy every attacked image of ``rows`` under ``destination``, write ``index.csv`` there (last),
    and return the index."""
    attacked = rows[rows.source == "attacked"]
    missing = [column for column in ("path", "input_id", "psnr", "ssim") if column not in attacked]
    if len(attacked) and missing:
        raise ValueError(f"the attacked rows lack the column(s) {', '.join(missing)} (`path`: rows of a run made "
                         f"before `export` existed); run `spoc-bench run` again with the same options to write them")
    images = attacked.drop_duplicates("path") if len(attacked) else attacked
    index = pd.DataFrame([entry(row) for row in images.itertuples(index=False)], columns=INDEX_COLUMNS)
    clash = index[index.file.duplicated(keep=False)]
    if len(clash):
        raise ValueError(f"the inputs {' and '.join(clash.input_id.head(2))} would share the file "
                         f"{clash.file.iloc[0]}; rename one of them in the dataset")
    for file, cached in zip(index.file, index.cached):
        try:
            data = Path(cached).read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(f"{cached}: the attacked image is no longer in the cache; run `spoc-bench "
                                    f"run` again with the same options to make it") from None
        atomic_write(destination / file, data)
    atomic_write(destination / "index.csv", index.to_csv(index=False, float_format=exact).encode())
    return index


def entry(row) -> dict:
    """One attacked image's line of the index, with its file name under the destination."""
    parts = [attacks.get(split_spec(part)[0]) for part in part_specs(row.attack)]
    target = row.target if any(part.uses_target for part in parts) else UNTARGETED
    detector = f"{row.detector}:{row.weights}" if Session.per_detector(row.attack) else ""
    name = PurePosixPath(row.input_id)
    if name.is_absolute() or ".." in name.parts:
        raise ValueError(f"the input id {row.input_id!r} would leave the export folder")
    suffix = Path(row.path).suffix.lower()
    folders = [file_name(part, "") for part in (row.attack, target, detector) if part]
    file = PurePosixPath(*folders, output_name(Path(name), FORMATS[suffix]).as_posix())
    return {"file": file.as_posix(), "id": row.id, "input_id": row.input_id, "attack": row.attack,
            "threat_model": row.threat_model, "target": target, "detector": detector, "psnr": row.psnr,
            "ssim": row.ssim, "cached": row.path}
