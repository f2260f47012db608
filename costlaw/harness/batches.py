"""Tokenised examples and length-bucketed batches (little padding, so measured FLOPs match analytic ones).

:class:`Encoder` turns examples into token ids the way the model expects them: the tokenizer's chat template when
it has one (else the fixed ``### Instruction`` template), a BOS token where the tokenizer adds one by default,
and at most ``max_tokens`` tokens per example. A prompt that does not fit is truncated **from the left** (its
start is dropped, the end nearest the response kept); the response is never dropped (only a response longer than
the whole budget loses its tail). ``truncation_counts`` says how many examples were cut.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_MAX_TOKENS = 1024
"""Default token budget per example (prompt + response + eos); a sweep sets it with ``max_tokens``."""


@dataclass(frozen=True)
class Encoded:
    """One example as token ids: [bos] + prompt + response + eos; the loss is on the response and eos."""

    input_ids: tuple[int, ...]
    prompt_tokens: int
    """Tokens before the response (bos and template included), count."""
    answer_tokens: int = -1
    """Response tokens without the eos (what ``answer_prob`` scores), count; -1: all tokens after the prompt."""
    prompt_truncated: bool = False
    response_truncated: bool = False

    @property
    def tokens(self) -> int:
        return len(self.input_ids)

    @property
    def answer_count(self) -> int:
        return self.tokens - self.prompt_tokens if self.answer_tokens < 0 else self.answer_tokens

    @property
    def has_eos(self) -> bool:
        return self.prompt_tokens + self.answer_count < self.tokens


def expects_bos(tokenizer) -> bool:
    """Whether ``tokenizer`` puts a BOS token in front of text by default (Llama-style tokenizers do)."""
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        return False
    ids = tokenizer("a")["input_ids"]
    return bool(ids) and ids[0] == bos


class Encoder:
    """Examples -> :class:`Encoded` for one tokenizer: prompt format, BOS and the token budget.

    ``chat_template``: ``"auto"`` uses the tokenizer's chat template when it has one, ``"never"`` always the
    fixed template. Passing an Encoder wherever a tokenizer is accepted carries these settings along.
    """

    def __init__(self, tokenizer, max_tokens: int = DEFAULT_MAX_TOKENS, chat_template: str = "auto"):
        if isinstance(tokenizer, Encoder):
            tokenizer = tokenizer.tokenizer
        if max_tokens < 2:
            raise ValueError(f"max_tokens must be at least 2, got {max_tokens}")
        self.tokenizer = tokenizer
        self.max_tokens = int(max_tokens)
        self.use_chat_template = chat_template != "never" and bool(getattr(tokenizer, "chat_template", None))
        self.bos_token_id = tokenizer.bos_token_id if expects_bos(tokenizer) else None

    @property
    def pad_token_id(self) -> int:
        return self.tokenizer.pad_token_id

    @property
    def eos_token_id(self):
        return self.tokenizer.eos_token_id

    def prompt_text(self, example) -> str:
        """The prompt as the model sees it (chat template with a generation prompt, or the fixed template)."""
        if self.use_chat_template:
            return self.tokenizer.apply_chat_template(example.chat_messages(), add_generation_prompt=True,
                                                      tokenize=False)
        return example.prompt_text

    def encode(self, examples, responses=None) -> list[Encoded]:
        """Tokenise prompts and responses separately (an exact boundary), then fit them into ``max_tokens``."""
        tok = self.tokenizer
        prompts = tok([self.prompt_text(ex) for ex in examples], add_special_tokens=False)["input_ids"]
        responses = responses if responses is not None else [ex.response for ex in examples]
        answers = tok(list(responses), add_special_tokens=False)["input_ids"]
        eos = [tok.eos_token_id] if tok.eos_token_id is not None else []
        return [self.fit(p, a, eos) for p, a in zip(prompts, answers)]

    def fit(self, prompt, answer, eos=()) -> Encoded:
        """[bos] + prompt + answer + eos within ``max_tokens``: the prompt loses its start first."""
        bos = [self.bos_token_id] if self.bos_token_id is not None else []
        prompt = list(prompt)
        if bos and prompt[:1] == bos:
            prompt = prompt[1:]
        response = list(answer) + list(eos)
        limit = self.max_tokens
        prompt_cut = response_cut = False
        if len(bos) + len(prompt) + len(response) > limit:
            room = limit - len(bos) - len(response)
            if room >= 1:
                prompt, prompt_cut = prompt[-room:], True
            else:  # the response alone overflows: keep one prompt token (something to predict from)
                prompt_cut = len(prompt) > 1
                prompt = prompt[-1:]
                response, response_cut = response[:limit - len(bos) - len(prompt)], True
        ids = bos + prompt + response
        answer_tokens = min(len(answer), len(response))
        return Encoded(tuple(ids), len(bos) + len(prompt), answer_tokens, prompt_cut, response_cut)


def as_encoder(tokenizer_or_encoder) -> Encoder:
    """An :class:`Encoder` (itself, or a tokenizer with the default settings)."""
    if isinstance(tokenizer_or_encoder, Encoder):
        return tokenizer_or_encoder
    return Encoder(tokenizer_or_encoder)


def encode(tokenizer, examples, max_tokens: int | None = None, response_override=None) -> list[Encoded]:
    """Tokenise ``examples`` with ``tokenizer`` (a tokenizer or an :class:`Encoder`); see :meth:`Encoder.encode`."""
    enc = as_encoder(tokenizer)
    if max_tokens is not None and max_tokens != enc.max_tokens:
        enc = Encoder(enc.tokenizer, max_tokens, "auto" if enc.use_chat_template else "never")
    return enc.encode(examples, response_override)


def truncation_counts(encoded) -> dict:
    """{examples, prompt_truncated, response_truncated} (counts) over ``encoded``."""
    return {"examples": len(encoded), "prompt_truncated": int(sum(e.prompt_truncated for e in encoded)),
            "response_truncated": int(sum(e.response_truncated for e in encoded))}


def lengths(encoded) -> np.ndarray:
    """Tokens per example (count)."""
    return np.array([e.tokens for e in encoded], dtype=np.int64)


SCORING_MAX_PADDING = 0.02
"""Padding tolerance of scoring batches (padded / real tokens - 1): enough to stop small sets of varied lengths
fragmenting into batches of one, small enough that measured FLOPs stay within a few percent of analytic ones."""


def length_buckets(token_lengths, batch_size: int, seed: int | None = None,
                   max_padding: float = SCORING_MAX_PADDING, min_size: int = 4) -> list[np.ndarray]:
    """Batches of at most ``batch_size`` indices whose padded tokens exceed their real ones by <= max_padding.

    Examples are sorted by length (ties in random order with ``seed``) and cut greedily; with a seed the batches
    are then shuffled (training). ``max_padding=0`` gives equal-length batches; scoring uses
    ``SCORING_MAX_PADDING`` and training a slightly larger tolerance (``TrainConfig.max_padding``). Batches
    under ``min_size`` examples (the sparse tails of the length distribution) are merged into a neighbour while
    that batch's padding stays within 2 x max_padding + 2%, so the padding of the whole set stays near
    ``max_padding`` and few batches have one example.
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
    batches = _merge_small(batches, token_lengths, batch_size, min_size, 2 * max_padding + 0.02)
    if seed is not None:
        rng.shuffle(batches)
    return batches


def _merge_small(batches, token_lengths, batch_size, min_size, tolerance):
    """Merge batches under ``min_size`` examples into a length-neighbour while the merged padding stays within
    ``tolerance`` (the sparse tails of a length distribution would otherwise be batches of one)."""
    def padding(idx):
        t = token_lengths[idx]
        return len(t) * t.max() / t.sum() - 1

    out = list(batches)
    i = 0
    while i < len(out):
        b = out[i]
        if len(b) < min_size:
            for j in (i + 1, i - 1):
                if 0 <= j < len(out) and len(b) + len(out[j]) <= batch_size:
                    merged = np.concatenate([out[min(i, j)], out[max(i, j)]])
                    if padding(merged) <= tolerance:
                        out[min(i, j)] = merged
                        del out[max(i, j)]
                        i = max(min(i, j) - 1, 0)
                        break
            else:
                i += 1
            continue
        i += 1
    return out


def collate(encoded, pad_id: int, masks: bool = False):
    """Right-padded tensors: input_ids, attention_mask, labels (-100 outside the response and eos).

    ``masks=True`` adds ``answer_mask`` and ``eos_mask`` (bool, aligned with labels): which labelled positions
    are answer tokens and which is the eos, for scoring them apart.
    """
    import torch

    width = max(e.tokens for e in encoded)
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    labels = torch.full((len(encoded), width), -100, dtype=torch.long)
    answer = torch.zeros((len(encoded), width), dtype=torch.bool)
    eos = torch.zeros((len(encoded), width), dtype=torch.bool)
    for i, e in enumerate(encoded):
        row = torch.tensor(e.input_ids, dtype=torch.long)
        ids[i, :e.tokens] = row
        mask[i, :e.tokens] = 1
        labels[i, e.prompt_tokens:e.tokens] = row[e.prompt_tokens:]
        end = e.prompt_tokens + e.answer_count
        answer[i, e.prompt_tokens:end] = True
        eos[i, end:e.tokens] = True
    out = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    if masks:
        out.update(answer_mask=answer, eos_mask=eos)
    return out


def token_logprobs(model, batch, candidates=None):
    """Per-example scores from one forward: (answer log-prob sum in nats, answer tokens, all-answer-argmax, eos
    log-prob in nats (0 without an eos)[, candidate log-probs]).

    The answer excludes the eos (``answer_mask``; without masks every labelled token counts as answer). The
    log-softmax is taken only at labelled positions (not a matmul, so no FLOPs counted). ``candidates``: a
    (batch, k) tensor of token ids whose log-probs at the first response position are returned too (single-token
    multiple-choice options scored from the same forward).
    """
    import torch

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
    target = batch["labels"][:, 1:]
    valid = target != -100
    answer = batch["answer_mask"][:, 1:] if "answer_mask" in batch else valid
    eos = batch["eos_mask"][:, 1:] if "eos_mask" in batch else torch.zeros_like(valid)
    picked = logits[:, :-1][valid].float()
    wanted = target[valid]
    norm = torch.logsumexp(picked, dim=-1)
    logp = picked.gather(1, wanted.unsqueeze(1)).squeeze(1) - norm
    rows = valid.nonzero()[:, 0]
    is_answer, is_eos = answer[valid].float(), eos[valid].float()
    n = target.shape[0]
    zeros = torch.zeros(n, device=logits.device)
    sums = zeros.index_add(0, rows, logp * is_answer)
    eos_logp = zeros.index_add(0, rows, logp * is_eos)
    wrong = zeros.index_add(0, rows, (picked.argmax(-1) != wanted).float() * is_answer)
    out = (sums, answer.sum(1), wrong == 0, eos_logp)
    if candidates is not None:
        first = valid.float().argmax(1)  # first labelled position per row
        at = logits[torch.arange(n, device=logits.device), first].float()
        out = out + (at.gather(1, candidates) - torch.logsumexp(at, -1, keepdim=True),)
    return out
