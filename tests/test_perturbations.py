import numpy as np
import pytest

from spoc_bench.images import Container, jpeg_container
from spoc_bench.perturbations import PerturbationError, parse, parse_list
from tests.conftest import textured


@pytest.mark.parametrize("text, canonical", [
    ("none", "none"), ("jpeg:90", "jpeg:90"), ("resize:0.50", "resize:0.5"), ("blur:1", "blur:1"),
    ("resize:0.5+jpeg:90", "resize:0.5+jpeg:90"), (" jpeg:70 ", "jpeg:70"),
])
def test_parse_round_trips(text, canonical):
    assert str(parse(text)) == canonical


@pytest.mark.parametrize("text, words", [
    ("jpeg", "needs a value"), ("jpeg:abc", "not a number"), ("jpeg:101", "1..100"), ("jpeg:90.5", "integer"),
    ("resize:0", "0.05..8"), ("blur:-1", "(0, 20]"), ("sharpen:2", "unknown perturbation"), ("", "empty"),
    ("none+jpeg:90", "cannot be chained"), ("blur:nan", "not finite"), ("jpeg:90+", "unknown perturbation"),
])
def test_malformed_strings_are_refused_clearly(text, words):
    with pytest.raises(PerturbationError, match=None) as error:
        parse(text)
    assert words in str(error.value)


def test_parse_list_keeps_order_and_drops_duplicates():
    assert [str(p) for p in parse_list("none,jpeg:90,none,blur:1")] == ["none", "jpeg:90", "blur:1"]


def test_none_keeps_pixels_and_container():
    pixels, container = textured(0), jpeg_container(80, make="X")
    out, out_container = parse("none")(pixels, container)
    assert out is pixels and out_container == container


def test_jpeg_writes_ijg_tables_and_loses_detail():
    pixels = textured(1)
    out, container = parse("jpeg:90")(pixels, Container(make="Maker", model="M1"))
    assert container.is_jpeg and container.qtables == jpeg_container(90).qtables
    assert (container.make, container.model) == ("Maker", "M1")
    error = np.abs(out.astype(int) - pixels).mean()
    assert 0.5 < error < 20  # random colour blocks lose much chroma at 4:2:0


def test_resize_and_blur_are_deterministic_and_lossless():
    pixels = textured(2)
    resized, container = parse("resize:0.5")(pixels, jpeg_container(90))
    assert resized.shape == (32, 32, 3) and resized.dtype == np.uint8 and container.format == "png"
    assert np.array_equal(resized, parse("resize:0.5")(pixels, jpeg_container(90))[0])
    blurred, _ = parse("blur:2")(pixels, Container())
    assert blurred.shape == pixels.shape and blurred.std() < pixels.std()
    # a flat image stays flat under blur (reflected borders, normalised kernel)
    flat = np.full((20, 20, 3), 100, np.uint8)
    assert np.array_equal(parse("blur:1")(flat, Container())[0], flat)


def test_chain_ending_in_jpeg_is_a_jpeg():
    out, container = parse("resize:1.5+jpeg:70")(textured(3), Container())
    assert out.shape == (96, 96, 3) and container.qtables == jpeg_container(70).qtables
