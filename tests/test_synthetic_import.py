"""Importing the official wang2020 / gragnaniello2021 checkpoints (``detectors/_synthetic_import.py``).

The authors' files are not reachable here, so each test writes a checkpoint laid out as theirs are:
the state dict of a torchvision-style ResNet-50 (``conv1``, ``bn1``, ``layer1..4``, ``downsample``,
``fc`` of one output), under ``"model"``. ``Reference`` below is written for these tests with
torchvision's module names; its outputs on a few images are what the imported detector must give.
"""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from typer.testing import CliRunner

import spoc_bench
from spoc_bench.cli import app
from spoc_bench.detectors.gragnaniello2021 import Gragnaniello2021
from spoc_bench.detectors.wang2020 import Wang2020
from spoc_bench.weights import WeightsNotFoundError, file_sha256

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


# ---------------------------------------------------------------- a torchvision-style reference
class Block(nn.Module):
    """A bottleneck with torchvision's names (stride on the 3x3 convolution)."""

    def __init__(self, inputs, width, stride):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(inputs, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, width * 4, 1, bias=False), nn.BatchNorm2d(width * 4)
        self.downsample = None
        if stride != 1 or inputs != width * 4:
            self.downsample = nn.Sequential(nn.Conv2d(inputs, width * 4, 1, stride, bias=False),
                                            nn.BatchNorm2d(width * 4))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


class Reference(nn.Module):
    """ResNet-50 with torchvision's key names; ``stride0`` 1 is the no-down-sampling stem."""

    def __init__(self, width=64, stride0=2):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, stride0, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.MaxPool2d(3, stride0, 1)
        inputs = width
        for number, count in enumerate((3, 4, 6, 3)):
            blocks = []
            for index in range(count):
                blocks.append(Block(inputs, width * 2 ** number, 2 if number and not index else 1))
                inputs = width * 2 ** number * 4
            setattr(self, f"layer{number + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(inputs, 1)

    def forward(self, images):  # RGB in [0, 1], normalised as the authors' transforms do
        x = self.maxpool(torch.relu(self.bn1(self.conv1((images - MEAN) / STD))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean(dim=(2, 3))).squeeze(1)


def reference(width=64, stride0=2, seed=0):
    """A randomly initialised reference, BatchNorm's affine parameters and running statistics too."""
    torch.manual_seed(seed)
    net = Reference(width, stride0)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.6, 1.2)
                module.bias.normal_(0, 0.1)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 2.0)
                module.num_batches_tracked.fill_(1234)
    return net.eval()


def save_checkpoint(net, path, layout="model", legacy=False, prefix=""):
    state = {prefix + k: v for k, v in net.state_dict().items()}
    if layout == "model":  # CNNDetection's trainer also saved the optimizer and the step count
        state = {"model": state, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4}]}, "total_steps": 7}
    elif layout == "state_dict":
        state = {"state_dict": state}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    return path


def assert_same_outputs(detector, net, size=48, count=2):
    images = torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = net(images)
        logits = detector.network()(images)
        probabilities = detector.predict(images)
    assert torch.allclose(logits, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item()), (logits, expected)
    assert torch.allclose(probabilities[:, 1], torch.sigmoid(expected), rtol=1e-5, atol=1e-6)
    assert expected.std() > 0  # the images are told apart: the check is not vacuous


# ----------------------------------------------------------------------------- the full models
def test_wang2020_official_checkpoint_gives_the_references_outputs(tmp_path, isolated_cache):
    net = reference(stride0=2)
    source = save_checkpoint(net, tmp_path / "upstream" / "blur_jpg_prob0.5.pth", legacy=True)  # a 2019 torch
    manifest = Wang2020.import_weights(source)
    written = isolated_cache / "weights" / "wang2020" / "wang2020-blur_jpg_prob0.5.safetensors"
    assert manifest["destination"] == str(written.parent) and list(manifest["files"]) == [written.name]
    assert manifest["tag"] == "blur_jpg_prob0.5" and manifest["aliases"] == ["official"]
    assert manifest["sha256"] == file_sha256(written) and manifest["source"]["sha256"] == file_sha256(source)
    assert manifest["source"]["file"] == "blur_jpg_prob0.5.pth"
    assert manifest["architecture"] == {"network": "ResNet-50, torchvision layout, one logit", "depth": 50,
                                            "width": 64, "stem_stride": 2, "parameters": 23_510_081}
    assert json.loads(written.with_suffix(".json").read_text())["sha256"] == manifest["sha256"]
    for tag in ("blur_jpg_prob0.5", "official"):  # found by tag, with no weights_dir
        detector = spoc_bench.build_detector("wang2020", weights=tag)
        assert detector.weights_file() == written and detector.weights_id() == manifest["sha256"]
    assert_same_outputs(detector, net)


def test_gragnaniello2021_nodown_checkpoint_gives_the_references_outputs(tmp_path):
    net = reference(stride0=1, seed=1)
    source = save_checkpoint(net, tmp_path / "gandetection_resnet50nodown_progan.pth")
    manifest = Gragnaniello2021.import_weights(source, tmp_path / "mine")
    assert manifest["tag"] == "gandetection_resnet50nodown_progan" and manifest["aliases"] == []
    assert manifest["architecture"]["stem_stride"] == 1 and manifest["destination"] == str(tmp_path / "mine")
    detector = spoc_bench.build_detector("gragnaniello2021", weights="gandetection_resnet50nodown_progan",
                                         weights_dir=str(tmp_path / "mine"))
    assert_same_outputs(detector, net, size=32, count=2)
    with pytest.raises(WeightsNotFoundError, match="gandetection_resnet50nodown_stylegan2"):  # official: the other
        spoc_bench.build_detector("gragnaniello2021", weights="official", weights_dir=str(tmp_path / "mine")).network()


# ------------------------------------------------------------- layouts, on a narrow ResNet-50
@pytest.mark.parametrize("layout, prefix, legacy", [("bare", "module.", False), ("state_dict", "", True),
                                                    ("model", "module.", True)])
def test_bare_wrapped_and_dataparallel_checkpoints(tmp_path, layout, prefix, legacy):
    net = reference(width=8, stride0=1, seed=2)
    source = save_checkpoint(net, tmp_path / "nodown-w8.pth", layout, legacy, prefix)
    manifest = Gragnaniello2021.import_weights(source, tmp_path)
    assert manifest["architecture"]["width"] == 8 and manifest["tag"] == "nodown-w8"
    detector = spoc_bench.build_detector("gragnaniello2021", weights="nodown-w8", weights_dir=str(tmp_path))
    assert_same_outputs(detector, net, size=40, count=3)


def test_missing_num_batches_tracked_is_filled_but_any_other_missing_key_is_named(tmp_path):
    net = reference(width=8)
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save({"model": state}, tmp_path / "old.pth")  # torch < 0.4.1 wrote no num_batches_tracked
    Wang2020.import_weights(tmp_path / "old.pth", tmp_path)
    assert_same_outputs(spoc_bench.build_detector("wang2020", weights="old", weights_dir=str(tmp_path)), net)

    del state["layer3.2.bn2.running_var"]
    state["head.weight"] = torch.zeros(3)
    torch.save({"model": state}, tmp_path / "holed.pth")
    with pytest.raises(ValueError) as error:
        Wang2020.import_weights(tmp_path / "holed.pth", tmp_path)
    message = str(error.value)
    assert str(tmp_path / "holed.pth") in message and "layer3.2.bn2.running_var" in message
    assert "head.weight" in message and "\n" not in message
    assert not (tmp_path / "wang2020-holed.safetensors").exists()


def test_bad_files_are_one_clear_error_naming_the_file(tmp_path):
    good = save_checkpoint(reference(width=8), tmp_path / "good.pth")
    legacy = save_checkpoint(reference(width=8), tmp_path / "legacy.pth", legacy=True)
    cases = {"text.pth": b"not a checkpoint at all\n", "truncated.pth": good.read_bytes()[: good.stat().st_size // 2],
             "truncated-legacy.pth": legacy.read_bytes()[: legacy.stat().st_size // 2], "empty.pth": b""}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    imagenet = reference(width=8)
    imagenet.fc = nn.Linear(256, 1000)
    save_checkpoint(imagenet, tmp_path / "imagenet.pth", "bare")
    torch.save(reference(width=8), tmp_path / "pickled-model.pth")  # a whole module, not a state dict
    torch.save({"model": {"conv1.weight": torch.zeros(8, 3, 7, 7), "layer1.0.conv1.weight": torch.zeros(8, 8, 1, 1)}},
               tmp_path / "resnet-stub.pth")
    torch.save({"epoch": 3}, tmp_path / "no-tensors.pth")
    expected = {"text.pth": "not a readable PyTorch checkpoint", "truncated.pth": "not a readable PyTorch checkpoint",
                "truncated-legacy.pth": "truncated", "empty.pth": "truncated or empty",
                "imagenet.pth": "fc has 1000 outputs",
                "pickled-model.pth": "weights-only load refuses", "resnet-stub.pth": "spoc-bench's ResNet is",
                "no-tensors.pth": "not a state dict of tensors"}
    for name, reason in expected.items():
        with pytest.raises(ValueError) as error:
            Wang2020.import_weights(tmp_path / name, tmp_path / "out")
        message = str(error.value)
        assert message.startswith("wang2020 import: ") and str(tmp_path / name) in message, message
        assert reason in message and "\n" not in message, message
    save_checkpoint(reference(width=8), tmp_path / "gandetection_resnet50nodown_stylegan2.pth")
    with pytest.raises(ValueError, match="weights import gragnaniello2021"):  # same shapes: the name tells
        Wang2020.import_weights(tmp_path / "gandetection_resnet50nodown_stylegan2.pth", tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="blur_jpg_prob0.5.pth"):
        Wang2020.import_weights(tmp_path / "nowhere.pth")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_a_missing_tag_names_the_folders_and_both_commands(isolated_cache):
    detector = spoc_bench.build_detector("wang2020", weights="official")
    with pytest.raises(WeightsNotFoundError) as error:
        detector.weights_id()
    message = str(error.value)
    assert "blur_jpg_prob0.5.safetensors" in message and str(isolated_cache / "weights" / "wang2020") in message
    assert "spoc-bench weights import wang2020" in message and "spoc-bench train detector wang2020" in message


# ------------------------------------------------------------------------------------ the CLI
def test_cli_imports_then_detects_by_tag(tmp_path, isolated_cache):
    runner = CliRunner()
    source = save_checkpoint(reference(width=8), tmp_path / "blur_jpg_prob0.1.pth", legacy=True)
    result = runner.invoke(app, ["weights", "import", "wang2020", str(source)])
    assert result.exit_code == 0, result.output
    folder = isolated_cache / "weights" / "wang2020"
    assert f"wrote 1 network to {folder}; use it as wang2020:blur_jpg_prob0.1" in result.output
    images = tmp_path / "images"
    images.mkdir()
    for index in range(2):
        pixels = np.random.default_rng(index).integers(0, 256, (40, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(images / f"{index}.png")
    result = runner.invoke(app, ["detect", "wang2020:blur_jpg_prob0.1", "--input", str(images),
                                 "--csv", str(tmp_path / "scores.csv")])
    assert result.exit_code == 0, result.output
    assert "scored 2 image(s)" in result.output

    (tmp_path / "bad.pth").write_text("hello")
    bad = runner.invoke(app, ["weights", "import", "gragnaniello2021", str(tmp_path / "bad.pth")])
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert bad.exit_code == 2 and "Traceback" not in bad.output and len(lines) == 1, bad.output
    assert lines[0].startswith("error: gragnaniello2021 import: ") and "bad.pth" in lines[0]
