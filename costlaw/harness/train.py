"""Finetuning on a selected subset for a number of epochs over it, full or LoRA (peft), through accelerate.

Training compute grows with the subset, as in the paper: one step per batch of the subset per epoch. Under
``accelerate launch`` / ``torchrun`` the prepared DataLoader shards the batches and the model is wrapped in DDP
by accelerate; nothing here is distribution-specific.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .batches import collate, encode, length_buckets, lengths
from .flops import PhaseMeter
from .models import model_shape

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
"""LoRA target modules (LESS's choice)."""


@dataclass(frozen=True)
class TrainConfig:
    """Finetuning hyper-parameters."""

    epochs: float = 1.0
    batch_size: int = 16
    lr: float = 1e-3
    lora: bool = False
    lora_rank: int = 8
    weight_decay: float = 0.0
    max_padding: float = 0.03
    """Padding tolerance of length-grouped batches (padded / real tokens - 1)."""


def add_lora(model, rank: int = 8, targets=LORA_TARGETS):
    """Wrap ``model`` with peft LoRA adapters (alpha = 2 x rank, no dropout); base weights frozen."""
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=list(targets), bias="none")
    return get_peft_model(model, cfg)


class _Batches:
    """A batch sampler over precomputed index batches (accelerate shards it across processes)."""

    def __init__(self, batches, batch_size):
        self.batches, self.batch_size, self.drop_last = batches, batch_size, False

    def __iter__(self):
        return (list(map(int, b)) for b in self.batches)

    def __len__(self):
        return len(self.batches)


def epoch_batches(token_lengths, batch_size: int, epochs: float, seed: int,
                  max_padding: float = 0.03) -> list[np.ndarray]:
    """Length-grouped batches for ``epochs`` passes (a fractional last epoch takes its first batches)."""
    out = []
    full = int(np.floor(epochs))
    for e in range(full):
        out.extend(length_buckets(token_lengths, batch_size, seed * 1000 + e, max_padding))
    rest = epochs - full
    if rest > 1e-9:
        last = length_buckets(token_lengths, batch_size, seed * 1000 + full, max_padding)
        out.extend(last[:max(1, int(round(rest * len(last))))])
    return out


def finetune(model, tokenizer, examples, config: TrainConfig, seed: int = 0, meter: PhaseMeter | None = None,
             progress_factory=None, on_epoch_end=None, desc: str = "train"):
    """Finetune ``model`` on ``examples`` (loss on responses); returns the trained (unwrapped) model.

    ``on_epoch_end(epoch, model, optimizer)`` is called after each full epoch (LESS checkpoints use it).
    """
    import torch
    from accelerate import Accelerator
    from torch.utils.data import DataLoader

    torch.manual_seed(seed)
    encoded = encode(tokenizer, examples)
    token_lengths = lengths(encoded)
    batches = epoch_batches(token_lengths, config.batch_size, config.epochs, seed, config.max_padding)
    steps_per_epoch = len(length_buckets(token_lengths, config.batch_size, seed * 1000, config.max_padding))
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    pad_id = tokenizer.pad_token_id
    loader = DataLoader(list(range(len(encoded))), batch_sampler=_Batches(batches, config.batch_size),
                        collate_fn=lambda idx: {"idx": torch.tensor(idx), **collate([encoded[i] for i in idx], pad_id)})
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    shape = model_shape(accelerator.unwrap_model(model))
    analytic = shape.lora_train_flops if shape.lora_params else shape.train_flops
    model.train()
    bar = progress_factory(total=len(loader), desc=desc, leave=False) if progress_factory else None
    for step, batch in enumerate(loader):
        idx = batch.pop("idx").cpu().numpy()

        def run():
            loss = model(**batch, use_cache=False).loss
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return loss

        if meter is None:
            run()
        else:
            meter.step(tuple(batch["input_ids"].shape), run, analytic(token_lengths[idx]))
        if bar is not None:
            bar.update(1)
        if on_epoch_end is not None and (step + 1) % steps_per_epoch == 0:
            on_epoch_end((step + 1) // steps_per_epoch, accelerator.unwrap_model(model), optimizer)
    if bar is not None:
        bar.close()
    model.eval()
    return accelerator.unwrap_model(model)
