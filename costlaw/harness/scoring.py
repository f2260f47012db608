"""Batched, length-bucketed forward scoring of examples under a causal LM, data-parallel under accelerate.

Under ``accelerate launch`` / ``torchrun`` each process scores its share of the batches and the results are
gathered (accelerate's ``split_between_processes`` and ``gather_object``); a single process needs no launcher.
"""
from __future__ import annotations

import numpy as np

from .batches import collate, encode, length_buckets, lengths, token_logprobs
from .flops import PhaseMeter
from .models import model_shape


def process_state():
    """accelerate's PartialState; on a machine without CUDA it joins a torchrun/accelerate group over gloo."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def _gather_meter(meter: PhaseMeter, state) -> None:
    """Sum a meter's FLOPs over processes (wall seconds: the slowest process)."""
    if state.num_processes == 1:
        return
    from accelerate.utils import gather_object

    rec = meter.record
    parts = gather_object([(rec.analytic_flops, rec.measured_flops, rec.seconds)])
    rec.analytic_flops = sum(p[0] for p in parts)
    rec.measured_flops = sum(p[1] for p in parts)
    rec.seconds = max(p[2] for p in parts)


def score_encoded(model, encoded, pad_id: int, batch_size: int = 32, meter: PhaseMeter | None = None,
                  progress=None):
    """(sum of response log-probs in nats, response tokens, greedy-exact) per encoded example, in input order."""
    import torch

    state = process_state()
    shape = model_shape(model)
    token_lengths = lengths(encoded)
    batches = length_buckets(token_lengths, batch_size)
    model.to(state.device)
    results = []
    with state.split_between_processes(list(range(len(batches)))) as mine:
        for b in mine:
            idx = batches[b]
            batch = {k: v.to(state.device) for k, v in collate([encoded[i] for i in idx], pad_id).items()}

            def run():
                with torch.inference_mode():
                    return token_logprobs(model, batch)

            key = tuple(batch["input_ids"].shape)
            out = run() if meter is None else meter.step(key, run, shape.forward_flops(token_lengths[idx]))
            results.append((idx, *(t.cpu().numpy() for t in out)))
            if progress is not None:
                progress.update(len(idx))
    if state.num_processes > 1:
        from accelerate.utils import gather_object

        results = gather_object(results)
        if meter is not None:
            _gather_meter(meter, state)
    logp = np.zeros(len(encoded))
    count = np.zeros(len(encoded))
    exact = np.zeros(len(encoded), dtype=bool)
    for idx, lp, n, ok in results:
        logp[idx], count[idx], exact[idx] = lp, n, ok
    return logp, count, exact


def score_examples(model, tokenizer, examples, batch_size: int = 32, meter=None, progress=None, responses=None):
    """Score ``examples`` (optionally with other ``responses``): see :func:`score_encoded`."""
    encoded = encode(tokenizer, examples, response_override=responses)
    return score_encoded(model, encoded, tokenizer.pad_token_id, batch_size, meter, progress)
