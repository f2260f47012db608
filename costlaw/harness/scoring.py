"""Batched, length-bucketed forward scoring of examples under a causal LM, data-parallel under accelerate.

Under ``accelerate launch`` / ``torchrun`` each process scores its share of the batches and the results are
gathered (``distributed.sharded_map``); a single process needs no launcher.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .batches import as_encoder, collate, length_buckets, lengths, token_logprobs
from .distributed import gather_meter, process_state, sharded_map
from .flops import PhaseMeter
from .models import model_shape

__all__ = ["TokenScores", "process_state", "score_encoded", "score_examples"]


class TokenScores(NamedTuple):
    """Per-example scores, in input order."""

    logp: np.ndarray
    """Sum of the answer tokens' log-probs (nats; the eos excluded)."""
    count: np.ndarray
    """Answer tokens (count)."""
    exact: np.ndarray
    """Every answer token is the argmax given the right prefix (greedy decoding starts with the answer)."""
    eos_logp: np.ndarray
    """Log-prob of the eos after the answer (nats; 0 where the eos was truncated away)."""
    candidates: np.ndarray | None = None
    """(examples, k) log-probs of candidate tokens at the first response position (when asked for)."""


def score_encoded(model, encoded, pad_id: int, batch_size: int = 32, meter: PhaseMeter | None = None,
                  progress=None, candidates=None) -> TokenScores:
    """:class:`TokenScores` of encoded examples; ``candidates``: per example, k token ids to score (same k)."""
    import torch

    from .precision import autocast

    state = process_state()
    shape = model_shape(model)
    token_lengths = lengths(encoded)
    batches = length_buckets(token_lengths, batch_size)
    model.to(state.device)

    def one(idx):
        batch = {k: v.to(state.device) for k, v in collate([encoded[i] for i in idx], pad_id, masks=True).items()}
        cand = None if candidates is None else torch.tensor([candidates[i] for i in idx], device=state.device)

        def run():
            with torch.inference_mode(), autocast(state.device):
                return token_logprobs(model, batch, cand)

        key = tuple(batch["input_ids"].shape)
        out = run() if meter is None else meter.step(key, run, shape.forward_flops(token_lengths[idx]))
        if progress is not None:
            progress.update(len(idx))
        return idx, [t.float().cpu().numpy() if t.is_floating_point() else t.cpu().numpy() for t in out]

    results = sharded_map(batches, one, state)
    gather_meter(meter, state)
    n = len(encoded)
    logp, count, eos = np.zeros(n), np.zeros(n), np.zeros(n)
    exact = np.zeros(n, dtype=bool)
    cand = None if candidates is None else np.zeros((n, len(candidates[0])))
    for idx, out in results:
        logp[idx], count[idx], exact[idx], eos[idx] = out[:4]
        if cand is not None:
            cand[idx] = out[4]
    return TokenScores(logp, count, exact, eos, cand)


def score_examples(model, tokenizer, examples, batch_size: int = 32, meter=None, progress=None, responses=None,
                   candidates=None) -> TokenScores:
    """Score ``examples`` (optionally with other ``responses``); ``tokenizer`` may be an ``Encoder``."""
    enc = as_encoder(tokenizer)
    encoded = enc.encode(examples, responses)
    return score_encoded(model, encoded, enc.pad_token_id, batch_size, meter, progress, candidates)
