"""The one place that picks the default numeric precision for this machine."""

from __future__ import annotations

import torch


def cpu_has_native_bf16() -> bool:
    """True on CPUs with AVX512-BF16 or AMX, where bf16 matmuls and convolutions run in hardware."""
    try:
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    except AttributeError:  # older torch without the probes: assume emulated, keep fp32
        return False


def fastest_precision(accelerator: str = "auto") -> str:
    """The fastest precision that trains this CNN correctly, as a Trainer ``precision`` value.

    GPUs: ``bf16-mixed`` where supported (Ampere+), else ``16-mixed``. CPUs: ``bf16-mixed`` only where
    bf16 is native; emulated bf16 is several times slower than fp32, so ``32-true`` elsewhere.
    """
    wants_gpu = accelerator in ("auto", "gpu", "cuda")
    if wants_gpu and torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed" if cpu_has_native_bf16() else "32-true"
