import numpy as np
import pytest
from PIL import Image

from spoc_bench.images import Container, ImageError, container_of, decode, encode, jpeg_container, read_image
from tests.conftest import save_jpeg, textured


def test_grayscale_rgba_palette_and_16_bit_become_rgb(tmp_path):
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    rgba = np.dstack([textured(0, 8), np.full((8, 8), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(textured(1, 8)).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    for name in ("grey", "rgba", "palette", "deep"):
        pixels, container, _ = read_image(tmp_path / f"{name}.png")
        assert pixels.shape == (8, 8, 3) and pixels.dtype == np.uint8, name
        assert container.format == "png"
    assert np.array_equal(read_image(tmp_path / "grey.png")[0][..., 1], grey)
    assert np.array_equal(read_image(tmp_path / "deep.png")[0][..., 0], grey)  # scaled, not clipped
    assert np.array_equal(read_image(tmp_path / "rgba.png")[0], rgba[..., :3])


def test_exif_orientation_is_applied(tmp_path):
    pixels = textured(2, 16)[:, :8]  # 16 tall, 8 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(pixels).save(tmp_path / "rotated.jpg", quality=95, exif=exif.tobytes())
    shown, container, _ = read_image(tmp_path / "rotated.jpg")
    assert shown.shape == (8, 16, 3) and container.is_jpeg


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"), (b"not an image at all", "not an image file"),
])
def test_unreadable_files_name_the_file_and_reason(tmp_path, content, reason):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError) as error:
        read_image(path)
    assert str(path) in str(error.value) and reason in str(error.value)


def test_truncated_jpeg_is_refused(tmp_path):
    path = save_jpeg(tmp_path / "whole.jpg", textured(3, 256), 90)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        read_image(truncated)


def test_container_facts_survive_encoding():
    container = jpeg_container(77, "4:2:2", make="Nikon", model="D70")
    data = encode(textured(4), container)
    from io import BytesIO

    with Image.open(BytesIO(data)) as image:
        image.load()
        facts = container_of(image)
    assert facts == container
    assert facts.subsampling == "4:2:2" and facts.qtables[0][:3] == (7, 5, 5)  # IJG scaling: (16 * 46 + 50) // 100


def test_custom_tables_are_written_as_given():
    table = tuple(range(1, 65))
    container = Container("jpeg", (table, table), "4:4:4")
    from io import BytesIO

    with Image.open(BytesIO(encode(textured(5), container))) as image:
        assert container_of(image).qtables == (table, table)


def test_png_is_lossless():
    pixels = textured(6)
    assert np.array_equal(decode(encode(pixels, Container())), pixels)
