"""FLOPs two ways for every phase: analytic (the cost model plus attention) and measured (FlopCounterMode).

Analytic counts use ``costlaw.costs`` conventions: 2 N FLOPs per token forward, 6 N for training, where N is the
parameter count of the model's matrix multiplies (every ``nn.Linear``, the lm_head included: the embedding lookup
is no matmul). That is exactly what ``FlopCounterMode`` counts for a dense layer. Attention adds 4 L d T^2 FLOPs per
sequence of T tokens forward (QK^T and AV over all T x T pairs, as eager attention computes them) and three
times that for training. Measurement needs eager attention: FlopCounterMode misses CPU scaled-dot-product kernels.

FLOPs of a step depend only on its tensor shapes, so :class:`PhaseMeter` runs FlopCounterMode on the first step of
each distinct shape and reuses that count for repeats (counting every step costs ~3x wall time on tiny models);
``every_step=True`` counts all of them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, asdict

import numpy as np

from .. import costs

PHASES = ("tuning", "warmup", "scoring", "gradients", "projection", "training", "evaluation")
"""Phase names recorded by the harness (selection phases first)."""


@dataclass(frozen=True)
class ModelShape:
    """What the analytic count needs to know about a transformer."""

    matmul_params: int
    """Parameters of all matrix multiplies (nn.Linear weights, lm_head included), count."""
    layers: int
    attention_dim: int
    """Query heads x head dim (the width of QK^T and AV), count."""
    first_layer_input_params: int = 0
    """Matmul parameters reading the (frozen) embedding output; LoRA backward skips their input gradients."""
    lora_params: int = 0
    """LoRA adapter parameters (A and B), count; 0 for full finetuning."""

    def forward_flops(self, lengths) -> float:
        """Forward FLOPs over sequences of ``lengths`` tokens: 2 N T + 4 L d T^2 each."""
        t = np.asarray(lengths, dtype=float)
        return (costs.FORWARD_FLOPS_PER_PARAM_TOKEN * (self.matmul_params + self.lora_params) * t.sum()
                + self.attention_flops(t))

    def attention_flops(self, lengths) -> float:
        """Forward attention FLOPs (QK^T and AV) over sequences of ``lengths`` tokens."""
        t = np.asarray(lengths, dtype=float)
        return 4.0 * self.layers * self.attention_dim * float((t * t).sum())

    def train_flops(self, lengths) -> float:
        """Full finetuning FLOPs: ``costs.train_flops`` (6 N per token) plus 3x forward attention."""
        t = np.asarray(lengths, dtype=float)
        return costs.train_flops(self.matmul_params, t.sum()) + 3.0 * self.attention_flops(t)

    def lora_train_flops(self, lengths) -> float:
        """LoRA finetuning FLOPs: ``costs.train_flops(lora=True)`` (4 N per token) + adapters + attention.

        Adapters cost 6 N_lora per token (forward, input and weight gradients); the first layer's projections
        read the frozen embedding, so their input gradients (2 N_first per token) are never computed.
        """
        t = np.asarray(lengths, dtype=float)
        tokens = t.sum()
        return (costs.train_flops(self.matmul_params, tokens, lora=True)
                + 6.0 * self.lora_params * tokens - 2.0 * self.first_layer_input_params * tokens
                + 3.0 * self.attention_flops(t))

    def per_example_gradient_flops(self, lengths) -> float:
        """Batched per-example LoRA gradients: the LoRA step (weight gradients as per-example outer products)."""
        return self.lora_train_flops(lengths)


def synchronize() -> None:
    """Wait for queued CUDA kernels (so wall seconds time the work, not its launch); a no-op without CUDA."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


@dataclass
class PhaseRecord:
    """One phase's analytic FLOPs, measured FLOPs and wall seconds."""

    phase: str
    analytic_flops: float = 0.0
    measured_flops: float = 0.0
    seconds: float = 0.0

    @property
    def ratio(self) -> float:
        """measured / analytic (1.0 is perfect agreement)."""
        return self.measured_flops / self.analytic_flops if self.analytic_flops else float("nan")

    def to_dict(self) -> dict:
        return asdict(self)


class PhaseMeter:
    """Accumulates a :class:`PhaseRecord` step by step: ``meter.step(shape_key, fn, analytic_flops)``."""

    def __init__(self, phase: str, every_step: bool = False):
        self.record = PhaseRecord(phase)
        self.synced = PhaseRecord(phase)
        """The record as of the last sum over processes (``distributed.gather_meter`` adds only what is new)."""
        self.every_step = every_step
        self._by_shape: dict = {}

    def step(self, shape_key, fn, analytic_flops: float):
        """Run ``fn()``, adding its wall time, ``analytic_flops`` and its measured FLOPs; returns fn's result."""
        from torch.utils.flop_counter import FlopCounterMode

        synchronize()
        start = time.perf_counter()
        if self.every_step or shape_key not in self._by_shape:
            with FlopCounterMode(display=False) as counter:
                out = fn()
            self._by_shape[shape_key] = counter.get_total_flops()
        else:
            out = fn()
        synchronize()
        self.record.seconds += time.perf_counter() - start
        self.record.measured_flops += float(self._by_shape[shape_key])
        self.record.analytic_flops += float(analytic_flops)
        return out

    def add_seconds(self, seconds: float) -> None:
        """Wall time spent in the phase outside of counted steps (e.g. BM25 indexing, no FLOPs)."""
        self.record.seconds += seconds


def phase_table(records) -> pd.DataFrame:
    """Phases as a DataFrame with the measured/analytic ratio, for reports."""
    import pandas as pd
    rows = [{**r.to_dict(), "ratio": r.ratio} for r in records]
    return pd.DataFrame(rows, columns=["phase", "analytic_flops", "measured_flops", "seconds", "ratio"])
