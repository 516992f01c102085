"""What the gradient attacks (``fgsm``, ``pgd``) share: the targeted L-inf steps, the model whose
gradients they follow, and the attack class that holds both.

The steps are a few lines of torch written here rather than taken from a library: torchattacks
pulls a CUDA build of torchvision that does not load beside this project's CPU torch, and
adversarial-robustness-toolbox would work but is a heavy dependency for two loops.
"""

from __future__ import annotations

from typing import Sequence

from spoc_bench.contracts import Attack, Item

LEVEL = 1 / 255  # one 8-bit level: epsilon and step sizes are counted in these
SURROGATES = "embedder+constrained"  # the transfer attacks' default: both of the attacker's surrogates


# ------------------------------------------------------------------------------------ the steps
def target_loss(log_probabilities, target: int):
    """Cross-entropy to the target class (what a targeted attack minimises)."""
    return -log_probabilities[:, target].sum()


def target_gradient(model, images, target: int):
    """The gradient of the target cross-entropy at ``images`` (``model`` returns log-probabilities)."""
    import torch

    with torch.enable_grad():
        images = images.detach().requires_grad_(True)
        (gradient,) = torch.autograd.grad(target_loss(model(images), target), images)
    return gradient


def signed_gradient(model, images, target: int):
    """The sign of :func:`target_gradient`."""
    return target_gradient(model, images, target).sign()


def fgsm(model, images, target: int, epsilon: float):
    """One targeted step of size ``epsilon`` against the gradient sign (Goodfellow et al. 2015)."""
    return (images - epsilon * signed_gradient(model, images, target)).clamp(0, 1)


def pgd(model, images, target: int, epsilon: float, step: float, steps: int):
    """Targeted projected gradient descent in the L-inf ball of radius ``epsilon`` (Madry et al. 2018),
    from the input itself (no random start: the output is deterministic)."""
    adversarial = images.clone()
    for _ in range(steps):
        adversarial = adversarial - step * signed_gradient(model, adversarial, target)
        adversarial = (images + (adversarial - images).clamp(-epsilon, epsilon)).clamp(0, 1)
    return adversarial


def root_mean_square(tensor):
    """Per image of the batch, shaped to broadcast over it."""
    return tensor.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()


def pgd_l2(model, images, target: int, psnr: float, steps: int):
    """Targeted projected gradient descent in an L2 ball: each image's change keeps a root mean square
    of at most ``10 ** (-psnr / 20)`` (a PSNR of at least ``psnr`` dB to the input, before rounding),
    ``steps`` normalised gradient steps of 2.5 radii / ``steps`` from the input itself."""
    radius = 10 ** (-psnr / 20)
    adversarial = images.clone()
    for _ in range(steps):
        gradient = target_gradient(model, adversarial, target)
        adversarial = adversarial - 2.5 * radius / steps * gradient / root_mean_square(gradient).clamp_min(1e-12)
        change = adversarial - images
        change = change * (radius / root_mean_square(change).clamp_min(1e-12)).clamp(max=1)
        adversarial = (images + change).clamp(0, 1)
    return adversarial


# ------------------------------------------------------------------------------------ the models
class DetectorLogProbabilities:
    """A detector as a differentiable function: images -> log of its predicted probabilities."""

    def __init__(self, detector):
        self.detector = detector

    def __call__(self, images):
        return self.detector.log_predict(images)


class SurrogateEnsemble:
    """The attacker's frozen camera classifiers as one model: the mean of their log-probabilities."""

    def __init__(self, models: dict, classes: Sequence[str]):
        self.models, self.classes = models, tuple(classes)

    def __call__(self, images):
        import torch

        return torch.stack([model(images).log_softmax(dim=1) for model in self.models.values()]).mean(dim=0)

    def only(self, names: str) -> "SurrogateEnsemble":
        """The ensemble of the models ``names`` lists (``a+b``)."""
        chosen = names.split("+")
        unknown = sorted(set(chosen) - set(self.models))
        if unknown or not names:
            raise ValueError(f"surrogates={names!r}: unknown {unknown}; the attacker's surrogates are "
                             f"{'+'.join(self.models)}")
        return SurrogateEnsemble({name: self.models[name] for name in chosen}, self.classes)


def attacker_surrogate(dataset: str, cameras: Sequence[str], folder=None, device: str = "cpu") -> SurrogateEnsemble:
    """SpoC's shipped surrogates (``embedder`` and ``constrained``) for ``dataset``, trained on its
    attacker split; a missing file names the command that trains it."""
    from .spoc import load_surrogates

    try:
        models = load_surrogates(dataset, len(cameras), folder, device)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"transfer attacks need the attacker's surrogates for {dataset!r}: {error} "
                                f"(`spoc-bench train attack spoc -o dataset={dataset}` trains them)") from None
    return SurrogateEnsemble(models, cameras)


def surrogate_weights_id(dataset: str, folder=None) -> str:
    """The sha256 of both surrogates' weights (for cache keys), or ``missing``."""
    from spoc_bench.weights import verified_sha256, weights_path

    paths = [weights_path("attack", "spoc", f"{dataset}-{name}", folder) for name in ("embedder", "constrained")]
    return "+".join(verified_sha256(p) for p in paths) if all(p.exists() for p in paths) else "missing"


# ------------------------------------------------------------------------------------ the attack
class GradientAttack(Attack):
    """A targeted gradient attack: follows ``model_`` (the detector or the surrogates) to ``target``.

    The perturbation is bounded before saving; the 8-bit rounding and the target's JPEG save that
    follow are part of the attack's reality (``saves_like_target``), so the saved file may lie
    outside the ball and lose part of the effect. With ``through_save`` the gradients are taken
    through a differentiable stand-in of that save (``attacks/_diffjpeg.py``: the target's tables and
    subsampling, straight-through rounding) where the image's sides are multiples of 16, so the steps
    aim at what the file will hold.
    """

    saves_like_target = True
    uses_target = True

    def fit(self, target: str, target_samples: Sequence[Item] = (), detector=None, surrogate=None,
            **knowledge) -> "GradientAttack":
        super().fit(target, target_samples)
        if detector is not None:
            self.model_, classes = DetectorLogProbabilities(detector), detector.classes
        elif surrogate is not None:
            self.model_, classes = surrogate.only(self.surrogates), surrogate.classes
        else:
            raise ValueError(f"{self.name}: fit needs the detector (white-box) or the surrogate (transfer)")
        if target not in classes:
            raise ValueError(f"{self.name}: target {target!r} is not among the model's classes {list(classes)}")
        self.target_index_ = list(classes).index(target)
        return self

    def forward(self, images):
        return self.perturb(self.followed_model(images), images.to(self.device), self.target_index_).cpu()

    def followed_model(self, images):
        """The model whose gradients the steps follow: behind the target's save where it applies."""
        container = self.target_container
        height, width = images.shape[-2:]
        if not (self.through_save and container is not None and container.is_jpeg) or height % 16 or width % 16:
            return self.model_
        from ._diffjpeg import DiffJpeg

        save = DiffJpeg(container.qtables, container.subsampling).to(self.device)
        return lambda pixels: self.model_(save(pixels))

    def perturb(self, model, images, target: int):
        raise NotImplementedError


class WhiteBox:
    """Mixin: follows the gradients of the very detector being measured (an upper bound)."""

    threat_model = "white-box"
    needs = frozenset({"target_samples", "detector"})
    version = "2"  # follows the detector's log-softmax, not the log of its rounded probabilities


class Transfer:
    """Mixin: follows the attacker's own surrogates' gradients, applied to every detector."""

    threat_model = "transfer"
    needs = frozenset({"target_samples", "surrogate"})
