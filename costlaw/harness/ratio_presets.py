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

RATIO_PRESETS = {"ratio": RATIO, "ratio-tiny": RATIO_TINY}
