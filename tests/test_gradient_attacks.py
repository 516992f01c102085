"""The gradient attacks (fgsm, pgd): their bounds, their effect, and who gets which gradients."""

import pytest
import torch

import spoc_bench
from spoc_bench.attacks._gradient import LEVEL, pgd
from spoc_bench.contracts import Detector
from spoc_bench.registry import attacks, register_detector
from spoc_bench.runner import Grid, Session

DEMO_CAMERAS = ("demo-A", "demo-B", "demo-C")


class ColourClassifier(Detector):
    """A tiny differentiable camera classifier: a fixed linear map of each channel's mean and spread
    (centred on those of uniform noise, so that the test images are not already decided)."""

    task = "camera"
    differentiable = True
    weights = "tiny"

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.weight = torch.randn(6, 3, generator=torch.Generator().manual_seed(seed)) * 50

    @property
    def classes(self):
        return DEMO_CAMERAS

    def weights_id(self):
        return f"colour-{self.seed}"

    def predict(self, images, containers=None):
        features = torch.cat([images.mean(dim=(2, 3)) - 0.5, images.std(dim=(2, 3)) - 0.29], dim=1)
        return (features @ self.weight).softmax(dim=1)


class GradientTrap(ColourClassifier):
    """A camera classifier whose output refuses to be differentiated: backward through it raises."""

    def predict(self, images, containers=None):
        probabilities = super().predict(images, containers)
        if probabilities.requires_grad:
            probabilities.register_hook(self.refuse)
        return probabilities

    @staticmethod
    def refuse(gradient):
        raise AssertionError("gradients were taken through the measured detector")


register_detector("test-colour")(ColourClassifier)
register_detector("test-gradient-trap")(GradientTrap)


@pytest.fixture
def random_surrogates(monkeypatch):
    """The attacker's surrogates, untrained (the demo dataset ships none): only their plumbing is tested."""
    from spoc_bench.attacks import _spoc_nets, spoc

    def untrained(dataset, classes, folder, device):
        torch.manual_seed(0)
        return {"embedder": _spoc_nets.Embedder(classes, 16, 8).eval(),
                "constrained": _spoc_nets.ConstrainedSurrogate(classes, 8, 3).eval()}

    monkeypatch.setattr(spoc, "load_surrogates", untrained)


def images(n=4, size=32, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def log_probabilities(detector):
    return lambda x: detector.predict(x).log()


def test_pgd_stays_within_epsilon_and_in_range():
    inputs = images()
    outputs = pgd(log_probabilities(ColourClassifier()), inputs, 1, 4 * LEVEL, LEVEL, 10)
    assert outputs.shape == inputs.shape
    assert (outputs - inputs).abs().max() <= 4 * LEVEL + 1e-6
    assert outputs.min() >= 0 and outputs.max() <= 1


def test_white_box_pgd_raises_the_targets_probability():
    detector = ColourClassifier()
    attack = attacks.build("pgd-white-box").fit("demo-C", detector=detector)
    inputs = images(8, seed=1)
    before = detector.predict(inputs)[:, 2]
    after = detector.predict(attack(inputs))[:, 2]
    assert (after >= before - 1e-6).all()
    assert after.mean() > before.mean() + 0.1, (before.mean(), after.mean())


def test_fgsm_moves_one_step_of_epsilon():
    detector = ColourClassifier()
    inputs = images(seed=2) * 0.5 + 0.25  # away from the [0, 1] bounds
    outputs = attacks.build("fgsm-white-box", epsilon=2).fit("demo-A", detector=detector)(inputs)
    assert torch.allclose((outputs - inputs).abs().max(), torch.tensor(2 * LEVEL), atol=1e-6)


def surrogate_ensemble():
    from spoc_bench.attacks._gradient import SurrogateEnsemble
    from spoc_bench.attacks._spoc_nets import ConstrainedSurrogate, Embedder

    torch.manual_seed(0)
    return SurrogateEnsemble({"embedder": Embedder(3, 16, 8).eval(),
                              "constrained": ConstrainedSurrogate(3, 8, 3).eval()}, DEMO_CAMERAS)


def test_transfer_attack_follows_only_the_surrogates_it_names():
    ensemble, inputs = surrogate_ensemble(), images(2, size=64, seed=3)
    alone = attacks.build("pgd-transfer", surrogates="embedder").fit("demo-B", surrogate=ensemble)
    both = attacks.build("pgd-transfer").fit("demo-B", surrogate=ensemble)
    assert list(alone.model_.models) == ["embedder"] and list(both.model_.models) == ["embedder", "constrained"]
    expected = pgd(lambda x: ensemble.models["embedder"](x).log_softmax(1), inputs, 1, 4 * LEVEL, LEVEL, 10)
    assert torch.allclose(alone(inputs), expected)
    assert not torch.allclose(both(inputs), expected)


def test_transfer_attack_refuses_an_unknown_surrogate():
    with pytest.raises(ValueError, match="unknown \\['resnet'\\]; the attacker's surrogates are embedder\\+constrained"):
        attacks.build("fgsm-transfer", surrogates="embedder+resnet").fit("demo-A", surrogate=surrogate_ensemble())


def run_demo(demo_root, tmp_path, attack_names, detector_names):
    return spoc_bench.run(None, datasets=["demo"], attacks=attack_names, detectors=detector_names,
                          perturbations="none", targets=["demo-B"], n=3, data_root=str(demo_root),
                          out=tmp_path / "out", progress=False)


def test_black_box_and_transfer_attacks_never_touch_the_measured_detector(demo_root, tmp_path, random_surrogates):
    result = run_demo(demo_root, tmp_path, ["jpeg-mimic", "pgd-transfer", "fgsm-transfer"], ["test-gradient-trap"])
    attacked = result.rows[result.rows.source == "attacked"]
    assert set(attacked.attack) == {"jpeg-mimic", "pgd-transfer", "fgsm-transfer"}
    assert set(attacked[attacked.attack == "pgd-transfer"].threat_model) == {"transfer; saved as the target saves"}
    with pytest.raises(AssertionError, match="gradients were taken through the measured detector"):
        run_demo(demo_root, tmp_path, ["pgd-white-box"], ["test-gradient-trap"])


def test_white_box_images_are_made_per_detector_and_only_for_differentiable_camera_models(demo_root, tmp_path):
    result = run_demo(demo_root, tmp_path, ["pgd-white-box"], ["test-colour", "jpeg-table", "spectrum"])
    attacked = result.rows[result.rows.source == "attacked"]
    assert set(attacked.detector) == {"test-colour"} and set(attacked.threat_model) == {"white-box; saved as the target saves"}
    skipped = result.manifest["skipped"]["by_reason"]
    reason = "white-box attack skipped: the detector is not a differentiable camera-model classifier"
    assert skipped[reason] == 2  # jpeg-table and spectrum, one target


def test_an_attack_with_options_is_a_row_of_its_own(demo_root, tmp_path):
    result = run_demo(demo_root, tmp_path, ["pgd-white-box", "pgd-white-box:psnr=30"], ["test-colour"])
    attacked = result.rows[result.rows.source == "attacked"]
    assert set(attacked.attack) == {"pgd-white-box", "pgd-white-box:psnr=30"}
    assert result.manifest["configs"]["attack:pgd-white-box:psnr=30"]["psnr"] == 30
    bounded = attacked[attacked.attack == "pgd-white-box:psnr=30"].psnr
    assert bounded.min() >= 30 - 0.05 and bounded.mean() < attacked[attacked.attack == "pgd-white-box"].psnr.mean()


def test_white_box_cache_keys_differ_by_detector(demo_root, random_surrogates):
    session = Session(Grid(["demo"], [], [], [], n=2, data_root=str(demo_root)), spoc_bench.cache.Cache())
    dataset = session.dataset("demo")
    inputs = session.pick(dataset, "synthetic")
    first = session.attacked(dataset, "fgsm-white-box", "demo-A", inputs, "test-colour")
    again = session.attacked(dataset, "fgsm-white-box", "demo-A", inputs, "test-colour")
    session._detectors[("demo", "test-colour-b")] = ColourClassifier(seed=1)
    second = session.attacked(dataset, "fgsm-white-box", "demo-A", inputs, "test-colour-b")
    transfer = session.attacked(dataset, "fgsm-transfer", "demo-A", inputs)
    assert first.key == again.key and first.detector == "test-colour"
    assert len({first.key, second.key, transfer.key}) == 3


def test_declared_differentiable_detectors_pass_gradients():
    for name in ("bondi2017", "mislnet", "noiseprint"):
        detector = spoc_bench.registry.detectors.build(name)
        if name == "noiseprint":  # fingerprints stand in for those fitted on a dataset
            detector.classes_, detector.fingerprints_ = ("a", "b"), torch.randn(2, detector.crop, detector.crop)
        assert detector.differentiable and detector.task == "camera"
        pixels = torch.rand(1, 3, 256, 256, requires_grad=True)
        detector.predict(pixels)[:, 0].sum().backward()
        assert pixels.grad is not None and pixels.grad.abs().sum() > 0, name


def test_the_default_preset_runs_the_gradient_attacks_measured_at_seconds_per_image():
    from spoc_bench.cost import measured, plugin_key
    from spoc_bench.presets import FAST_ATTACK_SECONDS, GRADIENT_ATTACKS, QUERY_ATTACKS, preset

    figures = measured("cpu")

    def slowest_seconds(attack: str) -> float:
        """Seconds per image on 2 CPU cores, on the slowest detector it is made with (throughput.json)."""
        made_with = ["bondi2017", "mislnet", "noiseprint"] if attacks.get(attack).threat_model in ("white-box", "query") else []
        keys = [plugin_key("attack", attack, d) for d in made_with] or [plugin_key("attack", attack)]
        return max(1 / figures[k]["images_per_s"] if k in figures else float("inf") for k in keys)

    default, paper = set(preset("default")["attacks"]), set(preset("paper")["attacks"])
    for attack in GRADIENT_ATTACKS + QUERY_ATTACKS:
        assert attack in paper and attack not in preset("smoke")["attacks"]
        assert (attack in default) == (slowest_seconds(attack) <= FAST_ATTACK_SECONDS), attack


def test_the_save_is_followed_only_where_the_stand_in_applies(demo_root):
    dataset = spoc_bench.build_dataset("demo", root=str(demo_root))
    target_samples = list(dataset.items([s for s in dataset.samples("attacker") if s.camera == "demo-A"][:2]))
    attack = attacks.build("pgd-white-box").fit("demo-A", target_samples, detector=ColourClassifier())
    assert attack.followed_model(images(1, 32)) is not attack.model_  # JPEG target, sides multiples of 16
    assert attack.followed_model(images(1, 30)) is attack.model_
    attack.through_save = False
    assert attack.followed_model(images(1, 32)) is attack.model_


def test_a_weights_tag_on_an_attack_without_weights_is_refused():
    with pytest.raises(ValueError, match="has no weights"):
        spoc_bench.run(None, datasets=["demo"], attacks=["pgd-transfer:x"], detectors=["jpeg-table"],
                       perturbations="none", progress=False)


def test_l2_pgd_keeps_its_psnr_and_raises_the_targets_probability():
    from spoc_bench.attacks._gradient import pgd_l2, root_mean_square

    detector, inputs = ColourClassifier(), images(8, seed=3) * 0.5 + 0.25
    outputs = pgd_l2(log_probabilities(detector), inputs, 2, 30.0, 10)
    assert (root_mean_square(outputs - inputs) <= 10 ** (-30 / 20) + 1e-6).all()
    assert outputs.min() >= 0 and outputs.max() <= 1
    rise = detector.predict(outputs)[:, 2].log() - detector.predict(inputs)[:, 2].log()
    assert (rise > 3).all(), rise


def test_pgd_at_a_psnr_saves_at_that_psnr(demo_root):
    from spoc_bench.images import save_as, to_uint8
    from spoc_bench.metrics import psnr

    dataset = spoc_bench.build_dataset("demo", root=str(demo_root))
    target_samples = list(dataset.items([s for s in dataset.samples("attacker") if s.camera == "demo-C"][:2]))
    attack = attacks.build("pgd-white-box", psnr=30.0).fit("demo-C", target_samples, detector=ColourClassifier())
    inputs = torch.nn.functional.interpolate(images(2, 4, seed=4), size=32, mode="bilinear") * 0.5 + 0.25
    for image, output in zip(inputs, attack(inputs)):
        reference, pixels = to_uint8(image[None])[0], to_uint8(output[None])[0]
        assert psnr(reference, save_as(pixels, attack.target_container)) == pytest.approx(30.0, abs=0.3)
