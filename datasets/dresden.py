"""The Dresden Image Database (Gloe & Böhme 2010): ``Brand_Model_Instance_Shot.JPG`` files.

Layout: ``<root>/**/Brand_Model_Instance_Shot.JPG`` (e.g. ``Nikon_D70s_1_23136.JPG``; nested
folders are allowed). The camera is ``Brand_Model`` (a model may contain underscores, as in
``Olympus_mju_1050SW``), the device ``Brand_Model_Instance`` (instance 0..4), the shot the number
at the end. Files that are not images, or whose name does not follow the pattern, are skipped and
recorded in ``skipped``.

Splits: ``protocol`` ``cross-device`` (the default; Kirchner & Gloe's): per model, devices in
natural order, the attacker takes the last of three or more, ``defender-test`` the last of the
others and ``defender-train`` the rest, so the defender is tested on devices it never saw; a model
with two devices cannot be an attack target, and one with a single device is a class the defender
trains on but is not tested on (``split_report()``, ``run.json`` and the line under the run's table
name both). ``attacker_devices`` and ``test_devices`` name the devices instead.
``protocol=same-device`` gives the attacker the last device of each model with two or more and
hashes the other devices' images by shot to ``defender-train`` (``train_fraction``) or
``defender-test``. The file names do not say which scene a photograph shows (every Dresden device
photographed the same scenes), so ``scene`` is left empty.
"""

from __future__ import annotations

import re
from pathlib import Path

from spoc_bench.contracts import Sample
from spoc_bench.registry import register_dataset

from ._layout import LayoutDataset, as_root, chosen, optional_tuple, sample

LAYOUT = "<root>/**/Brand_Model_Instance_Shot.JPG, e.g. Nikon_D70s_1_23136.JPG"
NAME = re.compile(r"^(?P<camera>[^_]+_.+)_(?P<instance>\d+)_(?P<shot>\d+)$")


@register_dataset("dresden")
class Dresden(LayoutDataset):
    """Dresden Image Database: <root>/**/Brand_Model_Instance_Shot.JPG; attacker gets held-out devices."""

    layout = LAYOUT

    def __init__(self, root: str | None = None, cameras: tuple[str, ...] | None = None, protocol: str = "cross-device",
                 train_fraction: float = 0.7, attacker_devices: tuple[str, ...] | None = None,
                 test_devices: tuple[str, ...] | None = None, synthetic_root: str | None = None):
        super().__init__()
        self.root, self.cameras = as_root(root), optional_tuple(cameras)
        self.keep_device_options(protocol, train_fraction, attacker_devices, test_devices, synthetic_root)

    def _scan(self, root: Path) -> list[Sample]:
        samples = []
        for path in self.image_files(root):
            match = NAME.match(path.stem)
            if match is None:
                self.skip(path, "name is not Brand_Model_Instance_Shot")
                continue
            camera = match["camera"]
            samples.append(sample(root, path, "", "real", camera=camera, device=f"{camera}_{match['instance']}"))
        if not samples:
            return []
        keep = chosen(self.name, "camera(s)", {s.camera for s in samples}, self.cameras)
        samples = [s for s in samples if s.camera in keep]
        return self.split_devices(samples, shot=lambda s: Path(s.id).stem)
