"""Finetuning on a selected subset for a number of epochs over it, full or LoRA (peft), through accelerate.

Training compute grows with the subset, as in the paper: one step per batch of the subset per epoch. Batches are
length-grouped **global** batches, the same whatever the number of processes. Under ``torchrun`` / ``accelerate
launch`` each global batch is split between the processes (:func:`rank_batches`), so every rank takes the same
number of steps, every example is used exactly once per epoch, and a rank left without an example in a small
batch runs one at weight 0 (DDP's all-reduce still meets). The loss is the global batch's mean over response
tokens whatever the split (each rank's token sum is scaled by processes / global tokens before DDP averages), so
one process and several take the same steps up to float rounding. The model is wrapped by ``Accelerator.prepare``
(DDP; FSDP or DeepSpeed when accelerate's own configuration asks for them); the precision comes from
``precision`` (bf16 autocast with fp32 master weights on CUDA, fp32 on CPU).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .batches import as_encoder, collate, length_buckets, lengths
from .distributed import gather_meter
from .flops import PhaseMeter
from .models import lora_targets, model_shape

LR_SCHEDULES = ("constant", "linear", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """Finetuning hyper-parameters."""

    epochs: float = 1.0
    batch_size: int = 16
    """Examples per global batch (split between processes)."""
    lr: float = 1e-3
    lora: bool = False
    lora_rank: int = 8
    weight_decay: float = 0.0
    max_padding: float = 0.03
    """Padding tolerance of length-grouped batches (padded / real tokens - 1)."""
    lora_alpha: float | None = None
    """LoRA scaling numerator (None: 2 x rank)."""
    lora_dropout: float = 0.0
    lora_targets: tuple[str, ...] | None = None
    """Module names LoRA adapts (None: the model's attention projections, ``models.lora_targets``)."""
    lr_schedule: str = "constant"
    """``constant``, ``linear`` (decay to 0, as LESS) or ``cosine``, after ``warmup_ratio`` of the steps."""
    warmup_ratio: float = 0.0
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (less memory; measured FLOPs then include the recomputed
    forward, analytic ones stay the cost model's)."""

    def __post_init__(self):
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if self.lora_targets is not None and not isinstance(self.lora_targets, tuple):
            object.__setattr__(self, "lora_targets", tuple(self.lora_targets))


def add_lora(model, rank: int = 8, targets=None, alpha: float | None = None, dropout: float = 0.0):
    """Wrap ``model`` with peft LoRA adapters on ``targets`` (default: its attention projections); base frozen."""
    from peft import LoraConfig, get_peft_model

    targets = list(targets) if targets else lora_targets(model)
    cfg = LoraConfig(r=rank, lora_alpha=alpha if alpha is not None else 2 * rank, lora_dropout=dropout,
                     target_modules=targets, bias="none")
    return get_peft_model(model, cfg)


def add_lora_from(model, config: TrainConfig):
    """``add_lora`` with a TrainConfig's rank, alpha, dropout and targets."""
    return add_lora(model, config.lora_rank, config.lora_targets, config.lora_alpha, config.lora_dropout)


def epoch_plan(token_lengths, batch_size: int, epochs: float, seed: int,
               max_padding: float = 0.03) -> list[list[np.ndarray]]:
    """Length-grouped global batches per epoch (a fractional last epoch takes its first batches)."""
    out = []
    full = int(np.floor(epochs))
    for e in range(full):
        out.append(length_buckets(token_lengths, batch_size, seed * 1000 + e, max_padding, min_size=1))
    rest = epochs - full
    if rest > 1e-9:
        last = length_buckets(token_lengths, batch_size, seed * 1000 + full, max_padding, min_size=1)
        out.append(last[:max(1, int(round(rest * len(last))))])
    return out


def epoch_batches(token_lengths, batch_size: int, epochs: float, seed: int,
                  max_padding: float = 0.03) -> list[np.ndarray]:
    """All global batches of :func:`epoch_plan`, in order."""
    return [b for epoch in epoch_plan(token_lengths, batch_size, epochs, seed, max_padding) for b in epoch]


def rank_batches(batches, num_processes: int, process_index: int) -> list[tuple[np.ndarray, bool]]:
    """This process's share of each global batch: (indices, real). Rank r takes positions r, r + W, ...; a rank
    left with none takes the batch's first example with ``real=False`` (weight 0)."""
    out = []
    for b in batches:
        mine = np.asarray(b)[process_index::num_processes]
        out.append((mine, True) if len(mine) else (np.asarray(b)[:1], False))
    return out


def response_loss_sum(model, batch):
    """Sum over labelled tokens of the next-token NLL (nats); log-softmax at labelled positions only."""
    import torch

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
    target = batch["labels"][:, 1:]
    valid = target != -100
    return torch.nn.functional.cross_entropy(logits[:, :-1][valid].float(), target[valid], reduction="sum")


def enable_gradient_checkpointing(model) -> None:
    """Activation checkpointing on ``model`` (peft-wrapped or not), non-reentrant."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    base.config.use_cache = False


def finetune(model, tokenizer, examples, config: TrainConfig, seed: int = 0, meter: PhaseMeter | None = None,
             progress_factory=None, on_epoch_end=None, desc: str = "train"):
    """Finetune ``model`` on ``examples`` (loss on responses); returns the trained (unwrapped) model.

    ``tokenizer`` may be an ``Encoder``. ``on_epoch_end(epoch, model, optimizer, mean_lr)`` is called after each
    full epoch on every process (LESS checkpoints use it; ``mean_lr`` is the epoch's mean learning rate). Under
    several processes ``meter`` ends up holding the FLOPs of all of them.
    """
    import torch
    from accelerate import Accelerator
    from transformers import get_scheduler

    from .precision import mixed_precision

    torch.manual_seed(seed)
    enc = as_encoder(tokenizer)
    encoded = enc.encode(examples)
    token_lengths = lengths(encoded)
    label_tokens = np.array([e.tokens - e.prompt_tokens for e in encoded], dtype=np.int64)
    plan = epoch_plan(token_lengths, config.batch_size, config.epochs, seed, config.max_padding)
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=mixed_precision())
    world, rank = accelerator.num_processes, accelerator.process_index
    if config.gradient_checkpointing:
        enable_gradient_checkpointing(model)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    total = sum(len(e) for e in plan)
    schedule = {"constant": "constant_with_warmup", "linear": "linear", "cosine": "cosine"}[config.lr_schedule]
    scheduler = get_scheduler(schedule, optimizer, num_warmup_steps=int(round(config.warmup_ratio * total)),
                              num_training_steps=max(total, 1))
    model, optimizer = accelerator.prepare(model, optimizer)
    shape = model_shape(accelerator.unwrap_model(model))
    analytic = shape.lora_train_flops if shape.lora_params else shape.train_flops
    model.train()
    bar = progress_factory(total=total, desc=desc, leave=False) if progress_factory else None
    device = accelerator.device
    for epoch, batches in enumerate(plan, 1):
        lrs = []
        for global_idx, (idx, real) in zip(batches, rank_batches(batches, world, rank)):
            batch = {k: v.to(device) for k, v in collate([encoded[i] for i in idx], enc.pad_token_id).items()}
            weight = world / float(label_tokens[global_idx].sum()) if real else 0.0

            def run():
                with accelerator.autocast():
                    loss = response_loss_sum(model, batch) * weight
                accelerator.backward(loss)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                return loss

            lrs.append(optimizer.param_groups[0]["lr"])
            if meter is None:
                run()
            else:
                meter.step(tuple(batch["input_ids"].shape), run, analytic(token_lengths[idx]) if real else 0.0)
            scheduler.step()
            if bar is not None:
                bar.update(1)
        if on_epoch_end is not None and epoch <= int(np.floor(config.epochs)):
            on_epoch_end(epoch, accelerator.unwrap_model(model), optimizer, float(np.mean(lrs)) if lrs else 0.0)
    if bar is not None:
        bar.close()
    gather_meter(meter, accelerator.state)
    model.eval()
    return accelerator.unwrap_model(model)
