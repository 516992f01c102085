"""Importing the official weights of the synthetic-image detectors, and finding them again.

``spoc-bench weights import wang2020 FILE`` and ``spoc-bench weights import gragnaniello2021 FILE``
convert the authors' PyTorch checkpoints into the project's ``ResNet`` (``_resnet.py``):

- Wang et al. 2020, https://github.com/PeterWang512/CNNDetection: ``blur_jpg_prob0.5.pth`` and
  ``blur_jpg_prob0.1.pth`` (``weights/download_weights.sh``), torchvision's ResNet-50 with ``fc`` of
  one output, the state dict under ``"model"`` (``demo.py``: ``model.load_state_dict(state_dict['model'])``).
- Gragnaniello et al. 2021, https://github.com/grip-unina/GANimageDetection:
  ``gandetection_resnet50nodown_progan.pth`` and ``gandetection_resnet50nodown_stylegan2.pth``
  (``resnet50nodown.py``): the same key names (its ``fc`` a ``ChannelLinear`` of one output applied
  after the global average pooling: the same ``[1, 2048]`` weight), the state dict under ``"model"``;
  bottlenecks with the stride on the 3x3 conv, as torchvision's; ``stride0=1`` sets the stem's 7x7
  conv and its 3x3 max-pool to stride 1 (the max-pool stays), as ``ResNet(..., stem_stride=1)``.

Both read RGB normalised with ImageNet's mean and std, which ``ResNet`` does inside.

**Tags.** An imported file's tag is its file name without ``.pth`` (``blur_jpg_prob0.5``,
``gandetection_resnet50nodown_stylegan2``; characters other than letters, digits, ``.``, ``_`` and
``-`` become ``-``). The tag ``official`` names each detector's default release (:data:`UPSTREAM`):
``blur_jpg_prob0.5`` for wang2020 (CNNDetection's default), ``gandetection_resnet50nodown_stylegan2``
for gragnaniello2021 (GANimageDetection's default).

**Where.** The import writes ``<name>-<tag>.safetensors`` and its manifest ``<name>-<tag>.json``
(``spoc_bench.weights.save_weights``: our sha256, the source file's name and sha256, the
architecture, the tag, the licence) to ``destination``, by default ``<cache>/weights/<name>``
(:func:`spoc_bench.weights.local_weights_dir`). A detector built without ``weights_dir`` looks for
its tag among the shipped weights, then in that folder (:func:`find_weights`); with ``weights_dir`` only there.

Third-party weights are never shipped with spoc-bench; each user imports their own copy.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from spoc_bench.weights import WeightsNotFoundError, file_sha256, local_weights_dir, weights_folder, weights_path

OFFICIAL_TAG = "official"
UPSTREAM = {
    "wang2020": {
        "repository": "https://github.com/PeterWang512/CNNDetection",
        "files": ("blur_jpg_prob0.5.pth", "blur_jpg_prob0.1.pth"),
        OFFICIAL_TAG: "blur_jpg_prob0.5",
        "reference": "S.-Y. Wang, O. Wang, R. Zhang, A. Owens, A. A. Efros, 'CNN-generated images are surprisingly "
                     "easy to spot... for now', CVPR 2020",
        "licence": "CNNDetection: (c) 2020 Sheng-Yu Wang, Oliver Wang, Richard Zhang, Andrew Owens, Alexei A. Efros; "
                   "Creative Commons Attribution-NonCommercial-ShareAlike 4.0 (LICENSE.txt of "
                   "PeterWang512/CNNDetection). Not redistributed with spoc-bench.",
    },
    "gragnaniello2021": {
        "repository": "https://github.com/grip-unina/GANimageDetection",
        "files": ("gandetection_resnet50nodown_progan.pth", "gandetection_resnet50nodown_stylegan2.pth"),
        OFFICIAL_TAG: "gandetection_resnet50nodown_stylegan2",
        "reference": "D. Gragnaniello, D. Cozzolino, F. Marra, G. Poggi, L. Verdoliva, 'Are GAN generated images easy "
                     "to detect? A critical analysis of the state-of-the-art', ICME 2021",
        "licence": "GANimageDetection weights: (c) Image Processing Research Group of University Federico II of Naples "
                   "('GRIP-UNINA'); for informational and non-profit purposes only, keep all original notices "
                   "(LICENSE.md of grip-unina/GANimageDetection), cite the paper. Not redistributed with spoc-bench.",
    },
}
# torchvision's names inside a block -> the index in ``_resnet``'s ``body`` / ``shortcut``
BODY = {"conv1": 0, "bn1": 1, "conv2": 3, "bn2": 4, "conv3": 6, "bn3": 7}
KEY = re.compile(r"^(?:(conv1|bn1)\.(\w+)|layer([1-4])\.(\d+)\.(conv[123]|bn[123]|downsample\.[01])\.(\w+)|"
                 r"fc\.(weight|bias))$")


# ------------------------------------------------------------------------------------- finding
def tag_of(path: str | os.PathLike) -> str:
    """The tag of an imported file: its name without ``.pth`` (``blur_jpg_prob0.5``)."""
    stem = re.sub(r"(\.pth|\.pt)?(\.tar)?$", "", Path(path).name)
    return re.sub(r"[^A-Za-z0-9._-]", "-", stem).strip(".-") or "imported"


def resolve_tag(name: str, tag: str) -> str:
    """``official`` -> the detector's default upstream release; any other tag unchanged."""
    return UPSTREAM[name][OFFICIAL_TAG] if tag == OFFICIAL_TAG and name in UPSTREAM else tag


def find_weights(name: str, tag: str, weights_dir: str | os.PathLike | None = None) -> Path:
    """The file of a weights tag: in ``weights_dir`` when given, else the shipped weights, then
    :func:`spoc_bench.weights.local_weights_dir`. Raises :class:`WeightsNotFoundError` naming the
    folders and both commands."""
    resolved = resolve_tag(name, tag)
    folders = [Path(weights_dir).expanduser()] if weights_dir else [weights_folder("detector"), local_weights_dir(name)]
    for folder in folders:
        path = weights_path("detector", name, resolved, folder)
        if path.is_file():
            return path
    available = sorted({p.name[len(name) + 1:-len(".safetensors")] for folder in folders if folder.is_dir()
                        for p in folder.glob(f"{name}-*.safetensors")})
    wanted = f"{tag!r} ({resolved}.safetensors)" if resolved != tag else repr(tag)
    upstream = UPSTREAM.get(name)
    how_import = (f"import the official weights with `spoc-bench weights import {name} FILE.pth` (from "
                  f"{upstream['repository']}: {', '.join(upstream['files'])}; the tag is the file name without "
                  f".pth, and {OFFICIAL_TAG!r} is {upstream[OFFICIAL_TAG]})") if upstream else ""
    raise WeightsNotFoundError(
        f"detector {name!r}: weights {wanted} are missing: no {name}-{resolved}.safetensors in "
        f"{' or '.join(str(f) for f in folders)}. Tags there: {', '.join(available) or 'none'}. Train them with "
        f"`spoc-bench train detector {name}`" + (f", or {how_import}" if how_import else ""))


# ------------------------------------------------------------------------------------- reading
def read_checkpoint(path: Path, origin: str) -> dict:
    """The state dict of a ``.pth`` file (``torch.load(..., weights_only=True)``): bare, or under
    ``"model"`` or ``"state_dict"``, a ``module.`` prefix (DataParallel) taken off."""
    import torch

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - whatever a damaged file raises, one error naming it
        text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(error)).split())
        detail = text.split("WeightsUnpickler error:", 1)[-1].split(" Check the documentation")[0].strip()
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", detail)
        if refused:
            reason = (f"it holds Python objects other than tensors ({refused.group(1)}), which a weights-only load "
                      f"refuses (a whole pickled model? save its state_dict() instead)")
        elif isinstance(error, EOFError):
            reason = "the file ends early: truncated or empty (download it again)"
        else:
            reason = (f"not a readable PyTorch checkpoint, or truncated ({type(error).__name__}: "
                      f"{detail[:200]}{'...' if len(detail) > 200 else ''})")
        raise ValueError(f"{origin}: {path}: {reason}") from None
    state = loaded
    if isinstance(loaded, dict):
        for wrapper in ("model", "state_dict"):
            if isinstance(loaded.get(wrapper), dict):
                state = loaded[wrapper]
                break
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        what = type(loaded).__name__ if not isinstance(loaded, dict) else f"a dict of {sorted(map(str, loaded))[:6]}"
        raise ValueError(f"{origin}: {path}: not a state dict of tensors (found {what}; expected the tensors by "
                         f"name, bare or under 'model' or 'state_dict')")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def from_torchvision(state: dict, stem_stride: int, origin: str) -> dict:
    """Map a state dict with torchvision's ResNet names onto ``ResNet(depth, width, stem_stride)``'s;
    depth and width come from the shapes. Every key must be used and every project key filled
    (a missing ``num_batches_tracked``, unused at inference, becomes 0), else ``ValueError``.
    Returns the tensors with ``meta.arch`` ``[depth, width, stem_stride]``."""
    import torch

    from ._resnet import LAYOUTS, ResNet

    blocks: dict[int, set[int]] = {1: set(), 2: set(), 3: set(), 4: set()}
    bottleneck = False
    parsed, unexpected = {}, []
    for key in state:
        match = KEY.match(key)
        if not match:
            unexpected.append(key)
            continue
        parsed[key] = match.groups()
        if match.group(3):
            blocks[int(match.group(3))].add(int(match.group(4)))
            bottleneck |= match.group(5) in ("conv3", "bn3")
    if "conv1.weight" not in state or state["conv1.weight"].ndim != 4:
        raise ValueError(f"{origin}: not a torchvision-style ResNet (no 4-d 'conv1.weight'; keys begin "
                         f"{sorted(state)[:4]})")
    counts = tuple(max(found) + 1 if found else 0 for found in blocks.values())
    kind = "bottleneck" if bottleneck else "basic"
    depth = next((d for d, layout in LAYOUTS.items() if layout == (kind, counts)), None)
    if depth is None:
        raise ValueError(f"{origin}: a ResNet with {kind} blocks {list(counts)}; spoc-bench's ResNet is ResNet-18 "
                         f"(basic [2, 2, 2, 2]) or ResNet-50 (bottleneck [3, 4, 6, 3])")
    width = int(state["conv1.weight"].shape[0])
    net = ResNet(depth, width, stem_stride)
    expected = net.state_dict()
    starts = [4 + sum(counts[:i]) for i in range(4)]
    mapped, sources = {}, {}
    for key, (stem, stem_what, layer, index, part, what, fc_what) in parsed.items():
        if stem:
            target = f"features.{0 if stem == 'conv1' else 1}.{stem_what}"
        elif layer:
            block = f"features.{starts[int(layer) - 1] + int(index)}"
            place = f"shortcut.{part[-1]}" if part.startswith("downsample") else f"body.{BODY[part]}"
            target = f"{block}.{place}.{what}"
        else:
            target = f"fc.{fc_what}"
        if target not in expected:
            unexpected.append(key)
            continue
        mapped[target], sources[target] = state[key], key
    missing = sorted(k for k in expected if k not in mapped and k not in ("mean", "std"))
    for key in [k for k in missing if k.endswith("num_batches_tracked")]:
        mapped[key] = torch.zeros((), dtype=torch.long)
        missing.remove(key)
    if missing or unexpected:
        names = _torchvision_names(expected, counts)
        missing = [names.get(k, k) for k in missing]
        raise ValueError(f"{origin}: not a ResNet-{depth} of the expected layout: missing {len(missing)} key(s) "
                         f"{_some(missing)}, unexpected {len(unexpected)} key(s) {_some(sorted(unexpected))}")
    fc = mapped["fc.weight"]
    if fc.ndim == 2 and fc.shape[0] != 1:
        raise ValueError(f"{origin}: fc has {fc.shape[0]} outputs, expected 1 (the logit of 'synthetic'): an "
                         f"ImageNet classifier or another model, not the detector's checkpoint")
    tensors = {}
    for target, value in expected.items():
        if target in ("mean", "std"):
            tensors[target] = value
            continue
        tensor = mapped[target]
        if tuple(tensor.shape) != tuple(value.shape):
            raise ValueError(f"{origin}: {sources.get(target, target)} has shape {list(tensor.shape)}, expected "
                             f"{list(value.shape)} for a ResNet-{depth} of width {width}")
        if value.is_floating_point() and not tensor.is_floating_point():
            raise ValueError(f"{origin}: {sources.get(target, target)} has dtype {tensor.dtype}, expected floats")
        tensors[target] = tensor.detach().to(value.dtype).contiguous()
    net.load_state_dict(tensors)  # strict: the layout is the network's
    return {**tensors, "meta.arch": torch.tensor([depth, width, stem_stride])}


def _torchvision_names(expected: dict, counts: tuple) -> dict:
    """``{project key: torchvision key}`` (for naming missing keys the way the source names them)."""
    starts = [4 + sum(counts[:i]) for i in range(4)]
    inverse = {f"body.{v}": k for k, v in BODY.items()} | {"shortcut.0": "downsample.0", "shortcut.1": "downsample.1"}
    names = {}
    for key in expected:
        parts = key.split(".")
        if key.startswith("features.") and parts[1] in ("0", "1"):
            names[key] = f"{'conv1' if parts[1] == '0' else 'bn1'}.{parts[2]}"
        elif key.startswith("features."):
            number = int(parts[1])
            layer = max(i for i in range(4) if starts[i] <= number)
            names[key] = f"layer{layer + 1}.{number - starts[layer]}.{inverse['.'.join(parts[2:4])]}.{parts[4]}"
    return names


def _some(keys: list, shown: int = 4) -> str:
    return f"{keys[:shown]}{'...' if len(keys) > shown else ''}"


# ------------------------------------------------------------------------------------ the import
def import_synthetic(cls, source: str | os.PathLike, destination: str | os.PathLike | None = None) -> dict:
    """Import an official checkpoint of ``cls`` (``Wang2020`` or ``Gragnaniello2021``).

    ``source``: the authors' ``.pth`` file. Writes ``<name>-<tag>.safetensors`` (tag: :func:`tag_of`)
    and its manifest to ``destination`` (default :func:`spoc_bench.weights.local_weights_dir`), each
    atomically. Returns the manifest, with ``"files"`` and ``"destination"``. Raises
    ``FileNotFoundError`` for a missing file and ``ValueError`` (naming the file and the reason) for
    a file that is not such a checkpoint.
    """
    import json

    import torch

    from spoc_bench.weights import save_weights

    name, upstream = cls.name, UPSTREAM[cls.name]
    origin = f"{name} import"
    source = Path(source).expanduser()
    if not source.exists():
        raise FileNotFoundError(f"{origin}: {source} does not exist (expected one of the authors' checkpoints: "
                                f"{', '.join(upstream['files'])}, from {upstream['repository']})")
    if not source.is_file():
        raise ValueError(f"{origin}: {source} is a folder; give one checkpoint file ({', '.join(upstream['files'])})")
    _refuse_the_other_detector(cls, source, origin)
    tag = tag_of(source)
    tensors = from_torchvision(read_checkpoint(source, origin), cls.STEM_STRIDE, f"{origin}: {source}")
    depth, width, stem_stride = tensors["meta.arch"].tolist()
    folder = Path(destination).expanduser() if destination else local_weights_dir(name)
    parameters = sum(v.numel() for k, v in tensors.items()
                     if k.endswith(("weight", "bias")) and not k.startswith("meta."))
    manifest = {
        "model": name,
        "command": f"spoc-bench weights import {name} {source.name}",
        "source": {"file": source.name, "path": str(source.resolve()), "bytes": source.stat().st_size,
                   "sha256": file_sha256(source)},
        "architecture": {"network": f"ResNet-{depth}, torchvision layout, one logit", "depth": depth,
                         "width": width, "stem_stride": stem_stride, "parameters": parameters},
        "aliases": [OFFICIAL_TAG] if tag == upstream[OFFICIAL_TAG] else [],
        "input": "RGB in [0, 1], normalised inside with ImageNet's mean and std",
        "upstream": upstream["repository"],
        "reference": upstream["reference"],
        "licence": upstream["licence"],
        "torch": torch.__version__,
    }
    path = save_weights(tensors, "detector", name, tag, manifest, folder)
    record = json.loads(path.with_suffix(".json").read_text())
    return {**record, "files": {path.name: record}, "destination": str(folder)}


def _refuse_the_other_detector(cls, source: Path, origin: str) -> None:
    """The two detectors' files have the same shapes; only the name tells them apart."""
    for other, upstream in UPSTREAM.items():
        nodown = "nodown" in source.name.lower() and cls.STEM_STRIDE == 2 and other == "gragnaniello2021"
        if other != cls.name and (source.name in upstream["files"] or nodown):
            raise ValueError(f"{origin}: {source} is {other}'s checkpoint ({upstream['repository']}), not "
                             f"{cls.name}'s; import it with `spoc-bench weights import {other} {source}`")
