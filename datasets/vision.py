"""VISION (Shullani et al. 2017): smartphone images, one folder per device.

Layout: ``<root>/Dxx_Brand_Model/images/<type>/Dxx_I_<type>_NNNN.jpg`` with ``<type>`` one of
``flat`` (flat surfaces), ``nat`` (natural scenes), ``natFBH`` / ``natFBL`` (shared on Facebook,
high / low quality), ``natWA`` (shared on WhatsApp). ``image_types`` picks the types (by default
the native ``flat`` and ``nat``: the platforms re-encode the others, which erases the camera's own
JPEG settings). The camera is the folder name without ``Dxx_``, the device ``Dxx``. Videos and other
folders are ignored; files that are not images, or are misnamed, are skipped and recorded.

Splits: ``protocol`` ``cross-device`` (the default; Kirchner & Gloe's): per model, devices in
natural order, the attacker takes the last of three or more, ``defender-test`` the last of the
others and ``defender-train`` the rest, so the defender is tested on devices it never saw; a model
with two devices cannot be an attack target, and one with a single device is a class the defender
trains on but is not tested on (``split_report()``, ``run.json`` and the line under the run's table
name both). ``attacker_devices`` and ``test_devices`` name the devices instead.
``protocol=same-device`` gives the attacker the last device of each model with two or more and
hashes the other devices' images by shot to ``defender-train`` (``train_fraction``) or
``defender-test``. The shot, also the ``scene``, is ``Dxx_<flat|nat>_NNNN``: the shared copies of a
natural image are assumed to keep its number (unverified), so they fall in the same split as the
native file.
"""

from __future__ import annotations

import re
from pathlib import Path

from spoc_bench.contracts import Sample
from spoc_bench.registry import register_dataset

from ._layout import LayoutDataset, as_root, chosen, optional_tuple, sample, subfolders

LAYOUT = "<root>/Dxx_Brand_Model/images/{flat,nat,natFBH,natFBL,natWA}/Dxx_I_<type>_NNNN.jpg"
IMAGE_TYPES = ("flat", "nat", "natFBH", "natFBL", "natWA")
DEVICE_FOLDER = re.compile(r"^(?P<device>D\d+)_(?P<camera>.+)$")
NAME = re.compile(r"^(?P<device>D\d+)_I_(?P<type>flat|nat|natFBH|natFBL|natWA)_(?P<number>\d+)$")


@register_dataset("vision")
class Vision(LayoutDataset):
    """VISION smartphones: <root>/Dxx_Brand_Model/images/<type>/*.jpg; attacker gets held-out devices."""

    layout = LAYOUT

    def __init__(self, root: str | None = None, image_types: tuple[str, ...] = ("flat", "nat"),
                 cameras: tuple[str, ...] | None = None, protocol: str = "cross-device",
                 train_fraction: float = 0.7, attacker_devices: tuple[str, ...] | None = None,
                 test_devices: tuple[str, ...] | None = None, synthetic_root: str | None = None):
        super().__init__()
        self.root, self.image_types, self.cameras = as_root(root), optional_tuple(image_types), optional_tuple(cameras)
        self.keep_device_options(protocol, train_fraction, attacker_devices, test_devices, synthetic_root)
        chosen(self.name, "image type(s)", IMAGE_TYPES, self.image_types)

    def _scan(self, root: Path) -> list[Sample]:
        folders = [(f, DEVICE_FOLDER.match(f.name)) for f in subfolders(root)]
        folders = [(f, m) for f, m in folders if m and (f / "images").is_dir()]
        if not folders:
            raise self.layout_error(root, "has no Dxx_Brand_Model/images folders")
        keep = chosen(self.name, "camera(s)", {m["camera"] for _, m in folders}, self.cameras)
        samples = []
        for folder, match in folders:
            if match["camera"] not in keep:
                continue
            for image_type in self.image_types:
                if (folder / "images" / image_type).is_dir():
                    samples += self._device_samples(root, folder / "images" / image_type, match["device"],
                                                    match["camera"], image_type)
        return self.split_devices(samples, shot=lambda s: s.scene)

    def _device_samples(self, root: Path, folder: Path, device: str, camera: str, image_type: str) -> list[Sample]:
        samples = []
        for path in self.image_files(folder):
            name = NAME.match(path.stem)
            if name is None or name["device"] != device or name["type"] != image_type:
                self.skip(path, f"name is not {device}_I_{image_type}_NNNN")
                continue
            family = "flat" if image_type == "flat" else "nat"
            samples.append(sample(root, path, "", "real", camera=camera, device=device,
                                  scene=f"{device}_{family}_{name['number']}"))
        return samples
