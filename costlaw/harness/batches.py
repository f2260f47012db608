"""Tokenised examples and length-bucketed batches (little padding, so measured FLOPs match analytic ones)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Encoded:
    """One example as token ids: prompt + response + eos; the loss is on the response and eos."""

    input_ids: tuple[int, ...]
    prompt_tokens: int

    @property
    def tokens(self) -> int:
        return len(self.input_ids)


def encode(tokenizer, examples, max_tokens: int = 256, response_override=None) -> list[Encoded]:
    """Tokenise ``examples`` (prompt and response separately, so the boundary is exact), truncating to max_tokens."""
    prompts = tokenizer([ex.prompt_text for ex in examples], add_special_tokens=False)["input_ids"]
    responses = response_override if response_override is not None else [ex.response for ex in examples]
    answers = tokenizer(list(responses), add_special_tokens=False)["input_ids"]
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    out = []
    for p, a in zip(prompts, answers):
        ids = (list(p) + list(a) + eos)[:max_tokens]
        out.append(Encoded(tuple(ids), min(len(p), max_tokens - 1)))
    return out


def lengths(encoded) -> np.ndarray:
    """Tokens per example (count)."""
    return np.array([e.tokens for e in encoded], dtype=np.int64)


def length_buckets(token_lengths, batch_size: int, seed: int | None = None,
                   max_padding: float = 0.0) -> list[np.ndarray]:
    """Batches of at most ``batch_size`` indices whose padded tokens exceed their real ones by <= max_padding.

    Examples are sorted by length (ties in random order with ``seed``) and cut greedily; with a seed the batches
    are then shuffled (training). ``max_padding=0`` gives equal-length batches (scoring), so the FLOPs the
    hardware spends equal the analytic count over real tokens; training uses a small tolerance (e.g. 0.03).
    """
    token_lengths = np.asarray(token_lengths)
    n = len(token_lengths)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n) if seed is not None else np.arange(n)
    order = perm[np.argsort(token_lengths[perm], kind="stable")]
    batches, current, real = [], [], 0
    for i in order:
        t = int(token_lengths[i])
        if current and (len(current) == batch_size or t * (len(current) + 1) > (1 + max_padding) * (real + t)):
            batches.append(np.array(current))
            current, real = [], 0
        current.append(i)
        real += t
    if current:
        batches.append(np.array(current))
    if seed is not None:
        rng.shuffle(batches)
    return batches


def collate(encoded, pad_id: int):
    """Right-padded tensors: input_ids, attention_mask, labels (-100 outside the response)."""
    import torch

    width = max(e.tokens for e in encoded)
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    labels = torch.full((len(encoded), width), -100, dtype=torch.long)
    for i, e in enumerate(encoded):
        row = torch.tensor(e.input_ids, dtype=torch.long)
        ids[i, :e.tokens] = row
        mask[i, :e.tokens] = 1
        labels[i, e.prompt_tokens:e.tokens] = row[e.prompt_tokens:]
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def token_logprobs(model, batch):
    """Per-example (sum of response log-probs in nats, response tokens, all-argmax-correct) from one forward.

    The log-softmax is taken only at response positions (no FLOPs counted: it is not a matmul), which saves
    most of the post-processing when prompts are longer than responses.
    """
    import torch

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
    target = batch["labels"][:, 1:]
    valid = target != -100
    picked = logits[:, :-1][valid].float()
    wanted = target[valid]
    logp = picked.gather(1, wanted.unsqueeze(1)).squeeze(1) - torch.logsumexp(picked, dim=-1)
    rows = valid.nonzero()[:, 0]
    n = target.shape[0]
    sums = torch.zeros(n, device=logits.device).index_add_(0, rows, logp)
    wrong = torch.zeros(n, device=logits.device).index_add_(0, rows, (picked.argmax(-1) != wanted).float())
    return sums, valid.sum(1), wrong == 0
