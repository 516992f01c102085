"""The scene pool of the embedded datasets: photographs shipped inside installed wheels, and
procedural dead-leaves scenes. A scene is camera-free content: a photograph is down-scaled with
anti-aliasing first so that its own camera and JPEG traces fade.

Also the scene plan that ``simcam`` and ``synthetic`` share: which views of which scenes each split
holds (:func:`scene_views`), the content of a view (:func:`scene_content`), and the generator
families whose images ``simcam`` includes by default.
"""

from __future__ import annotations

import functools

import numpy as np

PHOTOS = ("astronaut", "coffee", "rocket", "hubble", "china", "immunohistochemistry", "flower",
          "retina", "grace_hopper", "chelsea")
SPLIT_PHOTOS = {  # photographs (each one scene, several crops) per split; dead leaves fill the rest
    "defender-train": ("astronaut", "coffee", "rocket", "hubble", "china"),
    "defender-test": ("immunohistochemistry", "flower"),
    "attacker": ("retina", "grace_hopper"),
}
GENERATOR_FAMILIES = ("transposed", "nearest", "bilinear", "pixelshuffle")  # see ``synthetic``


@functools.lru_cache(maxsize=16)
def load_photo(name: str, scale: float = 0.5) -> np.ndarray:
    """A wheel's photograph as float RGB in [0, 1], rescaled by ``scale`` with anti-aliasing
    (cached: read-only, so that no caller changes another's copy)."""
    from skimage import data, transform

    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        image = load_sample_image(f"{name}.jpg")
    elif name == "grace_hopper":
        import matplotlib.cbook

        from spoc_bench.images import decode

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as stream:
            image = decode(stream.read(), "grace_hopper.jpg")
    elif name in PHOTOS:
        image = getattr(data, "hubble_deep_field" if name == "hubble" else name)()
    else:
        raise ValueError(f"unknown photograph {name!r}; known: {', '.join(PHOTOS)}")
    image = np.asarray(image, dtype=np.float64)[..., :3] / 255.0
    photo = np.clip(transform.rescale(image, scale, anti_aliasing=True, channel_axis=2), 0, 1)
    photo.flags.writeable = False
    return photo


def random_crops(image: np.ndarray, size: int, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    height, width = image.shape[:2]
    if min(height, width) < size:
        raise ValueError(f"scene of {height}x{width} px is smaller than the crop size {size}")
    corners = zip(rng.integers(0, height - size + 1, count), rng.integers(0, width - size + 1, count))
    return [image[y:y + size, x:x + size] for y, x in corners]


def dead_leaves(size: int, rng: np.random.Generator, leaves: int = 600, supersample: int = 2) -> np.ndarray:
    """A dead-leaves scene: occluding discs of power-law radii (scale invariance, like natural
    images), each with its own colour, shading gradient and fine texture; rendered at
    ``supersample`` times the size and area-averaged down (anti-aliased edges)."""
    from scipy.ndimage import gaussian_filter

    big = size * supersample
    canvas = np.full((big, big, 3), np.nan)
    y, x = np.mgrid[0:big, 0:big]
    radii = (rng.pareto(2.0, leaves) + 1) * big / 80
    for radius in np.minimum(radii, big / 2):
        cy, cx = rng.uniform(-radius, big + radius, 2)
        top, bottom = int(max(cy - radius, 0)), int(min(cy + radius + 1, big))
        left, right = int(max(cx - radius, 0)), int(min(cx + radius + 1, big))
        if top >= bottom or left >= right:
            continue
        window = (slice(top, bottom), slice(left, right))
        inside = (y[window] - cy) ** 2 + (x[window] - cx) ** 2 <= radius ** 2
        empty = np.isnan(canvas[window][..., 0]) & inside  # earlier leaves lie on top
        if not empty.any():
            continue
        colour = rng.uniform(0.05, 0.95, 3) * rng.uniform(0.4, 1.0)
        slope = rng.normal(0, 0.4 / max(radius, 1), 2)
        shade = 1 + slope[0] * (y[window] - cy) + slope[1] * (x[window] - cx)
        patch = canvas[window]
        patch[empty] = np.clip(colour[None, :] * shade[empty][:, None], 0, 1)
        canvas[window] = patch
        if not np.isnan(canvas[..., 0]).any():
            break
    canvas = np.where(np.isnan(canvas), rng.uniform(0.1, 0.9, 3), canvas)
    texture = gaussian_filter(rng.normal(0, 1, (big, big)), rng.uniform(0.7, 2.0))
    canvas = np.clip(canvas * (1 + 0.06 * texture / texture.std())[..., None], 0, 1)
    return canvas.reshape(size, supersample, size, supersample, 3).mean(axis=(1, 3))


def scene_views(views: tuple[int, int, int], crops_per_photo: int) -> list[tuple[str, str, int]]:
    """(split, scene, view index) for every view, ``views`` per split in the order of
    ``SPLIT_PHOTOS``; photographs first, then dead leaves."""
    plan = []
    for (split, photos), wanted in zip(SPLIT_PHOTOS.items(), views):
        crops = [(split, photo, k) for photo in photos for k in range(crops_per_photo)]
        leaves = [(split, f"leaves-{split}-{k}", 0) for k in range(max(0, wanted - len(crops)))]
        plan += (crops + leaves)[:wanted]
    return plan


def scene_content(scene: str, view: int, size: int, photo_scale: float, crops: int, seed: int) -> np.ndarray:
    """The float RGB content of one view: a crop of a photograph, or a dead-leaves scene."""
    rng = np.random.default_rng([seed, *scene.encode()])
    if scene.startswith("leaves-"):
        return dead_leaves(size, rng)
    return random_crops(load_photo(scene, photo_scale), size, crops, rng)[view]
