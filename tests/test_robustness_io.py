"""Reading and writing image folders: nothing lost, nothing silently wrong, no traceback.

Each case checks the exit code, the one stderr line naming the file or option and the reason, that
no input file changed and that every good input was processed.
"""

import hashlib
import io
import json
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from spoc_bench.cli import app
from spoc_bench.contracts import Attack
from spoc_bench.images import (FORMAT_SUFFIXES, MAX_PIXELS, Container, ImageError, decode, jpeg_container, max_pixels,
                               open_image, read_image)
from spoc_bench.runner import file_name
from tests.conftest import save_jpeg, textured

runner = CliRunner()
ORIENTATIONS = {3: 180, 6: 270, 8: 90}  # EXIF orientation -> counter-clockwise degrees to display
SUFFIX_FORMATS = {suffix: name for name, suffixes in FORMAT_SUFFIXES.items() for suffix in suffixes}


# ------------------------------------------------------------------------------------ helpers
def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (links not followed), by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def stderr_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def rotated_jpeg(path: Path, orientation: int, seed: int = 2) -> np.ndarray:
    """A 16 x 32 JPEG stored sideways with an EXIF orientation; returns the pixels as displayed."""
    stored = textured(seed, 32)[:16]
    exif = Image.Exif()
    exif[0x0112] = orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(stored).save(path, "JPEG", quality=95, exif=exif.tobytes())
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").rotate(ORIENTATIONS[orientation], expand=True))


def bomb_png(path: Path, side: int = 9600) -> Path:
    """A valid 1-bit PNG of ``side`` x ``side`` black pixels (92 megapixels in about 11 kB)."""
    compressor = zlib.compressobj(9)
    row = b"\x00" + bytes(side // 8)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def bad_file(path: Path, kind: str) -> str:
    """Write a bad image file of ``kind`` at ``path``; returns a word of the expected reason."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "empty":
        path.write_bytes(b"")
        return "empty file"
    if kind == "not-an-image":
        path.write_bytes(b"plain text, not pixels")
        return "not an image file"
    if kind == "truncated":
        whole = io.BytesIO()
        Image.fromarray(textured(9, 256)).save(whole, "JPEG", quality=90)
        path.write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
        return "corrupt or truncated"
    bomb_png(path)
    return "exceeds the limit"


BAD_FILES = {"empty": "e.jpg", "not-an-image": "t.jpg", "truncated": "half.jpg", "bomb": "bomb.png"}


def good_folder(folder: Path, count: int = 3) -> list[Path]:
    paths = []
    for index in range(count):
        path = folder / f"good{index}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(textured(index, 32)).save(path)
        paths.append(path)
    return paths


def attack_cli(source: Path, output: Path, demo_root: Path, name: str = "identity"):
    return runner.invoke(app, ["attack", name, "--target", "demo-A", "--input", str(source), "--output", str(output),
                               "--dataset", "demo", "--data-root", str(demo_root)])


def test_attack_cli_hands_the_attack_its_options(tmp_path, demo_root):
    source = tmp_path / "in"
    good_folder(source, 1)

    def mean_psnr(result) -> float:
        assert result.exit_code == 0, result.output
        return float(result.stdout.split("mean PSNR ")[1].split(" dB")[0])

    full = mean_psnr(attack_cli(source, tmp_path / "full", demo_root, "trace-transplant"))
    half = mean_psnr(runner.invoke(app, ["attack", "trace-transplant", "-o", "strength=0.5", "--target", "demo-A",
                                         "--input", str(source), "--output", str(tmp_path / "half"), "--dataset",
                                         "demo", "--data-root", str(demo_root)]))
    assert half > full + 1  # half the camera residual: closer to the input
    wrong = runner.invoke(app, ["attack", "trace-transplant", "-o", "power=2", "--target", "demo-A", "--input",
                                str(source), "--output", str(tmp_path / "wrong")])
    assert wrong.exit_code == 2 and "-o/--option for attack 'trace-transplant': unknown option 'power'" in wrong.output


def camera_folder(root: Path, synthetic: dict[str, np.ndarray | bytes]) -> Path:
    """A ``folder`` dataset by split: two JPEG cameras (quality 60 and 95) in every split, and the
    ``synthetic`` inputs (relative path -> pixels or file bytes) under ``defender-test/gen``."""
    for split in ("defender-train", "defender-test", "attacker"):
        for camera, quality in (("camA", 60), ("camB", 95)):
            for index in range(2):
                save_jpeg(root / split / camera / f"{index}.jpg", textured(index + quality, 32), quality)
    for relative, content in synthetic.items():
        path = root / "defender-test" / "gen" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            Image.fromarray(content).save(path)
    return root


def run_cli(root: Path, out: Path):
    return runner.invoke(app, ["run", "--dataset", "folder", "--data-root", str(root), "--dataset-opt",
                               "synthetic=[gen]", "--attack", "identity", "--detector", "jpeg-table",
                               "--perturb", "none", "--target", "camA", "--n", "100", "--out", str(out), "-q"])


# ------------------------------------------------------------------------- 1. EXIF orientation
@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_every_reader_applies_exif_orientation_alike(tmp_path, orientation):
    shown = rotated_jpeg(tmp_path / "r.jpg", orientation)
    pixels, container, data = read_image(tmp_path / "r.jpg")
    assert pixels.shape == shown.shape == ((32, 16, 3) if orientation in (6, 8) else (16, 32, 3))
    assert np.array_equal(decode(data), pixels) and np.array_equal(open_image(data)[0], pixels)
    assert np.abs(pixels.astype(int) - shown).mean() < 1 and container.is_jpeg


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_attack_cli_keeps_an_exif_rotated_jpeg_and_the_rest(tmp_path, demo_root, orientation):
    source = tmp_path / "in"
    good = good_folder(source)
    rotated_jpeg(source / "rotated.jpg", orientation)
    before = snapshot(source)
    result = attack_cli(source, tmp_path / "out", demo_root)
    assert result.exit_code == 0, result.output
    assert stderr_lines(result) == [] and "attacked 4 image(s)" in result.stdout
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert sorted(Path(r["input"]).name for r in manifest["images"]) == sorted([p.name for p in good] + ["rotated.jpg"])
    assert manifest["skipped"] == [] and all(r["psnr"] == float("inf") for r in manifest["images"])
    assert snapshot(source) == before


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_run_keeps_an_exif_rotated_jpeg_and_the_rest(tmp_path, orientation):
    root = camera_folder(tmp_path / "data", {f"plain{i}.png": textured(i, 32) for i in range(2)})
    rotated_jpeg(root / "defender-test" / "gen" / "rotated.jpg", orientation)
    before = snapshot(root)
    result = run_cli(root, tmp_path / "out")
    assert result.exit_code == 0, result.output
    rows = pd.read_parquet(tmp_path / "out" / "rows.parquet")
    attacked = rows[rows.source == "attacked"]
    assert sorted(attacked.input_id) == ["defender-test/gen/plain0.png", "defender-test/gen/plain1.png", "defender-test/gen/rotated.jpg"]
    assert json.loads((tmp_path / "out" / "run.json").read_text())["skipped"]["count"] == 0
    assert snapshot(root) == before


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_attack_cli_skips_a_bad_file_naming_it_and_processes_the_rest(tmp_path, demo_root, kind):
    source = tmp_path / "in"
    good = good_folder(source)
    bad = source / "sub" / BAD_FILES[kind]
    reason = bad_file(bad, kind)
    before = snapshot(source)
    result = attack_cli(source, tmp_path / "out", demo_root)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "attacked 3 image(s)" in result.stdout and "skipped 1" in result.stdout
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [Path(r["input"]) for r in manifest["images"]] == good
    assert all(Path(r["output"]).is_file() for r in manifest["images"])
    (skipped,) = manifest["skipped"]
    assert skipped["file"] == str(bad) and reason in skipped["reason"]
    assert result.stderr.strip().splitlines() == [f"skipped {bad}: {skipped['reason']}"]
    assert snapshot(source) == before


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_detect_cli_names_a_bad_file_on_one_stderr_line(tmp_path, demo_root, kind):
    source = tmp_path / "in"
    good_folder(source)
    bad = source / BAD_FILES[kind]
    reason = bad_file(bad, kind)
    before = snapshot(source)
    result = runner.invoke(app, ["detect", "jpeg-table", "--input", str(source), "--dataset", "demo",
                                 "--data-root", str(demo_root)])
    assert result.exit_code == 0, result.output
    (line,) = stderr_lines(result)
    assert str(bad) in line and reason in line
    assert "scored 3 image(s), skipped 1" in result.stdout and snapshot(source) == before


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_run_counts_a_bad_file_naming_it_and_scores_the_rest(tmp_path, kind):
    root = camera_folder(tmp_path / "data", {f"plain{i}.png": textured(i, 32) for i in range(2)})
    bad = root / "defender-test" / "gen" / BAD_FILES[kind]
    reason = bad_file(bad, kind)
    before = snapshot(root)
    result = run_cli(root, tmp_path / "out")
    assert result.exit_code == 0, result.output
    rows = pd.read_parquet(tmp_path / "out" / "rows.parquet")
    assert sorted(rows[rows.source == "attacked"].input_id) == ["defender-test/gen/plain0.png", "defender-test/gen/plain1.png"]
    skipped = json.loads((tmp_path / "out" / "run.json").read_text())["skipped"]
    assert skipped["count"] == 1 and skipped["files"][0]["file"] == str(bad) and reason in skipped["files"][0]["reason"]
    assert snapshot(root) == before


# ----------------------------------------------------------------------- 2. attack --output
def refused_layout(tmp_path: Path, case: str) -> tuple[Path, Path, Path]:
    """``(input, output, outside)`` folders for a refused ``--output``; nothing may change in
    ``input`` or appear in ``outside``."""
    source, outside = tmp_path / "in", tmp_path / "outside"
    outside.mkdir()
    good_folder(source)
    if case == "output is the input":
        return source, source, outside
    if case == "output inside the input":
        return source, source / "attacked", outside
    if case == "output is a link to the input":
        (tmp_path / "link").symlink_to(source, target_is_directory=True)
        return source, tmp_path / "link", outside
    if case == "output holds a folder link leading outside":
        good_folder(source / "sub", 1)
        output = tmp_path / "out"
        output.mkdir()
        (output / "sub").symlink_to(outside, target_is_directory=True)
        return source, output, outside
    if case == "output holds the input":  # in/in/x.png would be written over in/x.png
        output, source = source, source / "in"
        good_folder(source, 1)
        good_folder(source / "in", 1)
        return source, output, outside
    raise AssertionError(case)


REFUSED = {"output is the input": "is the input folder", "output inside the input": "inside the input folder",
           "output is a link to the input": "is the input folder",
           "output holds a folder link leading outside": "symbolic link",
           "output holds the input": "inside the input folder"}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_attack_cli_refuses_an_output_that_would_touch_inputs_or_leave_the_folder(tmp_path, demo_root, case):
    source, output, outside = refused_layout(tmp_path, case)
    before = snapshot(tmp_path / "in")
    result = attack_cli(source, output, demo_root)
    assert result.exit_code == 2, result.output
    (line,) = stderr_lines(result)
    assert line.startswith("error: --output") and REFUSED[case] in line and "Traceback" not in result.output
    assert snapshot(tmp_path / "in") == before and list(outside.iterdir()) == []


NAME_SETS = {
    "a.jpg and a.png": ["a.jpg", "a.png"],
    "c.jpg and c.jpeg": ["c.jpg", "c.jpeg"],
    "a.jpg and a.jpg.png": ["a.jpg", "a.jpg.png"],
    "p/q.png and p__q.png": ["p/q.png", "p__q.png"],
    "b.tif and b.png": ["b.tif", "b.png"],
    "upper and lower case": ["d.JPG", "d.png", "d.PNG.jpg"],
}


def image_folder(source: Path, names: list[str]) -> None:
    """One distinct image per name, in the format its suffix says."""
    for index, name in enumerate(names):
        path = source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(textured(index, 32)).save(path, SUFFIX_FORMATS[path.suffix.lower()].upper())


@pytest.mark.parametrize("names", sorted(NAME_SETS))
def test_attack_cli_writes_one_output_per_input_in_the_format_its_suffix_names(tmp_path, demo_root, names):
    source, output = tmp_path / "in", tmp_path / "out"
    image_folder(source, NAME_SETS[names])
    before = snapshot(source)
    for _ in range(2):  # a rerun writes the same files again, and attacks none of its own outputs
        result = attack_cli(source, output, demo_root)
        assert result.exit_code == 0, result.output
        assert stderr_lines(result) == [] and f"attacked {len(NAME_SETS[names])} image(s)" in result.stdout
    records = json.loads((output / "manifest.json").read_text())["images"]
    outputs = [Path(r["output"]) for r in records]
    assert len(set(outputs)) == len(records) == len(NAME_SETS[names])
    assert sorted(str(p.relative_to(output)) for p in output.rglob("*") if p.is_file()) == sorted(
        [str(p.relative_to(output)) for p in outputs] + ["manifest.json"])
    for record, path in zip(records, outputs):
        with Image.open(path) as image:
            assert image.format.lower() == SUFFIX_FORMATS[path.suffix.lower()] == record["format"]
        assert np.array_equal(read_image(path)[0], read_image(record["input"])[0])  # each its own input
    assert snapshot(source) == before


class Shift(Attack):
    """A test attack: adds ``step`` grey levels and keeps the input's container."""

    uses_target = False

    def __init__(self, step: int = 0):
        self.step = step

    def forward(self, images):
        return images + self.step / 255

    def output_container(self, container):
        return container


@pytest.mark.parametrize("step", [0, 1])
@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".webp", ".bmp"])
def test_attack_folder_writes_the_format_its_suffix_names(tmp_path, demo_root, suffix, step):
    from spoc_bench.apply import attack_folder
    from spoc_bench.datasets.demo import Demo

    source = tmp_path / "in"
    image_folder(source, [f"x{suffix}"])
    before = snapshot(source)
    manifest = attack_folder(Shift(step), Demo(root=str(demo_root)), "demo-A", source, tmp_path / "out")
    (record,) = manifest["images"]
    assert Path(record["output"]) == tmp_path / "out" / f"x{suffix}"
    with Image.open(record["output"]) as image:
        assert image.format.lower() == SUFFIX_FORMATS[suffix] == record["format"]
    assert snapshot(source) == before


class Recode(Attack):
    """A test attack: the pixels unchanged, saved as ``format`` (as SpoC saves as the target)."""

    uses_target = False

    def __init__(self, format: str = "jpeg"):
        self.format = format

    def forward(self, images):
        return images

    def output_container(self, container):
        return jpeg_container(95, "4:4:4") if self.format == "jpeg" else Container(self.format)


@pytest.mark.parametrize("format", ["jpeg", "png", "tiff"])
@pytest.mark.parametrize("names", sorted(NAME_SETS))
def test_attack_folder_never_writes_two_inputs_to_one_file(tmp_path, demo_root, names, format):
    from spoc_bench.apply import attack_folder
    from spoc_bench.datasets.demo import Demo

    source, output = tmp_path / "in", tmp_path / "out"
    image_folder(source, NAME_SETS[names])
    before = snapshot(source)
    manifest = attack_folder(Recode(format), Demo(root=str(demo_root)), "demo-A", source, output)
    records = manifest["images"]
    assert len({r["output"] for r in records}) == len(records) == len(NAME_SETS[names]) and not manifest["skipped"]
    inputs = [read_image(r["input"])[0].astype(int) for r in records]
    for index, record in enumerate(records):
        with Image.open(record["output"]) as image:
            assert image.format.lower() == SUFFIX_FORMATS[Path(record["output"]).suffix.lower()] == format
        written = read_image(record["output"])[0]
        distances = [np.abs(written - pixels).mean() for pixels in inputs]
        assert int(np.argmin(distances)) == index and distances[index] < 10  # its own input, not another's
    assert snapshot(source) == before


# ------------------------------------------------------------------------ 3. injective names
@pytest.mark.parametrize("first, second", [("p/q.png", "p__q.png"), ("p/q.png", "p%2Fq.png"),
                                           ("a%25b.png", "a%b.png"), ("x/y/z.jpg", "x/y__z.jpg")])
def test_attacked_file_names_are_one_per_id(first, second):
    assert file_name(first, ".png") != file_name(second, ".png")
    assert "/" not in file_name(first, ".png") + file_name(second, ".png")


def test_run_scores_p_q_and_p__q_each_as_itself(tmp_path):
    for quality in (60, 95):
        save_jpeg(tmp_path / f"{quality}.jpg", textured(quality, 32), quality)
    inputs = {"p/q.jpg": (tmp_path / "60.jpg").read_bytes(), "p__q.jpg": (tmp_path / "95.jpg").read_bytes()}
    root = camera_folder(tmp_path / "data", inputs)
    before = snapshot(root)
    result = run_cli(root, tmp_path / "out")
    assert result.exit_code == 0, result.output
    rows = pd.read_parquet(tmp_path / "out" / "rows.parquet")
    synthetic = rows[rows.source == "synthetic"].set_index("id").pred
    attacked = rows[rows.source == "attacked"].set_index("input_id").pred
    assert synthetic.to_dict() == {"defender-test/gen/p/q.jpg": "camA", "defender-test/gen/p__q.jpg": "camB"}
    assert attacked.to_dict() == synthetic.to_dict()  # identity: each attacked image scores as its input
    assert snapshot(root) == before


# ------------------------------------------------------------------------------ 4. pixel limit
def read_with(reader: str, path: Path, tmp_path: Path):
    """Read ``path`` the way ``reader`` names: a reader function or a dataset."""
    if reader == "read_image":
        return read_image(path)
    if reader == "decode":
        return decode(path.read_bytes(), str(path))
    from spoc_bench.datasets.folder import Folder

    root = tmp_path / "data"
    (root / "cam").mkdir(parents=True)
    (root / "cam" / path.name).write_bytes(path.read_bytes())
    dataset = Folder(root=str(root), split="defender-test")
    skipped = []
    assert list(dataset.items(dataset.samples("defender-test"), skipped)) == []
    raise ImageError(*skipped[0])


@pytest.mark.parametrize("reader", ["read_image", "decode", "dataset"])
def test_a_decompression_bomb_is_refused_before_decoding(tmp_path, reader):
    path = bomb_png(tmp_path / "bomb.png")
    assert path.stat().st_size < 20_000
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning: a refusal, not a warning
        with pytest.raises(ImageError) as error:
            read_with(reader, path, tmp_path)
    assert error.value.path.endswith("bomb.png") and "9600x9600" in error.value.reason
    assert f"limit of {MAX_PIXELS}" in error.value.reason


@pytest.mark.parametrize("limit, refused", [("255", True), ("256", False), ("1_000", False)])
def test_the_pixel_limit_is_configurable(tmp_path, monkeypatch, limit, refused):
    monkeypatch.setenv("SPOC_BENCH_MAX_PIXELS", limit)
    Image.fromarray(textured(1, 16)).save(tmp_path / "small.png")
    assert max_pixels() == int(limit.replace("_", ""))
    if refused:
        with pytest.raises(ImageError, match="SPOC_BENCH_MAX_PIXELS"):
            read_image(tmp_path / "small.png")
    else:
        assert read_image(tmp_path / "small.png")[0].shape == (16, 16, 3)


@pytest.mark.parametrize("value", ["many", "0", "-5"])
def test_a_bad_pixel_limit_is_one_clear_line(tmp_path, demo_root, monkeypatch, value):
    source = tmp_path / "in"
    good_folder(source)
    before = snapshot(source)
    monkeypatch.setenv("SPOC_BENCH_MAX_PIXELS", value)
    result = attack_cli(source, tmp_path / "out", demo_root)
    assert result.exit_code == 2
    (line,) = stderr_lines(result)
    assert "SPOC_BENCH_MAX_PIXELS" in line and "positive whole number" in line
    assert snapshot(source) == before


def test_a_bad_pixel_limit_through_detect_is_one_clear_line(tmp_path, monkeypatch):
    source = tmp_path / "in"
    good_folder(source)
    monkeypatch.setenv("SPOC_BENCH_MAX_PIXELS", "many")
    result = runner.invoke(app, ["detect", "jpeg-table", "--input", str(source)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = stderr_lines(result)
    assert "SPOC_BENCH_MAX_PIXELS" in line and "positive whole number" in line
