"""The arithmetic format of the networks: ``fp32``, or ``bf16`` (torch's autocast to bfloat16, inputs
in channels-last memory order, each detector's last steps in float32); ``auto`` is bf16 where the
hardware computes bfloat16 natively (a CUDA GPU that supports it; a CPU with AMX or AVX-512 BF16
instructions) and fp32 elsewhere.

Autocast runs convolutions and matrix products in bfloat16 and keeps reductions and the other
numerically delicate operations in float32. A detector's scores come out of a float32 tail (its
logits cast to float32 before the softmax or sigmoid; Noiseprint's normalised correlations computed
in float32 with autocast off), so probabilities and AUCs are not rounded to bfloat16's 8 bits.
An fp32 run leaves every cache key as it was; a bf16 run adds ``precision=bf16`` to the keys of
what it computes (fits, attacked images, detection rows), so the two never mix.
"""

from __future__ import annotations

from contextlib import nullcontext
from functools import lru_cache

PRECISIONS = ("auto", "bf16", "fp32")
DEFAULT = "fp32"
CPU_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of CPUs with native bfloat16 arithmetic


def resolve(precision: str, device: str) -> str:
    """``bf16`` or ``fp32``: what ``precision`` (auto, bf16 or fp32) means on ``device``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def native_bf16(device: str) -> bool:
    """Whether ``device`` computes bfloat16 natively."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return bool(cpu_flags() & set(CPU_FLAGS))


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset:
    try:
        with open("/proc/cpuinfo") as info:
            return frozenset(next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), []))
    except OSError:  # not Linux: no flags known, so auto means fp32
        return frozenset()


def device_type(device: str) -> str:
    return "cuda" if str(device).startswith("cuda") else "cpu"


def computing(precision: str, device: str):
    """The context in which networks compute: bfloat16 autocast for ``bf16``, nothing for ``fp32``."""
    import torch

    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device_type(device), dtype=torch.bfloat16)


def float32(device):
    """A float32 tail inside :func:`computing`: autocast off (tensors made in bf16 must be cast with
    ``.float()`` on entry)."""
    import torch

    return torch.autocast(device_type(str(device)), enabled=False)


def memory_format(images, precision: str):
    """A batch of images (``[N, C, H, W]``) in channels-last order under bf16, where bfloat16
    convolutions are fastest; any other tensor as it is."""
    import torch

    if precision == "fp32" or images.dim() != 4:
        return images
    return images.contiguous(memory_format=torch.channels_last)


def key(precision: str) -> dict:
    """What a precision adds to a cache key: nothing for fp32 (so earlier caches stay valid)."""
    return {} if precision == "fp32" else {"precision": precision}
