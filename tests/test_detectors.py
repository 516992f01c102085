import numpy as np
import pytest

import spoc_bench
from spoc_bench.images import Container, jpeg_container, to_tensor
from tests.conftest import save_jpeg, textured


@pytest.fixture
def three_cameras(tmp_path):
    """Three 'cameras' that differ only in how they save: quality and chroma subsampling."""
    settings = {"cam90": (90, "4:2:0"), "cam75": (75, "4:2:0"), "cam90s": (90, "4:4:4")}
    for camera, (quality, subsampling) in settings.items():
        for index in range(12):
            save_jpeg(tmp_path / camera / f"{camera}_{index}.jpg", textured(index), quality, subsampling)
    dataset = spoc_bench.build_dataset("folder", root=str(tmp_path), split="defender-train")
    dataset.prepare()
    return dataset


def test_jpeg_table_names_the_camera_from_its_tables(three_cameras):
    detector = spoc_bench.build_detector("jpeg-table").fit(three_cameras)
    assert detector.classes == ("cam75", "cam90", "cam90s")
    images = to_tensor([textured(99)] * 4)
    containers = [jpeg_container(75), jpeg_container(90), jpeg_container(90, "4:4:4"), Container()]
    probabilities = detector.predict(images, containers).numpy()
    assert probabilities.shape == (4, 3)
    assert np.allclose(probabilities.sum(axis=1), 1)
    assert list(probabilities[:3].argmax(axis=1)) == [0, 1, 2]
    assert np.allclose(probabilities[3], 1 / 3)  # a PNG says nothing: the training prior
    # an unseen table goes to the nearest known one
    assert detector.predict(images[:1], [jpeg_container(76)]).argmax() == 0


def test_jpeg_table_refuses_a_pretrained_tag():
    with pytest.raises(ValueError, match="no pretrained weights"):
        spoc_bench.build_detector("jpeg-table", weights="grip")


def test_spectrum_separates_upsampled_images_from_real_ones(demo_root):
    dataset = spoc_bench.build_dataset("demo", root=str(demo_root))
    detector = spoc_bench.build_detector("spectrum").fit(dataset)
    test = dataset.samples("defender-test")
    items = list(dataset.items(test))
    scores = detector.predict(to_tensor([i.pixels for i in items])).numpy()[:, 1]
    synthetic = np.array([i.sample.source == "synthetic" for i in items])
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(synthetic, scores) > 0.95
