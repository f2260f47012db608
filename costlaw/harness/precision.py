"""Numeric precision: fp32 weights always (master weights), bf16 autocast on CUDA when the sweep asks for it.

``dtype`` is ``"auto"`` (bf16 autocast on a CUDA device that supports it, fp32 elsewhere), ``"bf16"`` (the same,
but an error on a CUDA device without bf16) or ``"fp32"``. On CPU everything runs in fp32 whatever is asked (CPU
bf16 matmuls are slow and FlopCounterMode's counts are the same). Models are always loaded in fp32, so training
in bf16 is mixed precision (accelerate's ``mixed_precision="bf16"``: autocast forward, fp32 AdamW master weights),
never pure half precision.
"""
from __future__ import annotations

import contextlib
import contextvars

DTYPES = ("auto", "fp32", "bf16")
_current = contextvars.ContextVar("costlaw_harness_dtype", default="auto")


@contextlib.contextmanager
def using(dtype: str):
    """Make ``dtype`` the precision of scoring, gradients and training inside the block."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    token = _current.set(dtype)
    try:
        yield
    finally:
        _current.reset(token)


def mixed_precision(device=None) -> str:
    """accelerate's ``mixed_precision`` for the current setting on ``device``: ``"bf16"`` or ``"no"``."""
    import torch

    dtype = _current.get()
    on_cuda = torch.cuda.is_available() if device is None else str(device).startswith("cuda")
    if dtype == "fp32" or not on_cuda:
        return "no"
    if torch.cuda.is_bf16_supported():
        return "bf16"
    if dtype == "bf16":
        raise ValueError("dtype 'bf16' asked for, but this CUDA device does not support bf16")
    return "no"


def autocast(device):
    """An autocast context for ``device`` under the current setting (a no-op context in fp32)."""
    import torch

    if mixed_precision(device) == "bf16":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
