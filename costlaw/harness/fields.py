"""The value checks of a sweep config: one table per config section (top level, ``[train]``,
``[task.generated]``, ``[selectors.NAME]``), applied by ``SweepConfig.from_dict`` before anything runs, so that
``epochs = -1``, ``batch_size = 0``, ``lr = "fast"`` or ``fractions = [true]`` fail at once, in one line naming
the field. Every field of ``SweepConfig`` and ``TrainConfig`` needs an entry here (a test checks it)."""
from __future__ import annotations

from ..checks import Bool, Int, ListOf, Number, Optional, Table, Text, check_fields

POSITIVE = Number(low=0, low_open=True)
SHARE = Number(low=0, high=1)

SWEEP_FIELDS = {
    "name": Text(),
    "task": Table(),
    "methods": ListOf(Text()),
    "fractions": ListOf(Number(low=0, low_open=True, high=1)),
    "train_models": ListOf(Text()),
    "selector_models": ListOf(Text(), nonempty=False),
    "seeds": ListOf(Int(low=0)),
    "train": Table(),
    "selectors": Table(),
    "pretrain_steps": Int(low=0),
    "batch_size": Int(low=1),
    "n_tasks": Int(low=1),
    "cache_dir": Optional(Text()),
    "eval_base": Bool(),
    "max_tokens": Int(low=8),
    "chat_template": Text(),
    "dtype": Text(),
    "attention": Text(),
    "selection_unit": Text(),
    "gradient_memory_gb": POSITIVE,
}
"""Top-level keys of a sweep config (choices of the text fields are checked by ``SweepConfig.from_dict``)."""

TRAIN_FIELDS = {
    "epochs": POSITIVE,
    "batch_size": Int(low=1),
    "lr": POSITIVE,
    "lora": Bool(),
    "lora_rank": Int(low=1),
    "weight_decay": Number(low=0),
    "max_padding": Number(low=0),
    "lora_alpha": Optional(POSITIVE),
    "lora_dropout": Number(low=0, high=1, high_open=True),
    "lora_targets": Optional(ListOf(Text())),
    "lr_schedule": Text(),
    "warmup_ratio": Number(low=0, high=1, high_open=True),
    "gradient_checkpointing": Bool(),
}
"""``[train]``: finetuning hyper-parameters (``TrainConfig``)."""

GENERATED_FIELDS = {
    "target": Text(),
    "pool_examples": Int(low=1),
    "validation_examples": Int(low=1),
    "test_examples": Int(low=1),
    "pretrain_examples": Int(low=0),
    "n_options": Int(low=2),
    "seed": Int(low=0),
}
"""``[task.generated]``: the generated offline task (``pool.generated_task``)."""

SELECTOR_OPTIONS = {
    "lora": Bool(), "lora_rank": Int(low=1), "lora_alpha": Optional(POSITIVE),
    "lora_dropout": Number(low=0, high=1, high_open=True), "lr": POSITIVE, "batch_size": Int(low=1),
    "tuning_epochs": POSITIVE, "warmup_epochs": Int(low=1), "checkpoints": Int(low=1),
    "min_warmup_examples": Int(low=1), "warmup_share": Number(low=0, low_open=True, high=1),
    "projection_dims": Int(low=1), "adam": Bool(), "warmup_ratio": Number(low=0, high=1, high_open=True),
    "text": Text(), "query": Text(), "model": Text(), "sampling": Text(), "projection": Text(),
    "aggregate": Text(), "lr_schedule": Text(),
}
"""``[selectors.NAME]``: options the selectors read (an option not listed here is passed through unchecked)."""


def check_sweep_values(raw: dict, error) -> dict:
    """``raw`` (a config's top-level mapping) with every value checked against the tables above; failures
    raise ``error`` (``ConfigError``) naming the field, e.g. ``train.epochs must be positive, got -1``."""
    kw = check_fields(raw, SWEEP_FIELDS, "", error)
    if isinstance(kw.get("train"), dict):
        kw["train"] = check_fields(kw["train"], TRAIN_FIELDS, "train.", error)
    task = kw.get("task")
    if isinstance(task, dict) and "generated" in task:
        generated = task["generated"] if task["generated"] is not None else {}
        kw["task"] = {**task, "generated": check_fields(generated, GENERATED_FIELDS, "task.generated.", error)}
    if kw.get("selectors"):
        from .selectors import SELECTORS
        unknown = [name for name in kw["selectors"] if name not in SELECTORS]
        if unknown:
            raise error(f"[selectors] table: {SELECTORS.unknown_message(unknown[0])}")
        kw["selectors"] = {name: check_fields(options, SELECTOR_OPTIONS, f"selectors.{name}.", error)
                           for name, options in kw["selectors"].items()}
    return kw
